"""Restating a model's additive aggregate from its previous output and the rows that changed.

A model whose grain is a ``GROUP BY`` over another model's rows, every measure a count or a sum
of never-null columns (or sums and differences of those), and every measure and key passed to
its output as a column of its own, can be brought up to date without reading the rows that did
not change: the new value of each measure is the previous output's value, plus the aggregate of
the rows added, minus the aggregate of the rows removed (a changed row is removed and added
again). A group whose ``count(*)`` comes to zero has no row left and goes.

This is how ``expguard run --incremental`` updates ``fct_experiment_exposure_quality_daily_by_variation``
in an output database: its ``cohorts`` CTE, over ``int_experiment_exposure_validation``, is
rewritten by :func:`restated` into that sum; the rest of the model (rates, completeness flags
against the newest event time) is its own SQL, run on the restated counts. Nothing of its logic
is written twice: the aggregate is the model's own, run on the rows added and on those removed.
:func:`restated` refuses (``ValueError``) a model that is not of that form, so a change of the
model that breaks the form fails the incremental tests instead of giving other numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp

def _source_cte(tree: exp.Query, table: str) -> exp.CTE:
    found = [cte for cte in tree.ctes if isinstance(cte.this, exp.Select)
             and any(t.name == table and not t.args.get("db") for t in cte.this.find_all(exp.Table))]
    if len(found) != 1:
        raise ValueError(f"{len(found)} CTEs read {table}; a restated model has exactly one")
    return found[0]


def aggregate_of(tree: exp.Query, table: str) -> exp.Select:
    """The model's aggregate over ``table`` (the one CTE that reads it)."""
    return _source_cte(tree, table).this


def read_columns(tree: exp.Query, table: str) -> set[str]:
    """The columns of ``table`` that the model's aggregate over it reads."""
    return {column.name for column in aggregate_of(tree, table).find_all(exp.Column)}


def _is_measure(node: exp.Expression, not_null: frozenset[str]) -> bool:
    """A count, a sum of a never-null column, or sums and differences of those."""
    if isinstance(node, exp.Paren):
        return _is_measure(node.this, not_null)
    if isinstance(node, (exp.Add, exp.Sub)):
        return _is_measure(node.this, not_null) and _is_measure(node.expression, not_null)
    if isinstance(node, exp.Count):
        return not isinstance(node.this, exp.Distinct)
    if isinstance(node, exp.Sum):
        # sum() of a column that may be null is null over a group of nulls: not additive
        return isinstance(node.this, exp.Column) and node.this.name in not_null
    return False


def _output_of(tree: exp.Query, cte: str, measures: list[str]) -> dict[str, str]:
    """CTE column -> the output column that passes it on, as it is (``c.x as y``) or cast
    (``cast(c.x as t) as y``; a measure only to an integer type: its value is read back)."""
    sources = [tree.args.get("from_"), *(tree.args.get("joins") or [])]
    aliases = {t.alias_or_name for s in sources if s is not None for t in [s.this]
               if isinstance(t, exp.Table) and t.name == cte and not t.args.get("db")}
    passed: dict[str, str] = {}
    for select in tree.expressions:
        value = select.this if isinstance(select, exp.Alias) else select
        if isinstance(value, exp.Cast):
            if value.this.name in measures and not value.to.is_type(*exp.DataType.INTEGER_TYPES):
                continue
            value = value.this
        if isinstance(value, exp.Column) and value.table in aliases:
            passed.setdefault(value.name, select.alias_or_name)
    return passed


def restated(tree: exp.Query, table: str, not_null: Iterable[str], previous: str, added: str,
             removed: str) -> exp.Query:
    """Model ``tree`` (variables bound) with its aggregate over ``table`` restated: the previous
    output ``previous`` plus that aggregate over relation ``added`` minus it over ``removed``
    (relations with ``table``'s columns). ``not_null``: the columns of ``table`` never null."""
    tree = tree.copy()
    cte = _source_cte(tree, table)
    body: exp.Select = cte.this
    never_null = frozenset(not_null)
    source = body.args.get("from_")
    if (source is None or not isinstance(source.this, exp.Table) or source.this.name != table
            or any(body.args.get(k) for k in ("joins", "where", "having", "distinct", "qualify"))
            or any(True for _ in body.find_all(exp.Window))):
        raise ValueError(f"the aggregate over {table} is not a plain GROUP BY of that table alone")
    group = body.args.get("group")
    if group is None:
        raise ValueError(f"the aggregate over {table} has no GROUP BY")
    grouped = {g.sql() for g in group.expressions}
    keys: list[str] = []
    measures: list[str] = []
    counted: str | None = None
    for select in body.expressions:
        value = select.this if isinstance(select, exp.Alias) else select
        if value.sql() in grouped:
            keys.append(select.alias_or_name)
        elif _is_measure(value, never_null):
            measures.append(select.alias_or_name)
            if isinstance(value, exp.Count) and isinstance(value.this, exp.Star):
                counted = select.alias_or_name
        else:
            raise ValueError(f"{select.alias_or_name} of the aggregate over {table} is not additive: {value.sql()}")
    if counted is None:
        raise ValueError(f"the aggregate over {table} has no count(*): an emptied group could not be told")
    passed = _output_of(tree, cte.alias, measures)
    missing = [name for name in keys + measures if name not in passed]
    if missing:
        raise ValueError(f"the output does not pass on {', '.join(missing)} of the aggregate over {table}")

    def part(relation: str, sign: str = "") -> exp.Select:
        aggregate = body.copy()
        for t in aggregate.find_all(exp.Table):
            if t.name == table and not t.args.get("db"):
                t.replace(exp.to_table(relation).as_(t.alias_or_name))
        columns = [exp.column(k) for k in keys] + [
            exp.alias_(exp.Neg(this=exp.column(m)) if sign else exp.column(m), m) for m in measures]
        return exp.select(*columns).from_(aggregate.subquery("a"))

    before = exp.select(*[exp.alias_(exp.column(passed[name]), name) for name in keys + measures]).from_(previous)
    parts = exp.union(exp.union(before, part(added), distinct=False), part(removed, "-"), distinct=False)
    merged = (exp.select(*[exp.column(k) for k in keys],
                         # (bigint, as a count is: the sums of the parts are exact integers)
                         *[exp.alias_(exp.cast(exp.Sum(this=exp.column(m)), "bigint"), m) for m in measures])
              .from_(parts.subquery("parts"))
              .group_by(*[exp.column(k) for k in keys])
              .having(exp.NEQ(this=exp.Sum(this=exp.column(counted)), expression=exp.Literal.number(0))))
    cte.set("this", merged)
    return tree
