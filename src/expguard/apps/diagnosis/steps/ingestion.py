"""Step 2, ingestion: days with no events or far fewer than usual (missing partitions), event names
that fell while the stream did not, and the ingestion lag per day when the source maps
``ingested_at``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from statistics import median

from ....core.fmt import count, days_text, duration, percent
from ..checks import Context, result
from ..findings import ABNORMAL, SKIPPED, CheckResult, Finding
from ..stats import Judged, focus_run, judge_counts, judge_lags, peak

VOLUME_MIN_DROP = 0.3          # a day of the stream with this much less than its usual volume is suspect
NAME_MIN_EVENTS = 50           # event names with fewer events a day are not judged one by one
LAG_MIN_FACTOR = 3.0           # ingestion lag is abnormal past this multiple of its usual value ...
LAG_MIN_RISE_SECONDS = 3600.0  # ... and at least one hour more
EMPTY_DAY_STRENGTH = 10.0      # a day without any event is as certain as a finding gets


@dataclass
class Stream:
    """The stream's events per day, per name and day, and the days judged (``span``: from its
    first day to the data's end; the last, partial, day is shown, not judged)."""

    totals: dict[dt.date, int]
    per_name: dict[str, dict[dt.date, int]]
    undated: int
    span: list[dt.date] = field(default_factory=list)

    @property
    def judged_days(self) -> list[dt.date]:
        return self.span[:-1]


def gather_stream(ctx: Context) -> Stream:
    totals: dict[dt.date, int] = {}
    per_name: dict[str, dict[dt.date, int]] = {}
    undated = 0
    for row in ctx.obs.event_names or []:
        if row["event_date"] is None:
            undated += row["events"]
            continue
        totals[row["event_date"]] = totals.get(row["event_date"], 0) + row["events"]
        per_name.setdefault(row["event_name"], {})[row["event_date"]] = row["events"]
    stream = Stream(totals, per_name, undated)
    if totals:
        # From the first event day, or the data's end when every event came after it (exposures
        # a day after the last assignment day): the span always holds the data's end.
        end = min(max(totals), ctx.data_end)
        first = min(min(totals), end)
        stream.span = [first + dt.timedelta(days=i) for i in range((end - first).days + 1)]
    return stream


def missing_partitions(ctx: Context, stream: Stream, judged: list[Judged] | None) -> Finding | None:
    """The days of the stream far below their usual volume that reach the days under diagnosis."""
    run = focus_run(judged, ctx.days)
    flagged = [j for j in judged or [] if j.flagged and (ctx.days.focus(j.date) or j in run)]
    if not flagged:
        return None
    empty = [j.date for j in flagged if j.value == 0]
    parts = [f"no events at all on {days_text(empty)}"] if empty else []
    for j in flagged:
        if j.value > 0:
            parts.append(f"{j.date} holds {percent(j.value / j.baseline)} of a usual day's events "
                         f"({count(j.value)} vs {count(j.baseline)})")
    tail = [j.date for j in flagged]
    at_end = tail[-1] == stream.span[-2] and all((tail[i + 1] - tail[i]).days == 1 for i in range(len(tail) - 1))
    evidence = []
    if at_end and not empty:
        evidence.append("the low days are the latest before the snapshot's day: partitions still arriving")
    strength = EMPTY_DAY_STRENGTH if empty else max(j.strength for j in flagged)
    return Finding("missing_partition", "ingestion", "; ".join(parts), [j.date for j in flagged],
                   flagged[0].date, strength, evidence,
                   {"days": [{"date": j.date, "events": int(j.value), "usual_events": j.baseline} for j in flagged],
                    "latest_days": bool(at_end)})


def dropped_names(ctx: Context, stream: Stream, stream_low: set[dt.date]) -> list[dict]:
    """Event names with a usual volume that fell while the stream did not."""
    dropped = []
    for name, series in sorted(stream.per_name.items(), key=lambda kv: str(kv[0])):
        ref = [series.get(d, 0) for d in stream.judged_days if ctx.days.reference(d)]
        if not ref or median(ref) < NAME_MIN_EVENTS:
            continue
        run = focus_run(judge_counts([(d, series.get(d, 0)) for d in stream.judged_days], ctx.days, -1,
                                     VOLUME_MIN_DROP, ctx.variables), ctx.days)
        run = [j for j in run if j.date not in stream_low]
        if run:
            worst = min(run, key=lambda j: j.value)
            dropped.append({"event_name": name, "onset": run[0].date, "days": [j.date for j in run],
                            "usual_events": worst.baseline, "lowest_events": int(worst.value), "lowest_date": worst.date})
    return dropped


