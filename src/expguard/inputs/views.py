"""Builds the canonical, typed input views ``fct_events`` and ``fct_experiment_assignments``.

The column mapping (canonical column -> SQL expression over the source) is parsed by sqlglot
as single expressions, checked against the source's columns, and combined with a type
normalization chosen from the source's column types:

========================  ==========================================================
source type of a time     canonical timestamp (UTC, no time zone)
========================  ==========================================================
timestamp (no zone)       taken as UTC, as is
timestamp with time zone  converted to UTC
date                      midnight UTC
text                      ISO-8601, with or without an offset (none means UTC);
                          text that does not parse becomes null (a labelled reject);
                          digits only: the integer they spell (below), a decimal
                          number: the float it spells (CSV epochs, mixed JSON on Spark)
integer                   epoch seconds below 1e11, milliseconds below 1e14,
                          microseconds above (by each value's magnitude)
float, decimal            epoch seconds, milliseconds or microseconds by magnitude,
                          as an integer (beyond 1e18, NaN, infinities: null)
========================  ==========================================================

A time outside the years 1 to 9999 (which Spark, Parquet readers and Python hold) becomes
null whatever its source type: a labelled reject for an event, a contract error for an
assignment.

Ids of any scalar type become their text (``7`` -> ``"7"``; a floating-point or decimal id of
integral value the integer's, ``7.0`` -> ``"7"``); a nested ``properties`` value
(a JSON-lines object read as a struct) is turned back into JSON text. A JSON-lines column of
mixed types (DuckDB's JSON type: ``"u1"`` in one line, ``42`` in another) is read as each
value's text first (``u1``, ``42``), then by the rules above, as Spark reads such a column.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from ..settings.config import ColumnMapping
from ..core.constants import ASSIGNMENT_COLUMNS, ASSIGNMENTS, EVENTS
from ..engines import base
from ..engines.base import Engine
from ..core.errors import ConfigError, ContractError, EngineError

RAW_EVENTS = "expguard_raw_events"
RAW_ASSIGNMENTS = "expguard_raw_assignments"

_FORBIDDEN = (exp.Query, exp.DDL, exp.DML, exp.Command, exp.Transaction)


_PLAIN_NAME = re.compile(r"[^\W\d]\w*")
_DOTTED_NAMES = re.compile(r"[^()\[\]'\",;+*/<>=!|:-]+")


def _mapping_error(what: str, column: str, text: str, reason: str) -> ConfigError:
    """One line naming the mapping key, its expression and why it is refused, with the
    expression's names quoted as a hint when it reads as a dotted name."""
    hint = ' in double quotes, e.g. "Experiment name"'
    if _DOTTED_NAMES.fullmatch(text.strip()):
        parts = [part.strip() for part in text.strip().split(".")]
        hint = ": " + ".".join(part if _PLAIN_NAME.fullmatch(part) else '"' + part.replace('"', '""') + '"' for part in parts)
    return ConfigError(
        f"{what} column mapping {column} = {text!r} is not a valid SQL expression: {reason}; "
        f"quote names with spaces or ${hint}"
    )


def _parser_reason(error: sqlglot.errors.SqlglotError) -> str:
    """sqlglot's reason without its echo of the text and terminal colours."""
    details = getattr(error, "errors", None) or []
    if details and details[0].get("description"):
        reason = re.sub(r"<class '[\w.]*?(\w+)'>", r"\1", details[0]["description"])
        column = details[0].get("col")
        return f"{reason} (at character {column})" if column else reason
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split())[:160]


