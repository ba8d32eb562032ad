"""Each model's merge (models/merges/<model>.sql) against the model itself.

An incremental run does not read the earlier rows of a model's input again where the model has a
merge: it runs the model's own SQL on the new rows alone and merges those rows with the model's
rows from before (the deduped model: the touched keys' rows; the rejections model, in a database
updated in place: all of them). That is exact only if the merge of the model on two parts of its
input is the model on all of it, whatever the split. Checked here for hand-made splits with the
traps of each model, for any split (hypothesis, DuckDB), and on Spark.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expguard.core.constants import INT_DEDUPED, INT_REJECTIONS_DAILY, STG_EXPOSURES
from expguard.engines import create_engine
from expguard.models.compile import rename_inputs
from expguard.models.registry import load_models, merge_files, merge_query
from expguard.settings.config import EngineSettings

T0 = dt.datetime(2026, 1, 1)

#: the staged events as each model reads them (the columns it reads, the staging model's types)
STAGING = {
    INT_DEDUPED: pa.schema([
        ("experiment_id", pa.string()), ("unit_id", pa.string()), ("variation_id", pa.string()),
        ("event_id", pa.string()), ("exposed_at", pa.timestamp("us")), ("reject_reason", pa.string()),
    ]),
    INT_REJECTIONS_DAILY: pa.schema([
        ("experiment_id", pa.string()), ("exposed_at", pa.timestamp("us")), ("exposure_date", pa.date32()),
        ("reject_reason", pa.string()),
    ]),
}


def merged_against_whole(engine, model: str, part_a: list[dict], part_b: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the merge of ``model`` on each part of the staged events, the model on both parts), rows sorted."""
    tree = load_models()[model]
    for name, rows in (("stg_a", part_a), ("stg_b", part_b), ("stg_all", part_a + part_b)):
        engine.register_arrow(name, pa.Table.from_pylist(rows, schema=STAGING[model]))
    for name, source in (("model_a", "stg_a"), ("model_b", "stg_b"), ("model_all", "stg_all")):
        # views, as an incremental run has them (Spark cannot store a union of stored aggregates)
        engine.create_view(name, rename_inputs(tree.parse(), {STG_EXPOSURES: source}, "duckdb"))
    engine.create_view("model_both", sqlglot.parse_one("select * from model_a union all select * from model_b",
                                                       read="duckdb"))
    engine.materialize("merged", rename_inputs(merge_query(model), {model: "model_both"}, "duckdb"))

    def key(row: dict) -> tuple:
        return tuple("" if v is None else str(v) for v in row.values())

    return sorted(engine.rows("merged"), key=key), sorted(engine.rows("model_all"), key=key)


def exposure(unit: str, minutes: int, event_id: str | None, variation: str = "b", rejected: bool = False) -> dict:
    """A staged event as the deduped model reads it."""
    return {"experiment_id": "exp", "unit_id": unit, "variation_id": variation, "event_id": event_id,
            "exposed_at": T0 + dt.timedelta(minutes=minutes), "reject_reason": "late" if rejected else None}


def staged(experiment: str | None, hours: int | None, reason: str | None) -> dict:
    """A staged event as the rejections model reads it (no timestamp: no date either)."""
    at = None if hours is None else T0 + dt.timedelta(hours=hours)
    return {"experiment_id": experiment, "exposed_at": at, "exposure_date": None if at is None else at.date(),
            "reject_reason": reason}


REASONS = (None, "missing_experiment_id", "missing_unit_id", "missing_variation_id", "missing_timestamp")

#: Per model: a hand-made split with its traps, and any staged event (hypothesis).
HAND_MADE = {
    # ties on exposed_at broken by event_id (a null last) across the two parts, a key on one side
    # only, a rejected row that must not count, an earlier exposure arriving later
    INT_DEDUPED: (
        [exposure("u1", 5, "e9"), exposure("u1", 7, None), exposure("u2", 3, None), exposure("u3", 1, "e1"),
         exposure("u4", 2, "x", rejected=True)],
        [exposure("u1", 5, "e2"), exposure("u1", 9, "e3"), exposure("u2", 3, "z"), exposure("u5", 4, None),
         exposure("u3", 0, None), exposure("u4", 8, "y")],
    ),
    # the same group on both sides (counts add, the newest time wins from either side), a group and
    # a reason on one side only, events without an experiment or a timestamp (null keys, grouped)
    INT_REJECTIONS_DAILY: (
        [staged("a", 1, None), staged("a", 5, "missing_unit_id"), staged(None, 2, "missing_experiment_id"),
         staged("a", None, "missing_timestamp"), staged("b", 30, None)],
        [staged("a", 3, None), staged("a", 2, "missing_variation_id"), staged(None, 4, "missing_experiment_id"),
         staged("a", None, "missing_timestamp"), staged("c", 50, None)],
    ),
}
ANY_EVENT = {
    INT_DEDUPED: st.builds(exposure, st.sampled_from(["u1", "u2", "u3"]), st.integers(0, 3),
                           st.one_of(st.none(), st.sampled_from(["a", "b", "B", "é", ""])), st.sampled_from(["a", "b"]),
                           st.booleans()),
    INT_REJECTIONS_DAILY: st.builds(staged, st.sampled_from(["a", "b", None]), st.one_of(st.none(), st.integers(0, 60)),
                                    st.sampled_from(REASONS)),
}


