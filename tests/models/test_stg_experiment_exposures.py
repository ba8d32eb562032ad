"""Unit tests for stg_experiment_exposures: one SPEC rule per test, on tiny hand-made tables.

SPEC: every row of fct_events whose event_name equals exp_exposure_event_name (exact,
case-sensitive), standardized; one row per such event, none dropped; malformed rows labelled
with the first reject_reason that applies.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.constants import CORE_MODELS, REJECT_REASONS
from helpers import ASSIGNMENT_SCHEMA, assignment, exposure, props, read_model, run_models, ts, write_rows

MODEL = "stg_experiment_exposures"

SPEC_COLUMNS = [
    ("event_id", pa.string()),
    ("experiment_id", pa.string()),
    ("unit_id", pa.string()),
    ("variation_id", pa.string()),
    ("exposed_at", pa.timestamp("us")),
    ("exposure_date", pa.date32()),
    ("reject_reason", pa.string()),
]


def stg(tmp_path: Path, events: list[dict], **variables) -> list[dict]:
    return run_models(tmp_path, events, [assignment()], **variables)[MODEL]


def only(rows: list[dict]) -> dict:
    assert len(rows) == 1, rows
    return rows[0]


def run_events_table(tmp_path: Path, events: pa.Table, **variables) -> dict[str, list[dict]]:
    """Run on an events table with arbitrary column types (tz-aware timestamps, integer ids)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    events_path = tmp_path / "events.parquet"
    pq.write_table(events, events_path)
    assignments_path = write_rows(tmp_path / "assignments.parquet", [assignment()], ASSIGNMENT_SCHEMA)
    out = tmp_path / "out"
    expguard.run(str(events_path), str(assignments_path), output_dir=str(out), vars=variables,
                 engine={"name": "duckdb"})
    return {name: read_model(out / f"{name}.parquet") for name in CORE_MODELS}


# -- output shape -------------------------------------------------------------------------------

def test_output_columns_match_spec_names_and_order(tmp_path):
    run_models(tmp_path, [exposure(event_id="e1")], [assignment()])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    assert schema.names[: len(SPEC_COLUMNS)] == [name for name, _ in SPEC_COLUMNS]


@pytest.mark.parametrize("with_rows", [True, False], ids=["rows", "empty"])
def test_output_parquet_physical_types(tmp_path, with_rows):
    events = [exposure(event_id="e1"), exposure(unit_id=None, at=None)] if with_rows else []
    run_models(tmp_path, events, [assignment()])
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    for name, expected in SPEC_COLUMNS:
        assert schema.field(name).type == expected, name


# -- which events ---------------------------------------------------------------------------------

def test_keeps_only_exact_case_sensitive_event_name_matches(tmp_path):
    events = [
        exposure(event_id="keep", event_name="experiment_viewed"),
        exposure(event_id="upper", event_name="Experiment_Viewed"),
        exposure(event_id="caps", event_name="EXPERIMENT_VIEWED"),
        exposure(event_id="trailing", event_name="experiment_viewed "),
        exposure(event_id="leading", event_name=" experiment_viewed"),
        exposure(event_id="other", event_name="page_view"),
        exposure(event_id="null_name", event_name=None),
    ]
    rows = stg(tmp_path, events)
    assert [row["event_id"] for row in rows] == ["keep"]


def test_exposure_event_name_variable_selects_the_events(tmp_path):
    events = [
        exposure(event_id="custom", event_name="Exposure"),
        exposure(event_id="lower", event_name="exposure"),
        exposure(event_id="default", event_name="experiment_viewed"),
    ]
    rows = stg(tmp_path, events, exp_exposure_event_name="Exposure")
    assert [row["event_id"] for row in rows] == ["custom"]


def test_no_exposure_event_is_dropped(tmp_path):
    events = [
        exposure(event_id="ok"),
        exposure(event_id="ok"),  # exact duplicate: both kept
        exposure(event_id=None, unit_id=None, at=None, properties="{}"),
        exposure(event_id="bad_json", properties="not json"),
        exposure(event_id="null_props", properties=None),
        exposure(event_id="spaces", unit_id="   ", experiment_id="  ", variation_id=" "),
        exposure(event_id="no_ts", at=None),
    ]
    # exposure(properties=None) writes default properties; force a real null properties value.
    events[4]["properties"] = None
    rows = stg(tmp_path, events)
    assert len(rows) == len(events)
    assert sorted(row["event_id"] or "" for row in rows) == sorted(e["event_id"] or "" for e in events)


# -- event_id ---------------------------------------------------------------------------------------

def test_event_id_is_kept_as_in_source(tmp_path):
    events = [
        exposure(unit_id="u1", event_id=" e 1 "),
        exposure(unit_id="u2", event_id=""),
        exposure(unit_id="u3", event_id=None),
    ]
    rows = {row["unit_id"]: row for row in stg(tmp_path, events)}
    assert rows["u1"]["event_id"] == " e 1 "
    assert rows["u2"]["event_id"] == ""
    assert rows["u3"]["event_id"] is None