def parse_expression(text: str, column: str, what: str) -> exp.Expression:
    """Parse one mapping expression; refuse statements, queries, several expressions, and
    names that only parse by accident (``properties.$insert_id``, ``properties.Experiment name``).

    >>> parse_expression("coalesce(user_id, anonymous_id)", "unit_id", "events").sql()
    'COALESCE(user_id, anonymous_id)'
    >>> parse_expression("properties.Experiment name", "experiment_id", "events")
    Traceback (most recent call last):
    ...
    expguard.core.errors.ConfigError: events column mapping experiment_id = 'properties.Experiment name' is not a valid SQL expression: it reads as 'properties.Experiment' followed by the word 'name'; quote names with spaces or $: properties."Experiment name"
    """
    try:
        parsed = sqlglot.parse(text, read="duckdb")
    except sqlglot.errors.SqlglotError as error:
        raise _mapping_error(what, column, text, _parser_reason(error)) from None
    parsed = [p for p in parsed if p is not None]
    if len(parsed) != 1:
        raise ConfigError(
            f"{what} column mapping {column} = {text!r} must be a single SQL expression, not {len(parsed)} statements"
        )
    tree = parsed[0]
    if isinstance(tree, exp.Alias) and not tree.find(*_FORBIDDEN):
        # ``properties.Experiment name``: sqlglot reads the space as an alias.
        raise _mapping_error(
            what, column, text, f"it reads as {tree.this.sql('duckdb')!r} followed by the word {tree.alias!r}"
        )
    # An allow-list: a value expression (a column, literal, function, operator, case...), never
    # a statement (sqlglot parses DROP, ATTACH, SET, PRAGMA ... into other node types), an alias
    # or a query anywhere inside.
    if not isinstance(tree, exp.Condition) or isinstance(tree, exp.Alias) or tree.find(*_FORBIDDEN):
        raise ConfigError(
            f"{what} column mapping {column} = {text!r} must be an expression over the source's columns, "
            "not a query or statement"
        )
    # sqlglot accepts some names that neither DuckDB nor Spark read unquoted ($insert_id).
    for node in tree.find_all(exp.Placeholder, exp.Identifier):
        if isinstance(node, exp.Placeholder):
            raise _mapping_error(what, column, text, f"{node.sql('duckdb')!r} is a parameter, not a name")
        if not node.quoted and not _PLAIN_NAME.fullmatch(node.name):
            raise _mapping_error(what, column, text, f"{node.name!r} is not a plain name")
    return tree


def _columns_used(tree: exp.Expression) -> list[str]:
    """The source columns an expression reads. A dotted name is a field of a struct column
    (``context.traits.user_id`` reads ``context``): a mapping reads one source, under no table
    name of the user's, so the first part is always the column."""
    return sorted({column.parts[0].name for column in tree.find_all(exp.Column)})


def fitting_presets(available: dict[str, tuple[str, str]]) -> list[str]:
    """The presets every one of whose expressions reads only columns the source has, and of those
    the ones that read the most of them (the most specific fit: Mixpanel's preset reads only
    ``event`` and ``properties``, which a Segment export has too): an export read without its
    preset (``messageId``, ``anonymousId``, ``timestamp``, ``properties``: Segment's)."""
    from ..settings.presets import presets

    lower = {name.lower() for name in available}
    found: dict[str, int] = {}
    for name in presets():
        mapping = ColumnMapping.for_events(None, name)
        mapping = mapping.for_columns(available, lambda text, column: _columns_used(parse_expression(text, column, "events")))
        reading = [key for key in mapping.expressions if mapping.reads_properties(key)]
        try:
            # the source columns each expression reads; ``properties`` in one that reads the mapped
            # properties is that mapping, needed only when some column reads it
            used = {column.lower() for key, text in mapping.expressions.items()
                    if key != "properties" and key not in reading
                    for column in _columns_used(parse_expression(text, key, "events"))}
            if reading:
                used |= {column.lower() for column in _columns_used(
                    parse_expression(mapping.expressions["properties"], "properties", "events"))}
        except ConfigError:  # pragma: no cover - the shipped presets parse
            continue
        if used <= lower:
            found[name] = len(used)
    most = max(found.values(), default=0)
    return [name for name, count in found.items() if count == most]


