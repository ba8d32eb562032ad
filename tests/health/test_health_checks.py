"""Each health check at the boundaries of its thresholds: pass, warn, fail and not_enough_data.

The checks are pure functions of small per-experiment counts (the SQL models count), so these
tests feed them hand-made rows and the default variables, whose thresholds docs/monitoring.md
justifies: shares warn at 1% and fail at 5%, coverage warns below 50% and fails below 10%, a
share needs 10 units, SRM fails below p = 0.001 with a split off by 0.1 point, freshness warns
past 24 h and fails past 48 h.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from expguard.settings.config import Variables
from expguard.models.marts import fct_experiment_health as health
from expguard.models.marts.fct_experiment_health import (check_coverage, check_exposure_events_present, check_freshness, check_open_alerts,
                             check_rejected, check_sample_ratio, check_stream_freshness, share_check)

V = Variables()
T = dt.datetime(2026, 3, 1, 12)


@pytest.mark.parametrize(("numerator", "denominator", "status"), [
    (0, 100, "pass"), (99, 10_000, "pass"), (100, 10_000, "warn"),   # 0.99% passes, 1.00% warns
    (499, 10_000, "warn"), (500, 10_000, "fail"),                      # 4.99% warns, 5.00% fails
    (9, 9, "fail"),                                                    # 9 units, all affected: at least 71.7%
    (2, 2, "not_enough_data"),                                         # fewer than 3 affected: an anecdote
    (1, 9, "not_enough_data"),                                         # 9 units: too few to judge
    (10, 10, "fail"),                                                  # 10 units, 10 affected: judged
    (9, 10, "fail"),                                                   # 9 affected, but at least 60.6%
    (9, 100, "warn"),                                                  # 9%, at least 4.8%: beyond chance at 1%
    (5, 300, "not_enough_data"),                                       # 1.7%, at least 0.66%: chance
    (3, 270, "not_enough_data"),                                       # 1.1%: 3 units are chance in a small experiment
    (10, 999, "warn"),                                                 # 1.0%, 10 affected: GrowthBook's unhealthy
])
def test_share_check_boundaries(numerator, denominator, status):
    row = share_check("variation_mismatch", numerator, denominator, V.exp_health_mismatch_warn,
                      V.exp_health_mismatch_fail, V.exp_health_min_units, "saw another variation", "exposed units")
    assert row.status == status
    assert row.units == denominator
    assert f"{numerator:,} of {denominator:,}" in row.detail


def test_share_check_thresholds_are_the_variables():
    strict = Variables(exp_health_multiple_variations_warn=0.001, exp_health_multiple_variations_fail=0.002)
    row = share_check("multiple_variations", 20, 10_000, strict.exp_health_multiple_variations_warn,
                      strict.exp_health_multiple_variations_fail, 10, "saw several", "exposed units")
    assert (row.status, row.warn, row.fail) == ("fail", 0.001, 0.002)


def _cohort(assigned, no_exposure=0, pre=0, outside=0, complete=True, **extra):
    row = {name: 0 for name in health._DAILY_COUNTS}
    row.update(assigned_units=assigned, no_exposure_units=no_exposure, pre_assignment_exposure_units=pre,
               exposure_outside_window_units=outside, exposed_units=assigned - no_exposure,
               is_window_complete=complete, **extra)
    return row


@pytest.mark.parametrize(("no_exposure", "status"), [
    (500, "pass"),    # 50.0% covered: at the warn threshold, passes
    (501, "warn"),    # 49.9%
    (900, "warn"),    # 10.0%: at the fail threshold, warns
    (901, "fail"),    # 9.9%
    (1000, "fail"),   # nobody exposed
])
def test_coverage_boundaries_on_closed_cohorts(no_exposure, status):
    row = check_coverage([_cohort(1000, no_exposure=no_exposure)], V)
    assert row.status == status
    assert row.value == pytest.approx((1000 - no_exposure) / 1000)


def test_coverage_counts_units_exposed_only_outside_their_window_as_uncovered():
    row = check_coverage([_cohort(100, no_exposure=0, pre=30, outside=30)], V)
    assert (row.status, row.value) == ("warn", 0.4)


def test_coverage_while_windows_are_open():
    day1, day2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)
    # Open windows: a share already at the warn level passes (it can only rise) ...
    assert check_coverage([_cohort(100, no_exposure=40, complete=False, date=day1)], V).status == "pass"
    # ... the latest assignment day alone is not judged (its exposures may still follow) ...
    row = check_coverage([_cohort(100, no_exposure=100, complete=False, date=day1)], V)
    assert row.status == "not_enough_data" and "window has closed" in row.detail
    # ... the days before it warn below the fail level (a healthy experiment is exposed at or soon
    # after assignment) and are not judged between the two levels ...
    rows = [_cohort(100, no_exposure=95, complete=False, date=day1), _cohort(100, no_exposure=100, complete=False, date=day2)]
    row = check_coverage(rows, V)
    assert (row.status, row.value, row.units) == ("warn", 0.05, 100) and "can still rise" in row.detail
    rows[0] = _cohort(100, no_exposure=70, complete=False, date=day1)
    assert check_coverage(rows, V).status == "not_enough_data"
    # ... and closed cohorts are judged alone when there are enough of them.
    rows = [_cohort(100, no_exposure=95, date=day1), _cohort(100, no_exposure=0, complete=False, date=day2)]
    assert check_coverage(rows, V).status == "fail"
    assert check_coverage([_cohort(9, no_exposure=9, date=day1)], V).status == "not_enough_data"


def test_coverage_fails_when_no_assigned_unit_matches_the_exposure_events():
    """Exposure events carry the experiment's id but not one assigned unit has an exposure (the
    unit ids match no assignment): a failure even while every window is open, where the share
    would otherwise not be judged and the experiment pass."""
    day1 = dt.date(2026, 3, 1)
    cohorts = [_cohort(80, no_exposure=80, complete=False, date=day1)]
    row = check_coverage(cohorts, V, readable_events=80)
    assert (row.status, row.value, row.units) == ("fail", 0.0, 80)
    assert "match no assignment" in row.detail and "80 exposure events" in row.detail
    # from 3 assigned units and 3 readable events, as a share of few units is judged ...
    assert check_coverage([_cohort(5, no_exposure=5, complete=False, date=day1)], V, readable_events=5).status \
        == "fail"
    # ... fewer are not judged on this rule
    assert check_coverage(cohorts, V, readable_events=2).status == "not_enough_data"
    assert check_coverage([_cohort(2, no_exposure=2, complete=False, date=day1)], V, readable_events=80).status \
        == "not_enough_data"
    # one exposed unit is not "nothing matched"
    assert check_coverage([_cohort(80, no_exposure=79, complete=False, date=day1)], V,
                          readable_events=80).status == "not_enough_data"


def _facts(assigned=100, events=150, rejected=0, last_assigned=T, last_event=T, experiment_id="e"):
    return {"experiment_id": experiment_id, "assigned_units": assigned, "first_assigned_at": T - dt.timedelta(days=9),
            "last_assigned_at": last_assigned, "exposure_events": events, "rejected_exposure_events": rejected,
            "last_exposure_event_at": last_event}


def test_exposure_events_present():
    assert check_exposure_events_present(_facts(events=1), ["experiment_viewed"], "").status == "pass"
    row = check_exposure_events_present(_facts(events=0), ["experiment_viewed"], "; names that look like it: 'x'")
    assert row.status == "fail"
    assert "'experiment_viewed'" in row.detail and "100 units are assigned" in row.detail and "'x'" in row.detail


@pytest.mark.parametrize(("lag_hours", "status"), [(0, "pass"), (24, "warn"), (23.99, "pass"), (48, "fail"),
                                                   (47.9, "warn"), (-5, "pass")])
def test_freshness_boundaries(lag_hours, status):
    row = check_freshness(_facts(last_event=T - dt.timedelta(hours=lag_hours)), [], V)
    assert row.status == status
    assert row.value == pytest.approx(max(lag_hours, 0))


def test_freshness_not_enough_data_without_events():
    assert check_freshness(_facts(events=0, last_event=None), [], V).status == "not_enough_data"


def test_freshness_counts_trailing_dark_days():
    dark = [dt.date(2026, 2, 27), dt.date(2026, 2, 28), dt.date(2026, 3, 1)]
    row = check_freshness(_facts(), dark, V)   # newest event is recent: a trickle of old clients
    assert (row.status, row.value) == ("fail", 72.0)
    assert "last 3 days of assignment (since 2026-02-27," in row.detail


def test_dark_days_ignore_small_days_and_need_a_usual_level():
    days = {dt.date(2026, 1, d): 100 for d in range(1, 11)} | {dt.date(2026, 1, 11): 5}
    events = {dt.date(2026, 1, d): 120 for d in range(1, 9)}
    assert [d.day for d in health.dark_days(days, events, 10)] == [9, 10]   # day 11 has 5 units: not judged
    assert health.dark_days(days, {}, 10) == []                             # no events at all: another check
    half = {d: (60 if d.day % 2 else 120) for d in days}                    # noisy but never dark
    assert health.dark_days(days, half, 10) == []


@pytest.mark.parametrize(("age_hours", "status"), [(1, "pass"), (24, "warn"), (48, "fail")])
def test_stream_freshness_against_the_reference_time(age_hours, status):
    stream = _facts(experiment_id=None, last_event=T)
    row = check_stream_freshness(stream, T + dt.timedelta(hours=age_hours), V)
    assert row.status == status and "2026-03-01 12:00 UTC" in row.detail


@pytest.mark.parametrize(("rejected", "status"), [(0, "pass"), (9, "pass"), (10, "warn"), (50, "fail")])  # of 1,000
def test_rejected_exposure_events_boundaries(rejected, status):
    row = check_rejected(1000, rejected, [("missing_variation_id", rejected)] if rejected else [], V)
    assert row.status == status
    if rejected:
        assert f"missing_variation_id {rejected}" in row.detail


def test_stream_rejections_point_at_the_mapping():
    row = check_rejected(1000, 1000, [("missing_experiment_id", 1000)], V, stream=True)
    assert row.status == "fail" and "experiment_id mapping" in row.detail


def _srm(stage, p, status, shares, expected=(0.5, 0.5), units=1000, order=None):
    order = order or ("assigned", "logged", "exposed", "valid_exposed").index(stage) + 1
    return [{"experiment_id": "e", "stage": stage, "stage_order": order, "variation_id": v, "units": round(s * units),
             "observed_share": s, "expected_share": x, "stage_units": units, "p_value": p, "srm_status": status}
            for v, s, x in zip(("a", "b"), shares, expected)]


def test_sample_ratio_statuses():
    assert check_sample_ratio(_srm("exposed", 0.5, "ok", (0.5, 0.5)), V).status == "pass"
    fail = check_sample_ratio(_srm("logged", 1e-6, "srm", (0.45, 0.55)) + _srm("exposed", 1e-5, "srm", (0.46, 0.54)), V)
    assert fail.status == "fail" and "logged stage" in fail.detail and fail.value == 1e-6
    # p below 0.001 but every share within 0.1 point of its expectation: a warning (Statsig's floor).
    tiny = check_sample_ratio(_srm("exposed", 1e-4, "srm", (0.4995, 0.5005), units=10_000_000), V)
    assert tiny.status == "warn"
    # Between the fail and the warn level (the warn level raised to Statsig's 0.01): warn.
    statsig = Variables(exp_health_srm_warn_p_value=0.01)
    assert check_sample_ratio(_srm("exposed", 0.005, "ok", (0.48, 0.52)), statsig).status == "warn"
    assert check_sample_ratio(_srm("exposed", 0.005, "ok", (0.48, 0.52)), V).status == "pass"
    assert check_sample_ratio(_srm("exposed", None, "insufficient_units", (0.5, 0.5)), V).status == "not_enough_data"
    assert check_sample_ratio([], V).status == "not_enough_data"


def _alert(day, severity="warning", alert_type="exposure_rate_drop"):
    return {"experiment_id": "e", "date": dt.date(2026, 3, day), "alert_type": alert_type, "severity": severity,
            "message": f"{alert_type} on day {day}"}


def test_open_alerts():
    through = dt.datetime(2026, 3, 20, 8)
    assert check_open_alerts([], through, V).status == "pass"
    assert check_open_alerts([_alert(5, "critical")], through, V).status == "pass"       # closed: older than 7 days
    assert check_open_alerts([_alert(13, "critical")], through, V).status == "fail"      # open (since 03-13)
    lone = check_open_alerts([_alert(15)], through, V)
    assert lone.status == "pass" and "isolated warning, not counted" in lone.detail
    assert check_open_alerts([_alert(15), _alert(16)], through, V).status == "warn"       # recurring
    assert check_open_alerts([_alert(15), _alert(16, alert_type="srm")], through, V).status == "pass"
    assert check_open_alerts([_alert(15)], None, V).status == "not_enough_data"


def test_similar_names():
    found = health.similar_names(["experiment_viewed"], ["Experiment Viewed", "experiment-viewed", "experimentViewed",
                                                         "experiment_viewd", "page_view", "experiment_viewed"])
    assert found == ["Experiment Viewed", "experiment-viewed", "experimentViewed", "experiment_viewd"]


def test_every_row_has_the_declared_columns_and_a_status():
    facts = [_facts(), _facts(experiment_id=None)]
    rows = health.health_rows(facts, [], [], [], [], V)
    assert {tuple(r) for r in rows} == {tuple(name for name, _ in health.COLUMNS)}
    assert {r["status"] for r in rows} <= {"pass", "warn", "fail", "not_enough_data"}
    assert [r["check_name"] for r in rows if r["experiment_id"] == "e"] == list(health.HEALTH_CHECKS)
    assert [r["check_name"] for r in rows if r["experiment_id"] is None] == list(health.STREAM_CHECKS)


@settings(max_examples=300, deadline=None)
@given(units=st.integers(1, 5000), data=st.data())
def test_the_share_lower_bound_is_clopper_pearsons(units, data):
    """The lower bound that judges a share of few units is the Clopper-Pearson one-sided 95% bound,
    the 5% quantile of Beta(k, n - k + 1), as scipy computes it."""
    from scipy.stats import beta

    from expguard.core.stats import share_lower_bound

    affected = data.draw(st.integers(0, min(units, 60)))
    expected = 0.0 if affected == 0 else beta.ppf(0.05, affected, units - affected + 1)
    assert share_lower_bound(affected, units) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_the_unassigned_detail_says_why_it_is_or_is_not_judged():
    from expguard.models.marts.fct_experiment_health import unassigned_detail

    def detail(unassigned, assigned):
        row = share_check("unassigned_exposures", unassigned, assigned, V.exp_health_unassigned_warn,
                          V.exp_health_unassigned_fail, V.exp_health_min_units, "x", "assigned units")
        return unassigned_detail(row, unassigned, assigned, V.exp_health_min_units)

    few = detail(1, 80)  # 1.25%: above the warn level, one unit
    assert few.status == "not_enough_data"
    assert few.detail.startswith("1 unit was exposed without an assignment, against 80 assigned units (1.25%): above "
                                 "the warn level, but fewer than 10 units, too few to judge")
    beyond = detail(9, 90)  # 10%, at least 5.3%: more than chance
    assert beyond.status == "fail" and "more than chance explains" in beyond.detail
    assert detail(0, 5).detail.startswith("0 units were exposed without an assignment, against 5 assigned units: too "
                                          "few to judge (fewer than 10 assigned)")
    assert detail(50, 1000).detail.startswith("50 units were exposed without an assignment, against 1,000 assigned "
                                              "units (5.00%); ")


def test_an_experiment_id_spelled_two_ways_points_at_its_twin():
    # EXP_A only in the exposure events, exp_a only in the assignments: each fails, and each
    # detail names the other; ids that are merely alike (exp_01, exp_02) are not twins.
    from expguard.models.marts.fct_experiment_health import check_assignments_present, id_twins

    facts = [_facts(assigned=0, events=80, experiment_id="EXP_A"), _facts(assigned=80, events=0, experiment_id="exp_a"),
             _facts(assigned=0, events=5, experiment_id="exp_01"), _facts(assigned=50, events=0, experiment_id="exp_02")]
    twins = id_twins(facts)
    assert sorted(twins) == ["EXP_A", "exp_a"]
    row = check_assignments_present(facts[0], twins["EXP_A"])
    assert row.status == "fail" and "the assignments have experiment 'exp_a'" in row.detail
    row = check_exposure_events_present(facts[1], ["experiment_viewed"], twins["exp_a"])
    assert row.status == "fail" and "exposure events carry experiment 'EXP_A'" in row.detail


def test_no_experiment_passes_without_its_coverage_judged():
    """The verdict is the worst of the checks, but ``pass`` needs exposure_coverage judged: an
    experiment of 9 units, or of open windows at a share between the thresholds, whose other
    checks pass, is not_enough_data (it used to read "pass" on no evidence that its units saw
    anything); a failure or warning stays the verdict whatever coverage says."""
    from expguard.models.verdict import verdicts

    def rows(coverage, other="pass"):
        return [{"experiment_id": "e", "check_name": "exposure_events_present", "status": "pass"},
                {"experiment_id": "e", "check_name": "exposure_coverage", "status": coverage},
                {"experiment_id": "e", "check_name": "variation_mismatch", "status": other},
                {"experiment_id": None, "check_name": "freshness", "status": "pass"}]

    assert verdicts(rows("not_enough_data"))["e"].status == "not_enough_data"
    assert verdicts(rows("pass"))["e"].status == "pass"
    assert verdicts(rows("not_enough_data", other="warn"))["e"].status == "warn"
    assert verdicts(rows("not_enough_data"))[None].status == "pass"  # the stream has no coverage check
