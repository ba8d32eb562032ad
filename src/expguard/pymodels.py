"""Models computed in Python: a small registry, merged into the SQL models' dependency order.

A Python model is a function ``(engine, variables) -> rows`` (a list of dicts) registered
with :func:`python_model`, which names the model, the models it reads and its output columns
(name and SQL type). :func:`expguard.project.load_models` puts it in one topological order
with the SQL models, and the pipeline stores its rows with ``engine.register_rows``, so it is
written like any other model and a SQL model may read it.

A function reads its inputs with :func:`read_inputs`, which hands it the declared ones (as
rows) and nothing else: the declared dependencies are the real ones. Keep the counting in SQL,
where the engine scales, and compute in Python only what SQL says badly (a p-value, a median):
the inputs are then small, and the same integer counts give the same result on every engine.

Rows, not Arrow tables: on DuckDB a run then never imports pyarrow (nor pandas, which pyarrow
imports as soon as it builds an array when pandas is installed), half a second of every run's
start-up. Engines that take rows as Arrow (Spark) convert them with :func:`rows_to_arrow`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .config import Variables
    from .engines.base import Engine

# Modules whose import registers Python models, in the order their models are listed.
MODULES = ("expguard.srm", "expguard.alerts")

#: A Python model's output columns, in order: (name, SQL type), the types among ``SQL_TYPES``.
Columns = tuple[tuple[str, str], ...]
Rows = list[dict[str, Any]]
Build = Callable[["Engine", "Variables"], Rows]

#: The column types a Python model may declare, with their Arrow types (for engines that
#: take a model's rows as Arrow).
SQL_TYPES = {"varchar": "string", "bigint": "int64", "double": "float64", "boolean": "bool_", "date": "date32"}


def arrow_schema(columns: Columns) -> "pa.Schema":
    """The Arrow schema of ``columns``."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, SQL_TYPES[kind])()) for name, kind in columns])


def rows_to_arrow(rows: Rows, columns: Columns) -> "pa.Table":
    """``rows`` as an Arrow table of exactly ``columns``."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=arrow_schema(columns))


@dataclass(frozen=True)
class PythonModel:
    """One Python model: its name, the models it reads, its function and its output columns."""

    name: str
    depends_on: tuple[str, ...]
    function: Build
    columns: Columns
    layer: str = "marts"
    #: The columns that are never null (written REQUIRED in Parquet; the others OPTIONAL).
    not_null: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def build(self, engine: "Engine", variables: "Variables") -> Rows:
        """Run the function and return its rows, each with exactly the declared columns."""
        rows = self.function(engine, variables)
        names = self.names
        for row in rows:
            if list(row) != names:
                raise RuntimeError(f"Python model {self.name} returned columns {list(row)}, declared {names}")
        return rows


_REGISTRY: dict[str, PythonModel] = {}


def python_model(name: str, depends_on: tuple[str, ...], columns: Columns, layer: str = "marts",
                 not_null: tuple[str, ...] = ()) -> Callable[[Build], Build]:
    """Register the decorated function as the Python model ``name`` (``not_null``: the columns
    that are never null)."""
    unknown = sorted({kind for _, kind in columns} - set(SQL_TYPES))
    if unknown:
        raise ValueError(f"Python model {name} declares column types {unknown}; use some of {sorted(SQL_TYPES)}")
    strangers = sorted(set(not_null) - {column for column, _ in columns})
    if strangers:
        raise ValueError(f"Python model {name} declares never-null columns {strangers} that it does not have")

    def register(function: Build) -> Build:
        _REGISTRY[name] = PythonModel(name, tuple(depends_on), function, tuple(columns), layer, tuple(not_null))
        return function

    return register


@cache
def python_models() -> dict[str, PythonModel]:
    """Every registered Python model (importing the modules that define them)."""
    for module in MODULES:
        importlib.import_module(module)
    return dict(_REGISTRY)


def read_inputs(engine: "Engine", name: str) -> dict[str, Rows]:
    """The rows of the models that Python model ``name`` declared it reads, by name."""
    return {dependency: engine.rows(dependency) for dependency in python_models()[name].depends_on}
