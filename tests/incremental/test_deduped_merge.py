"""The deduped merge (models/merges/int_experiment_exposures_deduped.sql) against the model itself.

An incremental run does not read the earlier events of a touched key again: it runs the deduped
model on the new events alone and merges those rows with the key's rows from before. That is
exact only if the merge of the model on two parts of the events is the model on all of them,
whatever the split: ties on exposed_at, null event ids, rejected rows, a key on one side only.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expguard.core.constants import INT_DEDUPED, STG_EXPOSURES
from expguard.engines import create_engine
from expguard.models.compile import rename_inputs
from expguard.models.registry import load_models, merge_query
from expguard.settings.config import EngineSettings

T0 = dt.datetime(2026, 1, 1)

STAGING = pa.schema([
    ("experiment_id", pa.string()), ("unit_id", pa.string()), ("variation_id", pa.string()),
    ("event_id", pa.string()), ("exposed_at", pa.timestamp("us")), ("reject_reason", pa.string()),
])


def staging_rows(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=STAGING)


def merged_against_whole(engine, part_a: list[dict], part_b: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the merge of the model on each part, the model on both parts), rows sorted."""
    model = load_models()[INT_DEDUPED]
    engine.register_arrow("stg_a", staging_rows(part_a))
    engine.register_arrow("stg_b", staging_rows(part_b))
    engine.register_arrow("stg_all", staging_rows(part_a + part_b))
    for name, source in (("deduped_a", "stg_a"), ("deduped_b", "stg_b"), ("deduped_all", "stg_all")):
        # views, as an incremental run has them (Spark cannot store a union of stored aggregates)
        engine.create_view(name, rename_inputs(model.parse(), {STG_EXPOSURES: source}, "duckdb"))
    engine.create_view("deduped_both", sqlglot.parse_one("select * from deduped_a union all select * from deduped_b",
                                                         read="duckdb"))
    engine.materialize("merged", rename_inputs(merge_query(INT_DEDUPED), {INT_DEDUPED: "deduped_both"}, "duckdb"))

    def key(row: dict) -> tuple:
        return tuple("" if v is None else str(v) for v in row.values())

    return sorted(engine.rows("merged"), key=key), sorted(engine.rows("deduped_all"), key=key)


def row(unit: str, minutes: int, event_id: str | None, variation: str = "b", rejected: bool = False) -> dict:
    return {"experiment_id": "exp", "unit_id": unit, "variation_id": variation, "event_id": event_id,
            "exposed_at": T0 + dt.timedelta(minutes=minutes), "reject_reason": "late" if rejected else None}


#: ties on exposed_at broken by event_id (a null last) across the two parts, a key on one side
#: only, a rejected row that must not count, an earlier exposure arriving later
HAND_MADE = (
    [row("u1", 5, "e9"), row("u1", 7, None), row("u2", 3, None), row("u3", 1, "e1"), row("u4", 2, "x", rejected=True)],
    [row("u1", 5, "e2"), row("u1", 9, "e3"), row("u2", 3, "z"), row("u5", 4, None), row("u3", 0, None),
     row("u4", 8, "y")],
)


@pytest.fixture(scope="module")
def duckdb_engine():
    engine = create_engine(EngineSettings(name="duckdb"))
    yield engine
    engine.close()


def test_merge_of_two_parts_equals_the_model_on_both(duckdb_engine):
    merged, whole = merged_against_whole(duckdb_engine, *HAND_MADE)
    assert merged == whole
    by_unit = {r["unit_id"]: r for r in merged}
    # the tie at minute 5 goes to the smaller event id, from the second part; counts add up
    assert (by_unit["u1"]["event_id"], by_unit["u1"]["exposure_event_count"]) == ("e2", 4)
    assert by_unit["u1"]["last_exposed_at"] == T0 + dt.timedelta(minutes=9)
    # a null event id loses the tie to any id; the earlier exposure of the later part wins
    assert by_unit["u2"]["event_id"] == "z"
    assert (by_unit["u3"]["event_id"], by_unit["u3"]["exposed_at"]) == (None, T0)
    assert by_unit["u4"]["exposure_event_count"] == 1


unit_ids = st.sampled_from(["u1", "u2", "u3"])
event_ids = st.one_of(st.none(), st.sampled_from(["a", "b", "B", "é", ""]))
staged = st.builds(
    lambda unit, minutes, event_id, variation, rejected: row(unit, minutes, event_id, variation, rejected),
    unit_ids, st.integers(0, 3), event_ids, st.sampled_from(["a", "b"]), st.booleans())


@given(parts=st.tuples(st.lists(staged, max_size=8), st.lists(staged, max_size=8)))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_merge_equals_the_model_for_any_split(duckdb_engine, parts):
    merged, whole = merged_against_whole(duckdb_engine, *parts)
    assert merged == whole


@pytest.mark.spark
def test_merge_equals_the_model_on_spark():
    pytest.importorskip("pyspark")
    engine = create_engine(EngineSettings(name="spark"))
    try:
        merged, whole = merged_against_whole(engine, *HAND_MADE)
    finally:
        engine.close()
    assert merged == whole
    assert {r["unit_id"]: r["event_id"] for r in merged} == {"u1": "e2", "u2": "z", "u3": None, "u4": "y", "u5": None}
