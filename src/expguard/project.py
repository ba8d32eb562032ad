"""Loads the SQL models shipped in ``models/``, parses them and orders them by dependency.

A model's dependencies are the tables its SQL reads (CTE names excluded), never declared
twice: reorder the files or add a model and the order follows from the SQL itself. Models
computed in Python (:mod:`expguard.pymodels`) declare what they read, and join the same order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING
from graphlib import CycleError, TopologicalSorter
from importlib import resources

import sqlglot
from sqlglot import exp

from .constants import INPUTS

if TYPE_CHECKING:  # pragma: no cover
    from .pymodels import PythonModel

SOURCE_DIALECT = "duckdb"


@dataclass(frozen=True)
class Model:
    """One model: its name (the file name), its SQL text and what it reads.

    A Python model has no SQL (``sql`` is empty) and carries its :class:`PythonModel`.
    ``not_null`` names the columns the contract says are never null: each engine writes them
    REQUIRED in Parquet, every other column OPTIONAL, whatever the data (a SQL model declares
    them in its header, ``-- Not null: a, b, c``; a Python model with its columns).
    """

    name: str
    sql: str
    layer: str
    depends_on: tuple[str, ...]
    python: "PythonModel | None" = None
    not_null: tuple[str, ...] = ()

    @property
    def is_python(self) -> bool:
        return self.python is not None

    def parse(self) -> exp.Expression:
        """A fresh parsed tree of the model's single SELECT (callers may transform it)."""
        if self.python is not None:
            raise ValueError(f"model {self.name} is computed in Python; it has no SQL")
        return sqlglot.parse_one(self.sql, read=SOURCE_DIALECT)


def referenced_tables(tree: exp.Expression) -> set[str]:
    """Names of the tables a query reads, CTE names excluded.

    >>> sorted(referenced_tables(sqlglot.parse_one("with a as (select * from x) select * from a join y using (k)")))
    ['x', 'y']
    """
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {table.name for table in tree.find_all(exp.Table) if table.name not in ctes}


_NOT_NULL = re.compile(r"^--\s*Not null:(.*)$", re.IGNORECASE | re.MULTILINE)


def declared_not_null(sql: str) -> tuple[str, ...]:
    """The never-null columns a SQL model declares in its header (``-- Not null:`` lines).

    >>> declared_not_null("-- m\\n-- Not null: a, b\\n-- Not null: c\\nselect 1")
    ('a', 'b', 'c')
    """
    names: list[str] = []
    for line in _NOT_NULL.findall(sql):
        names += [name.strip() for name in line.split(",") if name.strip() and name.strip() != "none"]
    return tuple(names)


def not_null_columns(name: str) -> tuple[str, ...] | None:
    """The never-null columns of model ``name``; None for a relation that is not a model."""
    model = load_models().get(name)
    return None if model is None else model.not_null


@cache
def load_models() -> dict[str, Model]:
    """All models, SQL and Python, in dependency order (each model after what it reads)."""
    root = resources.files("expguard") / "models"
    found: dict[str, Model] = {}
    for layer_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not layer_dir.is_dir():
            continue
        for item in sorted(layer_dir.iterdir(), key=lambda p: p.name):
            if not item.name.endswith(".sql"):
                continue
            name = item.name.removesuffix(".sql")
            sql = item.read_text(encoding="utf-8")
            statements = sqlglot.parse(sql, read=SOURCE_DIALECT)
            if len(statements) != 1 or not isinstance(statements[0], exp.Query):
                raise RuntimeError(f"model {name} must be exactly one SELECT statement")
            deps = tuple(sorted(referenced_tables(statements[0])))
            found[name] = Model(name=name, sql=sql, layer=layer_dir.name, depends_on=deps, not_null=declared_not_null(sql))
    from .pymodels import python_models

    for name, python in python_models().items():
        if name in found:  # pragma: no cover - a packaging mistake
            raise RuntimeError(f"model {name} is defined both in SQL and in Python")
        found[name] = Model(name=name, sql="", layer=python.layer, depends_on=python.depends_on, python=python,
                            not_null=python.not_null)
    graph = {name: [d for d in model.depends_on if d not in INPUTS] for name, model in found.items()}
    for name, deps in graph.items():
        for dep in deps:
            if dep not in found:
                raise RuntimeError(f"model {name} reads {dep!r}, which is neither an input nor a model")
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - a packaging mistake, not a user error
        raise RuntimeError(f"models depend on each other in a cycle: {error.args[1]}") from None
    return {name: found[name] for name in order}


def model_names() -> tuple[str, ...]:
    return tuple(load_models())
