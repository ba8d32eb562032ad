"""expguard against the pure-Python reference (tests/reference.py), model by model, column by column.

Both sides get the same rows; every SPEC column of every model must agree exactly (floats to
1e-12), on generated data with realistic defects and on a hand-made adversarial set, for the
default variables and for other variable sets.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.constants import CORE_MODELS
from expguard.apps.demo.generator import generate, write_dataset
from helpers import T0, assignment, exposure, props, run_models, ts
from reference import (
    DAILY,
    DAILY_COLUMNS,
    DEDUPED,
    DEDUPED_COLUMNS,
    STG,
    STG_COLUMNS,
    VALIDATION,
    VALIDATION_COLUMNS,
    build_models,
)

SPEC_COLUMNS = {STG: STG_COLUMNS, DEDUPED: DEDUPED_COLUMNS, VALIDATION: VALIDATION_COLUMNS, DAILY: DAILY_COLUMNS}

GRACE = "exp_allow_pre_assignment_exposure_grace_minutes"
MAX_DAYS = "exp_exposure_max_days_after_assignment"
EVENT_NAME = "exp_exposure_event_name"

VARIABLE_SETS = {
    "defaults": {},
    "grace0_days7": {GRACE: 0, MAX_DAYS: 7},
    "grace60_days1": {GRACE: 60, MAX_DAYS: 1},
    "event_exposure_days0": {EVENT_NAME: "exposure", GRACE: 5, MAX_DAYS: 0},
}


# --------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------


def normalize(value: Any) -> Any:
    """Timestamps as naive UTC datetimes; everything else as is."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _sort_key(row: tuple) -> tuple:
    return tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)


def project(rows: list[dict[str, Any]], columns: list[str]) -> list[tuple]:
    return sorted((tuple(normalize(row[c]) for c in columns) for row in rows), key=_sort_key)


def same_value(actual: Any, expected: Any) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(expected, float) or isinstance(actual, float):
        return (
            isinstance(actual, float)
            and isinstance(expected, float)
            and math.isclose(actual, expected, rel_tol=0, abs_tol=1e-12)
        )
    # bool is an int subclass: the types must agree too (True is not 1 here).
    return type(actual) is type(expected) and actual == expected


def model_differences(model: str, actual: list[dict], expected: list[dict], limit: int = 8) -> list[str]:
    """Human-readable differences between expguard's rows and the reference's, for one model."""
    columns = SPEC_COLUMNS[model]
    problems: list[str] = []
    if actual:
        missing = [c for c in columns if c not in actual[0]]
        if missing:
            return [f"{model}: missing SPEC columns {missing}"]
    a_rows, e_rows = project(actual, columns), project(expected, columns)
    if len(a_rows) != len(e_rows):
        problems.append(f"{model}: {len(a_rows)} rows from expguard, {len(e_rows)} from the reference")
    # Pair rows by full equality first, then show what is left over on each side.
    remaining = list(e_rows)
    unmatched_actual = []
    for row in a_rows:
        for i, other in enumerate(remaining):
            if all(same_value(x, y) for x, y in zip(row, other)):
                del remaining[i]
                break
        else:
            unmatched_actual.append(row)
    for a_row, e_row in list(zip(unmatched_actual, remaining))[:limit]:
        diff = {c: (x, y) for c, x, y in zip(columns, a_row, e_row) if not same_value(x, y)}
        problems.append(f"{model}: expguard row {dict(zip(columns, a_row))} differs from reference in {diff}")
    extra_a = unmatched_actual[len(remaining):]
    extra_e = remaining[len(unmatched_actual):]
    for row in extra_a[:limit]:
        problems.append(f"{model}: extra expguard row {dict(zip(columns, row))}")
    for row in extra_e[:limit]:
        problems.append(f"{model}: missing reference row {dict(zip(columns, row))}")
    return problems


def assert_models_equal(actual: dict[str, list[dict]], expected: dict[str, list[dict]]) -> None:
    problems = []
    for model in CORE_MODELS:
        problems += model_differences(model, actual[model], expected[model])
    assert not problems, "expguard disagrees with the reference:\n" + "\n".join(problems)


def read_outputs(out: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in CORE_MODELS}


# --------------------------------------------------------------------------------------------
# generated data
# --------------------------------------------------------------------------------------------


