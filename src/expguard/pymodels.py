"""Models computed in Python: a small registry, merged into the SQL models' dependency order.

A Python model is a function ``(engine, variables) -> pyarrow.Table`` registered with
:func:`python_model`, which names the model, the models it reads and its output schema.
:func:`expguard.project.load_models` puts it in one topological order with the SQL models,
and the pipeline stores its result with ``engine.register_arrow``, so it is written like any
other model and a SQL model may read it.

A function reads its inputs with :func:`read_inputs`, which hands it the declared ones and
nothing else: the declared dependencies are the real ones. Keep the counting in SQL, where the
engine scales, and compute in Python only what SQL says badly (a p-value, a median): the inputs
are then small, and the same integer counts give the same result on every engine.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Callable

import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover
    from .config import Variables
    from .engines.base import Engine

# Modules whose import registers Python models, in the order their models are listed.
MODULES = ("expguard.srm", "expguard.alerts")

Build = Callable[["Engine", "Variables"], pa.Table]


@dataclass(frozen=True)
class PythonModel:
    """One Python model: its name, the models it reads, its function and its output schema."""

    name: str
    depends_on: tuple[str, ...]
    function: Build
    schema: pa.Schema
    layer: str = "marts"

    def build(self, engine: "Engine", variables: "Variables") -> pa.Table:
        """Run the function and return its table with exactly the declared schema."""
        table = self.function(engine, variables)
        if table.column_names != self.schema.names:
            raise RuntimeError(
                f"Python model {self.name} returned columns {table.column_names}, declared {self.schema.names}"
            )
        return table.cast(self.schema)


_REGISTRY: dict[str, PythonModel] = {}


def python_model(name: str, depends_on: tuple[str, ...], schema: pa.Schema, layer: str = "marts") -> Callable[[Build], Build]:
    """Register the decorated function as the Python model ``name``."""

    def register(function: Build) -> Build:
        _REGISTRY[name] = PythonModel(name, tuple(depends_on), function, schema, layer)
        return function

    return register


@cache
def python_models() -> dict[str, PythonModel]:
    """Every registered Python model (importing the modules that define them)."""
    for module in MODULES:
        importlib.import_module(module)
    return dict(_REGISTRY)


def read_inputs(engine: "Engine", name: str) -> dict[str, pa.Table]:
    """The tables that Python model ``name`` declared it reads, by name."""
    return {dependency: engine.to_arrow(dependency) for dependency in python_models()[name].depends_on}
