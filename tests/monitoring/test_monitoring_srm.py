"""Sample-ratio mismatch: the chi-square test against scipy, and fct_experiment_exposure_srm's rules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import chi2, chisquare

from expguard.settings.config import ConfigError, Variables
from expguard.core.constants import FCT_SRM, INT_SRM_COUNTS, SRM_STAGES, SRM_STATUSES
from expguard.core.stats import chi_square_sf
from expguard.models.marts.fct_experiment_exposure_srm import chi_square_test, expected_shares
from helpers import assignment, by_key, exposure, ts
from monitoring_helpers import run_all


def _scipy(observed, shares):
    observed = np.asarray(observed, dtype=float)
    shares = np.asarray(shares, dtype=float)
    return chisquare(observed, f_exp=observed.sum() * shares / shares.sum())


def test_statistic_and_p_value_agree_with_scipy_chisquare_to_1e_9():
    rng = np.random.default_rng(2019)
    for _ in range(500):
        k = int(rng.integers(2, 7))
        shares = rng.random(k) + 0.05
        skew = 1 + rng.normal(0, 0.05, k).clip(-0.5, 0.5)  # sometimes a real mismatch
        n = int(rng.integers(20 * k, 2_000_000))
        observed = rng.multinomial(n, shares * skew / (shares * skew).sum())
        test = chi_square_test(observed, shares, min_units=0, threshold=0.001)
        reference = _scipy(observed, shares)
        assert math.isclose(test.chi_square, reference.statistic, rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(test.p_value, reference.pvalue, rel_tol=1e-9, abs_tol=1e-300)
        assert test.degrees_of_freedom == k - 1
        assert test.is_srm == (reference.pvalue < 0.001)


def test_the_survival_function_agrees_with_scipy_chi2_sf_at_every_degree_of_freedom():
    # from the bulk to the far tail (p down to 1e-300) and past it (0), odd and even dof
    for dof in range(1, 41):
        for statistic in (1e-6, 0.01, 0.5, dof / 2, dof, 2 * dof + 3, 30.0, 100.0, 500.0, 1300.0, 1600.0):
            reference = chi2.sf(statistic, dof)
            assert math.isclose(chi_square_sf(statistic, dof), reference, rel_tol=1e-9, abs_tol=1e-300), (dof, statistic)
    assert chi_square_sf(0.0, 4) == 1.0
    with pytest.raises(ValueError):
        chi_square_sf(1.0, 0)


@pytest.mark.parametrize("observed, shares", [
    ([500, 500], [1, 1]),                  # a perfect fit: statistic 0, p 1
    ([5000, 0], [1, 1]),                   # total loss of a variation: p underflows to 0
    ([900, 100], [9, 1]),
    ([10, 12, 9, 40], [0.25, 0.25, 0.25, 0.25]),
])
def test_edge_cases_agree_with_scipy(observed, shares):
    test = chi_square_test(observed, shares, min_units=8, threshold=0.001)
    reference = _scipy(observed, shares)
    assert math.isclose(test.chi_square, reference.statistic, rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(test.p_value, reference.pvalue, rel_tol=1e-9, abs_tol=1e-300)


def test_one_variation_gets_no_verdict():
    test = chi_square_test([100], [1.0], min_units=8, threshold=0.001)
    assert (test.status, test.p_value, test.chi_square, test.is_srm) == ("single_variation", None, None, False)


def test_fewer_expected_units_than_the_minimum_get_no_verdict():
    # 15 units split 50/50 expect 7.5 per variation, under the default gate of 8.
    test = chi_square_test([15, 0], [1, 1], min_units=8, threshold=0.001)
    assert (test.status, test.p_value, test.is_srm) == ("insufficient_units", None, False)
    assert chi_square_test([16, 0], [1, 1], min_units=8, threshold=0.001).status == "srm"
    assert chi_square_test([0, 0], [1, 1], min_units=0, threshold=0.001).status == "insufficient_units"


def test_variations_without_an_expected_share_are_left_out():
    assert chi_square_test([50, 50, 999], [1, 1, 0], min_units=8, threshold=0.001).chi_square == 0.0


def test_expected_shares_come_from_weights_or_the_assigned_split():
    assert expected_shares(["a", "b"], {"a": 3, "b": 1}, {"a": 1, "b": 1}) == [0.75, 0.25]
    assert expected_shares(["a", "b", "x"], None, {"a": 10, "b": 30}) == [0.25, 0.75, 0.0]


def test_weights_variable_accepts_json_or_a_table_and_refuses_bad_weights():
    text = Variables().with_values({"exp_srm_expected_weights": '{"e": {"a": 1, "b": 3}}'}).exp_srm_expected_weights
    table = Variables().with_values({"exp_srm_expected_weights": {"e": {"b": 3, "a": 1}}}).exp_srm_expected_weights
    assert json.loads(text) == json.loads(table) == {"e": {"a": 1.0, "b": 3.0}}
    for bad in ('{"e": {"a": -1}}', '{"e": {"a": "x"}}', '{"e": {}}', "[1, 2]", "{not json", '{"e": {"a": true}}'):
        with pytest.raises(ConfigError, match="exp_srm_expected_weights"):
            Variables().with_values({"exp_srm_expected_weights": bad})


# -- the model --------------------------------------------------------------------------------

def _experiment(control: int, treatment: int, experiment_id: str = "exp"):
    return ([assignment(f"c{i}", "control", experiment_id=experiment_id) for i in range(control)]
            + [assignment(f"t{i}", "treatment", experiment_id=experiment_id) for i in range(treatment)])


def _stages(rows, experiment_id: str = "exp"):
    """stage -> variation -> row, for one experiment."""
    out: dict[str, dict[str, dict]] = {}
    for row in rows:
        if row["experiment_id"] == experiment_id:
            out.setdefault(row["stage"], {})[row["variation_id"]] = row
    return out


def test_every_stage_has_a_row_per_variation_in_funnel_order(tmp_path, engine):
    assignments = _experiment(40, 40)
    events = [exposure(a["unit_id"], ts(1), a["variation_id"]) for a in assignments]
    rows = run_all(tmp_path, events, assignments, engine)[FCT_SRM]
    assert [(r["stage"], r["stage_order"], r["variation_id"]) for r in sorted(rows, key=lambda r: (r["stage_order"], r["variation_id"]))] == [
        (stage, order, v) for order, stage in enumerate(SRM_STAGES, 1) for v in ("control", "treatment")
    ]
    stages = _stages(rows)
    assert {s: stages[s]["control"]["srm_status"] for s in SRM_STAGES} == {
        "assigned": "no_weights", "logged": "ok", "exposed": "ok", "valid_exposed": "ok"}
    valid = stages["valid_exposed"]["control"]
    assert (valid["units"], valid["assigned_units"], valid["valid_exposed_units"]) == (40, 40, 40)
    assert (valid["expected_share"], valid["observed_share"], valid["expected_units"]) == (0.5, 0.5, 40.0)
    assert (valid["chi_square"], valid["degrees_of_freedom"], valid["p_value"]) == (0.0, 1, 1.0)
    assert valid["is_srm"] is False and valid["first_srm_stage"] is None
    assert stages["assigned"]["control"]["p_value"] is None


def test_a_variation_losing_its_exposure_events_breaks_the_ratio_from_the_logged_stage(tmp_path, engine):
    assignments = _experiment(40, 40)
    events = [exposure(a["unit_id"], ts(1), a["variation_id"]) for a in assignments
              if a["variation_id"] == "control" or a["unit_id"] in ("t0", "t1", "t2", "t3", "t4")]
    stages = _stages(run_all(tmp_path, events, assignments, engine)[FCT_SRM])
    assert [stages[s]["treatment"]["units"] for s in SRM_STAGES] == [40, 5, 5, 5]
    assert [stages[s]["control"]["srm_status"] for s in SRM_STAGES] == ["no_weights", "srm", "srm", "srm"]
    assert stages["logged"]["treatment"]["first_srm_stage"] == "logged"
    reference = _scipy([40, 5], [0.5, 0.5])
    assert math.isclose(stages["logged"]["control"]["p_value"], reference.pvalue, rel_tol=1e-9)
    assert math.isclose(stages["logged"]["treatment"]["observed_share"], 5 / 45)


def test_late_exposures_of_one_variation_break_the_ratio_only_at_the_valid_stage(tmp_path, engine):
    assignments = _experiment(40, 40)
    late = {f"t{i}" for i in range(5, 40)}  # exposed 40 days after assignment, past the 30-day window
    events = [exposure(a["unit_id"], ts(days=40) if a["unit_id"] in late else ts(1), a["variation_id"])
              for a in assignments]
    stages = _stages(run_all(tmp_path, events, assignments, engine)[FCT_SRM])
    assert [stages[s]["control"]["srm_status"] for s in SRM_STAGES] == ["no_weights", "ok", "ok", "srm"]
    assert stages["exposed"]["control"]["first_srm_stage"] == "valid_exposed"


def test_weights_test_the_assigned_split_too(tmp_path, engine):
    weights = json.dumps({"exp": {"control": 1, "treatment": 1}})
    assignments = _experiment(60, 20)
    events = [exposure(a["unit_id"], ts(1), a["variation_id"]) for a in assignments]
    stages = _stages(run_all(tmp_path, events, assignments, engine, exp_srm_expected_weights=weights)[FCT_SRM])
    assigned = stages["assigned"]["control"]
    assert (assigned["srm_status"], assigned["expected_share"], assigned["expected_source"]) == ("srm", 0.5, "weights")
    assert math.isclose(assigned["p_value"], _scipy([60, 20], [1, 1]).pvalue, rel_tol=1e-9)
    assert assigned["first_srm_stage"] == "assigned"


def test_a_weighted_variation_never_assigned_counts_as_zero(tmp_path):
    weights = json.dumps({"exp": {"control": 1, "treatment": 1, "treatment_b": 1}})
    stages = _stages(run_all(tmp_path, [], _experiment(30, 30), exp_srm_expected_weights=weights)[FCT_SRM])
    missing = stages["assigned"]["treatment_b"]
    assert (missing["units"], missing["expected_share"], missing["srm_status"]) == (0, 1 / 3, "srm")
    assert stages["valid_exposed"]["control"]["srm_status"] == "insufficient_units"


def test_a_logged_variation_never_assigned_is_shown_but_not_tested(tmp_path, engine):
    assignments = _experiment(20, 20)
    events = [exposure(a["unit_id"], ts(1), a["variation_id"]) for a in assignments]
    events += [exposure(f"x{i}", ts(1), "contrl") for i in range(3)]
    rows = run_all(tmp_path, events, assignments, engine)
    stages = _stages(rows[FCT_SRM])
    typo = stages["logged"]["contrl"]
    assert (typo["units"], typo["expected_share"], typo["expected_units"]) == (3, 0.0, 0.0)
    assert typo["observed_share"] == 3 / 43
    assert (typo["srm_status"], typo["tested_variations"], typo["chi_square"]) == ("ok", 2, 0.0)
    assert stages["assigned"]["contrl"]["units"] == 0
    assert by_key(rows[INT_SRM_COUNTS], "variation_id")[("contrl",)]["assigned_units"] == 0


def test_one_variation_and_too_few_units_get_no_verdict(tmp_path, engine):
    assignments = _experiment(30, 0, "solo") + _experiment(3, 4, "tiny")
    events = [exposure(a["unit_id"], ts(1), a["variation_id"], experiment_id=a["experiment_id"]) for a in assignments]
    rows = run_all(tmp_path, events, assignments, engine)[FCT_SRM]
    solo, tiny = _stages(rows, "solo"), _stages(rows, "tiny")
    assert {r["srm_status"] for s in solo.values() for r in s.values()} == {"single_variation"}
    assert [tiny[s]["control"]["srm_status"] for s in SRM_STAGES] == ["no_weights"] + ["insufficient_units"] * 3
    assert all(r["p_value"] is None and r["is_srm"] is False for s in tiny.values() for r in s.values())


def test_experiments_without_assignments_are_not_tested(tmp_path):
    rows = run_all(tmp_path, [exposure("u1", ts(1), experiment_id="ghost")], _experiment(10, 10))
    assert {r["experiment_id"] for r in rows[FCT_SRM]} == {"exp"}
    assert {r["experiment_id"] for r in rows[INT_SRM_COUNTS]} == {"exp"}


def test_statuses_are_the_documented_ones(tmp_path):
    rows = run_all(tmp_path, [], _experiment(10, 10))[FCT_SRM]
    assert {r["srm_status"] for r in rows} <= set(SRM_STATUSES)
