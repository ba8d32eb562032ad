"""Step 4, raw vs deduped: raw, rejected and deduped exposure events per day, duplicate events per
exposure (double-firing), malformed events, and unassigned exposures (another identity)."""

from __future__ import annotations

import datetime as dt
from statistics import median

from ....core.constants import REJECT_REASONS
from ....core.fmt import count, days_text, percent
from ....core.stats import Point
from ..checks import Context, judged_rows, result
from ..findings import CheckResult, Finding
from ..stats import Judged, focus_run, judge_counts, judge_rates, peak
from .ingestion import VOLUME_MIN_DROP


def gather_days(ctx: Context) -> tuple[list[dt.date], dict[dt.date, dict], dict[dt.date, list[int]]]:
    """Every day of the scanned window from the experiment's first exposure on (a day without any
    exposure event is a day of the series too), the raw rows per day, and per day the deduped
    exposures and the events collapsed into them."""
    raw = {r["exposure_date"]: r for r in ctx.obs.rejections if r["exposure_date"] is not None}
    deduped: dict[dt.date, list[int]] = {}
    for r in ctx.obs.deduped_daily:
        if r["exposure_date"] is not None:
            acc = deduped.setdefault(r["exposure_date"], [0, 0])
            acc[0] += r["deduped_exposures"]
            acc[1] += r["exposure_events"]
    known = set(raw) | set(deduped)
    first = max(min(known), ctx.days.reference_start) if known else ctx.days.scan_end
    days = [first + dt.timedelta(days=i) for i in range((ctx.days.scan_end - first).days + 1)]
    return days, raw, deduped


def daily_rows(ctx: Context, days: list[dt.date], raw: dict, deduped: dict) -> list[dict]:
    obs = ctx.obs
    stream = {}
    for row in obs.event_names or []:
        if row["event_name"] in ctx.variables.exposure_event_names and row["event_date"] is not None:
            stream[row["event_date"]] = stream.get(row["event_date"], 0) + row["experiment_events"]
    rows = []
    for d in days:
        r, (n_dedup, n_events) = raw.get(d, {}), deduped.get(d, (0, 0))
        rows.append({"date": d, "stream_exposure_events": stream.get(d) if obs.event_names is not None else None,
                     "exposure_events": r.get("exposure_events", 0),
                     "rejected_exposure_events": r.get("rejected_exposure_events", 0),
                     **{f"{reason}_events": r.get(f"{reason}_events", 0) for reason in REJECT_REASONS},
                     "deduped_exposures": n_dedup, "collapsed_events": n_events,
                     "events_per_deduped_exposure": n_events / n_dedup if n_dedup else None})
    return rows


def double_firing(ctx: Context, run: list[Judged], days: list[dt.date], deduped: dict) -> Finding:
    """Duplicate events per deduped exposure far above their usual ratio."""
    top = peak(run)
    ratio = deduped[top.date][1] / deduped[top.date][0]
    before = median([deduped[d][1] / deduped[d][0] for d in days
                     if ctx.days.reference(d) and d in deduped and deduped[d][0]])
    summary = (f"{ratio:.2f} exposure events per deduped exposure on {top.date} (baseline "
               f"{before:.2f}): {percent(top.value)} of the events are duplicates (baseline {percent(top.baseline)})")
    return Finding("double_firing", "raw_vs_deduped", summary, [j.date for j in run], run[0].date,
                   top.strength, [f"abnormal on {days_text(j.date for j in run)}"],
                   {"events_per_deduped_exposure": ratio, "events_per_deduped_exposure_before": before,
                    "duplicate_share": top.value, "duplicate_share_before": top.baseline, "peak_date": top.date})


def malformed(run: list[Judged], raw: dict) -> Finding:
    """The share of the day's exposure events rejected, far above usual, with the top reason."""
    top = peak(run)
    reasons = {reason: raw[top.date].get(f"{reason}_events", 0) for reason in REJECT_REASONS}
    worst = max(reasons, key=lambda k: reasons[k])
    summary = (f"{percent(top.value)} of the exposure events rejected on {top.date} (baseline {percent(top.baseline)}), "
               f"mostly {worst} ({reasons[worst]:,})")
    return Finding("malformed_exposures", "raw_vs_deduped", summary, [j.date for j in run], run[0].date,
                   top.strength, [], {"rejected_share": top.value, "rejected_share_before": top.baseline,
                                      "reasons": reasons, "peak_date": top.date})


