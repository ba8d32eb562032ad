"""The five runbook steps, each a function of the observations that returns a CheckResult.

Each check judges its series against the experiment's own reference days (:mod:`.stats`) and
turns an abnormal run that reaches the days under diagnosis into a :class:`Finding` named after
its likely cause. Thresholds that the alerts already have are the alerts' variables; the others
are the constants below, documented in docs/diagnose.md.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Iterable

from ...models.marts.fct_experiment_exposure_alerts import Point
from ...settings.config import parse_srm_weights
from ...models.marts.fct_experiment_exposure_srm import chi_square_test, expected_shares, format_p_value
from .findings import ABNORMAL, OK, SKIPPED, CheckResult, Finding
from .stats import Judged, Window, focus_run, judge_counts, judge_lags, judge_rates, peak

if TYPE_CHECKING:  # pragma: no cover
    from ...settings.config import Variables
    from .data import Observations

# -- thresholds (docs/diagnose.md#thresholds) ---------------------------------------------------
NAME_SIMILARITY = 0.8          # difflib ratio from which another event name looks like the configured one
RENAME_MIN_SHARE_RISE = 0.05   # a look-alike name's share of the exposure-like events must rise this much
RENAME_MIN_DROP = 0.2          # ... while the configured name's own count falls by this share
RENAME_RESIDUAL = 0.05         # the configured name "stopped" when it keeps at most this share of its volume
MAX_CANDIDATES = 10            # look-alike names examined, by volume
VOLUME_MIN_DROP = 0.3          # a day of the stream with this much less than its usual volume is suspect
NAME_MIN_EVENTS = 50           # event names with fewer events a day are not judged one by one
LAG_MIN_FACTOR = 3.0           # ingestion lag is abnormal past this multiple of its usual value ...
LAG_MIN_RISE_SECONDS = 3600.0  # ... and at least one hour more
STATUS_MIN_RISE = 0.02         # smallest rise of the pre-assignment / outside-window share of assigned units
ASSIGNMENT_MIN_CHANGE = 0.25   # smallest relative change of assigned units a day
VARIATION_MIN_UNITS = 50       # a variation's cohort is judged when it has this many assigned units


@dataclass
class Context:
    """What every check needs: the observations, the variables and the diagnosis window."""

    obs: "Observations"
    variables: "Variables"
    date: dt.date
    cohorts: Window  # over assignment dates (cohorts)
    days: Window     # over event dates
    totals: dict[dt.date, dict]  # cohort date -> counts summed over variations
    data_end: dt.date  # the last day both the stream and the assignments reach (the snapshot's, partial)


# -- formatting -----------------------------------------------------------------------------------

def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


def duration(seconds: float | None) -> str:
    """A lag for people.

    >>> duration(42), duration(600), duration(5400), duration(3 * 86400)
    ('42 s', '10 min', '1.5 h', '3.0 d')
    """
    if seconds is None:
        return "n/a"
    sign, s = ("-" if seconds < 0 else ""), abs(seconds)
    if s < 120:
        return f"{sign}{s:.0f} s"
    if s < 90 * 60:
        return f"{sign}{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{sign}{s / 3600:.1f} h"
    return f"{sign}{s / 86400:.1f} d"


def days_text(days: Iterable[dt.date]) -> str:
    """Dates as ranges: ``2026-01-03..2026-01-05, 2026-01-09``."""
    days = sorted(set(days))
    parts, start = [], None
    for i, day in enumerate(days):
        start = start or day
        if i + 1 == len(days) or days[i + 1] != day + dt.timedelta(days=1):
            parts.append(start.isoformat() if start == day else f"{start.isoformat()}..{day.isoformat()}")
            start = None
    return ", ".join(parts)


def _judged_rows(judged: list[Judged] | None) -> list[dict]:
    return [{"date": j.date, "value": j.value, "size": j.size, "baseline": j.baseline, "threshold": j.threshold,
             "is_abnormal": j.flagged} for j in judged or []]


def _result(name: str, findings: list[Finding], ok_summary: str, notes: list[str], data: dict) -> CheckResult:
    real = [f for f in findings if not f.symptom]
    status = ABNORMAL if findings else OK
    summary = "; ".join(f.summary for f in (real or findings)) if findings else ok_summary
    return CheckResult(name, status, summary, findings, notes, data)


# -- 1. event name --------------------------------------------------------------------------------

def normalized(name: str) -> str:
    """An event name without case or separators.

    >>> normalized("Experiment Viewed") == normalized("experiment_viewed") == normalized("experimentViewed")
    True
    """
    return re.sub(r"[^0-9a-z]", "", name.lower())


def similarity(name: str, configured: str) -> float:
    """1.0 for a case or separator variant, else difflib's ratio of the lower-cased names."""
    if normalized(name) == normalized(configured):
        return 1.0
    return round(difflib.SequenceMatcher(None, name.lower(), configured.lower()).ratio(), 3)


