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
from typing import TYPE_CHECKING, Any, Iterator

import sqlglot
from sqlglot import exp

from ...sql.render import bind_variables, literal
from ...settings.config import RunConfig
from ...core.constants import (FCT_ALERTS, FCT_DAILY, FCT_DAILY_BY_VARIATION, FCT_HEALTH, FCT_SRM, INT_DEDUPED,
                               INT_REJECTIONS_DAILY, INT_VALIDATION)
from ...core.errors import ConfigError
from ...models.verdict import verdicts

if TYPE_CHECKING:  # pragma: no cover
    from ...engines.base import Engine

# The models a diagnosis reads (only the diagnosed experiment's rows leave the engine).
MODELS_READ = (FCT_DAILY_BY_VARIATION, FCT_DAILY, INT_REJECTIONS_DAILY, FCT_SRM, FCT_ALERTS, INT_DEDUPED,
               INT_VALIDATION, FCT_HEALTH)
# Tables read whole-experiment, ``select *`` filtered on experiment_id.
_EXPERIMENT_ROWS = {
    "by_variation": FCT_DAILY_BY_VARIATION,
    "daily": FCT_DAILY,
    "rejections": INT_REJECTIONS_DAILY,
    "srm": FCT_SRM,
    "alerts": FCT_ALERTS,
    "health": FCT_HEALTH,
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
    and ``lag_note`` say why. ``health`` holds the experiment's rows of ``fct_experiment_health``
    and the stream's (None when they were not read), the source of their verdicts.
    """

    experiment_id: str
    by_variation: list[dict] = field(default_factory=list)
    daily: list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    srm: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    health: list[dict] | None = None
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


def _stream_health(engine: "Engine") -> list[dict]:
    """The event stream's own rows of fct_experiment_health (experiment_id null)."""
    return engine.fetch(exp.select("*").from_(FCT_HEALTH).where("experiment_id is null"))


def collect(engine: "Engine", experiment_id: str, *, has_events: bool, has_ingested_at: bool,
            events_note: str | None = None) -> Observations:
    """Run every diagnose query for ``experiment_id`` on an engine that holds the models (and
    ``fct_events`` when ``has_events``)."""
    known = _experiments(engine)
    if experiment_id not in known:
        listed = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
        stream = verdicts(_stream_health(engine)).get(None)
        why = ""
        if stream is not None and stream.status in ("fail", "warn") and stream.reason is not None:
            # no experiment at all is often the stream's fault: say its verdict, as run does
            why = (f"; the event stream {stream.status.upper()}s ({stream.reason['check_name']}): "
                   f"{stream.reason['detail']}")
        raise ConfigError(f"no experiment {experiment_id!r} in the models; experiments: {listed or '(none)'}{why}")
    found = Observations(experiment_id)
    for attribute, model in _EXPERIMENT_ROWS.items():
        setattr(found, attribute, engine.fetch(experiment_rows(model, experiment_id)))
    # and the event stream's own rows (experiment_id null: stale, unreadable experiment ids)
    found.health = [*found.health, *_stream_health(engine)]
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


@contextlib.contextmanager
def outputs_engine(config: RunConfig, output_dir: str | None, database: str | None) -> Iterator["Engine"]:
    """An engine whose model relations are views over an earlier run's outputs, and, when
    ``config.events`` is given, ``fct_events`` over the raw events (through the column mapping)."""
    from ...inputs import views as inputs
    from ...outputs import earlier_run

    with earlier_run.engine(MODELS_READ, output_dir, database, config.engine) as engine:
        if config.events is not None:
            engine.register_source(inputs.RAW_EVENTS, config.events)
            inputs.build_event_view(engine, config.event_mapping, config.events.describe())
        yield engine
