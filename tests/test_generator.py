"""Tests for the synthetic data generator (expguard.generator)."""
from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from expguard.apps.demo.generator import Dataset, DefectRates, generate, write_dataset

TS = pa.timestamp("us", tz="UTC")
EVENTS_SCHEMA = pa.schema([("event_id", pa.string()), ("event_name", pa.string()), ("unit_id", pa.string()),
                           ("event_ts", TS), ("properties", pa.string())])
ASSIGNMENTS_SCHEMA = pa.schema([("experiment_id", pa.string()), ("unit_id", pa.string()),
                                ("variation_id", pa.string()), ("assigned_at", TS)])

# A minimal re-implementation of the staging / dedup / per-unit logic of docs/contract.md,
# used only to measure what the generator produced.
STAGING = """
create or replace view stg as
select event_id,
       nullif(trim(case when json_valid(properties)
                        then json_extract_string(properties, '$.experiment_id') end), '') as experiment_id,
       nullif(trim(unit_id), '') as unit_id,
       nullif(trim(case when json_valid(properties)
                        then json_extract_string(properties, '$.variation_id') end), '') as variation_id,
       event_ts as exposed_at
from ev where event_name = 'experiment_viewed';
create or replace view dedup as
select experiment_id, unit_id, variation_id, min(exposed_at) as exposed_at, count(*) as n
from stg
where experiment_id is not null and unit_id is not null and variation_id is not null and exposed_at is not null
group by all;
create or replace view per_unit as
select a.experiment_id, a.unit_id, a.variation_id, a.assigned_at,
       count(d.variation_id) as n_var,
       bool_or(d.variation_id <> a.variation_id) as any_wrong,
       min(d.exposed_at) as first_at
from asg a left join dedup d using (experiment_id, unit_id)
group by all;
"""


def _con(ds: Dataset) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("ev", ds.events)
    con.register("asg", ds.assignments)
    con.execute(STAGING)
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    return con.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return generate(200_000, seed=7)


@pytest.fixture(scope="module")
def con(ds: Dataset) -> duckdb.DuckDBPyConnection:
    return _con(ds)


def test_same_seed_same_output() -> None:
    a, b = generate(20_000, seed=3), generate(20_000, seed=3)
    assert a.events.equals(b.events) and a.assignments.equals(b.assignments)
    c = generate(20_000, seed=4)
    assert not a.events.equals(c.events)


def test_schema_and_size(ds: Dataset) -> None:
    assert ds.events.schema.equals(EVENTS_SCHEMA)
    assert ds.assignments.schema.equals(ASSIGNMENTS_SCHEMA)
    assert ds.events.num_rows == 200_000
    assert 200_000 / 12 < ds.assignments.num_rows < 200_000 / 5


def test_assignments_unique_and_clean(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute("""
        select count(*), count(distinct (experiment_id, unit_id)),
               count(*) filter (where experiment_id is null or unit_id is null
                                or variation_id is null or assigned_at is null),
               count(*) filter (where trim(experiment_id) = '' or trim(unit_id) = ''
                                or trim(variation_id) = '' or unit_id <> trim(unit_id)),
               min(assigned_at), max(assigned_at), count(distinct experiment_id)
        from asg""").fetchone()
    n, n_distinct, n_null, n_blank, lo, hi, n_exp = row
    assert n == n_distinct and n_null == 0 and n_blank == 0
    assert lo >= dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert hi < dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc)
    assert n_exp == 20
    per_exp = con.execute("select experiment_id, count(distinct variation_id) v from asg group by 1").fetchall()
    assert all(2 <= v <= 4 for _, v in per_exp)


def test_exposure_share(con: duckdb.DuckDBPyConnection) -> None:
    share = _one(con, "select avg((event_name = 'experiment_viewed')::int) from ev")
    assert share == pytest.approx(0.15, abs=0.01)
    null_ids = _one(con, "select avg((event_id is null)::int) from ev")
    assert 0.002 < null_ids < 0.01


def test_defect_rates(ds: Dataset, con: duckdb.DuckDBPyConnection) -> None:
    d = DefectRates()
    n_assign = ds.assignments.num_rows
    grace, window = "interval 5 minute", "interval 30 day"
    exposed = _one(con, "select count(*) from per_unit where n_var > 0")
    single_right = "n_var = 1 and not any_wrong"
    observed = {
        "never_exposed": _one(con, "select count(*) from per_unit where n_var = 0") / n_assign,
        "multi_variation": _one(con, "select count(*) from per_unit where n_var > 1") / exposed,
        "mismatch": _one(con, "select count(*) from per_unit where n_var = 1 and any_wrong") / exposed,
        "pre_assignment_within_grace": _one(con, f"""select count(*) from per_unit where {single_right}
            and first_at >= assigned_at - {grace} and first_at < assigned_at""") / exposed,
        "pre_assignment_beyond_grace": _one(con, f"""select count(*) from per_unit where {single_right}
            and first_at < assigned_at - {grace}""") / exposed,
        "late_beyond_window": _one(con, f"""select count(*) from per_unit where {single_right}
            and first_at > assigned_at + {window}""") / exposed,
        "duplicate_exposure": _one(con, "select avg((n > 1)::int) from dedup"),
        "unassigned_exposure": _one(con, """select count(*) from (select distinct experiment_id, unit_id
            from dedup) anti join asg using (experiment_id, unit_id)""") / n_assign,
        "malformed_exposure": _one(con, """select avg((experiment_id is null or unit_id is null
            or variation_id is null or exposed_at is null)::int) from stg"""),
    }
    for name, value in observed.items():
        expected = getattr(d, name)
        assert value == pytest.approx(expected, rel=0.25, abs=0.002), name


