"""Helpers of the monitoring tests: run every model (SQL and Python) on hand-made rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

import expguard
from expguard.project import load_models
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, write_rows

def run_all(tmp_path: Path, events: list[dict], assignments: list[dict], engine: str = "duckdb",
            **variables: Any) -> dict[str, list[dict[str, Any]]]:
    """Run every model (SQL and Python) on hand-made rows; return each model's rows."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    events_path = write_rows(tmp_path / "events.parquet", events, EVENT_SCHEMA)
    assignments_path = write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
    out = tmp_path / "out"
    expguard.run(str(events_path), str(assignments_path), output_dir=str(out), vars=variables,
                 engine={"name": engine})
    return {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in load_models()}
