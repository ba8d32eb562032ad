"""Anomaly alerts over the daily quality metrics: the model fct_experiment_exposure_alerts.

Each rule watches one rate of one experiment, day by day, and compares it with the same rate
on the experiment's own recent days: the *baseline* is the median of the eligible days in the
``exp_alert_baseline_days`` before the day under test (that day excluded), its spread the
median absolute deviation (MAD). A day alerts when its rate moved the bad way by more than
(:func:`expguard.core.stats.evaluate`, the one home of this rule)

    allowed = max(k * sigma, minimum change),   sigma = max(1.4826 * MAD, binomial standard error)

where ``1.4826 * MAD`` estimates a standard deviation robustly (one bad day in the baseline
barely moves it), the binomial standard error ``sqrt(p (1 - p) / n)`` at the baseline median
``p`` (kept ``1/n`` away from 0 and 1) and the day's sample size ``n`` keeps a quiet fortnight
from making sampling noise look like an anomaly, and the minimum change keeps a zero-MAD
baseline from alerting on one unit.
An alert is ``critical`` when the change exceeds ``exp_alert_critical_multiple`` times the
allowed change, else a ``warning``. The ``srm`` rule is a chi-square test per cohort instead.

Cohort rates are compared like with like: only cohorts whose horizon (``exp_alert_horizon_days``
after the end of the assignment day) is behind ``data_through`` are tested, and the exposure
rate counts only the valid exposures that came within the horizon, so a young cohort never
alerts because its exposures are still arriving. Everything is computed from integer counts
made in SQL, so every engine gives the same alerts. See docs/monitoring.md.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

from ...core.constants import ALERT_TYPES, FCT_ALERTS, FCT_DAILY, FCT_DAILY_BY_VARIATION, INT_REJECTIONS_DAILY
from ...core.fmt import percent, p_value
from ...core.stats import BaselineRule, Point, cohort_totals, deviation, split_test
from ...settings.config import parse_srm_weights
from ..python import python_model, read_inputs

if TYPE_CHECKING:  # pragma: no cover
    from ...engines.base import Engine
    from ...settings.config import Variables

COLUMNS = (
    ("experiment_id", "varchar"),
    ("date", "date"),
    ("alert_type", "varchar"),
    ("severity", "varchar"),
    ("observed", "double"),
    ("baseline", "double"),
    ("threshold", "double"),
    ("message", "varchar"),
    ("metric", "varchar"),
    ("sample_size", "bigint"),
    ("baseline_points", "bigint"),
)


@dataclass(frozen=True)
class Rule:
    """A baseline rule: which rate, which way is bad, and the variable holding the minimum change."""

    alert_type: str
    metric: str
    direction: int  # +1: a rise is bad; -1: a drop is bad
    min_change: str
    label: str
    size_label: str
    per: str  # "cohort" (assignment date) or "day" (event date)


RULES = (
    Rule("exposure_rate_drop", "exposure_rate_within_horizon", -1, "exp_alert_min_exposure_rate_drop",
         "valid exposure rate within the horizon", "assigned units", "cohort"),
    Rule("mismatch_rate_rise", "mismatch_rate", +1, "exp_alert_min_mismatch_rate_rise",
         "mismatch rate", "exposed units", "cohort"),
    Rule("multi_variation_rate_rise", "multi_variation_rate", +1, "exp_alert_min_multi_variation_rate_rise",
         "multi-variation rate", "exposed units", "cohort"),
    Rule("unassigned_exposure_spike", "unassigned_exposure_rate", +1, "exp_alert_min_unassigned_rate_rise",
         "unassigned exposed units per assigned unit", "assigned units", "day"),
    Rule("duplicate_exposure_spike", "duplicate_exposure_event_rate", +1, "exp_alert_min_duplicate_rate_rise",
         "share of duplicate exposure events", "exposed units", "cohort"),
    Rule("rejected_exposure_spike", "rejected_exposure_event_rate", +1, "exp_alert_min_rejected_rate_rise",
         "share of rejected exposure events", "exposure events", "day"),
)


def cohort_series(cohorts: dict[tuple[str, dt.date], dict], variables: "Variables") -> dict[str, dict[str, list[Point]]]:
    """Rate -> experiment -> points, one per horizon-complete cohort large enough to test."""
    minimum = variables.exp_alert_min_cohort_units
    series: dict[str, dict[str, list[Point]]] = {}

    def add(metric: str, experiment_id: str, date: dt.date, numerator: int, denominator: int, size: int) -> None:
        if size >= minimum:
            point = Point(date, numerator / denominator, size)
            series.setdefault(metric, {}).setdefault(experiment_id, []).append(point)

    for (experiment_id, date), c in sorted(cohorts.items()):
        if not c["is_horizon_complete"]:
            continue
        assigned, exposed = c["assigned_units"], c["exposed_units"]
        add("exposure_rate_within_horizon", experiment_id, date, c["valid_exposed_within_horizon_units"], assigned, assigned)
        add("mismatch_rate", experiment_id, date, c["mismatched_units"], exposed, exposed)
        add("multi_variation_rate", experiment_id, date, c["multi_variation_exposure_units"], exposed, exposed)
        # A share of events, but its sample size is the exposed units: a unit's events are not independent.
        add("duplicate_exposure_event_rate", experiment_id, date, c["duplicate_exposure_events"], c["exposure_events"], exposed)
    return series


_COUNTS = ("assigned_units", "exposed_units", "valid_exposed_units", "valid_exposed_within_horizon_units",
           "mismatched_units", "multi_variation_exposure_units", "exposure_events", "duplicate_exposure_events")


def cohorts_of(by_variation: Iterable[dict]) -> dict[tuple[str, dt.date], dict]:
    """(experiment_id, date) -> counts summed over variations, plus per-variation counts."""
    return cohort_totals(by_variation, lambda row: (row["experiment_id"], row["date"]), _COUNTS,
                         ("is_horizon_complete",))


def day_series(daily: Iterable[dict], rejections: Sequence[dict], variables: "Variables") -> dict[str, dict[str | None, list[Point]]]:
    """Rate -> experiment -> points, one per complete UTC day (``date + 1 day <= data_through``)
    large enough to test. Rejected events without an experiment form the series of ``None``."""
    dated = [r for r in rejections if r["exposure_date"] is not None]
    if not dated:
        return {}
    # data_through is the latest exposed_at of all staging rows; a day is complete when the next
    # day has started by then, i.e. when it is before data_through's date.
    last_date = max(r["exposure_date"] for r in dated)
    minimum = variables.exp_alert_min_cohort_units
    series: dict[str, dict[str | None, list[Point]]] = {}

    def add(metric: str, experiment_id: str | None, date: dt.date, numerator: int, denominator: int) -> None:
        if date < last_date and denominator >= minimum:
            point = Point(date, numerator / denominator, denominator)
            series.setdefault(metric, {}).setdefault(experiment_id, []).append(point)

    for row in sorted(daily, key=lambda r: (r["experiment_id"], r["date"])):
        add("unassigned_exposure_rate", row["experiment_id"], row["date"], row["unassigned_exposed_units"],
            row["assigned_units"])
    totals: dict[dt.date, int] = {}
    unattributed: dict[dt.date, int] = {}
    for row in sorted(dated, key=lambda r: (r["experiment_id"] is None, r["experiment_id"] or "", r["exposure_date"])):
        totals[row["exposure_date"]] = totals.get(row["exposure_date"], 0) + row["exposure_events"]
        if row["experiment_id"] is None:
            unattributed[row["exposure_date"]] = row["exposure_events"]
        else:
            add("rejected_exposure_event_rate", row["experiment_id"], row["exposure_date"],
                row["rejected_exposure_events"], row["exposure_events"])
    for date in sorted(totals):
        add("rejected_exposure_event_rate", None, date, unattributed.get(date, 0), totals[date])
    return series


def baseline_alerts(rule: Rule, series: dict[str | None, list[Point]], variables: "Variables") -> list[dict]:
    """The alerts of one rule over every experiment's series."""
    min_change = getattr(variables, rule.min_change)
    label = rule.label
    if rule.metric == "exposure_rate_within_horizon":
        days = variables.exp_alert_horizon_days
        label = f"valid exposure rate within {days} day{'s' if days != 1 else ''} of assignment"
    alerts = []
    baseline = BaselineRule.of(variables)  # (read once: deviation() runs for every point)
    window = dt.timedelta(days=baseline.days)
    for experiment_id, points in series.items():
        dates = [p.date for p in points]  # in date order
        values = [p.value for p in points]
        for point in points:
            # the baseline: the points dated in the rule's days before this one (evaluate's window)
            first, last = bisect_left(dates, point.date - window), bisect_left(dates, point.date)
            verdict = deviation(point, values[first:last], rule.direction, min_change, baseline)
            if verdict is None or verdict.severity is None:
                continue
            moved = "rose" if rule.direction > 0 else "fell"
            where = "cohort" if rule.per == "cohort" else "day"
            subject = "exposure events without an experiment_id: " if experiment_id is None else ""
            message = (
                f"{subject}{label} {moved} to {percent(point.value, 2)} ({point.size:,} {rule.size_label}); "
                f"baseline {percent(verdict.baseline, 2)}, the median of {verdict.points} {where}s before; "
                f"alert {'above' if rule.direction > 0 else 'below'} {percent(verdict.threshold, 2)}"
            )
            alerts.append(_alert(experiment_id, point.date, rule.alert_type, verdict.severity, point.value,
                                 verdict.baseline, verdict.threshold, message, rule.metric, point.size, verdict.points))
    return alerts