# -- trimming and empty ids -----------------------------------------------------------------------

def test_ids_are_trimmed_of_leading_and_trailing_spaces(tmp_path):
    row = only(stg(tmp_path, [exposure(unit_id="  u1 ", experiment_id=" exp  ", variation_id=" A ")]))
    assert (row["experiment_id"], row["unit_id"], row["variation_id"]) == ("exp", "u1", "A")
    assert row["reject_reason"] is None


def test_inner_spaces_are_kept(tmp_path):
    row = only(stg(tmp_path, [exposure(unit_id=" u 1 ", experiment_id="my exp", variation_id="A  B")]))
    assert (row["experiment_id"], row["unit_id"], row["variation_id"]) == ("my exp", "u 1", "A  B")


@pytest.mark.parametrize(
    "char", ["\t", "\u00a0", "\u3000", "\n"], ids=["tab", "no_break_space", "ideographic_space", "newline"]
)
def test_trim_removes_only_u0020_other_whitespace_is_kept(tmp_path, char):
    events = [exposure(unit_id=f" {char}u1{char} ", experiment_id=f"{char}exp ", variation_id=f" A{char}")]
    row = only(stg(tmp_path, events))
    assert row["unit_id"] == f"{char}u1{char}"
    assert row["experiment_id"] == f"{char}exp"
    assert row["variation_id"] == f"A{char}"
    assert row["reject_reason"] is None


@pytest.mark.parametrize("char", ["\t", "\u00a0"], ids=["tab", "no_break_space"])
def test_whitespace_only_id_other_than_space_is_not_empty(tmp_path, char):
    row = only(stg(tmp_path, [exposure(unit_id=char)]))
    assert row["unit_id"] == char
    assert row["reject_reason"] is None


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "all_spaces"])
def test_empty_experiment_id_becomes_null(tmp_path, value):
    row = only(stg(tmp_path, [exposure(experiment_id=value)]))
    assert row["experiment_id"] is None
    assert row["reject_reason"] == "missing_experiment_id"


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "all_spaces"])
def test_empty_unit_id_becomes_null(tmp_path, value):
    row = only(stg(tmp_path, [exposure(unit_id=value)]))
    assert row["unit_id"] is None
    assert row["reject_reason"] == "missing_unit_id"


@pytest.mark.parametrize("value", ["", "   "], ids=["empty", "all_spaces"])
def test_empty_variation_id_becomes_null(tmp_path, value):
    row = only(stg(tmp_path, [exposure(variation_id=value)]))
    assert row["variation_id"] is None
    assert row["reject_reason"] == "missing_variation_id"


# -- JSON extraction ------------------------------------------------------------------------------

def test_json_string_ids_yield_their_text(tmp_path):
    row = only(stg(tmp_path, [exposure(experiment_id="007", variation_id="control")]))
    assert (row["experiment_id"], row["variation_id"]) == ("007", "control")


@pytest.mark.parametrize(
    "number, text",
    [(7, "7"), (0, "0"), (-3, "-3"), (10, "10"), (9007199254740993, "9007199254740993")],
    ids=["seven", "zero", "negative", "ten", "beyond_double_precision"],
)
def test_numeric_json_ids_become_decimal_text(tmp_path, number, text):
    row = only(stg(tmp_path, [exposure(experiment_id=number, variation_id=number)]))
    assert row["experiment_id"] == text
    assert row["variation_id"] == text
    assert row["reject_reason"] is None


def test_json_null_experiment_id_becomes_null(tmp_path):
    row = only(stg(tmp_path, [exposure(experiment_id=None)]))
    assert row["experiment_id"] is None
    assert row["reject_reason"] == "missing_experiment_id"


def test_json_null_variation_id_becomes_null(tmp_path):
    row = only(stg(tmp_path, [exposure(variation_id=None)]))
    assert row["variation_id"] is None
    assert row["reject_reason"] == "missing_variation_id"


def test_missing_json_experiment_id_key_becomes_null(tmp_path):
    row = only(stg(tmp_path, [exposure(experiment_id=...)]))
    assert row["experiment_id"] is None
    assert row["reject_reason"] == "missing_experiment_id"


def test_missing_json_variation_id_key_becomes_null(tmp_path):
    row = only(stg(tmp_path, [exposure(variation_id=...)]))
    assert row["variation_id"] is None
    assert row["reject_reason"] == "missing_variation_id"


def test_other_json_properties_do_not_matter(tmp_path):
    text = props("exp", "A", page="/home", nested={"experiment_id": "other"})
    row = only(stg(tmp_path, [exposure(properties=text)]))
    assert (row["experiment_id"], row["variation_id"]) == ("exp", "A")


def test_json_id_with_spaces_is_trimmed(tmp_path):
    row = only(stg(tmp_path, [exposure(properties=json.dumps({"experiment_id": " exp ", "variation_id": "  "}))]))
    assert row["experiment_id"] == "exp"
    assert row["variation_id"] is None
    assert row["reject_reason"] == "missing_variation_id"


