"""Fuzzing: hostile event and assignment tables. Every run either stops with a clean
ExpguardError or yields outputs that satisfy the contract's invariants and agree with the
independent reference implementation (tests/reference.py)."""

from __future__ import annotations

import datetime as dt
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import expguard
from expguard.core.constants import EXPOSURE_STATUSES, REJECT_REASONS
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA
from reference import build_models

FUZZ_EXAMPLES = 60
BASE = dt.datetime(2026, 3, 1)

hostile_text = st.sampled_from(["a", "b", " a", "a ", "   ", "", "\ta", "a\u00a0", "é", "10", "9", "B", "日本", "x\x00y", "'; drop table t; --"])
ids = st.one_of(st.none(), hostile_text)
json_value = st.one_of(st.none(), hostile_text, st.integers(-3, 12), st.sampled_from([1.5, True, False, [1], {"k": 1}]))
nonnull_times = st.one_of(st.integers(-3 * 24 * 60, 40 * 24 * 60).map(lambda m: BASE + dt.timedelta(minutes=m)),
                  st.sampled_from([BASE, BASE - dt.timedelta(minutes=5), BASE + dt.timedelta(days=30)]))
times = st.one_of(st.none(), nonnull_times)


@st.composite
def properties(draw):
    kind = draw(st.sampled_from(["object", "object", "object", "invalid", "null", "array"]))
    if kind == "invalid":
        # Clearly invalid JSON. Lenient extensions (trailing commas, NaN) are engine-defined:
        # see docs/contract.md.
        return draw(st.sampled_from(["{", "not json", "", '{"experiment_id": "a"', "{'experiment_id': 'a'}"]))
    if kind == "null":
        return None
    if kind == "array":
        return "[1, 2]"
    data = {}
    for key in ("experiment_id", "variation_id"):
        if draw(st.booleans()) or key == "experiment_id":
            data[key] = draw(json_value)
    return json.dumps(data)


events_strategy = st.lists(
    st.fixed_dictionaries({
        "event_id": ids,
        "event_name": st.sampled_from(["experiment_viewed", "experiment_viewed", "Experiment_Viewed", "page_view", None, ""]),
        "unit_id": ids,
        "event_ts": times,
        "properties": properties(),
    }),
    max_size=25,
)
# Mostly contract-abiding assignments (so that most examples run), sometimes not.
nonblank_text = hostile_text.filter(lambda t: t.strip(" ") != "")
assignment_ids = st.integers(0, 39).flatmap(lambda i: ids if i == 0 else nonblank_text)
assignments_strategy = st.lists(
    st.fixed_dictionaries({
        "experiment_id": assignment_ids,
        "unit_id": assignment_ids,
        "variation_id": assignment_ids,
        "assigned_at": st.integers(0, 39).flatmap(lambda i: times if i == 0 else nonnull_times),
    }),
    max_size=10,
)


def _assignment_contract_ok(rows):
    keys = [(r["experiment_id"], r["unit_id"]) for r in rows]
    return all(
        r[c] is not None and (c == "assigned_at" or r[c].strip(" ") != "")
        for r in rows for c in ("experiment_id", "unit_id", "variation_id", "assigned_at")
    ) and len(set(keys)) == len(keys)


def _sorted(rows):
    return sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=events_strategy, assignments=assignments_strategy,
       grace=st.sampled_from([0, 5, 60]), max_days=st.sampled_from([0, 1, 30]))
def test_hostile_inputs_error_cleanly_or_satisfy_the_contract(tmp_path_factory, events, assignments, grace, max_days):
    directory = tmp_path_factory.mktemp("fuzz")
    pq.write_table(pa.Table.from_pylist(events, schema=EVENT_SCHEMA), directory / "e.parquet")
    pq.write_table(pa.Table.from_pylist(assignments, schema=ASSIGNMENT_SCHEMA), directory / "a.parquet")
    variables = {"exp_allow_pre_assignment_exposure_grace_minutes": grace,
                 "exp_exposure_max_days_after_assignment": max_days}
    try:
        expguard.run(str(directory / "e.parquet"), str(directory / "a.parquet"), output_dir=str(directory / "out"),
                     vars=variables)
    except expguard.ContractError:
        event("refused: assignment contract")
        assert not _assignment_contract_ok(assignments), "a valid assignment table was refused"
        assert not (directory / "out").exists() or not list((directory / "out").glob("*.parquet"))
        return
    event("ran")
    assert _assignment_contract_ok(assignments), "an assignment table that breaks the contract was accepted"
    out = {name: pq.read_table(directory / "out" / f"{name}.parquet").to_pylist() for name in expguard.MODELS}

    validation = out["int_experiment_exposure_validation"]
    assert len(validation) == len(assignments)
    for row in validation:
        assert row["exposure_status"] in EXPOSURE_STATUSES
        assert all(row[c] is not None for c in row if c.startswith(("is_", "has_")))
    for row in out["stg_experiment_exposures"]:
        assert row["reject_reason"] in (None, *REJECT_REASONS)
    for row in out["fct_experiment_exposure_quality_daily"]:
        statuses = sum(row[f"{s}_units"] for s in EXPOSURE_STATUSES if s != "valid") + row["valid_exposed_units"]
        assert statuses == row["assigned_units"]
        assert (row["exposure_rate"] is None) == (row["assigned_units"] == 0)
        assert row["exposure_rate"] is None or not math.isnan(row["exposure_rate"])

    expected = build_models(events, assignments, exp_allow_pre_assignment_exposure_grace_minutes=grace,
                            exp_exposure_max_days_after_assignment=max_days)
    for name in expguard.MODELS:
        actual_rows = [{k: v for k, v in r.items() if k in expected[name][0]} for r in out[name]] if expected[name] else out[name]
        assert _sorted(actual_rows) == _sorted(expected[name]), name
