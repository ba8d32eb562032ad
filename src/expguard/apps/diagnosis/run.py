"""The diagnosis, start to end: read the observations (built from the inputs or an earlier run's
outputs), choose the cohort, walk the five runbook steps, rank the causes, and read the
experiment's health verdict. ``expguard diagnose`` and ``expguard.diagnose`` call these."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any, Mapping

from ...core.errors import ConfigError
from ...models.verdict import verdicts
from ...runner.pipeline import built_engine
from ...settings.config import (ColumnMapping, RunConfig, Source, Variables, build_config, engine_settings,
                                preset_variables)
from .checks import Context, exposure_rate
from .data import Observations, collect, outputs_engine
from .days import choose_days, cohort_totals, data_end, earlier_alerts, last_day
from .findings import SKIPPED
from .ranking import rank
from .render import Diagnosis
from .stats import Window
from .steps import STEPS

EVENTS_SKIPPED = "skipped: reads the raw events; only an earlier run's outputs were given (add --events)"


def diagnose_observations(obs: Observations, variables: Variables, date: dt.date | None = None) -> Diagnosis:
    """Walk the runbook over collected observations (no engine needed)."""
    last = last_day(obs)
    totals = cohort_totals(obs.by_variation, last, variables.exp_alert_horizon_days)
    if not totals:
        # No cohort to walk the runbook over; the verdict (an experiment seen only in exposures
        # fails assignments_present) is still told, as every other command tells it.
        verdict = verdicts(obs.health).get(obs.experiment_id) if obs.health is not None else None
        told = (f"; its health verdict is {verdict.status.upper()} ({verdict.reason['check_name']}: "
                f"{verdict.reason['detail']})" if verdict is not None and verdict.reason is not None else "")
        raise ConfigError(f"experiment {obs.experiment_id!r} has no assigned units to diagnose{told}")
    day, reason, start = choose_days(obs, variables, totals, date)
    baseline_days = dt.timedelta(days=variables.exp_alert_baseline_days)
    reference_start = start - baseline_days
    end = data_end(obs, totals)
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
    checks = [check(ctx) for check in STEPS]
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
    found = verdicts(obs.health) if obs.health is not None else {}
    return Diagnosis(obs.experiment_id, day, reason, start, reference_start, event_end, headline, checks, causes,
                     dict(obs.source), settings, notes, earlier, found.get(obs.experiment_id), found.get(None))


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
                    engine: Mapping[str, Any] | None = None, preset: str | None = None) -> Diagnosis:
    """``expguard.diagnose``: the Python form of ``expguard diagnose`` (see its docstring)."""
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            raise ConfigError(f"date must be YYYY-MM-DD, got {date!r}") from None
    if events is not None and assignments is not None:
        config = build_config(events=events, assignments=assignments, events_columns=events_columns,
                              assignments_columns=assignments_columns, vars=vars, engine=engine,
                              events_preset=preset)
    else:
        source = Source.parse(events) if isinstance(events, str) else events
        if source is not None:
            source.resolved_format()
        config = RunConfig(events=source, assignments=None,  # type: ignore[arg-type]
                           event_mapping=ColumnMapping.for_events(events_columns, preset),
                           assignment_mapping=ColumnMapping.for_assignments(assignments_columns),
                           variables=preset_variables(preset, vars), engine=engine_settings(engine))
    if (output_dir is not None or database is not None) and assignments is not None:
        raise ConfigError("assignments are not read with output_dir/database: the run's models hold them")
    return diagnose(config, experiment_id, date, output_dir=output_dir, database=database)
