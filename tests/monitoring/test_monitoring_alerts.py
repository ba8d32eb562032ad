"""fct_experiment_exposure_alerts: one rule per test, on hand-made daily tables.

The rules run in Python over three small tables (the by-variation cohorts, the daily model and
the daily rejections); most tests hand those tables to ``find_alerts`` directly, and a few run
the whole pipeline on hand-made events to show the like-with-like rule end to end.
"""

from __future__ import annotations

import datetime as dt
import json
import math

import pytest
from scipy.stats import chisquare

from expguard.core.stats import Point, evaluate
from expguard.models.marts.fct_experiment_exposure_alerts import COLUMNS, find_alerts
from expguard.settings.config import Variables
from expguard.core.constants import ALERT_TYPES, FCT_ALERTS, FCT_DAILY, SEVERITIES
from helpers import T0, assignment, exposure, ts
from monitoring_helpers import run_all

START = dt.date(2026, 1, 1)
V = Variables()


def day(i: int) -> dt.date:
    return START + dt.timedelta(days=i)


def cohort(i: int, *, experiment_id: str = "exp", variation: str = "control", assigned: int = 1000,
           exposed: int | None = None, within: int | None = None, valid: int | None = None, mismatched: int = 0,
           multi: int = 0, duplicates: int = 0, complete: bool = True) -> dict:
    """One by-variation row: by default 90% exposed, all of them validly within the horizon."""
    exposed = assigned * 9 // 10 if exposed is None else exposed
    within = exposed if within is None else within
    return {
        "experiment_id": experiment_id, "date": day(i), "assigned_variation_id": variation,
        "assigned_units": assigned, "exposed_units": exposed, "valid_exposed_units": within if valid is None else valid,
        "valid_exposed_within_horizon_units": within, "mismatched_units": mismatched,
        "multi_variation_exposure_units": multi, "exposure_events": exposed + duplicates,
        "duplicate_exposure_events": duplicates, "is_horizon_complete": complete,
    }


def daily(i: int, *, experiment_id: str = "exp", assigned: int = 1000, unassigned: int = 10) -> dict:
    return {"experiment_id": experiment_id, "date": day(i), "assigned_units": assigned,
            "unassigned_exposed_units": unassigned}


def rejections(i: int, *, experiment_id: str | None = "exp", events: int = 1000, rejected: int = 5) -> dict:
    return {"experiment_id": experiment_id, "exposure_date": day(i), "exposure_events": events,
            "rejected_exposure_events": rejected}


def run(by_variation=(), daily_rows=(), rejection_rows=(), **variables) -> list[dict]:
    # The last rejections date plays data_through's date: days before it are complete.
    rows = list(rejection_rows) or [rejections(100, events=0, rejected=0)]
    return find_alerts(list(by_variation), list(daily_rows), rows, V.with_values(variables))


def rates(values: list[float], **kwargs) -> list[dict]:
    """One cohort per value, on days 0, 1, ...: that share of the 1000 assigned units validly
    exposed within the horizon."""
    return [cohort(i, exposed=round(1000 * v), **kwargs) for i, v in enumerate(values)]


def only(alerts: list[dict], alert_type: str) -> list[dict]:
    return [a for a in alerts if a["alert_type"] == alert_type]


# -- the baseline rule -------------------------------------------------------------------------

def test_exposure_rate_drop_alerts_below_the_median_minus_the_allowed_change():
    baseline = [0.90, 0.89, 0.91, 0.90, 0.92, 0.88, 0.90, 0.91, 0.89, 0.90, 0.90, 0.91, 0.89, 0.90]
    alerts = run(rates(baseline + [0.78]))
    assert len(alerts) == 1
    alert = alerts[0]
    assert (alert["experiment_id"], alert["date"], alert["alert_type"]) == ("exp", day(14), "exposure_rate_drop")
    assert (alert["observed"], alert["baseline"], alert["baseline_points"], alert["sample_size"]) == (0.78, 0.90, 14, 1000)
    # MAD 0.01: 3 x 1.4826 x 0.01 = 0.044 < the minimum drop 0.05, so the threshold is 0.90 - 0.05.
    assert alert["threshold"] == pytest.approx(0.85)
    assert alert["severity"] == "critical"  # the drop 0.12 exceeds 2 x 0.05
    assert "fell to 78.00%" in alert["message"] and "median of 14 cohorts" in alert["message"]