def run_generated(tmp_path: Path, n_events: int, seed: int, variables: dict, fmt: str = "parquet",
                  **generate_args: Any) -> tuple[dict, dict]:
    ds = generate(n_events, seed=seed, **generate_args)
    events_path, assignments_path = write_dataset(ds, tmp_path / "data", fmt)
    expguard.run(str(events_path), str(assignments_path), output_dir=str(tmp_path / "out"), vars=variables)
    actual = read_outputs(tmp_path / "out")
    expected = build_models(ds.events.to_pylist(), ds.assignments.to_pylist(), **variables)
    return actual, expected


@pytest.mark.parametrize("n_events, seed", [(20_000, 1), (24_000, 2), (30_000, 3)])
def test_generated_data_matches_reference_with_default_variables(tmp_path, n_events, seed):
    actual, expected = run_generated(tmp_path, n_events, seed, {})
    assert len(expected[VALIDATION]) > 1000  # the data is not trivially small
    assert_models_equal(actual, expected)


@pytest.mark.parametrize(
    "variables, generate_args",
    [
        # data placed for the variables used (defects land on the window bounds) ...
        ({GRACE: 0, MAX_DAYS: 7}, {"grace_minutes": 0, "max_days": 7}),
        ({GRACE: 60, MAX_DAYS: 1}, {"grace_minutes": 60, "max_days": 1}),
        # ... and data placed for the defaults, judged with other variables
        ({GRACE: 60, MAX_DAYS: 1}, {}),
        ({EVENT_NAME: "exposure", GRACE: 0, MAX_DAYS: 2}, {"exposure_event_name": "exposure"}),
    ],
    ids=["grace0_days7", "grace60_days1", "grace60_days1_default_data", "event_name_exposure"],
)
def test_generated_data_matches_reference_with_other_variables(tmp_path, variables, generate_args):
    actual, expected = run_generated(tmp_path, 20_000, 11, variables, **generate_args)
    assert len(expected[STG]) > 1000
    assert_models_equal(actual, expected)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_generated_text_formats_match_reference(tmp_path, fmt):
    # CSV and JSON lines carry timestamps as ISO-8601 text ending in Z, and nulls as empty/null.
    actual, expected = run_generated(tmp_path, 12_000, 5, {}, fmt=fmt)
    assert_models_equal(actual, expected)


def test_exposure_event_name_is_case_sensitive_on_generated_data(tmp_path):
    # The generator adds events named EXPERIMENT_VIEWED; only the exact name is staged.
    ds = generate(20_000, seed=4)
    events_path, assignments_path = write_dataset(ds, tmp_path / "data")
    expguard.run(str(events_path), str(assignments_path), output_dir=str(tmp_path / "out"))
    names = ds.events.column("event_name").to_pylist()
    assert "EXPERIMENT_VIEWED" in names
    assert pq.read_metadata(tmp_path / "out" / f"{STG}.parquet").num_rows == names.count("experiment_viewed")


# --------------------------------------------------------------------------------------------
# hand-made adversarial data
# --------------------------------------------------------------------------------------------


