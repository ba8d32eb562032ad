"""Models computed in Python: how one is declared (:func:`python_model`) and reads its inputs.

A Python model is a function ``(engine, variables) -> rows`` (a list of dicts) in a file of a
layer folder named as the model (``marts/fct_experiment_exposure_srm.py``), registered with
:func:`python_model`, which names the model, the models it reads and its output columns (name
and SQL type). :func:`expguard.models.registry.load_models` finds the file like a ``.sql`` one
and puts the model in one topological order with the SQL models; the pipeline stores its rows
with ``engine.register_rows``, so it is written like any other model and a SQL model may read it.

A function reads its inputs with :func:`read_inputs`, which hands it the declared ones (as
rows) and nothing else: the declared dependencies are the real ones. Keep the counting in SQL,
where the engine scales, and compute in Python only what SQL says badly (a p-value, a median):
the inputs are then small, and the same integer counts give the same result on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from ..engines.rows import SQL_TYPES, Columns, Rows

if TYPE_CHECKING:  # pragma: no cover
    from ..engines.base import Engine
    from ..settings.config import Variables

Build = Callable[["Engine", "Variables"], Rows]


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


REGISTERED: dict[str, PythonModel] = {}


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
        REGISTERED[name] = PythonModel(name, tuple(depends_on), function, tuple(columns), layer, tuple(not_null))
        return function

    return register


def read_inputs(engine: "Engine", name: str) -> dict[str, Rows]:
    """The rows of the models that Python model ``name`` declared it reads, by name."""
    return {dependency: engine.rows(dependency) for dependency in REGISTERED[name].depends_on}
