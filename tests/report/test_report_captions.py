"""The captions, on small hand-made experiments: each test states what a person should read."""

from __future__ import annotations

import datetime as dt
import doctest

import pytest

from expguard.models.verdict import verdicts

from expguard.apps.report import captions, summary
from expguard.apps.report.captions import find_shift, pct
from expguard.apps.report.summary import ExperimentData
from expguard.settings.config import Variables

START = dt.date(2026, 3, 1)
STATUSES = ("no_exposure_units", "multi_variation_exposure_units", "variation_mismatch_units",
            "pre_assignment_exposure_units", "exposure_outside_window_units")


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def cohort_row(date: dt.date, assigned: int, valid: int, *, status: str = "no_exposure_units", mismatched: int = 0,
               multi: int = 0, complete: bool = True, variation: str | None = None, duplicates: int = 0,
               unassigned: int = 0) -> dict:
    """One cohort (or one variation of it): ``valid`` valid units, ``multi`` multi-variation ones,
    the rest of the assigned units in ``status``."""
    counts = {name: 0 for name in STATUSES}
    counts["multi_variation_exposure_units"] = multi
    counts[status] += assigned - valid - multi
    exposed = assigned - counts["no_exposure_units"]
    row = {
        "experiment_id": "exp", "date": date, "assigned_units": assigned, "exposed_units": exposed,
        "valid_exposed_units": valid, **counts, "mismatched_units": mismatched + counts["variation_mismatch_units"],
        "exposure_events": exposed + duplicates, "duplicate_exposure_events": duplicates,
        "unassigned_exposed_units": unassigned,
        "exposure_rate": valid / assigned if assigned else None,
        "mismatch_rate": (mismatched + counts["variation_mismatch_units"]) / exposed if exposed else None,
        "multi_variation_rate": multi / exposed if exposed else None,
        "is_window_complete": complete, "is_horizon_complete": True,
    }
    if variation is not None:
        row["assigned_variation_id"] = variation
    return row


def experiment(valid_rates: dict[str, list[float]], units: int = 1000, incomplete: int = 0,
               status: str = "no_exposure_units", **extra) -> ExperimentData:
    """An experiment with ``units`` assigned units per variation and day, and the given valid
    share per variation and day; the other units in ``status``. The last ``incomplete`` cohorts
    are still inside their window."""
    days = len(next(iter(valid_rates.values())))
    by_variation, daily = [], []
    for i in range(days):
        complete = i < days - incomplete
        rows = [cohort_row(day(i), units, round(rates[i] * units), status=status, complete=complete, variation=v)
                for v, rates in sorted(valid_rates.items())]
        by_variation += rows
        total = {k: sum(r[k] for r in rows) for k in ("assigned_units", "valid_exposed_units")}
        daily.append(cohort_row(day(i), total["assigned_units"], total["valid_exposed_units"], status=status,
                                complete=complete))
    return ExperimentData("exp", daily=daily, by_variation=by_variation, **extra)


def test_module_examples():
    for module in (captions, summary):
        assert doctest.testmod(module).failed == 0


# -- find_shift -------------------------------------------------------------------------------

def points(values, size=2000):
    return [(day(i), v, size) for i, v in enumerate(values)]


# The alerts' rule with 5 baseline points (the default is 7): the short series below need fewer.
FIVE_POINTS = Variables().with_values({"exp_alert_min_baseline_points": 5})


def test_find_shift_finds_the_first_day_of_a_lasting_drop():
    shift = find_shift(points([0.92, 0.91, 0.93, 0.92, 0.92, 0.91, 0.41, 0.40, 0.42]), -1, 0.05, variables=FIVE_POINTS)
    assert (shift.date, shift.before, shift.value) == (day(6), 0.92, 0.41)
    assert (shift.last_date, shift.recovered_date) == (day(8), None)


def test_find_shift_follows_a_dip_until_it_recovers():
    shift = find_shift(points([0.92] * 8 + [0.50, 0.52, 0.91, 0.92]), -1, 0.05)
    assert (shift.date, shift.last_date, shift.recovered_date) == (day(8), day(9), day(10))


def test_find_shift_ignores_noise_within_the_binomial_error():
    # 2 points on 100 units is well within sampling noise (3 standard errors is about 8 points).
    assert find_shift(points([0.90, 0.92, 0.89, 0.91, 0.90, 0.86, 0.92, 0.88], size=100), -1, 0.01) is None


