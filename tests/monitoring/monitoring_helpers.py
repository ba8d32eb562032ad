"""Helpers of the monitoring tests: run every model (SQL and Python) on hand-made rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expguard.models.registry import load_models
from helpers import run_models


def run_all(tmp_path: Path, events: list[dict], assignments: list[dict], engine: str = "duckdb",
            **variables: Any) -> dict[str, list[dict[str, Any]]]:
    """Run every model (SQL and Python) on hand-made rows; return each model's rows."""
    return run_models(tmp_path, events, assignments, engine, models=tuple(load_models()), **variables)
