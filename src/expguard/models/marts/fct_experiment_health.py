"""Absolute health checks per experiment: the model fct_experiment_health.

The alerts (:mod:`expguard.models.marts.fct_experiment_exposure_alerts`) compare an experiment with its own earlier days, so a defect
present from the first day never alerts. These checks compare each experiment with fixed
thresholds instead, over all its cohorts, and never call an experiment healthy on no evidence:
a share whose denominator is below ``exp_health_min_units`` is ``not_enough_data``.

One row per (experiment_id, check_name), every check for every experiment (a rectangular table),
plus stream-wide rows (``experiment_id`` null) for what belongs to no experiment: exposure events
whose experiment id could not be read, the newest event against the run's reference time, and
whether the stream holds any exposure event at all. Thresholds are the ``exp_health_*``
variables; docs/monitoring.md says where each default comes from.

A share check *warns* at or above its warn threshold and *fails* at or above its fail threshold;
``exposure_coverage``, ``exposure_events_present``, ``assignments_present`` and ``sample_ratio``
are bad when their value is *below* the threshold. Counting is done in SQL
(``int_experiment_health_facts`` and the daily models); only sums over small tables happen here,
so every engine gives the same rows. Only when an experiment has no exposure event at all (or its
events stopped) does the model look at the raw stream again, to name the nearest candidates.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from sqlglot import exp

from ...core.constants import (EVENTS, FCT_ALERTS, FCT_DAILY, FCT_HEALTH, FCT_SRM, HEALTH_CHECKS, INT_HEALTH_FACTS,
                               INT_REJECTIONS_DAILY, REJECT_REASONS, SEVERITIES, SRM_STAGES)
from ..python import python_model, read_inputs
from ..verdict import FAIL, NOT_ENOUGH_DATA, PASS, WARN
from ...core.fmt import hours as _hours, p_value as format_p_value, percent
from ...core.names import LOOKALIKE, normalized, similarity
from ...core.stats import share_lower_bound, upper_quantile

if TYPE_CHECKING:  # pragma: no cover
    from ...engines.base import Engine
    from ...settings.config import Variables


COLUMNS = (
    ("experiment_id", "varchar"),
    ("check_name", "varchar"),
    ("status", "varchar"),
    ("value", "double"),
    ("warn_threshold", "double"),
    ("fail_threshold", "double"),
    ("units", "bigint"),
    ("detail", "varchar"),
)

#: The checks of the stream-wide rows (experiment_id null).
STREAM_CHECKS = ("exposure_events_present", "rejected_exposure_events", "freshness")


def pct(value: float | None) -> str:
    """A share as a percentage with two decimals ("n/a" for None), as every detail writes it.

    >>> pct(0.3125), pct(None)
    ('31.25%', 'n/a')
    """
    return percent(value, 2)


def exposure_event_names(variables: "Variables") -> list[str]:
    """The configured exposure event name(s), as a list (the variable may hold one or several)."""
    names = variables.exp_exposure_event_name
    return [names] if isinstance(names, str) else list(names)


@dataclass(frozen=True)
class Row:
    """One check's result, before it becomes a row of the model."""

    check_name: str
    status: str
    value: float | None
    warn: float | None
    fail: float | None
    units: int
    detail: str

    def as_row(self, experiment_id: str | None) -> dict[str, Any]:
        return {"experiment_id": experiment_id, "check_name": self.check_name, "status": self.status,
                "value": None if self.value is None else float(self.value),
                "warn_threshold": None if self.warn is None else float(self.warn),
                "fail_threshold": None if self.fail is None else float(self.fail),
                "units": int(self.units), "detail": self.detail}


def judge_above(value: float, warn: float, fail: float) -> str:
    """``fail`` at or above ``fail``, ``warn`` at or above ``warn``, else ``pass``.

    >>> judge_above(0.05, 0.01, 0.05), judge_above(0.0099, 0.01, 0.05), judge_above(0.01, 0.01, 0.05)
    ('fail', 'pass', 'warn')
    """
    if value >= fail:
        return FAIL
    return WARN if value >= warn else PASS


def judge_below(value: float, warn: float, fail: float) -> str:
    """``fail`` below ``fail``, ``warn`` below ``warn``, else ``pass``.

    >>> judge_below(0.5, 0.5, 0.1), judge_below(0.0999, 0.5, 0.1), judge_below(0.3, 0.5, 0.1)
    ('pass', 'fail', 'warn')
    """
    if value < fail:
        return FAIL
    return WARN if value < warn else PASS


#: Below ``exp_health_min_units`` affected units, a share is judged only from this many, by its
#: lower confidence bound (:func:`few_units`): fewer are an anecdote, whatever their share.
BOUND_MIN_AFFECTED = 3


