"""``expguard diagnose`` (and ``expguard.diagnose``): the exposure-rate-drop runbook, walked by the tool.

When an experiment's exposure rate drops, someone used to walk a runbook by hand (the runbook in
the project's shared files). A diagnosis walks it for one experiment and one assignment cohort:

1. **event name**: is the configured exposure event still logged, or did a look-alike name
   (a case or separator variant, a close spelling, an event carrying this experiment's id) take
   over, for all events or one platform's share?
2. **ingestion**: days with no events or far fewer than usual (missing partitions), and the
   ingestion lag per day when the source maps ``ingested_at``;
3. **status spikes**: no_exposure, pre_assignment_exposure, exposure_outside_window, mismatch and
   multi-variation shares of the cohort against the experiment's own baseline;
4. **raw vs deduped**: raw, rejected and deduped exposure events per day, duplicate events per
   exposure (double-firing), unassigned exposures (another identity);
5. **assignments**: assigned units per day and per variation, and the SRM checks;

and ranks the likely causes, each with its evidence and what to check next. See docs/diagnose.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Mapping

from ...models.marts.fct_experiment_exposure_alerts import RULES, Point, baseline_alerts
from ...settings.config import ColumnMapping, EngineSettings, RunConfig, Source, Variables, build_config
from ...core.errors import ConfigError
from .checks import CHECK_FUNCTIONS, Context, days_text, exposure_rate
from ...runner.pipeline import built_engine
from .data import Observations, collect, outputs_engine
from .findings import SKIPPED
from .stats import Window, judge_rates
from .render import Diagnosis
from .verdict import rank


__all__ = ["Diagnosis", "diagnose", "diagnose_inputs", "diagnose_observations", "config_from_cli"]

_COUNTS = ("assigned_units", "exposed_units", "valid_exposed_units", "no_exposure_units",
           "multi_variation_exposure_units", "variation_mismatch_units", "pre_assignment_exposure_units",
           "exposure_outside_window_units", "mismatched_units", "exposure_events", "duplicate_exposure_events",
           "valid_exposed_within_horizon_units")

EVENTS_SKIPPED = "skipped: reads the raw events; only an earlier run's outputs were given (add --events)"


def cohort_totals(by_variation: list[dict], last_day: dt.date | None = None,
                  horizon_days: int = 1) -> dict[dt.date, dict]:
    """Cohort date -> counts summed over the variations, the cohort's flags, and its variations' rows.

    ``is_horizon_elapsed``: the model's ``is_horizon_complete``, or the horizon has elapsed by the
    last day the data reaches (``date + 1 + horizon <= last_day``: the event stream's, or the
    assignments'). When the exposure events stop (a renamed event), the models' ``data_through``
    stops with them; the rest of the stream and the assignments tell that time went on, and the
    cohorts after it are comparable all the same.
    """
    totals: dict[dt.date, dict] = {}
    for row in sorted(by_variation, key=lambda r: (r["date"], r["assigned_variation_id"])):
        c = totals.setdefault(row["date"], {name: 0 for name in _COUNTS} | {"variations": {}})
        for name in _COUNTS:
            c[name] += row[name]
        c["is_horizon_complete"] = row["is_horizon_complete"]
        c["is_window_complete"] = row["is_window_complete"]
        c["is_horizon_elapsed"] = row["is_horizon_complete"] or (
            last_day is not None and row["date"] + dt.timedelta(days=1 + horizon_days) <= last_day)
        c["variations"][row["assigned_variation_id"]] = row
    return totals


def _run_start(day: dt.date, tested: list[dt.date], drops: set[dt.date]) -> dt.date:
    """The first cohort of the run of consecutive drop cohorts that ends at ``day``."""
    if day not in tested:
        return day
    i = tested.index(day)
    while i > 0 and tested[i - 1] in drops:
        i -= 1
    return tested[i]


def _choose_days(obs: Observations, variables: Variables, totals: dict[dt.date, dict],
                 date: dt.date | None) -> tuple[dt.date, str, dt.date]:
    """The cohort to diagnose, why, and the start of its episode (the reference ends there)."""
    comparable = [d for d, c in sorted(totals.items())
                  if c["is_horizon_elapsed"] and c["assigned_units"] >= variables.exp_alert_min_cohort_units]
    points = [Point(d, totals[d]["valid_exposed_within_horizon_units"] / totals[d]["assigned_units"],
                    totals[d]["assigned_units"]) for d in comparable]
    # The drops of the alerts model, and those of the same rule over the comparable cohorts.
    drops = {a["date"] for a in obs.alerts if a["alert_type"] == "exposure_rate_drop"}
    drops |= {a["date"] for a in baseline_alerts(RULES[0], {obs.experiment_id: points}, variables)}
    if date is not None:
        if date not in totals:
            first, last = min(totals), max(totals)
            raise ConfigError(f"experiment {obs.experiment_id!r} has no cohort on {date}; its cohorts run from "
                              f"{first} to {last}")
        day, reason = date, "given"
    elif drops:
        day, reason = max(drops), "the latest complete cohort with an exposure-rate drop"
    elif comparable:
        day, reason = comparable[-1], "the latest complete cohort; no exposure-rate drop"
    else:
        day, reason = max(totals), "the latest cohort; none is complete and large enough to compare yet"
    if day in drops:
        start = _run_start(day, comparable, drops)
        if start != day:
            reason += f" (the drop began on cohort {start})"
        return day, reason, start
    earlier = sorted(d for d in drops if day - dt.timedelta(days=variables.exp_alert_baseline_days) <= d < day)
    if earlier:
        # A drop that began recently and persists: its alerts stop once it fills half the baseline,
        # but the day is still low against the days before it began.
        start = _run_start(earlier[-1], comparable, drops)
        window = Window(start - dt.timedelta(days=variables.exp_alert_baseline_days), start, day)
        judged = judge_rates(points, window, -1, variables.exp_alert_min_exposure_rate_drop, variables) or []
        if any(j.date == day and j.flagged for j in judged):
            return day, reason + f"; the exposure-rate drop that began on cohort {start} persists", start
    return day, reason, day


def _last_day(obs: Observations) -> dt.date | None:
    """The last day the data reaches: of the event stream, the exposure events or the assignments."""
    dates = [r["event_date"] for r in obs.event_names or [] if r["event_date"] is not None]
    dates += [r["exposure_date"] for r in obs.rejections if r["exposure_date"] is not None]
    dates += [r["date"] for r in obs.by_variation]
    return max(dates) if dates else None


def earlier_alerts(alerts: list[dict], before: dt.date) -> list[dict]:
    """The experiment's alerts dated before ``before`` (outside a diagnosis' days), one entry per
    alert type and run of consecutive days: an older episode that a diagnosis of another day
    cannot see (its baseline has absorbed it), worth its own ``--date``."""
    by_type: dict[str, list[dt.date]] = {}
    for alert in alerts:
        if alert["date"] < before:
            by_type.setdefault(alert["alert_type"], []).append(alert["date"])
    found = []
    for alert_type, dates in by_type.items():
        dates = sorted(set(dates))
        run = [dates[0]]
        for d in dates[1:] + [None]:
            if d is not None and (d - run[-1]).days <= 1:
                run.append(d)
                continue
            found.append({"alert_type": alert_type, "first_date": run[0], "last_date": run[-1], "days": len(run),
                          "days_text": days_text(run)})
            if d is not None:
                run = [d]
    return sorted(found, key=lambda a: (a["first_date"], a["alert_type"]))


def _data_end(obs: Observations, totals: dict[dt.date, dict]) -> dt.date:
    """The last day that both the event stream (when read) and the assignments reach: the day the
    snapshot was taken, usually partial. Exposures that straggle in after the last assignment are
    past it."""
    end = max(totals)
    stream = [r["event_date"] for r in obs.event_names or [] if r["event_date"] is not None]
    return min(end, max(stream)) if stream else end


def diagnose_observations(obs: Observations, variables: Variables, date: dt.date | None = None) -> Diagnosis:
    """Walk the runbook over collected observations (no engine needed)."""
    last = _last_day(obs)
    totals = cohort_totals(obs.by_variation, last, variables.exp_alert_horizon_days)
    if not totals:
        raise ConfigError(f"experiment {obs.experiment_id!r} has no assigned units to diagnose")
    day, reason, start = _choose_days(obs, variables, totals, date)
    baseline_days = dt.timedelta(days=variables.exp_alert_baseline_days)
    reference_start = start - baseline_days
    end = _data_end(obs, totals)
    event_end = day + dt.timedelta(days=variables.exp_alert_horizon_days)
    if start <= end < event_end:
        event_end = end
    ctx = Context(obs, variables, day, Window(reference_start, start, day), Window(reference_start, start, event_end),
                  totals, end)
    _, headline = exposure_rate(ctx)
    headline["date"] = day
    headline["horizon_days"] = variables.exp_alert_horizon_days
    headline["reference_cohorts"] = len([d for d in totals if ctx.cohorts.reference(d) and totals[d]["is_horizon_elapsed"]
                                         and totals[d]["assigned_units"] >= variables.exp_alert_min_cohort_units])
    checks = [check(ctx) for check in CHECK_FUNCTIONS]
    skipped = [c.title for c in checks if c.status == SKIPPED]
    notes: list[str] = []
    causes = rank(checks, headline, skipped, variables.exp_alert_critical_multiple, notes)
    earlier = earlier_alerts(obs.alerts, reference_start)
    for alert in earlier:
        notes.append(f"earlier alert of this experiment, before this diagnosis' baseline: {alert['alert_type']} on "
                     f"{alert['days_text']}; diagnose it with --date {alert['first_date']}")
    settings = {name: getattr(variables, name) for name in (
        "exp_exposure_event_name", "exp_allow_pre_assignment_exposure_grace_minutes",
        "exp_exposure_max_days_after_assignment", "exp_alert_horizon_days", "exp_alert_baseline_days",
        "exp_alert_min_baseline_points", "exp_alert_mad_k", "exp_alert_critical_multiple",
        "exp_alert_min_cohort_units")}
    return Diagnosis(obs.experiment_id, day, reason, start, reference_start, event_end, headline, checks, causes,
                     dict(obs.source), settings, notes, earlier)


def diagnose(config: RunConfig, experiment_id: str, date: dt.date | None = None, *,
             output_dir: str | None = None, database: str | None = None) -> Diagnosis:
    """Diagnose ``experiment_id`` on ``date`` (default: the latest complete cohort with an
    exposure-rate drop, else the latest complete cohort).

    With ``output_dir`` or ``database``, the models are those of an earlier run; the raw-event
    checks then need ``config.events`` (``config.assignments`` is not read), and are reported as
    skipped without it. Otherwise every model is built from ``config``'s inputs in-process, and
    nothing is written.
    """
    has_ingested_at = "ingested_at" in config.event_mapping.expressions
    if output_dir is not None or database is not None:
        if output_dir is not None and database is not None:
            raise ConfigError("give one of --output-dir or --database to read an earlier run from")
        has_events = config.events is not None
        session = outputs_engine(config, output_dir, database)
        source = {"mode": "outputs", "output_dir": output_dir, "database": database,
                  "events": config.events.describe() if has_events else None, "assignments": None}
    else:
        if config.events is None or config.assignments is None:
            missing = "events" if config.events is None else "assignments"
            raise ConfigError(f"no {missing} input given (use --{missing} PATH, [{missing}] in expguard.toml, "
                              "or --output-dir/--database to read an earlier run)")
        has_events = True
        session = built_engine(config)
        source = {"mode": "built", "output_dir": None, "database": None, "events": config.events.describe(),
                  "assignments": config.assignments.describe()}
    source["engine"] = config.engine.name
    with session as engine:
        obs = collect(engine, experiment_id, has_events=has_events, has_ingested_at=has_ingested_at,
                      events_note=None if has_events else EVENTS_SKIPPED)
    obs.source = source
    return diagnose_observations(obs, config.variables, date)


def config_from_cli(options: dict[str, Any], reading_outputs: bool) -> RunConfig:
    """The run configuration of ``expguard diagnose``, from the shared input options.

    Building from the inputs, it is exactly ``expguard run``'s. Reading an earlier run's outputs,
    the assignments are not read (the run's models hold them) and the events are optional (only
    the raw-event checks read them); ``config_from_options`` wants both, so a missing one is
    given a placeholder that is dropped from the result, never read.
    """
    from ...settings.config import DEFAULT_PROJECT, config_from_options, load_project

    if not reading_outputs:
        return config_from_options(**options)
    if options.get("assignments") is not None:
        raise ConfigError("--assignments is not read with --output-dir/--database: the run's models hold the "
                          "assignments (give --events to run the raw-event checks)")
    project = options.get("project")
    settings = load_project(project or DEFAULT_PROJECT) if project is not None or Path(DEFAULT_PROJECT).exists() else {}
    has_events = options.get("events") is not None or "events" in settings
    placeholder = "expguard-diagnose-unused.parquet"
    filled = dict(options)
    if not has_events:
        filled["events"] = placeholder
    if "assignments" not in settings:
        filled["assignments"] = placeholder
    config = config_from_options(**filled)
    return dataclasses.replace(config, events=config.events if has_events else None, assignments=None)


def diagnose_inputs(experiment_id: str, events: str | Source | None = None, assignments: str | Source | None = None, *,
                    date: dt.date | str | None = None, output_dir: str | None = None, database: str | None = None,
                    vars: Mapping[str, Any] | None = None, events_columns: Mapping[str, str] | None = None,
                    assignments_columns: Mapping[str, str] | None = None,
                    engine: Mapping[str, Any] | None = None) -> Diagnosis:
    """``expguard.diagnose``: the Python form of ``expguard diagnose`` (see its docstring)."""
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise ConfigError(f"date must be YYYY-MM-DD, got {date!r}") from None
    if events is not None and assignments is not None:
        config = build_config(events=events, assignments=assignments, events_columns=events_columns,
                              assignments_columns=assignments_columns, vars=vars, engine=engine)
    else:
        source = Source.parse(events) if isinstance(events, str) else events
        if source is not None:
            source.resolved_format()
        config = RunConfig(events=source, assignments=None,  # type: ignore[arg-type]
                           event_mapping=ColumnMapping.for_events(events_columns),
                           assignment_mapping=ColumnMapping.for_assignments(assignments_columns),
                           variables=Variables().with_values(vars or {}), engine=EngineSettings(**(engine or {})))
    if (output_dir is not None or database is not None) and assignments is not None:
        raise ConfigError("assignments are not read with output_dir/database: the run's models hold them")
    return diagnose(config, experiment_id, date, output_dir=output_dir, database=database)
