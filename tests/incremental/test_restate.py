"""The by-variation model restated from its previous output and the validation rows that changed
(models/restate.py, how an incremental run into an output database updates it).

For any validation rows before, any of them removed and any rows added, the restated model
equals the model run on the rows after: every count, rate and flag, and the cohorts that
emptied gone. And a model that is not additive is refused, not restated into other numbers.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp, parse_one

from expguard.core.constants import FCT_DAILY_BY_VARIATION, INT_VALIDATION, STG_EXPOSURES
from expguard.models import restate
from expguard.models.compile import rename_inputs
from expguard.models.registry import load_models
from expguard.sql.render import bind_variables

VARIABLES = {"exp_alert_horizon_days": 1, "exp_exposure_max_days_after_assignment": 3}
COLUMNS = ("experiment_id", "unit_id", "assigned_variation_id", "assigned_at", "assignment_date", "is_exposed",
           "is_valid_exposure", "exposure_status", "has_variation_mismatch", "exposure_event_count",
           "exposed_variation_count", "first_valid_exposure_at")
TYPES = ("varchar", "varchar", "varchar", "timestamp", "date", "boolean", "boolean", "varchar", "boolean", "bigint",
         "bigint", "timestamp")
BASE = dt.datetime(2026, 3, 1)


def model() -> exp.Query:
    return bind_variables(load_models()[FCT_DAILY_BY_VARIATION].parse(), VARIABLES)


def restated(previous: str, added: str, removed: str) -> exp.Query:
    return restate.restated(model(), INT_VALIDATION, load_models()[INT_VALIDATION].not_null, previous, added, removed)


row = st.builds(
    lambda experiment, day, variation, minutes, exposed, valid, status, mismatch, events, variations, after: (
        experiment, f"u{minutes}", variation, BASE + dt.timedelta(days=day, minutes=minutes),
        (BASE + dt.timedelta(days=day)).date(), exposed, valid, status, mismatch, events, variations,
        None if after is None else BASE + dt.timedelta(days=day, hours=after)),
    st.sampled_from(["e1", "e2"]), st.integers(0, 3), st.sampled_from(["a", "b"]), st.integers(0, 600),
    st.booleans(), st.booleans(),
    st.sampled_from(["valid", "no_exposure", "variation_mismatch", "multi_variation_exposure",
                     "pre_assignment_exposure", "exposure_outside_window"]),
    st.booleans(), st.integers(0, 4), st.integers(0, 2), st.none() | st.integers(0, 60))


def table(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple]) -> None:
    con.execute(f"create table {name} ({', '.join(f'{c} {t}' for c, t in zip(COLUMNS, TYPES))})")
    if rows:
        con.executemany(f"insert into {name} values ({', '.join('?' * len(COLUMNS))})", rows)


def rows_of(con: duckdb.DuckDBPyConnection, query: exp.Query, tables: dict[str, str]) -> list[tuple]:
    return sorted(con.execute(rename_inputs(query, tables, "duckdb").sql("duckdb")).fetchall(), key=repr)


@settings(max_examples=60, deadline=None)
@given(before=st.lists(row, max_size=25), removed=st.lists(st.integers(0, 24), max_size=10),
       added=st.lists(row, max_size=15), newest=st.integers(0, 200))
def test_restated_counts_equal_the_model_on_the_rows_after(before, removed, added, newest):
    gone = {i for i in removed if i < len(before)}
    after = [r for i, r in enumerate(before) if i not in gone] + added
    con = duckdb.connect()
    table(con, "v_before", before)
    table(con, "v_removed", [before[i] for i in sorted(gone)])
    table(con, "v_added", added)
    table(con, "v_after", after)
    con.execute("create table stg (exposed_at timestamp)")
    con.execute("insert into stg values (?)", [BASE + dt.timedelta(hours=newest)])
    con.execute("create table previous as " + rename_inputs(model(), {INT_VALIDATION: "v_before", STG_EXPOSURES: "stg"},
                                                            "duckdb").sql("duckdb"))
    expected = rows_of(con, model(), {INT_VALIDATION: "v_after", STG_EXPOSURES: "stg"})
    got = rows_of(con, restated("previous", "v_added", "v_removed"), {STG_EXPOSURES: "stg"})
    assert got == expected
    # the same column types as the model's, not only the same values
    full = con.execute(rename_inputs(model(), {INT_VALIDATION: "v_after", STG_EXPOSURES: "stg"}, "duckdb").sql("duckdb"))
    again = con.execute(rename_inputs(restated("previous", "v_added", "v_removed"), {STG_EXPOSURES: "stg"},
                                      "duckdb").sql("duckdb"))
    assert again.description == full.description


def test_the_restated_model_reads_the_previous_output_and_the_changed_rows_only():
    tree = restated("previous", "v_added", "v_removed")
    tables = {t.name for t in tree.find_all(exp.Table)} - {cte.alias for cte in tree.ctes}
    assert tables == {"previous", "v_added", "v_removed", STG_EXPOSURES}


@pytest.mark.parametrize("change, refusal", [
    ("sum(exposure_event_count) as exposure_events", None),
    ("sum(cast(exposure_event_count as double)) as exposure_events", "not additive"),
    ("count(distinct unit_id) as exposure_events", "not additive"),
    ("max(exposure_event_count) as exposure_events", "not additive"),
])
def test_an_aggregate_that_does_not_add_up_is_refused(change, refusal):
    sql = load_models()[FCT_DAILY_BY_VARIATION].sql.replace("sum(exposure_event_count) as exposure_events", change)
    tree = bind_variables(parse_one(sql, read="duckdb"), VARIABLES)
    not_null = load_models()[INT_VALIDATION].not_null
    if refusal is None:
        restate.restated(tree, INT_VALIDATION, not_null, "p", "a", "r")
    else:
        with pytest.raises(ValueError, match=refusal):
            restate.restated(tree, INT_VALIDATION, not_null, "p", "a", "r")


def test_a_sum_of_a_column_that_may_be_null_is_refused():
    # sum() over a group of nulls is null, and a null does not subtract: declared never null only
    not_null = set(load_models()[INT_VALIDATION].not_null) - {"exposure_event_count"}
    with pytest.raises(ValueError, match="exposure_events .* not additive"):
        restate.restated(model(), INT_VALIDATION, not_null, "p", "a", "r")


@pytest.mark.parametrize("old, new, refusal", [
    ("from int_experiment_exposure_validation\n", "from int_experiment_exposure_validation where is_exposed\n",
     "not a plain GROUP BY"),
    ("count(*) as assigned_units", "count(unit_id) as assigned_units", "no count"),
    ("cast(c.exposure_events as bigint) as exposure_events,", "", "does not pass on exposure_events"),
    ("cast(c.exposure_events as bigint) as exposure_events,", "cast(c.exposure_events as double) as exposure_events,",
     "does not pass on exposure_events"),
    ("cast(c.exposure_events as bigint) as exposure_events,", "cast(t.data_through as bigint) as exposure_events,",
     "does not pass on exposure_events"),
])
def test_a_model_not_of_the_restated_form_is_refused(old, new, refusal):
    sql = load_models()[FCT_DAILY_BY_VARIATION].sql
    assert old in sql
    tree = bind_variables(parse_one(sql.replace(old, new), read="duckdb"), VARIABLES)
    with pytest.raises(ValueError, match=refusal):
        restate.restated(tree, INT_VALIDATION, load_models()[INT_VALIDATION].not_null, "p", "a", "r")