def few_units(numerator: int, denominator: int, warn: float, fail: float) -> tuple[str, float]:
    """A bad-when-high share of fewer units than the minimum: judged by its one-sided 95% lower
    confidence bound (Clopper-Pearson) against the thresholds, from :data:`BOUND_MIN_AFFECTED`
    affected units; ``not_enough_data`` when chance can explain it (the bound below the warn
    level). 9 of 9 units mismatched fail (at least 71.7%); 3 of 270 (1.1%, at least 0.30%) are
    not judged, as GrowthBook's rule would have it."""
    bound = share_lower_bound(numerator, denominator) if numerator >= BOUND_MIN_AFFECTED else 0.0
    status = judge_above(bound, warn, fail)
    return (NOT_ENOUGH_DATA if status == PASS else status), bound


def share_check(name: str, numerator: int, denominator: int, warn: float, fail: float, min_units: int,
                what: str, of: str) -> Row:
    """A share that is bad when high: ``numerator / denominator`` against ``warn`` and ``fail``,
    judged with at least ``min_units`` in the denominator and, to warn or fail, at least
    ``min_units`` affected (GrowthBook's rule for multiple exposures, applied to every share);
    with fewer, it warns or fails only when chance cannot explain it (:func:`few_units`)."""
    thresholds = f"warn at {pct(warn)}, fail at {pct(fail)}"
    value = numerator / denominator if denominator else None
    judged = judge_above(value, warn, fail) if denominator >= min_units else None
    if judged is None or (judged != PASS and numerator < min_units):
        status, bound = few_units(numerator, denominator, warn, fail)
        if status != NOT_ENOUGH_DATA:
            return Row(name, status, value, warn, fail, denominator,
                       f"{numerator:,} of {denominator:,} {of} ({pct(value)}) {what}: fewer than {min_units:,}, but "
                       f"more than chance explains (at least {pct(bound)} at 95% confidence); {thresholds}")
        if denominator < min_units:
            return Row(name, NOT_ENOUGH_DATA, value, warn, fail, denominator,
                       f"{numerator:,} of {denominator:,} {of} {what}: too few to judge (fewer than {min_units:,}); "
                       f"{thresholds}")
        # GrowthBook's rule: a share is unhealthy only once at least min_units units are affected;
        # fewer are within what chance gives a small experiment, and too few to call either way.
        return Row(name, NOT_ENOUGH_DATA, value, warn, fail, denominator,
                   f"{numerator:,} of {denominator:,} {of} ({pct(value)}) {what}: above the warn level, but fewer "
                   f"than {min_units:,}, too few to judge; {thresholds}")
    return Row(name, judged, value, warn, fail, denominator,
               f"{numerator:,} of {denominator:,} {of} ({pct(value)}) {what}; {thresholds}")


def unassigned_detail(row: Row, unassigned: int, assigned: int, minimum: int) -> Row:
    """``unassigned_exposures`` told in its own words (units exposed without an assignment are not
    a share *of* the assigned units, only weighed against them), with why it was or was not judged."""
    if row.status in (WARN, FAIL) and unassigned < minimum:
        why = (f" ({pct(row.value)}): fewer than {minimum:,}, but more than chance explains (at least "
               f"{pct(share_lower_bound(unassigned, assigned))} at 95% confidence)")
    elif assigned < minimum:
        why = f": too few to judge (fewer than {minimum:,} assigned)"
    elif row.status == NOT_ENOUGH_DATA:
        why = f" ({pct(row.value)}): above the warn level, but fewer than {minimum:,} units, too few to judge"
    else:
        why = f" ({pct(row.value)})"
    were = "unit was" if unassigned == 1 else "units were"
    return Row(row.check_name, row.status, row.value, row.warn, row.fail, row.units,
               f"{unassigned:,} {were} exposed without an assignment, against {assigned:,} assigned units{why}; "
               f"warn at {pct(row.warn)}, fail at {pct(row.fail)}")


# -- gathering the counts -------------------------------------------------------------------------

_DAILY_COUNTS = ("assigned_units", "exposed_units", "valid_exposed_units", "no_exposure_units",
                 "multi_variation_exposure_units", "variation_mismatch_units", "pre_assignment_exposure_units",
                 "exposure_outside_window_units", "mismatched_units", "unassigned_exposed_units")


def _sum(rows: Iterable[dict], names: Sequence[str]) -> dict[str, int]:
    totals = {name: 0 for name in names}
    for row in rows:
        for name in names:
            totals[name] += row[name]
    return totals


def _group(rows: Iterable[dict], key: str = "experiment_id") -> dict[Any, list[dict]]:
    grouped: dict[Any, list[dict]] = {}
    for row in rows:
        grouped.setdefault(row[key], []).append(row)
    return grouped


_REASON_COLUMNS = {reason: f"{reason}_events" for reason in REJECT_REASONS}


def _top_reasons(rows: Iterable[dict]) -> list[tuple[str, int]]:
    totals = _sum(rows, list(_REASON_COLUMNS.values()))
    found = [(reason, totals[column]) for reason, column in _REASON_COLUMNS.items() if totals[column]]
    return sorted(found, key=lambda item: (-item[1], REJECT_REASONS.index(item[0])))


