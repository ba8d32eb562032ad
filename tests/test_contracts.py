"""Input contracts (SPEC "Contract checks on assignments") and the column mapping of real sources."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.constants import CORE_MODELS
from expguard.core.errors import ContractError
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, T0, assignment, exposure, props, read_model, ts, write_rows
from reference import VALIDATION_COLUMNS, build_models

VALIDATION = "int_experiment_exposure_validation"
STG = "stg_experiment_exposures"


def run(tmp_path: Path, events: Path, assignments: Path, **kwargs: Any) -> dict[str, list[dict]]:
    out = tmp_path / "out"
    expguard.run(str(events), str(assignments), output_dir=str(out), **kwargs)
    return {name: read_model(out / f"{name}.parquet") for name in CORE_MODELS}


def contract_error(tmp_path: Path, assignments: list[dict], schema: pa.Schema = ASSIGNMENT_SCHEMA) -> str:
    """Run with these assignments; return the ContractError message (and check nothing was written)."""
    events = write_rows(tmp_path / "events.parquet", [exposure("u1"), exposure("u2")], EVENT_SCHEMA)
    path = tmp_path / "assignments.parquet"
    pq.write_table(pa.Table.from_pylist(assignments, schema=schema), path)
    out = tmp_path / "out"
    with pytest.raises(ContractError) as error:
        expguard.run(str(events), str(path), output_dir=str(out))
    assert not out.exists() or not list(out.rglob("*.parquet")), "nothing is written on a contract violation"
    return str(error.value)


def n_examples(message: str) -> int:
    return len(re.findall(r"\(experiment_id=", message))


def good_rows(n: int = 12) -> list[dict]:
    return [assignment(f"u{i:02d}", "A" if i % 2 else "B") for i in range(n)]


# --------------------------------------------------------------------------------------------
# assignment contracts: count and up to five examples
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["experiment_id", "unit_id", "variation_id", "assigned_at"])
@pytest.mark.parametrize("bad", [1, 7])
def test_null_in_an_assignment_column_is_a_contract_error(tmp_path, column, bad):
    rows = good_rows()
    for row in rows[:bad]:
        row[column] = None
    message = contract_error(tmp_path, rows)
    assert column in message
    assert re.search(rf"\b{bad} rows?\b", message), message
    assert n_examples(message) == min(bad, 5), message


@pytest.mark.parametrize("column", ["experiment_id", "unit_id", "variation_id"])
@pytest.mark.parametrize("value", ["", " ", "    "])
def test_empty_or_all_space_id_is_a_contract_error(tmp_path, column, value):
    rows = good_rows()
    for row in rows[2:8]:
        row[column] = value
    message = contract_error(tmp_path, rows)
    assert column in message
    assert re.search(r"\b6 rows\b", message), message
    assert n_examples(message) == 5, message


#: Ids that sort before '!' byte by byte (the blank check's first test) yet are not blank, and
#: other near misses: a run takes them as ids.
NEAR_BLANK = [" a", "\ta", " \t ", "\t", "\u00a0", "!", "a ", "  x  "]


@pytest.mark.parametrize("column", ["experiment_id", "unit_id", "variation_id"])
def test_ids_that_only_start_like_a_blank_are_not_blank(tmp_path, column):
    rows = good_rows(len(NEAR_BLANK))
    for row, value in zip(rows, NEAR_BLANK):
        row[column] = value
    events = write_rows(tmp_path / "events.parquet", [exposure("u1"), exposure("u2")], EVENT_SCHEMA)
    assignments = write_rows(tmp_path / "assignments.parquet", rows, ASSIGNMENT_SCHEMA)
    validation = run(tmp_path, events, assignments)[VALIDATION]
    assert len(validation) == len(rows)
    kept = {r["assigned_variation_id" if column == "variation_id" else column] for r in validation}
    # the assignment view trims nothing: every near miss is an id as written
    assert set(NEAR_BLANK) <= kept


def test_examples_show_which_rows_break_the_contract(tmp_path):
    rows = good_rows()
    rows[4]["variation_id"] = "  "
    message = contract_error(tmp_path, rows)
    assert "u04" in message
    assert re.search(r"\b1 row\b", message), message


@pytest.mark.parametrize("n_pairs", [1, 3, 9])
def test_duplicate_experiment_unit_pairs_are_a_contract_error(tmp_path, n_pairs):
    rows = good_rows()
    rows += [assignment(f"u{i:02d}", "C", T0 + dt.timedelta(hours=1)) for i in range(n_pairs)]
    message = contract_error(tmp_path, rows)
    assert re.search(rf"\b{n_pairs}\b", message), message
    assert n_examples(message) == min(n_pairs, 5), message
    assert "u00" in message


def test_same_unit_in_two_experiments_is_not_a_duplicate(tmp_path):
    events = write_rows(tmp_path / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    assignments = write_rows(tmp_path / "assignments.parquet",
                             [assignment("u1"), assignment("u1", experiment_id="other")], ASSIGNMENT_SCHEMA)
    models = run(tmp_path, events, assignments)
    assert len(models[VALIDATION]) == 2


def test_ids_that_differ_only_in_padding_are_distinct_assignments(tmp_path):
    # Assignment ids are used as given (not trimmed): "u1" and " u1" are two units.
    events = write_rows(tmp_path / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    assignments = write_rows(tmp_path / "assignments.parquet", [assignment("u1"), assignment(" u1")], ASSIGNMENT_SCHEMA)
    rows = {r["unit_id"]: r["exposure_status"] for r in run(tmp_path, events, assignments)[VALIDATION]}
    assert rows == {"u1": "valid", " u1": "no_exposure"}


def test_unreadable_assigned_at_text_is_a_contract_error(tmp_path):
    (tmp_path / "a.csv").write_text("experiment_id,unit_id,variation_id,assigned_at\n"
                                    "exp,u1,A,2026-03-01T12:00:00Z\nexp,u2,A,not a time\n", encoding="utf-8")
    events = write_rows(tmp_path / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    with pytest.raises(ContractError, match="assigned_at") as error:
        expguard.run(str(events), str(tmp_path / "a.csv"), output_dir=str(tmp_path / "out"))
    assert "not a time" in str(error.value)


def test_missing_assignment_column_is_named(tmp_path):
    table = pa.Table.from_pylist(good_rows(), schema=ASSIGNMENT_SCHEMA).drop_columns(["assigned_at"])
    pq.write_table(table, tmp_path / "assignments.parquet")
    events = write_rows(tmp_path / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    with pytest.raises(ContractError, match="assigned_at"):
        expguard.run(str(events), str(tmp_path / "assignments.parquet"), output_dir=str(tmp_path / "out"))


# --------------------------------------------------------------------------------------------
# column mapping of real event tables
# --------------------------------------------------------------------------------------------


def canonical_validation(rows: list[dict]) -> list[tuple]:
    return sorted(tuple(row[c] for c in VALIDATION_COLUMNS) for row in rows)


def test_segment_style_events_with_a_column_mapping(tmp_path):
    utc = dt.timezone.utc
    tracks = [
        {"message_id": "m1", "event": "Experiment Viewed", "anonymous_id": "anon-1",
         "timestamp": dt.datetime(2026, 3, 1, 12, 1, tzinfo=utc), "properties": props("exp", "A")},
        {"message_id": "m2", "event": "Experiment Viewed", "anonymous_id": "anon-1",
         "timestamp": dt.datetime(2026, 3, 1, 12, 1, tzinfo=utc), "properties": props("exp", "A")},
        {"message_id": "m3", "event": "Experiment Viewed", "anonymous_id": "anon-2",
         "timestamp": dt.datetime(2026, 3, 1, 12, 2, tzinfo=utc), "properties": props("exp", "B")},
        {"message_id": "m4", "event": "Page Viewed", "anonymous_id": "anon-3",
         "timestamp": dt.datetime(2026, 3, 1, 12, 3, tzinfo=utc), "properties": props("exp", "A")},
        {"message_id": "m5", "event": "Experiment Viewed", "anonymous_id": None,
         "timestamp": dt.datetime(2026, 3, 1, 12, 4, tzinfo=utc), "properties": props("exp", "A")},
    ]
    pq.write_table(pa.Table.from_pylist(tracks), tmp_path / "tracks.parquet")
    assignments = [assignment("anon-1"), assignment("anon-2"), assignment("anon-3")]
    a_path = write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
    mapping = {"event_id": "message_id", "event_name": "event", "event_ts": "timestamp", "unit_id": "anonymous_id"}
    models = run(tmp_path, tmp_path / "tracks.parquet", a_path, events_columns=mapping,
                 vars={"exp_exposure_event_name": "Experiment Viewed"})

    statuses = {r["unit_id"]: r["exposure_status"] for r in models[VALIDATION]}
    assert statuses == {"anon-1": "valid", "anon-2": "variation_mismatch", "anon-3": "no_exposure"}
    assert sorted(r["event_id"] for r in models[STG]) == ["m1", "m2", "m3", "m5"]
    assert [r["reject_reason"] for r in models[STG] if r["event_id"] == "m5"] == ["missing_unit_id"]

    canonical_events = [
        {"event_id": t["message_id"], "event_name": t["event"], "unit_id": t["anonymous_id"],
         "event_ts": t["timestamp"], "properties": t["properties"]}
        for t in tracks
    ]
    expected = build_models(canonical_events, assignments, exp_exposure_event_name="Experiment Viewed")
    assert canonical_validation(models[VALIDATION]) == canonical_validation(expected[VALIDATION])


def test_top_level_experiment_and_variation_columns(tmp_path):
    # No properties column at all; integer user ids; the variation under another name.
    rows = [
        {"id": "e1", "user_id": 42, "ts": T0, "experiment_id": "exp", "variation_key": "A", "event_type": "exposure"},
        {"id": "e2", "user_id": 42, "ts": ts(5), "experiment_id": "exp", "variation_key": "A", "event_type": "exposure"},
        {"id": "e3", "user_id": 7, "ts": ts(1), "experiment_id": " exp ", "variation_key": "B", "event_type": "exposure"},
        {"id": "e4", "user_id": 8, "ts": ts(1), "experiment_id": None, "variation_key": "A", "event_type": "exposure"},
        {"id": "e5", "user_id": 9, "ts": ts(1), "experiment_id": "exp", "variation_key": "A", "event_type": "click"},
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "exposures.parquet")
    assignments = [assignment("42"), assignment("7"), assignment("9")]
    a_path = write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
    mapping = {"event_id": "id", "event_name": "event_type", "unit_id": "user_id", "event_ts": "ts",
               "experiment_id": "experiment_id", "variation_id": "variation_key"}
    models = run(tmp_path, tmp_path / "exposures.parquet", a_path, events_columns=mapping,
                 vars={"exp_exposure_event_name": "exposure"})
    statuses = {r["unit_id"]: r["exposure_status"] for r in models[VALIDATION]}
    assert statuses == {"42": "valid", "7": "variation_mismatch", "9": "no_exposure"}
    deduped = {r["unit_id"]: r for r in models["int_experiment_exposures_deduped"]}
    assert deduped["42"]["exposure_event_count"] == 2 and deduped["42"]["event_id"] == "e1"
    assert [r["reject_reason"] for r in models[STG] if r["event_id"] == "e4"] == ["missing_experiment_id"]


def test_csv_input_keeps_ids_like_007_as_text(tmp_path):
    (tmp_path / "events.csv").write_text(
        "event_id,event_name,unit_id,event_ts,properties\n"
        '0001,experiment_viewed,007,2026-03-01T12:01:00Z,"{""experiment_id"": ""01"", ""variation_id"": ""0""}"\n'
        '0002,experiment_viewed,7,2026-03-01T12:02:00Z,"{""experiment_id"": ""01"", ""variation_id"": ""0""}"\n'
        '0003,experiment_viewed,00,2026-03-01 13:03:00+01:00,"{""experiment_id"": ""01"", ""variation_id"": ""00""}"\n',
        encoding="utf-8",
    )
    (tmp_path / "assignments.csv").write_text(
        "experiment_id,unit_id,variation_id,assigned_at\n"
        "01,007,0,2026-03-01T12:00:00Z\n"
        "01,00,00,2026-03-01 12:00:00\n"
        "01,0007,0,2026-03-01T12:00:00Z\n",
        encoding="utf-8",
    )
    models = run(tmp_path, tmp_path / "events.csv", tmp_path / "assignments.csv")
    statuses = {(r["experiment_id"], r["unit_id"], r["assigned_variation_id"]): r["exposure_status"]
                for r in models[VALIDATION]}
    assert statuses == {("01", "007", "0"): "valid", ("01", "00", "00"): "valid", ("01", "0007", "0"): "no_exposure"}
    staged = sorted((r["event_id"], r["unit_id"], r["exposed_at"]) for r in models[STG])
    assert staged == [("0001", "007", ts(1)), ("0002", "7", ts(2)), ("0003", "00", ts(3))]
    daily = models["fct_experiment_exposure_quality_daily"]
    assert [(r["experiment_id"], r["unassigned_exposed_units"]) for r in daily] == [("01", 1)]  # unit "7"


def test_integer_unit_ids_in_events_match_text_ids_in_assignments(tmp_path):
    schema = pa.schema([("event_id", pa.string()), ("event_name", pa.string()), ("unit_id", pa.int64()),
                        ("event_ts", pa.timestamp("us")), ("properties", pa.string())])
    events = [
        {"event_id": "a", "event_name": "experiment_viewed", "unit_id": 42, "event_ts": ts(1), "properties": props()},
        {"event_id": "b", "event_name": "experiment_viewed", "unit_id": 12345678901234, "event_ts": ts(2),
         "properties": props()},
        {"event_id": "c", "event_name": "experiment_viewed", "unit_id": -5, "event_ts": ts(3), "properties": props()},
        {"event_id": "d", "event_name": "experiment_viewed", "unit_id": None, "event_ts": ts(4), "properties": props()},
    ]
    pq.write_table(pa.Table.from_pylist(events, schema=schema), tmp_path / "events.parquet")
    assignments = [assignment("42"), assignment("12345678901234"), assignment("-5"), assignment("042")]
    a_path = write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
    models = run(tmp_path, tmp_path / "events.parquet", a_path)
    statuses = {r["unit_id"]: r["exposure_status"] for r in models[VALIDATION]}
    assert statuses == {"42": "valid", "12345678901234": "valid", "-5": "valid", "042": "no_exposure"}
    assert [r["reject_reason"] for r in models[STG] if r["event_id"] == "d"] == ["missing_unit_id"]
    assert canonical_validation(models[VALIDATION]) == canonical_validation(
        build_models(events, assignments)[VALIDATION])


def test_integer_assignment_ids_are_used_as_their_decimal_text(tmp_path):
    schema = pa.schema([("experiment_id", pa.int64()), ("unit_id", pa.int64()), ("variation_id", pa.int32()),
                        ("assigned_at", pa.timestamp("us"))])
    rows = [{"experiment_id": 7, "unit_id": 42, "variation_id": 1, "assigned_at": T0}]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp_path / "assignments.parquet")
    events = write_rows(tmp_path / "events.parquet",
                        [exposure("42", ts(1), properties='{"experiment_id": 7, "variation_id": 1}')], EVENT_SCHEMA)
    models = run(tmp_path, events, tmp_path / "assignments.parquet")
    assert [(r["experiment_id"], r["unit_id"], r["assigned_variation_id"], r["exposure_status"])
            for r in models[VALIDATION]] == [("7", "42", "1", "valid")]


def test_json_lines_events_with_numeric_unit_ids_and_object_properties(tmp_path):
    lines = [
        {"event_id": "a", "event_name": "experiment_viewed", "unit_id": 42, "event_ts": "2026-03-01T12:01:00Z",
         "properties": {"experiment_id": "exp", "variation_id": "A"}},
        {"event_id": "b", "event_name": "experiment_viewed", "unit_id": 43, "event_ts": "2026-03-01T12:02:00.5Z",
         "properties": {"experiment_id": "exp", "variation_id": 2}},
    ]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    a_path = write_rows(tmp_path / "assignments.parquet", [assignment("42"), assignment("43", "2")], ASSIGNMENT_SCHEMA)
    models = run(tmp_path, tmp_path / "events.jsonl", a_path)
    statuses = {r["unit_id"]: r["exposure_status"] for r in models[VALIDATION]}
    assert statuses == {"42": "valid", "43": "valid"}
    assert sorted(r["exposed_at"] for r in models[STG]) == [ts(1), ts(2, micros=500_000)]


def test_mapping_to_a_missing_column_names_it_and_the_available_ones(tmp_path):
    events = write_rows(tmp_path / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    a_path = write_rows(tmp_path / "assignments.parquet", [assignment("u1")], ASSIGNMENT_SCHEMA)
    with pytest.raises(ContractError) as error:
        expguard.run(str(events), str(a_path), output_dir=str(tmp_path / "out"),
                     events_columns={"unit_id": "coalesce(user_id, anonymous_id)"})
    message = str(error.value)
    assert "user_id" in message and "event_name" in message


def test_a_dotted_mapping_reads_a_struct_column_and_names_a_missing_one(tmp_path):
    lines = [{"event_id": "a", "event_name": "experiment_viewed", "event_ts": "2026-03-01T12:01:00Z",
              "context": {"traits": {"user_id": "u1"}}, "properties": {"experiment_id": "exp", "variation_id": "A"}}]
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    a_path = write_rows(tmp_path / "assignments.parquet", [assignment("u1")], ASSIGNMENT_SCHEMA)
    models = run(tmp_path, tmp_path / "events.jsonl", a_path, events_columns={"unit_id": "context.traits.user_id"})
    assert [(r["unit_id"], r["exposure_status"]) for r in models[VALIDATION]] == [("u1", "valid")]
    with pytest.raises(ContractError, match=r"has no column 'ctx' \(needed for unit_id = 'ctx.traits.user_id'\)"):
        run(tmp_path, tmp_path / "events.jsonl", a_path, events_columns={"unit_id": "ctx.traits.user_id"})


# -- contracts checked beside the models (engines that run jobs side by side) --------------------

class _SideBySide:
    concurrent_jobs = True


@pytest.mark.parametrize("concurrent", [False, True])
def test_a_violation_wins_over_a_model_failure(monkeypatch, concurrent):
    from expguard.runner import pipeline
    from expguard.core.errors import ContractError, EngineError

    def violated(engine, checks):
        raise ContractError("contract violated: fct_experiment_assignments.unit_id is null (1 row)")

    monkeypatch.setattr(pipeline.contracts, "check_assignments", violated)
    monkeypatch.setattr(pipeline.contracts, "check_unique_pairs", lambda engine, rows=None: None)
    engine = _SideBySide()
    engine.concurrent_jobs = concurrent
    with pytest.raises(ContractError, match="unit_id is null"):
        with pipeline.contracts_checked(engine):
            raise EngineError("building int_experiment_exposure_validation failed: out of memory")


def test_side_by_side_check_ends_before_the_block_does(monkeypatch):
    import threading
    import time

    from expguard.runner import pipeline
    from expguard.core.errors import ContractError

    started = threading.Event()

    def slow_violation(engine, checks):
        started.set()
        time.sleep(0.3)
        raise ContractError("contract violated: duplicated pairs")

    monkeypatch.setattr(pipeline.contracts, "check_assignments", slow_violation)
    monkeypatch.setattr(pipeline.contracts, "check_unique_pairs", lambda engine, rows=None: None)
    built = []
    with pytest.raises(ContractError, match="duplicated pairs"):
        with pipeline.contracts_checked(_SideBySide()):
            assert started.wait(5), "the check did not start beside the block"
            built.append("models")  # the block finishes first; the violation still stops the run
    assert built == ["models"]


def test_a_model_failure_stays_when_the_contracts_hold(monkeypatch):
    from expguard.runner import pipeline
    from expguard.core.errors import EngineError

    monkeypatch.setattr(pipeline.contracts, "check_assignments", lambda engine, checks: None)
    monkeypatch.setattr(pipeline.contracts, "check_unique_pairs", lambda engine, rows=None: None)
    with pytest.raises(EngineError, match="out of memory"):
        with pipeline.contracts_checked(_SideBySide()):
            raise EngineError("out of memory")


@pytest.mark.parametrize("concurrent", [False, True])
def test_a_duplicated_pair_found_after_a_model_failure_wins(monkeypatch, concurrent):
    from expguard.runner import pipeline
    from expguard.core.errors import EngineError

    def duplicated(engine, rows=None):
        raise ContractError("contract violated: fct_experiment_assignments has more than one row (1 duplicated pair)")

    monkeypatch.setattr(pipeline.contracts, "check_assignments", lambda engine, checks: None)
    monkeypatch.setattr(pipeline.contracts, "check_unique_pairs", duplicated)
    engine = _SideBySide()
    engine.concurrent_jobs = concurrent
    with pytest.raises(ContractError, match="duplicated pair"):
        with pipeline.contracts_checked(engine):
            raise EngineError("building int_experiment_exposure_validation failed")


def test_uniqueness_is_read_from_the_validation_row_count(tmp_path, monkeypatch):
    """No pass of its own when the counts agree; the full check (same message) when they do not."""
    from expguard.inputs import contracts

    full_checks = []
    real = contracts.run_check
    monkeypatch.setattr(contracts, "run_check", lambda engine, check: (full_checks.append(check.name), real(engine, check)))
    events = tmp_path / "events.parquet"
    write_rows(events, [exposure("u1", T0, "A", "e1")], EVENT_SCHEMA)
    clean = tmp_path / "clean.parquet"
    write_rows(clean, [assignment("u1", "A", ts(), "e1"), assignment("u2", "B", ts(), "e1")], ASSIGNMENT_SCHEMA)
    expguard.run(str(events), str(clean), output_dir=str(tmp_path / "out"))
    assert full_checks == []
    duplicated = tmp_path / "duplicated.parquet"
    write_rows(duplicated, [assignment("u1", "A", ts(), "e1"), assignment("u1", "B", ts(1), "e1")], ASSIGNMENT_SCHEMA)
    with pytest.raises(ContractError, match=r"more than one row for the same \(experiment_id, unit_id\) \(1 duplicated pair\)"):
        expguard.run(str(events), str(duplicated), output_dir=str(tmp_path / "out2"))
    assert full_checks == ["experiment_unit_unique"]
    assert not (tmp_path / "out2" / "stg_experiment_exposures.parquet").exists()


@pytest.mark.parametrize("broken", ["duplicate", "null_unit"])
def test_building_for_a_report_or_diagnosis_checks_the_contracts_as_a_run_does(tmp_path, broken):
    # report, diagnose and alerts build the models from inputs through pipeline.built_engine:
    # the same checks, the same message as `expguard run`.
    from expguard.settings.config import build_config
    from expguard.core.constants import FCT_ALERTS
    from expguard.runner.pipeline import build_tables

    rows = [assignment("u1"), assignment("u2")]
    rows.append(assignment("u1") if broken == "duplicate" else {**assignment("u3"), "unit_id": None})
    message = contract_error(tmp_path, rows)
    config = build_config(events=str(tmp_path / "events.parquet"), assignments=str(tmp_path / "assignments.parquet"))
    with pytest.raises(ContractError) as error:
        build_tables(config, [FCT_ALERTS])
    assert str(error.value) == message
    assert ("more than one row" if broken == "duplicate" else "unit_id is null") in message


# --------------------------------------------------------------------------------------------
# the row checks' one scan keeps only offending rows: the same counts as each check alone
# --------------------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_IDS = st.sampled_from([None, "", " ", "  ", "\t", " x", "x ", "!", "a", "u1", "007", "\x01z"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_IDS, _IDS, _IDS, st.booleans()), min_size=1, max_size=40),
       row_group=st.integers(1, 8), fmt=st.sampled_from(["parquet", "csv"]))
def test_the_row_checks_counted_together_equal_each_check_alone(tmp_path_factory, rows, row_group, fmt):
    from expguard.engines.duckdb import DuckDBEngine
    from expguard.inputs import contracts
    from expguard.runner.pipeline import prepare
    from expguard.settings.config import EngineSettings, build_config

    folder = tmp_path_factory.mktemp("checks")
    table = pa.Table.from_pylist(
        [{"experiment_id": e, "unit_id": u, "variation_id": v, "assigned_at": T0 if timed else None}
         for e, u, v, timed in rows], schema=ASSIGNMENT_SCHEMA)
    path = folder / f"assignments.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path, row_group_size=row_group)  # statistics per small row group
    else:
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, path)
    events = write_rows(folder / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    engine = DuckDBEngine(EngineSettings())
    try:
        prepare(engine, build_config(events=str(events), assignments=str(path)))
        together = engine.fetch(contracts.totals_query(contracts.ROW_CHECKS))[0]
        assert "where" in engine.render(contracts.totals_query(contracts.ROW_CHECKS)).lower()
        import sqlglot

        alone = {check.name: engine.fetch(sqlglot.parse_one(check.count_sql, read="duckdb"))[0]["n"]
                 for check in contracts.ROW_CHECKS}
    finally:
        engine.close()
    assert together == alone