def srm_alerts(cohorts: dict[tuple[str, dt.date], dict], variables: "Variables") -> list[dict]:
    """A critical ``srm`` alert for each horizon-complete cohort whose valid exposed units per
    variation fail the chi-square test against the expected split (configured weights, else the
    cohort's own assigned split)."""
    weights = parse_srm_weights("exp_srm_expected_weights", variables.exp_srm_expected_weights)
    alerts = []
    for (experiment_id, date), cohort in sorted(cohorts.items()):
        if not cohort["is_horizon_complete"] or cohort["assigned_units"] < variables.exp_alert_min_cohort_units:
            continue
        experiment_weights = weights.get(experiment_id)
        rows = cohort["variations"]
        variations = sorted(set(rows) | set(experiment_weights or {}))
        units, shares, test = split_test(rows, variations, "valid_exposed_units", experiment_weights,
                                         min_units=variables.exp_srm_min_units,
                                         threshold=variables.exp_srm_p_value_threshold)
        if not test.is_srm:
            continue
        split = ", ".join(f"{v} {u:,} ({percent(s, 2)} expected)" for v, u, s in zip(variations, units, shares))
        message = (
            f"valid exposed units by variation: {split}; chi-square {test.chi_square:.2f} with "
            f"{test.degrees_of_freedom} df, p = {p_value(test.p_value)} < {variables.exp_srm_p_value_threshold:g}"
        )
        alerts.append(_alert(experiment_id, date, "srm", "critical", test.p_value, None,
                             variables.exp_srm_p_value_threshold, message, "srm_p_value", sum(units), None))
    return alerts