@dataclass(frozen=True)
class RejectedEvents:
    """Exposure events in all and rejected, with the rejections by reason, most frequent first."""

    events: int
    rejected: int
    reasons: tuple[tuple[str, int], ...]

    @property
    def share(self) -> float | None:
        return self.rejected / self.events if self.events else None


def rejected_events(rejections: Iterable[dict]) -> RejectedEvents:
    """The stream's rejected exposure events, from the rows of int_experiment_exposure_rejections_daily."""
    rows = list(rejections)
    return RejectedEvents(sum(r["exposure_events"] for r in rows), sum(r["rejected_exposure_events"] for r in rows),
                          tuple(_top_reasons(rows)))


# -- the checks ---------------------------------------------------------------------------------

def check_exposure_events_present(facts: dict, names: list[str], candidates: str, unreadable: int = 0) -> Row:
    """``unreadable``: the stream's exposure events whose experiment id could not be read; when
    there are some, a failing detail says so (this experiment's events may be among them: a
    mapping reading the wrong keys), before the other names it lists."""
    events, assigned = facts["exposure_events"], facts["assigned_units"]
    named = " or ".join(repr(n) for n in names)
    if assigned == 0:
        return Row("exposure_events_present", PASS if events else NOT_ENOUGH_DATA, events, None, 1, events,
                   f"{events:,} exposure events named {named} carry this experiment's id")
    if events > 0:
        return Row("exposure_events_present", PASS, events, None, 1, events,
                   f"{events:,} exposure events named {named} carry this experiment's id "
                   f"({assigned:,} assigned units)")
    return Row("exposure_events_present", FAIL, 0, None, 1, 0,
               f"no exposure event named {named} carries this experiment's id, though {assigned:,} units are "
               f"assigned" + (f"; {unreadable:,} exposure events named {named} have no readable experiment id "
                              "(the stream's rejected_exposure_events row): check the experiment_id mapping first"
                              if unreadable else "") + candidates)


def check_assignments_present(facts: dict, twin: str = "") -> Row:
    """``twin``: the detail's pointer to an assigned experiment whose id differs only in case or
    separators (:func:`id_twins`)."""
    assigned, events = facts["assigned_units"], facts["exposure_events"]
    if assigned > 0:
        return Row("assignments_present", PASS, assigned, None, 1, assigned, f"{assigned:,} units are assigned")
    return Row("assignments_present", FAIL, 0, None, 1, 0,
               f"{events:,} exposure events carry this experiment's id but it has no assignment at all: "
               "check the experiment id in the assignment table (or that it is exported)" + twin)


def id_twins(facts: Iterable[dict]) -> dict[str, str]:
    """experiment id -> a detail pointing at its twin: an experiment seen only in exposure events
    and one seen only in assignments whose ids are the same but for case and separators
    (``EXP_A`` and ``exp_a``): one experiment whose id is spelled two ways, which otherwise fails
    twice with no word of the other."""
    exposed_only = [f["experiment_id"] for f in facts if f["experiment_id"] is not None
                    and f["assigned_units"] == 0 and f["exposure_events"] > 0]
    assigned_only = [f["experiment_id"] for f in facts if f["experiment_id"] is not None
                     and f["assigned_units"] > 0 and f["exposure_events"] == 0]
    found: dict[str, str] = {}
    for exposed in exposed_only:
        for assigned in assigned_only:
            if normalized(exposed) == normalized(assigned):
                found.setdefault(exposed, f"; the assignments have experiment {assigned!r}, the same id but for case "
                                          "or separators: one experiment spelled two ways?")
                found.setdefault(assigned, f"; exposure events carry experiment {exposed!r}, the same id but for "
                                           "case or separators: one experiment spelled two ways?")
    return found


def check_rejected(events: int, rejected: int, reasons: list[tuple[str, int]], v: "Variables",
                   stream: bool = False) -> Row:
    what = ("were rejected because their experiment id could not be read" if stream
            else "were rejected as malformed")
    row = share_check("rejected_exposure_events", rejected, events, v.exp_health_rejected_warn,
                      v.exp_health_rejected_fail, v.exp_health_min_units, what, "exposure events")
    if reasons:
        top = ", ".join(f"{reason} {count:,}" for reason, count in reasons[:3])
        row = Row(row.check_name, row.status, row.value, row.warn, row.fail, row.units, f"{row.detail}; top reasons: {top}")
    if stream and row.status in (WARN, FAIL):
        row = Row(row.check_name, row.status, row.value, row.warn, row.fail, row.units,
                  f"{row.detail}; check the experiment_id mapping (the keys' spelling and case in properties)")
    return row


