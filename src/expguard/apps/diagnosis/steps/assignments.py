"""Step 5, assignments: assigned units per cohort and per variation, the assigned split against the
expected one, each variation's exposure rate (one variation losing its exposures), and the SRM
checks.

Where a p-value is compared with ``exp_srm_p_value_threshold`` cohort by cohort, the p-values
of the cohorts tested are first corrected for multiplicity (Holm, :func:`expguard.core.stats.holm`):
among thirty cohorts, one with p = 0.0009 is what chance gives.
"""

from __future__ import annotations

import datetime as dt
from statistics import median

from ....core.fmt import count, percent, p_value
from ....core.stats import Point, chi_square_test, expected_shares, holm, p_value_strength, split_test
from ....settings.config import parse_srm_weights
from ..checks import Context, judged_rows, result
from ..findings import ABNORMAL, CheckResult, Finding
from ..stats import Judged, focus_run, judge_counts, judge_rates, peak

ASSIGNMENT_MIN_CHANGE = 0.25   # smallest relative change of assigned units a day
VARIATION_MIN_UNITS = 50       # a variation's cohort is judged when it has this many assigned units


def volume_shift(ctx: Context, cohort_days: list[dt.date], ref_days: list[dt.date],
                 assigned: list[Judged] | None) -> Finding | None:
    """Assigned units per cohort far from their usual count, with the exposed units beside them."""
    run = focus_run(assigned, ctx.cohorts)
    if not run:
        return None
    exposed = {d: ctx.totals[d]["valid_exposed_within_horizon_units"] for d in cohort_days}
    top = peak(run)
    exposed_before = median([exposed[d] for d in ref_days] or [0])
    direction = "rose" if top.value > top.baseline else "fell"
    summary = (f"assigned units {direction} to {count(top.value)} on {top.date} from {count(top.baseline)} a day "
               f"({(top.value / top.baseline - 1) * 100:+.0f}%)" if top.baseline else
               f"assigned units {direction} to {count(top.value)} on {top.date}")
    evidence = [f"validly exposed within the horizon: {count(exposed.get(top.date))} units that cohort "
                f"(usually {count(exposed_before)})"]
    return Finding("assignment_volume_shift", "assignments", summary, [j.date for j in run], run[0].date,
                   top.strength, evidence,
                   {"assigned_units": int(top.value), "assigned_units_before": top.baseline,
                    "exposed_units": exposed.get(top.date), "exposed_units_before": exposed_before,
                    "peak_date": top.date})


def split_rows(ctx: Context, cohort_days: list[dt.date], variations: list[str], shares: list[float]) -> list[dict]:
    """The assigned split of each cohort against the expected shares; the p-values Holm-corrected
    over the cohorts tested, and ``is_srm`` on the corrected one."""
    v = ctx.variables
    rows = []
    for d in cohort_days:
        units = [ctx.totals[d]["variations"].get(name, {}).get("assigned_units", 0) for name in variations]
        test = chi_square_test(units, shares, min_units=v.exp_srm_min_units, threshold=v.exp_srm_p_value_threshold)
        rows.append({"date": d, "assigned_units": dict(zip(variations, units)), "p_value": test.p_value})
    for row, adjusted in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_value_adjusted"] = adjusted
        row["is_srm"] = adjusted is not None and adjusted < v.exp_srm_p_value_threshold
    return rows


def split_finding(ctx: Context, rows: list[dict], shares: list[float], findings: list[Finding]) -> None:
    """A moved split in the days under diagnosis: its own finding, or evidence of the volume shift."""
    bad = [r for r in rows if r["is_srm"] and ctx.cohorts.focus(r["date"])]
    if not bad or sum(shares) <= 0:
        return
    worst = min(bad, key=lambda r: r["p_value"])
    total = sum(worst["assigned_units"].values())
    split = ", ".join(f"{v} {percent(u / total)} (expected {percent(s)})"
                      for (v, u), s in zip(worst["assigned_units"].items(), shares))
    text = (f"the assigned split moved on {worst['date']}: {split}, p = {p_value(worst['p_value'])} "
            f"({p_value(worst['p_value_adjusted'])} corrected for {len([r for r in rows if r['p_value'] is not None])} cohorts)")
    shift = next((f for f in findings if f.cause == "assignment_volume_shift"), None)
    if shift is None:
        strength = p_value_strength(worst["p_value_adjusted"], ctx.variables.exp_srm_p_value_threshold)
        findings.append(Finding("assignment_volume_shift", "assignments", text, [r["date"] for r in bad],
                                bad[0]["date"], strength, [], {"split": worst}))
    else:
        shift.evidence.append(text)