def check_event_name(ctx: Context) -> CheckResult:
    obs, configured = ctx.obs, ctx.variables.exp_exposure_event_name
    if obs.event_names is None:
        return CheckResult("event_name", SKIPPED, obs.events_note or "skipped", notes=[obs.events_note or ""])
    per_name: dict[str, dict[dt.date, tuple[int, int]]] = {}
    for row in obs.event_names:
        if row["event_name"] is not None and row["event_date"] is not None:
            per_name.setdefault(row["event_name"], {})[row["event_date"]] = (row["events"], row["experiment_events"])
    days = sorted({d for series in per_name.values() for d in series if ctx.days.scanned(d)})
    mine = per_name.get(configured, {})

    candidates = []
    for name, series in per_name.items():
        if name == configured:
            continue
        carried = sum(e for _, e in series.values())
        score = similarity(name, configured)
        if carried or score >= NAME_SIMILARITY:
            reasons = (["similar_name"] if score >= NAME_SIMILARITY else []) + (["carries_experiment_id"] if carried else [])
            candidates.append({"event_name": name, "reasons": reasons, "similarity": score,
                               "scope": "experiment" if carried else "stream",
                               "events": sum(a for a, _ in series.values()), "experiment_events": carried})
    candidates.sort(key=lambda c: (-c["experiment_events"], -c["events"], c["event_name"]))
    candidates = candidates[:MAX_CANDIDATES]

    findings, notes = [], []
    reference = [d for d in days if ctx.days.reference(d)]
    for candidate in candidates:
        name = candidate["event_name"]
        index = 1 if candidate["scope"] == "experiment" else 0
        n = {d: mine.get(d, (0, 0))[index] for d in days}
        v = {d: per_name[name].get(d, (0, 0))[index] for d in days}
        points = [Point(d, v[d] / (n[d] + v[d]), n[d] + v[d]) for d in days if n[d] + v[d] > 0]
        run = focus_run(judge_rates(points, ctx.days, +1, RENAME_MIN_SHARE_RISE, ctx.variables), ctx.days)
        candidate["share_before"] = median([p.value for p in points if ctx.days.reference(p.date)] or [0.0])
        if not run:
            continue
        fell = judge_counts([(d, n[d]) for d in days], ctx.days, -1, RENAME_MIN_DROP, ctx.variables) or []
        fell_days = {j.date for j in fell if j.flagged}
        run_days = [j.date for j in run]
        n_before = median([n[d] for d in reference] or [0])
        v_before = median([v[d] for d in reference] or [0])
        onset, last = run_days[0], run_days[-1]
        scope = "this experiment's" if index else "the stream's"
        if not fell_days & set(run_days):
            notes.append(f"`{name}` grew to {pct(run[-1].value)} of {scope} exposure-like events from {onset}, "
                         f"but `{configured}` did not fall: an added event, not a rename")
            continue
        stopped = all(n[d] <= RENAME_RESIDUAL * n_before for d in run_days)
        facts = {"configured_name": configured, "new_name": name, "onset": onset, "scope": candidate["scope"],
                 "configured_events_before": n_before, "new_events_before": v_before,
                 "configured_events_on_onset": n[onset], "new_events_on_onset": v[onset],
                 "configured_events_latest": n[last], "new_events_latest": v[last],
                 "new_name_share": run[-1].value, "reasons": candidate["reasons"]}
        if stopped:
            summary = (f"`{configured}` stopped on {onset} and `{name}` began: {n[onset]:,} vs {v[onset]:,} of "
                       f"{scope} events that day (before: {num(n_before)} vs {num(v_before)} a day)")
        else:
            summary = (f"from {onset}, {pct(run[-1].value)} of {scope} exposure-like events are logged as `{name}`: "
                       f"on {last}, {v[last]:,} `{name}` and {n[last]:,} `{configured}` (before: {num(n_before)} "
                       f"`{configured}` a day)")
        evidence = [f"`{name}` looks like `{configured}`: " + ", ".join(
            {"similar_name": f"similar name ({candidate['similarity']:.2f})",
             "carries_experiment_id": "its events carry this experiment's id"}[r] for r in candidate["reasons"])]
        findings.append(Finding("event_renamed" if stopped else "event_renamed_partial", "event_name", summary,
                                run_days, onset, peak(run).strength, evidence, facts))
    findings.sort(key=lambda f: -f.strength)
    findings = [f for i, f in enumerate(findings) if f.cause not in {g.cause for g in findings[:i]}]
    daily = [{"date": d, "event_name": name, "events": per_name[name][d][0],
              "experiment_events": per_name[name][d][1]}
             for name in [configured] + [c["event_name"] for c in candidates] if name in per_name
             for d in days if d in per_name[name]]
    if not mine:
        notes.append(f"no event is named `{configured}` (exp_exposure_event_name) in the stream")
    ok = (f"`{configured}` steady; " + (f"{len(candidates)} look-alike name{'s' if len(candidates) != 1 else ''} "
                                         "examined, none took over" if candidates else "no look-alike event name"))
    return _result("event_name", findings, ok, notes,
                   {"configured_name": configured, "candidates": candidates, "daily": daily})