def check_coverage(cohorts: list[dict], v: "Variables", readable_events: int = 0) -> Row:
    """Share of assigned units exposed inside their window (status valid, multi-variation or
    mismatch), over the cohorts whose window has closed. While windows are open the share can
    only rise: a share already at the warn threshold passes; below the fail threshold over the
    cohorts before the latest assignment day (a day for exposures to follow), it warns (a
    healthy experiment's units are mostly exposed at or soon after assignment); between the two
    it is not judged yet. ``readable_events``: the experiment's exposure events that were not
    rejected; when there are some (at least :data:`BOUND_MIN_AFFECTED`, as many assigned units)
    and not one assigned unit has any exposure, the check fails whatever the windows: the events'
    unit ids match no assignment."""
    warn, fail, minimum = v.exp_health_coverage_warn, v.exp_health_coverage_fail, v.exp_health_min_units
    thresholds = f"warn below {pct(warn)}, fail below {pct(fail)}"
    every = _sum(cohorts, _DAILY_COUNTS)
    # From BOUND_MIN_AFFECTED units and events, as a share of few units is judged: 5 assigned units
    # none of which matched any of 5 exposure events is no chance either.
    if (every["assigned_units"] >= BOUND_MIN_AFFECTED and every["no_exposure_units"] == every["assigned_units"]
            and readable_events >= BOUND_MIN_AFFECTED):
        return Row("exposure_coverage", FAIL, 0.0, warn, fail, every["assigned_units"],
                   f"none of the {every['assigned_units']:,} assigned units has an exposure, though {readable_events:,} "
                   "exposure events carry the experiment's id: their unit ids match no assignment (compare unit_id "
                   "in the events and in the assignments: the same id, type and spelling?)")

    def covered(rows: list[dict]) -> tuple[int, int]:
        t = _sum(rows, _DAILY_COUNTS)
        inside = t["assigned_units"] - t["no_exposure_units"] - t["pre_assignment_exposure_units"] \
            - t["exposure_outside_window_units"]
        return inside, t["assigned_units"]

    closed = [r for r in cohorts if r["is_window_complete"]]
    inside, assigned = covered(closed)
    if assigned >= minimum:
        value = inside / assigned
        return Row("exposure_coverage", judge_below(value, warn, fail), value, warn, fail, assigned,
                   f"{inside:,} of {assigned:,} assigned units in cohorts whose window has closed ({pct(value)}) were "
                   f"exposed inside their window; {thresholds}")
    inside, assigned = covered(cohorts)
    if assigned < minimum:
        return Row("exposure_coverage", NOT_ENOUGH_DATA, inside / assigned if assigned else None, warn, fail, assigned,
                   f"{assigned:,} assigned units: too few to judge (fewer than {minimum:,})")
    value = inside / assigned
    if value >= warn:
        return Row("exposure_coverage", PASS, value, warn, fail, assigned,
                   f"{inside:,} of {assigned:,} assigned units ({pct(value)}) already exposed inside their window "
                   f"(windows still open, the share can only rise); {thresholds}")
    days = v.exp_exposure_max_days_after_assignment
    latest = max(r["date"] for r in cohorts)
    early_inside, early_assigned = covered([r for r in cohorts if r["date"] < latest])
    if early_assigned >= minimum and early_inside / early_assigned < fail:
        early = early_inside / early_assigned
        return Row("exposure_coverage", WARN, early, warn, fail, early_assigned,
                   f"only {early_inside:,} of {early_assigned:,} units assigned before {latest} ({pct(early)}) were "
                   f"exposed so far; no cohort's {days}-day window has closed, so the share can still rise, but "
                   f"a healthy experiment's units are mostly exposed at or soon after assignment; {thresholds}")
    return Row("exposure_coverage", NOT_ENOUGH_DATA, value, warn, fail, assigned,
               f"{inside:,} of {assigned:,} assigned units ({pct(value)}) exposed so far, but no cohort's "
               f"{days}-day window has closed yet; {thresholds}")


#: A day is *dark* when its exposure events per assigned unit fall below this share of the
#: experiment's usual level (the 90th percentile of its days): a tenth is far outside daily noise
#: at the 10 units a day judged at least, and a trickle of old clients still sending a renamed
#: event does not hide the rename.
DARK_SHARE = 0.1


def dark_days(assigned_by_day: dict[dt.date, int], events_by_day: dict[dt.date, int], minimum: int) -> list[dt.date]:
    """The last days of assignment (each with at least ``minimum`` assigned units), in order,
    whose exposure events per assigned unit are below ``DARK_SHARE`` of the usual level.

    >>> days = {dt.date(2026, 1, d): 100 for d in range(1, 11)}
    >>> events = {dt.date(2026, 1, d): (110 if d <= 7 else 1) for d in range(1, 11)}
    >>> [d.day for d in dark_days(days, events, 10)]
    [8, 9, 10]
    """
    dates = sorted(d for d, n in assigned_by_day.items() if n >= minimum)
    if len(dates) < 3:
        return []
    ratios = [events_by_day.get(d, 0) / assigned_by_day[d] for d in dates]
    usual = upper_quantile(ratios, 0.9)
    if usual == 0:
        return []
    dark: list[dt.date] = []
    for date, ratio in zip(reversed(dates), reversed(ratios)):
        if ratio >= DARK_SHARE * usual:
            break
        dark.append(date)
    return dark[::-1]