@pytest.fixture(scope="module")
def duckdb_engine():
    engine = create_engine(EngineSettings(name="duckdb"))
    yield engine
    engine.close()


def test_every_merge_is_tested_here():
    assert {name.removesuffix(".sql") for name, _ in merge_files()} == set(HAND_MADE) == set(ANY_EVENT)


def test_deduped_merge_of_two_parts_equals_the_model_on_both(duckdb_engine):
    merged, whole = merged_against_whole(duckdb_engine, INT_DEDUPED, *HAND_MADE[INT_DEDUPED])
    assert merged == whole
    by_unit = {r["unit_id"]: r for r in merged}
    # the tie at minute 5 goes to the smaller event id, from the second part; counts add up
    assert (by_unit["u1"]["event_id"], by_unit["u1"]["exposure_event_count"]) == ("e2", 4)
    assert by_unit["u1"]["last_exposed_at"] == T0 + dt.timedelta(minutes=9)
    # a null event id loses the tie to any id; the earlier exposure of the later part wins
    assert by_unit["u2"]["event_id"] == "z"
    assert (by_unit["u3"]["event_id"], by_unit["u3"]["exposed_at"]) == (None, T0)
    assert by_unit["u4"]["exposure_event_count"] == 1


def test_rejections_merge_of_two_parts_equals_the_model_on_both(duckdb_engine):
    merged, whole = merged_against_whole(duckdb_engine, INT_REJECTIONS_DAILY, *HAND_MADE[INT_REJECTIONS_DAILY])
    assert merged == whole
    groups = {(r["experiment_id"], r["exposure_date"]): r for r in merged}
    day1 = groups[("a", T0.date())]
    assert (day1["exposure_events"], day1["rejected_exposure_events"]) == (4, 2)
    assert (day1["missing_unit_id_events"], day1["missing_variation_id_events"]) == (1, 1)
    assert day1["last_exposure_event_at"] == T0 + dt.timedelta(hours=5)  # from the first part
    assert groups[(None, T0.date())]["missing_experiment_id_events"] == 2
    undated = groups[("a", None)]
    assert (undated["missing_timestamp_events"], undated["last_exposure_event_at"]) == (2, None)
    assert set(groups) == {("a", T0.date()), (None, T0.date()), ("a", None), ("b", (T0 + dt.timedelta(hours=30)).date()),
                           ("c", (T0 + dt.timedelta(hours=50)).date())}


@pytest.mark.parametrize("model", sorted(ANY_EVENT))
@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_merge_equals_the_model_for_any_split(duckdb_engine, model, data):
    part = st.lists(ANY_EVENT[model], max_size=10)
    merged, whole = merged_against_whole(duckdb_engine, model, data.draw(part), data.draw(part))
    assert merged == whole


@pytest.mark.spark
def test_merges_equal_the_models_on_spark():
    pytest.importorskip("pyspark")
    engine = create_engine(EngineSettings(name="spark"))
    try:
        deduped = merged_against_whole(engine, INT_DEDUPED, *HAND_MADE[INT_DEDUPED])
        rejections = merged_against_whole(engine, INT_REJECTIONS_DAILY, *HAND_MADE[INT_REJECTIONS_DAILY])
    finally:
        engine.close()
    assert deduped[0] == deduped[1]
    assert {r["unit_id"]: r["event_id"] for r in deduped[0]} == {"u1": "e2", "u2": "z", "u3": None, "u4": "y", "u5": None}
    assert rejections[0] == rejections[1]
    assert sum(r["exposure_events"] for r in rejections[0]) == 10
