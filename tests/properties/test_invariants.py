"""Property tests of the SPEC invariants, on small random inputs where ties are the rule
(the strategies: tests/strategies.py).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import expguard
from expguard.apps.demo.generator import generate, write_dataset
from expguard.core.constants import CORE_MODELS, EXPOSURE_STATUSES, FCT_DAILY, INT_VALIDATION, REJECT_REASONS, STG_EXPOSURES
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, read_model, run_models, write_rows
from strategies import assignment_rows, event_rows
from reference import DAILY_COLUMNS, DEDUPED_COLUMNS, STG_COLUMNS, VALIDATION_COLUMNS, build_models

GRACE = "exp_allow_pre_assignment_exposure_grace_minutes"
MAX_DAYS = "exp_exposure_max_days_after_assignment"
SPEC_COLUMNS = dict(zip(CORE_MODELS, (STG_COLUMNS, DEDUPED_COLUMNS, VALIDATION_COLUMNS, DAILY_COLUMNS)))

# Each example runs the whole pipeline (0.1-0.4 s), so the example counts are kept small; the
# equality with the reference implies the single-run invariants, so those get fewer examples.
# A profile with fewer examples caps them (``--hypothesis-profile=fast``, see tests/conftest.py).


def examples(count: int) -> int:
    return min(count, settings.default.max_examples)


TWO_RUNS = settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=examples(12), deadline=None, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(max_examples=examples(30), deadline=None, suppress_health_check=[HealthCheck.too_slow])

variable_sets = st.fixed_dictionaries({GRACE: st.sampled_from([0, 5, 60]), MAX_DAYS: st.sampled_from([0, 1, 30])})
events_lists = st.lists(event_rows(), max_size=25)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _key(value: Any) -> tuple:
    return (value is None, type(value).__name__, value if value is not None else 0)


def canonical(models: dict[str, list[dict]]) -> dict[str, list[tuple]]:
    """Each model's rows as sorted tuples, so that row order does not matter."""
    return {
        name: sorted((tuple(row.values()) for row in rows), key=lambda row: tuple(_key(v) for v in row))
        for name, rows in models.items()
    }


def run_files(directory: Path, events_glob: str, assignments_path: Path, **variables: Any) -> dict[str, list[dict]]:
    out = directory / "out"
    expguard.run(events_glob, str(assignments_path), output_dir=str(out), vars=variables)
    return {name: read_model(out / f"{name}.parquet") for name in CORE_MODELS}


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-12)
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------


@TWO_RUNS
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets, data=st.data())
def test_output_unchanged_when_event_rows_are_shuffled(events, assignments, variables, data):
    shuffled = data.draw(st.permutations(events))
    shuffled_assignments = data.draw(st.permutations(assignments))
    with tempfile.TemporaryDirectory() as tmp:
        first = run_models(Path(tmp) / "a", events, assignments, **variables)
        second = run_models(Path(tmp) / "b", shuffled, shuffled_assignments, **variables)
    assert canonical(first) == canonical(second)


@TWO_RUNS
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets, data=st.data())
def test_output_unchanged_when_events_are_split_across_parquet_files(events, assignments, variables, data):
    n_files = data.draw(st.integers(2, 4))
    part_of = data.draw(st.lists(st.integers(0, n_files - 1), min_size=len(events), max_size=len(events)))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        whole = run_models(tmp / "whole", events, assignments, **variables)
        parts = tmp / "parts"
        parts.mkdir()
        for i in range(n_files):
            write_rows(parts / f"part-{i:05d}.parquet", [e for e, p in zip(events, part_of) if p == i], EVENT_SCHEMA)
        assignments_path = write_rows(tmp / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
        split = run_files(tmp, str(parts / "part-*.parquet"), assignments_path, **variables)
    assert canonical(whole) == canonical(split)


@FAST
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets)
def test_exactly_one_validation_row_per_assignment(events, assignments, variables):
    with tempfile.TemporaryDirectory() as tmp:
        models = run_models(Path(tmp), events, assignments, **variables)
    validation = models[INT_VALIDATION]
    got = sorted((row["experiment_id"], row["unit_id"], row["assigned_variation_id"], row["assigned_at"]) for row in validation)
    want = sorted((a["experiment_id"], a["unit_id"], a["variation_id"], a["assigned_at"]) for a in assignments)
    assert got == want