def check_freshness(facts: dict, dark: list[dt.date], v: "Variables", candidates: str = "") -> Row:
    """Per experiment: how far its exposure events lag its assignments. The lag is the larger of
    the time from the newest exposure event to the newest assignment, and the trailing days of
    assignment on which exposure events all but stopped (``dark_days``)."""
    warn, fail = v.exp_health_freshness_warn_hours, v.exp_health_freshness_fail_hours
    last_assigned, last_event = facts["last_assigned_at"], facts["last_exposure_event_at"]
    if last_assigned is None or last_event is None:
        return Row("freshness", NOT_ENOUGH_DATA, None, warn, fail, facts["assigned_units"],
                   "no assignment or no exposure event to compare")
    newest_lag = max((last_assigned - last_event).total_seconds() / 3600, 0.0)
    dark_lag = 24.0 * len(dark)
    lag = max(newest_lag, dark_lag)
    status = judge_above(lag, warn, fail)
    if dark_lag > newest_lag:
        text = (f"exposure events per assigned unit fell below {pct(DARK_SHARE)} of their usual level on the last "
                f"{len(dark)} day{'s' if len(dark) != 1 else ''} of assignment (since {dark[0].isoformat()}, "
                f"newest exposure event {last_event:%Y-%m-%d %H:%M})")
    elif lag == 0:
        text = f"the newest exposure event ({last_event:%Y-%m-%d %H:%M}) is not older than the newest assignment"
    else:
        text = (f"the newest exposure event ({last_event:%Y-%m-%d %H:%M}) is {_hours(lag)} older than the newest "
                f"assignment ({last_assigned:%Y-%m-%d %H:%M})")
    if status != PASS:
        text += f": exposure events stopped while units were still assigned (a renamed or removed event?){candidates}"
    return Row("freshness", status, lag, warn, fail, facts["assigned_units"],
               f"{text}; warn above {_hours(warn)}, fail above {_hours(fail)}")


def check_stream_freshness(stream: dict, as_of: dt.datetime, v: "Variables") -> Row:
    """Stream-wide: how old the newest exposure event is at the run's reference time."""
    warn, fail = v.exp_health_freshness_warn_hours, v.exp_health_freshness_fail_hours
    last_event = stream["last_exposure_event_at"]
    if last_event is None:
        return Row("freshness", NOT_ENOUGH_DATA, None, warn, fail, 0, "no exposure event with a timestamp")
    age = max((as_of - last_event).total_seconds() / 3600, 0.0)
    return Row("freshness", judge_above(age, warn, fail), age, warn, fail, stream["exposure_events"],
               f"the newest exposure event ({last_event:%Y-%m-%d %H:%M} UTC) is {_hours(age)} old at "
               f"{as_of:%Y-%m-%d %H:%M} UTC (the run's reference time, exp_health_as_of); "
               f"warn above {_hours(warn)}, fail above {_hours(fail)}")


def check_sample_ratio(srm: list[dict], v: "Variables") -> Row:
    """The stage-wise SRM tests, as one check: ``fail`` at the first stage whose chi-square
    p-value is below ``exp_srm_p_value_threshold`` with a split off by at least
    ``exp_health_srm_min_deviation``; ``warn`` when a stage's p-value is below
    ``exp_health_srm_warn_p_value`` otherwise; ``pass`` when some stage was tested."""
    warn_p, fail_p, floor = v.exp_health_srm_warn_p_value, v.exp_srm_p_value_threshold, v.exp_health_srm_min_deviation
    stages: dict[str, list[dict]] = {}
    for row in sorted(srm, key=lambda r: (r["stage_order"], r["variation_id"])):
        stages.setdefault(row["stage"], []).append(row)
    tested = []
    for stage in SRM_STAGES:
        rows = stages.get(stage)
        if not rows or rows[0]["srm_status"] not in ("srm", "ok"):
            continue
        deviation = max(abs((r["observed_share"] or 0.0) - r["expected_share"]) for r in rows if r["expected_share"] > 0)
        tested.append((stage, rows[0]["p_value"], deviation, rows[0]["stage_units"], rows))
    if not tested:
        units = max((r["stage_units"] for r in srm), default=0)
        return Row("sample_ratio", NOT_ENOUGH_DATA, None, warn_p, fail_p, units,
                   "no stage could be tested (one variation, or a variation expects fewer than "
                   f"{v.exp_srm_min_units} units)")

    def split(rows: list[dict]) -> str:
        return ", ".join(f"{r['variation_id']} {r['units']:,} ({pct(r['observed_share'])} vs {pct(r['expected_share'])})"
                         for r in rows)

    for stage, p, deviation, units, rows in tested:
        if p < fail_p and deviation >= floor:
            return Row("sample_ratio", FAIL, p, warn_p, fail_p, units,
                       f"sample-ratio mismatch at the {stage.replace('_', ' ')} stage: {split(rows)}; "
                       f"chi-square p = {format_p_value(p)} < {fail_p:g}")
    stage, p, deviation, units, rows = min(tested, key=lambda t: t[1])
    if p < warn_p or p < fail_p:
        why = (f"but no share is off by {pct(floor)} or more" if p < fail_p else f"below the warning level {warn_p:g}")
        return Row("sample_ratio", WARN, p, warn_p, fail_p, units,
                   f"the {stage.replace('_', ' ')} stage's split is unlikely by chance (p = {format_p_value(p)}), {why}: "
                   f"{split(rows)}")
    return Row("sample_ratio", PASS, p, warn_p, fail_p, units,
               f"every tested stage ({', '.join(t[0].replace('_', ' ') for t in tested)}) matches the expected split; "
               f"lowest p = {format_p_value(p)} ({stage.replace('_', ' ')})")


