"""fct_experiment_exposure_quality_daily_by_variation: the daily model's assigned-unit columns per
assigned variation, plus the horizon columns the alerts use; and int_experiment_exposure_rejections_daily."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

import expguard
from monitoring_helpers import run_all
from expguard.core.constants import FCT_DAILY, FCT_DAILY_BY_VARIATION, INT_REJECTIONS_DAILY
from expguard.apps.demo.generator import generate, write_dataset
from helpers import T0, assignment, by_key, exposure, props, ts

D1 = T0.date()
COUNTS = [
    "assigned_units", "exposed_units", "valid_exposed_units", "no_exposure_units", "multi_variation_exposure_units",
    "variation_mismatch_units", "pre_assignment_exposure_units", "exposure_outside_window_units", "mismatched_units",
    "exposure_events", "duplicate_exposure_events",
]
RATES = ["exposure_rate", "mismatch_rate", "multi_variation_rate", "no_exposure_rate", "pre_assignment_exposure_rate",
         "exposure_outside_window_rate"]


def test_grain_is_experiment_date_and_assigned_variation(tmp_path, engine):
    assignments = [assignment("u1", "A"), assignment("u2", "A"), assignment("u3", "B"),
                   assignment("u4", "B", at=ts(days=1))]
    events = [exposure("u1", ts(1), "A"), exposure("u1", ts(2), "A"), exposure("u3", ts(1), "A")]
    rows = run_all(tmp_path, events, assignments, engine)[FCT_DAILY_BY_VARIATION]
    got = by_key(rows, "experiment_id", "date", "assigned_variation_id")
    assert set(got) == {("exp", D1, "A"), ("exp", D1, "B"), ("exp", D1 + dt.timedelta(days=1), "B")}
    a, b = got[("exp", D1, "A")], got[("exp", D1, "B")]
    assert (a["assigned_units"], a["exposed_units"], a["valid_exposed_units"], a["no_exposure_units"]) == (2, 1, 1, 1)
    assert (a["exposure_events"], a["duplicate_exposure_events"]) == (2, 1)
    assert (b["assigned_units"], b["variation_mismatch_units"], b["mismatched_units"], b["mismatch_rate"]) == (1, 1, 1, 1.0)
    assert a["exposure_rate"] == 0.5


def test_summed_over_variations_the_counts_equal_the_daily_model(tmp_path):
    # A generated dataset with every defect; the daily rows of assigned cohorts must match.
    events, assignments = write_dataset(generate(30_000, seed=5, n_experiments=4, days=10), tmp_path / "data")
    expguard.run(str(events), str(assignments), output_dir=str(tmp_path / "out"))
    by_variation = pq.read_table(tmp_path / "out" / f"{FCT_DAILY_BY_VARIATION}.parquet").to_pylist()
    daily = by_key(pq.read_table(tmp_path / "out" / f"{FCT_DAILY}.parquet").to_pylist(), "experiment_id", "date")
    sums: dict[tuple, dict[str, int]] = {}
    for row in by_variation:
        key = (row["experiment_id"], row["date"])
        total = sums.setdefault(key, {c: 0 for c in COUNTS})
        for column in COUNTS:
            total[column] += row[column]
        assert row["is_window_complete"] == daily[key]["is_window_complete"]
    assert set(sums) == {k for k, row in daily.items() if row["assigned_units"] > 0}
    for key, total in sums.items():
        assert total == {c: daily[key][c] for c in COUNTS}, key


def test_columns_and_types_follow_the_daily_model(tmp_path):
    run_all(tmp_path, [exposure("u1", ts(1))], [assignment("u1")])
    schema = pq.read_schema(tmp_path / "out" / f"{FCT_DAILY_BY_VARIATION}.parquet")
    daily = pq.read_schema(tmp_path / "out" / f"{FCT_DAILY}.parquet")
    shared = [f for f in daily if f.name != "unassigned_exposed_units"]
    assert [f.name for f in schema][:3] == ["experiment_id", "date", "assigned_variation_id"]
    for f in shared:
        assert schema.field(f.name).type == f.type, f.name
    assert schema.field("valid_exposed_within_horizon_units").type == pa.int64()
    assert schema.field("exposure_rate_within_horizon").type == pa.float64()
    assert schema.field("is_horizon_complete").type == pa.bool_()
    assert "unassigned_exposed_units" not in schema.names


def test_horizon_counts_valid_exposures_up_to_assignment_plus_horizon_inclusive(tmp_path, engine):
    assignments = [assignment(f"u{i}") for i in range(4)]
    events = [
        exposure("u0", ts(days=1)),                      # exactly at the horizon: counted
        exposure("u1", ts(days=1, micros=1)),            # one microsecond later: valid, not within
        exposure("u2", ts(-3)),                          # within the grace: valid and within
        exposure("u3", ts(1), "B"),                      # a mismatch: not valid
        exposure("zz", ts(days=5)),                      # moves data_through
    ]
    row = run_all(tmp_path, events, assignments, engine)[FCT_DAILY_BY_VARIATION][0]
    assert (row["valid_exposed_units"], row["valid_exposed_within_horizon_units"]) == (3, 2)
    assert row["exposure_rate_within_horizon"] == 0.5


def test_horizon_days_is_a_variable(tmp_path):
    rows = run_all(tmp_path, [exposure("u1", ts(days=2))], [assignment("u1")], exp_alert_horizon_days=2)
    assert rows[FCT_DAILY_BY_VARIATION][0]["valid_exposed_within_horizon_units"] == 1


def test_is_horizon_complete_when_date_plus_one_day_plus_horizon_reaches_data_through(tmp_path, engine):
    # Cohort 2026-03-01 with a 1-day horizon is complete once data_through >= 2026-03-03 00:00.
    midnight = dt.datetime(2026, 3, 3)
    for data_through, complete in ((midnight, True), (midnight - dt.timedelta(microseconds=1), False)):
        rows = run_all(tmp_path / str(complete), [exposure("u1", ts(1)), exposure("zz", data_through)],
                       [assignment("u1")], engine)
        assert rows[FCT_DAILY_BY_VARIATION][0]["is_horizon_complete"] is complete


def test_rejections_are_counted_per_experiment_and_event_date(tmp_path, engine):
    events = [
        exposure("u1", ts(1)),
        exposure(None, ts(2)),                                         # missing_unit_id
        exposure("u2", ts(3), variation_id=None),                      # missing_variation_id
        exposure("u3", ts(days=1)),
        exposure("u4", ts(4), properties=props(..., "A")),             # missing_experiment_id
        exposure("u5", None),                                          # missing_timestamp
    ]
    rows = run_all(tmp_path, events, [assignment("u1")], engine)[INT_REJECTIONS_DAILY]
    got = by_key(rows, "experiment_id", "exposure_date")
    assert set(got) == {("exp", D1), ("exp", D1 + dt.timedelta(days=1)), (None, D1), ("exp", None)}
    day = got[("exp", D1)]
    assert (day["exposure_events"], day["rejected_exposure_events"]) == (3, 2)
    assert (day["missing_unit_id_events"], day["missing_variation_id_events"]) == (1, 1)
    assert got[(None, D1)]["missing_experiment_id_events"] == 1
    assert got[("exp", None)]["missing_timestamp_events"] == 1
    assert got[("exp", D1 + dt.timedelta(days=1))]["rejected_exposure_events"] == 0
    # each group's newest event time, rejected events included (the health facts read it)
    assert day["last_exposure_event_at"] == ts(3)
    assert got[(None, D1)]["last_exposure_event_at"] == ts(4)
    assert got[("exp", D1 + dt.timedelta(days=1))]["last_exposure_event_at"] == ts(days=1)
    assert got[("exp", None)]["last_exposure_event_at"] is None