def _alert(experiment_id: str | None, date: dt.date, alert_type: str, severity: str, observed: float,
           baseline: float | None, threshold: float, message: str, metric: str, sample_size: int,
           baseline_points: int | None) -> dict:
    return {
        "experiment_id": experiment_id, "date": date, "alert_type": alert_type, "severity": severity,
        "observed": observed, "baseline": baseline, "threshold": threshold, "message": message,
        "metric": metric, "sample_size": sample_size, "baseline_points": baseline_points,
    }


def find_alerts(by_variation: Sequence[dict], daily: Sequence[dict], rejections: Sequence[dict],
                variables: "Variables") -> list[dict]:
    """Every alert, ordered by date, experiment (no experiment last) and alert type."""
    cohorts = cohorts_of(by_variation)
    series = cohort_series(cohorts, variables) | day_series(daily, rejections, variables)
    alerts = srm_alerts(cohorts, variables)
    for rule in RULES:
        alerts += baseline_alerts(rule, series.get(rule.metric, {}), variables)
    return sorted(alerts, key=lambda a: (a["date"], a["experiment_id"] is None, a["experiment_id"] or "",
                                         ALERT_TYPES.index(a["alert_type"])))


#: Never null: experiment_id is null for events without an experiment, baseline and
#: baseline_points for the alerts that compare with no baseline (srm).
NOT_NULL = ("date", "alert_type", "severity", "observed", "threshold", "message", "metric", "sample_size")


@python_model(FCT_ALERTS, depends_on=(FCT_DAILY_BY_VARIATION, FCT_DAILY, INT_REJECTIONS_DAILY), columns=COLUMNS,
              not_null=NOT_NULL)
def build_alerts(engine: "Engine", variables: "Variables") -> list[dict]:
    """One row per alert: experiment_id, date, alert_type, severity, observed, baseline,
    threshold, message (plus metric, sample_size and baseline_points)."""
    tables = read_inputs(engine, FCT_ALERTS)
    return find_alerts(tables[FCT_DAILY_BY_VARIATION], tables[FCT_DAILY], tables[INT_REJECTIONS_DAILY], variables)