# -- 2. ingestion ---------------------------------------------------------------------------------

def check_ingestion(ctx: Context) -> CheckResult:
    obs = ctx.obs
    if obs.event_names is None:
        return CheckResult("ingestion", SKIPPED, obs.events_note or "skipped", notes=[obs.events_note or ""])
    totals: dict[dt.date, int] = {}
    per_name: dict[str, dict[dt.date, int]] = {}
    undated = 0
    for row in obs.event_names:
        if row["event_date"] is None:
            undated += row["events"]
            continue
        totals[row["event_date"]] = totals.get(row["event_date"], 0) + row["events"]
        per_name.setdefault(row["event_name"], {})[row["event_date"]] = row["events"]
    findings, notes = [], []
    if not totals:
        return CheckResult("ingestion", SKIPPED, "the event stream is empty", notes=["the event stream is empty"])
    first, last = min(totals), max(totals)
    # The day the data ends is the snapshot's, usually partial: it is shown, not judged.
    end = min(last, ctx.data_end)
    span = [first + dt.timedelta(days=i) for i in range((end - first).days + 1)]
    judged = judge_counts([(d, totals.get(d, 0)) for d in span[:-1]], ctx.days, -1, VOLUME_MIN_DROP, ctx.variables)
    run = focus_run(judged, ctx.days)
    flagged = [j for j in judged or [] if j.flagged and (ctx.days.focus(j.date) or j in run)]
    if judged is None:
        notes.append("too few days before the episode to judge the stream's volume")
    if flagged:
        empty = [j.date for j in flagged if j.value == 0]
        low = [j for j in flagged if j.value > 0]
        parts = []
        if empty:
            parts.append(f"no events at all on {days_text(empty)}")
        for j in low:
            parts.append(f"{j.date} holds {pct(j.value / j.baseline)} of a usual day's events ({num(j.value)} vs {num(j.baseline)})")
        tail = [j.date for j in flagged]
        at_end = tail and tail[-1] == span[-2] and all(
            (tail[i + 1] - tail[i]).days == 1 for i in range(len(tail) - 1))
        summary = "; ".join(parts)
        evidence = []
        if at_end and not empty:
            evidence.append("the low days are the latest before the snapshot's day: partitions still arriving")
        strength = 10.0 if empty else max(j.strength for j in flagged)
        findings.append(Finding("missing_partition", "ingestion", summary, [j.date for j in flagged],
                                flagged[0].date, strength, evidence,
                                {"days": [{"date": j.date, "events": int(j.value), "usual_events": j.baseline}
                                          for j in flagged], "latest_days": bool(at_end)}))
    # per event name: a name that fell while the stream did not
    stream_low = {j.date for j in flagged}
    dropped = []
    for name, series in sorted(per_name.items(), key=lambda kv: str(kv[0])):
        ref = [series.get(d, 0) for d in span[:-1] if ctx.days.reference(d)]
        if not ref or median(ref) < NAME_MIN_EVENTS:
            continue
        run = focus_run(judge_counts([(d, series.get(d, 0)) for d in span[:-1]], ctx.days, -1, VOLUME_MIN_DROP,
                                     ctx.variables), ctx.days)
        run = [j for j in run if j.date not in stream_low]
        if run:
            worst = min(run, key=lambda j: j.value)
            dropped.append({"event_name": name, "onset": run[0].date, "days": [j.date for j in run],
                            "usual_events": worst.baseline, "lowest_events": int(worst.value), "lowest_date": worst.date})
            notes.append(f"`{name}` fell from {run[0].date}: {num(worst.value)} events on {worst.date} (usually "
                         f"{num(worst.baseline)}), while the stream did not")
    if undated:
        notes.append(f"{undated:,} events have no timestamp")
    # ingestion lag
    lag_rows = []
    if obs.ingestion_lag is None:
        notes.append(obs.lag_note or "ingestion lag not measured")
    else:
        lag = sorted((r for r in obs.ingestion_lag if r["event_date"] is not None and r["lag_p50_seconds"] is not None),
                     key=lambda r: r["event_date"])
        p50 = judge_lags([(r["event_date"], r["lag_p50_seconds"], r["events"]) for r in lag], ctx.days,
                         LAG_MIN_FACTOR, LAG_MIN_RISE_SECONDS, ctx.variables)
        p95 = judge_lags([(r["event_date"], r["lag_p95_seconds"], r["events"]) for r in lag], ctx.days,
                         LAG_MIN_FACTOR, LAG_MIN_RISE_SECONDS, ctx.variables)
        lag_rows = [dict(r) for r in lag if ctx.days.scanned(r["event_date"])]
        run50, run95 = focus_run(p50, ctx.days), focus_run(p95, ctx.days)
        if run50 or run95:
            days_ = sorted({j.date for j in run50 + run95})
            top50 = peak(run50) if run50 else None
            top95 = peak(run95) if run95 else None
            bits = []
            if top50:
                bits.append(f"median lag {duration(top50.baseline)} -> {duration(top50.value)} on {top50.date}")
            if top95:
                bits.append(f"95th percentile {duration(top95.baseline)} -> {duration(top95.value)} on {top95.date}")
            summary = f"events reach the warehouse late from {days_[0]}: " + "; ".join(bits)
            strength = max(j.strength for j in run50 + run95)
            finding = Finding("ingestion_delay", "ingestion", summary, days_, days_[0], strength, [],
                              {"onset": days_[0], "lag_p50_seconds_before": top50.baseline if top50 else None,
                               "lag_p50_seconds_peak": top50.value if top50 else None,
                               "lag_p95_seconds_before": top95.baseline if top95 else None,
                               "lag_p95_seconds_peak": top95.value if top95 else None})
            # Low days from the lag's onset on are the lag's doing: events still on their way.
            partitions = next((f for f in findings if f.cause == "missing_partition"), None)
            if partitions is not None and all(d >= days_[0] for d in partitions.days):
                findings.remove(partitions)
                finding.evidence.append(partitions.summary + " (events still on their way)")
                finding.days = sorted(set(finding.days) | set(partitions.days))
                finding.facts["incomplete_days"] = partitions.facts["days"]
            findings.append(finding)
    span_rows = [{"date": d, "events": totals.get(d, 0)} for d in span if ctx.days.scanned(d)]
    by_day = {j.date: j for j in judged or []}
    for row in span_rows:
        j = by_day.get(row["date"])
        row["usual_events"] = j.baseline if j else None
        row["is_abnormal"] = bool(j and j.flagged)
        row["is_judged"] = j is not None
    if judged and ctx.days.scanned(end):
        notes.append(f"{end} is the last day of the data ({num(totals.get(end, 0))} events, usually "
                     f"{num(judged[0].baseline)}): taken as partial, not judged")
    ok = f"every day has its usual volume ({num(judged[0].baseline)} events a day)" if judged else "no missing day"
    return _result("ingestion", findings, ok, notes, {
        "stream_daily": span_rows, "event_names_dropped": dropped, "lag_daily": lag_rows,
        "first_event_date": first, "last_event_date": last, "data_end_date": end})