def _check_columns(trees: dict[str, exp.Expression], available: dict[str, tuple[str, str]], mapping: ColumnMapping, what: str, source: str) -> None:
    lower = {name.lower() for name in available}
    for column, tree in trees.items():
        for used in _columns_used(tree):
            if used.lower() not in lower:
                shown = ", ".join(list(available)[:12]) + (", ..." if len(available) > 12 else "")
                hint = ""
                if what == "events" and mapping.preset is None:
                    fitting = fitting_presets(available)
                    if fitting:
                        hint = (f"; its columns fit the {' or '.join(repr(p) for p in fitting)} preset: try "
                                f"--events-preset {fitting[0]} (preset = \"{fitting[0]}\" in [events])")
                raise ContractError(
                    f"{what} input {source!r} has no column {used!r} (needed for {column} = {mapping.expressions[column]!r}); "
                    f"its columns are: {shown}{hint}"
                )


def _zoned_to_utc(value: exp.Expression, epoch_micros: bool) -> exp.Expression:
    """A timestamp with time zone as the UTC timestamp without zone (the session is in UTC).

    With ``epoch_micros`` (DuckDB) it is rebuilt from its microseconds since the epoch: the
    same instant, with none of the calendar work of DuckDB's time-zone cast, which costs six
    times as much (0.6 CPU s per 5 million values). The cast is kept for what that gives no
    value for (DuckDB's infinities), so every value converts exactly as the cast would."""
    cast = exp.cast(value, "timestamp")
    if not epoch_micros:
        return cast
    micros = exp.UnixToTime(this=exp.Anonymous(this="epoch_us", expressions=[value.copy()]), scale=exp.UnixToTime.MICROS)
    return exp.Coalesce(this=micros, expressions=[cast])


def to_utc_timestamp(value: exp.Expression, category: str, column: str, what: str, type_name: str,
                     *, epoch_micros: bool = False) -> exp.Expression:
    """Normalize a time value of the given type category to a UTC timestamp without zone.

    ``epoch_micros``: convert timestamps with time zone through their epoch microseconds (the
    engine's ``epoch_micros`` says whether it can); the values are the same either way."""
    if category == base.TIMESTAMPTZ:
        return _zoned_to_utc(value, epoch_micros)
    if category in (base.TIMESTAMP, base.DATE, base.NULL):
        return exp.cast(value, "timestamp")
    if category == base.JSON:
        value, category = _json_text(value), base.STRING
    if category == base.STRING:
        # Text of digits only (a CSV column of epochs, or a JSON-lines column mixing numbers
        # and text, which Spark reads as text) is the number it spells, by the rules below.
        # Other text: the cast, not the epoch path: DuckDB pushes a text-to-time cast into its
        # CSV reader, where, taken twice (coalesce), it fails on unreadable text instead of
        # giving null.
        trimmed = exp.Trim(this=value.copy())
        return exp.Case(
            ifs=[
                exp.If(
                    this=exp.RegexpLike(this=trimmed, expression=exp.Literal.string(r"^-?[0-9]{1,18}$")),
                    true=_epoch_integer(exp.TryCast(this=trimmed.copy(), to=exp.DataType.build("bigint"))),
                ),
                exp.If(
                    this=exp.RegexpLike(this=trimmed.copy(), expression=exp.Literal.string(r"^-?[0-9]{1,18}\.[0-9]+$")),
                    true=_epoch_float(exp.TryCast(this=trimmed.copy(), to=exp.DataType.build("double"))),
                ),
            ],
            default=exp.cast(exp.TryCast(this=value, to=exp.DataType.build("timestamptz")), "timestamp"),
        )
    if category == base.INTEGER:
        return _epoch_integer(value)
    if category == base.FLOAT:
        return _epoch_float(value)
    raise ContractError(
        f"{what} column {column} has type {type_name}; expected a timestamp, a date, ISO-8601 text, or epoch seconds/milliseconds"
    )


