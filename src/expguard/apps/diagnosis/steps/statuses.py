"""Step 3, status spikes: the no_exposure, pre_assignment_exposure, exposure_outside_window,
mismatch and multi-variation shares of the cohorts against the experiment's own baseline; a clock
skew shows in the earliest exposures, late exposures in the median and the tail."""

from __future__ import annotations

import datetime as dt
from statistics import median

from ....core.fmt import days_text, duration, percent
from ..checks import Context, cohort_points, judged_rows, result
from ..findings import CheckResult, Finding
from ..stats import Judged, focus_run, judge_rates, peak

STATUS_MIN_RISE = 0.02  # smallest rise of the pre-assignment / outside-window share of assigned units

# (metric, numerator, denominator, minimum rise (number or variable name), cause)
STATUS_RULES = (
    ("no_exposure_rate", "no_exposure_units", "assigned_units", "exp_alert_min_exposure_rate_drop", None),
    ("pre_assignment_exposure_rate", "pre_assignment_exposure_units", "assigned_units", STATUS_MIN_RISE, "clock_skew"),
    ("exposure_outside_window_rate", "exposure_outside_window_units", "assigned_units", STATUS_MIN_RISE, "late_exposure"),
    ("variation_mismatch_rate", "variation_mismatch_units", "exposed_units", "exp_alert_min_mismatch_rate_rise",
     "variation_mismatch"),
    ("multi_variation_rate", "multi_variation_exposure_units", "exposed_units",
     "exp_alert_min_multi_variation_rate_rise", "multi_variation"),
)

TIMING_EVIDENCE = {
    "clock_skew": (("p05", "5th percentile"),),
    "late_exposure": (("p50", "median"), ("p95", "95th percentile")),
}


def timing_evidence(ctx: Context, cause: str | None, day: dt.date) -> list[str]:
    """The time from assignment to first exposure on ``day`` against the reference cohorts."""
    timing = {r["assignment_date"]: r for r in ctx.obs.timing}
    evidence = []
    for quantile, label in TIMING_EVIDENCE.get(cause or "", ()):
        column = f"first_exposure_{quantile}_seconds"
        before = [timing[d][column] for d in timing if ctx.cohorts.reference(d) and timing[d][column] is not None]
        during = timing.get(day, {}).get(column)
        if before and during is not None:
            evidence.append(f"{label} time from assignment to first exposure: {duration(during)} on cohort "
                            f"{day} (baseline {duration(median(before))})")
    return evidence


def status_finding(ctx: Context, rule: tuple, run: list[Judged]) -> Finding:
    """A status share's abnormal run: its cause's finding, or a symptom (no_exposure)."""
    metric, numerator, denominator, _, cause = rule
    top = peak(run)
    summary = (f"{numerator.removesuffix('_units')} rose to {percent(top.value)} of "
               f"{denominator.removesuffix('_units')} units on cohort {top.date} (baseline {percent(top.baseline)}; "
               f"abnormal on {days_text(j.date for j in run)})")
    facts = {"metric": metric, "observed": top.value, "baseline": top.baseline, "threshold": top.threshold,
             "peak_date": top.date, "units": round(top.value * top.size)}
    return Finding(cause or "exposure_events_missing", "status_spikes", summary, [j.date for j in run],
                   run[0].date, top.strength, timing_evidence(ctx, cause, top.date), facts, symptom=cause is None)


def check_status_spikes(ctx: Context) -> CheckResult:
    findings, notes, series = [], [], {}
    for rule in STATUS_RULES:
        metric, numerator, denominator, minimum, _ = rule
        min_change = getattr(ctx.variables, minimum) if isinstance(minimum, str) else minimum
        judged = judge_rates(cohort_points(ctx, numerator, denominator), ctx.cohorts, +1, min_change, ctx.variables)
        series[metric] = judged_rows(judged)
        run = focus_run(judged, ctx.cohorts)
        if run:
            findings.append(status_finding(ctx, rule, run))
    if not any(rows for rows in series.values()):
        notes.append("too few comparable cohorts before the episode to judge the statuses "
                     f"(need {ctx.variables.exp_alert_min_baseline_points})")
    timing_rows = [dict(r) for r in sorted(ctx.obs.timing, key=lambda r: r["assignment_date"])
                   if ctx.cohorts.scanned(r["assignment_date"])]
    unjudged = None if any(rows for rows in series.values()) else "not judged: too few comparable cohorts before the episode"
    return result("status_spikes", findings, "no status above its baseline", notes,
                  {"cohorts": series, "exposure_timing": timing_rows}, unjudged)
