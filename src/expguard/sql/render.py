"""Binds variables as literals in parsed SQL and renders it for an engine's dialect.

Variables are placeholders in the model files (``:exp_exposure_event_name``). Each one is
replaced by a literal *node* in the sqlglot tree, never by string formatting, so a value can
never close a string or add a statement: sqlglot escapes it for the target dialect.

Constructs that do not mean the same on every engine are fixed here, once, with a sqlglot
transform per dialect (see :data:`DIALECT_TRANSFORMS`); there is never a second copy of a model.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from sqlglot import exp

from ..core.errors import ConfigError

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
    """Spark: ``json_valid(x)`` becomes a strict, whole-text JSON check.

    Spark has no ``json_valid``, and its ``get_json_object`` is lenient: it reads single
    quotes, raw control characters in strings and ignores whatever follows the first value
    (``{"experiment_id": "e"} xyz``), where DuckDB's ``json_valid`` is false. ``try_parse_json``
    (Spark 4.0+) is strict but also stops after the first value, so the guard parses the arrays
    ``[x,0]`` and ``[0,x]`` and asks for two elements in each: both have two only when ``x`` is
    exactly one JSON value (``x] junk`` closes the first array early, ``x, y] junk`` adds an
    element to the second). Two parses cost less than a parse and two ``json_array_length``
    scans (about half the time on 10M events). With a duplicated key, DuckDB keeps the text
    valid (extraction takes the first); ``try_parse_json`` needs
    ``spark.sql.variant.allowDuplicateKeys=true`` for that, which the Spark engine sets. DuckDB
    also reads ``NaN``/``Infinity`` and trailing commas, which Spark's parsers refuse: such
    properties yield null ids on Spark (see docs/running-at-scale.md).

    >>> import sqlglot
    >>> _spark_json_valid(sqlglot.parse_one("json_valid(p)", read="duckdb")).sql("spark")
    "COALESCE(ARRAY_SIZE(TRY_VARIANT_GET(TRY_PARSE_JSON('[' || p || ',0]'), '$', 'array<variant>')) = 2 AND ARRAY_SIZE(TRY_VARIANT_GET(TRY_PARSE_JSON('[0,' || p || ']'), '$', 'array<variant>')) = 2, FALSE)"
    """
    if isinstance(node, exp.Anonymous) and node.name.lower() == "json_valid":
        value = node.expressions[0]
    elif type(node).__name__ in ("IsJSON", "JSONValid"):
        value = node.this
    else:
        return node
    checks: list[exp.Expression] = []
    for before, after in (("[", ",0]"), ("[0,", "]")):
        wrapped = exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string(before), expression=value.copy(), safe=True),
            expression=exp.Literal.string(after),
            safe=True,
        )
        parsed = exp.Anonymous(this="TRY_PARSE_JSON", expressions=[wrapped])
        elements = exp.Anonymous(
            this="TRY_VARIANT_GET",
            expressions=[parsed, exp.Literal.string("$"), exp.Literal.string("array<variant>")],
        )
        size = exp.Anonymous(this="ARRAY_SIZE", expressions=[elements])
        checks.append(exp.EQ(this=size, expression=exp.Literal.number(2)))
    return exp.Coalesce(this=exp.and_(*checks), expressions=[exp.false()])


def _spark_try_cast(node: exp.Expression) -> exp.Expression:
    """Spark: ``try_cast`` must stay ``TRY_CAST``.

    sqlglot writes a DuckDB ``TRY_CAST`` as a plain ``CAST`` for Spark (Spark's legacy cast
    returned null on bad input), but the Spark engine runs in ANSI mode, where ``CAST`` raises:
    text that is not a timestamp would stop the run instead of becoming a labelled reject.

    >>> import sqlglot
    >>> _spark_try_cast(sqlglot.parse_one("try_cast(x as timestamptz)", read="duckdb")).sql("spark")
    'TRY_CAST(x AS TIMESTAMP)'
    """
    if isinstance(node, exp.TryCast) and not node.args.get("safe"):
        node.set("safe", True)  # in place: transform_for works on a copy of the caller's tree
    return node


# Timestamp text that DuckDB's TIMESTAMPTZ cast and Spark's TIMESTAMP cast both read, and read
# the same way: a date (1-2 digit month/day), optionally a time (T or one space, hh:mm with
# optional seconds and fraction) and then a zone: Z, an offset (+hh, +hhmm, +hh:mm, +hh:mm:ss)
# right after the time, or a zone name after one space (UTC, EST, Europe/Paris, Etc/GMT+1).
# Leading whitespace (\s) is skipped by both; trailing, only spaces. The end is \z, not $: Java's
# $ also matches before a final newline, which DuckDB refuses.
SPARK_TIMESTAMP_TEXT = (
    "^\\s*[0-9]{4,}-[0-9]{1,2}-[0-9]{1,2}"
    "([T ][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}([.][0-9]*)?)?"
    "([Zz]|[+-][0-9]{2}(:?[0-9]{2}(:[0-9]{2})?)?| (?!UT(?![A-Za-z]))[A-Za-z][A-Za-z0-9_/+:-]+)?)? *\\z"
)


def _is_timestamp_text_guarded(node: exp.Expression) -> bool:
    parent = node.parent
    return (
        isinstance(parent, exp.If)
        and isinstance(parent.this, exp.RegexpLike)
        and parent.this.expression.name == SPARK_TIMESTAMP_TEXT
    )


def _spark_timestamp_text(node: exp.Expression) -> exp.Expression:
    """Spark: text read as a timestamp must have a form that DuckDB reads too.

    Spark's cast also reads partial and loose forms that DuckDB refuses (``2026``,
    ``2026-03``, ``2026-03-01T12``, ``12:00:00 +02:00``, ``12:00:00UTC``, ``+2026-03-01``);
    each would be an exposure on Spark and a ``missing_timestamp`` reject on DuckDB. The cast is
    guarded by :data:`SPARK_TIMESTAMP_TEXT`, which accepts only forms both engines read alike.
    A few forms only DuckDB reads (``24:00:00``, two spaces or a tab before the time,
    ``2026/03/01``, lowercase zone names) stay null on Spark.

    >>> import sqlglot
    >>> "RLIKE" in _spark_timestamp_text(sqlglot.parse_one("try_cast(x as timestamptz)", read="duckdb")).sql("spark")
    True
    """
    if (
        isinstance(node, exp.TryCast)
        and node.to.is_type(exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMPLTZ)
        and not _is_timestamp_text_guarded(node)
    ):
        guard = exp.RegexpLike(this=node.this.copy(), expression=exp.Literal.string(SPARK_TIMESTAMP_TEXT))
        return exp.Case(ifs=[exp.If(this=guard, true=node.copy())])
    return node


def _spark_epoch(node: exp.Expression) -> exp.Expression:
    """Spark: epoch numbers become timestamps as DuckDB makes them.

    sqlglot writes DuckDB's ``to_timestamp(seconds)`` as Spark's ``from_unixtime``, which formats
    the value as text to the second and drops the fraction; ``timestamp_seconds`` truncates to
    the microsecond where DuckDB rounds half to even. Seconds become
    ``timestamp_micros(rint(seconds * 1e6))``; milliseconds and microseconds keep Spark's exact
    functions. Each is cast to ``TIMESTAMP_NTZ`` (a DuckDB ``TIMESTAMP``) under the session's
    UTC time zone.

    >>> from sqlglot import exp
    >>> _spark_epoch(exp.UnixToTime(this=exp.column("s"))).sql("spark")
    'CAST(TIMESTAMP_MICROS(CAST(RINT(CAST(s AS DOUBLE) * 1000000) AS BIGINT)) AS TIMESTAMP_NTZ)'
    """
    if not isinstance(node, exp.UnixToTime):
        return node
    scale = node.args.get("scale")
    value = node.this.copy()
    if scale in (None, exp.UnixToTime.SECONDS):
        micros = exp.Mul(this=exp.cast(value, "double"), expression=exp.Literal.number(1_000_000))
        value = exp.cast(exp.Anonymous(this="RINT", expressions=[micros]), "bigint")
        function = "TIMESTAMP_MICROS"
    elif scale == exp.UnixToTime.MILLIS:
        function = "TIMESTAMP_MILLIS"
    elif scale == exp.UnixToTime.MICROS:
        function = "TIMESTAMP_MICROS"
    else:
        return node
    return exp.cast(exp.Anonymous(this=function, expressions=[value]), exp.DataType.Type.TIMESTAMPNTZ)


def _spark_timestamp_ntz(node: exp.Expression) -> exp.Expression:
    """Spark: a ``TIMESTAMP`` built in Python is DuckDB's ``TIMESTAMP``, without a time zone.

    The models are parsed as DuckDB, where ``timestamp`` is already ``TIMESTAMP_NTZ`` for Spark;
    casts built with ``exp.cast(x, "timestamp")`` (the input layer's) carry the generic
    ``TIMESTAMP`` type, which Spark reads as its session-zone ``TIMESTAMP_LTZ``.

    >>> from sqlglot import exp
    >>> _spark_timestamp_ntz(exp.DataType.build("timestamp")).sql("spark")
    'TIMESTAMP_NTZ'
    """
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.TIMESTAMP:
        return exp.DataType.build(exp.DataType.Type.TIMESTAMPNTZ)
    return node


# Applied in order, each over the whole tree. The text guard wraps TRY_CAST nodes, so it runs
# before the pass that marks them safe.
SPARK_TRANSFORMS: tuple[Callable[[exp.Expression], exp.Expression], ...] = (
    _spark_json_valid,
    _spark_timestamp_text,
    _spark_try_cast,
    _spark_epoch,
    _spark_timestamp_ntz,
)

DIALECT_TRANSFORMS: dict[str, tuple[Callable[[exp.Expression], exp.Expression], ...]] = {
    "spark": SPARK_TRANSFORMS,
    "databricks": SPARK_TRANSFORMS,
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
