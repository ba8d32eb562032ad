"""DuckDB in-process: the embedded default. No server; spills to disk past its memory limit."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import duckdb
import sqlglot
from sqlglot import exp

from ..sql.render import bind_variables
from ..settings.config import EngineSettings, Source
from ..core.errors import EngineError, InputError
from ..core.faults import checkpoint
from ..core import files
from . import base
from .base import Engine
from .base import first_line as _first_line

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .rows import Columns

# :path is a file, or the list of files of a folder or glob (see files.py); :hive reads their
# Hive partition folders (dt=2026-03-01/) as columns, for a folder or glob only, as Spark does.
_READERS = {
    "parquet": "select * from read_parquet(:path, union_by_name = true, hive_partitioning = :hive)",
    # CSV columns are read as text so that ids keep their exact spelling ("007" stays "007");
    # the input layer parses timestamps from that text.
    "csv": "select * from read_csv(:path, header = true, all_varchar = true, union_by_name = true, hive_partitioning = :hive)",
    "json": "select * from read_json(:path, format = 'auto', union_by_name = true, hive_partitioning = :hive)",
}


def category(type_name: str) -> str:
    """Coarse category of a DuckDB type name.

    >>> category("TIMESTAMP WITH TIME ZONE"), category("BIGINT"), category("STRUCT(a INTEGER)")
    ('timestamptz', 'integer', 'nested')
    """
    t = type_name.upper()
    if t == "JSON":
        return base.JSON
    if t == "VARCHAR" or t.startswith("VARCHAR"):
        return base.STRING
    if t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return base.TIMESTAMPTZ
    if t.startswith("TIMESTAMP") or t == "DATETIME":
        return base.TIMESTAMP
    if t == "DATE":
        return base.DATE
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"):
        return base.INTEGER
    if t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL"):
        return base.FLOAT
    if t == "BOOLEAN":
        return base.BOOLEAN
    if t.startswith(("STRUCT", "MAP", "UNION")) or t.endswith("]"):
        return base.NESTED
    if t == '"NULL"' or t == "NULL":
        return base.NULL
    return base.OTHER


#: COPY options per output codec (expguard.settings.config.PARQUET_COMPRESSIONS).
_CODECS = {
    "snappy": "compression snappy",
    "zstd": "compression zstd, compression_level 1",
    "gzip": "compression gzip",
    "uncompressed": "compression uncompressed",
}

_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _bytes(size: str) -> int | None:
    """A DuckDB size setting in bytes (None for one it does not give as a size).

    >>> _bytes("1.8 GiB"), _bytes("512.0 MiB"), _bytes("2GB"), _bytes("-1")
    (1932735283, 536870912, 2000000000, None)
    """
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", size)
    if not match or match.group(2).lower() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


class DuckDBEngine(Engine):
    """Runs the models in an in-memory DuckDB database, configured for UTC and spilling."""

    NAME = "duckdb"
    DIALECT = "duckdb"
    updates_in_place = True
    json_path_lists = True
    epoch_micros = True

    def __init__(self, settings: EngineSettings) -> None:
        super().__init__(settings)
        self._own_temp = None
        temp_directory = settings.temp_directory
        if temp_directory is None:
            # A folder of its own in the system's temp folder, named now but made by DuckDB only
            # when it first spills (a random name no other process can guess): a run killed before
            # it spilled leaves nothing behind; close() removes it.
            self._own_temp = str(Path(tempfile.gettempdir()) / f"expguard-spill-{uuid.uuid4().hex}")
            temp_directory = self._own_temp
        config: dict[str, Any] = {"preserve_insertion_order": False}
        if settings.threads:
            config["threads"] = settings.threads
        if settings.memory_limit:
            config["memory_limit"] = settings.memory_limit
        try:
            self.con = duckdb.connect(":memory:", config=config)
            # Casts between TIMESTAMPTZ and TIMESTAMP/DATE use the session time zone: pin it
            # to UTC so that the machine's TZ never reaches a result.
            self.con.execute("set TimeZone = 'UTC'")
            # No progress bar: DuckDB draws one on stdout for any query past 2 s, whatever the
            # CLI's own output (--quiet included). (A session setting: each cursor sets it too.)
            self.con.execute("set enable_progress_bar = false")
            self.con.execute("set temp_directory = " + exp.Literal.string(str(temp_directory)).sql("duckdb"))
        except duckdb.Error as error:
            raise EngineError(f"cannot start DuckDB with these settings: {_first_line(error)}") from None
        self._attached: dict[str, str] = {}
        #: The output database's alias while :meth:`open_output`'s transaction is open.
        self._out: str | None = None
        self._temp_directory = str(temp_directory)
        #: Tables moved out of memory (:meth:`spill`): name -> their Parquet file.
        self._spilled: dict[str, Path] = {}
        self._spill_folder: str | None = None

    @property
    def _table(self) -> str:
        # in the output database's open transaction, a table of the run is temporary: DuckDB lets
        # one transaction write to one attached database only, and to the temporary catalog
        return "temp table" if self._out is not None else "table"

    # -- inputs ------------------------------------------------------------------------------
    def _attach(self, database: str) -> str:
        resolved = str(Path(database).resolve())
        if resolved not in self._attached:
            if not Path(resolved).exists():
                raise InputError(f"database file {database!r} not found")
            alias = f"expguard_src_{len(self._attached)}"
            statement = (
                "attach "
                + exp.Literal.string(resolved).sql("duckdb")
                + " as "
                + exp.to_identifier(alias).sql("duckdb")
                + " (read_only)"
            )
            try:
                self.con.execute(statement)
            except duckdb.Error as error:
                raise InputError(f"cannot open database file {database!r}: {_first_line(error)}") from None
            self._attached[resolved] = alias
        return self._attached[resolved]

    def source_query(self, source: Source) -> exp.Query:
        """A query over the raw source, with the path bound as a literal."""
        if source.table is not None:
            try:
                table = exp.to_table(source.table, dialect="duckdb")
            except sqlglot.errors.ParseError:
                raise InputError(f"{source.table!r} is not a table name") from None
            if source.database:
                alias = self._attach(source.database)
                table = exp.Table(
                    this=table.this, db=table.args.get("db") or exp.to_identifier("main"), catalog=exp.to_identifier(alias)
                )
            return exp.select("*").from_(table)
        path = str(source.path)
        fmt = source.resolved_format()
        if source.files is not None:
            # an explicit list of files, listed already (an incremental run's new files)
            query = sqlglot.parse_one(_READERS[str(fmt)], read="duckdb")
            return bind_variables(query, {"path": list(source.files), "hive": source.files_base is not None})
        if files.is_remote(path):
            return bind_variables(sqlglot.parse_one(_READERS[fmt], read="duckdb"), {"path": path, "hive": False})
        found = files.list_files(path, fmt)
        query = sqlglot.parse_one(_READERS[found.format], read="duckdb")
        if found.base is None:
            return bind_variables(query, {"path": found.files[0], "hive": False})
        return bind_variables(query, {"path": list(found.files), "hive": True})

    def register_source(self, name: str, source: Source) -> None:
        query = self.source_query(source)
        try:
            self.con.execute(f"create or replace temp view {exp.to_identifier(name).sql('duckdb')} as {self.render(query)}")
            self.con.execute(f"select * from {exp.to_identifier(name).sql('duckdb')} limit 0").fetchall()
        except duckdb.Error as error:
            raise InputError(f"cannot read {source.describe()!r}: {_first_line(error)}") from None

    def describe(self, query: exp.Query) -> dict[str, tuple[str, str]]:
        try:
            relation = self.con.sql(self.render(query))
        except duckdb.Error as error:
            raise EngineError(_first_line(error)) from None
        return {name: (category(str(dtype)), str(dtype)) for name, dtype in zip(relation.columns, relation.dtypes)}

    def create_view(self, name: str, query: exp.Query) -> None:
        try:
            self.con.execute(f"create or replace temp view {exp.to_identifier(name).sql('duckdb')} as {self.render(query)}")
        except duckdb.Error as error:
            raise EngineError(f"cannot create view {name}: {_first_line(error)}") from None

    def drop_view(self, name: str) -> None:
        self.con.execute(f"drop view if exists {exp.to_identifier(name).sql('duckdb')}")

    # -- models ------------------------------------------------------------------------------
    def materialize(self, name: str, query: exp.Query) -> int:
        return self.materialize_parts(name, [query])

    def materialize_parts(self, name: str, queries: list[exp.Query]) -> int:
        # one statement per part, so that one part's hash tables are in memory at a time
        ident = exp.to_identifier(name).sql("duckdb")
        into_output = self._out is not None and name in self.into_output
        table = f"{self._out}.main.{ident}" if into_output else ident
        try:
            self.con.execute(f"create or replace {'table' if into_output else self._table} {table} as "
                             f"{self.render(queries[0])}")
            for query in queries[1:]:
                self.con.execute(f"insert into {table} {self.render(query)}")
            if into_output:
                return self.in_output(name)
            # fetchall, not fetchone: DuckDB 2 keeps a half-fetched result open on the connection.
            return int(self.con.execute(f"select count(*) from {ident}").fetchall()[0][0])
        except duckdb.Error as error:
            raise EngineError(f"building {name} failed: {_first_line(error)}") from None

    def hash_budget(self) -> int | None:
        # Half of DuckDB's buffer (its memory limit: the configured one, else 80% of the
        # machine's memory): the other half holds the tables the model reads.
        limit = self.con.execute("select current_setting('memory_limit')").fetchall()[0][0]
        size = _bytes(str(limit))
        return None if size is None else size // 2

    def register_rows(self, name: str, rows: list[dict[str, Any]], columns: "Columns") -> int:
        # Straight from Python values, no Arrow: a DuckDB run then never imports pyarrow (nor
        # pandas through it). One statement unnests the rows, passed as one list of structs.
        ident = exp.to_identifier(name).sql("duckdb")
        fields = ", ".join(f"{exp.to_identifier(column, quoted=True).sql('duckdb')} {kind}" for column, kind in columns)
        self.con.execute(f"create or replace {self._table} {ident} ({fields})")
        if rows:
            self.con.execute(f"insert into {ident} select unnest(?::struct({fields})[], recursive := true)", [rows])
        return len(rows)

    def rows(self, name: str) -> list[dict[str, Any]]:
        return self.fetch(exp.select("*").from_(exp.to_table(name)))

    def register_arrow(self, name: str, table: "pa.Table") -> int:
        ident = exp.to_identifier(name).sql("duckdb")
        self.con.register("__expguard_arrow", table)
        try:
            self.con.execute(f"create or replace {self._table} {ident} as select * from __expguard_arrow")
        finally:
            self.con.unregister("__expguard_arrow")
        return table.num_rows

    def fetch(self, query: exp.Query) -> list[dict[str, Any]]:
        try:
            cursor = self.con.execute(self.render(query))
        except duckdb.Error as error:
            raise EngineError(_first_line(error)) from None
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def to_arrow(self, name: str) -> "pa.Table":
        # A relation's to_arrow_table (DuckDB 1.4 and 2.x); DuckDB 2 dropped the cursor's fetch_arrow_table.
        return self.con.sql(f"select * from {exp.to_identifier(name).sql('duckdb')}").to_arrow_table()

    # -- outputs -----------------------------------------------------------------------------
    #: Three files written at once, each from its own cursor: a file's serial tail (its footer,
    #: the fsync of the atomic write) overlaps the others' encoding instead of idling a core.
    parquet_writers = 3

    @property
    def writes_beside_models(self) -> bool:  # type: ignore[override]
        # Each write has a cursor of its own, which cannot see the tables of an open output
        # transaction (open_output: temporary ones). Under a memory limit the writes wait for the
        # end: beside the large models a writer's buffers made them spill more (L under 2 GB:
        # 2 CPU s more), and beside the last models only they gained nothing.
        return not self.settings.memory_limit and self._out is None

    def spill(self, name: str) -> bool:
        if not self.settings.memory_limit or self._out is not None:
            return False
        if self._spill_folder is None:
            Path(self._temp_directory).mkdir(parents=True, exist_ok=True)
            self._spill_folder = tempfile.mkdtemp(prefix="expguard-tables-", dir=self._temp_directory)
        path = Path(self._spill_folder) / f"{name}.parquet"
        self.write_parquet(name, path)  # the output file itself: columns REQUIRED as declared, checked
        ident = exp.to_identifier(name).sql("duckdb")
        try:
            self.con.execute(f"drop table {ident}")
            self.con.execute(f"create view {ident} as select * from read_parquet("
                             + exp.Literal.string(str(path)).sql("duckdb") + ")")
        except duckdb.Error as error:
            raise EngineError(f"moving {name} out of memory failed: {_first_line(error)}") from None
        self._spilled[name] = path
        return True

    def write_parquet(self, name: str, path: Path) -> None:
        """Write table ``name`` to ``path``, each column REQUIRED or OPTIONAL as the model declares.

        DuckDB's writer marks a column REQUIRED when its statistics prove it has no null, so the
        flags would follow the data: a column that may be null is written through
        ``if(c is null, null, c)``, whose statistics say it may be null (it costs nothing
        measurable), and the file's footer is checked after the write: a never-null column
        that came out OPTIONAL held a null, which is a model bug.
        """
        if name in self._spilled:
            # written already, by the same writer, when it left memory (spill): the same file
            shutil.copyfile(self._spilled[name], path)
            return
        ident = exp.to_identifier(name).sql("duckdb")
        required = self.not_null.get(name)
        # a cursor of its own: the same database, safe to use beside the other writers' cursors
        con = self.con.cursor()
        try:
            con.execute("set TimeZone = 'UTC'")  # a cursor is a session of its own
            con.execute("set enable_progress_bar = false")
            self._write_parquet(con, name, ident, required, path)
        finally:
            con.close()

    def _write_parquet(self, con: Any, name: str, ident: str, required: Any, path: Path) -> None:
        columns = [d[0] for d in con.execute(f"select * from {ident} limit 0").description]
        if required is None:
            source = ident
        else:
            selected = []
            for column in columns:
                quoted = exp.to_identifier(column, quoted=True).sql("duckdb")
                selected.append(quoted if column in required else f"if({quoted} is null, null, {quoted}) as {quoted}")
            source = f"(select {', '.join(selected)} from {ident})"
        statement = (
            f"copy {source} to "
            + exp.Literal.string(str(path)).sql("duckdb")
            # The codec as the outputs ask (zstd by default). zstd at level 1: on the
            # benchmark's outputs as small as level 3's (within 5%) for about a fifth less CPU.
            # dictionary_size_limit: a column chunk with more distinct values than this is written
            # without a dictionary. DuckDB's default tries dictionaries of tens of thousands of
            # values, and an id column (event_id, unit_id) fills one to no use in every row
            # group: at L, 4096 writes the same 460 MiB with 7.8-8.3 CPU s instead of 8.4-9.1
            # (1000: 7.7-7.8; 0, no dictionary at all: 498 MiB). Ids of experiments and
            # variations, dates and statuses stay far under 4096 values a row group.
            + f" (format parquet, {_CODECS[self.parquet_compression]}, dictionary_size_limit 4096)"
        )
        try:
            con.execute(statement)
            if required is not None:
                written = con.execute(
                    "select name, repetition_type from parquet_schema(?) where name in "
                    f"({', '.join('?' for _ in columns)})", [str(path), *columns]
                ).fetchall()
        except duckdb.Error as error:
            raise EngineError(f"writing {name} to {path} failed: {_first_line(error)}") from None
        if required is not None:
            base.check_repetition(name, dict(written), required)

    @contextlib.contextmanager
    def database_writer(self, names: list[str], path: Path, state: str | None = None) -> Iterator[None]:
        # One transaction in the target file, committed when the block exits cleanly: a run
        # killed before COMMIT leaves the previous tables as they were (DuckDB never replays an
        # uncommitted transaction), and the file's other tables are left alone. A run whose only
        # output is the database opened it already (open_output) and built its large models in
        # it, or updated them in place (incremental): those are left as they are.
        opened = self._out is not None
        alias = self._out if opened else "expguard_out"
        try:
            if not opened:
                self._attach_output(path)
                self.con.execute("begin transaction")
            try:
                for name in names:
                    ident = exp.to_identifier(name).sql("duckdb")
                    checkpoint(f"database:{name}")
                    if name in self.in_place:
                        continue
                    self.con.execute(f"create or replace table {alias}.main.{ident} as select * from {ident}")
                if base.UNASSIGNED_NAME not in self.in_place and base.UNASSIGNED_NAME not in names:
                    # kept up to date only by the incremental runs that update the database in place
                    self.con.execute(f"drop table if exists {alias}.main.{base.UNASSIGNED_NAME}")
                self._write_state(f"{alias}.main", state)
                yield
            except BaseException:
                self.con.execute("rollback")
                raise
            checkpoint("database:commit")
            self.con.execute("commit")
        except duckdb.Error as error:
            raise EngineError(f"writing the output database {str(path)!r} failed: {_first_line(error)}") from None
        finally:
            self._out = None
            self.in_place.clear()
            self.into_output.clear()
            self.con.execute(f"detach {alias}")

    def database_state(self, path: Path) -> tuple[str | None, set[str]]:
        # attached to this instance for the read (a DuckDB of its own: about 0.015 s more)
        alias = "__expguard_state_read"
        try:
            self.con.execute(f"attach {exp.Literal.string(str(path)).sql('duckdb')} as {alias} (read_only)")
        except duckdb.Error as error:
            raise base.unreadable_database(path, error) from None
        try:
            return base.read_state(self.con, alias)
        finally:
            self.con.execute(f"detach {alias}")

    def _attach_output(self, path: Path) -> None:
        target = exp.Literal.string(str(path)).sql("duckdb")
        attached = self._attached.pop(str(Path(path).resolve()), None)
        if attached is not None:
            # read earlier (an incremental run's previous outputs): attached read-only
            self.con.execute(f"detach {exp.to_identifier(attached).sql('duckdb')}")
        try:
            self.con.execute(f"attach {target} as expguard_out")
        except duckdb.Error as error:
            raise base.unreadable_database(path, error) from None

    # -- an output database updated in place -------------------------------------------------
    def open_output(self, database: Path) -> str:
        self._attach_output(database)
        self.con.execute("begin transaction")
        self._out = "expguard_out"
        return "expguard_out.main"

    def in_output(self, name: str) -> int:
        ident = exp.to_identifier(name).sql("duckdb")
        try:
            self.con.execute(f"create or replace temp view {ident} as select * from {self._out}.main.{ident}")
            self.in_place.add(name)
            return int(self.con.execute(f"select count(*) from {ident}").fetchall()[0][0])
        except duckdb.Error as error:
            raise EngineError(f"reading {name} in the output database failed: {_first_line(error)}") from None

    def take_rows(self, name: str, table: str, keys: str, key: tuple[str, ...],
                  columns: tuple[str, ...] | None = None) -> int:
        ident, taken = exp.to_identifier(name).sql("duckdb"), "__expguard_taken"
        on = " and ".join(f"t.{exp.to_identifier(c).sql('duckdb')} = k.{exp.to_identifier(c).sql('duckdb')}" for c in key)
        keys_sql = exp.to_identifier(keys).sql("duckdb")
        # (the scan decodes every column it returns for every row, matched or not: fewer read faster)
        kept = "".join(f", t.{exp.to_identifier(c).sql('duckdb')}" for c in columns) if columns is not None else ", t.*"
        try:
            # one scan of the table finds the rows (and their row ids); the delete by row id is cheap
            self.con.execute(f"create or replace temp table {taken} as select t.rowid as __expguard_rowid{kept} "
                             f"from {table} as t where exists (select 1 from {keys_sql} as k where {on})")
            self.con.execute(f"delete from {table} where rowid in (select __expguard_rowid from {taken})")
            # (no column asked for: the row ids alone, for the count)
            dropped = " exclude (__expguard_rowid)" if columns != () else ""
            self.con.execute(f"create or replace temp table {ident} as select *{dropped} from {taken}")
            self.con.execute(f"drop table {taken}")
            return int(self.con.execute(f"select count(*) from {ident}").fetchall()[0][0])
        except duckdb.Error as error:
            raise EngineError(f"updating {table} failed: {_first_line(error)}") from None

    def create_output_table(self, table: str, query: exp.Query) -> int:
        try:
            self.con.execute(f"create table {table} as {self.render(query)}")
            return int(self.con.execute(f"select count(*) from {table}").fetchall()[0][0])
        except duckdb.Error as error:
            raise EngineError(f"creating {table} failed: {_first_line(error)}") from None

    def insert_rows(self, table: str, relation: str) -> int:
        try:
            cursor = self.con.execute(f"insert into {table} by name select * from {exp.to_identifier(relation).sql('duckdb')}")
            return int(cursor.fetchall()[0][0])
        except duckdb.Error as error:
            raise EngineError(f"updating {table} failed: {_first_line(error)}") from None

    def _write_state(self, schema: str, state: str | None) -> None:
        base.write_state(self.con, schema, state)

    def close(self) -> None:
        try:
            if self._out is not None:
                # a run's transaction on the output database never committed: nothing of it stays
                with contextlib.suppress(duckdb.Error):
                    self.con.execute("rollback")
                self._out = None
            self.con.close()
        finally:
            if self._spill_folder:
                shutil.rmtree(self._spill_folder, ignore_errors=True)
            if self._own_temp:
                shutil.rmtree(self._own_temp, ignore_errors=True)
