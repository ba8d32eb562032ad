"""The small interface every engine implements, after SQLMesh's engine adapters.

An engine registers raw sources as relations, describes a query's column types (as coarse
categories that the input layer understands), materializes a model from a parsed query, and
writes finished models out. SQL is rendered last, in the engine's dialect.
"""

from __future__ import annotations

import abc
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from sqlglot import exp

from ..sql.render import to_sql
from ..settings.config import EngineSettings, Source
from ..core.errors import InputError
from ..core.faults import checkpoint

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .rows import Columns

# Coarse type categories shared by all engines.
STRING, TIMESTAMP, TIMESTAMPTZ, DATE, INTEGER, FLOAT, BOOLEAN, NESTED, NULL, OTHER = (
    "string",
    "timestamp",
    "timestamptz",
    "date",
    "integer",
    "float",
    "boolean",
    "nested",
    "null",
    "other",
)
#: JSON values of mixed types (DuckDB's JSON type: a JSON-lines column holding both strings and
#: numbers); the input layer reads each value's text (``"u1"`` -> ``u1``, ``42`` -> ``42``).
JSON = "json"


def check_repetition(name: str, written: dict[str, str], required: tuple[str, ...]) -> None:
    """Fail when a written file's columns are not REQUIRED exactly where model ``name`` declares
    them never null (``written``: column -> Parquet repetition type)."""
    wrong = sorted(c for c, kind in written.items() if (kind.upper() == "REQUIRED") != (c in required))
    if wrong:
        raise RuntimeError(
            f"model {name} was written with columns {wrong} not as declared (never null: {sorted(required)}); "
            "a never-null column held a null"
        )


#: The table (in a database output) and the file (``<name>.json`` in a Parquet output folder)
#: holding an incremental run's state.
STATE_NAME = "_expguard_state"
#: The deduped rows of exposed units without an assignment, kept beside the models in an output
#: database that incremental runs update in place (expguard.runner.incremental): the daily
#: model's unassigned units, without an anti join of every deduped row with every assignment.
UNASSIGNED_NAME = "_expguard_unassigned_exposures"


def write_state(connection: Any, schema: str, state: str | None) -> None:
    """Write (or, when ``state`` is None, drop) the state table in ``schema`` of an open DuckDB
    connection, inside the caller's transaction."""
    table = f"{schema}.{STATE_NAME}"
    if state is None:
        connection.execute(f"drop table if exists {table}")
    else:
        connection.execute(f"create or replace table {table} (state varchar not null)")
        connection.execute(f"insert into {table} values (?)", [state])


def first_line(error: Exception) -> str:
    """An engine error's message as one line: its first line, spaces collapsed."""
    text = str(error).strip()
    return " ".join(text.splitlines()[0].split()) if text else type(error).__name__


def unreadable_database(path: Path, error: Exception) -> InputError:
    """The one-line error for an output database DuckDB cannot open (not a DuckDB file, a newer
    format, held by another program)."""
    return InputError(f"cannot open output database {str(path)!r}: {first_line(error)}")


def read_state(connection: Any, catalog: str) -> tuple[str | None, set[str]]:
    """The state text in catalog ``catalog`` (schema main) of an open DuckDB connection (None
    when it has none or not one row) and the names of the catalog's tables."""
    tables = {row[0] for row in connection.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = 'main'",
        [catalog]).fetchall()}
    if STATE_NAME not in tables:
        return None, tables
    rows = connection.execute(f"select state from {exp.to_identifier(catalog).sql('duckdb')}.main.{STATE_NAME}").fetchall()
    return (rows[0][0] if len(rows) == 1 else None), tables