@pytest.mark.parametrize("rate, severity", [(0.86, None), (0.84, "warning"), (0.80, "warning"), (0.79, "critical")])
def test_severity_grows_with_the_change(rate, severity):
    alerts = run(rates([0.90] * 14 + [rate]))
    assert [a["severity"] for a in alerts] == ([severity] if severity else [])


def test_a_noisy_baseline_widens_the_band():
    noisy = [0.80, 0.95] * 7  # median 0.875, MAD 0.075: 3 robust SDs = 0.33
    assert run(rates(noisy + [0.60])) == []
    assert only(run(rates(noisy + [0.50])), "exposure_rate_drop")


def test_one_bad_day_in_the_baseline_neither_masks_nor_raises_alerts():
    history = [0.90] * 8 + [0.10] + [0.90] * 5
    alerts = run(rates(history + [0.80, 0.90]))
    assert [(a["date"], a["baseline"]) for a in alerts] == [(day(8), 0.90), (day(14), 0.90)]


def test_the_day_under_test_is_not_part_of_its_own_baseline():
    # Seven days before it: enough at the default minimum, one short at 8 (the day would make 8).
    history = rates([0.90] * 7 + [0.0])
    assert only(run(history), "exposure_rate_drop")[0]["baseline_points"] == 7
    assert run(history, exp_alert_min_baseline_points=8) == []


def test_no_alert_without_the_minimum_number_of_baseline_points():
    assert run(rates([0.90] * 6 + [0.0])) == []


def test_the_baseline_is_the_configured_number_of_days_before():
    # Days 0-5 at 0.80 fall outside the 14 days before day 20; counted, they would pull the median to 0.85.
    history = rates([0.80] * 10 + [0.90] * 10 + [0.82])
    alerts = run(history)
    assert [(a["date"], a["baseline"], a["baseline_points"]) for a in alerts] == [(day(20), 0.90, 14)]
    assert run(history, exp_alert_baseline_days=20) == []


def test_small_cohorts_are_neither_tested_nor_in_a_baseline():
    small = [cohort(i, assigned=150) for i in range(14)]
    assert run(small + [cohort(14, exposed=0)]) == []
    assert run([cohort(i) for i in range(14)] + [cohort(14, assigned=150, exposed=0)]) == []
    assert run(small + [cohort(14, exposed=0)], exp_alert_min_cohort_units=100)


def test_cohorts_whose_horizon_has_not_elapsed_are_not_tested():
    history = [cohort(i) for i in range(14)]
    assert run(history + [cohort(14, exposed=0, complete=False)]) == []


def test_variations_are_summed_into_the_cohort():
    history = [c for i in range(14) for c in (cohort(i, variation="a", assigned=500), cohort(i, variation="b", assigned=500))]
    today = [cohort(14, variation="a", assigned=500), cohort(14, variation="b", assigned=500, exposed=300)]
    # 450 + 300 of 1000 assigned units
    alert = only(run(history + today), "exposure_rate_drop")[0]
    assert (alert["observed"], alert["sample_size"]) == (0.75, 1000)


def test_horizon_rate_not_the_final_rate_is_compared():
    # Old cohorts end up 90% valid but only 60% within the horizon; the young one is at 60% for now.
    history = [cohort(i, within=600, valid=900) for i in range(14)]
    assert run(history + [cohort(14, within=600, valid=600)]) == []


def test_binomial_standard_error_floors_the_spread_of_a_quiet_baseline():
    # A perfectly flat 50% baseline (MAD 0) on 1000 units: sigma is sqrt(0.25 / 1000) = 0.0158.
    history = [cohort(i, exposed=1000, mismatched=500) for i in range(14)]
    assert run(history + [cohort(14, exposed=1000, mismatched=540)]) == []
    alert = only(run(history + [cohort(14, exposed=1000, mismatched=560)]), "mismatch_rate_rise")[0]
    assert alert["threshold"] == pytest.approx(0.5 + 3 * math.sqrt(0.25 / 1000))


@pytest.mark.parametrize("multi, severity", [(4, None), (9, None), (12, "warning"), (25, "critical")])
def test_a_clean_baseline_alerts_on_multi_variation_units_from_one_percent(multi, severity):
    history = [cohort(i) for i in range(14)]
    alerts = only(run(history + [cohort(14, multi=multi)]), "multi_variation_rate_rise")
    assert [a["severity"] for a in alerts] == ([severity] if severity else [])
    if alerts:
        assert alerts[0]["threshold"] == pytest.approx(0.01) and alerts[0]["baseline"] == 0.0