# -- unit_id types --------------------------------------------------------------------------------

def test_numeric_unit_id_is_cast_to_text(tmp_path):
    events = pa.table(
        {
            "event_id": pa.array(["e1", "e2"], pa.string()),
            "event_name": pa.array(["experiment_viewed"] * 2, pa.string()),
            "unit_id": pa.array([7, 1234567890123], pa.int64()),
            "event_ts": pa.array([ts(), ts(minutes=1)], pa.timestamp("us")),
            "properties": pa.array([props(), props()], pa.string()),
        }
    )
    rows = {row["event_id"]: row for row in run_events_table(tmp_path, events)[MODEL]}
    assert rows["e1"]["unit_id"] == "7"
    assert rows["e2"]["unit_id"] == "1234567890123"
    assert rows["e1"]["reject_reason"] is None


# -- timestamps -----------------------------------------------------------------------------------

def test_exposed_at_keeps_microseconds(tmp_path):
    row = only(stg(tmp_path, [exposure(at=ts(micros=123457))]))
    assert row["exposed_at"] == dt.datetime(2026, 3, 1, 12, 0, 0, 123457)


def test_exposure_date_is_the_utc_date_of_exposed_at(tmp_path):
    events = [
        exposure(event_id="last", at=dt.datetime(2026, 3, 1, 23, 59, 59, 999999)),
        exposure(event_id="first", at=dt.datetime(2026, 3, 2, 0, 0, 0)),
    ]
    rows = {row["event_id"]: row for row in stg(tmp_path, events)}
    assert rows["last"]["exposure_date"] == dt.date(2026, 3, 1)
    assert rows["first"]["exposure_date"] == dt.date(2026, 3, 2)


def test_event_ts_with_time_zone_is_converted_to_utc(tmp_path):
    new_york = ZoneInfo("America/New_York")
    local = [
        dt.datetime(2026, 3, 1, 20, 30, 0, tzinfo=new_york),  # EST, UTC-5: next UTC day
        dt.datetime(2026, 7, 1, 22, 15, 0, 1, tzinfo=new_york),  # EDT, UTC-4
    ]
    events = pa.table(
        {
            "event_id": pa.array(["winter", "summer"], pa.string()),
            "event_name": pa.array(["experiment_viewed"] * 2, pa.string()),
            "unit_id": pa.array(["u1", "u2"], pa.string()),
            "event_ts": pa.array(local, pa.timestamp("us", tz="America/New_York")),
            "properties": pa.array([props(), props()], pa.string()),
        }
    )
    rows = {row["event_id"]: row for row in run_events_table(tmp_path, events)[MODEL]}
    assert rows["winter"]["exposed_at"] == dt.datetime(2026, 3, 2, 1, 30, 0)
    assert rows["winter"]["exposure_date"] == dt.date(2026, 3, 2)
    assert rows["summer"]["exposed_at"] == dt.datetime(2026, 7, 2, 2, 15, 0, 1)
    assert rows["summer"]["exposure_date"] == dt.date(2026, 7, 2)
    schema = pq.read_schema(tmp_path / "out" / f"{MODEL}.parquet")
    assert schema.field("exposed_at").type == pa.timestamp("us")


def test_null_event_ts_gives_null_exposed_at_and_date(tmp_path):
    row = only(stg(tmp_path, [exposure(at=None)]))
    assert row["exposed_at"] is None
    assert row["exposure_date"] is None


# -- reject_reason --------------------------------------------------------------------------------

def test_reject_reason_is_null_when_row_is_usable(tmp_path):
    row = only(stg(tmp_path, [exposure(event_id=None)]))  # a null event_id does not make a row unusable
    assert row["reject_reason"] is None


@pytest.mark.parametrize(
    "event, reason",
    [
        (exposure(experiment_id=None), "missing_experiment_id"),
        (exposure(unit_id=None), "missing_unit_id"),
        (exposure(variation_id=None), "missing_variation_id"),
        (exposure(at=None), "missing_timestamp"),
    ],
    ids=REJECT_REASONS,
)
def test_each_reject_reason_labels_its_problem(tmp_path, event, reason):
    row = only(stg(tmp_path, [event]))
    assert row["reject_reason"] == reason


@pytest.mark.parametrize(
    "event, reason",
    [
        (exposure(experiment_id=None, unit_id=None, variation_id=None, at=None), "missing_experiment_id"),
        (exposure(experiment_id="", unit_id="", variation_id=""), "missing_experiment_id"),
        (exposure(unit_id=None, variation_id=None, at=None), "missing_unit_id"),
        (exposure(unit_id=" ", at=None), "missing_unit_id"),
        (exposure(variation_id=None, at=None), "missing_variation_id"),
    ],
    ids=["all_missing", "all_empty", "unit_variation_ts", "unit_ts", "variation_ts"],
)
def test_reject_reason_precedence_first_that_applies(tmp_path, event, reason):
    row = only(stg(tmp_path, [event]))
    assert row["reject_reason"] == reason