# -- 3. status spikes -----------------------------------------------------------------------------

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


def cohort_points(ctx: Context, numerator: str, denominator: str) -> list[Point]:
    """One point per comparable cohort (horizon elapsed, enough units), as the alerts test them."""
    points = []
    for day, c in sorted(ctx.totals.items()):
        if c["is_horizon_elapsed"] and c["assigned_units"] >= ctx.variables.exp_alert_min_cohort_units and c[denominator]:
            points.append(Point(day, c[numerator] / c[denominator], c[denominator]))
    return points


def exposure_rate(ctx: Context) -> tuple[list[Judged] | None, dict]:
    """The headline: the valid exposure rate within the horizon, judged like the alerts judge it."""
    points = cohort_points(ctx, "valid_exposed_within_horizon_units", "assigned_units")
    judged = judge_rates(points, ctx.cohorts, -1, ctx.variables.exp_alert_min_exposure_rate_drop, ctx.variables)
    day = next((j for j in judged or [] if j.date == ctx.date), None)
    c = ctx.totals.get(ctx.date)
    observed = (c["valid_exposed_within_horizon_units"] / c["assigned_units"]) if c and c["assigned_units"] else None
    return judged, {"metric": "exposure_rate_within_horizon", "observed": observed,
                    "baseline": day.baseline if day else (judged[0].baseline if judged else None),
                    "threshold": day.threshold if day else None, "is_drop": bool(day and day.flagged),
                    "strength": round(day.strength, 2) if day else None,
                    "assigned_units": c["assigned_units"] if c else 0,
                    "is_comparable": day is not None}


