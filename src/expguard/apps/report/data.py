"""What a report reads: the small monitoring tables of one run, from its outputs or built anew.

A report needs six models as they are (the daily and by-variation quality, the SRM table, the
alerts, the daily rejections and the health checks, each a few thousand rows at most) and one aggregate of the
deduped exposures per day (``queries/exposure_events_daily.sql``). The same queries run on the
DuckDB views over an earlier run's Parquet files, on its DuckDB database file, or on the engine
that has just built the models from the inputs (DuckDB or Spark): nothing large leaves the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import sqlglot
from sqlglot import exp

from ...core.constants import (FCT_ALERTS, FCT_DAILY, FCT_DAILY_BY_VARIATION, FCT_HEALTH, FCT_SRM, INT_DEDUPED,
                               INT_REJECTIONS_DAILY)
from ...core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from ...settings.config import RunConfig

# The models a report reads, as they are.
TABLES = {
    "daily": FCT_DAILY,
    "by_variation": FCT_DAILY_BY_VARIATION,
    "srm": FCT_SRM,
    "alerts": FCT_ALERTS,
    "rejections": INT_REJECTIONS_DAILY,
    "health": FCT_HEALTH,
}
# Every model the report's queries read.
MODELS_READ = (*TABLES.values(), INT_DEDUPED)
EXPOSURES_QUERY = "exposure_events_daily"


@dataclass
class RunData:
    """The tables of one run that a report shows, as lists of row dicts (small by construction)."""

    daily: list[dict] = field(default_factory=list)
    by_variation: list[dict] = field(default_factory=list)
    srm: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)
    health: list[dict] = field(default_factory=list)
    exposures_daily: list[dict] = field(default_factory=list)
    source: str = ""

    def experiment_ids(self) -> list[str]:
        """Every experiment of the daily model or of the health checks (an experiment whose every
        exposure event was rejected has no daily row, yet a verdict), in binary order
        (docs/contract.md, text rules)."""
        return sorted({row["experiment_id"] for row in (*self.daily, *self.health) if row["experiment_id"] is not None})

    def only(self, experiments: Sequence[str]) -> "RunData":
        """The same data restricted to ``experiments`` (all when empty); unknown ids are an error.

        Rows without an experiment (alerts and rejected events whose experiment could not be
        read) are kept: the overview reports them apart.
        """
        if not experiments:
            return self
        known = set(self.experiment_ids())
        unknown = [e for e in experiments if e not in known]
        if unknown:
            listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
            raise ConfigError(f"no experiment {unknown[0]!r} in this run; experiments: {listed or '(none)'}")
        wanted = set(experiments)

        def keep(rows: list[dict]) -> list[dict]:
            return [r for r in rows if r["experiment_id"] in wanted or r["experiment_id"] is None]

        return RunData(**{name: keep(getattr(self, name)) for name in (*TABLES, "exposures_daily")}, source=self.source)


def queries() -> dict[str, exp.Query]:
    """The report's queries by name: ``select *`` of each model in TABLES, and the exposures per day."""
    found = {name: exp.select("*").from_(exp.Table(this=exp.to_identifier(model))) for name, model in TABLES.items()}
    text = resources.files(__package__).joinpath("queries", f"{EXPOSURES_QUERY}.sql").read_text(encoding="utf-8")
    found["exposures_daily"] = sqlglot.parse_one(text, read="duckdb")
    return found


def _collect(fetch: Callable[[exp.Query], list[dict[str, Any]]], source: str) -> RunData:
    return RunData(**{name: fetch(query) for name, query in queries().items()}, source=source)


def read_outputs(output_dir: str | Path | None = None, database: str | Path | None = None) -> RunData:
    """The report's tables from an earlier run: its Parquet folder or its DuckDB database file."""
    from ...outputs import earlier_run

    with earlier_run.engine(MODELS_READ, output_dir, database) as engine:
        return _collect(engine.fetch, str(output_dir if output_dir is not None else database))


def build_data(config: "RunConfig") -> RunData:
    """Build every model from ``config``'s inputs, as ``expguard run`` does, and read the report's
    tables from the engine; nothing is written."""
    from ...runner.pipeline import built_engine

    with built_engine(config) as engine:
        return _collect(engine.fetch, f"{config.events.describe()} and {config.assignments.describe()}")
