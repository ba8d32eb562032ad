"""The Spark transforms of ``compile.py``: what each one writes, and that it touches nothing else.

Whether the written SQL means the same as DuckDB's is tested on Spark itself, case by case, in
``test_spark_engine.py``; these tests need no Spark.
"""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from expguard.sql import render as compile_module
from expguard.inputs import views as inputs
from expguard.sql.render import DIALECT_TRANSFORMS, SPARK_TIMESTAMP_TEXT, SPARK_TRANSFORMS, to_sql, transform_for
from expguard.engines import base


def spark_sql(duckdb_sql: str) -> str:
    return to_sql(sqlglot.parse_one(duckdb_sql, read="duckdb"), "spark")


def test_spark_and_databricks_share_the_transforms():
    assert DIALECT_TRANSFORMS["spark"] == DIALECT_TRANSFORMS["databricks"] == SPARK_TRANSFORMS
    assert "duckdb" not in DIALECT_TRANSFORMS


@pytest.mark.parametrize("transform", SPARK_TRANSFORMS, ids=lambda t: t.__name__)
def test_every_transform_says_why(transform):
    assert transform.__doc__ and len(transform.__doc__.split()) > 20


def test_json_valid_becomes_a_strict_single_value_check():
    sql = spark_sql("case when json_valid(p) then json_extract_string(p, '$.a') end")
    assert "JSON_VALID" not in sql.upper()
    # whole-text strictness: both wrappings parse as arrays of exactly two elements
    assert "ARRAY_SIZE(TRY_VARIANT_GET(TRY_PARSE_JSON('[' || p || ',0]'), '$', 'array<variant>')) = 2" in sql
    assert "ARRAY_SIZE(TRY_VARIANT_GET(TRY_PARSE_JSON('[0,' || p || ']'), '$', 'array<variant>')) = 2" in sql
    assert sql.count("COALESCE(") == 1 and "GET_JSON_OBJECT(p, '$.a')" in sql


def test_try_cast_stays_try_cast():
    # ANSI CAST raises on bad text; the input layer's TRY_CAST must yield null instead.
    assert spark_sql("select try_cast(x as integer)") == "SELECT TRY_CAST(x AS INT)"
    assert spark_sql("select cast(x as integer)") == "SELECT CAST(x AS INT)"


def test_text_to_timestamp_is_guarded_once():
    value = inputs.to_utc_timestamp(exp.column("t"), base.STRING, "event_ts", "events", "VARCHAR")
    sql = to_sql(value, "spark")
    assert sql.count("RLIKE") == 1 and sql.count("TRY_CAST(t AS TIMESTAMP)") == 1
    again = transform_for(transform_for(value, "spark"), "spark").sql("spark")
    assert again == sql
    # Other casts to text or numbers are left alone.
    assert "RLIKE" not in spark_sql("select try_cast(x as integer), try_cast(x as timestamp)")


@pytest.mark.parametrize("text, matches", [
    ("2026-03-01T12:00:00Z", True), ("2026-03-01 12:00:00.123456+05:30", True), ("2026-03-01", True),
    (" 2026-03-01 12:00 ", True), ("2026-03-01 12:00:00 Europe/Paris", True), ("\t2026-03-01", True),
    ("2026", False), ("2026-03", False), ("2026-03-01T12", False), ("2026-03-01 12:00:00 +02:00", False),
    ("2026-03-01 12:00:00UTC", False), ("2026-03-01 12:00:00 UT", False), ("2026-03-01 12:00:00\n", False),
    ("+2026-03-01", False), ("2026-03-01T12:00:00+2", False),
])
def test_timestamp_text_pattern(text, matches):
    # Python's re reads this pattern as Java does, \z aside.
    pattern = SPARK_TIMESTAMP_TEXT.replace("\\z", "\\Z")
    assert bool(re.search(pattern, text)) is matches


def test_epoch_seconds_round_to_the_microsecond():
    value = inputs.to_utc_timestamp(exp.column("s"), base.FLOAT, "event_ts", "events", "DOUBLE")
    sql = to_sql(value, "spark")
    assert "FROM_UNIXTIME" not in sql.upper()
    assert "TIMESTAMP_MICROS(CAST(RINT(CAST(s AS DOUBLE) * 1000000) AS BIGINT))" in sql


def test_epoch_integers_keep_their_scale():
    value = inputs.to_utc_timestamp(exp.column("i"), base.INTEGER, "event_ts", "events", "BIGINT")
    sql = to_sql(value, "spark")
    # (the value is narrowed to BIGINT first: a JSON-lines reader may type it as a 128-bit integer)
    assert "CAST(TIMESTAMP_MILLIS(CAST(i AS BIGINT)) AS TIMESTAMP_NTZ)" in sql
    assert "CAST(TIMESTAMP_MICROS(CAST(i AS BIGINT)) AS TIMESTAMP_NTZ)" in sql


def test_timestamp_means_without_time_zone():
    assert to_sql(exp.cast(exp.column("x"), "timestamp"), "spark") == "CAST(x AS TIMESTAMP_NTZ)"
    # A DuckDB TIMESTAMPTZ stays Spark's zone-aware TIMESTAMP.
    assert spark_sql("select cast(x as timestamptz)") == "SELECT CAST(x AS TIMESTAMP)"
    assert spark_sql("select cast(x as timestamp)") == "SELECT CAST(x AS TIMESTAMP_NTZ)"


def test_duckdb_sql_is_left_as_written():
    value = inputs.to_utc_timestamp(exp.column("t"), base.STRING, "event_ts", "events", "VARCHAR")
    assert to_sql(value, "duckdb") == "CAST(TRY_CAST(t AS TIMESTAMPTZ) AS TIMESTAMP)"
    assert "json_valid(p)" in to_sql(sqlglot.parse_one("json_valid(p)", read="duckdb"), "duckdb").lower()


def test_transforms_never_change_the_callers_tree():
    tree = sqlglot.parse_one("select json_valid(p), try_cast(t as timestamptz), to_timestamp(s)", read="duckdb")
    before = tree.sql("duckdb")
    to_sql(tree, "spark")
    assert tree.sql("duckdb") == before
    assert compile_module.transform_for(tree, "duckdb") is tree