def variation_rates(ctx: Context, variations: list[str]) -> tuple[dict[str, list[dict]], list[tuple[str, list[Judged]]]]:
    """Each variation's valid exposure rate within the horizon per comparable cohort, and the
    variations whose rate dropped in the days under diagnosis (with their run)."""
    per_variation, dropped = {}, []
    for v in variations:
        points = []
        for d in sorted(ctx.totals):
            row = ctx.totals[d]["variations"].get(v)
            if row and ctx.totals[d]["is_horizon_elapsed"] and row["assigned_units"] >= VARIATION_MIN_UNITS:
                points.append(Point(d, row["valid_exposed_within_horizon_units"] / row["assigned_units"],
                                    row["assigned_units"]))
        judged = judge_rates(points, ctx.cohorts, -1, ctx.variables.exp_alert_min_exposure_rate_drop, ctx.variables)
        per_variation[v] = judged_rows(judged)
        if run := focus_run(judged, ctx.cohorts):
            dropped.append((v, run))
    return per_variation, dropped


def exposure_split_p(ctx: Context, variations: list[str], weights: dict | None) -> dict[dt.date, float | None]:
    """Cohort -> the Holm-corrected p-value of its valid exposures within the horizon split unlike
    its assignments (the alerts' per-cohort SRM test), over the scanned cohorts."""
    v = ctx.variables
    days = sorted(d for d in ctx.totals if ctx.cohorts.scanned(d))
    raw = [split_test(ctx.totals[d]["variations"], variations, "valid_exposed_within_horizon_units", weights,
                      min_units=v.exp_srm_min_units, threshold=v.exp_srm_p_value_threshold)[2].p_value for d in days]
    return dict(zip(days, holm(raw)))


def status_shares(ctx: Context, variation: str, day: dt.date) -> tuple[float, float]:
    """The variation's share of units that saw another variation, and of units not exposed."""
    row = ctx.totals[day]["variations"].get(variation)
    if not row or not row["assigned_units"]:
        return 0.0, 0.0
    wrong = row["variation_mismatch_units"] + row["multi_variation_exposure_units"]
    return wrong / row["assigned_units"], row["no_exposure_units"] / row["assigned_units"]


def misdirected(ctx: Context, variation: str, day: dt.date, ref_days: list[dt.date]) -> bool:
    """Whether the variation's units lost their valid exposure to another variation (a mismatch
    or a leak, named by the status check) rather than lost it outright."""
    before = [status_shares(ctx, variation, d) for d in ref_days]
    if not before:
        return False
    wrong, none = status_shares(ctx, variation, day)
    return wrong - median(b[0] for b in before) > none - median(b[1] for b in before)


def lost_variation(ctx: Context, variations: list[str], per_variation: dict[str, list[dict]],
                   lost: list[tuple[str, list[Judged]]], split_p: dict[dt.date, float | None],
                   srm_alerts: list[dict], first_stage: str | None) -> Finding:
    """One variation's exposure rate fell while the others held, and its exposures split unlike its
    assignments."""
    v, run = max(lost, key=lambda item: peak(item[1]).strength)
    top = peak(run)
    others = [f"{o}: {percent(rate_on(per_variation[o], top.date))}" for o in variations if o != v]
    summary = (f"variation `{v}`: valid exposure rate within the horizon fell to {percent(top.value)} on cohort {top.date} "
               f"(baseline {percent(top.baseline)}) while the others held ({', '.join(others)})")
    evidence = [a["message"] for a in srm_alerts[-1:]]
    if first_stage:
        evidence.append(f"fct_experiment_exposure_srm: first stage with an SRM: {first_stage}")
    best_p = min((p for d, p in split_p.items() if p is not None and d in {j.date for j in run}), default=None)
    strength = max(top.strength, p_value_strength(best_p, ctx.variables.exp_srm_p_value_threshold))
    return Finding("variation_exposures_lost", "assignments", summary, [j.date for j in run], run[0].date,
                   strength, evidence,
                   {"variation_id": v, "exposure_rate": top.value, "exposure_rate_before": top.baseline,
                    "peak_date": top.date, "srm_alert_dates": [a["date"] for a in srm_alerts],
                    "first_srm_stage": first_stage})


def srm_only(ctx: Context, srm_alerts: list[dict], first_stage: str, tested: int) -> Finding | None:
    """SRM alerts at an exposure stage with no variation's rate visibly down: the alerts' own
    p-values, Bonferroni-corrected over the ``tested`` cohorts."""
    best = min(a["observed"] for a in srm_alerts)
    strength = p_value_strength(min(1.0, best * max(tested, 1)), ctx.variables.exp_srm_p_value_threshold)
    if strength <= 0:
        return None
    return Finding("variation_exposures_lost", "assignments", srm_alerts[-1]["message"],
                   [a["date"] for a in srm_alerts], srm_alerts[0]["date"], strength,
                   [f"fct_experiment_exposure_srm: first stage with an SRM: {first_stage}"],
                   {"srm_alert_dates": [a["date"] for a in srm_alerts], "first_srm_stage": first_stage})


