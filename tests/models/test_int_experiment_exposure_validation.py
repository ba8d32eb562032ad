"""Unit tests for int_experiment_exposure_validation: one SPEC rule per test, on tiny tables.

SPEC: exactly one row per assignment; a unit's exposures are its deduped rows (all variations,
all times), so timing is judged on the first exposure of each variation. window_start =
assigned_at - grace, window_end = assigned_at + max_days, both inclusive.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.constants import EXPOSURE_STATUSES
from helpers import EVENT_SCHEMA, assignment, by_key, exposure, read_model, run_models, ts, write_rows

MODEL = "int_experiment_exposure_validation"

SPEC_COLUMNS = [
    ("experiment_id", pa.string()),
    ("unit_id", pa.string()),
    ("assigned_variation_id", pa.string()),
    ("assigned_at", pa.timestamp("us")),
    ("assignment_date", pa.date32()),
    ("exposed_variation_count", pa.int64()),
    ("first_exposure_at", pa.timestamp("us")),
    ("first_exposure_variation_id", pa.string()),
    ("first_post_assignment_exposure_at", pa.timestamp("us")),
    ("first_valid_exposure_at", pa.timestamp("us")),
    ("is_exposed", pa.bool_()),
    ("has_pre_assignment_exposure", pa.bool_()),
    ("has_exposure_outside_window", pa.bool_()),
    ("has_variation_mismatch", pa.bool_()),
    ("is_multi_variation", pa.bool_()),
    ("exposure_status", pa.string()),
    ("is_valid_exposure", pa.bool_()),
]
BOOLEANS = [name for name, kind in SPEC_COLUMNS if kind == pa.bool_()]

# An assigned_at with a microsecond part, so that every boundary is checked to the microsecond.
AT = ts(micros=123457)
GRACE = dt.timedelta(minutes=5)  # default exp_allow_pre_assignment_exposure_grace_minutes
MAX_DAYS = dt.timedelta(days=30)  # default exp_exposure_max_days_after_assignment
US = dt.timedelta(microseconds=1)


def validate(tmp_path: Path, events: list[dict], assignments: list[dict] | None = None, **variables) -> list[dict]:
    return run_models(tmp_path, events, assignments if assignments is not None else [assignment(at=AT)],
                      **variables)[MODEL]


def validate_table(tmp_path: Path, events: list[dict], assignments: pa.Table) -> list[dict]:
    """Run with an assignments table of arbitrary column types (integer ids, tz-aware times)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    events_path = write_rows(tmp_path / "events.parquet", events, EVENT_SCHEMA)
    assignments_path = tmp_path / "assignments.parquet"
    pq.write_table(assignments, assignments_path)
    out = tmp_path / "out"
    expguard.run(str(events_path), str(assignments_path), output_dir=str(out), engine={"name": "duckdb"})
    return read_model(out / f"{MODEL}.parquet")