def test_mismatch_rate_rise():
    history = [cohort(i, mismatched=2 + i % 3) for i in range(14)]
    alert = only(run(history + [cohort(14, mismatched=60)]), "mismatch_rate_rise")[0]
    assert (alert["observed"], alert["metric"], alert["sample_size"]) == (60 / 900, "mismatch_rate", 900)


def test_duplicate_exposure_spike():
    history = [cohort(i, duplicates=45 + i % 5) for i in range(14)]
    alert = only(run(history + [cohort(14, duplicates=900)]), "duplicate_exposure_spike")[0]
    assert alert["observed"] == 900 / 1800 and alert["severity"] == "critical"
    assert run(history + [cohort(14, duplicates=80)]) == []


def test_unassigned_exposure_spike_per_day():
    history = [daily(i, unassigned=10 + i % 4) for i in range(14)]
    alert = only(run(daily_rows=history + [daily(14, unassigned=300)]), "unassigned_exposure_spike")[0]
    assert (alert["date"], alert["observed"], alert["sample_size"]) == (day(14), 0.3, 1000)
    assert "days before" in alert["message"]


def test_a_day_is_tested_only_once_complete():
    # The day of data_through itself is still filling up.
    history = [daily(i) for i in range(15)]
    spike = [daily(14, unassigned=300)]
    assert run(daily_rows=history[:14] + spike, rejection_rows=[rejections(14)]) == []
    assert run(daily_rows=history[:14] + spike, rejection_rows=[rejections(15)])


def test_rejected_exposure_spike_per_experiment_and_without_an_experiment():
    rows = [rejections(i, rejected=3 + i % 3) for i in range(14)] + [rejections(14, rejected=300)]
    rows += [rejections(i, experiment_id=None, events=5) for i in range(14)] + [rejections(14, experiment_id=None, events=400)]
    rows += [rejections(15, events=1, rejected=0)]  # data_through is on day 15
    alerts = run(rejection_rows=rows)
    assert [(a["experiment_id"], a["alert_type"]) for a in alerts] == [
        ("exp", "rejected_exposure_spike"), (None, "rejected_exposure_spike")]
    assert alerts[0]["observed"] == 0.3
    # without an experiment: their share of all exposure events of the day
    assert alerts[1]["observed"] == 400 / 1400 and alerts[1]["sample_size"] == 1400
    assert alerts[1]["message"].startswith("exposure events without an experiment_id")


# -- the srm rule ------------------------------------------------------------------------------

def two_way(i: int, control: int, treatment: int, assigned=(500, 500), **kwargs) -> list[dict]:
    return [cohort(i, variation="control", assigned=assigned[0], exposed=control, **kwargs),
            cohort(i, variation="treatment", assigned=assigned[1], exposed=treatment, **kwargs)]


def test_srm_alerts_on_a_cohort_whose_valid_units_break_the_assigned_split():
    alerts = run(two_way(0, 450, 455) + two_way(1, 450, 300))
    assert [(a["date"], a["alert_type"], a["severity"]) for a in alerts] == [(day(1), "srm", "critical")]
    alert = alerts[0]
    assert math.isclose(alert["observed"], chisquare([450, 300]).pvalue, rel_tol=1e-9)
    assert (alert["baseline"], alert["threshold"], alert["sample_size"]) == (None, 0.001, 750)
    assert "control 450 (50.00% expected), treatment 300 (50.00% expected)" in alert["message"]


def test_srm_expects_the_configured_weights_when_given():
    weights = json.dumps({"exp": {"control": 9, "treatment": 1}})
    assert run(two_way(0, 450, 450), exp_srm_expected_weights=weights)[0]["alert_type"] == "srm"
    assert run(two_way(0, 450, 50, assigned=(500, 56)), exp_srm_expected_weights=weights) == []


def test_srm_needs_a_complete_horizon_enough_units_and_two_variations():
    assert run(two_way(0, 450, 300, complete=False)) == []
    assert run(two_way(0, 45, 3, assigned=(60, 60))) == []  # 120 assigned units, under the minimum of 200
    assert run(two_way(0, 45, 3, assigned=(60, 60)), exp_alert_min_cohort_units=100)
    assert run(two_way(0, 10, 0, assigned=(300, 300))) == []  # 5 valid units expected per variation, under 8
    assert run([cohort(0, exposed=10)]) == []