def identity_mismatch(run: list[Judged]) -> Finding:
    """Units exposed without an assignment, per assigned unit, far above usual."""
    top = peak(run)
    units = round(top.value * top.size)
    summary = (f"{units:,} units exposed without an assignment on {top.date}: {percent(top.value)} of the day's "
               f"assigned units (baseline {percent(top.baseline)})")
    return Finding("identity_mismatch", "raw_vs_deduped", summary, [j.date for j in run], run[0].date,
                   top.strength, [f"abnormal on {days_text(j.date for j in run)}"],
                   {"unassigned_rate": top.value, "unassigned_rate_before": top.baseline,
                    "unassigned_units": units, "peak_date": top.date})


def check_raw_vs_deduped(ctx: Context) -> CheckResult:
    variables, minimum = ctx.variables, ctx.variables.exp_alert_min_cohort_units
    days, raw, deduped = gather_days(ctx)
    findings, notes = [], []
    dup = judge_rates([Point(d, (deduped[d][1] - deduped[d][0]) / deduped[d][1], deduped[d][0])
                       for d in days if d in deduped and deduped[d][0] >= minimum],
                      ctx.days, +1, variables.exp_alert_min_duplicate_rate_rise, variables)
    rej = judge_rates([Point(d, raw[d]["rejected_exposure_events"] / raw[d]["exposure_events"], raw[d]["exposure_events"])
                       for d in days if d in raw and raw[d]["exposure_events"] >= minimum],
                      ctx.days, +1, variables.exp_alert_min_rejected_rate_rise, variables)
    un = judge_rates([Point(r["date"], r["unassigned_exposed_units"] / r["assigned_units"], r["assigned_units"])
                      for r in sorted(ctx.obs.daily, key=lambda r: r["date"]) if r["assigned_units"] >= minimum],
                     ctx.days, +1, variables.exp_alert_min_unassigned_rate_rise, variables)
    if run := focus_run(dup, ctx.days):
        findings.append(double_firing(ctx, run, days, deduped))
    if run := focus_run(rej, ctx.days):
        findings.append(malformed(run, raw))
    if run := focus_run(un, ctx.days):
        findings.append(identity_mismatch(run))
    # the raw exposure events themselves
    counts = judge_counts([(d, raw.get(d, {}).get("exposure_events", 0)) for d in days], ctx.days, 0,
                          VOLUME_MIN_DROP, variables)
    if run := focus_run(counts, ctx.days):
        top = peak(run)
        notes.append(f"this experiment's exposure events {'fell' if top.value < top.baseline else 'rose'} to "
                     f"{count(top.value)} on {top.date} (usually {count(top.baseline)} a day)")
    for name, judged in (("duplicate_share", dup), ("rejected_share", rej), ("unassigned_rate", un)):
        if judged is None:
            notes.append(f"too few days before the episode to judge the {name.replace('_', ' ')}")
    usual = []
    if dup:
        usual.append(f"{1 / (1 - dup[0].baseline):.2f} events per deduped exposure")
    if rej:
        usual.append(f"{percent(rej[0].baseline)} of exposure events rejected")
    if un:
        usual.append(f"{percent(un[0].baseline)} unassigned exposed units per assigned unit")
    ok = "in their usual ratios" + (f" ({', '.join(usual)})" if usual else "")
    unjudged = None if usual else "not judged: too few days before the episode"
    return result("raw_vs_deduped", findings, ok, notes,
                  {"daily": daily_rows(ctx, days, raw, deduped),
                   "series": {"duplicate_share": judged_rows(dup), "rejected_share": judged_rows(rej),
                              "unassigned_rate": judged_rows(un)}}, unjudged)