def test_find_shift_ignores_changes_smaller_than_the_minimum():
    assert find_shift(points([0.920, 0.921, 0.920, 0.921, 0.920, 0.890], size=10**6), -1, 0.05) is None


def test_find_shift_leaves_out_small_samples_and_missing_rates():
    values = [(day(i), 0.9, 1000) for i in range(6)] + [(day(6), 0.0, 10), (day(7), None, 0)]
    assert find_shift(values, -1, 0.05) is None


def test_find_shift_needs_enough_points_before():
    assert find_shift(points([0.9, 0.9, 0.9, 0.1]), -1, 0.05) is None


def test_find_shift_looks_the_given_way():
    rising = points([0.01] * 6 + [0.20])
    assert find_shift(rising, -1, 0.01) is None
    assert find_shift(rising, +1, 0.01, variables=FIVE_POINTS).value == 0.20


def test_find_shift_uses_the_runs_alert_rule():
    """The captions judge with the alerts' rule and settings: exp_alert_min_baseline_points
    points before a shift (7 by default), exp_alert_mad_k robust standard deviations."""
    drop = points([0.92, 0.91, 0.93, 0.92, 0.92, 0.91, 0.41, 0.40, 0.42])
    assert find_shift(drop, -1, 0.05).date == day(7)  # the 8th point is the first with 7 before it
    assert find_shift(drop, -1, 0.05, variables=FIVE_POINTS).date == day(6)
    noisy = points([0.90, 0.92, 0.89, 0.91, 0.90, 0.92, 0.91, 0.88, 0.84, 0.83], size=10**5)
    assert find_shift(noisy, -1, 0.01).date == day(8)
    wide = Variables().with_values({"exp_alert_mad_k": 6.0})
    assert find_shift(noisy, -1, 0.01, variables=wide) is None


# -- exposure rate ----------------------------------------------------------------------------

def test_exposure_rate_fall_names_the_day_the_rates_and_the_units_without_exposure():
    rates = [0.92] * 10 + [0.41] * 4
    e = experiment({"control": rates, "treatment": rates}, units=1000, incomplete=0)
    text = captions.exposure_rate_caption(e)
    lost = 4 * 2 * (1000 - 410)
    assert text.startswith(f"Exposure rate fell from 92% to 41% on 2026-03-11 and stayed low through 2026-03-14, "
                           f"the latest cohort old enough to compare; {lost:,} units of those cohorts had no exposure.")
    assert "Only" not in text  # both variations fell


def test_exposure_rate_fall_says_where_the_units_went():
    rates = [0.92] * 8 + [0.60] * 2
    text = captions.exposure_rate_caption(experiment({"a": rates, "b": rates}, status="variation_mismatch_units"))
    assert "saw only another variation" in text


def test_exposure_rate_names_the_one_variation_that_fell():
    e = experiment({"control": [0.92] * 12, "treatment": [0.92] * 8 + [0.0] * 4})
    text = captions.exposure_rate_caption(e)
    assert "Only treatment (from 92% to 0% on 2026-03-09) fell; the other variations held." in text


def test_exposure_rate_that_recovers_says_when():
    rates = [0.92] * 8 + [0.50] + [0.92] * 3
    text = captions.exposure_rate_caption(experiment({"a": rates, "b": rates}))
    assert "fell from 92% to 50% on 2026-03-09, for that cohort only (back on 2026-03-10)" in text


def test_steady_exposure_rate_gives_the_level_and_range():
    e = experiment({"a": [0.90, 0.92, 0.91, 0.93, 0.92, 0.91, 0.90, 0.92], "b": [0.92] * 8})
    text = captions.exposure_rate_caption(e)
    assert text.startswith("Exposure rate shows no shift beyond chance: 92% for the median cohort (91% to 92%).")


def test_small_cohorts_are_called_too_small_to_tell():
    e = experiment({"a": [0.9, 0.5, 1.0, 0.6, 0.9, 0.2, 0.8], "b": [0.9] * 7}, units=10)
    assert "too small to tell a shift from chance" in captions.exposure_rate_caption(e)


def test_incomplete_cohorts_are_named():
    e = experiment({"a": [0.92] * 10}, incomplete=3)
    text = captions.exposure_rate_caption(e)
    assert "The last 3 cohorts (from 2026-03-08, dashed line, hollow markers) are still inside their exposure window" in text
    all_open = captions.exposure_rate_caption(experiment({"a": [0.92] * 4}, incomplete=4))
    assert "No cohort has had its full exposure window yet" in all_open


