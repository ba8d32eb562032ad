"""`expguard compile --all`: every SQL model as a runnable script for a warehouse.

Every model compiles for every listed dialect, and the DuckDB and Spark scripts, run on
canonical input tables, give the same rows as `expguard run`."""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlglot

import expguard
from expguard.sql.render import DIALECTS
from expguard.models.compile import compile_script
from expguard.settings.config import Variables
from expguard.apps.demo.generator import generate, write_dataset
from expguard.models.registry import load_models

SQL_MODELS = [name for name, model in load_models().items() if not model.is_python]
VARIABLES = Variables().as_dict()
# The canonical events: the default column mapping, applied by hand.
CANONICAL_EVENTS = """
create table raw.events as select
    event_id, event_name, unit_id, cast(event_ts as timestamp) as event_ts,
    case when json_valid(properties) then json_extract_string(properties, '$.experiment_id') end as experiment_id,
    case when json_valid(properties) then json_extract_string(properties, '$.variation_id') end as variation_id
from read_parquet($events)
"""


def sorted_rows(table) -> list[tuple]:
    def key(row: tuple) -> tuple:
        return tuple((value is None, value if value is not None else 0) for value in row)
    return sorted((tuple(row.values()) for row in table.to_pylist()), key=key)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    directory = tmp_path_factory.mktemp("compile")
    events, assignments = write_dataset(generate(20_000, seed=21), directory / "data")
    expguard.run(str(events), str(assignments), output_dir=str(directory / "out"))
    expected = {name: sorted_rows(pq.read_table(directory / "out" / f"{name}.parquet")) for name in SQL_MODELS}
    return events, assignments, expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_model_compiles_for_every_dialect(dialect):
    script = compile_script(VARIABLES, dialect, {"fct_events": "raw.events"}, schema="eg")
    for name in SQL_MODELS:
        assert f"CREATE TABLE eg.{name}" in script or f"CREATE TABLE `eg`.`{name}`" in script, name
    # what the script says parses back in its own dialect
    statements = [s for s in sqlglot.parse(script, read=dialect) if isinstance(s, (sqlglot.exp.Drop, sqlglot.exp.Create))]
    assert len(statements) == 2 * len(SQL_MODELS)
    assert "raw.events" in script and "fct_events AS" not in script.replace("raw.events AS fct_events", "")


def test_duckdb_script_runs_and_matches_expguard(dataset):
    events, assignments, expected = dataset
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema raw; create schema eg")
    con.execute(CANONICAL_EVENTS, {"events": str(events)})
    con.execute("create table raw.assignments as select experiment_id, unit_id, variation_id, "
                "cast(assigned_at as timestamp) as assigned_at from read_parquet($a)", {"a": str(assignments)})
    script = compile_script(VARIABLES, "duckdb",
                            {"fct_events": "raw.events", "fct_experiment_assignments": "raw.assignments"}, schema="eg")
    con.execute(script)
    for name in SQL_MODELS:
        assert sorted_rows(con.sql(f"select * from eg.{name}").to_arrow_table()) == expected[name], name


@pytest.mark.spark
def test_spark_script_runs_and_matches_expguard(dataset, spark):
    events, assignments, expected = dataset
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute("create schema raw")
    con.execute(CANONICAL_EVENTS, {"events": str(events)})
    canonical_events = con.sql("select * from raw.events").to_arrow_table()
    canonical_assignments = con.sql("select experiment_id, unit_id, variation_id, cast(assigned_at as timestamp) "
                                    "as assigned_at from read_parquet($a)", params={"a": str(assignments)}).to_arrow_table()
    spark.sql("create database if not exists eg_compile")
    spark.createDataFrame(canonical_events).createOrReplaceTempView("canonical_events")
    spark.createDataFrame(canonical_assignments).createOrReplaceTempView("canonical_assignments")
    script = compile_script(VARIABLES, "spark", {"fct_events": "canonical_events",
                                                  "fct_experiment_assignments": "canonical_assignments"}, schema="eg_compile")
    for statement in sqlglot.parse(script, read="spark"):
        if isinstance(statement, (sqlglot.exp.Drop, sqlglot.exp.Create)):
            spark.sql(statement.sql("spark"))
    try:
        for name in SQL_MODELS:
            actual = spark.table(f"eg_compile.{name}").toArrow()
            assert sorted_rows(actual) == expected[name], name
    finally:
        for name in SQL_MODELS:
            spark.sql(f"drop table if exists eg_compile.{name}")