def test_every_defect_kind_present_at_small_size() -> None:
    con = _con(generate(20_000, seed=11))
    checks = {
        "never_exposed": "select count(*) from per_unit where n_var = 0",
        "multi_variation": "select count(*) from per_unit where n_var > 1",
        "mismatch": "select count(*) from per_unit where n_var = 1 and any_wrong",
        "pre_within_grace": """select count(*) from per_unit where not any_wrong
            and first_at >= assigned_at - interval 5 minute and first_at < assigned_at""",
        "pre_beyond_grace": "select count(*) from per_unit where first_at < assigned_at - interval 5 minute",
        "late": "select count(*) from per_unit where n_var = 1 and first_at > assigned_at + interval 30 day",
        "on_window_end": "select count(*) from per_unit where first_at = assigned_at + interval 30 day",
        "duplicate": "select count(*) from dedup where n > 1",
        "exact_duplicate_row": """select count(*) from (select event_id, exposed_at from stg
            where event_id is not null group by all having count(*) > 1)""",
        "unassigned": "select count(*) from dedup anti join asg using (experiment_id, unit_id)",
        "missing_experiment_id": "select count(*) from stg where experiment_id is null",
        "missing_unit_id": "select count(*) from stg where unit_id is null",
        "missing_variation_id": "select count(*) from stg where variation_id is null",
        "missing_timestamp": "select count(*) from stg where exposed_at is null",
        "invalid_json": "select count(*) from ev where event_name = 'experiment_viewed' and not json_valid(properties)",
        "all_space_experiment_id": """select count(*) from ev where event_name = 'experiment_viewed'
            and json_valid(properties) and json_extract_string(properties, '$.experiment_id') = '   '""",
        "empty_unit_id": "select count(*) from ev where event_name = 'experiment_viewed' and unit_id = ''",
        "padded_ids": """select count(*) from ev where event_name = 'experiment_viewed'
            and json_valid(properties) and json_extract_string(properties, '$.experiment_id') like ' %'""",
        "padded_unit_id": "select count(*) from ev where unit_id like ' u_% '",
        "near_miss_event_name": "select count(*) from ev where lower(event_name) = 'experiment_viewed' "
                                "and event_name <> 'experiment_viewed'",
        "null_event_id": "select count(*) from ev where event_id is null",
    }
    missing = [name for name, sql in checks.items() if _one(con, sql) == 0]
    assert not missing


def test_rows_are_shuffled(ds: Dataset) -> None:
    names = ds.events.column("event_name").to_pylist()
    first_exposure = names.index("experiment_viewed")
    assert first_exposure < 100
    ts = ds.events.column("event_ts").drop_null().to_pylist()
    assert ts != sorted(ts)


def test_custom_rates_and_validation() -> None:
    ds = generate(20_000, seed=1, defects=DefectRates(**{k: 0.0 for k in DefectRates.__dataclass_fields__}))
    con = _con(ds)
    assert _one(con, "select count(*) from stg where experiment_id is null or unit_id is null "
                     "or variation_id is null or exposed_at is null") == 0
    assert _one(con, "select count(*) from per_unit where n_var <> 1 or any_wrong") == 0
    assert _one(con, "select count(*) from dedup where n > 1") == 0
    with pytest.raises(ValueError):
        DefectRates(mismatch=1.5)
    with pytest.raises(ValueError):
        generate(0)


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_write_dataset_round_trip(fmt: str, tmp_path) -> None:
    ds = generate(20_000, seed=2)
    events_path, assignments_path = write_dataset(ds, tmp_path / "out", fmt)
    assert events_path.name == f"events.{fmt}" and assignments_path.name == f"assignments.{fmt}"
    reader = {"parquet": "read_parquet('{}')", "csv": "read_csv('{}', allow_quoted_nulls = false)",
              "jsonl": "read_json('{}', format = 'newline_delimited')"}[fmt]
    con = _con(ds)
    summary = """select count(*), count(event_id), count(unit_id), count(event_ts), count(properties),
                        count(*) filter (where event_name = 'experiment_viewed'), min(event_ts), max(event_ts)
                 from {}"""
    got = con.execute(summary.format(reader.format(events_path))).fetchone()
    assert got == con.execute(summary.format("ev")).fetchone()
    asg = "select count(*), count(distinct (experiment_id, unit_id)), min(assigned_at), max(assigned_at) from {}"
    assert con.execute(asg.format(reader.format(assignments_path))).fetchone() == con.execute(asg.format("asg")).fetchone()
    with pytest.raises(ValueError):
        write_dataset(ds, tmp_path, "xml")
