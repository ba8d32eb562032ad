"""What every runbook step shares: the diagnosis context, the cohort series and the check result.

The five steps live in :mod:`.steps` (``event_name``, ``ingestion``, ``statuses``,
``raw_vs_deduped``, ``assignments``), each as named functions that gather a series, judge it
against the experiment's own reference days (:mod:`.stats`) and make the finding, named after its
likely cause. Thresholds that the alerts already have are the alerts' variables; the others are
the constants of each step, documented in docs/diagnose.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ...core.stats import Point
from .findings import ABNORMAL, NOT_JUDGED, OK, CheckResult, Finding
from .stats import Judged, Window, judge_rates

if TYPE_CHECKING:  # pragma: no cover
    from ...settings.config import Variables
    from .data import Observations


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


def judged_rows(judged: list[Judged] | None) -> list[dict]:
    """A judged series as JSON-ready rows (date, value, size, baseline, threshold, is_abnormal)."""
    return [{"date": j.date, "value": j.value, "size": j.size, "baseline": j.baseline, "threshold": j.threshold,
             "is_abnormal": j.flagged} for j in judged or []]


def result(name: str, findings: list[Finding], ok_summary: str, notes: list[str], data: dict,
           not_judged: str | None = None) -> CheckResult:
    """A check's result: ``abnormal`` with the findings' summaries (causes before symptoms); else
    ``not_judged`` with ``not_judged`` (why nothing could be judged) when it is given; else ``ok``
    with ``ok_summary``. The status never contradicts the summary.

    >>> result("ingestion", [], "no missing day", [], {}).status
    'ok'
    >>> result("ingestion", [], "no missing day", [], {}, not_judged="too few days to judge").status
    'not_judged'
    >>> result("ingestion", [Finding("missing_partition", "ingestion", "no events on 2026-01-05")], "", [], {}).summary
    'no events on 2026-01-05'
    """
    if findings:
        real = [f for f in findings if not f.symptom]
        return CheckResult(name, ABNORMAL, "; ".join(f.summary for f in (real or findings)), findings, notes, data)
    if not_judged is not None:
        return CheckResult(name, NOT_JUDGED, not_judged, [], notes, data)
    return CheckResult(name, OK, ok_summary, [], notes, data)


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
