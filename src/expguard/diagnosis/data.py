"""What a diagnosis reads: the experiment's rows of the models, and the raw event stream.

The models come from an earlier run (its Parquet folder or DuckDB file, registered on the engine
as views) or are built in-process from the inputs, as ``expguard run`` builds them, with nothing
written. Every query is a sqlglot tree (the ``queries/*.sql`` files or a ``select`` built here)
with its values bound as literals, rendered in the engine's dialect: a diagnosis runs on every
engine, and only small aggregates (a row per day, per event name or per variation) leave it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import sqlglot
from sqlglot import exp

from ..compile import bind_variables, literal
from ..config import RunConfig, Source
from ..constants import (FCT_ALERTS, FCT_DAILY, FCT_DAILY_BY_VARIATION, FCT_SRM, INT_DEDUPED,
                         INT_REJECTIONS_DAILY, INT_VALIDATION)
from ..errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    from ..engines.base import Engine

# The models a diagnosis reads (only the diagnosed experiment's rows leave the engine).
MODELS_READ = (FCT_DAILY_BY_VARIATION, FCT_DAILY, INT_REJECTIONS_DAILY, FCT_SRM, FCT_ALERTS, INT_DEDUPED,
               INT_VALIDATION)
# Tables read whole-experiment, ``select *`` filtered on experiment_id.
_EXPERIMENT_ROWS = {
    "by_variation": FCT_DAILY_BY_VARIATION,
    "daily": FCT_DAILY,
    "rejections": INT_REJECTIONS_DAILY,
    "srm": FCT_SRM,
    "alerts": FCT_ALERTS,
}


def query(name: str, **values: Any) -> exp.Query:
    """A diagnose query of ``queries/NAME.sql`` with its placeholders bound as literals."""
    text = resources.files(__package__).joinpath("queries", f"{name}.sql").read_text(encoding="utf-8")
    return bind_variables(sqlglot.parse_one(text, read="duckdb"), values)


def experiment_rows(model: str, experiment_id: str) -> exp.Query:
    """``select * from MODEL where experiment_id = 'ID'``, the id bound as a literal.

    >>> experiment_rows("fct_experiment_exposure_srm", "it's").sql("duckdb")
    "SELECT * FROM fct_experiment_exposure_srm WHERE experiment_id = 'it''s'"
    """
    return (exp.select("*").from_(exp.Table(this=exp.to_identifier(model)))
            .where(exp.column("experiment_id").eq(literal(experiment_id))))


@dataclass
class Observations:
    """Everything the checks look at, for one experiment: small lists of row dicts.

    ``event_names`` and ``ingestion_lag`` are None when the check could not run; ``events_note``
    and ``lag_note`` say why.
    """

    experiment_id: str
    by_variation: list[dict] = field(default_factory=list)
    daily: list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    srm: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    deduped_daily: list[dict] = field(default_factory=list)
    timing: list[dict] = field(default_factory=list)
    event_names: list[dict] | None = None
    ingestion_lag: list[dict] | None = None
    events_note: str | None = None
    lag_note: str | None = None
    source: dict[str, Any] = field(default_factory=dict)


def _experiments(engine: "Engine") -> list[str]:
    rows = engine.fetch(exp.select("experiment_id").distinct().from_(FCT_DAILY).where("experiment_id is not null"))
    return sorted(row["experiment_id"] for row in rows)


def collect(engine: "Engine", experiment_id: str, *, has_events: bool, has_ingested_at: bool,
            events_note: str | None = None) -> Observations:
    """Run every diagnose query for ``experiment_id`` on an engine that holds the models (and
    ``fct_events`` when ``has_events``)."""
    known = _experiments(engine)
    if experiment_id not in known:
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        raise ConfigError(f"no experiment {experiment_id!r} in the models; experiments: {listed or '(none)'}")
    found = Observations(experiment_id)
    for attribute, model in _EXPERIMENT_ROWS.items():
        setattr(found, attribute, engine.fetch(experiment_rows(model, experiment_id)))
    found.deduped_daily = engine.fetch(query("deduped_exposures_daily", experiment_id=experiment_id))
    found.timing = engine.fetch(query("exposure_timing_daily", experiment_id=experiment_id))
    if has_events:
        found.event_names = engine.fetch(query("event_names_daily", experiment_id=experiment_id))
        if has_ingested_at:
            found.ingestion_lag = engine.fetch(query("ingestion_lag_daily"))
        else:
            found.lag_note = "lag not measured: map the optional ingested_at column to measure it"
    else:
        found.events_note = events_note
        found.lag_note = events_note
    return found


def _output_sources(output_dir: str | None, database: str | None) -> dict[str, Source]:
    """Each model read, as a source over an earlier run's outputs; a clear error when one is missing."""
    if (output_dir is None) == (database is None):
        raise ConfigError("give one of --output-dir or --database to read an earlier run from")
    if output_dir is not None:
        folder = Path(output_dir)
        for model in MODELS_READ:
            if not (folder / f"{model}.parquet").is_file():
                raise InputError(f"{str(folder / (model + '.parquet'))!r} not found; "
                                 f"build it with: expguard run ... --output-dir {output_dir}")
        return {model: Source(path=str(folder / f"{model}.parquet")) for model in MODELS_READ}
    import duckdb

    path = Path(database)  # type: ignore[arg-type]
    if not path.is_file():
        raise InputError(f"database file {str(path)!r} not found")
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
    for model in MODELS_READ:
        if model not in tables:
            raise InputError(f"database file {str(path)!r} has no table {model}; "
                             f"build it with: expguard run ... --database {database}")
    return {model: Source(table=model, database=str(path)) for model in MODELS_READ}


@contextlib.contextmanager
def outputs_engine(config: RunConfig, output_dir: str | None, database: str | None) -> Iterator["Engine"]:
    """An engine whose model relations are views over an earlier run's outputs, and, when
    ``config.events`` is given, ``fct_events`` over the raw events (through the column mapping)."""
    from .. import inputs
    from ..engines import create_engine

    sources = _output_sources(output_dir, database)
    engine = create_engine(config.engine)
    try:
        for model, source in sources.items():
            engine.register_source(model, source)
        if config.events is not None:
            engine.register_source(inputs.RAW_EVENTS, config.events)
            inputs.build_event_view(engine, config.event_mapping, config.events.describe())
        yield engine
    finally:
        engine.close()