# -- the table -----------------------------------------------------------------------------------

def test_alerts_are_ordered_by_date_experiment_and_type_with_documented_values():
    history = [cohort(i, experiment_id=e) for i in range(14) for e in ("b", "a")]
    today = [cohort(14, experiment_id=e, exposed=300, mismatched=100) for e in ("b", "a")]
    alerts = run(history + today)
    assert [(a["experiment_id"], a["alert_type"]) for a in alerts] == [
        ("a", "exposure_rate_drop"), ("a", "mismatch_rate_rise"), ("b", "exposure_rate_drop"), ("b", "mismatch_rate_rise")]
    assert {a["alert_type"] for a in alerts} <= set(ALERT_TYPES)
    assert {a["severity"] for a in alerts} <= set(SEVERITIES)


def test_evaluate_returns_none_without_enough_history():
    points = [Point(day(i), 0.9, 1000) for i in range(3)]
    assert evaluate(Point(day(3), 0.1, 1000), points, -1, 0.05, V) is None


# -- end to end, through the engine --------------------------------------------------------------

def _cohorts_with_late_exposures(days: int, units: int = 20) -> tuple[list[dict], list[dict]]:
    """``days`` daily cohorts; half of each cohort's units are exposed a minute after assignment,
    a further 40% three days later."""
    assignments, events = [], []
    for d in range(days):
        for u in range(units):
            unit = f"u{d}_{u}"
            assignments.append(assignment(unit, at=ts(days=d)))
            if u < units // 2:
                events.append(exposure(unit, ts(1, days=d)))
            elif u < units * 9 // 10:
                events.append(exposure(unit, ts(days=d + 3)))
    return assignments, events


def test_a_young_cohort_whose_exposures_are_still_arriving_does_not_alert(tmp_path, engine):
    assignments, events = _cohorts_with_late_exposures(8)
    # The data ends on day 9 at noon: cohort 7 is past its 1-day horizon, but its units
    # exposed three days after assignment have not arrived yet.
    data_through = T0 + dt.timedelta(days=9)
    events = [e for e in events if e["event_ts"] <= data_through] + [exposure("zz", data_through)]
    rows = run_all(tmp_path, events, assignments, engine, exp_alert_min_cohort_units=10)
    plain = {r["date"]: r["exposure_rate"] for r in rows[FCT_DAILY] if r["assigned_units"]}
    assert plain[T0.date() + dt.timedelta(days=7)] == 0.5 and plain[T0.date()] == 0.9  # what a naive rule would see
    assert rows[FCT_ALERTS] == []


def test_a_drop_alerts_end_to_end(tmp_path, engine):
    assignments, events = _cohorts_with_late_exposures(8)
    events = [e for e in events if not (e["event_ts"] >= T0 + dt.timedelta(days=7) and e["event_ts"] < T0 + dt.timedelta(days=8))]
    events.append(exposure("zz", T0 + dt.timedelta(days=20)))
    alerts = run_all(tmp_path, events, assignments, engine, exp_alert_min_cohort_units=10)[FCT_ALERTS]
    assert [(a["experiment_id"], a["date"], a["alert_type"], a["severity"]) for a in alerts] == [
        ("exp", T0.date() + dt.timedelta(days=7), "exposure_rate_drop", "warning")]
    # 20 units a cohort: the binomial floor widens the band to 3 x sqrt(0.25 / 20) = 0.34
    assert (alerts[0]["observed"], alerts[0]["baseline"]) == (0.0, 0.5)
    assert alerts[0]["threshold"] == pytest.approx(0.5 - 3 * math.sqrt(0.25 / 20))


def test_the_alerts_table_has_the_declared_schema(tmp_path):
    import pyarrow.parquet as pq

    run_all(tmp_path, [exposure("u1", ts(1))], [assignment("u1")])
    schema = pq.read_schema(tmp_path / "out" / f"{FCT_ALERTS}.parquet")
    assert schema.names == [name for name, _ in COLUMNS]
    assert [str(t) for t in schema.types] == ["string", "date32[day]", "string", "string", "double", "double", "double",
                                              "string", "string", "int64", "int64"]
    assert schema.names[:8] == ["experiment_id", "date", "alert_type", "severity", "observed", "baseline",
                            "threshold", "message"]
