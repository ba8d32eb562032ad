"""Comparing a day with the experiment's own baseline: rates, counts and lags.

Every series is judged against one *reference*: the days in the ``exp_alert_baseline_days``
before the episode under diagnosis began (the first cohort of the exposure-rate drop, or the
diagnosed day itself). The statistics are those of :mod:`expguard.core.stats`: rates use the
alerts' rule (:func:`~expguard.core.stats.evaluate`: median, 1.4826 x MAD, a binomial floor and a
minimum change); counts the same median and MAD with a Poisson floor and a minimum relative
change (:func:`~expguard.core.stats.count_allowed`); lags a minimum factor. Each day of the scanned
window is judged against that same reference, so the run of abnormal days and its first day
(the onset) can be read off, even when it started inside the reference window: the median and
the MAD ignore a minority of abnormal days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ...core.stats import MAD_SCALE, Point, count_allowed, evaluate, median_and_mad, strength

if TYPE_CHECKING:  # pragma: no cover
    from ...settings.config import Variables


@dataclass(frozen=True)
class Judged:
    """One day of one series against the reference."""

    date: dt.date
    value: float
    size: int
    baseline: float
    threshold: float
    change: float  # in the bad direction (either way for two-sided counts); positive is worse
    allowed: float
    flagged: bool

    @property
    def strength(self) -> float:
        """How many allowed changes the day moved (0 when it moved the good way)."""
        return strength(self.change, self.allowed)


@dataclass(frozen=True)
class Window:
    """The days of a diagnosis: the reference (``[reference_start, episode_start)``), the scanned
    days (``[reference_start, scan_end]``) and the focus (``[episode_start, scan_end]``), where an
    abnormal run must reach to matter."""

    reference_start: dt.date
    episode_start: dt.date
    scan_end: dt.date

    def reference(self, day: dt.date) -> bool:
        return self.reference_start <= day < self.episode_start

    def scanned(self, day: dt.date) -> bool:
        return self.reference_start <= day <= self.scan_end

    def focus(self, day: dt.date) -> bool:
        return self.episode_start <= day <= self.scan_end


def judge_rates(points: Sequence[Point], window: Window, direction: int, min_change: float,
                variables: "Variables") -> list[Judged] | None:
    """Each scanned point of a rate series against the reference; None when the reference has
    fewer than ``exp_alert_min_baseline_points`` points.

    >>> from expguard.settings.config import Variables
    >>> days = [Point(dt.date(2026, 1, d), 0.9, 1000) for d in range(1, 15)] + [Point(dt.date(2026, 1, 15), 0.5, 1000)]
    >>> w = Window(dt.date(2026, 1, 1), dt.date(2026, 1, 15), dt.date(2026, 1, 15))
    >>> [j.flagged for j in judge_rates(days, w, -1, 0.05, Variables())][-2:]
    [False, True]
    """
    reference = [p for p in points if window.reference(p.date)]
    if len(reference) < variables.exp_alert_min_baseline_points:
        return None
    judged = []
    for p in points:
        if not window.scanned(p.date):
            continue
        # evaluate() reads the baseline days before the point's date: date the point at the
        # episode start so that every day is judged against the same reference.
        verdict = evaluate(Point(window.episode_start, p.value, p.size), reference, direction, min_change, variables)
        assert verdict is not None
        judged.append(Judged(p.date, p.value, p.size, verdict.baseline, verdict.threshold, verdict.change,
                             verdict.allowed, verdict.severity is not None))
    return judged


def judge_counts(points: Sequence[tuple[dt.date, float]], window: Window, direction: int, min_relative: float,
                 variables: "Variables") -> list[Judged] | None:
    """Each scanned day of a count series (events, units) against the reference.

    ``direction`` -1 flags drops, +1 rises, 0 both. The allowed change is the largest of
    ``exp_alert_mad_k`` robust standard deviations, the Poisson standard deviation
    ``sqrt(median)`` times the same k, and ``min_relative`` of the median.

    >>> from expguard.settings.config import Variables
    >>> days = [(dt.date(2026, 1, d), 1000 + d) for d in range(1, 16)] + [(dt.date(2026, 1, 16), 0)]
    >>> w = Window(dt.date(2026, 1, 1), dt.date(2026, 1, 15), dt.date(2026, 1, 16))
    >>> [j.flagged for j in judge_counts(days, w, -1, 0.3, Variables())][-2:]
    [False, True]
    """
    reference = [v for d, v in points if window.reference(d)]
    if len(reference) < variables.exp_alert_min_baseline_points:
        return None
    center, allowed = count_allowed(reference, variables.exp_alert_mad_k, min_relative)
    judged = []
    for day, value in points:
        if not window.scanned(day):
            continue
        change = (value - center) * direction if direction else abs(value - center)
        threshold = center + (direction or (1 if value >= center else -1)) * allowed
        judged.append(Judged(day, float(value), int(value), center, threshold, change, allowed, change > allowed))
    return judged


def judge_lags(points: Sequence[tuple[dt.date, float, int]], window: Window, min_factor: float,
               min_rise_seconds: float, variables: "Variables") -> list[Judged] | None:
    """Each scanned day of a lag series (seconds) against the reference: flagged when it rose
    beyond ``exp_alert_mad_k`` robust standard deviations, ``min_factor`` times the median and
    the median plus ``min_rise_seconds``, whichever is largest."""
    reference = [v for d, v, _ in points if window.reference(d)]
    if len(reference) < variables.exp_alert_min_baseline_points:
        return None
    center, mad = median_and_mad(reference)
    threshold = max(center + variables.exp_alert_mad_k * MAD_SCALE * mad, min_factor * center, center + min_rise_seconds)
    allowed = threshold - center
    return [Judged(d, v, n, center, threshold, v - center, allowed, v > threshold)
            for d, v, n in points if window.scanned(d)]


def focus_run(judged: Sequence[Judged] | None, window: Window) -> list[Judged]:
    """The run of consecutive flagged days that matters: the one holding the latest flagged day
    of the focus, from its first day (the onset, possibly inside the reference window) up to the
    end of the focus. Empty when no focus day is flagged."""
    if not judged:
        return []
    ordered = sorted(judged, key=lambda j: j.date)
    latest = max((i for i, j in enumerate(ordered) if j.flagged and window.focus(j.date)), default=None)
    if latest is None:
        return []
    first = latest
    while first > 0 and ordered[first - 1].flagged:
        first -= 1
    return ordered[first:latest + 1]


def peak(run: Sequence[Judged]) -> Judged:
    """The day of a run that moved the most."""
    return max(run, key=lambda j: (j.strength, j.date))
