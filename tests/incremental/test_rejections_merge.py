"""The rejections merge (models/merges/int_experiment_exposure_rejections_daily.sql) against the model.

An incremental run that updates an output database in place does not count the earlier staged
events again: it runs the rejections model on the new events alone and merges those rows with the
model's rows before. That is exact only if the merge of the model on two parts of the staged
events is the model on all of them, whatever the split: null experiments and dates (their own
groups), a reason on one side only, a group on one side only, the newest event time on either.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expguard.core.constants import INT_REJECTIONS_DAILY, STG_EXPOSURES
from expguard.engines import create_engine
from expguard.models.compile import rename_inputs
from expguard.models.registry import load_models, merge_query
from expguard.settings.config import EngineSettings

T0 = dt.datetime(2026, 1, 1)
REASONS = (None, "missing_experiment_id", "missing_unit_id", "missing_variation_id", "missing_timestamp")

STAGING = pa.schema([
    ("event_id", pa.string()), ("experiment_id", pa.string()), ("unit_id", pa.string()),
    ("variation_id", pa.string()), ("exposed_at", pa.timestamp("us")), ("exposure_date", pa.date32()),
    ("reject_reason", pa.string()),
])


def staged_row(experiment: str | None, hours: int | None, reason: str | None) -> dict:
    at = None if hours is None else T0 + dt.timedelta(hours=hours)
    return {"event_id": "e", "experiment_id": experiment, "unit_id": "u", "variation_id": "v", "exposed_at": at,
            "exposure_date": None if at is None else at.date(), "reject_reason": reason}


def merged_against_whole(engine, part_a: list[dict], part_b: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the merge of the model on each part, the model on both parts), rows sorted."""
    model = load_models()[INT_REJECTIONS_DAILY]
    for name, rows in (("stg_a", part_a), ("stg_b", part_b), ("stg_all", part_a + part_b)):
        engine.register_arrow(name, pa.Table.from_pylist(rows, schema=STAGING))
    for name, source in (("rejections_a", "stg_a"), ("rejections_b", "stg_b"), ("rejections_all", "stg_all")):
        engine.create_view(name, rename_inputs(model.parse(), {STG_EXPOSURES: source}, "duckdb"))
    engine.create_view("rejections_both", sqlglot.parse_one(
        "select * from rejections_a union all select * from rejections_b", read="duckdb"))
    engine.materialize("merged", rename_inputs(merge_query(INT_REJECTIONS_DAILY),
                                               {INT_REJECTIONS_DAILY: "rejections_both"}, "duckdb"))

    def key(row: dict) -> tuple:
        return tuple("" if v is None else str(v) for v in row.values())

    return sorted(engine.rows("merged"), key=key), sorted(engine.rows("rejections_all"), key=key)


#: the same group on both sides (counts add, the newest time wins from either side), a group and
#: a reason on one side only, events without an experiment or a timestamp (null keys, grouped)
HAND_MADE = (
    [staged_row("a", 1, None), staged_row("a", 5, "missing_unit_id"), staged_row(None, 2, "missing_experiment_id"),
     staged_row("a", None, "missing_timestamp"), staged_row("b", 30, None)],
    [staged_row("a", 3, None), staged_row("a", 2, "missing_variation_id"), staged_row(None, 4, "missing_experiment_id"),
     staged_row("a", None, "missing_timestamp"), staged_row("c", 50, None)],
)


@pytest.fixture(scope="module")
def duckdb_engine():
    engine = create_engine(EngineSettings(name="duckdb"))
    yield engine
    engine.close()


def test_merge_of_two_parts_equals_the_model_on_both(duckdb_engine):
    merged, whole = merged_against_whole(duckdb_engine, *HAND_MADE)
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


staged = st.builds(staged_row, st.sampled_from(["a", "b", None]), st.one_of(st.none(), st.integers(0, 60)),
                   st.sampled_from(REASONS))


@given(parts=st.tuples(st.lists(staged, max_size=10), st.lists(staged, max_size=10)))
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
    assert sum(r["exposure_events"] for r in merged) == 10