def check_open_alerts(alerts: list[dict], data_through: dt.datetime | None, v: "Variables") -> Row:
    """The experiment's alerts dated within ``exp_health_open_alert_days`` before the newest
    exposure event: ``fail`` when one is critical; ``warn`` when warnings of one alert type
    recur on at least ``exp_health_open_alert_min_warnings`` days. A lone warning is shown in the
    detail but does not count: the baseline rules test every day of every rate, so on healthy
    data an isolated warning turns up now and then, while a real regression repeats."""
    days, repeat = v.exp_health_open_alert_days, v.exp_health_open_alert_min_warnings
    if data_through is None:
        return Row("open_alerts", NOT_ENOUGH_DATA, None, repeat, None, 0,
                   "no exposure event, so no alert could be computed")
    since = data_through.date() - dt.timedelta(days=days)
    open_ = [a for a in alerts if a["date"] >= since]
    if not open_:
        closed = f" ({len(alerts):,} older alert{'s' if len(alerts) != 1 else ''} closed)" if alerts else ""
        return Row("open_alerts", PASS, 0, repeat, None, 0, f"no alert since {since.isoformat()}{closed}")
    critical = [a for a in open_ if a["severity"] == "critical"]
    warning_days: dict[str, set] = {}
    for a in open_:
        if a["severity"] == "warning":
            warning_days.setdefault(a["alert_type"], set()).add(a["date"])
    recurring = {t: d for t, d in warning_days.items() if len(d) >= repeat}
    if critical:
        status, shown = FAIL, max(critical, key=lambda a: a["date"])
    elif recurring:
        status = WARN
        shown = max((a for a in open_ if a["alert_type"] in recurring), key=lambda a: a["date"])
    else:
        status, shown = PASS, max(open_, key=lambda a: a["date"])
    counts = ", ".join(f"{sum(a['severity'] == s for a in open_)} {s}" for s in reversed(SEVERITIES)
                       if any(a["severity"] == s for a in open_))
    text = (f"{len(open_)} open alert{'s' if len(open_) != 1 else ''} since {since.isoformat()} ({counts}); "
            f"{'latest' if status != PASS else 'isolated warning, not counted'}: {shown['alert_type']} on "
            f"{shown['date'].isoformat()}: {shown['message']}")
    if recurring and status == WARN:
        text += "; recurring: " + ", ".join(f"{t} on {len(d)} days" for t, d in sorted(recurring.items()))
    return Row("open_alerts", status, len(open_), repeat, None, len(open_), text)


# -- candidates for a missing exposure event ------------------------------------------------------

def similar_names(configured: Sequence[str], seen: Iterable[str]) -> list[str]:
    """Event names that look like a configured name: the same but for case and separators, or a
    close spelling (difflib ratio 0.8 or more), the configured names themselves left out.

    >>> similar_names(["experiment_viewed"], ["Experiment Viewed", "page_view", "experiment_viewd", "experiment_viewed"])
    ['Experiment Viewed', 'experiment_viewd']
    """
    found = []
    for name in seen:
        if name is None or name in configured:
            continue
        if any(similarity(name, wanted) >= LOOKALIKE for wanted in configured):
            found.append(name)
    return sorted(found)


def _literal_list(values: Sequence[str]) -> list[exp.Expression]:
    return [exp.Literal.string(value) for value in values]