def check_status_spikes(ctx: Context) -> CheckResult:
    findings, notes, series = [], [], {}
    timing = {r["assignment_date"]: r for r in ctx.obs.timing}
    for metric, numerator, denominator, minimum, cause in STATUS_RULES:
        min_change = getattr(ctx.variables, minimum) if isinstance(minimum, str) else minimum
        judged = judge_rates(cohort_points(ctx, numerator, denominator), ctx.cohorts, +1, min_change, ctx.variables)
        series[metric] = _judged_rows(judged)
        if judged is None:
            continue
        run = focus_run(judged, ctx.cohorts)
        if not run:
            continue
        top = peak(run)
        status = numerator.removesuffix("_units")
        summary = (f"{status} rose to {pct(top.value)} of {denominator.removesuffix('_units')} units on cohort "
                   f"{top.date} (baseline {pct(top.baseline)}; abnormal on {days_text(j.date for j in run)})")
        evidence = []
        # a clock skew shows in the earliest exposures, late exposures in the median and the tail
        for quantile, label in TIMING_EVIDENCE.get(cause, ()):
            column = f"first_exposure_{quantile}_seconds"
            before = [timing[d][column] for d in timing if ctx.cohorts.reference(d) and timing[d][column] is not None]
            during = timing.get(top.date, {}).get(column)
            if before and during is not None:
                evidence.append(f"{label} time from assignment to first exposure: {duration(during)} on cohort "
                                f"{top.date} (baseline {duration(median(before))})")
        facts = {"metric": metric, "observed": top.value, "baseline": top.baseline, "threshold": top.threshold,
                 "peak_date": top.date, "units": round(top.value * top.size)}
        findings.append(Finding(cause or "exposure_events_missing", "status_spikes", summary, [j.date for j in run],
                                run[0].date, top.strength, evidence, facts, symptom=cause is None))
    if not any(rows for rows in series.values()):
        notes.append("too few comparable cohorts before the episode to judge the statuses "
                     f"(need {ctx.variables.exp_alert_min_baseline_points})")
    timing_rows = [dict(r) for d, r in sorted(timing.items()) if ctx.cohorts.scanned(d)]
    return _result("status_spikes", findings, "no status above its baseline", notes,
                   {"cohorts": series, "exposure_timing": timing_rows})


# -- 4. raw vs deduped ----------------------------------------------------------------------------

REJECT_REASONS = ("missing_experiment_id", "missing_unit_id", "missing_variation_id", "missing_timestamp")