def test_exposure_rate_caption_counts_the_alerts_shown_on_the_chart():
    alerts = [{"date": day(9), "alert_type": "exposure_rate_drop", "severity": "critical"},
              {"date": day(10), "alert_type": "exposure_rate_drop", "severity": "warning"},
              {"date": day(10), "alert_type": "mismatch_rate_rise", "severity": "warning"}]
    e = experiment({"a": [0.92] * 9 + [0.3] * 2}, alerts=alerts)
    assert captions.exposure_rate_caption(e).endswith(
        "2 alerts marked (critical at worst); the first on 2026-03-10: exposure-rate drop.")


def test_no_assigned_units():
    e = ExperimentData("exp", daily=[cohort_row(day(0), 0, 0) | {"exposure_rate": None}])
    assert captions.exposure_rate_caption(e).startswith("No assigned units")
    assert captions.status_caption(e).startswith("No assigned units")
    assert captions.funnel_caption(e).startswith("No assigned units")


# -- status mix, mismatch and multi-variation rates -------------------------------------------

def test_status_caption_gives_the_mix_and_the_status_that_rose():
    rates = [0.92] * 8 + [0.62] * 2
    text = captions.status_caption(experiment({"a": rates, "b": rates}))
    assert text.startswith("Over all cohorts 86% of 20,000 units were validly exposed; the rest: no exposure 14%.")
    assert "The share of units that had no exposure rose from 8% to 38% on 2026-03-09" in text


def test_status_caption_of_a_stable_mix():
    text = captions.status_caption(experiment({"a": [0.92] * 8}))
    assert "The mix stays the same from cohort to cohort." in text


def test_rates_caption_names_a_mismatch_rise():
    daily = [cohort_row(day(i), 2000, 1800, mismatched=4 if i < 8 else 300, status="no_exposure_units") for i in range(10)]
    by_variation = [r | {"assigned_variation_id": "a"} for r in daily]
    text = captions.rates_caption(ExperimentData("exp", daily=daily, by_variation=by_variation))
    assert text.startswith("Mismatch rate rose from 0.2% to 17% of exposed units on 2026-03-09")
    assert "No other shift beyond chance: multi-variation rate 0% of exposed units in the median cohort." in text


def test_rates_caption_when_nothing_moves():
    text = captions.rates_caption(experiment({"a": [0.92] * 8}))
    assert text == "No shift beyond chance: mismatch rate 0% and multi-variation rate 0% of exposed units in the median cohort."


# -- funnel -----------------------------------------------------------------------------------

def test_funnel_caption_names_the_lagging_variation():
    e = experiment({"control": [0.91] * 5, "treatment": [0.45] * 5})
    text = captions.funnel_caption(e)
    assert text.startswith("Of 10,000 assigned units, 68% were exposed and 68% validly exposed.")
    assert "Most of the loss is units never exposed (3,200 units)." in text
    assert "treatment lags: 45% of its units validly exposed, against 91% for the other variation." in text


def test_funnel_caption_when_the_variations_convert_alike():
    text = captions.funnel_caption(experiment({"a": [0.91] * 5, "b": [0.90] * 5, "c": [0.91] * 5},
                                              status="exposure_outside_window_units"))
    assert "Most of the loss is exposed units that do not count" in text
    assert text.endswith("The variations convert alike (90% to 91% validly exposed).")


# -- events per day ---------------------------------------------------------------------------

def events(raw, rejected, deduped, unassigned=None):
    return [{"exposure_date": day(i), "raw_events": r, "rejected_events": j, "deduped_exposures": d,
             "unassigned_exposed_units": (unassigned or [0] * len(raw))[i]}
            for i, (r, j, d) in enumerate(zip(raw, rejected, deduped))]


def test_events_caption_totals_and_a_duplicate_jump():
    raw = [1050] * 8 + [2000] * 3 + [2000]
    e = ExperimentData("exp", events=events(raw, [5] * 12, [1000] * 12))
    text = captions.events_caption(e)
    total = sum(raw)
    repeats = total - 60 - 12000
    assert text.startswith(f"{total:,} exposure events: {repeats:,} repeats collapsed into a unit's first exposure "
                           f"({pct(repeats / total)}), 60 rejected as malformed ({pct(60 / total)}).")
    assert "Repeated events jumped from 4.3% to 50% of the day's usable events on 2026-03-09" in text