def find_candidates(engine: "Engine", experiments: Sequence[str], names: Sequence[str]) -> dict[str | None, str]:
    """For each experiment (and ``None``, the stream), a clause naming the nearest candidates for
    its exposure events: other event names whose events carry the experiment's id, and names that
    look like the configured one. Runs two queries over the events; called only when needed."""
    engine.ensure(EVENTS)  # (an incremental run binds the view over every event file only now)
    counts = engine.fetch(
        exp.select("event_name", exp.func("count", exp.Star()).as_("events"))
        .from_(EVENTS).group_by("event_name"))
    seen = {row["event_name"]: row["events"] for row in counts if row["event_name"] is not None}
    lookalikes = similar_names(names, seen)
    look = "; names in the stream that look like it: " + ", ".join(f"{n!r} ({seen[n]:,} events)" for n in lookalikes[:5]) \
        if lookalikes else ""
    carriers: dict[str, list[tuple[str, int]]] = {}
    if experiments:
        query = (exp.select("experiment_id", "event_name", exp.func("count", exp.Star()).as_("events"))
                 .from_(EVENTS)
                 .where(exp.column("experiment_id").isin(*_literal_list(experiments)))
                 .where(exp.not_(exp.column("event_name").isin(*_literal_list(names))))
                 .group_by("experiment_id", "event_name"))
        for row in engine.fetch(query):
            if row["event_name"] is not None:
                carriers.setdefault(row["experiment_id"], []).append((row["event_name"], row["events"]))
    result: dict[str | None, str] = {None: look}
    for experiment_id in experiments:
        found = sorted(carriers.get(experiment_id, []), key=lambda item: (-item[1], item[0]))
        text = look
        if found:
            text = ("; events that carry its id under other names: "
                    + ", ".join(f"{n!r} ({c:,})" for n, c in found[:5]) + look)
        result[experiment_id] = text
    return result


# -- the model ----------------------------------------------------------------------------------