def adversarial(grace: int = 5, max_days: int = 30, name: str = "experiment_viewed") -> tuple[list, list]:
    """Events and assignments that hit ties, exact bounds, padding, numbers, unassigned units
    and malformed rows, with the window bounds computed for the given variables."""
    start = T0 - dt.timedelta(minutes=grace)  # window_start of an assignment at T0
    end = T0 + dt.timedelta(days=max_days)  # window_end
    us = dt.timedelta(microseconds=1)
    events: list[dict] = []
    assignments: list[dict] = []

    def ev(unit, at, var="A", exp_id="exp", event_id=None, properties=None, event_name=name):
        events.append(exposure(unit, at, var, exp_id, event_id, event_name, properties))

    def asg(unit, var="A", at=T0, exp_id="exp"):
        assignments.append(assignment(unit, var, at, exp_id))

    # ties on exposed_at: event_id ascending, binary, nulls last
    asg("tie_ids"); ev("tie_ids", ts(1), event_id="b"); ev("tie_ids", ts(1), event_id="a"); ev("tie_ids", ts(1))
    asg("tie_null_first"); ev("tie_null_first", ts(2)); ev("tie_null_first", ts(2), event_id="z")
    asg("tie_all_null"); ev("tie_all_null", ts(3)); ev("tie_all_null", ts(3)); ev("tie_all_null", ts(9))
    asg("tie_case"); ev("tie_case", ts(4), event_id="a"); ev("tie_case", ts(4), event_id="B")
    asg("tie_digits"); ev("tie_digits", ts(5), event_id="9"); ev("tie_digits", ts(5), event_id="10")
    asg("tie_empty_id"); ev("tie_empty_id", ts(6), event_id="a"); ev("tie_empty_id", ts(6), event_id="")
    asg("earlier_null_id"); ev("earlier_null_id", ts(7)); ev("earlier_null_id", ts(7, micros=1), event_id="a")
    # exact window bounds (inclusive), one microsecond outside
    asg("at_start"); ev("at_start", start, event_id="s")
    asg("before_start"); ev("before_start", start - us)
    asg("at_end"); ev("at_end", end)
    asg("after_end"); ev("after_end", end + us)
    asg("at_assigned"); ev("at_assigned", T0)
    # the first exposure of a variation decides its timing, even if it is seen again later
    asg("pre_then_in"); ev("pre_then_in", start - us, event_id="p"); ev("pre_then_in", T0 + dt.timedelta(hours=1))
    asg("in_then_late"); ev("in_then_late", T0 + us); ev("in_then_late", end + dt.timedelta(days=3))
    asg("pre_and_late"); ev("pre_and_late", start - dt.timedelta(hours=1)); ev("pre_and_late", end + us, var="B")
    # several variations; ties on the first exposure pick the smallest variation_id (binary)
    asg("multi_tie"); ev("multi_tie", ts(10), var="B"); ev("multi_tie", ts(10), var="A")
    asg("multi_case", var="a"); ev("multi_case", ts(10), var="a"); ev("multi_case", ts(10), var="B")
    asg("multi_unicode", var="z"); ev("multi_unicode", ts(11), var="é"); ev("multi_unicode", ts(11), var="z")
    asg("multi_digits", var="9"); ev("multi_digits", ts(12), var="9"); ev("multi_digits", ts(12), var="10")
    asg("multi_pre", var="B"); ev("multi_pre", start - us, var="A"); ev("multi_pre", T0, var="B")
    asg("mismatch"); ev("mismatch", ts(13), var="B"); ev("mismatch", ts(14), var="B")
    asg("mismatch_pre"); ev("mismatch_pre", start - dt.timedelta(days=2), var="B")
    asg("no_exposure")
    asg("no_exposure_2", at=T0 + dt.timedelta(days=1, hours=3))
    asg("other_day", at=T0 + dt.timedelta(days=1)); ev("other_day", T0 + dt.timedelta(days=1, minutes=1))
    # padding: U+0020 is trimmed, other whitespace is kept
    asg("pad"); ev(" pad  ", ts(15), var=" A ", exp_id="  exp ")
    asg("pad_tab"); ev("pad_tab", ts(16), var="\tA")
    asg("pad_nbsp"); ev("\u00a0pad_nbsp", ts(17))
    asg(" lead_space"); ev(" lead_space", ts(18))  # assignment ids are used as given: no match
    asg("my unit", exp_id="my exp"); ev("my unit", ts(19), exp_id="my exp")
    # numeric JSON ids yield their decimal text
    asg("num", var="1", exp_id="7"); ev("num", ts(20), properties='{"experiment_id": 7, "variation_id": 1}')
    asg("num_neg", var="-3", exp_id="7"); ev("num_neg", ts(21), properties='{"experiment_id": 7, "variation_id": -3}')
    asg("num_big", var="9007199254740993", exp_id="7")
    ev("num_big", ts(22), properties='{"experiment_id": 7, "variation_id": 9007199254740993}')
    asg("num_str", var="007", exp_id="7")
    ev("num_str", ts(23), properties='{"experiment_id": "7", "variation_id": "007"}')
    ev("num_str", ts(24), properties='{"experiment_id": 7, "variation_id": 7}')  # "7" != "007"
    asg("escaped"); ev("escaped", ts(25), properties='{"experiment_id": "\\u0065xp", "variation_id": "\\u0041"}')
    asg("extra_keys"); ev("extra_keys", ts(26), properties=props(platform="web", nested={"variation_id": "B"}))
    # unassigned units: counted on the UTC date of their first exposure in the experiment
    ev("ghost", T0 + dt.timedelta(days=2, hours=13)); ev("ghost", T0 + dt.timedelta(days=1), var="B")
    ev("ghost_only_exp", ts(30), exp_id="exp_unassigned"); ev("ghost_only_exp", ts(-3000), exp_id="exp_unassigned")
    ev("tie_ids", ts(31), exp_id="exp_other")  # assigned in exp, not in exp_other
    ev("ghost_late", T0 + dt.timedelta(days=40), exp_id="exp")
    # malformed rows: kept and labelled with the first reason that applies
    ev("m1", ts(40), properties=props(experiment_id=...))
    ev("m2", ts(41), properties=props(experiment_id=None))
    ev("m3", ts(42), exp_id="")
    ev("m4", ts(43), exp_id="   ")
    ev(None, ts(44), event_id="m5")
    ev("", ts(45), event_id="m6")
    ev("   ", ts(46), event_id="m7")
    ev("m8", ts(47), properties=props(variation_id=...))
    ev("m9", ts(48), properties=props(variation_id=None))
    ev("m10", ts(49), var="  ")
    ev("m11", None, event_id="m11")
    ev("m12", ts(50), properties='{"experiment_id": "exp", "variation_id": "A"')  # truncated JSON
    ev("m13", ts(51), properties="[1, 2]")
    ev("m14", ts(52), properties='"exp"')
    ev("m15", ts(53), properties="not json at all")
    ev(None, None, properties="{}", event_id="m16")  # every reason applies: the first wins
    ev("", ts(54), var="", event_id="m17")
    ev("m18", ts(55), properties="")
    events.append({"event_id": "m19", "event_name": name, "unit_id": "m19", "event_ts": ts(56), "properties": None})
    # not exposure events: the name matches exactly and case-sensitively
    ev("tie_ids", ts(60), var="B", event_name=name.upper())
    ev("tie_ids", ts(61), var="B", event_name=name + " ")
    ev("tie_ids", ts(62), var="B", event_name="page_view")
    ev("no_exposure", ts(63), event_name="click", properties='{"page": "/"}')
    # data_through is the latest exposed_at of any staging row, a rejected one included: the
    # cohort of T0's date is complete exactly at midnight + 1 + max_days, the next one is not.
    complete_at = dt.datetime.combine(T0.date(), dt.time()) + dt.timedelta(days=1 + max_days)
    ev("late_reject", complete_at, properties=props(experiment_id=...), event_id="late")
    ev("later_non_exposure", complete_at + dt.timedelta(days=5), event_name="page_view")
    # a second experiment, cohorts on other dates
    asg("tie_ids", var="B", at=T0 - dt.timedelta(days=3), exp_id="exp2")
    ev("tie_ids", T0 - dt.timedelta(days=3), var="B", exp_id="exp2")
    asg("u2", var="A", at=T0 - dt.timedelta(days=3, hours=12, microseconds=1), exp_id="exp2")
    ev("u2", T0 - dt.timedelta(days=3, hours=12, minutes=grace + 1), var="A", exp_id="exp2")
    return events, assignments


