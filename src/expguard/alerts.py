"""Anomaly alerts over the daily quality metrics: the model fct_experiment_exposure_alerts.

Each rule watches one rate of one experiment, day by day, and compares it with the same rate
on the experiment's own recent days: the *baseline* is the median of the eligible days in the
``exp_alert_baseline_days`` before the day under test (that day excluded), its spread the
median absolute deviation (MAD). A day alerts when its rate moved the bad way by more than

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
import math
from bisect import bisect_left
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Iterable, Sequence

from .config import parse_srm_weights
from .constants import ALERT_TYPES, FCT_ALERTS, FCT_DAILY, FCT_DAILY_BY_VARIATION, INT_REJECTIONS_DAILY
from .pymodels import python_model, read_inputs
from .srm import chi_square_test, expected_shares, format_p_value

if TYPE_CHECKING:  # pragma: no cover
    from .config import Variables
    from .engines.base import Engine

# 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_SCALE = 1.4826

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
class Point:
    """One day of one rate: the value and its sample size (the rate's denominator)."""

    date: dt.date
    value: float
    size: int


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


@dataclass(frozen=True)
class Verdict:
    """How a point compares with its baseline."""

    baseline: float
    allowed: float
    threshold: float
    change: float  # in the bad direction; positive is worse
    points: int
    severity: str | None


def evaluate(point: Point, history: Sequence[Point], direction: int, min_change: float,
             variables: "Variables") -> Verdict | None:
    """Compare ``point`` with the points of ``history`` in the baseline days before it.

    None when the baseline has fewer than ``exp_alert_min_baseline_points`` points.

    >>> from expguard.config import Variables
    >>> days = [Point(dt.date(2026, 1, d), 0.90 + 0.01 * (d % 3), 1000) for d in range(1, 15)]
    >>> evaluate(Point(dt.date(2026, 1, 15), 0.50, 1000), days, -1, 0.05, Variables()).severity
    'critical'
    """
    start = point.date - dt.timedelta(days=variables.exp_alert_baseline_days)
    values = [p.value for p in history if start <= p.date < point.date]
    if len(values) < variables.exp_alert_min_baseline_points:
        return None
    center = median(values)
    mad = median(abs(v - center) for v in values)
    # A baseline of no event on n units is no evidence of a zero rate: keep p 1/n from 0 and 1.
    p = min(max(center, 1.0 / point.size), 1.0 - 1.0 / point.size) if point.size > 1 else 0.5
    sigma = max(MAD_SCALE * mad, math.sqrt(p * (1.0 - p) / point.size))
    allowed = max(variables.exp_alert_mad_k * sigma, min_change)
    change = direction * (point.value - center)
    severity = None
    if change > allowed:
        severity = "critical" if change > variables.exp_alert_critical_multiple * allowed else "warning"
    return Verdict(center, allowed, center + direction * allowed, change, len(values), severity)


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


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
    cohorts: dict[tuple[str, dt.date], dict] = {}
    for row in by_variation:
        key = (row["experiment_id"], row["date"])
        c = cohorts.setdefault(key, {name: 0 for name in _COUNTS} | {"variations": {}})
        for name in _COUNTS:
            c[name] += row[name]
        c["is_horizon_complete"] = row["is_horizon_complete"]
        c["variations"][row["assigned_variation_id"]] = row
    return cohorts


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
    for experiment_id, points in series.items():
        dates = [p.date for p in points]  # in date order
        for i, point in enumerate(points):
            first = bisect_left(dates, point.date - dt.timedelta(days=variables.exp_alert_baseline_days))
            verdict = evaluate(point, points[first:i], rule.direction, min_change, variables)
            if verdict is None or verdict.severity is None:
                continue
            moved = "rose" if rule.direction > 0 else "fell"
            where = "cohort" if rule.per == "cohort" else "day"
            subject = "exposure events without an experiment_id: " if experiment_id is None else ""
            message = (
                f"{subject}{label} {moved} to {_pct(point.value)} ({point.size:,} {rule.size_label}); "
                f"baseline {_pct(verdict.baseline)}, the median of {verdict.points} {where}s before; "
                f"alert {'above' if rule.direction > 0 else 'below'} {_pct(verdict.threshold)}"
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
        units = [rows[v]["valid_exposed_units"] if v in rows else 0 for v in variations]
        assigned = {v: rows[v]["assigned_units"] for v in rows}
        shares = expected_shares(variations, experiment_weights, assigned)
        test = chi_square_test(units, shares, min_units=variables.exp_srm_min_units,
                               threshold=variables.exp_srm_p_value_threshold)
        if not test.is_srm:
            continue
        split = ", ".join(f"{v} {u:,} ({_pct(s)} expected)" for v, u, s in zip(variations, units, shares))
        message = (
            f"valid exposed units by variation: {split}; chi-square {test.chi_square:.2f} with "
            f"{test.degrees_of_freedom} df, p = {format_p_value(test.p_value)} < {variables.exp_srm_p_value_threshold:g}"
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


# -- reading and showing alerts (expguard alerts) ---------------------------------------------

def read_alerts(output_dir: str | None = None, database: str | None = None) -> list[dict]:
    """The alerts of an earlier run, as rows: ``DIR/fct_experiment_exposure_alerts.parquet`` or
    the table of that name in a DuckDB database file."""
    from . import earlier_run

    with earlier_run.engine((FCT_ALERTS,), output_dir, database) as engine:
        return engine.rows(FCT_ALERTS)


def select_alerts(rows: Iterable[dict], since: dt.date | None = None, experiments: Sequence[str] = ()) -> list[dict]:
    """The alerts on or after ``since`` of the given experiments (all when none), in order."""
    rows = [
        row for row in rows
        if (since is None or row["date"] >= since) and (not experiments or row["experiment_id"] in experiments)
    ]
    return sorted(rows, key=lambda a: (a["date"], a["experiment_id"] is None, a["experiment_id"] or "",
                                       ALERT_TYPES.index(a["alert_type"])))


def reaches(rows: Iterable[dict], severity: str) -> bool:
    """Whether some alert has ``severity`` or a worse one.

    >>> reaches([{"severity": "warning"}], "critical"), reaches([{"severity": "critical"}], "warning")
    (False, True)
    """
    from .constants import SEVERITIES

    return any(SEVERITIES.index(row["severity"]) >= SEVERITIES.index(severity) for row in rows)


def alerts_json(rows: Sequence[dict]) -> str:
    """The alerts as a JSON array (dates as ISO text)."""
    import json

    return json.dumps([{**row, "date": row["date"].isoformat()} for row in rows], indent=2)


def alerts_table(rows: Sequence[dict]):
    """The alerts as a rich table."""
    from rich.table import Table

    table = Table(title=f"{len(rows)} exposure-quality alert{'s' if len(rows) != 1 else ''}", title_justify="left")
    for header in ("date", "experiment", "alert", "severity", "message"):
        table.add_column(header, overflow="fold")
    for row in rows:
        color = "red" if row["severity"] == "critical" else "yellow"
        table.add_row(row["date"].isoformat(), row["experiment_id"] or "(none)", row["alert_type"],
                      f"[{color}]{row['severity']}[/{color}]", row["message"])
    return table