def as_of_time(v: "Variables") -> dt.datetime:
    """The run's reference time: ``exp_health_as_of``, else now (UTC, without zone)."""
    if v.exp_health_as_of:
        parsed = dt.datetime.fromisoformat(v.exp_health_as_of.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def health_rows(facts: Sequence[dict], daily: Sequence[dict], rejections: Sequence[dict], srm: Sequence[dict],
                alerts: Sequence[dict], v: "Variables", candidates: dict[str | None, str] | None = None) -> list[dict]:
    """Every check of every experiment, then the stream-wide rows; ``candidates`` as
    :func:`find_candidates` gives them (empty clauses when None)."""
    candidates = candidates or {}
    names = exposure_event_names(v)
    stream = next((f for f in facts if f["experiment_id"] is None), None)
    data_through = stream["last_exposure_event_at"] if stream else None
    daily_by = _group(r for r in daily if r["experiment_id"] is not None)
    rejections_by = _group(r for r in rejections if r["experiment_id"] is not None)
    srm_by, alerts_by = _group(srm), _group(a for a in alerts if a["experiment_id"] is not None)
    dark = dark_days_by_experiment(daily, rejections, v)
    # Exposure events whose experiment id could not be read, told in a missing experiment's detail
    # only when the stream's own row warns (a mapping reading the wrong keys), not for a few malformed events.
    unreadable = sum(r["rejected_exposure_events"] for r in rejections if r["experiment_id"] is None)
    if not stream or unreadable < v.exp_health_rejected_warn * stream["exposure_events"]:
        unreadable = 0
    rows: list[dict] = []
    twins = id_twins(facts)
    for f in sorted((f for f in facts if f["experiment_id"] is not None), key=lambda f: f["experiment_id"]):
        eid = f["experiment_id"]
        days = daily_by.get(eid, [])
        cohorts = [r for r in days if r["assigned_units"] > 0]
        t = _sum(days, _DAILY_COUNTS)
        exposed, minimum = t["exposed_units"], v.exp_health_min_units
        checks = {
            "exposure_events_present": check_exposure_events_present(f, names, twins.get(eid, "") + candidates.get(eid, ""),
                                                                     unreadable),
            "assignments_present": check_assignments_present(f, twins.get(eid, "")),
            "rejected_exposure_events": check_rejected(f["exposure_events"], f["rejected_exposure_events"],
                                                       _top_reasons(rejections_by.get(eid, [])), v),
            "freshness": check_freshness(f, dark.get(eid, []), v, candidates.get(eid, "")),
            "exposure_coverage": check_coverage(cohorts, v, f["exposure_events"] - f["rejected_exposure_events"]),
            "sample_ratio": check_sample_ratio(srm_by.get(eid, []), v),
            "variation_mismatch": share_check(
                "variation_mismatch", t["variation_mismatch_units"], exposed, v.exp_health_mismatch_warn,
                v.exp_health_mismatch_fail, minimum, "saw only a variation other than the one assigned",
                "exposed units"),
            "multiple_variations": share_check(
                "multiple_variations", t["multi_variation_exposure_units"], exposed,
                v.exp_health_multiple_variations_warn, v.exp_health_multiple_variations_fail, minimum,
                "saw more than one variation", "exposed units"),
            "pre_assignment_exposure": share_check(
                "pre_assignment_exposure", t["pre_assignment_exposure_units"], exposed,
                v.exp_health_pre_assignment_warn, v.exp_health_pre_assignment_fail, minimum,
                "were exposed only before their assignment (beyond the grace minutes)", "exposed units"),
            "exposure_outside_window": share_check(
                "exposure_outside_window", t["exposure_outside_window_units"], exposed,
                v.exp_health_outside_window_warn, v.exp_health_outside_window_fail, minimum,
                f"were exposed only after their {v.exp_exposure_max_days_after_assignment}-day window", "exposed units"),
            "unassigned_exposures": share_check(
                "unassigned_exposures", t["unassigned_exposed_units"], t["assigned_units"],
                v.exp_health_unassigned_warn, v.exp_health_unassigned_fail, minimum,
                "exposed units without an assignment, per assigned unit", "assigned units"),
            "open_alerts": check_open_alerts(alerts_by.get(eid, []), data_through, v),
        }
        checks["unassigned_exposures"] = unassigned_detail(checks["unassigned_exposures"], t["unassigned_exposed_units"],
                                                           t["assigned_units"], minimum)
        rows += [checks[name].as_row(eid) for name in HEALTH_CHECKS]
    if stream is not None:
        unattributed = [r for r in rejections if r["experiment_id"] is None]
        missing = sum(r["rejected_exposure_events"] for r in unattributed)
        named = " or ".join(repr(n) for n in names)
        events = stream["exposure_events"]
        present = (Row("exposure_events_present", PASS, events, None, 1, events,
                       f"{events:,} exposure events named {named} in the stream") if events else
                   Row("exposure_events_present", FAIL, 0, None, 1, 0,
                       f"no event named {named} in the stream{candidates.get(None, '')}"))
        stream_checks = {
            "exposure_events_present": present,
            "rejected_exposure_events": check_rejected(events, missing, _top_reasons(unattributed), v, stream=True),
            "freshness": check_stream_freshness(stream, as_of_time(v), v),
        }
        rows += [stream_checks[name].as_row(None) for name in STREAM_CHECKS]
    return rows


def dark_days_by_experiment(daily: Sequence[dict], rejections: Sequence[dict], v: "Variables") -> dict[str, list[dt.date]]:
    """experiment_id -> its dark days (see :func:`dark_days`), from the daily models' counts."""
    assigned: dict[str, dict[dt.date, int]] = {}
    for row in daily:
        if row["experiment_id"] is not None and row["assigned_units"] > 0:
            assigned.setdefault(row["experiment_id"], {})[row["date"]] = row["assigned_units"]
    events: dict[str, dict[dt.date, int]] = {}
    for row in rejections:
        if row["experiment_id"] is not None and row["exposure_date"] is not None:
            by_day = events.setdefault(row["experiment_id"], {})
            by_day[row["exposure_date"]] = by_day.get(row["exposure_date"], 0) + row["exposure_events"]
    return {eid: dark_days(days, events.get(eid, {}), v.exp_health_min_units) for eid, days in assigned.items()}


def _needs_candidates(facts: Sequence[dict], dark: dict[str, list[dt.date]], v: "Variables") -> list[str]:
    """Experiments whose exposure events are missing or stopped early, for which a candidate
    search is worth its scan of the raw events."""
    needed = []
    for f in facts:
        if f["experiment_id"] is None or f["assigned_units"] == 0:
            continue
        if f["exposure_events"] == 0 or check_freshness(f, dark.get(f["experiment_id"], []), v).status != PASS:
            needed.append(f["experiment_id"])
    return sorted(needed)


#: Never null: experiment_id is null on the stream-wide rows, value when there is nothing to
#: measure, a threshold when the check has no such level.
NOT_NULL = ("check_name", "status", "units", "detail")


@python_model(FCT_HEALTH, depends_on=(INT_HEALTH_FACTS, FCT_DAILY, INT_REJECTIONS_DAILY, FCT_SRM, FCT_ALERTS),
              columns=COLUMNS, not_null=NOT_NULL)
def build_health(engine: "Engine", variables: "Variables") -> list[dict]:
    """One row per (experiment_id, check_name); stream-wide rows have a null experiment_id."""
    tables = read_inputs(engine, FCT_HEALTH)
    facts = tables[INT_HEALTH_FACTS]
    needed = _needs_candidates(facts, dark_days_by_experiment(tables[FCT_DAILY], tables[INT_REJECTIONS_DAILY],
                                                              variables), variables)
    stream = next((f for f in facts if f["experiment_id"] is None), None)
    candidates = None
    if needed or (stream is not None and stream["exposure_events"] == 0):
        candidates = find_candidates(engine, needed, exposure_event_names(variables))
    return health_rows(facts, tables[FCT_DAILY], tables[INT_REJECTIONS_DAILY], tables[FCT_SRM],
                       tables[FCT_ALERTS], variables, candidates)