def only(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


def unit(tmp_path: Path, events: list[dict], **variables) -> dict:
    """The validation row of the single assignment (exp, u1, assigned A at AT)."""
    return only(validate(tmp_path, events, **variables))


# -- output shape -------------------------------------------------------------------------------

def test_output_columns_match_spec_names_and_order(tmp_path):
    validate(tmp_path, [exposure(at=AT)])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    assert schema.names[: len(SPEC_COLUMNS)] == [name for name, _ in SPEC_COLUMNS]


@pytest.mark.parametrize("with_rows", [True, False], ids=["rows", "empty"])
def test_output_parquet_physical_types(tmp_path, with_rows):
    if with_rows:
        validate(tmp_path, [exposure(at=AT)], [assignment(at=AT), assignment(unit_id="u2", at=AT)])
    else:
        validate(tmp_path, [], [])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    for name, expected in SPEC_COLUMNS:
        assert schema.field(name).type == expected, name


# -- grain ----------------------------------------------------------------------------------------

def test_exactly_one_row_per_assignment(tmp_path):
    assignments = [
        assignment(unit_id="u1", at=AT),
        assignment(unit_id="u2", at=AT),
        assignment(unit_id="u3", at=AT),
        assignment(unit_id="u1", experiment_id="exp2", at=AT),
    ]
    events = [
        exposure(unit_id="u1", variation_id="A", at=AT),
        exposure(unit_id="u1", variation_id="A", at=AT + GRACE),
        exposure(unit_id="u1", variation_id="B", at=AT),
        exposure(unit_id="u1", variation_id="C", at=AT - dt.timedelta(days=1)),
        exposure(unit_id="u3", at=AT),
    ]
    rows = validate(tmp_path, events, assignments)
    keys = [(row["experiment_id"], row["unit_id"]) for row in rows]
    assert sorted(keys) == [("exp", "u1"), ("exp", "u2"), ("exp", "u3"), ("exp2", "u1")]


def test_unassigned_exposures_are_ignored(tmp_path):
    events = [
        exposure(unit_id="u9", at=AT),  # no assignment in exp
        exposure(unit_id="u1", experiment_id="exp2", variation_id="B", at=AT),  # u1 is not assigned in exp2
    ]
    row = unit(tmp_path, events)
    assert (row["experiment_id"], row["unit_id"]) == ("exp", "u1")
    assert row["exposed_variation_count"] == 0
    assert row["exposure_status"] == "no_exposure"
    assert row["has_variation_mismatch"] is False


def test_rejected_exposures_are_ignored(tmp_path):
    events = [exposure(at=None), exposure(variation_id="  ", at=AT)]
    row = unit(tmp_path, events)
    assert row["exposed_variation_count"] == 0
    assert row["exposure_status"] == "no_exposure"


def test_exposures_match_assignment_by_experiment_and_unit_case_sensitively(tmp_path):
    events = [exposure(unit_id="U1", at=AT), exposure(experiment_id="EXP", at=AT)]
    assert unit(tmp_path, events)["exposure_status"] == "no_exposure"


# -- assignment columns ---------------------------------------------------------------------------

def test_assignment_columns_are_taken_from_the_assignment(tmp_path):
    at = dt.datetime(2026, 3, 1, 23, 59, 59, 999999)
    row = only(validate(tmp_path, [], [assignment(unit_id="u1", variation_id="B", at=at)]))
    assert row["assigned_variation_id"] == "B"
    assert row["assigned_at"] == at


def test_assignment_ids_are_used_as_given(tmp_path):
    # Assignment ids are not trimmed (only exposure ids are): " u1 " stays " u1 ".
    row = only(validate(tmp_path, [], [assignment(unit_id=" u1 ", experiment_id="Exp ", variation_id=" A", at=AT)]))
    assert (row["experiment_id"], row["unit_id"], row["assigned_variation_id"]) == ("Exp ", " u1 ", " A")


def test_numeric_assignment_ids_become_decimal_text_and_match_exposures(tmp_path):
    assignments = pa.table(
        {
            "experiment_id": pa.array([42], pa.int64()),
            "unit_id": pa.array([7], pa.int64()),
            "variation_id": pa.array([1], pa.int32()),
            "assigned_at": pa.array([AT], pa.timestamp("us")),
        }
    )
    events = [exposure(unit_id="7", experiment_id=42, variation_id=1, at=AT)]
    row = only(validate_table(tmp_path, events, assignments))
    assert (row["experiment_id"], row["unit_id"], row["assigned_variation_id"]) == ("42", "7", "1")
    assert row["exposure_status"] == "valid"


def test_assigned_at_with_time_zone_is_converted_to_utc(tmp_path):
    local = dt.datetime(2026, 3, 1, 20, 30, 0, 5, tzinfo=ZoneInfo("America/New_York"))  # 01:30 UTC on March 2
    assignments = pa.table(
        {
            "experiment_id": pa.array(["exp"]),
            "unit_id": pa.array(["u1"]),
            "variation_id": pa.array(["A"]),
            "assigned_at": pa.array([local], pa.timestamp("us", tz="America/New_York")),
        }
    )
    utc = dt.datetime(2026, 3, 2, 1, 30, 0, 5)
    row = only(validate_table(tmp_path, [exposure(at=utc - GRACE)], assignments))
    assert row["assigned_at"] == utc
    assert row["assignment_date"] == dt.date(2026, 3, 2)
    assert row["exposure_status"] == "valid"  # window_start is computed in UTC


def test_assignment_date_is_the_utc_date_of_assigned_at(tmp_path):
    assignments = [
        assignment(unit_id="late", at=dt.datetime(2026, 3, 1, 23, 59, 59, 999999)),
        assignment(unit_id="early", at=dt.datetime(2026, 3, 2, 0, 0, 0)),
    ]
    rows = by_key(validate(tmp_path, [], assignments), "unit_id")
    assert rows[("late",)]["assignment_date"] == dt.date(2026, 3, 1)
    assert rows[("early",)]["assignment_date"] == dt.date(2026, 3, 2)


# -- exposure summary columns ---------------------------------------------------------------------

def test_unexposed_unit_has_zero_count_and_null_exposure_times(tmp_path):
    row = unit(tmp_path, [])
    assert row["exposed_variation_count"] == 0
    assert row["first_exposure_at"] is None
    assert row["first_exposure_variation_id"] is None
    assert row["first_post_assignment_exposure_at"] is None
    assert row["first_valid_exposure_at"] is None


def test_exposed_variation_count_counts_distinct_variations(tmp_path):
    events = [
        exposure(variation_id="A", at=AT),
        exposure(variation_id="A", at=AT + US),
        exposure(variation_id="A", at=AT + 2 * US),
        exposure(variation_id="B", at=AT),
        exposure(variation_id="b", at=AT),
    ]
    assert unit(tmp_path, events)["exposed_variation_count"] == 3


def test_first_exposure_at_is_the_earliest_of_any_variation(tmp_path):
    events = [
        exposure(variation_id="A", at=AT + dt.timedelta(hours=2)),
        exposure(variation_id="B", at=AT + dt.timedelta(hours=1)),
        exposure(variation_id="B", at=AT + dt.timedelta(hours=3)),
    ]
    row = unit(tmp_path, events)
    assert row["first_exposure_at"] == AT + dt.timedelta(hours=1)
    assert row["first_exposure_variation_id"] == "B"


def test_first_exposure_at_includes_pre_assignment_exposures(tmp_path):
    events = [exposure(variation_id="A", at=AT - dt.timedelta(days=3)), exposure(variation_id="B", at=AT)]
    row = unit(tmp_path, events)
    assert row["first_exposure_at"] == AT - dt.timedelta(days=3)
    assert row["first_exposure_variation_id"] == "A"


@pytest.mark.parametrize(
    "variations, expected",
    [(["a", "B"], "B"), (["9", "10"], "10"), (["C", "A", "B"], "A"), (["é", "z"], "z")],
    ids=["case", "digits", "three", "code_point"],
)
def test_first_exposure_variation_tie_takes_smallest_variation_id(tmp_path, variations, expected):
    events = [exposure(variation_id=v, at=AT) for v in variations]
    events.append(exposure(variation_id="0", at=AT + US))  # smallest id, but not among the earliest
    row = unit(tmp_path, events)
    assert row["first_exposure_at"] == AT
    assert row["first_exposure_variation_id"] == expected


def test_first_post_assignment_exposure_at_skips_pre_window_exposures(tmp_path):
    events = [
        exposure(variation_id="A", at=AT - dt.timedelta(days=1)),
        exposure(variation_id="B", at=AT + dt.timedelta(hours=5)),
        exposure(variation_id="C", at=AT + dt.timedelta(hours=1)),
    ]
    row = unit(tmp_path, events)
    assert row["first_post_assignment_exposure_at"] == AT + dt.timedelta(hours=1)


def test_first_post_assignment_exposure_at_includes_exposures_after_window_end(tmp_path):
    row = unit(tmp_path, [exposure(at=AT + MAX_DAYS + dt.timedelta(days=1))])
    assert row["first_post_assignment_exposure_at"] == AT + MAX_DAYS + dt.timedelta(days=1)
    assert row["first_valid_exposure_at"] is None


def test_first_post_assignment_exposure_at_is_null_when_all_exposures_pre_window(tmp_path):
    events = [exposure(variation_id="A", at=AT - dt.timedelta(hours=1)), exposure(variation_id="B", at=AT - GRACE - US)]
    assert unit(tmp_path, events)["first_post_assignment_exposure_at"] is None


def test_first_valid_exposure_at_requires_the_assigned_variation(tmp_path):
    events = [
        exposure(variation_id="B", at=AT + dt.timedelta(minutes=1)),
        exposure(variation_id="A", at=AT + dt.timedelta(minutes=2)),
    ]
    row = unit(tmp_path, events)
    assert row["first_post_assignment_exposure_at"] == AT + dt.timedelta(minutes=1)
    assert row["first_valid_exposure_at"] == AT + dt.timedelta(minutes=2)


def test_first_valid_exposure_at_is_null_with_only_other_variations(tmp_path):
    assert unit(tmp_path, [exposure(variation_id="B", at=AT)])["first_valid_exposure_at"] is None


def test_first_valid_exposure_at_requires_exposure_inside_window(tmp_path):
    events = [exposure(variation_id="A", at=AT + MAX_DAYS + US)]
    assert unit(tmp_path, events)["first_valid_exposure_at"] is None


def test_timing_is_judged_on_the_first_exposure_of_each_variation(tmp_path):
    # First seen before window_start, seen again inside the window: still pre-assignment.
    events = [
        exposure(variation_id="A", at=AT - dt.timedelta(days=1)),
        exposure(variation_id="A", at=AT + dt.timedelta(hours=1)),
    ]
    row = unit(tmp_path, events)
    assert row["has_pre_assignment_exposure"] is True
    assert row["first_post_assignment_exposure_at"] is None
    assert row["first_valid_exposure_at"] is None
    assert row["exposure_status"] == "pre_assignment_exposure"
    assert row["is_valid_exposure"] is False


def test_repeat_exposure_after_window_end_does_not_make_it_outside_window(tmp_path):
    # The first exposure of A is in the window; a later repeat beyond window_end is not judged.
    events = [
        exposure(variation_id="A", at=AT + dt.timedelta(days=1)),
        exposure(variation_id="A", at=AT + MAX_DAYS + dt.timedelta(days=1)),
    ]
    row = unit(tmp_path, events)
    assert row["has_exposure_outside_window"] is False
    assert row["exposure_status"] == "valid"


# -- window bounds (inclusive, to the microsecond) ------------------------------------------------

def test_exposure_exactly_at_window_start_is_post_assignment(tmp_path):
    row = unit(tmp_path, [exposure(at=AT - GRACE)])
    assert row["has_pre_assignment_exposure"] is False
    assert row["first_post_assignment_exposure_at"] == AT - GRACE
    assert row["first_valid_exposure_at"] == AT - GRACE
    assert row["exposure_status"] == "valid"


def test_exposure_one_microsecond_before_window_start_is_pre_assignment(tmp_path):
    row = unit(tmp_path, [exposure(at=AT - GRACE - US)])
    assert row["has_pre_assignment_exposure"] is True
    assert row["first_post_assignment_exposure_at"] is None
    assert row["first_valid_exposure_at"] is None
    assert row["exposure_status"] == "pre_assignment_exposure"


def test_exposure_exactly_at_window_end_is_inside_window(tmp_path):
    row = unit(tmp_path, [exposure(at=AT + MAX_DAYS)])
    assert row["has_exposure_outside_window"] is False
    assert row["first_valid_exposure_at"] == AT + MAX_DAYS
    assert row["exposure_status"] == "valid"


def test_exposure_one_microsecond_after_window_end_is_outside_window(tmp_path):
    row = unit(tmp_path, [exposure(at=AT + MAX_DAYS + US)])
    assert row["has_exposure_outside_window"] is True
    assert row["first_post_assignment_exposure_at"] == AT + MAX_DAYS + US
    assert row["first_valid_exposure_at"] is None
    assert row["exposure_status"] == "exposure_outside_window"


@pytest.mark.parametrize("grace", [0, 10])
def test_grace_minutes_variable_sets_inclusive_window_start(tmp_path, grace):
    window_start = AT - dt.timedelta(minutes=grace)
    assignments = [assignment(unit_id="at_start", at=AT), assignment(unit_id="before_start", at=AT)]
    events = [exposure(unit_id="at_start", at=window_start), exposure(unit_id="before_start", at=window_start - US)]
    rows = by_key(validate(tmp_path, events, assignments,
                           exp_allow_pre_assignment_exposure_grace_minutes=grace), "unit_id")
    assert rows[("at_start",)]["has_pre_assignment_exposure"] is False
    assert rows[("at_start",)]["exposure_status"] == "valid"
    assert rows[("before_start",)]["has_pre_assignment_exposure"] is True
    assert rows[("before_start",)]["exposure_status"] == "pre_assignment_exposure"


def test_grace_larger_than_default_accepts_earlier_exposure(tmp_path):
    # 7 minutes early: pre-assignment with the default grace of 5, valid with a grace of 10.
    events = [exposure(at=AT - dt.timedelta(minutes=7))]
    assert unit(tmp_path / "default", events)["exposure_status"] == "pre_assignment_exposure"
    assert unit(tmp_path / "ten", events,
                exp_allow_pre_assignment_exposure_grace_minutes=10)["exposure_status"] == "valid"


@pytest.mark.parametrize("max_days", [0, 7])
def test_max_days_variable_sets_inclusive_window_end(tmp_path, max_days):
    window_end = AT + dt.timedelta(days=max_days)
    assignments = [assignment(unit_id="at_end", at=AT), assignment(unit_id="after_end", at=AT)]
    events = [exposure(unit_id="at_end", at=window_end), exposure(unit_id="after_end", at=window_end + US)]
    rows = by_key(validate(tmp_path, events, assignments, exp_exposure_max_days_after_assignment=max_days),
                  "unit_id")
    assert rows[("at_end",)]["has_exposure_outside_window"] is False
    assert rows[("at_end",)]["first_valid_exposure_at"] == window_end
    assert rows[("at_end",)]["exposure_status"] == "valid"
    assert rows[("after_end",)]["has_exposure_outside_window"] is True
    assert rows[("after_end",)]["first_valid_exposure_at"] is None
    assert rows[("after_end",)]["exposure_status"] == "exposure_outside_window"


# -- flags ----------------------------------------------------------------------------------------

def test_is_exposed_when_exposed_variation_count_positive(tmp_path):
    assignments = [assignment(unit_id="seen", at=AT), assignment(unit_id="unseen", at=AT)]
    events = [exposure(unit_id="seen", variation_id="B", at=AT - dt.timedelta(days=1))]
    rows = by_key(validate(tmp_path, events, assignments), "unit_id")
    assert rows[("seen",)]["is_exposed"] is True
    assert rows[("unseen",)]["is_exposed"] is False


def test_has_pre_assignment_exposure_when_any_variation_first_seen_before_window_start(tmp_path):
    events = [exposure(variation_id="A", at=AT), exposure(variation_id="B", at=AT - dt.timedelta(hours=1))]
    row = unit(tmp_path, events)
    assert row["has_pre_assignment_exposure"] is True
    assert row["has_exposure_outside_window"] is False


def test_has_exposure_outside_window_when_any_variation_first_seen_after_window_end(tmp_path):
    events = [exposure(variation_id="A", at=AT), exposure(variation_id="B", at=AT + MAX_DAYS + US)]
    row = unit(tmp_path, events)
    assert row["has_exposure_outside_window"] is True
    assert row["has_pre_assignment_exposure"] is False


def test_has_variation_mismatch_when_any_variation_differs_from_assigned(tmp_path):
    assignments = [assignment(unit_id=u, at=AT) for u in ("only_a", "only_b", "both", "case")]
    events = [
        exposure(unit_id="only_a", variation_id="A", at=AT),
        exposure(unit_id="only_b", variation_id="B", at=AT),
        exposure(unit_id="both", variation_id="A", at=AT),
        exposure(unit_id="both", variation_id="B", at=AT + US),
        exposure(unit_id="case", variation_id="a", at=AT),
    ]
    rows = by_key(validate(tmp_path, events, assignments), "unit_id")
    assert rows[("only_a",)]["has_variation_mismatch"] is False
    assert rows[("only_b",)]["has_variation_mismatch"] is True
    assert rows[("both",)]["has_variation_mismatch"] is True
    assert rows[("case",)]["has_variation_mismatch"] is True


def test_variation_mismatch_is_judged_at_any_time(tmp_path):
    # An other variation seen long before the window still is a mismatch.
    events = [exposure(variation_id="A", at=AT), exposure(variation_id="B", at=AT - dt.timedelta(days=60))]
    assert unit(tmp_path, events)["has_variation_mismatch"] is True


def test_is_multi_variation_when_more_than_one_variation(tmp_path):
    assignments = [assignment(unit_id="one", at=AT), assignment(unit_id="two", at=AT)]
    events = [
        exposure(unit_id="one", variation_id="A", at=AT),
        exposure(unit_id="one", variation_id="A", at=AT + US),
        exposure(unit_id="two", variation_id="A", at=AT),
        exposure(unit_id="two", variation_id="B", at=AT),
    ]
    rows = by_key(validate(tmp_path, events, assignments), "unit_id")
    assert rows[("one",)]["is_multi_variation"] is False
    assert rows[("two",)]["is_multi_variation"] is True


def test_booleans_are_never_null(tmp_path):
    units = ["none", "multi", "mismatch", "pre", "outside", "valid"]
    assignments = [assignment(unit_id=u, at=AT) for u in units]
    events = [
        exposure(unit_id="multi", variation_id="A", at=AT),
        exposure(unit_id="multi", variation_id="B", at=AT),
        exposure(unit_id="mismatch", variation_id="B", at=AT),
        exposure(unit_id="pre", at=AT - dt.timedelta(days=1)),
        exposure(unit_id="outside", at=AT + dt.timedelta(days=31)),
        exposure(unit_id="valid", at=AT),
    ]
    rows = validate(tmp_path, events, assignments)
    assert len(rows) == len(units)
    for row in rows:
        for name in BOOLEANS:
            assert isinstance(row[name], bool), (row["unit_id"], name, row[name])


def test_unexposed_unit_has_every_flag_false(tmp_path):
    row = unit(tmp_path, [])
    for name in BOOLEANS:
        assert row[name] is False, name


# -- exposure_status ------------------------------------------------------------------------------

def test_status_no_exposure_when_no_exposure_at_all(tmp_path):
    assert unit(tmp_path, [])["exposure_status"] == "no_exposure"


def test_status_multi_variation_exposure(tmp_path):
    events = [exposure(variation_id="A", at=AT), exposure(variation_id="B", at=AT + US)]
    row = unit(tmp_path, events)
    assert row["exposure_status"] == "multi_variation_exposure"
    assert row["first_valid_exposure_at"] == AT  # the assigned variation was seen in the window


def test_status_variation_mismatch_when_one_variation_not_the_assigned_one(tmp_path):
    assert unit(tmp_path, [exposure(variation_id="B", at=AT)])["exposure_status"] == "variation_mismatch"


def test_status_pre_assignment_exposure_when_no_exposure_at_or_after_window_start(tmp_path):
    assert unit(tmp_path, [exposure(at=AT - dt.timedelta(hours=1))])["exposure_status"] == "pre_assignment_exposure"


def test_status_exposure_outside_window_when_no_exposure_inside_window(tmp_path):
    row = unit(tmp_path, [exposure(at=AT + dt.timedelta(days=45))])
    assert row["exposure_status"] == "exposure_outside_window"


def test_status_valid_when_one_variation_the_assigned_one_inside_window(tmp_path):
    row = unit(tmp_path, [exposure(at=AT + dt.timedelta(days=3)), exposure(at=AT + dt.timedelta(days=40))])
    assert row["exposure_status"] == "valid"
    assert row["first_valid_exposure_at"] == AT + dt.timedelta(days=3)


def test_status_multi_variation_takes_precedence_over_pre_assignment(tmp_path):
    events = [exposure(variation_id="A", at=AT - dt.timedelta(days=1)), exposure(variation_id="B", at=AT - dt.timedelta(days=2))]
    row = unit(tmp_path, events)
    assert row["has_pre_assignment_exposure"] is True
    assert row["exposure_status"] == "multi_variation_exposure"


def test_status_multi_variation_takes_precedence_over_outside_window(tmp_path):
    events = [exposure(variation_id="A", at=AT + dt.timedelta(days=40)), exposure(variation_id="B", at=AT + dt.timedelta(days=41))]
    row = unit(tmp_path, events)
    assert row["has_exposure_outside_window"] is True
    assert row["exposure_status"] == "multi_variation_exposure"


def test_status_multi_variation_takes_precedence_over_mismatch_without_assigned(tmp_path):
    events = [exposure(variation_id="B", at=AT), exposure(variation_id="C", at=AT)]
    row = unit(tmp_path, events)
    assert row["has_variation_mismatch"] is True
    assert row["exposure_status"] == "multi_variation_exposure"


def test_status_variation_mismatch_takes_precedence_over_pre_assignment(tmp_path):
    row = unit(tmp_path, [exposure(variation_id="B", at=AT - dt.timedelta(days=1))])
    assert row["has_pre_assignment_exposure"] is True
    assert row["exposure_status"] == "variation_mismatch"


def test_status_variation_mismatch_takes_precedence_over_outside_window(tmp_path):
    row = unit(tmp_path, [exposure(variation_id="B", at=AT + dt.timedelta(days=40))])
    assert row["has_exposure_outside_window"] is True
    assert row["exposure_status"] == "variation_mismatch"


def test_exposure_status_values_are_the_spec_statuses(tmp_path):
    units = ["none", "multi", "mismatch", "pre", "outside", "valid"]
    assignments = [assignment(unit_id=u, at=AT) for u in units]
    events = [
        exposure(unit_id="multi", variation_id="A", at=AT),
        exposure(unit_id="multi", variation_id="B", at=AT),
        exposure(unit_id="mismatch", variation_id="B", at=AT),
        exposure(unit_id="pre", at=AT - dt.timedelta(days=1)),
        exposure(unit_id="outside", at=AT + dt.timedelta(days=31)),
        exposure(unit_id="valid", at=AT),
    ]
    rows = by_key(validate(tmp_path, events, assignments), "unit_id")
    statuses = {u: rows[(u,)]["exposure_status"] for u in units}
    assert statuses == {
        "none": "no_exposure",
        "multi": "multi_variation_exposure",
        "mismatch": "variation_mismatch",
        "pre": "pre_assignment_exposure",
        "outside": "exposure_outside_window",
        "valid": "valid",
    }
    assert set(statuses.values()) == set(EXPOSURE_STATUSES)


def test_is_valid_exposure_is_status_valid(tmp_path):
    units = ["none", "mismatch", "pre", "valid"]
    assignments = [assignment(unit_id=u, at=AT) for u in units]
    events = [
        exposure(unit_id="mismatch", variation_id="B", at=AT),
        exposure(unit_id="pre", at=AT - dt.timedelta(days=1)),
        exposure(unit_id="valid", at=AT),
    ]
    for row in validate(tmp_path, events, assignments):
        assert row["is_valid_exposure"] is (row["exposure_status"] == "valid"), row["unit_id"]
        if row["is_valid_exposure"]:
            assert row["exposed_variation_count"] == 1
            assert row["first_valid_exposure_at"] is not None


def test_exposures_of_another_experiment_do_not_count_for_this_one(tmp_path):
    assignments = [assignment(unit_id="u1", at=AT), assignment(unit_id="u1", experiment_id="exp2", at=AT)]
    events = [exposure(unit_id="u1", variation_id="A", at=AT), exposure(unit_id="u1", experiment_id="exp2", variation_id="B", at=AT)]
    rows = by_key(validate(tmp_path, events, assignments), "experiment_id")
    assert rows[("exp",)]["exposure_status"] == "valid"
    assert rows[("exp",)]["exposed_variation_count"] == 1
    assert rows[("exp2",)]["exposure_status"] == "variation_mismatch"