def _json_text(value: exp.Expression) -> exp.Expression:
    """The text of a JSON value of any type: a string without its quotes, a number as written,
    an object or array as its JSON text, null as null (``json_extract_string(v, '$')``)."""
    return exp.JSONExtractScalar(this=value, expression=exp.JSONPath(expressions=[exp.JSONPathRoot()]))


def _epoch_float(value: exp.Expression) -> exp.Expression:
    """A floating-point (or decimal) epoch by magnitude, as an integer's: seconds below 1e11,
    milliseconds below 1e14, microseconds below 1e18 (``Date.now()`` stored in a double column
    is milliseconds, not the year 58000); beyond, NaN and infinities: null. Milliseconds and
    microseconds are rounded to the whole microsecond."""
    magnitude = exp.Abs(this=value.copy())

    def micros(per_unit: int) -> exp.Expression:
        scaled = exp.Mul(this=value.copy(), expression=exp.Literal.number(per_unit)) if per_unit > 1 else value.copy()
        return exp.UnixToTime(this=exp.cast(exp.Round(this=scaled), "bigint"), scale=exp.UnixToTime.MICROS)

    return exp.Case(ifs=[
        exp.If(this=exp.LT(this=magnitude, expression=exp.Literal.number(10**11)),
               true=exp.cast(exp.UnixToTime(this=value.copy()), "timestamp")),
        exp.If(this=exp.LT(this=magnitude.copy(), expression=exp.Literal.number(10**14)), true=micros(1000)),
        exp.If(this=exp.LT(this=magnitude.copy(), expression=exp.Literal.number(10**18)), true=micros(1)),
    ])


def _epoch_integer(value: exp.Expression) -> exp.Expression:
    """An epoch integer by magnitude: seconds below 1e11, milliseconds below 1e14, else microseconds."""
    # Narrow every integer type to bigint first: a JSON-lines reader may type the column as
    # a 128-bit integer, which the epoch functions do not take.
    value = exp.cast(value, "bigint")
    magnitude = exp.Abs(this=value.copy())
    return exp.Case(
        ifs=[
            exp.If(this=exp.LT(this=magnitude, expression=exp.Literal.number(10**11)), true=exp.cast(exp.UnixToTime(this=value.copy()), "timestamp")),
            exp.If(
                this=exp.LT(this=magnitude.copy(), expression=exp.Literal.number(10**14)),
                true=exp.UnixToTime(this=value.copy(), scale=exp.UnixToTime.MILLIS),
            ),
        ],
        default=exp.UnixToTime(this=value.copy(), scale=exp.UnixToTime.MICROS),
    )


#: Below this magnitude an integral floating-point or decimal id is written as the integer (a
#: double holds every integer exactly only up to 2**53; 1e18 keeps the cast to bigint safe).
_INTEGRAL_ID_LIMIT = 10**18


def _number_text(value: exp.Expression) -> exp.Expression:
    """A floating-point or decimal id as text: an integral value as the integer's decimal text
    (``1001.0`` and ``1001.000000000`` -> ``"1001"``), so that it matches the same id stored as
    an integer or as text on the other side (pandas makes an integer id column with one missing
    value a float column; BigQuery's NUMERIC ids arrive as decimals); any other value as the
    engine's text of it (``7.5`` -> ``"7.5"``; NaN and infinities fail the integral test)."""
    integral = exp.and_(
        exp.EQ(this=value.copy(), expression=exp.Floor(this=value.copy())),
        exp.LT(this=exp.Abs(this=value.copy()), expression=exp.Literal.number(_INTEGRAL_ID_LIMIT)),
    )
    return exp.Case(
        ifs=[exp.If(this=integral, true=exp.cast(exp.cast(value.copy(), "bigint"), "varchar"))],
        default=exp.cast(value, "varchar"),
    )


