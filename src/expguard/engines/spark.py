"""Apache Spark (PySpark): the same models, transpiled by sqlglot, for data that outgrows one machine.

The session comes from, in this order: Spark Connect (``spark_remote``, ``sc://host:port``), a
Spark context already running in this process (a notebook's, or a test run's shared one), or a
new one on ``spark_master`` (default ``local[*]``, or ``local[threads]``). Each run works in its
own child session (``newSession()``): its settings and temporary views never leak into the
caller's session, and the caller's never reach a result.

Every session runs with the settings in :data:`SESSION_CONF`: time zone UTC, ANSI SQL, Parquet
timestamps written as INT64 microseconds. Models are stored as local checkpoints (memory, then
disk) and counted, and freed when the run ends; outputs are written as one Parquet file each,
several at once (see :meth:`SparkEngine.write_parquet`).

pyspark is imported inside this module's functions only, so a DuckDB-only install works.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlglot
from sqlglot import exp

from ..settings.config import EngineSettings, Source
from ..core.errors import EngineError, InputError
from ..core import files
from . import base
from .base import Engine

# Runtime SQL settings of every expguard session, whatever the cluster's defaults are.
SESSION_CONF: dict[str, str] = {
    # docs/contract.md: timestamps hold UTC; casts between TIMESTAMP and TIMESTAMP_NTZ/DATE use this zone.
    "spark.sql.session.timeZone": "UTC",
    # docs/contract.md: microsecond timestamps. Spark's default would write INT96.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Parquet timestamps without a zone are read as TIMESTAMP_NTZ, like DuckDB's TIMESTAMP.
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    # TIMESTAMP in Spark SQL means the zone-aware type (compile.py renders DuckDB's
    # TIMESTAMP as TIMESTAMP_NTZ and TIMESTAMPTZ as TIMESTAMP).
    "spark.sql.timestampType": "TIMESTAMP_LTZ",
    # Errors instead of silent nulls on overflow and bad casts, as DuckDB (TRY_CAST is explicit).
    "spark.sql.ansi.enabled": "true",
    # The json_valid guard (compile.py) parses JSON with try_parse_json; DuckDB accepts a
    # duplicated key (extraction takes the first), so Spark must not reject it.
    "spark.sql.variant.allowDuplicateKeys": "true",
    # Proleptic Gregorian dates everywhere, as DuckDB and pyarrow (no Julian rebasing).
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
}

# Read options per format. CSV: every column as text with a header, like DuckDB's
# all_varchar (ids keep their spelling, "007" stays "007"); RFC 4180 quotes ("" inside a quoted
# field); quoted newlines allowed; a malformed row stops the run instead of becoming nulls.
# Spark reads an empty field, quoted or not, as null, as DuckDB does.
_CSV_OPTIONS = {
    "header": "true",
    "inferSchema": "false",
    "quote": '"',
    "escape": '"',
    "multiLine": "true",
    "mode": "FAILFAST",
    "enforceSchema": "false",
    "encoding": "UTF-8",
}
_JSON_OPTIONS = {"mode": "FAILFAST", "multiLine": "false"}
_DELIMITERS = (",", "\t", ";", "|")
_ERROR_CLASS = re.compile(r"\[[A-Z][A-Z0-9_]+(?:\.[A-Z0-9_]+)*\][^\n]*")
_JAVA_EXCEPTION = re.compile(r"\b[\w.$]+(?:Exception|Error): ([^\n]+)")


def category(data_type: Any) -> str:
    """Coarse category (see :mod:`expguard.engines.base`) of a PySpark data type.

    For example (``from pyspark.sql import types as T``), ``category(T.TimestampType())`` is
    ``'timestamptz'``, ``category(T.LongType())`` ``'integer'`` and ``category(T.TimestampNTZType())``
    ``'timestamp'`` (tested in tests/engines/test_spark_engine.py).
    """
    from pyspark.sql import types as T

    if isinstance(data_type, (T.StringType, T.VarcharType, T.CharType)):
        return base.STRING
    if isinstance(data_type, T.TimestampNTZType):
        return base.TIMESTAMP
    if isinstance(data_type, T.TimestampType):
        return base.TIMESTAMPTZ
    if isinstance(data_type, T.DateType):
        return base.DATE
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return base.INTEGER
    if isinstance(data_type, (T.FloatType, T.DoubleType, T.DecimalType)):
        return base.FLOAT
    if isinstance(data_type, T.BooleanType):
        return base.BOOLEAN
    if isinstance(data_type, (T.StructType, T.MapType, T.ArrayType)) or type(data_type).__name__ == "VariantType":
        return base.NESTED
    if isinstance(data_type, T.NullType):
        return base.NULL
    return base.OTHER


def first_line(error: BaseException) -> str:
    """The useful line of a Spark error: its error class and message, without the JVM trace.

    >>> first_line(RuntimeError("Job aborted due to stage failure: ... : [CAST_INVALID_INPUT] bad value\\n\\tat x"))
    '[CAST_INVALID_INPUT] bad value'
    >>> first_line(RuntimeError("An error occurred while calling o1.sql.\\n: java.io.IOException: disk full\\n\\tat x"))
    'disk full'
    """
    text = str(error).strip()
    if not text:
        return type(error).__name__
    found = _ERROR_CLASS.search(text) or _JAVA_EXCEPTION.search(text)
    line = found.group(found.lastindex or 0) if found else text.splitlines()[0]
    line = re.sub(r"\s*SQLSTATE: \w+\.?$", "", " ".join(line.split()))
    return line[:400]


def _spark_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        from pyspark.errors import PySparkException

        errors.append(PySparkException)
    except ImportError:  # pragma: no cover - pyspark < 3.4
        pass
    try:
        from py4j.protocol import Py4JError

        errors.append(Py4JError)
    except ImportError:  # pragma: no cover - Spark Connect only installs
        pass
    return tuple(errors) or (Exception,)


def _driver_memory(limit: str) -> str:
    """DuckDB-style memory limit as a Spark size in MiB.

    >>> _driver_memory("2GB"), _driver_memory("512MiB")
    ('2048m', '512m')
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)\s*", limit, re.IGNORECASE)
    if not match:
        raise EngineError(f"cannot use memory_limit {limit!r} for Spark")
    number, unit = float(match.group(1)), match.group(2).upper().replace("I", "")
    mib = number * {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024**2}[unit]
    return f"{max(1, int(mib))}m"


