"""The reject reasons and statuses written in the SQL models are the ones in expguard.constants.

The SQL is parsed with sqlglot and its string literals are collected, so a typo in a model
(``'no_exposures'``) or a constant changed on one side only fails here.
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
import sqlglot
from sqlglot import exp

from expguard.core import constants
from expguard.core.constants import CORE_MODELS, EXPOSURE_STATUSES, REJECT_REASONS

MODEL_FILES = {
    item.name.removesuffix(".sql"): item
    for layer in (resources.files("expguard") / "models").iterdir()
    if layer.is_dir()
    for item in layer.iterdir()
    if item.name.endswith(".sql")
}

# A label column -> the constants its values must come from (the optional ones only when the
# constants module defines them).
LABEL_COLUMNS = {
    "reject_reason": "REJECT_REASONS",
    "exposure_status": "EXPOSURE_STATUSES",
    "srm_status": "SRM_STATUSES",
    "alert_type": "ALERT_TYPES",
    "severity": "SEVERITIES",
    "stage": "SRM_STAGES",
}
LABEL = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$|^[a-z]+$")  # snake_case words, like the labels


def parse(name: str) -> exp.Expression:
    return sqlglot.parse_one(MODEL_FILES[name].read_text(encoding="utf-8"), read="duckdb")


def string_literals(tree: exp.Expression) -> list[exp.Literal]:
    """String literals that are values (interval amounts, which sqlglot keeps as text, excluded)."""
    return [
        node for node in tree.find_all(exp.Literal)
        if node.is_string and not isinstance(node.parent, exp.Interval)
    ]


def case_outputs(tree: exp.Expression, column: str) -> list[list[str]]:
    """For each expression aliased ``column``, the string literals its CASE can return, in order."""
    found = []
    for alias in tree.find_all(exp.Alias):
        if alias.alias != column:
            continue
        for case in alias.this.find_all(exp.Case):
            values = [branch.args["true"] for branch in case.args.get("ifs") or []]
            if case.args.get("default") is not None:
                values.append(case.args["default"])
            found.append([v.this for v in values if isinstance(v, exp.Literal) and v.is_string])
    return found


def compared_literals(tree: exp.Expression, column: str) -> list[str]:
    """String literals compared (=, <>, in) with a column named ``column``."""
    found = []
    for node in tree.find_all(exp.EQ, exp.NEQ, exp.In):
        if isinstance(node, exp.In):
            sides, others = [node.this], node.expressions
        else:
            sides, others = [node.this, node.expression], [node.this, node.expression]
        if any(isinstance(s, exp.Column) and s.name == column for s in sides):
            found += [o.this for o in others if isinstance(o, exp.Literal) and o.is_string]
    return found


def all_labels() -> set[str]:
    labels: set[str] = set()
    for value in vars(constants).values():
        if isinstance(value, (tuple, list)) and value and all(isinstance(v, str) for v in value):
            labels.update(value)
        if isinstance(value, dict):
            labels.update(k for k in value if isinstance(k, str))
    return labels


def test_every_core_model_has_its_sql_file():
    assert set(CORE_MODELS) <= set(MODEL_FILES)


def test_reject_reason_literals_match_constants_in_order():
    outputs = case_outputs(parse("stg_experiment_exposures"), "reject_reason")
    assert outputs == [list(REJECT_REASONS)]


def test_exposure_status_literals_match_constants_in_order():
    outputs = case_outputs(parse("int_experiment_exposure_validation"), "exposure_status")
    assert outputs == [list(EXPOSURE_STATUSES)]


def test_daily_model_counts_every_non_valid_status():
    # valid_exposed_units counts is_valid_exposure; the five other statuses are counted by name.
    # The counts are defined once, in the by-variation model; the daily model sums them.
    compared = compared_literals(parse("fct_experiment_exposure_quality_daily_by_variation"), "exposure_status")
    assert sorted(set(compared)) == sorted(set(EXPOSURE_STATUSES) - {"valid"})


@pytest.mark.parametrize("model", sorted(MODEL_FILES))
def test_label_literals_in_every_model_are_constants(model):
    tree = parse(model)
    problems = []
    for column, constant in sorted(LABEL_COLUMNS.items()):
        allowed = getattr(constants, constant, None)
        used = compared_literals(tree, column) + [v for values in case_outputs(tree, column) for v in values]
        if used and allowed is None:
            problems.append(f"{column} values {used} but constants has no {constant}")
        elif used:
            unknown = sorted(set(used) - set(allowed))
            if unknown:
                problems.append(f"{column} literals {unknown} are not in constants.{constant}")
    assert not problems, f"{model}: " + "; ".join(problems)


@pytest.mark.parametrize("model", sorted(MODEL_FILES))
def test_every_label_like_literal_is_a_constant(model):
    # Any snake_case string literal in a model is a label, and labels are defined once.
    labels = all_labels()
    literals = {lit.this for lit in string_literals(parse(model))}
    unknown = sorted(v for v in literals if LABEL.match(v) and v not in labels)
    assert not unknown, f"{model}: string literals {unknown} are not defined in expguard.constants"


def test_constants_are_unique_and_snake_case():
    for values in (REJECT_REASONS, EXPOSURE_STATUSES):
        assert len(set(values)) == len(values)
        assert all(LABEL.match(v) for v in values)


def test_constants_match_the_spec_wording():
    # docs/contract.md lists them in this order; the statuses are also the precedence of the CASE.
    assert REJECT_REASONS == ("missing_experiment_id", "missing_unit_id", "missing_variation_id", "missing_timestamp")
    assert EXPOSURE_STATUSES == ("no_exposure", "multi_variation_exposure", "variation_mismatch",
                                 "pre_assignment_exposure", "exposure_outside_window", "valid")
    assert CORE_MODELS == ("stg_experiment_exposures", "int_experiment_exposures_deduped",
                           "int_experiment_exposure_validation", "fct_experiment_exposure_quality_daily")


def test_helpers_find_a_planted_typo():
    # The collectors must see a wrong literal in the places the models use them.
    tree = sqlglot.parse_one(
        "select case when x then 'no_exposures' else 'valid' end as exposure_status, "
        "count(case when exposure_status = 'variation_mismatchh' then 1 end) as n from t",
        read="duckdb",
    )
    assert case_outputs(tree, "exposure_status") == [["no_exposures", "valid"]]
    assert compared_literals(tree, "exposure_status") == ["variation_mismatchh"]
