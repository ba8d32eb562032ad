"""The canonical event view on DuckDB reads both default ids from one parse of the JSON
(``json_extract_string(p, [path, path])``): it must give exactly what the two default mapping
expressions give one by one, on every JSON edge case the engines are compared on."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expguard.runner import pipeline
from expguard.settings.config import DEFAULT_EVENT_MAPPING, build_config
from expguard.engines import create_engine
from helpers import ASSIGNMENT_SCHEMA, T0

# The JSON battery of the engine comparison, with both ids in play.
from engines.test_spark_engine import JSON_DUCKDB_ONLY, JSON_SAME

TEXTS = JSON_SAME + JSON_DUCKDB_ONLY + [
    '{"experiment_id": "e1", "variation_id": "A"}', '{"variation_id": "A"}', '{"variation_id": 3, "experiment_id": [1]}',
    json.dumps({"experiment_id": " e1 ", "variation_id": "B", "nested": {"experiment_id": "no"}}),
    '{"experiment_id": "e1", "variation_id": "A", "variation_id": "B"}',
]


def prepared_view(tmp_path, queries: list[str], **options) -> tuple[str, list[list[tuple]]]:
    """Prepare the canonical views over ``tmp_path/events.parquet`` (no assignments) and return
    the SQL of ``fct_events`` and the rows of each query run on the engine."""
    pq.write_table(pa.table({name: pa.array([], field.type) for name, field in zip(ASSIGNMENT_SCHEMA.names, ASSIGNMENT_SCHEMA)}),
                   tmp_path / "assignments.parquet")
    config = build_config(events=str(tmp_path / "events.parquet"), assignments=str(tmp_path / "assignments.parquet"), **options)
    engine = create_engine(config.engine)
    try:
        pipeline.prepare(engine, config)
        view_sql = engine.con.sql("select sql from duckdb_views() where view_name = 'fct_events'").fetchall()[0][0]
        return view_sql, [engine.con.sql(query).fetchall() for query in queries]
    finally:
        engine.close()


def test_both_ids_read_from_one_parse_equal_the_default_expressions(tmp_path):
    events = pa.table({
        "event_id": [str(i) for i in range(len(TEXTS))],
        "event_name": ["experiment_viewed"] * len(TEXTS),
        "unit_id": ["u"] * len(TEXTS),
        "event_ts": pa.array([T0] * len(TEXTS), pa.timestamp("us")),
        "properties": pa.array(TEXTS, pa.string()),
    })
    pq.write_table(events, tmp_path / "events.parquet")
    view_sql, (actual,) = prepared_view(
        tmp_path, ["select event_id, experiment_id, variation_id from fct_events order by event_id::int"])
    assert "__expguard_ids" in view_sql, "the ids are not read from one parse"
    with duckdb.connect() as con:
        con.register("e", events)
        expected = con.sql(
            f"select event_id, {DEFAULT_EVENT_MAPPING['experiment_id']}, {DEFAULT_EVENT_MAPPING['variation_id']} "
            "from e order by event_id::int"
        ).fetchall()
    for text, got, want in zip(TEXTS, actual, expected):
        assert got == want, f"properties {text!r}: view gives {got[1:]}, the default expressions {want[1:]}"
    # the battery does exercise both ids
    assert {row[2] for row in actual} > {None}


@pytest.mark.parametrize("override", ["experiment_id", "variation_id"])
def test_a_mapped_id_keeps_its_own_expression(tmp_path, override):
    events = pa.table({
        "event_id": ["1"], "event_name": ["experiment_viewed"], "unit_id": ["u"],
        "event_ts": pa.array([T0], pa.timestamp("us")),
        "properties": ['{"experiment_id": "e1", "variation_id": "A"}'], "top": ["from_top"],
    })
    pq.write_table(events, tmp_path / "events.parquet")
    _, ((row,),) = prepared_view(tmp_path, ["select experiment_id, variation_id from fct_events"],
                                 events_columns={override: "top"})
    expected = {"experiment_id": ("from_top", "A"), "variation_id": ("e1", "from_top")}[override]
    assert row == expected


# Zoned timestamps on DuckDB are read through their epoch microseconds (a sixth of the cast's
# CPU); every value must come out as the cast in a UTC session gives it, the infinities too.
ZONED = ["2026-03-01 12:00:00.123456+05:30", "2026-03-01 00:00:00-08:00", "1969-12-31 23:59:59.999999+00",
         "1970-01-01 00:00:00+00", "0001-01-01 00:00:00+00", "2262-04-11 23:47:16.854775+00",
         "9999-12-31 23:59:59.999999+00", "2024-02-29 23:30:00-01:00", "infinity", "-infinity", None]


def _normalized(expression_sql: str, values: list[str | None], source_type: str) -> list:
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"create table raw as select cast(v as {source_type}) as v "
                    "from unnest(?::varchar[]) with ordinality as t(v, i) order by i", [values])
        return [row[0] for row in con.sql(f"select {expression_sql} from raw").fetchall()]


def test_zoned_times_through_epoch_microseconds_equal_the_cast():
    from sqlglot import exp

    from expguard.inputs import views as inputs
    from expguard.engines import base

    fast = inputs.to_utc_timestamp(exp.column("v"), base.TIMESTAMPTZ, "event_ts", "events", "TIMESTAMPTZ", epoch_micros=True)
    plain = inputs.to_utc_timestamp(exp.column("v"), base.TIMESTAMPTZ, "event_ts", "events", "TIMESTAMPTZ")
    assert "EPOCH_US" in fast.sql("duckdb") and "EPOCH_US" not in plain.sql("duckdb")
    got = _normalized(fast.sql("duckdb"), ZONED, "timestamptz")
    want = _normalized(plain.sql("duckdb"), ZONED, "timestamptz")
    assert got == want
    assert sum(v is not None for v in want) >= 8  # the battery converts real values, not only nulls


def test_the_engine_reads_zoned_event_times_through_epoch_microseconds(tmp_path):
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"""copy (select 'e' || i as event_id, 'experiment_viewed' as event_name, 'u' as unit_id,
                     cast(t as timestamptz) as event_ts, '{{"experiment_id": "x", "variation_id": "A"}}' as properties
                     from unnest(?::varchar[]) with ordinality as s(t, i)) to '{tmp_path / "events.parquet"}'""", [ZONED])
    view_sql, (actual, expected) = prepared_view(tmp_path, [
        "select event_ts from fct_events order by event_id",
        # the cast, null outside the years 1 to 9999 (here: DuckDB's infinities)
        "select case when cast(event_ts as timestamp) between '0001-01-01' and '9999-12-31 23:59:59.999999' "
        f"then cast(event_ts as timestamp) end from read_parquet('{tmp_path / 'events.parquet'}') order by event_id",
    ])
    assert "epoch_us" in view_sql.lower()
    assert actual == expected
    assert sum(row[0] is None for row in actual) == 3  # None, infinity, -infinity