def _default_driver_memory() -> str:
    """Half the machine's memory (at least 1 GiB), for a local Spark started by expguard."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "1g"
    return f"{max(1024, total // 2**21)}m"


_QUIET_LOG4J2 = """\
rootLogger.level = off
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
logger.repl.name = org.apache.spark.repl.Main
logger.repl.level = off
logger.pyspark.name = org.apache.spark.api.python.PythonGatewayServer
logger.pyspark.level = off
"""


def _quiet_log_config() -> str:
    """Path of a log4j2 configuration that turns Spark's console log off (written once)."""
    path = Path(tempfile.gettempdir()) / f"expguard-log4j2-{os.getuid() if hasattr(os, 'getuid') else 0}.properties"
    if not path.exists() or path.read_text() != _QUIET_LOG4J2:
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(_QUIET_LOG4J2)
        os.replace(partial, path)
    return path.as_uri()


def _is_local_master(master: str) -> bool:
    return master == "local" or master.startswith("local[") or master.startswith("local-cluster[")


class SparkEngine(Engine):
    """Runs the models with ``spark.sql`` in a child session of a local, cluster or Connect Spark."""

    NAME = "spark"
    DIALECT = "spark"
    concurrent_jobs = True
    # Models up to this many rows are written from Arrow on the driver (see write_parquet).
    ARROW_WRITE_MAX_ROWS = 1_000_000

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        try:
            import pyspark  # noqa: F401
        except ImportError:
            raise EngineError(
                "the spark engine needs pyspark: pip install 'expguard[spark]' (and Java 17 or 21)"
            ) from None
        self._errors = _spark_errors()
        with warnings.catch_warnings():
            # pyspark imports its testing helpers lazily, which warn about pandas versions it has
            # not been tested with; that warning is not the user's business.
            warnings.simplefilter("ignore", FutureWarning)
            try:
                import pyspark.testing.utils  # noqa: F401
            except Exception:  # noqa: BLE001 - only a warning filter
                pass
        self._owned_context = None
        self._persisted: dict[str, Any] = {}
        self._rows: dict[str, int] = {}
        try:
            self.spark, self.is_remote, self.is_local = self._start()
            # A model's file is written by one task (or on the driver): one file per core at once.
            self.parquet_writers = self._cores()
            for key, value in {**SESSION_CONF, **{k: str(v) for k, v in settings.spark_conf.items()}}.items():
                self._set_conf(key, value)
        except self._errors as error:
            self.close()
            message = first_line(error)
            if "JAVA_GATEWAY" in message or "JAVA_HOME" in message:
                message += " (Spark needs Java 17 or 21: set JAVA_HOME or put java on the PATH)"
            raise EngineError(f"cannot start Spark: {message}") from None

    # -- session -----------------------------------------------------------------------------
    def _start(self) -> tuple[Any, bool, bool]:
        from pyspark.sql import SparkSession

        settings = self.settings
        if settings.spark_remote:
            # A new Connect session of our own; stopping it leaves the server running.
            session = SparkSession.builder.remote(settings.spark_remote).appName("expguard").create()
            self._owned_context = session
            return session, True, False
        from pyspark import SparkContext

        running = SparkContext._active_spark_context
        if running is not None:
            if settings.spark_master and settings.spark_master != running.master:
                raise EngineError(
                    f"a Spark context on {running.master!r} is already running in this process; "
                    f"cannot also use spark_master {settings.spark_master!r}"
                )
            parent = SparkSession.getActiveSession() or SparkSession(running)
        else:
            master = settings.spark_master or (f"local[{settings.threads}]" if settings.threads else "local[*]")
            builder = SparkSession.builder.master(master).appName("expguard")
            static = {"spark.ui.showConsoleProgress": "false"}
            if _is_local_master(master):
                # In local mode the driver is the only executor: Spark's 1 GB default would
                # spill or fail at once; like DuckDB, default to a share of the machine's memory.
                static["spark.driver.memory"] = (
                    _driver_memory(settings.memory_limit) if settings.memory_limit else _default_driver_memory()
                )
            if settings.temp_directory:
                static["spark.local.dir"] = str(settings.temp_directory)
            conf = {**static, **{k: str(v) for k, v in settings.spark_conf.items()}}
            options = conf.get("spark.driver.extraJavaOptions", "")
            if "log4j" not in options:
                # expguard reports failures itself, on one line; Spark's own log stays quiet
                # unless the user gives a log4j2 configuration in spark_conf.
                conf["spark.driver.extraJavaOptions"] = f"{options} -Dlog4j2.configurationFile={_quiet_log_config()}".strip()
            for key, value in conf.items():
                builder = builder.config(key, value)
            parent = builder.getOrCreate()
            self._owned_context = parent
        master = parent.sparkContext.master
        return parent.newSession(), False, _is_local_master(master)

    def _cores(self) -> int:
        """Files written at once: the local master's cores (2 to 4), else 2."""
        if self.is_remote or not self.is_local:
            return 2
        try:
            cores = int(self.spark.sparkContext.defaultParallelism)
        except Exception:  # noqa: BLE001 - a hint, not a requirement
            cores = os.cpu_count() or 2
        return max(2, min(4, cores))

    def _set_conf(self, key: str, value: str) -> None:
        try:
            self.spark.conf.set(key, value)
        except self._errors as error:
            # Static settings (spark.driver.memory, ...) only apply when the context starts.
            if "CANNOT_MODIFY" not in str(error) and "static" not in str(error).lower():
                raise

    def sql(self, query: exp.Expression | str) -> Any:
        """A DataFrame for ``query`` (a sqlglot tree is rendered in Spark SQL first)."""
        text = query if isinstance(query, str) else self.render(query)
        return self.spark.sql(text)

    @staticmethod
    def _ident(name: str) -> str:
        return exp.to_identifier(name).sql("spark")

    # -- inputs ------------------------------------------------------------------------------
    def _paths(self, source: Source) -> tuple[list[str], str | None]:
        """The files to read (as DuckDB reads them, see files.py), and the folder Hive
        partitions start at (Spark's ``basePath``), for a folder or a glob."""
        path = str(source.path)
        if source.files is not None:
            # an explicit list of files, listed already (an incremental run's new files)
            base = source.files_base
            return (["file://" + os.path.abspath(p) for p in source.files],
                    None if base is None else "file://" + os.path.abspath(base))
        if files.is_remote(path):
            return [path], None
        found = files.list_files(path, source.resolved_format())
        # file:// plus the plain absolute path: Hadoop parses it (a URI would be %-encoded twice).
        paths = ["file://" + os.path.abspath(p) for p in found.files]
        return paths, None if found.base is None else "file://" + os.path.abspath(found.base)

    def _read(self, source: Source) -> Any:
        if source.table is not None:
            return self._read_table(source)
        paths, base_path = self._paths(source)
        fmt = source.resolved_format()
        reader = self.spark.read
        if base_path is not None:
            reader = reader.option("basePath", base_path)
        if fmt == "parquet":
            try:
                frame = reader.option("mergeSchema", "true").parquet(*paths)
                frame.schema  # noqa: B018 - Connect analyses lazily
                return frame
            except self._errors as error:
                if "TIMESTAMP(NANOS" not in str(error):
                    raise
                return self._read_parquet_nanos(source, paths, base_path)
        if fmt == "csv":
            options = dict(_CSV_OPTIONS, sep=self._delimiter(source, paths))
            return reader.options(**options).csv(paths)
        return reader.options(**_JSON_OPTIONS).json(paths)

    def _read_table(self, source: Source) -> Any:
        try:
            table = exp.to_table(source.table, dialect="spark")
        except sqlglot.errors.ParseError:
            raise InputError(f"{source.table!r} is not a table name") from None
        if source.database is None:
            # A table of the session's catalog: catalog.schema.table, schema.table or table.
            return self.spark.table(table.sql("spark"))
        # A table of a DuckDB database file: read on the driver through Arrow.
        import duckdb

        database = Path(source.database)
        if not database.exists():
            raise InputError(f"database file {source.database!r} not found")
        try:
            with duckdb.connect(str(database), read_only=True) as con:
                con.execute("set TimeZone = 'UTC'")
                arrow = con.sql(f"select * from {table.sql('duckdb')}").to_arrow_table()
        except duckdb.Error as error:
            raise InputError(f"cannot read {source.describe()!r}: {' '.join(str(error).split())[:300]}") from None
        return self._from_arrow(arrow)

    def _from_arrow(self, table: pa.Table) -> Any:
        """A DataFrame of an Arrow table; a timestamp without a zone stays TIMESTAMP_NTZ."""
        from pyspark.sql.pandas.types import from_arrow_schema

        return self.spark.createDataFrame(table, schema=from_arrow_schema(table.schema, prefer_timestamp_ntz=True))

    def _delimiter(self, source: Source, paths: list[str]) -> str:
        """The CSV delimiter: tab for .tsv names, else the most frequent of , tab ; | in the header.

        DuckDB sniffs the dialect; this reads the first line of the first local file.
        """
        name = str(source.path).lower().removesuffix(".gz").removesuffix(".zst")
        first_name = paths[0].lower().removesuffix(".gz").removesuffix(".zst")
        if name.endswith(".tsv") or first_name.endswith(".tsv"):
            return "\t"
        first = paths[0]
        if not first.startswith("file:") or first.endswith((".gz", ".zst")):
            return ","
        try:
            with open(first.removeprefix("file://"), encoding="utf-8", errors="replace") as handle:
                header = handle.readline()
        except OSError:
            return ","
        counts = {d: header.count(d) for d in _DELIMITERS}
        best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
        return best if counts[best] else ","

    def _read_parquet_nanos(self, source: Source, paths: list[str], base_path: str | None = None) -> Any:
        """Parquet with nanosecond timestamps (pandas' default): Spark reads them as longs only.

        Each such column becomes TIMESTAMP_NTZ, rounded to the microsecond half away from zero,
        as DuckDB's cast from TIMESTAMP_NS. The column names come from the local files' footers.
        """
        import pyarrow.parquet as pq

        if not all(p.startswith("file:") for p in paths):
            raise InputError(
                f"{source.describe()!r} has nanosecond timestamps, which Spark cannot read; "
                "write them as microseconds (pyarrow: coerce_timestamps='us')"
            )
        local_files: list[str] = []
        for path in paths:
            local = Path(path.removeprefix("file://"))
            local_files += [str(f) for f in sorted(local.rglob("*.parquet"))] if local.is_dir() else [str(local)]
        nanos: list[str] = []
        for file in local_files:
            for field in pq.read_schema(file):
                if pa.types.is_timestamp(field.type) and field.type.unit == "ns" and field.name not in nanos:
                    nanos.append(field.name)
        self._set_conf("spark.sql.legacy.parquet.nanosAsLong", "true")
        try:
            reader = self.spark.read if base_path is None else self.spark.read.option("basePath", base_path)
            frame = reader.option("mergeSchema", "true").parquet(*paths)
            columns = []
            for name in frame.columns:
                ident = self._ident(name)
                if name in nanos:
                    micros = f"CAST(ROUND(CAST({ident} AS DECIMAL(20, 0)) / 1000, 0) AS BIGINT)"
                    columns.append(f"CAST(TIMESTAMP_MICROS({micros}) AS TIMESTAMP_NTZ) AS {ident}")
                else:
                    columns.append(ident)
            return frame.selectExpr(*columns)
        finally:
            self.spark.conf.unset("spark.sql.legacy.parquet.nanosAsLong")

    def register_source(self, name: str, source: Source) -> None:
        try:
            frame = self._read(source)
            frame.createOrReplaceTempView(name)
            self.spark.table(name).schema  # noqa: B018 - surface read errors now, not later
        except self._errors as error:
            raise InputError(f"cannot read {source.describe()!r}: {first_line(error)}") from None

    def describe(self, query: exp.Query) -> dict[str, tuple[str, str]]:
        try:
            schema = self.sql(query).schema
        except self._errors as error:
            raise EngineError(first_line(error)) from None
        return {f.name: (category(f.dataType), f.dataType.simpleString()) for f in schema.fields}

    def create_view(self, name: str, query: exp.Query) -> None:
        try:
            self.spark.sql(f"create or replace temporary view {self._ident(name)} as {self.render(query)}")
        except self._errors as error:
            raise EngineError(f"cannot create view {name}: {first_line(error)}") from None

    def drop_view(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    # -- models ------------------------------------------------------------------------------
    def materialize(self, name: str, query: exp.Query) -> int:
        from pyspark import StorageLevel

        try:
            # A local checkpoint, not persist(): the model's plan is cut at its stored rows, so a
            # later model reads them as a relation of their own. A persisted model is found again
            # only by matching plans, and Spark stops matching once a query joins two models of
            # one lineage (deduped and validation, say): each model would then be recomputed
            # from the raw events by every model that reads it (minutes on 10M events).
            # Lazy: the count is the one job that computes, stores and counts the rows.
            frame = self.sql(query).localCheckpoint(eager=False, storageLevel=StorageLevel.MEMORY_AND_DISK)
            rows = frame.count()
        except self._errors as error:
            raise EngineError(f"building {name} failed: {first_line(error)}") from None
        self._replace(name, frame, int(rows))
        return int(rows)

    def register_arrow(self, name: str, table: pa.Table) -> int:
        # The rows live in the plan (a local relation on the driver): nothing to compute or store.
        try:
            frame = self._from_arrow(table)
        except self._errors as error:
            raise EngineError(f"storing {name} failed: {first_line(error)}") from None
        self._replace(name, frame, table.num_rows)
        return table.num_rows

    def _replace(self, name: str, frame: Any, rows: int) -> None:
        previous = self._persisted.pop(name, None)
        frame.createOrReplaceTempView(name)
        self._persisted[name] = frame
        self._rows[name] = rows
        if previous is not None:
            self._release(previous)

    def _release(self, frame: Any) -> None:
        """Free a model's stored rows now (best effort), not when the JVM next collects garbage.

        A persisted frame is unpersisted. A local checkpoint's rows are blocks of the RDD under
        its plan (classic Spark; over Spark Connect the server frees them when the client's
        DataFrame is collected).
        """
        try:
            frame.unpersist()
            if not self.is_remote:
                plan = frame._jdf.queryExecution().logical()
                if plan.nodeName() == "LogicalRDD":
                    plan.rdd().unpersist(False)
        except Exception:  # noqa: BLE001 - freeing memory early is an optimisation
            pass

    def fetch(self, query: exp.Query) -> list[dict[str, Any]]:
        try:
            rows = self.sql(query).collect()
        except self._errors as error:
            raise EngineError(first_line(error)) from None
        return [row.asDict(recursive=True) for row in rows]

    def to_arrow(self, name: str) -> pa.Table:
        try:
            return self.spark.table(self._ident(name)).toArrow()
        except self._errors as error:
            raise EngineError(f"reading {name} failed: {first_line(error)}") from None

    # -- outputs -----------------------------------------------------------------------------
    def write_parquet(self, name: str, path: Path) -> None:
        """Write relation ``name`` to the single Parquet file ``path``.

        Local Spark: one task writes the (stored) model into a temporary folder next to
        ``path``; its one part file is then moved to ``path``. On a cluster or over Spark Connect
        the executors cannot write to this machine's disk, so the model is collected to the
        driver as Arrow and written here; so is a small model (up to
        :attr:`ARROW_WRITE_MAX_ROWS` rows) in local mode, where a Spark write job would cost more
        than the rows. Both ways give the same file. The caller makes the set of files atomic.
        """
        path = Path(path)
        small = self._rows.get(name, self.ARROW_WRITE_MAX_ROWS + 1) <= self.ARROW_WRITE_MAX_ROWS
        if self.is_local and not self.is_remote and not small:
            self._write_with_spark(name, path)
        else:
            self._write_with_arrow(name, path)

    def _declared_frame(self, name: str) -> Any:
        """Relation ``name`` with the nullability its model declares (never-null columns not
        nullable, every other column nullable), which Spark's Parquet writer follows.

        Spark derives nullability from the plan (``count(*)`` is never null, a ``sum`` may be),
        so the flags would differ from DuckDB's and between models: the stored rows are given
        the declared schema as they are (no copy). A null in a never-null column fails the
        write (``raise_error``) instead of being written as a default value.
        """
        from pyspark.sql import DataFrame
        from pyspark.sql import types as T

        frame = self.spark.table(self._ident(name))
        required = self.not_null.get(name)
        if required is None:
            return frame
        checked = []
        for field in frame.schema.fields:
            ident = self._ident(field.name)
            if field.name in required and field.nullable:
                message = exp.Literal.string(f"model {name}: never-null column {field.name} holds a null").sql("spark")
                checked.append(f"coalesce({ident}, raise_error({message})) as {ident}")
            else:
                checked.append(ident)
        frame = frame.selectExpr(*checked)
        schema = T.StructType(
            [T.StructField(f.name, f.dataType, f.name not in required, f.metadata) for f in frame.schema.fields]
        )
        session = self.spark._jsparkSession
        rows = frame._jdf.queryExecution().toRdd()
        return DataFrame(session.internalCreateDataFrame(rows, session.parseDataType(schema.json()), False), self.spark)

    @property
    def _codec(self) -> str:
        """The outputs' codec as Spark's writer and pyarrow's name it ("none", not "uncompressed")."""
        return "none" if self.parquet_compression == "uncompressed" else self.parquet_compression

    def _write_with_spark(self, name: str, path: Path) -> None:
        folder = path.parent / f".{path.name}.spark-{uuid.uuid4().hex[:8]}"
        try:
            try:
                (
                    self._declared_frame(name)
                    .coalesce(1)
                    .write.option("compression", self._codec)
                    # zstd at level 1, as the DuckDB engine writes: faster, and smaller here than level 3
                    .option("parquet.compression.codec.zstd.level", "1")
                    .parquet("file://" + os.path.abspath(folder))
                )
            except self._errors as error:
                raise EngineError(f"writing {name} to {path} failed: {first_line(error)}") from None
            parts = sorted(folder.glob("part-*.parquet"))
            if len(parts) != 1:
                raise EngineError(f"writing {name} to {path} failed: Spark wrote {len(parts)} files, expected 1")
            os.replace(parts[0], path)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _write_with_arrow(self, name: str, path: Path) -> None:
        import pyarrow.parquet as pq

        table = self.to_arrow(name).replace_schema_metadata(None)
        required = self.not_null.get(name)
        if required is not None:
            # The declared nullability; the cast fails on a null in a never-null column.
            schema = pa.schema([f.with_nullable(f.name not in required) for f in table.schema])
            try:
                table = table.cast(schema)
            except pa.ArrowInvalid as error:
                raise RuntimeError(f"model {name}: a never-null column holds a null ({error})") from None
        pq.write_table(table, path, compression=self._codec,
                       compression_level=1 if self.parquet_compression == "zstd" else None)

    def close(self) -> None:
        for name, frame in self._persisted.items():
            self._release(frame)
            try:
                self.spark.catalog.dropTempView(name)
            except Exception:  # noqa: BLE001 - best effort while closing
                pass
        self._persisted.clear()
        owned, self._owned_context = self._owned_context, None
        if owned is not None:
            try:
                owned.stop()
            except Exception:  # noqa: BLE001 - best effort while closing
                pass


__all__ = ["SparkEngine", "SESSION_CONF", "category", "first_line"]