def _as_text(value: exp.Expression, category: str, column: str, what: str, type_name: str) -> exp.Expression:
    if category == base.JSON:
        return _json_text(value)
    if category == base.NESTED:
        raise ContractError(f"{what} column {column} has type {type_name}; expected text or a number")
    if category == base.FLOAT:
        return _number_text(value)
    return exp.cast(value, "varchar")


#: The instants a canonical time may hold: the years 1 to 9999, which Spark, Parquet readers and
#: Python all hold (DuckDB holds more: a time beyond reaches no reader intact).
FIRST_TIME, LAST_TIME = "0001-01-01 00:00:00", "9999-12-31 23:59:59.999999"


def _times_held(select: exp.Select, times: tuple[str, ...]) -> exp.Select:
    """``select`` with each of its ``times`` columns null where outside :data:`FIRST_TIME` to
    :data:`LAST_TIME`, read from it as a subquery (each conversion is written once)."""
    inner = "__expguard_times"
    columns = []
    for projection in select.expressions:
        name = projection.alias_or_name
        column = exp.column(name, table=inner, quoted=True)
        if name in times:
            held = exp.Between(this=column.copy(), low=exp.cast(exp.Literal.string(FIRST_TIME), "timestamp"),
                               high=exp.cast(exp.Literal.string(LAST_TIME), "timestamp"))
            column = exp.Case(ifs=[exp.If(this=held, true=column)])
        columns.append(column.as_(name, quoted=True))
    return exp.select(*columns).from_(select.subquery(inner))


def _projection(trees: dict[str, exp.Expression], source: str) -> exp.Select:
    return exp.select(*(tree.copy().as_(name) for name, tree in trees.items())).from_(source)


def _describe_mapped(engine: Engine, trees: dict[str, exp.Expression], source: str, available: dict[str, tuple[str, str]],
                     texts: dict[str, str], what: str, source_label: str) -> dict[str, tuple[str, str]]:
    """The types of the mapped columns; when the engine cannot read one (a struct field that is
    not there, a misspelt function), one line naming the mapping key, its expression, the
    source, the engine's reason and the type of the columns it reads (a struct's fields)."""
    try:
        return engine.describe(_projection(trees, source).limit(0))
    except EngineError as error:
        reason = str(error)
    for name, tree in trees.items():
        try:
            engine.describe(_projection({name: tree}, source).limit(0))
        except EngineError as error:
            used = "; ".join(f"{column} is {available[column][1][:200]}" for column in _columns_used(tree)
                             if column in available)
            raise ConfigError(
                f"{what} column mapping {name} = {texts.get(name, tree.sql('duckdb'))!r} cannot be read from "
                f"{source_label!r}: {error}" + (f" ({used})" if used else "")
            ) from None
    raise EngineError(reason)