@pytest.mark.parametrize("variables", list(VARIABLE_SETS.values()), ids=list(VARIABLE_SETS))
def test_adversarial_set_matches_reference(tmp_path, variables):
    grace = variables.get(GRACE, 5)
    max_days = variables.get(MAX_DAYS, 30)
    events, assignments = adversarial(grace, max_days, variables.get(EVENT_NAME, "experiment_viewed"))
    actual = run_models(tmp_path, events, assignments, **variables)
    expected = build_models(events, assignments, **variables)
    assert_models_equal(actual, expected)


def test_adversarial_set_hits_the_cases_it_is_meant_to(tmp_path):
    # Guard against a silently degenerate fixture: every status and reason occurs.
    events, assignments = adversarial()
    expected = build_models(events, assignments)
    statuses = {row["exposure_status"] for row in expected[VALIDATION]}
    assert statuses == {"no_exposure", "multi_variation_exposure", "variation_mismatch",
                        "pre_assignment_exposure", "exposure_outside_window", "valid"}
    reasons = {row["reject_reason"] for row in expected[STG]}
    assert reasons == {None, "missing_experiment_id", "missing_unit_id", "missing_variation_id", "missing_timestamp"}
    daily = expected[DAILY]
    assert any(row["is_window_complete"] for row in daily) and not all(row["is_window_complete"] for row in daily)
    assert any(row["assigned_units"] == 0 and row["unassigned_exposed_units"] > 0 for row in daily)