class Engine(abc.ABC):
    """Base class. Subclasses set ``NAME`` and ``DIALECT`` and implement the abstract methods."""

    NAME: str = ""
    DIALECT: str = ""
    #: Whether queries may run from several threads at once (the contracts beside the models).
    concurrent_jobs: bool = False
    #: Whether ``json_extract_string(json, [path, ...])`` reads several paths in one parse.
    json_path_lists: bool = False
    #: Whether ``make_timestamp(epoch_us(t))`` turns a zoned timestamp into the UTC one without
    #: zone, as the cast does in a UTC session (see ``inputs.views.to_utc_timestamp``).
    epoch_micros: bool = False

    #: Whether the engine can update the output database's tables in place, in one open
    #: transaction (:meth:`open_output`; an incremental run with a database output alone).
    updates_in_place: bool = False

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        #: Models whose table in the output database was updated in place in the open
        #: transaction (:meth:`open_output`): :meth:`database_writer` leaves them as they are.
        self.in_place: set[str] = set()
        #: Models built straight into the output database opened for the run (:meth:`open_output`):
        #: their table there is the model (a view of it under the model's name), built once
        #: instead of in memory and then copied; they are in :attr:`in_place` once built.
        self.into_output: set[str] = set()
        #: Model name -> its never-null columns, written REQUIRED in Parquet (the others
        #: OPTIONAL, whatever the data); set by the pipeline from the models' declarations. A
        #: relation not listed is written as the engine infers.
        self.not_null: dict[str, tuple[str, ...]] = {}
        #: Views built only when something asks for them (:meth:`defer`, :meth:`ensure`).
        self._deferred: dict[str, Callable[[], None]] = {}

    # -- SQL ---------------------------------------------------------------------------------
    def render(self, query: exp.Expression) -> str:
        """The query as SQL text in this engine's dialect."""
        return to_sql(query, self.DIALECT)

    # -- inputs ------------------------------------------------------------------------------
    @abc.abstractmethod
    def register_source(self, name: str, source: Source) -> None:
        """Expose ``source`` (a file, glob or table) as relation ``name``, all columns as read."""

    @abc.abstractmethod
    def describe(self, query: exp.Query) -> dict[str, tuple[str, str]]:
        """Column name -> (type category, engine type name) of a query's result."""

    @abc.abstractmethod
    def create_view(self, name: str, query: exp.Query) -> None:
        """Create (or replace) a temporary view."""

    @abc.abstractmethod
    def drop_view(self, name: str) -> None:
        """Drop temporary view ``name`` if there is one."""

    def spill(self, name: str) -> bool:
        """Under a memory limit, move model table ``name`` out of memory: written once, as its
        output file, to the engine's temporary folder, and read from there by the models still
        to come (a view of the same name); the outputs copy that file. Return whether it moved
        (an engine without a memory limit, or that cannot, keeps the table)."""
        return False

    def defer(self, name: str, build: Callable[[], None]) -> None:
        """Relation ``name`` is built by ``build`` when :meth:`ensure` first asks for it (a view
        that costs to bind and that few runs read). Until then there is no relation ``name``: a
        reader that did not ask fails loudly instead of reading an older view of that name."""
        self.drop_view(name)
        self._deferred[name] = build

    def ensure(self, name: str) -> None:
        """Build relation ``name`` now if it was deferred (:meth:`defer`); else nothing."""
        build = self._deferred.pop(name, None)
        if build is not None:
            build()

    # -- an output database updated in place (engines with updates_in_place) ---------------------
    def open_output(self, database: Path) -> str:
        """Attach the output database for writing and open the run's one transaction on it now;
        return the qualified name prefix of its tables (``alias.main``). Until
        :meth:`database_writer` commits, every table the engine builds is temporary, and a failure
        or a kill rolls everything back."""
        raise NotImplementedError(f"the {self.NAME} engine cannot update an output database in place")

    def in_output(self, name: str) -> int:
        """Model ``name`` is its table in the open output database (built there or updated in
        place): a view of it under the model's name, left as it is when the outputs are written
        (:attr:`in_place`). Its row count."""
        raise NotImplementedError(f"the {self.NAME} engine cannot update an output database in place")

    def take_rows(self, name: str, table: str, keys: str, key: tuple[str, ...],
                  columns: tuple[str, ...] | None = None) -> int:
        """Move the rows of output table ``table`` whose ``key`` is in relation ``keys`` into a new
        table ``name`` (deleted from ``table``, in the open transaction); return their count.
        ``columns``: the columns ``name`` keeps (all by default; fewer are read faster)."""
        raise NotImplementedError(f"the {self.NAME} engine cannot update an output database in place")

    def create_output_table(self, table: str, query: exp.Query) -> int:
        """Create output table ``table`` (in the open transaction) from ``query``; return its rows."""
        raise NotImplementedError(f"the {self.NAME} engine cannot update an output database in place")

    def insert_rows(self, table: str, relation: str) -> int:
        """Append relation ``relation``'s rows (matched by column name) to output table ``table``."""
        raise NotImplementedError(f"the {self.NAME} engine cannot update an output database in place")

    # -- models ------------------------------------------------------------------------------
    @abc.abstractmethod
    def materialize(self, name: str, query: exp.Query) -> int:
        """Build table ``name`` from ``query``; return its row count."""

    def materialize_parts(self, name: str, queries: list[exp.Query]) -> int:
        """Build table ``name`` as the rows of every query of ``queries`` (parts of one model that
        share no group: :func:`expguard.runner.pipeline.partitioned`); return its row count.
        The default builds their ``union all`` in one statement."""
        union = queries[0]
        for query in queries[1:]:
            union = exp.union(union, query, distinct=False)
        return self.materialize(name, union)

    def hash_budget(self) -> int | None:
        """Bytes one model's hash tables may take before they would spill, or None when the
        engine does not say (it manages its own memory; a run then builds each model whole)."""
        return None

    @abc.abstractmethod
    def register_arrow(self, name: str, table: "pa.Table") -> int:
        """Materialize an Arrow table as table ``name``; return its row count."""

    def register_rows(self, name: str, rows: list[dict[str, Any]], columns: "Columns") -> int:
        """Materialize rows (a model computed in Python) as table ``name`` of exactly ``columns``
        (name, SQL type); return the row count. The default goes through Arrow."""
        from .rows import rows_to_arrow

        return self.register_arrow(name, rows_to_arrow(rows, columns))

    @abc.abstractmethod
    def fetch(self, query: exp.Query) -> list[dict[str, Any]]:
        """Run a (small) query and return its rows as dicts."""

    def row_count(self, name: str) -> int:
        """How many rows relation ``name`` has."""
        return int(self.fetch(exp.select(exp.Count(this=exp.Star()).as_("n")).from_(exp.to_table(name)))[0]["n"])

    def rows(self, name: str) -> list[dict[str, Any]]:
        """The rows of a (small) relation as dicts; the default goes through Arrow."""
        return self.to_arrow(name).to_pylist()

    @abc.abstractmethod
    def to_arrow(self, name: str) -> "pa.Table":
        """The rows of a relation as an Arrow table."""

    # -- outputs -----------------------------------------------------------------------------
    #: How many Parquet files :meth:`write_parquet` may write at once (from as many threads).
    parquet_writers: int = 1
    #: Whether :meth:`write_parquet` may write a built model while the next models build (from
    #: another thread): a run then writes its files beside its last models
    #: (:func:`expguard.runner.pipeline.writes_beside`) instead of after them.
    writes_beside_models: bool = False
    #: The codec :meth:`write_parquet` writes with (one of
    #: :data:`expguard.settings.config.PARQUET_COMPRESSIONS`), set by the run from its outputs'
    #: ``parquet_compression``.
    parquet_compression: str = "zstd"

    @abc.abstractmethod
    def write_parquet(self, name: str, path: Path) -> None:
        """Write relation ``name`` to one Parquet file at ``path`` (the caller makes it atomic)."""

    def database_state(self, path: Path) -> tuple[str | None, set[str]]:
        """The state text in the DuckDB file ``path`` (None when it has none) and its tables, read
        without writing the file; a file DuckDB cannot open is an :class:`InputError`. The default
        opens the file in a DuckDB of its own; the DuckDB engine attaches it to its own instead."""
        import duckdb

        try:
            with duckdb.connect(str(path), read_only=True) as con:
                return read_state(con, con.execute("select current_database()").fetchall()[0][0])
        except duckdb.Error as error:
            raise unreadable_database(path, error) from None

    @contextlib.contextmanager
    def database_writer(self, names: list[str], path: Path, state: str | None = None) -> Iterator[None]:
        """Replace tables ``names`` in the DuckDB file ``path`` in one transaction.

        The tables are written on entry and committed when the block exits without error, so
        the caller can commit other outputs at the same point. The default reads each model as
        Arrow; the DuckDB engine overrides it to copy table to table. ``state`` (an incremental
        run's JSON state) is written as the one-row table ``_expguard_state`` in the same
        transaction; without it that table is dropped (a full run leaves no stale state).
        """
        import duckdb

        with duckdb.connect(str(path)) as target:
            target.execute("begin transaction")
            try:
                for name in names:
                    checkpoint(f"database:{name}")
                    target.register("__expguard_model", self.to_arrow(name))
                    target.execute(
                        f"create or replace table {exp.to_identifier(name).sql('duckdb')} "
                        "as select * from __expguard_model"
                    )
                    target.unregister("__expguard_model")
                # (kept up to date only by the DuckDB engine's updates in place: stale after this)
                target.execute(f"drop table if exists main.{UNASSIGNED_NAME}")
                write_state(target, "main", state)
                yield
            except BaseException:
                target.execute("rollback")
                raise
            target.execute("commit")

    def close(self) -> None:
        """Release the engine's resources."""
