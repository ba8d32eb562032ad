"""The models: found by walking the layer folders of ``models/``, parsed, ordered by dependency.

Each layer folder (``staging/``, ``intermediate/``, ``marts/``) holds one file per model, named as
the model: ``NAME.sql`` (one SELECT) or ``NAME.py`` (a model computed in Python). SQL and Python
models are found the same way and join one dependency order.

A SQL model's dependencies are the tables its SQL reads (CTE names excluded), never declared
twice: reorder the files or add a model and the order follows from the SQL itself.

A Python model (:mod:`expguard.models.python`) registers itself when its file is imported;
:func:`load_models` puts it in one topological order with the SQL models.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import cache
from graphlib import CycleError, TopologicalSorter
from importlib import resources

import sqlglot
from sqlglot import exp

from ..core.constants import INPUTS
from .python import REGISTERED, PythonModel

SOURCE_DIALECT = "duckdb"

#: The layer folders, in the order a run passes through them.
LAYERS = ("staging", "intermediate", "marts")

#: The folder of the merges: ``merges/NAME.sql`` combines model NAME's rows of two runs into the
#: rows the model gives on both runs' inputs (not a model: incremental runs read it).
MERGES = "merges"


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
    #: The SELECT as parsed when the models were loaded; :meth:`parse` hands out copies.
    tree: "exp.Expression | None" = field(default=None, compare=False, repr=False)

    @property
    def is_python(self) -> bool:
        return self.python is not None

    def parse(self) -> exp.Expression:
        """A fresh parsed tree of the model's single SELECT (callers may transform it)."""
        if self.python is not None:
            raise ValueError(f"model {self.name} is computed in Python; it has no SQL")
        # a copy of the tree parsed at load time: a fifth of the cost of parsing the text again
        return self.tree.copy() if self.tree is not None else sqlglot.parse_one(self.sql, read=SOURCE_DIALECT)


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


def _model_files() -> list[tuple[str, str, object]]:
    """``(layer, file name, resource)`` of every model file, layer by layer, by name."""
    root = resources.files(__package__)
    files = []
    for layer in LAYERS:
        folder = root / layer
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if item.name.endswith(".sql") or (item.name.endswith(".py") and not item.name.startswith("_")):
                files.append((layer, item.name, item))
    return files


def merge_files() -> list[tuple[str, object]]:
    """``(file name, resource)`` of every merge file, by name."""
    folder = resources.files(__package__) / MERGES
    return [(item.name, item) for item in sorted(folder.iterdir(), key=lambda p: p.name) if item.name.endswith(".sql")]


@cache
def _merges() -> dict[str, exp.Query]:
    found = {}
    for file_name, item in merge_files():
        statements = sqlglot.parse(item.read_text(encoding="utf-8"), read=SOURCE_DIALECT)
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):  # pragma: no cover - packaging
            raise RuntimeError(f"merge {file_name} must be exactly one SELECT statement")
        found[file_name.removesuffix(".sql")] = statements[0]
    return found


def merge_query(model: str) -> exp.Query:
    """A fresh parsed tree of model ``model``'s merge (``merges/<model>.sql``): it reads the model's
    name, a relation holding the model's rows of two runs, and gives the model's rows on both."""
    return _merges()[model].copy()


@cache
def python_models() -> dict[str, PythonModel]:
    """Every Python model: the ``NAME.py`` files of the layer folders, imported (which registers them)."""
    for layer, file_name, _ in _model_files():
        if file_name.endswith(".py"):
            name = file_name.removesuffix(".py")
            importlib.import_module(f"{__package__}.{layer}.{name}")
            model = REGISTERED.get(name)
            if model is None:  # pragma: no cover - a packaging mistake
                raise RuntimeError(f"models/{layer}/{file_name} registers no Python model named {name}")
            REGISTERED[name] = PythonModel(model.name, model.depends_on, model.function, model.columns, layer,
                                           model.not_null)
    return dict(REGISTERED)


@cache
def load_models() -> dict[str, Model]:
    """All models, SQL and Python, in dependency order (each model after what it reads)."""
    found: dict[str, Model] = {}
    for layer, file_name, item in _model_files():
        if not file_name.endswith(".sql"):
            continue
        name = file_name.removesuffix(".sql")
        sql = item.read_text(encoding="utf-8")
        statements = sqlglot.parse(sql, read=SOURCE_DIALECT)
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise RuntimeError(f"model {name} must be exactly one SELECT statement")
        deps = tuple(sorted(referenced_tables(statements[0])))
        found[name] = Model(name=name, sql=sql, layer=layer, depends_on=deps, not_null=declared_not_null(sql),
                            tree=statements[0])
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