def check_raw_vs_deduped(ctx: Context) -> CheckResult:
    obs, variables = ctx.obs, ctx.variables
    minimum = variables.exp_alert_min_cohort_units
    raw = {r["exposure_date"]: r for r in obs.rejections if r["exposure_date"] is not None}
    deduped: dict[dt.date, list[int]] = {}
    for r in obs.deduped_daily:
        if r["exposure_date"] is not None:
            acc = deduped.setdefault(r["exposure_date"], [0, 0])
            acc[0] += r["deduped_exposures"]
            acc[1] += r["exposure_events"]
    raw_names = {}
    if obs.event_names is not None:
        for row in obs.event_names:
            if row["event_name"] == variables.exp_exposure_event_name and row["event_date"] is not None:
                raw_names[row["event_date"]] = row["experiment_events"]
    # every day of the scanned window from the experiment's first exposure on: a day without any
    # exposure event is a day of the series too
    known = set(raw) | set(deduped)
    first = max(min(known), ctx.days.reference_start) if known else ctx.days.scan_end
    days = [first + dt.timedelta(days=i) for i in range((ctx.days.scan_end - first).days + 1)]
    rows = []
    for d in days:
        r, (n_dedup, n_events) = raw.get(d, {}), deduped.get(d, (0, 0))
        rows.append({"date": d, "stream_exposure_events": raw_names.get(d) if obs.event_names is not None else None,
                     "exposure_events": r.get("exposure_events", 0),
                     "rejected_exposure_events": r.get("rejected_exposure_events", 0),
                     **{f"{reason}_events": r.get(f"{reason}_events", 0) for reason in REJECT_REASONS},
                     "deduped_exposures": n_dedup, "collapsed_events": n_events,
                     "events_per_deduped_exposure": n_events / n_dedup if n_dedup else None})
    findings, notes = [], []
    # double-firing: the share of duplicate events among the events collapsed into the day's exposures
    dup_points = [Point(d, (deduped[d][1] - deduped[d][0]) / deduped[d][1], deduped[d][0])
                  for d in days if d in deduped and deduped[d][0] >= minimum]
    dup = judge_rates(dup_points, ctx.days, +1, variables.exp_alert_min_duplicate_rate_rise, variables)
    run = focus_run(dup, ctx.days)
    if run:
        top = peak(run)
        ratio = deduped[top.date][1] / deduped[top.date][0]
        before = [deduped[d][1] / deduped[d][0] for d in days if ctx.days.reference(d) and d in deduped and deduped[d][0]]
        summary = (f"{ratio:.2f} exposure events per deduped exposure on {top.date} (baseline "
                   f"{median(before):.2f}): {pct(top.value)} of the events are duplicates (baseline {pct(top.baseline)})")
        findings.append(Finding("double_firing", "raw_vs_deduped", summary, [j.date for j in run], run[0].date,
                                top.strength, [f"abnormal on {days_text(j.date for j in run)}"],
                                {"events_per_deduped_exposure": ratio, "events_per_deduped_exposure_before": median(before),
                                 "duplicate_share": top.value, "duplicate_share_before": top.baseline, "peak_date": top.date}))
    # malformed events: the share of the day's exposure events rejected
    rej_points = [Point(d, raw[d]["rejected_exposure_events"] / raw[d]["exposure_events"], raw[d]["exposure_events"])
                  for d in days if d in raw and raw[d]["exposure_events"] >= minimum]
    rej = judge_rates(rej_points, ctx.days, +1, variables.exp_alert_min_rejected_rate_rise, variables)
    run = focus_run(rej, ctx.days)
    if run:
        top = peak(run)
        reasons = {reason: raw[top.date].get(f"{reason}_events", 0) for reason in REJECT_REASONS}
        worst = max(reasons, key=lambda k: reasons[k])
        summary = (f"{pct(top.value)} of the exposure events rejected on {top.date} (baseline {pct(top.baseline)}), "
                   f"mostly {worst} ({reasons[worst]:,})")
        findings.append(Finding("malformed_exposures", "raw_vs_deduped", summary, [j.date for j in run], run[0].date,
                                top.strength, [], {"rejected_share": top.value, "rejected_share_before": top.baseline,
                                                   "reasons": reasons, "peak_date": top.date}))
    # unassigned exposures: units exposed without an assignment, per assigned unit of the day
    un_points = [Point(r["date"], r["unassigned_exposed_units"] / r["assigned_units"], r["assigned_units"])
                 for r in sorted(obs.daily, key=lambda r: r["date"]) if r["assigned_units"] >= minimum]
    un = judge_rates(un_points, ctx.days, +1, variables.exp_alert_min_unassigned_rate_rise, variables)
    run = focus_run(un, ctx.days)
    if run:
        top = peak(run)
        units = round(top.value * top.size)
        summary = (f"{units:,} units exposed without an assignment on {top.date}: {pct(top.value)} of the day's "
                   f"assigned units (baseline {pct(top.baseline)})")
        findings.append(Finding("identity_mismatch", "raw_vs_deduped", summary, [j.date for j in run], run[0].date,
                                top.strength, [f"abnormal on {days_text(j.date for j in run)}"],
                                {"unassigned_rate": top.value, "unassigned_rate_before": top.baseline,
                                 "unassigned_units": units, "peak_date": top.date}))
    # the raw exposure events themselves
    counts = judge_counts([(d, raw.get(d, {}).get("exposure_events", 0)) for d in days], ctx.days, 0,
                          VOLUME_MIN_DROP, variables)
    run = focus_run(counts, ctx.days)
    if run:
        top = peak(run)
        notes.append(f"this experiment's exposure events {'fell' if top.value < top.baseline else 'rose'} to "
                     f"{num(top.value)} on {top.date} (usually {num(top.baseline)} a day)")
    for name, judged in (("duplicate_share", dup), ("rejected_share", rej), ("unassigned_rate", un)):
        if judged is None:
            notes.append(f"too few days before the episode to judge the {name.replace('_', ' ')}")
    usual = []
    if dup:
        usual.append(f"{1 / (1 - dup[0].baseline):.2f} events per deduped exposure")
    if rej:
        usual.append(f"{pct(rej[0].baseline)} of exposure events rejected")
    if un:
        usual.append(f"{pct(un[0].baseline)} unassigned exposed units per assigned unit")
    ok = "in their usual ratios" + (f" ({', '.join(usual)})" if usual else "")
    return _result("raw_vs_deduped", findings, ok, notes,
                   {"daily": rows, "series": {"duplicate_share": _judged_rows(dup), "rejected_share": _judged_rows(rej),
                                              "unassigned_rate": _judged_rows(un)}})


# -- 5. assignments -------------------------------------------------------------------------------

