"""Compiles the models: one model's SQL, or every SQL model as one script, in a dialect.

Variables are bound as literals and the SQL rendered by :mod:`expguard.sql.render`.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlglot import exp

from ..core.constants import INPUTS
from ..core.errors import ConfigError
from ..sql.render import bind_variables, to_sql
from .registry import load_models


def compile_model(name: str, variables: Mapping[str, Any], dialect: str = "duckdb", pretty: bool = False) -> str:
    """The SQL of one model, variables bound, in ``dialect``.

    >>> "'experiment_viewed'" in compile_model("stg_experiment_exposures", {"exp_exposure_event_name": "experiment_viewed"})
    True
    """
    models = load_models()
    if name not in models:
        raise ConfigError(f"unknown model {name!r}; models: {', '.join(models)}")
    if models[name].is_python:
        python = models[name].python
        raise ConfigError(
            f"model {name} is computed in Python ({python.function.__module__}.{python.function.__name__}) "
            f"from {', '.join(python.depends_on)}; it has no SQL: compile those models instead"
        )
    tree = bind_variables(models[name].parse(), variables)
    return to_sql(tree, dialect, pretty=pretty)


def rename_inputs(tree: exp.Expression, tables: Mapping[str, str], dialect: str) -> exp.Expression:
    """Point the references to the canonical inputs (``fct_events``...) at the user's tables."""

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and not node.args.get("db") and node.name in tables:
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            table = exp.to_table(tables[node.name], dialect=dialect)
            table.set("alias", alias)
            return table
        return node

    return tree.transform(rename)


def compile_script(variables: Mapping[str, Any], dialect: str = "duckdb",
                   tables: Mapping[str, str] | None = None, schema: str | None = None) -> str:
    """Every SQL model as a runnable script in ``dialect``, in dependency order.

    Each model becomes ``DROP TABLE IF EXISTS m; CREATE TABLE m AS <select>;``. ``tables`` maps
    the canonical input names (``fct_events``, ``fct_experiment_assignments``) to your tables,
    which must already hold the canonical, typed columns (see docs/contract.md); ``schema``
    qualifies the tables the script creates and reads. Models computed in Python are listed as
    comments: they have no SQL.

    >>> script = compile_script({"exp_exposure_event_name": "v", "exp_allow_pre_assignment_exposure_grace_minutes": 5,
    ...     "exp_exposure_max_days_after_assignment": 30, "exp_alert_horizon_days": 1}, "duckdb", {"fct_events": "raw.ev"})
    >>> "FROM raw.ev" in script
    True
    """
    models = load_models()
    tables = dict(tables or {})
    unknown = sorted(set(tables) - set(INPUTS))
    if unknown:
        raise ConfigError(f"unknown input {unknown[0]!r}; inputs: {', '.join(INPUTS)}")
    qualified = {name: f"{schema}.{name}" if schema else name for name in models}
    statements = []
    for name, model in models.items():
        if model.is_python:
            statements.append(f"-- model: {name} is computed in Python from {', '.join(model.depends_on)}; no SQL")
            continue
        tree = bind_variables(model.parse(), variables)
        tree = rename_inputs(tree, {**tables, **{m: qualified[m] for m in models if m != name}}, dialect)
        target = exp.to_table(qualified[name], dialect=dialect)
        drop = exp.Drop(tables=[target.copy()], kind="TABLE", exists=True)
        create = exp.Create(this=target, kind="TABLE", expression=tree)
        statements.append(f"-- model: {name}\n{to_sql(drop, dialect)};\n{to_sql(create, dialect, pretty=True)};")
    return "\n\n".join(statements) + "\n"
