"""Binds variables as literals in the parsed SQL and renders it for an engine's dialect.

Variables are placeholders in the model files (``:exp_exposure_event_name``). Each one is
replaced by a literal *node* in the sqlglot tree, never by string formatting, so a value can
never close a string or add a statement: sqlglot escapes it for the target dialect.

Constructs that do not mean the same on every engine are fixed here, once, with a sqlglot
transform per dialect (see :data:`DIALECT_TRANSFORMS`); there is never a second copy of a model.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from sqlglot import exp

from .errors import ConfigError
from .project import load_models

DIALECTS = ("duckdb", "spark", "databricks", "snowflake", "bigquery", "trino", "postgres")


def literal(value: Any) -> exp.Expression:
    """A sqlglot literal for a Python value.

    >>> literal("it's").sql("duckdb")
    "'it''s'"
    >>> literal(5).sql()
    '5'
    """
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise ConfigError(f"cannot bind a value of type {type(value).__name__}: {value!r}")


def bind_variables(tree: exp.Expression, variables: Mapping[str, Any]) -> exp.Expression:
    """Replace each ``:name`` placeholder with the literal of ``variables[name]``.

    Inside an interval the number is bound as text (``interval '5' minute``), the form that
    every target dialect reads.

    >>> import sqlglot
    >>> bind_variables(sqlglot.parse_one("select a - interval :g minute where e = :n", read="duckdb"),
    ...                {"g": 5, "n": "x"}).sql("duckdb")
    "SELECT a - INTERVAL '5' MINUTE WHERE e = 'x'"
    """

    def replace(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder):
            name = node.name
            if name not in variables:
                raise ConfigError(f"the SQL uses variable :{name}, which has no value")
            value = variables[name]
            if isinstance(node.parent, exp.Interval) and isinstance(value, int):
                return exp.Literal.string(str(value))
            return literal(value)
        return node

    return tree.transform(replace)


def _spark_json_valid(node: exp.Expression) -> exp.Expression:
    # Spark has no json_valid; its get_json_object already yields null for invalid JSON,
    # so the guard reduces to a null check there.
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_valid":
        return exp.Not(this=exp.Is(this=node.expressions[0], expression=exp.Null()))
    if type(node).__name__ == "IsJSON" or (hasattr(exp, "JSONValid") and isinstance(node, getattr(exp, "JSONValid"))):
        return exp.Not(this=exp.Is(this=node.this, expression=exp.Null()))
    return node


DIALECT_TRANSFORMS: dict[str, tuple[Callable[[exp.Expression], exp.Expression], ...]] = {
    "spark": (_spark_json_valid,),
    "databricks": (_spark_json_valid,),
}


def transform_for(tree: exp.Expression, dialect: str) -> exp.Expression:
    """Apply the dialect's fix-ups to a tree (a copy is returned)."""
    for fix in DIALECT_TRANSFORMS.get(dialect, ()):
        tree = tree.transform(fix)
    return tree


def to_sql(tree: exp.Expression, dialect: str, pretty: bool = False) -> str:
    if dialect not in DIALECTS:
        raise ConfigError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    return transform_for(tree, dialect).sql(dialect=dialect, pretty=pretty)


def compile_model(name: str, variables: Mapping[str, Any], dialect: str = "duckdb", pretty: bool = False) -> str:
    """The SQL of one model, variables bound, in ``dialect``.

    >>> "'experiment_viewed'" in compile_model("stg_experiment_exposures", {"exp_exposure_event_name": "experiment_viewed"})
    True
    """
    models = load_models()
    if name not in models:
        raise ConfigError(f"unknown model {name!r}; models: {', '.join(models)}")
    tree = bind_variables(models[name].parse(), variables)
    return to_sql(tree, dialect, pretty=pretty)