def rate_on(rows: list[dict], day: dt.date) -> float | None:
    return next((r["value"] for r in rows if r["date"] == day), None)


def check_assignment_volume(ctx: Context) -> CheckResult:
    """The assignment step (not the input contract ``inputs.contracts.check_assignments``)."""
    variables, totals = ctx.variables, ctx.totals
    notes: list[str] = []
    cohort_days = sorted(d for d in totals if ctx.cohorts.scanned(d))
    ref_days = [d for d in cohort_days if ctx.cohorts.reference(d)]
    assigned = judge_counts([(d, totals[d]["assigned_units"]) for d in cohort_days], ctx.cohorts, 0,
                            ASSIGNMENT_MIN_CHANGE, variables)
    shift = volume_shift(ctx, cohort_days, ref_days, assigned)
    findings = [shift] if shift else []
    # the assigned split, cohort by cohort, against the weights (else the reference split)
    weights = parse_srm_weights("exp_srm_expected_weights", variables.exp_srm_expected_weights).get(ctx.obs.experiment_id)
    variations = sorted({v for d in totals for v in totals[d]["variations"]} | set(weights or {}))
    ref_split = {v: sum(totals[d]["variations"].get(v, {}).get("assigned_units", 0) for d in ref_days) for v in variations}
    shares = expected_shares(variations, weights, ref_split)
    splits = split_rows(ctx, cohort_days, variations, shares)
    split_finding(ctx, splits, shares, findings)
    # each variation's exposure rate: a drop counts only on cohorts whose valid exposures split
    # unlike their assignments, so that noise between the variations of a drop that hits them all
    # is not taken for one variation's loss
    per_variation, dropped = variation_rates(ctx, variations)
    split_p = exposure_split_p(ctx, variations, weights)
    threshold = variables.exp_srm_p_value_threshold
    dropped = [(v, run) for v, run in dropped
               if any(split_p.get(j.date) is not None and split_p[j.date] < threshold for j in run)]
    srm_alerts = [a for a in ctx.obs.alerts if a["alert_type"] == "srm" and ctx.cohorts.focus(a["date"])]
    first_stage = ctx.obs.srm[0]["first_srm_stage"] if ctx.obs.srm else None
    lost = [(v, run) for v, run in dropped if not misdirected(ctx, v, peak(run).date, ref_days)]
    for v, run in dropped:
        if (v, run) not in lost:
            notes.append(f"variation `{v}`'s valid exposures fell on cohort {peak(run).date} because its units saw "
                         "another variation (see the status spikes), not because its exposures were lost")
    if lost and len(dropped) < len(variations):
        findings.append(lost_variation(ctx, variations, per_variation, lost, split_p, srm_alerts, first_stage))
    elif srm_alerts and not dropped and first_stage in ("logged", "exposed", "valid_exposed"):
        only = srm_only(ctx, srm_alerts, first_stage, len(cohort_days))
        if only is not None:
            findings.append(only)
    if assigned is None:
        notes.append("too few cohorts before the episode to judge the assignment volume")
    srm_rows = [r for r in ctx.obs.srm if r["variation_id"] == (variations[0] if variations else None)]
    daily = [{"date": d, "assigned_units": totals[d]["assigned_units"],
              "valid_exposed_within_horizon_units": totals[d]["valid_exposed_within_horizon_units"],
              "assigned_units_by_variation": {v: totals[d]["variations"].get(v, {}).get("assigned_units", 0)
                                              for v in variations}} for d in cohort_days]
    ok = f"assigned units steady ({count(assigned[0].baseline)} a day), split as expected, no SRM" if assigned else ""
    data = {
        "daily": daily, "split": splits, "expected_shares": dict(zip(variations, shares)),
        "exposure_rate_by_variation": per_variation,
        "srm_stages": [{"stage": r["stage"], "p_value": r["p_value"], "srm_status": r["srm_status"]}
                       for r in sorted(srm_rows, key=lambda r: r["stage_order"])],
        "first_srm_stage": first_stage, "srm_alert_dates": [a["date"] for a in srm_alerts]}
    if first_stage and not findings:
        # The run's SRM model finds a mismatch that no cohort of these days explains: never "ok".
        return CheckResult("assignments", ABNORMAL, f"fct_experiment_exposure_srm finds a sample-ratio mismatch from "
                           f"the {first_stage} stage on, but no cohort of these days explains it", [], notes, data)
    return result("assignments", findings, ok, notes, data,
                  None if assigned else "not judged: too few cohorts before the episode")
