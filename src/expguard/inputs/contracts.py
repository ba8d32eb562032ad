"""Input contracts, checked before anything is written. Each check is a query for the offending rows.

A violation raises :class:`~expguard.core.errors.ContractError` with a one-line reason, the number
of offending rows and up to five examples, before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from ..core.constants import ASSIGNMENTS
from ..engines.base import Engine
from ..core.errors import ContractError

MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Check:
    """One contract: ``count_sql`` counts violations, ``examples_sql`` shows some of them.

    ``row_condition``, when given, is the per-row test that ``count_sql`` counts: such checks
    are counted together, in one scan of the assignments (see :func:`check_assignments`).
    """

    name: str
    reason: str
    count_sql: str
    examples_sql: str
    row_condition: str | None = None


_ID_COLUMNS = ("experiment_id", "unit_id", "variation_id")


def _blank(column: str) -> str:
    """``trim(column, ' ') = ''``, with the trim only for the rare values that sort before ``'!'``
    (strings compare byte by byte on both engines: the empty string, and those that start with a
    space or a control character): the same rows, found with one comparison per value on a large
    assignment table (and a pruning of Parquet row groups by their statistics on the way)."""
    return f"({column} < '!' and trim({column}, ' ') = '')"


def _row_check(name: str, reason: str, condition: str) -> Check:
    return Check(
        name=name,
        reason=reason,
        count_sql=f"select count(*) as n from {ASSIGNMENTS} where {condition}",
        examples_sql=f"select experiment_id, unit_id, variation_id, assigned_at_raw as assigned_at "
        f"from {ASSIGNMENTS} where {condition} order by experiment_id, unit_id",
        row_condition=condition,
    )


ASSIGNMENT_CHECKS: tuple[Check, ...] = (
    *(_row_check(f"{column}_not_null", f"{ASSIGNMENTS}.{column} is null", f"{column} is null") for column in _ID_COLUMNS),
    _row_check(
        "assigned_at_not_null", f"{ASSIGNMENTS}.assigned_at is null or not a readable timestamp", "assigned_at is null"
    ),
    *(
        _row_check(f"{column}_not_blank", f"{ASSIGNMENTS}.{column} is empty or all spaces", _blank(column))
        for column in _ID_COLUMNS
    ),
    Check(
        name="experiment_unit_unique",
        reason=f"{ASSIGNMENTS} has more than one row for the same (experiment_id, unit_id)",
        count_sql=f"select count(*) as n from (select experiment_id, unit_id from {ASSIGNMENTS} "
        f"group by experiment_id, unit_id having count(*) > 1) as d",
        examples_sql=f"select experiment_id, unit_id, count(*) as row_count from {ASSIGNMENTS} "
        f"group by experiment_id, unit_id having count(*) > 1 order by experiment_id, unit_id",
    ),
)


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_examples(rows: list[dict[str, Any]]) -> str:
    """Rows as ``(col=value, ...)`` groups on one line.

    >>> format_examples([{"unit_id": "u1", "row_count": 2}])
    "(unit_id='u1', row_count=2)"
    """
    return "; ".join("(" + ", ".join(f"{k}={_show(v)}" for k, v in row.items()) + ")" for row in rows)


def run_check(engine: Engine, check: Check) -> None:
    """Raise ContractError when ``check`` finds offending rows."""
    count = engine.fetch(sqlglot.parse_one(check.count_sql, read="duckdb"))[0]["n"]
    if not count:
        return
    examples = engine.fetch(sqlglot.parse_one(check.examples_sql, read="duckdb").limit(MAX_EXAMPLES))
    noun = "row" if count == 1 else "rows"
    if check.name == "experiment_unit_unique":
        noun = "duplicated pair" if count == 1 else "duplicated pairs"
    raise ContractError(f"contract violated: {check.reason} ({count} {noun}); examples: {format_examples(examples)}")


def totals_query(checks: tuple[Check, ...] = ASSIGNMENT_CHECKS) -> exp.Select:
    """One query counting every check's violations: the row checks in one scan of the
    assignments (a ``count(case when ...)`` each), the others as scalar subqueries.

    The scan keeps only the rows that break some row check (``where c1 or c2 ...``): a row
    that breaks none adds nothing to any count, so the counts are the same, and the filter
    lets the engine skip what the file's statistics prove clean (a Parquet row group whose
    null counts are 0 and whose smallest id sorts after ``'!'``). On the benchmark's L (6.9M
    assignments in Parquet): 0.07 CPU s instead of 0.29. A CSV file is still read once."""
    columns: list[exp.Expression] = []
    conditions: list[exp.Expression] = []
    for check in checks:
        if check.row_condition is not None:
            condition = sqlglot.parse_one(check.row_condition, read="duckdb")
            conditions.append(exp.paren(condition.copy()))
            count = exp.Count(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))
        else:
            count = exp.Subquery(this=sqlglot.parse_one(check.count_sql, read="duckdb"))
        columns.append(count.as_(check.name))
    query = exp.select(*columns).from_(ASSIGNMENTS)
    # (an aggregate without GROUP BY gives its one row even when the filter keeps none)
    return query.where(exp.or_(*conditions)) if conditions else query


ROW_CHECKS: tuple[Check, ...] = tuple(c for c in ASSIGNMENT_CHECKS if c.row_condition is not None)
UNIQUE_CHECK: Check = next(c for c in ASSIGNMENT_CHECKS if c.name == "experiment_unit_unique")


def check_assignments(engine: Engine, checks: tuple[Check, ...] = ASSIGNMENT_CHECKS) -> None:
    """Every assignment check of docs/contract.md, in a stable order (the first violation stops the run)."""
    totals = engine.fetch(totals_query(checks))[0]
    for check in checks:
        if totals[check.name]:
            run_check(engine, check)


def check_unique_pairs(engine: Engine, validation_rows: int | None = None) -> None:
    """The uniqueness contract, from the validation model's row count when one is given.

    ``int_experiment_exposure_validation`` has one row per (experiment_id, unit_id) of the
    assignments (its group key), so it has as many rows as the assignments exactly when no pair
    is duplicated: one count of the assignments instead of a hash aggregation over all pairs
    (about 2 CPU s on 7M assignments). Otherwise, or without the count, the full check runs
    and raises the same message, count and examples.
    """
    if validation_rows is not None:
        if engine.row_count(ASSIGNMENTS) == validation_rows:
            return
    run_check(engine, UNIQUE_CHECK)