def check_assignments(ctx: Context) -> CheckResult:
    variables, totals = ctx.variables, ctx.totals
    findings, notes = [], []
    cohort_days = sorted(d for d in totals if ctx.cohorts.scanned(d))
    assigned = judge_counts([(d, totals[d]["assigned_units"]) for d in cohort_days], ctx.cohorts, 0,
                            ASSIGNMENT_MIN_CHANGE, variables)
    run = focus_run(assigned, ctx.cohorts)
    exposed = {d: totals[d]["valid_exposed_within_horizon_units"] for d in cohort_days}
    ref_days = [d for d in cohort_days if ctx.cohorts.reference(d)]
    if run:
        top = peak(run)
        exposed_before = median([exposed[d] for d in ref_days] or [0])
        direction = "rose" if top.value > top.baseline else "fell"
        summary = (f"assigned units {direction} to {num(top.value)} on {top.date} from {num(top.baseline)} a day "
                   f"({(top.value / top.baseline - 1) * 100:+.0f}%)" if top.baseline else
                   f"assigned units {direction} to {num(top.value)} on {top.date}")
        evidence = [f"validly exposed within the horizon: {num(exposed.get(top.date))} units that cohort "
                    f"(usually {num(exposed_before)})"]
        findings.append(Finding("assignment_volume_shift", "assignments", summary, [j.date for j in run], run[0].date,
                                top.strength, evidence,
                                {"assigned_units": int(top.value), "assigned_units_before": top.baseline,
                                 "exposed_units": exposed.get(top.date), "exposed_units_before": exposed_before,
                                 "peak_date": top.date}))
    # the assigned split, cohort by cohort, against the weights (else the reference split)
    weights = parse_srm_weights("exp_srm_expected_weights", variables.exp_srm_expected_weights).get(ctx.obs.experiment_id)
    variations = sorted({v for d in totals for v in totals[d]["variations"]} | set(weights or {}))
    ref_split = {v: sum(totals[d]["variations"].get(v, {}).get("assigned_units", 0) for d in ref_days) for v in variations}
    shares = expected_shares(variations, weights, ref_split)
    split_rows = []
    for d in cohort_days:
        units = [totals[d]["variations"].get(v, {}).get("assigned_units", 0) for v in variations]
        test = chi_square_test(units, shares, min_units=variables.exp_srm_min_units,
                               threshold=variables.exp_srm_p_value_threshold)
        split_rows.append({"date": d, "assigned_units": dict(zip(variations, units)), "p_value": test.p_value,
                           "is_srm": test.is_srm})
    split_bad = [r for r in split_rows if r["is_srm"] and ctx.cohorts.focus(r["date"])]
    if split_bad and sum(shares) > 0:
        worst = min(split_bad, key=lambda r: r["p_value"])
        total = sum(worst["assigned_units"].values())
        split = ", ".join(f"{v} {pct(u / total)} (expected {pct(s)})" for (v, u), s in zip(worst["assigned_units"].items(), shares))
        text = f"the assigned split moved on {worst['date']}: {split}, p = {format_p_value(worst['p_value'])}"
        shift = next((f for f in findings if f.cause == "assignment_volume_shift"), None)
        if shift is None:
            findings.append(Finding("assignment_volume_shift", "assignments", text, [r["date"] for r in split_bad],
                                    split_bad[0]["date"], 10.0, [], {"split": worst}))
        else:
            shift.evidence.append(text)
    # each variation's exposure rate within the horizon: one variation losing its exposures
    per_variation, dropped = {}, []
    for v in variations:
        points = []
        for d in sorted(totals):
            row = totals[d]["variations"].get(v)
            if row and totals[d]["is_horizon_elapsed"] and row["assigned_units"] >= VARIATION_MIN_UNITS:
                points.append(Point(d, row["valid_exposed_within_horizon_units"] / row["assigned_units"], row["assigned_units"]))
        judged = judge_rates(points, ctx.cohorts, -1, variables.exp_alert_min_exposure_rate_drop, variables)
        per_variation[v] = _judged_rows(judged)
        vrun = focus_run(judged, ctx.cohorts)
        if vrun:
            dropped.append((v, vrun))
    srm_alerts = [a for a in ctx.obs.alerts if a["alert_type"] == "srm" and ctx.cohorts.focus(a["date"])]
    srm_rows = [r for r in ctx.obs.srm if r["variation_id"] == (variations[0] if variations else None)]
    first_stage = ctx.obs.srm[0]["first_srm_stage"] if ctx.obs.srm else None
    stages = [{"stage": r["stage"], "p_value": r["p_value"], "srm_status": r["srm_status"]}
              for r in sorted(srm_rows, key=lambda r: r["stage_order"])]
    # ... counted only where the cohort's valid exposures within the horizon are split unlike its
    # assignments (the alerts' per-cohort SRM test), so that noise between variations of a drop
    # that hits them all is not taken for one variation's loss
    def split_off(day: dt.date) -> bool:
        rows = totals[day]["variations"]
        units = [rows[v]["valid_exposed_within_horizon_units"] if v in rows else 0 for v in variations]
        shares_ = expected_shares(variations, weights, {v: rows[v]["assigned_units"] for v in rows})
        return chi_square_test(units, shares_, min_units=variables.exp_srm_min_units,
                               threshold=variables.exp_srm_p_value_threshold).is_srm
    dropped = [(v, vrun) for v, vrun in dropped if any(split_off(j.date) for j in vrun)]

    def misdirected(v: str, day: dt.date) -> bool:
        """Whether the variation's units lost their valid exposure to another variation (a
        mismatch or a leak, named by the status check) rather than lost it outright."""
        def shares(d: dt.date) -> tuple[float, float]:
            row = totals[d]["variations"].get(v)
            if not row or not row["assigned_units"]:
                return 0.0, 0.0
            wrong = row["variation_mismatch_units"] + row["multi_variation_exposure_units"]
            return wrong / row["assigned_units"], row["no_exposure_units"] / row["assigned_units"]
        before = [shares(d) for d in ref_days]
        wrong, none = shares(day)
        if not before:
            return False
        return wrong - median(b[0] for b in before) > none - median(b[1] for b in before)

    lost = [(v, vrun) for v, vrun in dropped if not misdirected(v, peak(vrun).date)]
    for v, vrun in dropped:
        if (v, vrun) not in lost:
            notes.append(f"variation `{v}`'s valid exposures fell on cohort {peak(vrun).date} because its units saw "
                         "another variation (see the status spikes), not because its exposures were lost")
    if lost and len(dropped) < len(variations):
        v, vrun = max(lost, key=lambda item: peak(item[1]).strength)
        top = peak(vrun)
        others = [f"{o}: {pct(per_variation_value(per_variation[o], top.date))}" for o in variations if o != v]
        summary = (f"variation `{v}`: valid exposure rate within the horizon fell to {pct(top.value)} on cohort {top.date} "
                   f"(baseline {pct(top.baseline)}) while the others held ({', '.join(others)})")
        evidence = [a["message"] for a in srm_alerts[-1:]]
        if first_stage:
            evidence.append(f"fct_experiment_exposure_srm: first stage with an SRM: {first_stage}")
        findings.append(Finding("variation_exposures_lost", "assignments", summary, [j.date for j in vrun], vrun[0].date,
                                max(top.strength, 10.0 if srm_alerts else 0.0), evidence,
                                {"variation_id": v, "exposure_rate": top.value, "exposure_rate_before": top.baseline,
                                 "peak_date": top.date, "srm_alert_dates": [a["date"] for a in srm_alerts],
                                 "first_srm_stage": first_stage}))
    elif srm_alerts and not dropped and first_stage in ("logged", "exposed", "valid_exposed"):
        findings.append(Finding("variation_exposures_lost", "assignments", srm_alerts[-1]["message"],
                                [a["date"] for a in srm_alerts], srm_alerts[0]["date"], 10.0,
                                [f"fct_experiment_exposure_srm: first stage with an SRM: {first_stage}"],
                                {"srm_alert_dates": [a["date"] for a in srm_alerts], "first_srm_stage": first_stage}))
    if assigned is None:
        notes.append("too few cohorts before the episode to judge the assignment volume")
    daily = [{"date": d, "assigned_units": totals[d]["assigned_units"],
              "valid_exposed_within_horizon_units": exposed[d],
              "assigned_units_by_variation": {v: totals[d]["variations"].get(v, {}).get("assigned_units", 0)
                                              for v in variations}} for d in cohort_days]
    ok = (f"assigned units steady ({num(assigned[0].baseline)} a day), split as expected"
          + (f", no SRM (first SRM stage: {first_stage})" if first_stage else ", no SRM")) if assigned else "no shift found"
    return _result("assignments", findings, ok, notes, {
        "daily": daily, "split": split_rows, "expected_shares": dict(zip(variations, shares)),
        "exposure_rate_by_variation": per_variation, "srm_stages": stages, "first_srm_stage": first_stage,
        "srm_alert_dates": [a["date"] for a in srm_alerts]})


def per_variation_value(rows: list[dict], day: dt.date) -> float | None:
    return next((r["value"] for r in rows if r["date"] == day), None)


CHECK_FUNCTIONS = (check_event_name, check_ingestion, check_status_spikes, check_raw_vs_deduped, check_assignments)
