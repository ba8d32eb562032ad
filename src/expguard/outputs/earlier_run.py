"""Reading what an earlier ``expguard run`` wrote: its Parquet folder or its DuckDB file.

``expguard report``, ``expguard diagnose`` and ``expguard alerts`` read an earlier run's models
instead of building them. :func:`sources` checks that every model they need is there (one clear
error naming the first missing file or table, and how to build it) and :func:`engine` opens an
engine whose relations of those names are views over them, so the same queries run on an
earlier run's outputs as on models just built.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from ..settings.config import EngineSettings, Source
from ..core.errors import ConfigError, InputError
from ..engines.base import first_line
from .publish import database_lock, shared_lock

#: Seconds a reader of an earlier run's DuckDB file waits for a run writing it (as long as a run
#: waits for another, ``--lock-timeout``'s default).
READ_LOCK_TIMEOUT = 60.0

if TYPE_CHECKING:  # pragma: no cover
    from ..engines.base import Engine


def sources(models: Sequence[str], output_dir: str | Path | None, database: str | Path | None) -> dict[str, Source]:
    """Each of ``models`` as a source over an earlier run's outputs: ``output_dir/<model>.parquet``
    or the table ``<model>`` of the DuckDB file ``database`` (exactly one of the two)."""
    if (output_dir is None) == (database is None):
        raise ConfigError("give one of --output-dir or --database to read an earlier run from")
    if output_dir is not None:
        folder = Path(output_dir)
        for model in models:
            if not (folder / f"{model}.parquet").is_file():
                raise InputError(f"{str(folder / (model + '.parquet'))!r} not found; "
                                 f"build it with: expguard run ... --output-dir {output_dir}")
        return {model: Source(path=str(folder / f"{model}.parquet")) for model in models}
    import duckdb

    path = Path(database)  # type: ignore[arg-type]
    if not path.is_file():
        raise InputError(f"database file {str(path)!r} not found")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    except duckdb.Error as error:
        # (another program writing it: DuckDB locks the file; an expguard run is waited for, engine())
        raise InputError(f"cannot open database file {str(path)!r}: {first_line(error)}") from None
    for model in models:
        if model not in tables:
            raise InputError(f"database file {str(path)!r} has no table {model}; "
                             f"build it with: expguard run ... --database {database}")
    return {model: Source(table=model, database=str(path)) for model in models}


@contextlib.contextmanager
def engine(models: Sequence[str], output_dir: str | Path | None, database: str | Path | None,
           settings: EngineSettings | None = None) -> Iterator["Engine"]:
    """An engine (DuckDB unless ``settings`` say otherwise) whose relations ``models`` are views
    over an earlier run's outputs; closed when the block ends."""
    from ..engines import create_engine

    with contextlib.ExitStack() as held:
        if database is not None:
            # a run writing the file holds its lock from its first model to its commit (DuckDB
            # locks the file meanwhile): wait for it, and keep the next run waiting while reading
            path = Path(os.path.abspath(database))
            held.enter_context(shared_lock(database_lock(path), READ_LOCK_TIMEOUT, path))
        found = sources(models, output_dir, database)
        opened = create_engine(settings or EngineSettings())
        try:
            for model, source in found.items():
                opened.register_source(model, source)
            yield opened
        finally:
            opened.close()
