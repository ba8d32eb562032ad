"""Plain-language captions: what a person should notice in each chart, worked out from the data.

Each caption function takes an :class:`~expguard.apps.report.summary.ExperimentData` (or the overview
rows) and returns a few short sentences. The one statistical idea is :func:`find_shift`, which
finds the first day a rate left its own recent level by more than noise, with the alerts' own
rule and settings (:func:`expguard.core.stats.evaluate`: a median baseline, 1.4826 x MAD, the
binomial standard error, ``exp_alert_*``); the
captions are descriptions, not alerts, and hold on any data: a quiet chart gets a quiet caption.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING, Any, Sequence

from ...core import stats
from ...core.fmt import p_text as _p, percent_short as pct, units
from ...settings.config import Variables
from .summary import ExperimentData, overview_row, ratio, srm_verdict

if TYPE_CHECKING:  # pragma: no cover
    from ...models.verdict import Verdict

# How a unit of each exposure status is described ("8,120 units ...").
STATUS_PHRASES = {
    "no_exposure_units": "had no exposure",
    "multi_variation_exposure_units": "saw more than one variation",
    "variation_mismatch_units": "saw only another variation",
    "pre_assignment_exposure_units": "were exposed only before assignment",
    "exposure_outside_window_units": "were exposed only after their window",
}
STATUS_LABELS = {
    "valid_exposed_units": "valid",
    "no_exposure_units": "no exposure",
    "multi_variation_exposure_units": "several variations",
    "variation_mismatch_units": "wrong variation",
    "pre_assignment_exposure_units": "before assignment",
    "exposure_outside_window_units": "after the window",
}
ALERT_LABELS = {
    "exposure_rate_drop": "exposure-rate drop",
    "mismatch_rate_rise": "mismatch-rate rise",
    "multi_variation_rate_rise": "multi-variation rise",
    "srm": "sample-ratio mismatch",
    "unassigned_exposure_spike": "unassigned-exposure spike",
    "duplicate_exposure_spike": "duplicate-exposure spike",
    "rejected_exposure_spike": "rejected-event spike",
}


@dataclass(frozen=True)
class Shift:
    """Where a series left its level: the first point beyond noise, and how it went on.

    ``before`` is the baseline (the median of the points before), ``value`` the first shifted
    point, ``last`` the last point of the run of shifted points, ``recovered`` the first point
    back near the baseline after it (None when the series stayed shifted to its end).
    """

    start: int
    date: dt.date
    before: float
    value: float
    last: int
    last_date: dt.date
    recovered_date: dt.date | None

    @property
    def affected(self) -> range:
        return range(self.start, self.last + 1)


Point = tuple[dt.date, float | None, int]  # (date, rate, its sample size)


MIN_SIZE = 50  # smaller samples are left out of find_shift: their rates swing by chance
MIN_DAY_SIZE = 200  # days of events: as the alerts' default exp_alert_min_cohort_units
LONE_POINT_FACTOR = 2  # a shift of a single point must pass twice the allowed change


def find_shifts(points: Sequence[Point], direction: int, min_change: float, *, variables: Any = None,
                min_size: int = MIN_SIZE) -> list[Shift]:
    """Every run of points that moved ``direction`` (-1 down, +1 up) from its baseline by more
    than the alerts' rule allows (:func:`expguard.core.stats.evaluate` with the run's
    ``variables``, default: the variables' defaults: the median of the points in the
    ``exp_alert_baseline_days`` before, ``max(min_change, exp_alert_mad_k * sigma)``, at least
    ``exp_alert_min_baseline_points`` points before). A run ends at the first point back within
    half the change that opened it; the search goes on from there. A run of one point counts only
    beyond twice the allowed change: among the dozens of points of a chart, one just past the line
    is what chance gives. Points with no rate or a sample under ``min_size`` are left out.
    """
    rule = stats.BaselineRule.of(variables if variables is not None else Variables())
    usable = [(d, v, n) for d, v, n in points if v is not None and n >= max(min_size, 1)]
    history = [stats.Point(d, v, n) for d, v, n in usable]
    shifts: list[Shift] = []
    i = 0
    while i < len(usable):
        date, value, size = usable[i]
        deviation = stats.evaluate(history[i], history[:i], direction, min_change, rule)
        if deviation is None or deviation.change <= deviation.allowed:
            i += 1
            continue
        center, allowed = deviation.baseline, deviation.allowed
        back = abs(value - center) / 2
        last, recovered = i, None
        for j in range(i + 1, len(usable)):
            if direction * (usable[j][1] - center) <= back:
                recovered = j
                break
            last = j
        if last == i and direction * (value - center) <= LONE_POINT_FACTOR * allowed:
            # One point just past the line, among the many a chart shows, is what chance gives:
            # a shift is two points in a row, or one far out.
            i += 1
            continue
        shifts.append(Shift(_index(points, date), date, center, value, _index(points, usable[last][0]),
                            usable[last][0], None if recovered is None else usable[recovered][0]))
        if recovered is None:
            break
        i = recovered
    return shifts


def main_shift(shifts: Sequence[Shift]) -> Shift | None:
    """The shift to tell first: the one still going on, else the largest (the earliest of equals)."""
    if not shifts:
        return None
    if shifts[-1].recovered_date is None:
        return shifts[-1]
    return max(shifts, key=lambda s: (abs(s.value - s.before), -s.start))


def find_shift(points: Sequence[Point], direction: int, min_change: float, **options) -> Shift | None:
    """The main shift of :func:`find_shifts`: the one still going on, else the largest.

    >>> days = [dt.date(2026, 3, d) for d in range(1, 13)]
    >>> rates = [0.92, 0.91, 0.93, 0.92, 0.92, 0.91, 0.92, 0.93, 0.41, 0.40, 0.42, 0.40]
    >>> s = find_shift([(d, r, 2000) for d, r in zip(days, rates)], -1, 0.05)
    >>> s.date.isoformat(), s.before, s.value, s.recovered_date
    ('2026-03-09', 0.92, 0.41, None)
    """
    return main_shift(find_shifts(points, direction, min_change, **options))


def _others(shifts: Sequence[Shift], told: Shift | None) -> str:
    """`` (also briefly on D1, D2)`` for the shifts not told."""
    dates = [_iso(s.date) for s in shifts if s is not told]
    if not dates:
        return ""
    return f" (also briefly on {', '.join(dates[:3])}{', ...' if len(dates) > 3 else ''})"


def _index(points: Sequence[Point], date: dt.date) -> int:
    return next(i for i, p in enumerate(points) if p[0] == date)


def _iso(date: dt.date) -> str:
    return date.isoformat()


LATEST = {"cohort": "the latest cohort old enough to compare", "day": "the latest full day"}


def _run_text(shift: Shift, low_or_high: str, noun: str = "cohort") -> str:
    """How the shift went on: `` and stayed low through D, the latest ...``, `` and stayed low
    through D (back on D2)``, ``, for that cohort only (back on D2)``, or `` (the latest ...)``."""
    if shift.recovered_date is not None:
        if shift.last_date == shift.date:
            return f", for that {noun} only (back on {_iso(shift.recovered_date)})"
        return f" and stayed {low_or_high} through {_iso(shift.last_date)} (back on {_iso(shift.recovered_date)})"
    if shift.last_date != shift.date:
        return f" and stayed {low_or_high} through {_iso(shift.last_date)}, {LATEST[noun]}"
    return f" ({LATEST[noun]})"


def _alerts_note(e: ExperimentData, types: Sequence[str]) -> str:
    alerts = [a for a in e.alerts if a["alert_type"] in types]
    if not alerts:
        return ""
    first = alerts[0]
    severity = "critical" if any(a["severity"] == "critical" for a in alerts) else "warning"
    kind = ALERT_LABELS.get(first["alert_type"], first["alert_type"])
    return (f"{units(len(alerts), 'alert')} marked ({severity} at worst); the first on {_iso(first['date'])}: "
            f"{kind}.")


# -- exposure rate by cohort ------------------------------------------------------------------

def _cohort_points(e: ExperimentData, numerator: str, denominator: str, rows: Sequence[dict] | None = None) -> list[Point]:
    """(date, numerator / denominator, denominator) of each cohort whose horizon has elapsed."""
    complete = e.horizon_complete()
    return [(r["date"], ratio(r[numerator], r[denominator]), r[denominator])
            for r in (e.cohorts if rows is None else rows) if complete.get(r["date"], True)]


def _status_shift(e: ExperimentData, shift: Shift, points: Sequence[Point]) -> str:
    """Where the units of the shifted cohorts went: the status that grew most, and its count."""
    dates = {points[i][0] for i in shift.affected}
    affected = [r for r in e.cohorts if r["date"] in dates]
    before = [r for r in e.cohorts if r["date"] < shift.date][-14:]
    best, best_rise = None, 0.0
    for status in STATUS_PHRASES:
        share_after = ratio(sum(r[status] for r in affected), sum(r["assigned_units"] for r in affected)) or 0.0
        share_before = ratio(sum(r[status] for r in before), sum(r["assigned_units"] for r in before)) or 0.0
        if share_after - share_before > best_rise:
            best, best_rise = status, share_after - share_before
    if best is None:
        return ""
    count = sum(r[best] for r in affected)
    which = "that cohort" if len(affected) == 1 else "those cohorts"
    return f"; {units(count)} of {which} {STATUS_PHRASES[best]}"


def exposure_rate_caption(e: ExperimentData) -> str:
    """What to notice in the exposure rate by cohort: a fall and where the units went, a
    variation that fell alone, the cohorts whose window is still open, the alerts.

    The shift is looked for among cohorts whose alert horizon has elapsed, so that the youngest
    cohort, still receiving its exposures, is not mistaken for a drop.
    """
    points = _cohort_points(e, "valid_exposed_units", "assigned_units")
    shifts = find_shifts(points, -1, 0.05)
    shift = main_shift(shifts)
    sentences = []
    if shift is not None:
        sentences.append(f"Exposure rate fell from {pct(shift.before)} to {pct(shift.value)} on "
                         f"{_iso(shift.date)}{_run_text(shift, 'low')}{_status_shift(e, shift, points)}"
                         f"{_others(shifts, shift)}.")
    else:
        rates = [v for _, v, _ in points if v is not None]
        if rates:
            sentences.append(_level_text("Exposure rate", rates, points, "for the median cohort"))
        elif e.cohorts:
            sentences.append("No cohort is old enough yet to compare exposure rates.")
        else:
            sentences.append("No assigned units: nothing to show.")
    sentences.append(_variation_note(e, shift))
    incomplete = [r["date"] for r in e.cohorts if not r["is_window_complete"]]
    if incomplete and len(incomplete) == len(e.cohorts):
        sentences.append("No cohort has had its full exposure window yet (dashed line, hollow markers): "
                         "every rate can still rise.")
    elif incomplete:
        sentences.append(f"The last {len(incomplete)} cohorts (from {_iso(incomplete[0])}, dashed line, hollow "
                         "markers) are still inside their exposure window: their rates can still rise.")
    sentences.append(_alerts_note(e, ("exposure_rate_drop", "srm")))
    return " ".join(s for s in sentences if s)


def _level_text(label: str, rates: Sequence[float], points: Sequence[Point], where: str) -> str:
    """``Exposure rate shows no shift beyond chance: 85% for the median cohort (80% to 88%).``"""
    level = f"{pct(median(rates))} {where} ({pct(min(rates))} to {pct(max(rates))})"
    if all(n < MIN_SIZE for _, v, n in points if v is not None):
        return f"{label}: {level}; cohorts under {MIN_SIZE} units are too small to tell a shift from chance."
    return f"{label} shows no shift beyond chance: {level}."


def _variation_note(e: ExperimentData, overall: Shift | None) -> str:
    variations = e.variations()
    if len(variations) < 2:
        return ""
    shifts = {}
    for variation in variations:
        rows = [r for r in e.by_variation if r["assigned_variation_id"] == variation and r["assigned_units"] > 0]
        shift = find_shift(_cohort_points(e, "valid_exposed_units", "assigned_units", rows), -1, 0.05)
        if shift is not None:
            shifts[variation] = shift
    if not shifts or len(shifts) == len(variations):
        return ""
    fell = ", ".join(f"{v} (from {pct(s.before)} to {pct(s.value)} on {_iso(s.date)})" for v, s in shifts.items())
    if overall is not None:
        return f"Only {fell} fell; the other variations held."
    return f"One variation fell while the others held: {fell}." if len(shifts) == 1 else \
        f"Some variations fell while the others held: {fell}."


# -- exposure status breakdown ----------------------------------------------------------------

def status_caption(e: ExperimentData) -> str:
    """The mix of exposure statuses over all cohorts, and the status whose share rose most."""
    t = e.totals()
    if not t["assigned_units"]:
        return "No assigned units: nothing to show."
    parts = sorted(((t[s] / t["assigned_units"], s) for s in STATUS_PHRASES if t[s]), reverse=True)
    rest = ", ".join(f"{STATUS_LABELS[s]} {pct(share)}" for share, s in parts)
    sentences = [f"Over all cohorts {pct(t['valid_exposed_units'] / t['assigned_units'])} of "
                 f"{units(t['assigned_units'])} were validly exposed" + (f"; the rest: {rest}." if rest else ".")]
    rises = []
    for status in STATUS_PHRASES:
        shift = find_shift(_cohort_points(e, status, "assigned_units"), +1, 0.02)
        if shift is not None:
            rises.append((shift.value - shift.before, status, shift))
    if rises:
        _, status, shift = max(rises, key=lambda r: r[0])
        sentences.append(f"The share of units that {STATUS_PHRASES[status]} rose from {pct(shift.before)} to "
                         f"{pct(shift.value)} on {_iso(shift.date)}{_run_text(shift, 'high')}.")
    else:
        sentences.append("The mix stays the same from cohort to cohort.")
    incomplete = sum(1 for r in e.cohorts if not r["is_window_complete"])
    if incomplete:
        sentences.append(f"Paler bars: the {units(incomplete, 'cohort')} still inside their window.")
    return " ".join(sentences)


# -- mismatch and multi-variation rates -------------------------------------------------------

def rates_caption(e: ExperimentData) -> str:
    """A rise of the mismatch or multi-variation rate (shares of exposed units), else their level."""
    sentences, quiet = [], []
    for numerator, label in (("mismatched_units", "Mismatch rate"),
                             ("multi_variation_exposure_units", "Multi-variation rate")):
        points = _cohort_points(e, numerator, "exposed_units")
        shifts = find_shifts(points, +1, 0.01)
        shift = main_shift(shifts)
        if shift is not None:
            sentences.append(f"{label} rose from {pct(shift.before)} to {pct(shift.value)} of exposed units on "
                             f"{_iso(shift.date)}{_run_text(shift, 'high')}{_others(shifts, shift)}.")
        else:
            rates = [v for _, v, _ in points if v is not None]
            if rates:
                quiet.append(f"{label.lower()} {pct(median(rates))}")
    if quiet:
        text = " and ".join(quiet) + " of exposed units in the median cohort"
        sentences.append(("No other shift beyond chance: " if sentences else "No shift beyond chance: ") + text + ".")
    if not sentences:
        sentences.append("No exposed units in a comparable cohort yet.")
    sentences.append(_alerts_note(e, ("mismatch_rate_rise", "multi_variation_rate_rise")))
    return " ".join(s for s in sentences if s)


# -- funnel -----------------------------------------------------------------------------------

def funnel_caption(e: ExperimentData) -> str:
    """How many assigned units were exposed and validly exposed, and a variation that lags."""
    totals = e.variation_totals()
    assigned = sum(t["assigned_units"] for t in totals.values())
    if not assigned:
        return "No assigned units: nothing to show."
    exposed = sum(t["exposed_units"] for t in totals.values())
    valid = sum(t["valid_exposed_units"] for t in totals.values())
    sentences = [f"Of {units(assigned, 'assigned unit')}, {pct(exposed / assigned)} were exposed and "
                 f"{pct(valid / assigned)} validly exposed."]
    lost_before, lost_after = assigned - exposed, exposed - valid
    if lost_before or lost_after:
        if lost_before >= lost_after:
            sentences.append(f"Most of the loss is units never exposed ({units(lost_before)}).")
        else:
            sentences.append(f"Most of the loss is exposed units that do not count ({units(lost_after)}: "
                             "another variation, or outside the window).")
    shares = {v: t["valid_exposed_units"] / t["assigned_units"] for v, t in totals.items() if t["assigned_units"]}
    if len(shares) >= 2:
        worst = min(shares, key=lambda v: (shares[v], v))
        others = [s for v, s in shares.items() if v != worst]
        typical = median(others)
        n = totals[worst]["assigned_units"]
        noise = 3 * math.sqrt(max(typical * (1 - typical), 1.0 / n) / n)
        if typical - shares[worst] > max(0.03, noise):
            sentences.append(f"{worst} lags: {pct(shares[worst])} of its units validly exposed, against "
                             f"{pct(typical)} for the other variation{'s' if len(others) > 1 else ''}.")
        else:
            low, high = min(shares.values()), max(shares.values())
            sentences.append(f"The variations convert alike ({pct(low)}" + (f" to {pct(high)}" if pct(low) != pct(high) else "")
                             + " validly exposed).")
    return " ".join(sentences)


# -- events per day ---------------------------------------------------------------------------

def events_caption(e: ExperimentData) -> str:
    """Totals of raw, repeated and rejected exposure events, and a day that jumped.

    The latest day is left out of the search for a jump, as the alerts do: it may not be over;
    so are days with fewer than MIN_DAY_SIZE events (or assigned units), such as the trickle of
    late exposures after an experiment stops assigning.
    """
    raw = sum(d["raw_events"] for d in e.events) + e.undated_rejected_events
    if not raw:
        return "No exposure events."
    rejected = sum(d["rejected_events"] for d in e.events) + e.undated_rejected_events
    deduped = sum(d["deduped_exposures"] for d in e.events)
    repeats = max(raw - rejected - deduped, 0)
    sentences = [f"{units(raw, 'exposure event')}: {repeats:,} repeats collapsed into a unit's first exposure "
                 f"({pct(repeats / raw)}), {rejected:,} rejected as malformed ({pct(rejected / raw)})."]
    days = e.events[:-1]
    usable = [(d["exposure_date"], ratio(max(d["raw_events"] - d["rejected_events"] - d["deduped_exposures"], 0),
                                          d["raw_events"] - d["rejected_events"]),
               d["raw_events"] - d["rejected_events"]) for d in days]
    checks = [
        (usable, 0.05, "Repeated events", "of the day's usable events"),
        ([(d["exposure_date"], ratio(d["rejected_events"], d["raw_events"]), d["raw_events"]) for d in days], 0.02,
         "Rejected events", "of the day's events"),
    ]
    assigned = {r["date"]: r["assigned_units"] for r in e.daily}
    checks.append(([(d["exposure_date"], ratio(d["unassigned_exposed_units"], assigned.get(d["exposure_date"], 0)),
                     assigned.get(d["exposure_date"], 0)) for d in days], 0.02,
                   "Units exposed without an assignment", "of the day's assigned units"))
    jumped = False
    for points, minimum, label, of in checks:
        shifts = find_shifts(points, +1, minimum, min_size=MIN_DAY_SIZE)
        shift = main_shift(shifts)
        if shift is not None:
            jumped = True
            sentences.append(f"{label} jumped from {pct(shift.before)} to {pct(shift.value)} {of} on "
                             f"{_iso(shift.date)}{_run_text(shift, 'high', 'day')}{_others(shifts, shift)}.")
    if not jumped:
        sentences.append("No day stands out.")
    if e.undated_rejected_events:
        sentences.append(f"{units(e.undated_rejected_events, 'rejected event')} without a timestamp "
                         f"{'is' if e.undated_rejected_events == 1 else 'are'} counted but not drawn.")
    sentences.append(_alerts_note(e, ("duplicate_exposure_spike", "rejected_exposure_spike", "unassigned_exposure_spike")))
    return " ".join(s for s in sentences if s)


# -- sample-ratio mismatch --------------------------------------------------------------------

def srm_caption(e: ExperimentData) -> str:
    """Where the split breaks (the earliest stage with an SRM, and the variation furthest off),
    or that it holds."""
    verdict = srm_verdict(e.srm)
    if verdict.verdict == "srm":
        rows = [r for r in e.srm if r["stage"] == verdict.stage and r["expected_share"] > 0]
        off = max(rows, key=lambda r: (abs((r["observed_share"] or 0) - r["expected_share"]), r["variation_id"]))
        stage = verdict.stage.replace("_", " ")
        return (f"The split breaks at the {stage} stage ({_p(verdict.p_value)}): {off['variation_id']} has "
                f"{pct(off['observed_share'])} of the {stage} units against {pct(off['expected_share'])} expected. "
                "Comparisons between the variations are suspect until this is explained.")
    if verdict.verdict == "ok":
        stage = verdict.stage.replace("_", " ")
        return (f"No sample-ratio mismatch at any tested stage (at {stage}: {_p(verdict.p_value)}); "
                "the variations keep their expected split.")
    reason = {"insufficient_units": "too few units per variation for the chi-square test",
              "single_variation": "a single variation: nothing to compare",
              "no_data": "no counts"}.get(verdict.verdict, verdict.verdict.replace("_", " "))
    return f"No verdict: {reason}."


# -- overview ---------------------------------------------------------------------------------

#: How a check reads in a sentence ("fails <label>", "warns on <label>").
CHECK_LABELS = {
    "exposure_events_present": "no exposure event", "assignments_present": "no assignment",
    "rejected_exposure_events": "rejected exposure events", "freshness": "exposure events lagging assignments",
    "exposure_coverage": "low exposure coverage", "sample_ratio": "sample-ratio mismatch",
    "variation_mismatch": "variation mismatch", "multiple_variations": "multiple variations",
    "pre_assignment_exposure": "pre-assignment exposures", "exposure_outside_window": "exposures after the window",
    "unassigned_exposures": "unassigned exposures", "open_alerts": "open alerts",
}


#: The stream-wide rows measure something else under the same name: its freshness is the age of
#: the newest exposure event at the run's reference time, not a lag behind assignments.
STREAM_CHECK_LABELS = {"freshness": "stale exposure events"}


def verdict_phrase(verdict: "Verdict") -> str:
    """``fails: exposure events lagging assignments``-like words for a verdict and its reason."""
    reason = verdict.reason
    if reason is None:
        return {"pass": "passes every check", "not_enough_data": "has too little data to judge"}[verdict.status]
    verb = "fails" if verdict.status == "fail" else "warns"
    labels = {**CHECK_LABELS, **STREAM_CHECK_LABELS} if verdict.experiment_id is None else CHECK_LABELS
    return f"{verb}: {labels.get(reason['check_name'], reason['check_name'])}"


def overview_caption(experiments: Sequence[ExperimentData], unattributed_events: int = 0,
                     unattributed_alerts: int = 0, stream: "Verdict | None" = None) -> str:
    """How many experiments fail, warn and pass (their health verdicts), which need attention
    first and why, the stream's own verdict, and the events that belong to no experiment."""
    stream_says = ""
    if stream is not None and stream.status in ("fail", "warn"):
        stream_says = (f"The event stream as a whole {verdict_phrase(stream).replace(':', ' on', 1)}: "
                       f"{stream.reason['detail']}.")
    if not experiments:
        # Nothing to list, but never nothing to say: the stream's verdict is why (no exposure
        # event of the configured name, a stale stream), with the names that look like it.
        return " ".join(["No experiment in this run.", stream_says]).strip()
    by_status: dict[str, list[ExperimentData]] = {s: [] for s in ("fail", "warn", "pass", "not_enough_data")}
    for e in experiments:
        by_status[e.verdict.status].append(e)
    names = {"fail": "fail", "warn": "warn", "pass": "pass", "not_enough_data": "with too little data to judge"}
    counts = ", ".join(f"{len(v)} {names[k]}" for k, v in by_status.items() if v)
    sentences = [f"{units(len(experiments), 'experiment')}: {counts}."]
    attention = by_status["fail"] + by_status["warn"]
    if attention:
        first = [f"{e.experiment_id} ({verdict_phrase(e.verdict)})" for e in attention[:5]]
        more = f" and {len(attention) - 5} more" if len(attention) > 5 else ""
        sentences.append("Look first at " + "; ".join(first) + more + ".")
    if stream_says:
        sentences.append(stream_says)
    srm = [overview_row(e)["experiment_id"] for e in experiments if overview_row(e)["srm"].verdict == "srm"]
    if srm:
        sentences.append(f"Sample-ratio mismatch over all cohorts in {', '.join(srm[:5])}"
                         + (f" and {len(srm) - 5} more" if len(srm) > 5 else "") + ".")
    if unattributed_events:
        sentences.append(f"{units(unattributed_events, 'exposure event')} had no readable experiment id: "
                         "rejected as malformed, they belong to no experiment below"
                         + (f" ({units(unattributed_alerts, 'alert')} about them)." if unattributed_alerts else "."))
    return " ".join(sentences)