def build_event_view(engine: Engine, mapping: ColumnMapping, source_label: str) -> None:
    """Create ``fct_events`` over the registered raw events, applying the mapping."""
    available = engine.describe(exp.select("*").from_(RAW_EVENTS).limit(0))
    mapping = mapping.for_columns(available, lambda text, name: _columns_used(parse_expression(text, name, "events")))
    trees = {name: parse_expression(text, name, "events") for name, text in mapping.expressions.items()}
    properties = trees.pop("properties")
    reading = [name for name in trees if mapping.reads_properties(name)]
    needs_properties = bool(reading)
    if needs_properties:
        _check_columns({"properties": properties}, available, mapping, "events", source_label)
        kind, type_name = _describe_mapped(engine, {"properties": properties}, RAW_EVENTS, available,
                                           mapping.expressions, "events", source_label)["properties"]
        if kind == base.NESTED:
            properties = exp.func("to_json", properties)
        elif kind == base.JSON:
            # Objects beside JSON text in one JSON-lines column: each value's text.
            properties = _json_text(properties)
        elif kind not in (base.STRING, base.NULL):
            raise ContractError(f"events column properties has type {type_name}; expected JSON text or a JSON object")
        for name in reading:
            # In the defaults and a preset's [from_properties], ``properties`` means the mapped
            # properties expression.
            trees[name] = trees[name].transform(
                lambda node: properties.copy() if isinstance(node, exp.Column) and node.name == "properties" else node
            )
    _check_columns(trees, available, mapping, "events", source_label)
    types = _describe_mapped(engine, trees, RAW_EVENTS, available, mapping.expressions, "events", source_label)
    source: exp.Expression = exp.to_table(RAW_EVENTS)
    if engine.json_path_lists and mapping.is_default("experiment_id") and mapping.is_default("variation_id"):
        source = _parse_ids_once(trees, properties)
    columns = []
    for name, tree in trees.items():
        kind, type_name = types[name]
        if name in ("event_ts", "ingested_at"):  # ingested_at: optional, only when mapped
            value = to_utc_timestamp(tree, kind, name, "events", type_name, epoch_micros=engine.epoch_micros)
        else:
            value = _as_text(tree, kind, name, "events", type_name)
        columns.append(value.as_(name))
    engine.create_view(EVENTS, _times_held(exp.select(*columns).from_(source), ("event_ts", "ingested_at")))


_IDS = "__expguard_ids"


def _parse_ids_once(trees: dict[str, exp.Expression], properties: exp.Expression) -> exp.Subquery:
    """The default id mappings, each ``case when json_valid(p) then json_extract_string(p, path)
    end``, read from one parse of ``p``: an inner select extracts both paths as a list (DuckDB's
    ``json_extract_string(p, [path, path])``, the same values), and ``trees`` take its elements.
    Parsing the JSON once instead of twice is a fifth less CPU for the staging model."""
    paths = [exp.Literal.string(f"$.{name}") for name in ("experiment_id", "variation_id")]
    extract = exp.Anonymous(this="json_extract_string", expressions=[properties.copy(), exp.Array(expressions=paths)])
    guarded = exp.Case(ifs=[exp.If(this=exp.Anonymous(this="json_valid", expressions=[properties.copy()]), true=extract)])
    for position, name in enumerate(("experiment_id", "variation_id"), start=1):
        trees[name] = sqlglot.parse_one(f"{_IDS}[{position}]", read="duckdb")  # 1-based, as DuckDB
    inner = exp.select(exp.Star(), guarded.as_(_IDS)).from_(RAW_EVENTS)
    return inner.subquery(RAW_EVENTS)


def build_assignment_view(engine: Engine, mapping: ColumnMapping, source_label: str) -> None:
    """Create ``fct_experiment_assignments`` over the registered raw assignments."""
    available = engine.describe(exp.select("*").from_(RAW_ASSIGNMENTS).limit(0))
    trees = {name: parse_expression(mapping.expressions[name], name, "assignments") for name in ASSIGNMENT_COLUMNS}
    _check_columns(trees, available, mapping, "assignments", source_label)
    types = _describe_mapped(engine, trees, RAW_ASSIGNMENTS, available, mapping.expressions, "assignments", source_label)
    columns = []
    for name, tree in trees.items():
        kind, type_name = types[name]
        if name == "assigned_at":
            value = to_utc_timestamp(tree, kind, name, "assignments", type_name, epoch_micros=engine.epoch_micros)
        else:
            value = _as_text(tree, kind, name, "assignments", type_name)
        columns.append(value.as_(name))
    # The raw assigned_at is kept beside the canonical one so that a contract error can show it.
    raw = trees["assigned_at"].copy()
    raw = _json_text(raw) if types["assigned_at"][0] == base.JSON else exp.cast(raw, "varchar")
    columns.append(raw.as_("assigned_at_raw"))
    engine.create_view(ASSIGNMENTS, _times_held(exp.select(*columns).from_(RAW_ASSIGNMENTS), ("assigned_at",)))
