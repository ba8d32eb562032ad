"""Incremental runs equal a full rebuild, whatever the batches (issue #16).

A random event stream and assignment table (the property tests' adversarial rows: ties, duplicate
events, malformed rows, window bounds) are cut into batches. Each batch lands as new files in the
input folders (events in any order, late events for days already processed, new assignments between
batches, now and then an earlier assignment file rewritten), and ``expguard run --incremental``
runs after each. After the last batch, every model's rows must equal those of one full run on all
the files: same rows, same values, same types, for all eleven models.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import expguard
from expguard.models.registry import load_models
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, write_rows
from strategies import assignment_rows, event_rows

MODELS = list(load_models())
AS_OF = "2026-06-01T00:00:00"


def examples(count: int) -> int:
    return min(count, settings.default.max_examples)


def table_rows(path: Path | pa.Table) -> tuple[pa.Schema, list[tuple]]:
    """A model's schema and its rows in a canonical order (row order is not part of the contract)."""
    table = pq.read_table(path) if isinstance(path, Path) else path
    rows = [tuple(row.values()) for row in table.to_pylist()]
    key = lambda row: tuple((v is None, type(v).__name__, v if v is not None else 0) for v in row)  # noqa: E731
    return table.schema.remove_metadata(), sorted(rows, key=key)


def outputs(out: Path) -> dict[str, tuple]:
    """Every model of an output folder, or of an output database (a ``.duckdb`` path)."""
    if out.suffix == ".duckdb":
        import duckdb

        with duckdb.connect(str(out), read_only=True) as con:
            return {name: table_rows(con.sql(f'select * from "{name}"').to_arrow_table()) for name in MODELS}
    return {name: table_rows(out / f"{name}.parquet") for name in MODELS}


@st.composite
def batched(draw) -> dict[str, Any]:
    """Events and assignments, each row given the batch it arrives in, and the batches at which an
    earlier assignment file is rewritten (one of its rows changed or dropped)."""
    events = draw(st.lists(event_rows(), max_size=30))
    assignments = draw(assignment_rows())
    n = draw(st.integers(2, 5))
    return {
        "n": n,
        "events": [(draw(st.integers(0, n - 1)), row) for row in events],
        "assignments": [(draw(st.integers(0, n - 1)), row) for row in assignments],
        "rewrites": draw(st.lists(st.tuples(st.integers(1, n - 1), st.sampled_from(["change", "drop"])),
                                  max_size=1)),
        "variables": draw(st.fixed_dictionaries({
            "exp_allow_pre_assignment_exposure_grace_minutes": st.sampled_from([0, 5]),
            "exp_exposure_max_days_after_assignment": st.sampled_from([0, 1, 30]),
        })),
    }


def replay(case: dict[str, Any], root: Path, engine: str = "duckdb", database: bool = False) -> None:
    """``database``: the outputs go to a DuckDB database alone (whose tables an incremental run
    updates in place), else to a Parquet folder."""
    events_dir, assignments_dir = root / "events", root / "assignments"
    events_dir.mkdir()
    assignments_dir.mkdir()
    out, full = (root / "out.duckdb", root / "full.duckdb") if database else (root / "out", root / "full")
    target = (lambda path: {"database": str(path)}) if database else (lambda path: {"output_dir": str(path)})
    variables = dict(case["variables"], exp_health_as_of=AS_OF)
    rewrites = dict(case["rewrites"])
    modes = []
    for batch in range(case["n"]):
        rows = [row for at, row in case["events"] if at == batch]
        write_rows(events_dir / f"batch-{batch:02d}.parquet", rows, EVENT_SCHEMA)
        rows = [row for at, row in case["assignments"] if at == batch]
        write_rows(assignments_dir / f"batch-{batch:02d}.parquet", rows, ASSIGNMENT_SCHEMA)
        rewritten = False
        if batch in rewrites:
            # an earlier assignment file is rewritten: a row of it changed, or dropped
            earlier = assignments_dir / "batch-00.parquet"
            old = pq.read_table(earlier).to_pylist()
            if old:
                if rewrites[batch] == "drop":
                    old = old[1:]
                else:
                    old[0] = dict(old[0], variation_id=old[0]["variation_id"] + "x",
                                  assigned_at=old[0]["assigned_at"] + dt.timedelta(hours=1))
                write_rows(earlier, old, ASSIGNMENT_SCHEMA)
                rewritten = True
        result = expguard.run(str(events_dir), str(assignments_dir), **target(out), vars=variables,
                              engine={"name": engine}, incremental=True)
        assert result.increment is not None
        modes.append((batch, rewritten, result.increment.mode, result.increment.reason))
    # Runs after the first, that only added files, must have been incremental (not full rebuilds).
    for batch, rewritten, mode, reason in modes[1:]:
        if not rewritten:
            assert mode == "incremental", f"batch {batch} rebuilt in full: {reason}"
    assert modes[0][2] == "full"
    expguard.run(str(events_dir), str(assignments_dir), **target(full), vars=variables,
                 engine={"name": engine})
    incremental, rebuilt = outputs(out), outputs(full)
    for name in MODELS:
        assert incremental[name][0] == rebuilt[name][0], f"{name}: schema differs from a full rebuild"
        assert incremental[name][1] == rebuilt[name][1], f"{name}: rows differ from a full rebuild ({modes})"


@given(case=batched())
@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_incremental_batches_equal_one_full_run(case):
    with tempfile.TemporaryDirectory() as root:
        replay(case, Path(root))


@given(case=batched())
@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_incremental_batches_equal_one_full_run_in_a_database(case):
    """The same with a database output alone: its big tables are updated in place, in the run's
    one transaction, and the other models built from the updated tables."""
    with tempfile.TemporaryDirectory() as root:
        replay(case, Path(root), database=True)


@pytest.mark.spark
@given(case=batched())
@settings(max_examples=examples(3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_incremental_batches_equal_one_full_run_on_spark(case):
    with tempfile.TemporaryDirectory() as root:
        replay(case, Path(root), engine="spark")
