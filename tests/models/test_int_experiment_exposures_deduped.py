"""Unit tests for int_experiment_exposures_deduped: one SPEC rule per test, on tiny tables.

SPEC: the usable staging rows (reject_reason is null), one row per (experiment_id, unit_id,
variation_id): the earliest event, ordered by exposed_at ascending, then event_id ascending
with nulls last (binary string order); last_exposed_at is the maximum; exposure_event_count
counts the collapsed staging rows.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import assignment, by_key, exposure, run_models, ts

MODEL = "int_experiment_exposures_deduped"
KEY = ("experiment_id", "unit_id", "variation_id")

SPEC_COLUMNS = [
    ("experiment_id", pa.string()),
    ("unit_id", pa.string()),
    ("variation_id", pa.string()),
    ("event_id", pa.string()),
    ("exposed_at", pa.timestamp("us")),
    ("last_exposed_at", pa.timestamp("us")),
    ("exposure_event_count", pa.int64()),
]


def deduped(tmp_path: Path, events: list[dict]) -> list[dict]:
    return run_models(tmp_path, events, [assignment()])[MODEL]


def only(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


# -- output shape -------------------------------------------------------------------------------

def test_output_columns_match_spec_names_and_order(tmp_path):
    run_models(tmp_path, [exposure(event_id="e1")], [assignment()])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    assert schema.names[: len(SPEC_COLUMNS)] == [name for name, _ in SPEC_COLUMNS]


@pytest.mark.parametrize("with_rows", [True, False], ids=["rows", "empty"])
def test_output_parquet_physical_types(tmp_path, with_rows):
    events = [exposure(event_id="e1"), exposure(event_id=None, at=ts(minutes=1))] if with_rows else []
    run_models(tmp_path, events, [assignment()])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    for name, expected in SPEC_COLUMNS:
        assert schema.field(name).type == expected, name


# -- grain ----------------------------------------------------------------------------------------

def test_one_row_per_experiment_unit_variation(tmp_path):
    events = [
        exposure(unit_id="u1", variation_id="A", at=ts(minutes=0)),
        exposure(unit_id="u1", variation_id="A", at=ts(minutes=1)),
        exposure(unit_id="u1", variation_id="B", at=ts(minutes=2)),
        exposure(unit_id="u2", variation_id="A", at=ts(minutes=3)),
        exposure(unit_id="u1", variation_id="A", experiment_id="exp2", at=ts(minutes=4)),
    ]
    rows = deduped(tmp_path, events)
    assert sorted(tuple(row[k] for k in KEY) for row in rows) == [
        ("exp", "u1", "A"), ("exp", "u1", "B"), ("exp", "u2", "A"), ("exp2", "u1", "A"),
    ]


def test_key_comparison_is_case_sensitive(tmp_path):
    events = [exposure(variation_id="A"), exposure(variation_id="a"), exposure(unit_id="U1")]
    rows = by_key(deduped(tmp_path, events), *KEY)
    assert set(rows) == {("exp", "u1", "A"), ("exp", "u1", "a"), ("exp", "U1", "A")}


def test_trimmed_ids_collapse_into_one_key(tmp_path):
    events = [exposure(unit_id=" u1", event_id="e1"), exposure(unit_id="u1 ", experiment_id=" exp", event_id="e2")]
    row = only(deduped(tmp_path, events))
    assert (row["experiment_id"], row["unit_id"], row["variation_id"]) == ("exp", "u1", "A")
    assert row["exposure_event_count"] == 2


def test_rejected_rows_are_excluded(tmp_path):
    events = [
        exposure(event_id="kept", at=ts(minutes=5)),
        exposure(event_id="no_ts", at=None),  # same key, missing_timestamp
        exposure(event_id="no_exp", experiment_id=None, at=ts(minutes=-5)),
        exposure(event_id="no_unit", unit_id="  ", at=ts(minutes=-5)),
        exposure(event_id="no_var", variation_id="", at=ts(minutes=-5)),
    ]
    row = only(deduped(tmp_path, events))
    assert row["event_id"] == "kept"
    assert row["exposure_event_count"] == 1
    assert row["exposed_at"] == row["last_exposed_at"] == ts(minutes=5)


# -- the kept event -------------------------------------------------------------------------------

def test_earliest_exposed_at_is_kept(tmp_path):
    events = [
        exposure(event_id="e_late", at=ts(minutes=10)),
        exposure(event_id="e_first", at=ts(minutes=0)),
        exposure(event_id="e_mid", at=ts(minutes=5)),
    ]
    row = only(deduped(tmp_path, events))
    assert row["event_id"] == "e_first"
    assert row["exposed_at"] == ts(minutes=0)


def test_earliest_event_wins_even_with_a_larger_event_id(tmp_path):
    events = [exposure(event_id="a", at=ts(micros=1)), exposure(event_id="z", at=ts())]
    row = only(deduped(tmp_path, events))
    assert (row["event_id"], row["exposed_at"]) == ("z", ts())


def test_earliest_event_with_null_event_id_is_kept(tmp_path):
    # The earliest event's event_id is null: it must not be replaced by the next event's id.
    events = [exposure(event_id="later", at=ts(minutes=1)), exposure(event_id=None, at=ts())]
    row = only(deduped(tmp_path, events))
    assert row["event_id"] is None
    assert row["exposed_at"] == ts()


def test_tie_on_exposed_at_broken_by_event_id_ascending(tmp_path):
    events = [exposure(event_id="e2"), exposure(event_id="e3"), exposure(event_id="e1")]
    assert only(deduped(tmp_path, events))["event_id"] == "e1"


def test_tie_null_event_id_sorts_last_when_first_in_file(tmp_path):
    events = [exposure(event_id=None), exposure(event_id="z")]
    row = only(deduped(tmp_path, events))
    assert row["event_id"] == "z"
    assert row["exposure_event_count"] == 2


def test_tie_null_event_id_sorts_last_when_last_in_file(tmp_path):
    events = [exposure(event_id="z"), exposure(event_id=None)]
    assert only(deduped(tmp_path, events))["event_id"] == "z"


def test_tie_with_all_event_ids_null_keeps_null(tmp_path):
    events = [exposure(event_id=None), exposure(event_id=None), exposure(event_id=None, at=ts(minutes=1))]
    row = only(deduped(tmp_path, events))
    assert row["event_id"] is None
    assert row["exposed_at"] == ts()
    assert row["last_exposed_at"] == ts(minutes=1)
    assert row["exposure_event_count"] == 3


@pytest.mark.parametrize(
    "ids, expected",
    [(["9", "10"], "10"), (["a", "B"], "B"), (["a", ""], ""), (["é", "z"], "z"), (["ab", "a"], "a")],
    ids=["digits", "case", "empty_first", "code_point", "prefix"],
)
def test_event_id_tie_break_is_binary_order(tmp_path, ids, expected):
    events = [exposure(event_id=event_id) for event_id in ids]
    assert only(deduped(tmp_path, events))["event_id"] == expected


def test_tie_break_is_on_microseconds(tmp_path):
    events = [exposure(event_id="a", at=ts(micros=1)), exposure(event_id="b", at=ts(micros=0))]
    row = only(deduped(tmp_path, events))
    assert (row["event_id"], row["exposed_at"]) == ("b", ts())


# -- aggregates -----------------------------------------------------------------------------------

def test_last_exposed_at_is_the_maximum(tmp_path):
    events = [
        exposure(event_id="e1", at=ts(days=2)),
        exposure(event_id="e2", at=ts()),
        exposure(event_id="e3", at=ts(days=3, micros=7)),
        exposure(event_id="e4", at=ts(days=1)),
    ]
    row = only(deduped(tmp_path, events))
    assert row["exposed_at"] == ts()
    assert row["last_exposed_at"] == ts(days=3, micros=7)


def test_single_event_has_last_exposed_at_equal_to_exposed_at(tmp_path):
    row = only(deduped(tmp_path, [exposure(event_id="e1", at=ts(micros=5))]))
    assert row["last_exposed_at"] == row["exposed_at"] == ts(micros=5)
    assert row["exposure_event_count"] == 1


def test_exposure_event_count_counts_collapsed_staging_rows(tmp_path):
    events = [
        exposure(unit_id="u1", event_id="e1"),
        exposure(unit_id="u1", event_id="e1"),  # exact duplicate still counts
        exposure(unit_id="u1", event_id=None, at=ts(minutes=1)),
        exposure(unit_id="u1", variation_id="B"),
        exposure(unit_id="u2"),
    ]
    rows = by_key(deduped(tmp_path, events), *KEY)
    assert rows[("exp", "u1", "A")]["exposure_event_count"] == 3
    assert rows[("exp", "u1", "B")]["exposure_event_count"] == 1
    assert rows[("exp", "u2", "A")]["exposure_event_count"] == 1


def test_same_output_whatever_the_input_order(tmp_path):
    events = [
        exposure(event_id=None),
        exposure(event_id="b"),
        exposure(event_id="a", at=ts(minutes=2)),
        exposure(event_id="c", variation_id="B"),
        exposure(event_id=None, variation_id="B"),
    ]
    forward = by_key(deduped(tmp_path / "forward", events), *KEY)
    backward = by_key(deduped(tmp_path / "backward", list(reversed(events))), *KEY)
    assert forward == backward
    assert forward[("exp", "u1", "A")]["event_id"] == "b"
    assert forward[("exp", "u1", "B")]["event_id"] == "c"