def test_adversarial_set_with_events_in_another_order_matches_reference(tmp_path):
    events, assignments = adversarial()
    actual = run_models(tmp_path, events[::-1], assignments[::-1])
    assert_models_equal(actual, build_models(events, assignments))


def test_json_integer_beyond_64_bits_yields_its_decimal_text(tmp_path):
    # SPEC: a JSON integer yields its decimal text, however large.
    big = "123456789012345678901234567890"
    events = [exposure("u1", ts(1), properties=f'{{"experiment_id": "exp", "variation_id": {big}}}')]
    assignments = [assignment("u1", big)]
    actual = run_models(tmp_path, events, assignments)
    assert actual[STG][0]["variation_id"] == big
    assert_models_equal(actual, build_models(events, assignments))


def test_timezone_aware_event_timestamps_are_converted_to_utc(tmp_path):
    # A timestamp with time zone is converted to UTC (SPEC, fct_events.event_ts).
    berlin = dt.timezone(dt.timedelta(hours=2))
    local = dt.datetime(2026, 3, 2, 1, 30, tzinfo=berlin)  # 2026-03-01 23:30 UTC
    schema = pa.schema([("event_id", pa.string()), ("event_name", pa.string()), ("unit_id", pa.string()),
                        ("event_ts", pa.timestamp("us", tz="+02:00")), ("properties", pa.string())])
    events = [exposure("u1", local)]
    pq.write_table(pa.Table.from_pylist(events, schema=schema), tmp_path / "events.parquet")
    assignments = [assignment("u1", at=dt.datetime(2026, 3, 1, 23, 0))]
    pq.write_table(pa.Table.from_pylist(assignments), tmp_path / "assignments.parquet")
    expguard.run(str(tmp_path / "events.parquet"), str(tmp_path / "assignments.parquet"),
                 output_dir=str(tmp_path / "out"))
    actual = read_outputs(tmp_path / "out")
    assert normalize(actual[STG][0]["exposed_at"]) == dt.datetime(2026, 3, 1, 23, 30)
    assert actual[STG][0]["exposure_date"] == dt.date(2026, 3, 1)
    assert_models_equal(actual, build_models(events, assignments))


# --------------------------------------------------------------------------------------------
# output types (SPEC "Output types")
# --------------------------------------------------------------------------------------------


def _expected_type(column: str) -> str:
    if column.endswith("_at"):
        return "timestamp"
    if column == "date" or column.endswith("_date"):
        return "date"
    if column.startswith(("is_", "has_")):
        return "bool"
    if column.endswith("_rate"):
        return "double"
    if column.endswith(("_count", "_units", "_events")):
        return "int64"
    return "string"


def test_output_columns_have_the_spec_types(tmp_path):
    events, assignments = adversarial()
    run_models(tmp_path, events, assignments)
    for model in CORE_MODELS:
        schema = pq.read_schema(tmp_path / "out" / f"{model}.parquet")
        assert schema.names[: len(SPEC_COLUMNS[model])] == SPEC_COLUMNS[model], model
        for column in SPEC_COLUMNS[model]:
            arrow_type = schema.field(column).type
            wanted = _expected_type(column)
            if wanted == "timestamp":
                ok = pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us" and arrow_type.tz in (None, "UTC")
            elif wanted == "date":
                ok = pa.types.is_date32(arrow_type)
            elif wanted == "bool":
                ok = pa.types.is_boolean(arrow_type)
            elif wanted == "double":
                ok = pa.types.is_float64(arrow_type)
            elif wanted == "int64":
                ok = pa.types.is_int64(arrow_type)
            else:
                ok = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
            assert ok, f"{model}.{column} has type {arrow_type}, expected {wanted}"


def test_comparison_helper_detects_a_difference():
    # The oracle is only as good as its comparison: one changed value must be reported.
    events, assignments = adversarial()
    expected = build_models(events, assignments)
    changed = {name: [dict(row) for row in rows] for name, rows in expected.items()}
    changed[DAILY][0]["exposure_rate"] = (changed[DAILY][0]["exposure_rate"] or 0.0) + 1e-9
    changed[VALIDATION][0]["is_exposed"] = int(changed[VALIDATION][0]["is_exposed"])
    assert model_differences(DAILY, changed[DAILY], expected[DAILY])
    assert model_differences(VALIDATION, changed[VALIDATION], expected[VALIDATION])
    assert not model_differences(STG, changed[STG], expected[STG])
