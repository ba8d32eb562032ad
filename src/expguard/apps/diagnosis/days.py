"""Which cohort a diagnosis looks at, and the days around it: the cohorts' totals, the cohort
chosen (given, the latest exposure-rate drop, or the latest complete cohort), the start of its
episode, the last day the data reaches, and the earlier alerts outside the diagnosis' days."""

from __future__ import annotations

import datetime as dt

from ...core import stats
from ...core.errors import ConfigError
from ...core.fmt import days_text
from ...core.stats import Point
from ...models.marts.fct_experiment_exposure_alerts import RULES, baseline_alerts
from ...settings.config import Variables
from .data import Observations
from .stats import Window, judge_rates

_COUNTS = ("assigned_units", "exposed_units", "valid_exposed_units", "no_exposure_units",
           "multi_variation_exposure_units", "variation_mismatch_units", "pre_assignment_exposure_units",
           "exposure_outside_window_units", "mismatched_units", "exposure_events", "duplicate_exposure_events",
           "valid_exposed_within_horizon_units")

def cohort_totals(by_variation: list[dict], last_day: dt.date | None = None,
                  horizon_days: int = 1) -> dict[dt.date, dict]:
    """Cohort date -> counts summed over the variations, the cohort's flags, and its variations' rows.

    ``is_horizon_elapsed``: the model's ``is_horizon_complete``, or the horizon has elapsed by the
    last day the data reaches (``date + 1 + horizon <= last_day``: the event stream's, or the
    assignments'). When the exposure events stop (a renamed event), the models' ``data_through``
    stops with them; the rest of the stream and the assignments tell that time went on, and the
    cohorts after it are comparable all the same.
    """
    rows = sorted(by_variation, key=lambda r: (r["date"], r["assigned_variation_id"]))
    totals = stats.cohort_totals(rows, lambda row: row["date"], _COUNTS, ("is_horizon_complete", "is_window_complete"))
    for date, c in totals.items():
        c["is_horizon_elapsed"] = c["is_horizon_complete"] or (
            last_day is not None and date + dt.timedelta(days=1 + horizon_days) <= last_day)
    return totals


def run_start(day: dt.date, tested: list[dt.date], drops: set[dt.date]) -> dt.date:
    """The first cohort of the run of consecutive drop cohorts that ends at ``day``."""
    if day not in tested:
        return day
    i = tested.index(day)
    while i > 0 and tested[i - 1] in drops:
        i -= 1
    return tested[i]


def choose_days(obs: Observations, variables: Variables, totals: dict[dt.date, dict],
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
        start = run_start(day, comparable, drops)
        if start != day:
            reason += f" (the drop began on cohort {start})"
        return day, reason, start
    earlier = sorted(d for d in drops if day - dt.timedelta(days=variables.exp_alert_baseline_days) <= d < day)
    if earlier:
        # A drop that began recently and persists: its alerts stop once it fills half the baseline,
        # but the day is still low against the days before it began.
        start = run_start(earlier[-1], comparable, drops)
        window = Window(start - dt.timedelta(days=variables.exp_alert_baseline_days), start, day)
        judged = judge_rates(points, window, -1, variables.exp_alert_min_exposure_rate_drop, variables) or []
        if any(j.date == day and j.flagged for j in judged):
            return day, reason + f"; the exposure-rate drop that began on cohort {start} persists", start
    return day, reason, day


def last_day(obs: Observations) -> dt.date | None:
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


def data_end(obs: Observations, totals: dict[dt.date, dict]) -> dt.date:
    """The last day that both the event stream (when read) and the assignments reach: the day the
    snapshot was taken, usually partial. Exposures that straggle in after the last assignment are
    past it."""
    end = max(totals)
    stream = [r["event_date"] for r in obs.event_names or [] if r["event_date"] is not None]
    return min(end, max(stream)) if stream else end
