"""The statistics of expguard, in one place: every model and application that judges a number calls these.

- **Series**: a :class:`Point` is one day (or cohort) of one rate, with its sample size.
- **Robust baseline** (the alerts' rule, also the health checks', the report's captions' and
  ``diagnose``'s): the baseline of a point is the median of the earlier points in the
  ``days`` before it, its spread the median absolute deviation (MAD). The point deviates when it
  moved the bad way by more than

      allowed = max(k * sigma, minimum change),   sigma = max(1.4826 * MAD, binomial standard error)

  where ``1.4826 * MAD`` estimates a standard deviation robustly, the binomial standard error
  ``sqrt(p (1 - p) / n)`` at the baseline ``p`` (kept ``1/n`` away from 0 and 1) keeps sampling
  noise from alerting, and the minimum change keeps a zero-MAD baseline from alerting on one unit.
  Counts (events, units) use a Poisson floor ``sqrt(median)`` and a minimum relative change.
- **Sample-ratio mismatch**: Pearson's chi-square goodness of fit (:func:`chi_square_test`) to the
  expected shares (:func:`expected_shares`).
- **Multiplicity**: Holm's step-down correction (:func:`holm`) when several days or variations
  are tested against one threshold.
- **Cohort totals**: counts of the per-variation rows summed per cohort (:func:`cohort_totals`).

Pure Python (a run imports neither numpy nor scipy); nothing of expguard is imported here. The rule's settings come
from the run's variables (``exp_alert_*``) through :meth:`BaselineRule.of`.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

# 1.4826 * MAD estimates the standard deviation of normally distributed values.
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class Point:
    """One day of one rate: the value and its sample size (the rate's denominator)."""

    date: dt.date
    value: float
    size: int


@dataclass(frozen=True)
class BaselineRule:
    """The settings of the robust baseline: the days it looks back, how many points it needs,
    how many sigmas a point may move (``k``) and from how many allowed changes a deviation is
    critical. :meth:`of` reads them from the run's variables."""

    days: int
    min_points: int
    k: float
    critical_multiple: float

    @classmethod
    def of(cls, variables: Any) -> "BaselineRule":
        """The rule of a run: ``exp_alert_baseline_days``, ``exp_alert_min_baseline_points``,
        ``exp_alert_mad_k`` and ``exp_alert_critical_multiple`` (a rule is returned as is)."""
        if isinstance(variables, BaselineRule):
            return variables
        return cls(variables.exp_alert_baseline_days, variables.exp_alert_min_baseline_points,
                   variables.exp_alert_mad_k, variables.exp_alert_critical_multiple)


@dataclass(frozen=True)
class Deviation:
    """How a point compares with its baseline."""

    baseline: float
    allowed: float
    threshold: float
    change: float  # in the bad direction; positive is worse
    points: int
    severity: str | None

    @property
    def strength(self) -> float:
        """How many allowed changes the point moved (0 when it moved the good way)."""
        return strength(self.change, self.allowed)


def strength(change: float, allowed: float) -> float:
    """``change / allowed``, 0 when the change is the good way, infinite when nothing is allowed.

    >>> strength(0.3, 0.15), strength(-0.2, 0.1), strength(0.1, 0.0)
    (2.0, 0.0, inf)
    """
    if allowed <= 0:
        return 0.0 if change <= 0 else math.inf
    return max(change / allowed, 0.0)


def median_and_mad(values: Sequence[float]) -> tuple[float, float]:
    """The median of ``values`` and their median absolute deviation from it.

    >>> median_and_mad([1, 2, 3, 4, 100])
    (3, 1)
    """
    ordered = sorted(values)
    center = _middle(ordered)
    return center, _middle(sorted([abs(v - center) for v in ordered]))


def _middle(ordered: Sequence[float]) -> float:
    """The median of values already sorted (as ``statistics.median`` computes it)."""
    n = len(ordered)
    if n == 0:
        raise ValueError("no median for empty data")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def upper_quantile(values: Sequence[float], q: float) -> float:
    """The value at quantile ``q`` of ``values``, without interpolation (the element at index
    ``int(q * n)``): an experiment's usual level, robust to a minority of dark days.

    >>> upper_quantile([5, 1, 4, 2, 3, 0, 9, 8, 7, 6], 0.9)
    9
    """
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rate_sigma(center: float, mad: float, size: int) -> float:
    """The spread of a rate: the larger of 1.4826 x MAD and the binomial standard error at the
    baseline ``center`` (kept ``1/size`` from 0 and 1) on ``size`` units.

    >>> round(rate_sigma(0.5, 0.0, 100), 3), rate_sigma(0.5, 0.1, 100)
    (0.05, 0.14826)
    """
    p = min(max(center, 1.0 / size), 1.0 - 1.0 / size) if size > 1 else 0.5
    return max(MAD_SCALE * mad, math.sqrt(p * (1.0 - p) / size))


def count_sigma(center: float, mad: float) -> float:
    """The spread of a count: the larger of 1.4826 x MAD and the Poisson standard deviation
    ``sqrt(median)`` (at least 1).

    >>> count_sigma(100, 0), round(count_sigma(100, 20), 3)
    (10.0, 29.652)
    """
    return max(MAD_SCALE * mad, math.sqrt(max(center, 1.0)))


def evaluate(point: Point, history: Sequence[Point], direction: int, min_change: float,
             rule: Any) -> Deviation | None:
    """Compare ``point`` with the points of ``history`` in the rule's baseline days before it.

    ``rule`` is a :class:`BaselineRule` or the run's variables. None when the baseline has fewer
    than ``min_points`` points.

    >>> rule = BaselineRule(days=14, min_points=7, k=3.0, critical_multiple=2.0)
    >>> days = [Point(dt.date(2026, 1, d), 0.90 + 0.01 * (d % 3), 1000) for d in range(1, 15)]
    >>> evaluate(Point(dt.date(2026, 1, 15), 0.50, 1000), days, -1, 0.05, rule).severity
    'critical'
    >>> evaluate(Point(dt.date(2026, 1, 15), 0.89, 1000), days, -1, 0.05, rule).severity is None
    True
    """
    rule = BaselineRule.of(rule)
    start = point.date - dt.timedelta(days=rule.days)
    return deviation(point, [p.value for p in history if start <= p.date < point.date], direction, min_change, rule)


def deviation(point: Point, values: Sequence[float], direction: int, min_change: float,
              rule: BaselineRule) -> Deviation | None:
    """:func:`evaluate` on the baseline's values already chosen (the points in the rule's days
    before ``point``, in any order): None when they are fewer than ``min_points``."""
    if len(values) < rule.min_points:
        return None
    center, mad = median_and_mad(values)
    allowed = max(rule.k * rate_sigma(center, mad, point.size), min_change)
    change = direction * (point.value - center)
    severity = None
    if change > allowed:
        severity = "critical" if change > rule.critical_multiple * allowed else "warning"
    return Deviation(center, allowed, center + direction * allowed, change, len(values), severity)


def count_allowed(values: Sequence[float], k: float, min_relative: float) -> tuple[float, float]:
    """The baseline of a count series and the change it allows: the largest of ``k`` robust
    standard deviations, ``k`` Poisson standard deviations and ``min_relative`` of the median.

    >>> count_allowed([1000, 1010, 990, 1005, 995], 3.0, 0.3)
    (1000, 300.0)
    """
    center, mad = median_and_mad(values)
    return center, max(k * count_sigma(center, mad), min_relative * center)


# -- sample-ratio mismatch ------------------------------------------------------------------------

@dataclass(frozen=True)
class SrmTest:
    """The verdict of one test; ``chi_square``, ``degrees_of_freedom`` and ``p_value`` are None
    when there is no verdict (``status`` says why)."""

    status: str
    tested_variations: int
    chi_square: float | None = None
    degrees_of_freedom: int | None = None
    p_value: float | None = None

    @property
    def is_srm(self) -> bool:
        return self.status == "srm"


def chi_square_test(observed: Sequence[int], expected_shares: Sequence[float], *, min_units: float,
                    threshold: float) -> SrmTest:
    """Pearson's chi-square goodness of fit of ``observed`` counts to ``expected_shares``.

    Variations with a zero expected share are left out of the test. The shares of the others
    are normalized to sum to 1, and each expects ``total * share`` units. No verdict when fewer
    than two variations are tested (``single_variation``) or one of them expects fewer than
    ``min_units`` units (``insufficient_units``); else ``srm`` when the p-value is below
    ``threshold``, and ``ok`` otherwise.

    >>> test = chi_square_test([480, 520], [0.5, 0.5], min_units=8, threshold=0.001)
    >>> test.status, test.chi_square, test.degrees_of_freedom, round(test.p_value, 4)
    ('ok', 1.6, 1, 0.2059)
    """
    tested = [(float(count), float(share)) for count, share in zip(observed, expected_shares) if share > 0]
    if len(tested) < 2:
        return SrmTest("single_variation", len(tested))
    total = sum(count for count, _ in tested)
    share_total = sum(share for _, share in tested)
    expected = [total * (share / share_total) for _, share in tested]
    if total == 0 or min(expected) < min_units:
        return SrmTest("insufficient_units", len(tested))
    statistic = sum((count - e) ** 2 / e for (count, _), e in zip(tested, expected))
    dof = len(tested) - 1
    p_value = chi_square_sf(statistic, dof)
    return SrmTest("srm" if p_value < threshold else "ok", len(tested), statistic, dof, p_value)


def chi_square_sf(statistic: float, dof: int) -> float:
    """P(X >= ``statistic``) for X chi-square distributed with ``dof`` (a positive integer)
    degrees of freedom: ``scipy.stats.chi2.sf``, in closed form.

    At an integer degree of freedom the survival function is the regularized upper incomplete
    gamma function Q(dof / 2, statistic / 2), which sums a handful of positive terms (no
    cancellation; each term computed in logs, so a large statistic underflows to 0 as scipy's
    does): with h = statistic / 2,

        even dof:  Q = exp(-h) * sum(h**j / j!            for j in 0 .. dof/2 - 1)
        odd dof:   Q = erfc(sqrt(h)) + exp(-h) * sum(h**(j - 1/2) / Gamma(j + 1/2) for j in 1 .. (dof-1)/2)

    Pure Python: a run never imports scipy (about 0.4 s of start-up). The tests check it against
    scipy to 1e-9.

    >>> round(chi_square_sf(1.6, 1), 6), round(chi_square_sf(4.0, 2), 6), chi_square_sf(0.0, 3)
    (0.205903, 0.135335, 1.0)
    """
    if dof < 1 or dof != int(dof):
        raise ValueError(f"degrees of freedom must be a positive integer, not {dof!r}")
    if statistic <= 0:
        return 1.0
    h = statistic / 2.0
    log_h = math.log(h)
    if dof % 2 == 0:
        total = sum(math.exp(-h + j * log_h - math.lgamma(j + 1)) for j in range(dof // 2))
    else:
        total = math.erfc(math.sqrt(h)) + sum(
            math.exp(-h + (j - 0.5) * log_h - math.lgamma(j + 0.5)) for j in range(1, (dof - 1) // 2 + 1))
    return min(total, 1.0)


def expected_shares(variations: Sequence[str], weights: Mapping[str, float] | None,
                    assigned: Mapping[str, int]) -> list[float]:
    """Each variation's expected share: its configured weight when the experiment has weights,
    else its share of the assigned units. Shares are normalized; an unlisted variation gets 0.

    >>> expected_shares(["a", "b", "c"], {"a": 1, "b": 3}, {})
    [0.25, 0.75, 0.0]
    >>> expected_shares(["a", "b"], None, {"a": 30, "b": 10})
    [0.75, 0.25]
    """
    source = weights if weights else assigned
    total = float(sum(source.get(v, 0) for v in variations))
    return [source.get(v, 0) / total if total > 0 else 0.0 for v in variations]


def split_test(rows: Mapping[str, Mapping[str, int]], variations: Sequence[str], count: str,
               weights: Mapping[str, float] | None, *, min_units: float, threshold: float,
               assigned: str = "assigned_units") -> tuple[list[int], list[float], SrmTest]:
    """The per-cohort SRM test of the alerts and ``diagnose``: the ``count`` of each variation's
    row (0 for a variation without a row) against the configured weights, else the cohort's own
    assigned split. Returns the counts, the expected shares and the test.

    >>> rows = {"a": {"assigned_units": 500, "valid": 480}, "b": {"assigned_units": 500, "valid": 300}}
    >>> units, shares, test = split_test(rows, ["a", "b"], "valid", None, min_units=8, threshold=0.001)
    >>> units, shares, test.status
    ([480, 300], [0.5, 0.5], 'srm')
    """
    units = [rows[v][count] if v in rows else 0 for v in variations]
    shares = expected_shares(variations, weights, {v: rows[v][assigned] for v in rows})
    return units, shares, chi_square_test(units, shares, min_units=min_units, threshold=threshold)


# -- a share of few units ---------------------------------------------------------------------------

def share_lower_bound(affected: int, units: int, confidence: float = 0.95) -> float:
    """The one-sided lower confidence bound of a share (Clopper-Pearson): the smallest true share
    under which ``affected`` of ``units`` or more would still turn up with probability ``1 -
    confidence``. A share of few units is told from chance by it: 9 of 9 units is at least 71.7%,
    3 of 270 at least 0.30%.

    >>> round(share_lower_bound(9, 9), 4), round(share_lower_bound(3, 270), 4), share_lower_bound(0, 5)
    (0.7169, 0.003, 0.0)
    """
    if affected <= 0 or units <= 0:
        return 0.0
    alpha = 1.0 - confidence
    if affected >= units:
        return alpha ** (1.0 / units)

    def at_least(share: float) -> float:  # P(X >= affected) for X ~ Binomial(units, share)
        log_share, log_rest = math.log(share), math.log1p(-share)
        below = sum(math.exp(math.lgamma(units + 1) - math.lgamma(i + 1) - math.lgamma(units - i + 1)
                             + i * log_share + (units - i) * log_rest) for i in range(affected))
        return 1.0 - below

    low, high = 0.0, affected / units
    for _ in range(60):
        middle = (low + high) / 2
        if middle > 0 and at_least(middle) >= alpha:
            high = middle
        else:
            low = middle
    return low


# -- multiplicity -------------------------------------------------------------------------------

def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None): the i-th smallest of m p-values is
    multiplied by ``m - i + 1``, made monotone and capped at 1. Comparing an adjusted p-value
    with the threshold controls the chance of any false alarm among the m tests.

    >>> round(holm([0.0009] + [0.5] * 29)[0], 6)
    0.027
    >>> [None if p is None else round(p, 6) for p in holm([0.01, 0.04, None, 0.03])]
    [0.03, 0.06, None, 0.06]
    """
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def p_value_strength(p_value: float | None, threshold: float) -> float:
    """How far a (corrected) p-value is beyond its threshold, in allowed changes: 1 at the
    threshold, one more per factor of ten below it, 0 when it is not below it.

    >>> p_value_strength(0.001, 0.001), p_value_strength(1e-6, 0.001), p_value_strength(0.02, 0.001)
    (1.0, 4.0, 0.0)
    >>> p_value_strength(0.0, 0.001)
    inf
    """
    if p_value is None or p_value > threshold or threshold <= 0:
        return 0.0
    if p_value <= 0:
        return math.inf
    return 1.0 + math.log10(threshold / p_value)


# -- cohort totals ------------------------------------------------------------------------------

def cohort_totals(rows: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Hashable],
                  counts: Sequence[str], flags: Sequence[str] = (),
                  variation: str = "assigned_variation_id") -> dict[Any, dict]:
    """``key(row)`` -> the ``counts`` of its rows (one per variation) summed, the ``flags`` of
    its last row, and ``variations``: variation -> row.

    >>> rows = [{"date": 1, "assigned_variation_id": "a", "n": 2, "done": True},
    ...         {"date": 1, "assigned_variation_id": "b", "n": 3, "done": True}]
    >>> t = cohort_totals(rows, lambda r: r["date"], ["n"], ["done"])[1]
    >>> t["n"], t["done"], sorted(t["variations"])
    (5, True, ['a', 'b'])
    """
    totals: dict[Any, dict] = {}
    for row in rows:
        c = totals.setdefault(key(row), {name: 0 for name in counts} | {"variations": {}})
        for name in counts:
            c[name] += row[name]
        for name in flags:
            c[name] = row[name]
        c["variations"][row[variation]] = row
    return totals
