"""Engine registry. Engines know nothing about experiments; models know nothing about engines."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..config import EngineSettings
    from .base import Engine

# name -> "module:Class"; imported lazily so that a DuckDB-only install never imports pyspark.
ENGINES: dict[str, str] = {
    "duckdb": "expguard.engines.duckdb:DuckDBEngine",
    "spark": "expguard.engines.spark:SparkEngine",
}


def create_engine(settings: "EngineSettings") -> "Engine":
    """Instantiate the engine named in ``settings``."""
    import importlib

    module_name, _, class_name = ENGINES[settings.name].partition(":")
    engine_class = getattr(importlib.import_module(module_name), class_name)
    return engine_class(settings)
