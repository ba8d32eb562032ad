"""Shared test helpers: write tiny hand-made tables, run expguard, read the models back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

import expguard
from expguard.core.constants import CORE_MODELS

EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_name", pa.string()),
        ("unit_id", pa.string()),
        ("event_ts", pa.timestamp("us")),
        ("properties", pa.string()),
    ]
)
ASSIGNMENT_SCHEMA = pa.schema(
    [
        ("experiment_id", pa.string()),
        ("unit_id", pa.string()),
        ("variation_id", pa.string()),
        ("assigned_at", pa.timestamp("us")),
    ]
)

T0 = dt.datetime(2026, 3, 1, 12, 0, 0)


def ts(minutes: float = 0, days: float = 0, micros: int = 0, base: dt.datetime = T0) -> dt.datetime:
    """A timestamp relative to T0 (2026-03-01 12:00 UTC)."""
    return base + dt.timedelta(minutes=minutes, days=days, microseconds=micros)


def props(experiment_id: Any = "exp", variation_id: Any = "A", **extra: Any) -> str:
    """JSON properties text; pass ``None`` to write a JSON null, ``...`` to leave a key out."""
    data = {}
    if experiment_id is not ...:
        data["experiment_id"] = experiment_id
    if variation_id is not ...:
        data["variation_id"] = variation_id
    data.update(extra)
    return json.dumps(data)


def exposure(unit_id: str | None = "u1", at: dt.datetime | None = T0, variation_id: Any = "A",
             experiment_id: Any = "exp", event_id: str | None = None, event_name: str = "experiment_viewed",
             properties: str | None = None) -> dict[str, Any]:
    """One exposure event row."""
    return {
        "event_id": event_id,
        "event_name": event_name,
        "unit_id": unit_id,
        "event_ts": at,
        "properties": properties if properties is not None else props(experiment_id, variation_id),
    }


def assignment(unit_id: str = "u1", variation_id: str = "A", at: dt.datetime = T0,
               experiment_id: str = "exp") -> dict[str, Any]:
    """One assignment row."""
    return {"experiment_id": experiment_id, "unit_id": unit_id, "variation_id": variation_id, "assigned_at": at}


def write_rows(path: Path, rows: Iterable[dict[str, Any]], schema: pa.Schema) -> Path:
    table = pa.Table.from_pylist(list(rows), schema=schema)
    pq.write_table(table, path)
    return path


def read_model(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def run_models(tmp_path: Path, events: list[dict], assignments: list[dict], engine: str = "duckdb",
               models: Iterable[str] = CORE_MODELS, **variables: Any) -> dict[str, list[dict[str, Any]]]:
    """Run every model on the given rows; return the rows of ``models`` (in file order)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    events_path = write_rows(tmp_path / "events.parquet", events, EVENT_SCHEMA)
    assignments_path = write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)
    out = tmp_path / "out"
    expguard.run(str(events_path), str(assignments_path), output_dir=str(out), vars=variables,
                 engine={"name": engine})
    return {name: read_model(out / f"{name}.parquet") for name in models}


def by_key(rows: list[dict[str, Any]], *keys: str) -> dict[tuple, dict[str, Any]]:
    """Index rows by the given key columns."""
    return {tuple(row[k] for k in keys): row for row in rows}


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by every column, nulls last, for order-free comparison."""
    def key(row: dict[str, Any]) -> tuple:
        return tuple((value is None, str(type(value)), value if value is not None else 0) for value in row.values())
    return sorted(rows, key=key)