def test_events_caption_rejected_jump_and_undated_events():
    e = ExperimentData("exp", events=events([1000] * 10, [5] * 7 + [400] * 3, [950] * 10), undated_rejected_events=7)
    text = captions.events_caption(e)
    assert "Rejected events jumped from 0.5% to 40% of the day's events on 2026-03-08 and stayed high through " \
           "2026-03-09, the latest full day." in text
    assert "7 rejected events without a timestamp are counted but not drawn." in text


def test_events_caption_leaves_out_the_latest_day():
    # The latest day may not be over: a jump on it alone is not reported.
    e = ExperimentData("exp", events=events([1000] * 9, [5] * 8 + [600], [950] * 9))
    assert "No day stands out." in captions.events_caption(e)


def test_events_caption_unassigned_units_per_assigned_unit():
    daily = [cohort_row(day(i), 1000, 900) for i in range(10)]
    e = ExperimentData("exp", daily=daily, events=events([1000] * 10, [0] * 10, [960] * 10, [10] * 7 + [300] * 3))
    assert "Units exposed without an assignment jumped from 1% to 30% of the day's assigned units on 2026-03-08" \
        in captions.events_caption(e)


# -- SRM --------------------------------------------------------------------------------------

def srm_rows(stage_status: dict[str, str], units: dict[str, dict[str, int]], p: float = 1e-12):
    rows = []
    for order, stage in enumerate(("assigned", "logged", "exposed", "valid_exposed"), start=1):
        total = sum(units[stage].values())
        for variation, n in sorted(units[stage].items()):
            status = stage_status.get(stage, "ok")
            rows.append({"experiment_id": "exp", "stage": stage, "stage_order": order, "variation_id": variation,
                         "units": n, "expected_share": 0.5, "observed_share": n / total, "srm_status": status,
                         "is_srm": status == "srm", "p_value": p if status == "srm" else 0.5,
                         "first_srm_stage": None})
    return rows


def test_srm_caption_names_the_stage_and_the_variation_furthest_off():
    even = {"control": 1000, "treatment": 1000}
    units = {"assigned": even, "logged": even, "exposed": {"control": 900, "treatment": 500},
             "valid_exposed": {"control": 880, "treatment": 480}}
    e = ExperimentData("exp", srm=srm_rows({"assigned": "no_weights", "exposed": "srm", "valid_exposed": "srm"}, units))
    text = captions.srm_caption(e)
    assert text.startswith("The split breaks at the exposed stage (p = 1e-12): control has 64% of the exposed units "
                           "against 50% expected.")
    assert summary.srm_verdict(e.srm).label == "SRM at exposed"


def test_srm_caption_when_the_split_holds_or_cannot_be_tested():
    even = {"control": 1000, "treatment": 1000}
    units = dict.fromkeys(("assigned", "logged", "exposed", "valid_exposed"), even)
    ok = ExperimentData("exp", srm=srm_rows({"assigned": "no_weights"}, units))
    assert captions.srm_caption(ok).startswith("No sample-ratio mismatch at any tested stage (at valid exposed: p = 0.5)")
    few = ExperimentData("exp", srm=srm_rows(dict.fromkeys(units, "insufficient_units"), units))
    assert captions.srm_caption(few) == "No verdict: too few units per variation for the chi-square test."
    assert summary.srm_verdict(few.srm).label == "too few units"


# -- overview ---------------------------------------------------------------------------------

def check(experiment_id, check_name, status, detail="the numbers"):
    return {"experiment_id": experiment_id, "check_name": check_name, "status": status, "value": None,
            "warn_threshold": None, "fail_threshold": None, "units": 0, "detail": detail}


