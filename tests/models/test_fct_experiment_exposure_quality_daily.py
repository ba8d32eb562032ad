"""Unit tests for fct_experiment_exposure_quality_daily: one SPEC rule per test, on tiny tables.

SPEC: one row per (experiment_id, date); for assigned units the date is the assignment_date
(the daily cohort); unassigned exposed units are counted on the UTC date of their first
exposure. Counts are never null, rates are null on a zero denominator, and is_window_complete
compares date + 1 day + max_days with data_through (latest exposed_at over all staging rows).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import assignment, by_key, exposure, run_models, ts

MODEL = "fct_experiment_exposure_quality_daily"

COUNTS = [
    "assigned_units",
    "exposed_units",
    "valid_exposed_units",
    "no_exposure_units",
    "multi_variation_exposure_units",
    "variation_mismatch_units",
    "pre_assignment_exposure_units",
    "exposure_outside_window_units",
    "mismatched_units",
    "exposure_events",
    "duplicate_exposure_events",
    "unassigned_exposed_units",
]
RATES = [
    "exposure_rate",
    "mismatch_rate",
    "multi_variation_rate",
    "no_exposure_rate",
    "pre_assignment_exposure_rate",
    "exposure_outside_window_rate",
]
SPEC_COLUMNS = (
    [("experiment_id", pa.string()), ("date", pa.date32())]
    + [(name, pa.int64()) for name in COUNTS]
    + [(name, pa.float64()) for name in RATES]
    + [("is_window_complete", pa.bool_())]
)
STATUS_COUNTS = [
    "no_exposure_units",
    "multi_variation_exposure_units",
    "variation_mismatch_units",
    "pre_assignment_exposure_units",
    "exposure_outside_window_units",
    "valid_exposed_units",
]

D1 = dt.date(2026, 3, 1)  # the date of T0 (2026-03-01 12:00 UTC)
D2 = dt.date(2026, 3, 2)
D3 = dt.date(2026, 3, 3)
US = dt.timedelta(microseconds=1)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def window_complete_at(day: dt.date, max_days: int = 30) -> dt.datetime:
    """The earliest data_through at which the cohort of ``day`` is complete: date + 1 day + max_days."""
    return midnight(day) + dt.timedelta(days=1 + max_days)


def daily(tmp_path: Path, events: list[dict], assignments: list[dict], **variables) -> dict[tuple, dict]:
    rows = run_models(tmp_path, events, assignments, **variables)[MODEL]
    keyed = by_key(rows, "experiment_id", "date")
    assert len(keyed) == len(rows), "one row per (experiment_id, date)"
    return keyed


def status_mix() -> tuple[list[dict], list[dict]]:
    """One cohort (exp, D1): one unit per status, two valid units, and repeated events."""
    assignments = [assignment(unit_id=u) for u in ("none", "multi", "mismatch", "pre", "outside", "valid1", "valid2")]
    events = [
        exposure(unit_id="multi", variation_id="A", at=ts(minutes=1)),
        exposure(unit_id="multi", variation_id="A", at=ts(minutes=2)),
        exposure(unit_id="multi", variation_id="B", at=ts(minutes=3)),
        exposure(unit_id="mismatch", variation_id="B", at=ts(minutes=1)),
        exposure(unit_id="pre", at=ts(days=-1)),
        exposure(unit_id="outside", at=ts(days=31)),
        exposure(unit_id="valid1", at=ts(minutes=1)),
        exposure(unit_id="valid1", at=ts(minutes=1)),
        exposure(unit_id="valid1", at=ts(days=2)),
        exposure(unit_id="valid2", at=ts(days=1)),
    ]
    return events, assignments


# -- output shape -------------------------------------------------------------------------------

def test_output_columns_match_spec_names_and_order(tmp_path):
    run_models(tmp_path, [exposure()], [assignment()])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    assert schema.names[: len(SPEC_COLUMNS)] == [name for name, _ in SPEC_COLUMNS]


@pytest.mark.parametrize("case", ["rows", "only_unassigned", "empty"])
def test_output_parquet_physical_types(tmp_path, case):
    if case == "rows":
        events, assignments = status_mix()
    elif case == "only_unassigned":
        events, assignments = [exposure(unit_id="u9")], []
    else:
        events, assignments = [], []
    run_models(tmp_path, events, assignments)
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    for name, expected in SPEC_COLUMNS:
        assert schema.field(name).type == expected, name


# -- grain: the assignment cohort ---------------------------------------------------------------

def test_date_is_the_assignment_date_cohort(tmp_path):
    assignments = [assignment(unit_id="u1", at=ts()), assignment(unit_id="u2", at=midnight(D2))]
    events = [exposure(unit_id="u1", at=midnight(D3)), exposure(unit_id="u2", at=midnight(D3) + US)]
    rows = daily(tmp_path, events, assignments)
    assert set(rows) == {("exp", D1), ("exp", D2)}  # no row on D3, the exposure date
    assert rows[("exp", D1)]["assigned_units"] == 1
    assert rows[("exp", D1)]["exposed_units"] == 1
    assert rows[("exp", D2)]["assigned_units"] == 1
    assert rows[("exp", D2)]["exposed_units"] == 1


def test_cohort_date_is_the_utc_date_of_assigned_at(tmp_path):
    assignments = [
        assignment(unit_id="late", at=midnight(D2) - US),
        assignment(unit_id="early", at=midnight(D2)),
    ]
    rows = daily(tmp_path, [], assignments)
    assert rows[("exp", D1)]["assigned_units"] == 1
    assert rows[("exp", D2)]["assigned_units"] == 1


def test_one_row_per_experiment_and_date(tmp_path):
    assignments = [
        assignment(unit_id="u1", experiment_id="exp"),
        assignment(unit_id="u2", experiment_id="exp"),
        assignment(unit_id="u1", experiment_id="exp2"),
        assignment(unit_id="u3", experiment_id="exp", at=ts(days=1)),
    ]
    rows = daily(tmp_path, [], assignments)
    assert {key: row["assigned_units"] for key, row in rows.items()} == {
        ("exp", D1): 2, ("exp2", D1): 1, ("exp", D2): 1,
    }


# -- counts ---------------------------------------------------------------------------------------

def test_assigned_units_counts_assignments_of_the_cohort(tmp_path):
    events, assignments = status_mix()
    assert daily(tmp_path, events, assignments)[("exp", D1)]["assigned_units"] == 7


def test_exposed_units_counts_is_exposed(tmp_path):
    events, assignments = status_mix()
    assert daily(tmp_path, events, assignments)[("exp", D1)]["exposed_units"] == 6


def test_valid_exposed_units_counts_is_valid_exposure(tmp_path):
    events, assignments = status_mix()
    assert daily(tmp_path, events, assignments)[("exp", D1)]["valid_exposed_units"] == 2


def test_each_status_count(tmp_path):
    events, assignments = status_mix()
    row = daily(tmp_path, events, assignments)[("exp", D1)]
    assert {name: row[name] for name in STATUS_COUNTS} == {
        "no_exposure_units": 1,
        "multi_variation_exposure_units": 1,
        "variation_mismatch_units": 1,
        "pre_assignment_exposure_units": 1,
        "exposure_outside_window_units": 1,
        "valid_exposed_units": 2,
    }


def test_five_statuses_plus_valid_sum_to_assigned_units(tmp_path):
    events, assignments = status_mix()
    assignments += [assignment(unit_id="next_day", at=ts(days=1)), assignment(unit_id="other", experiment_id="exp2")]
    rows = daily(tmp_path, events, assignments)
    for key, row in rows.items():
        assert sum(row[name] for name in STATUS_COUNTS) == row["assigned_units"], key


def test_mismatched_units_counts_has_variation_mismatch(tmp_path):
    # "multi" saw A (assigned) and B: it has a variation mismatch too.
    events, assignments = status_mix()
    assert daily(tmp_path, events, assignments)[("exp", D1)]["mismatched_units"] == 2


def test_exposure_events_sums_exposure_event_count_of_the_cohort(tmp_path):
    # multi 3 + mismatch 1 + pre 1 + outside 1 + valid1 3 + valid2 1
    events, assignments = status_mix()
    assert daily(tmp_path, events, assignments)[("exp", D1)]["exposure_events"] == 10


def test_duplicate_exposure_events_is_events_minus_deduped_exposures(tmp_path):
    # 10 events collapse into 7 deduped exposures (multi has two).
    events, assignments = status_mix()
    assert daily(tmp_path, events, assignments)[("exp", D1)]["duplicate_exposure_events"] == 3


def test_exposure_events_exclude_unassigned_and_rejected_rows(tmp_path):
    assignments = [assignment(unit_id="u1")]
    events = [
        exposure(unit_id="u1", at=ts(minutes=1)),
        exposure(unit_id="u1", at=ts(minutes=2)),
        exposure(unit_id="u1", at=None),  # rejected: missing_timestamp
        exposure(unit_id="u1", variation_id=None),  # rejected: missing_variation_id
        exposure(unit_id="u9"),  # unassigned
        exposure(unit_id="u9"),
    ]
    row = daily(tmp_path, events, assignments)[("exp", D1)]
    assert row["exposure_events"] == 2
    assert row["duplicate_exposure_events"] == 1


def test_counts_are_zero_not_null_when_nothing_is_counted(tmp_path):
    row = daily(tmp_path, [], [assignment()])[("exp", D1)]
    for name in COUNTS:
        expected = 1 if name in ("assigned_units", "no_exposure_units") else 0
        assert row[name] == expected, name


# -- unassigned exposed units ---------------------------------------------------------------------

def test_unassigned_exposed_units_counts_units_without_assignment(tmp_path):
    assignments = [assignment(unit_id="u1")]
    events = [
        exposure(unit_id="u1"),
        exposure(unit_id="u8"),
        exposure(unit_id="u9"),
        exposure(unit_id="u9", variation_id="B"),  # one unit, two variations: counted once
    ]
    row = daily(tmp_path, events, assignments)[("exp", D1)]
    assert row["unassigned_exposed_units"] == 2
    assert row["assigned_units"] == 1


def test_unassigned_exposed_units_counted_on_utc_date_of_first_exposure_across_variations(tmp_path):
    assignments = [assignment(unit_id="u1")]
    events = [
        exposure(unit_id="u9", variation_id="A", at=midnight(D3)),
        exposure(unit_id="u9", variation_id="B", at=midnight(D3) - US),  # first exposure: last microsecond of D2
        exposure(unit_id="u9", variation_id="A", at=midnight(D3) + dt.timedelta(days=2)),
    ]
    rows = daily(tmp_path, events, assignments)
    assert rows[("exp", D2)]["unassigned_exposed_units"] == 1
    assert ("exp", D3) not in rows
    assert rows[("exp", D1)]["unassigned_exposed_units"] == 0


def test_unit_assigned_in_another_experiment_is_unassigned_in_this_one(tmp_path):
    assignments = [assignment(unit_id="u1", experiment_id="exp2")]
    rows = daily(tmp_path, [exposure(unit_id="u1", experiment_id="exp")], assignments)
    assert rows[("exp", D1)]["unassigned_exposed_units"] == 1
    assert rows[("exp2", D1)]["unassigned_exposed_units"] == 0


def test_unassigned_units_on_a_cohort_date_share_its_row(tmp_path):
    assignments = [assignment(unit_id="u1")]
    events = [exposure(unit_id="u1"), exposure(unit_id="u9", at=ts(minutes=30))]
    rows = daily(tmp_path, events, assignments)
    assert set(rows) == {("exp", D1)}
    assert rows[("exp", D1)]["assigned_units"] == 1
    assert rows[("exp", D1)]["unassigned_exposed_units"] == 1


def test_rejected_exposures_do_not_make_unassigned_units(tmp_path):
    events = [exposure(unit_id="u9", at=None), exposure(unit_id="u8", variation_id=" ")]
    rows = daily(tmp_path, events, [assignment(unit_id="u1")])
    assert rows[("exp", D1)]["unassigned_exposed_units"] == 0


def test_pair_with_only_unassigned_units_has_zero_counts_and_null_rates(tmp_path):
    assignments = [assignment(unit_id="u1")]
    events = [exposure(unit_id="u1"), exposure(unit_id="u9", at=ts(days=1)), exposure(unit_id="u9", experiment_id="exp3")]
    rows = daily(tmp_path, events, assignments)
    assert set(rows) == {("exp", D1), ("exp", D2), ("exp3", D1)}
    for key in [("exp", D2), ("exp3", D1)]:
        row = rows[key]
        assert row["unassigned_exposed_units"] == 1, key
        for name in COUNTS:
            if name != "unassigned_exposed_units":
                assert row[name] == 0, (key, name)
        for name in RATES:
            assert row[name] is None, (key, name)


# -- rates ----------------------------------------------------------------------------------------

def test_rates_divide_by_their_denominators(tmp_path):
    events, assignments = status_mix()
    row = daily(tmp_path, events, assignments)[("exp", D1)]
    assert row["exposure_rate"] == pytest.approx(2 / 7)
    assert row["no_exposure_rate"] == pytest.approx(1 / 7)
    assert row["pre_assignment_exposure_rate"] == pytest.approx(1 / 7)
    assert row["exposure_outside_window_rate"] == pytest.approx(1 / 7)
    assert row["mismatch_rate"] == pytest.approx(2 / 6)
    assert row["multi_variation_rate"] == pytest.approx(1 / 6)


def test_rates_are_doubles_not_integer_division(tmp_path):
    assignments = [assignment(unit_id="u1"), assignment(unit_id="u2")]
    row = daily(tmp_path, [exposure(unit_id="u1")], assignments)[("exp", D1)]
    assert row["exposure_rate"] == 0.5
    assert isinstance(row["exposure_rate"], float)


def test_exposed_unit_rates_are_null_when_no_unit_is_exposed(tmp_path):
    row = daily(tmp_path, [], [assignment(unit_id="u1"), assignment(unit_id="u2")])[("exp", D1)]
    assert row["exposed_units"] == 0
    assert row["mismatch_rate"] is None
    assert row["multi_variation_rate"] is None
    # assigned_units > 0: the assignment rates are defined
    assert row["exposure_rate"] == 0.0
    assert row["no_exposure_rate"] == 1.0
    assert row["pre_assignment_exposure_rate"] == 0.0
    assert row["exposure_outside_window_rate"] == 0.0


def test_rates_are_zero_not_null_when_numerator_is_zero(tmp_path):
    row = daily(tmp_path, [exposure()], [assignment()])[("exp", D1)]
    assert row["mismatch_rate"] == 0.0
    assert row["multi_variation_rate"] == 0.0
    assert row["no_exposure_rate"] == 0.0
    assert row["exposure_rate"] == 1.0


# -- is_window_complete ---------------------------------------------------------------------------

def test_window_complete_exactly_at_date_plus_one_day_plus_max_days(tmp_path):
    events = [exposure(unit_id="u1"), exposure(unit_id="u2", at=window_complete_at(D1))]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is True


def test_window_incomplete_one_microsecond_before(tmp_path):
    events = [exposure(unit_id="u1"), exposure(unit_id="u2", at=window_complete_at(D1) - US)]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is False


@pytest.mark.parametrize("max_days", [0, 7])
def test_window_complete_uses_max_days_variable(tmp_path, max_days):
    boundary = window_complete_at(D1, max_days)
    complete = daily(tmp_path / "at", [exposure(at=boundary)], [assignment()],
                     exp_exposure_max_days_after_assignment=max_days)
    incomplete = daily(tmp_path / "before", [exposure(at=boundary - US)], [assignment()],
                       exp_exposure_max_days_after_assignment=max_days)
    assert complete[("exp", D1)]["is_window_complete"] is True
    assert incomplete[("exp", D1)]["is_window_complete"] is False


def test_window_complete_is_per_cohort_date(tmp_path):
    assignments = [assignment(unit_id="u1"), assignment(unit_id="u2", at=ts(days=1))]
    events = [exposure(unit_id="u1", at=window_complete_at(D1))]
    rows = daily(tmp_path, events, assignments)
    assert rows[("exp", D1)]["is_window_complete"] is True
    assert rows[("exp", D2)]["is_window_complete"] is False


def test_data_through_includes_rejected_staging_rows(tmp_path):
    events = [
        exposure(unit_id="u1"),
        exposure(unit_id="u1", experiment_id=None, at=window_complete_at(D1)),  # missing_experiment_id
    ]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is True


def test_data_through_includes_other_experiments(tmp_path):
    events = [exposure(unit_id="u1"), exposure(unit_id="u7", experiment_id="exp2", at=window_complete_at(D1))]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is True


def test_data_through_ignores_events_that_are_not_exposures(tmp_path):
    events = [exposure(unit_id="u1"), exposure(unit_id="u1", event_name="page_view", at=window_complete_at(D1))]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is False


def test_window_incomplete_when_there_are_no_exposure_rows(tmp_path):
    events = [exposure(unit_id="u1", event_name="page_view", at=window_complete_at(D1) + dt.timedelta(days=9))]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is False


def test_window_incomplete_when_exposure_rows_have_no_timestamp(tmp_path):
    events = [exposure(unit_id="u1", at=None)]
    row = daily(tmp_path, events, [assignment(unit_id="u1")])[("exp", D1)]
    assert row["is_window_complete"] is False


def test_window_complete_for_unassigned_only_pair_uses_its_date(tmp_path):
    events = [exposure(unit_id="u9", at=ts()), exposure(unit_id="u9", variation_id="B", at=window_complete_at(D1))]
    rows = daily(tmp_path, events, [])
    assert set(rows) == {("exp", D1)}
    assert rows[("exp", D1)]["is_window_complete"] is True