def ingestion_delay(ctx: Context, lag: list[dict]) -> Finding | None:
    """The days whose median or 95th-percentile ingestion lag rose far above its usual value."""
    runs = []
    for column in ("lag_p50_seconds", "lag_p95_seconds"):
        judged = judge_lags([(r["event_date"], r[column], r["events"]) for r in lag], ctx.days,
                            LAG_MIN_FACTOR, LAG_MIN_RISE_SECONDS, ctx.variables)
        runs.append(focus_run(judged, ctx.days))
    run50, run95 = runs
    if not (run50 or run95):
        return None
    days = sorted({j.date for j in run50 + run95})
    top50 = peak(run50) if run50 else None
    top95 = peak(run95) if run95 else None
    bits = []
    if top50:
        bits.append(f"median lag {duration(top50.baseline)} -> {duration(top50.value)} on {top50.date}")
    if top95:
        bits.append(f"95th percentile {duration(top95.baseline)} -> {duration(top95.value)} on {top95.date}")
    return Finding("ingestion_delay", "ingestion", f"events reach the warehouse late from {days[0]}: " + "; ".join(bits),
                   days, days[0], max(j.strength for j in run50 + run95), [],
                   {"onset": days[0], "lag_p50_seconds_before": top50.baseline if top50 else None,
                    "lag_p50_seconds_peak": top50.value if top50 else None,
                    "lag_p95_seconds_before": top95.baseline if top95 else None,
                    "lag_p95_seconds_peak": top95.value if top95 else None})


def absorb_partitions(delay: Finding, findings: list[Finding]) -> None:
    """Low days from the lag's onset on are the lag's doing (events still on their way): the
    missing-partition finding becomes evidence of the delay."""
    partitions = next((f for f in findings if f.cause == "missing_partition"), None)
    if partitions is not None and all(d >= delay.days[0] for d in partitions.days):
        findings.remove(partitions)
        delay.evidence.append(partitions.summary + " (events still on their way)")
        delay.days = sorted(set(delay.days) | set(partitions.days))
        delay.facts["incomplete_days"] = partitions.facts["days"]


def check_ingestion(ctx: Context) -> CheckResult:
    obs = ctx.obs
    if obs.event_names is None:
        return CheckResult("ingestion", SKIPPED, obs.events_note or "skipped", notes=[obs.events_note or ""])
    stream = gather_stream(ctx)
    if not stream.totals:
        return CheckResult("ingestion", ABNORMAL, "the event stream is empty: no event was read",
                           notes=["the event stream is empty"])
    notes: list[str] = []
    judged = judge_counts([(d, stream.totals.get(d, 0)) for d in stream.judged_days], ctx.days, -1,
                          VOLUME_MIN_DROP, ctx.variables)
    if judged is None:
        notes.append("too few days before the episode to judge the stream's volume")
    partitions = missing_partitions(ctx, stream, judged)
    findings = [partitions] if partitions else []
    dropped = dropped_names(ctx, stream, set(partitions.days) if partitions else set())
    for d in dropped:
        notes.append(f"`{d['event_name']}` fell from {d['onset']}: {count(d['lowest_events'])} events on "
                     f"{d['lowest_date']} (usually {count(d['usual_events'])}), while the stream did not")
    if stream.undated:
        notes.append(f"{stream.undated:,} events have no timestamp")
    lag_rows: list[dict] = []
    if obs.ingestion_lag is None:
        notes.append(obs.lag_note or "ingestion lag not measured")
    else:
        lag = sorted((r for r in obs.ingestion_lag if r["event_date"] is not None and r["lag_p50_seconds"] is not None),
                     key=lambda r: r["event_date"])
        lag_rows = [dict(r) for r in lag if ctx.days.scanned(r["event_date"])]
        delay = ingestion_delay(ctx, lag)
        if delay is not None:
            absorb_partitions(delay, findings)
            findings.append(delay)
    end = stream.span[-1]
    by_day = {j.date: j for j in judged or []}
    span_rows = []
    for d in stream.span:
        if ctx.days.scanned(d):
            j = by_day.get(d)
            span_rows.append({"date": d, "events": stream.totals.get(d, 0), "usual_events": j.baseline if j else None,
                              "is_abnormal": bool(j and j.flagged), "is_judged": j is not None})
    if judged and ctx.days.scanned(end):
        notes.append(f"{end} is the last day of the data ({count(stream.totals.get(end, 0))} events, usually "
                     f"{count(judged[0].baseline)}): taken as partial, not judged")
    ok = f"every day has its usual volume ({count(judged[0].baseline)} events a day)" if judged else ""
    unjudged = None if judged else "not judged: too few days before the episode to judge the stream's volume"
    return result("ingestion", findings, ok, notes, not_judged=unjudged, data={
        "stream_daily": span_rows, "event_names_dropped": dropped, "lag_daily": lag_rows,
        "first_event_date": min(stream.totals), "last_event_date": max(stream.totals), "data_end_date": end})
