"""``expguard demo``: generate a seeded dataset with known defects, run the pipeline, summarize."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Callable

import duckdb
from rich.table import Table

from ...settings.config import Outputs, RunConfig, Source, Variables
from ...core.constants import FCT_DAILY, STG_EXPOSURES
from ...runner.pipeline import run

SUMMARY_SQL = """
select
    d.experiment_id,
    sum(d.assigned_units) as assigned,
    sum(d.exposed_units) as exposed,
    sum(d.valid_exposed_units) as valid,
    sum(d.valid_exposed_units) / nullif(sum(d.assigned_units), 0) as exposure_rate,
    sum(d.mismatched_units) / nullif(sum(d.exposed_units), 0) as mismatch_rate,
    sum(d.multi_variation_exposure_units) / nullif(sum(d.exposed_units), 0) as multi_variation_rate,
    sum(d.pre_assignment_exposure_units) as pre_assignment,
    sum(d.exposure_outside_window_units) as outside_window,
    sum(d.duplicate_exposure_events) as duplicate_events,
    sum(d.unassigned_exposed_units) as unassigned
from read_parquet($daily) as d
group by d.experiment_id
order by d.experiment_id
"""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def summary_table(daily_parquet: Path, staging_parquet: Path) -> Table:
    """A per-experiment summary of the daily quality metrics, as a rich table."""
    with duckdb.connect() as con:
        rows = con.execute(SUMMARY_SQL, {"daily": str(daily_parquet)}).fetchall()
        rejected = con.execute(
            "select count(*) filter (where reject_reason is not null), count(*) from read_parquet($p)",
            {"p": str(staging_parquet)},
        ).fetchone()
    table = Table(title="Exposure quality per experiment (all cohorts)", title_justify="left")
    for header in ("experiment", "assigned", "exposed", "valid", "exposure rate", "mismatch", "multi-var",
                   "pre-assign", "outside window", "dup. events", "unassigned"):
        table.add_column(header, justify="left" if header == "experiment" else "right")
    for row in rows:
        table.add_row(
            row[0], f"{row[1]:,}", f"{row[2]:,}", f"{row[3]:,}", _pct(row[4]), _pct(row[5]), _pct(row[6]),
            f"{row[7]:,}", f"{row[8]:,}", f"{row[9]:,}", f"{row[10]:,}",
        )
    table.caption = f"{rejected[0]:,} of {rejected[1]:,} exposure events rejected as malformed (kept in {STG_EXPOSURES})"
    return table


def rename_exposures(dataset, experiment_id: str, since: dt.datetime, new_name: str):
    """The dataset with the exposure events of ``experiment_id`` from ``since`` on renamed to
    ``new_name``: the runbook's first suspect, a tracking event renamed mid-experiment."""
    import pyarrow.compute as pc

    from .generator import Dataset

    events = dataset.events
    hit = pc.and_(pc.and_(pc.equal(events["event_name"], "experiment_viewed"),
                          pc.greater_equal(events["event_ts"], pc.cast(since, events.schema.field("event_ts").type))),
                  pc.match_substring_regex(pc.fill_null(events["properties"], ""),
                                           f'"experiment_id": *" *{experiment_id} *"'))
    names = pc.if_else(hit, new_name, events["event_name"])
    return Dataset(events.set_column(events.schema.get_field_index("event_name"), "event_name", names),
                   dataset.assignments)


#: The demo's broken experiment: its exposure event is renamed on the 40th day of 60.
BROKEN_EXPERIMENT, RENAMED_TO, RENAMED_ON = "exp_03", "Experiment Viewed", dt.datetime(2026, 2, 10, tzinfo=dt.timezone.utc)


def run_demo(directory: Path, n_events: int = 200_000, seed: int = 7,
             progress: Callable[[str, dict], None] | None = None, broken: bool = False) -> Table:
    """Generate data into ``directory``, run every model, and return the summary table (the run's
    result, with its health verdicts, is kept as the table's ``result`` attribute).

    The generated stream lies in the past, so the demo runs *as of* its newest event: the
    freshness check then judges the data as a daily run on that day would. With ``broken``,
    the exposure event of one experiment (``exp_03``) is renamed mid-experiment, as
    ``expguard demo`` shows it: the health checks must fail it, and name the new event.
    """
    import pyarrow.compute as pc

    from .generator import generate, write_dataset

    directory.mkdir(parents=True, exist_ok=True)
    dataset = generate(n_events, seed=seed)
    if broken:
        dataset = rename_exposures(dataset, BROKEN_EXPERIMENT, RENAMED_ON, RENAMED_TO)
    events_path, assignments_path = write_dataset(dataset, directory / "data")
    output_dir = directory / "output"
    as_of = pc.max(dataset.events["event_ts"]).as_py()
    config = RunConfig(
        events=Source(path=str(events_path)),
        assignments=Source(path=str(assignments_path)),
        variables=Variables(exp_health_as_of=as_of.isoformat()),
        outputs=Outputs(database=str(directory / "expguard.duckdb"), output_dir=str(output_dir)),
    )
    result = run(config, progress=progress or (lambda *_: None))
    table = summary_table(output_dir / f"{FCT_DAILY}.parquet", output_dir / f"{STG_EXPOSURES}.parquet")
    table.result = result
    return table