@FAST
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets)
def test_status_counts_sum_to_assigned_units_in_every_daily_row(events, assignments, variables):
    with tempfile.TemporaryDirectory() as tmp:
        models = run_models(Path(tmp), events, assignments, **variables)
    daily = models[FCT_DAILY]
    status_columns = ["no_exposure_units", "multi_variation_exposure_units", "variation_mismatch_units",
                      "pre_assignment_exposure_units", "exposure_outside_window_units", "valid_exposed_units"]
    for row in daily:
        assert sum(row[c] for c in status_columns) == row["assigned_units"], row
        assert row["exposed_units"] == row["assigned_units"] - row["no_exposure_units"], row
        assert 0 <= row["mismatched_units"] <= row["exposed_units"], row
        assert 0 <= row["duplicate_exposure_events"] <= row["exposure_events"], row
    assert sum(row["assigned_units"] for row in daily) == len(assignments)
    keys = [(row["experiment_id"], row["date"]) for row in daily]
    assert len(keys) == len(set(keys)), "one row per (experiment_id, date)"


@FAST
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets)
def test_booleans_never_null_and_statuses_in_the_allowed_set(events, assignments, variables):
    with tempfile.TemporaryDirectory() as tmp:
        models = run_models(Path(tmp), events, assignments, **variables)
    for name, rows in models.items():
        for row in rows:
            for column, value in row.items():
                if column.startswith(("is_", "has_")):
                    assert isinstance(value, bool), (name, column, row)
                if column.endswith(("_count", "_units", "_events")):
                    assert isinstance(value, int) and value >= 0, (name, column, row)
    for row in models[INT_VALIDATION]:
        assert row["exposure_status"] in EXPOSURE_STATUSES
        assert row["is_valid_exposure"] == (row["exposure_status"] == "valid")
        assert row["is_valid_exposure"] == (
            row["exposed_variation_count"] == 1 and not row["has_variation_mismatch"]
            and row["first_valid_exposure_at"] is not None
        )
    for row in models[STG_EXPOSURES]:
        assert row["reject_reason"] is None or row["reject_reason"] in REJECT_REASONS


@TWO_RUNS
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets)
def test_rerun_into_the_same_output_dir_is_idempotent(events, assignments, variables):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        events_path = write_rows(tmp / "events.parquet", events, EVENT_SCHEMA)
        assignments_path = write_rows(tmp / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
        out = tmp / "out"
        expguard.run(str(events_path), str(assignments_path), output_dir=str(out), vars=variables)
        listing = sorted(p.name for p in out.iterdir())
        first = canonical({name: read_model(out / f"{name}.parquet") for name in CORE_MODELS})
        expguard.run(str(events_path), str(assignments_path), output_dir=str(out), vars=variables)
        # nothing left behind (no staging folder, no extra file), and the same rows
        assert sorted(p.name for p in out.iterdir()) == listing
        second = canonical({name: read_model(out / f"{name}.parquet") for name in CORE_MODELS})
    assert {f"{name}.parquet" for name in CORE_MODELS} <= set(listing)
    assert first == second


@THOROUGH
@given(events=events_lists, assignments=assignment_rows(), variables=variable_sets)
def test_output_equals_the_reference_implementation(events, assignments, variables):
    with tempfile.TemporaryDirectory() as tmp:
        actual = run_models(Path(tmp), events, assignments, **variables)
    expected = build_models(events, assignments, **variables)
    for name in CORE_MODELS:
        columns = SPEC_COLUMNS[name]
        got = sorted((tuple(row[c] for c in columns) for row in actual[name]), key=lambda r: tuple(_key(v) for v in r))
        want = sorted((tuple(row[c] for c in columns) for row in expected[name]), key=lambda r: tuple(_key(v) for v in r))
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            assert all(same(a, b) for a, b in zip(g, w)), (name, dict(zip(columns, g)), dict(zip(columns, w)))