def test_overview_caption_counts_verdicts_and_says_where_to_look_first():
    healthy = experiment({"a": [0.9] * 3}, health=[check("exp", "sample_ratio", "pass"),
                                                   check("exp", "exposure_coverage", "pass")])
    failing = experiment({"a": [0.9] * 3}, health=[
        check("checkout", "sample_ratio", "fail", "sample-ratio mismatch at the exposed stage"),
        check("checkout", "freshness", "fail", "events stopped"), check("checkout", "open_alerts", "warn")])
    failing.experiment_id = "checkout"
    warning = experiment({"a": [0.9] * 3}, health=[check("search", "variation_mismatch", "warn"),
                                                   check("search", "sample_ratio", "pass")])
    warning.experiment_id = "search"
    stream = verdicts([check(None, "freshness", "warn", "the newest exposure event is 30.0 h old")])[None]
    text = captions.overview_caption([failing, warning, healthy], unattributed_events=42, unattributed_alerts=1,
                                     stream=stream)
    assert text == ("3 experiments: 1 fail, 1 warn, 1 pass. Look first at checkout (fails: exposure events lagging "
                    "assignments); search (warns: variation mismatch). The event stream as a whole warns on stale "
                    "exposure events: the newest exposure event is 30.0 h old. 42 exposure events had no "
                    "readable experiment id: rejected as malformed, they belong to no experiment below (1 alert about "
                    "them).")


def test_overview_caption_without_experiments_still_says_the_streams_verdict():
    # no experiment at all (no exposure event of the configured name, no assignment): the
    # report used to say only "No experiment in this run." while run and alerts failed.
    stream = verdicts([check(None, "exposure_events_present", "fail",
                             "no event named 'experiment_viewed' in the stream; names in the stream that look like "
                             "it: 'Experiment Viewed' (80 events)")])[None]
    text = captions.overview_caption([], stream=stream)
    assert text.startswith("No experiment in this run. The event stream as a whole fails on ")
    assert "'Experiment Viewed' (80 events)" in text
    healthy = verdicts([check(None, "freshness", "pass")])[None]
    assert captions.overview_caption([], stream=healthy) == "No experiment in this run."


def test_an_experiment_without_health_rows_is_not_called_healthy():
    assert experiment({"a": [0.9] * 3}).verdict.status == "not_enough_data"


@pytest.mark.parametrize("statuses, status, reason", [
    (["pass", "pass"], "pass", None),
    (["pass", "not_enough_data"], "pass", None),
    (["not_enough_data"], "not_enough_data", None),
    (["pass", "warn", "fail", "warn"], "fail", "c2"),
    (["warn", "pass", "warn"], "warn", "c0"),
])
def test_the_status_is_the_verdict_of_the_health_checks(statuses, status, reason):
    from expguard.core.constants import HEALTH_CHECKS

    names = {f"c{i}": HEALTH_CHECKS[i] for i in range(len(statuses))}
    e = experiment({"a": [0.9] * 3}, health=[check("exp", names[f"c{i}"], s) for i, s in enumerate(statuses)])
    row = summary.overview_row(e)
    assert row["status"] == status
    assert (row["reason"]["check_name"] if row["reason"] else None) == (names[reason] if reason else None)


def test_percentages_keep_small_shares_visible():
    assert [pct(v) for v in (0.92, 0.041, 0.0004, 0.0, 1.0, 0.996, None)] == \
        ["92%", "4.1%", "0.04%", "0%", "100%", "99.6%", "-"]


def test_find_shift_tells_the_ongoing_shift_before_an_earlier_blip():
    # (the blip has the 7 cohorts before it that the alerts' rule needs by default)
    values = [0.92] * 7 + [0.70] + [0.92] * 8 + [0.40] * 3
    shifts = captions.find_shifts(points(values), -1, 0.05)
    assert [(s.date, s.recovered_date) for s in shifts] == [(day(7), day(8)), (day(16), None)]
    assert find_shift(points(values), -1, 0.05).date == day(16)
    text = captions.exposure_rate_caption(experiment({"a": values, "b": values}))
    assert "fell from 92% to 40% on 2026-03-17" in text and "(also briefly on 2026-03-08)." in text


def test_find_shift_of_recovered_shifts_is_the_largest():
    values = [0.92] * 6 + [0.80] + [0.92] * 6 + [0.50] + [0.92] * 3
    assert find_shift(points(values), -1, 0.05).date == day(13)


def test_a_lone_point_just_past_the_line_is_not_a_shift():
    # Allowed change here is the 5-point minimum: 7 points once is chance; twice in a row, or 11 once, is not.
    base = [0.92] * 8
    assert find_shift(points(base + [0.85] + [0.92] * 3), -1, 0.05) is None
    assert find_shift(points(base + [0.85, 0.85] + [0.92] * 2), -1, 0.05).date == day(8)
    assert find_shift(points(base + [0.81] + [0.92] * 3), -1, 0.05).date == day(8)
