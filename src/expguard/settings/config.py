"""Settings, their defaults and their validation, in one place.

Everything a run needs is a frozen dataclass: :class:`Variables` (the variables of docs/contract.md),
:class:`ColumnMapping` (canonical column -> SQL expression over a source),
:class:`Source`, :class:`EngineSettings`, :class:`Outputs` and :class:`RunConfig`.
Values from ``expguard.toml``, ``--var NAME=VALUE`` and keyword arguments all pass through
the same validators, so a wrong value gets the same one-line message wherever it came from.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core.constants import ASSIGNMENT_COLUMNS, ENGINES
from ..core.errors import ConfigError
from .values import DEFAULT_EVENT_MAPPING, OPTIONAL_EVENT_COLUMNS, _non_empty_text, parse_event_names

# Upper bounds keep the window arithmetic far from timestamp overflow on every engine.
MAX_GRACE_MINUTES = 100 * 366 * 24 * 60
MAX_WINDOW_DAYS = 100 * 366
MAX_UNITS = 10**12


def _non_negative_int(name: str, value: Any, maximum: int) -> int:
    """Parse a non-negative integer; refuse booleans, fractions and text that is not a number.

    >>> _non_negative_int("x", "30", 100)
    30
    """
    if isinstance(value, bool):
        raise ConfigError(f"variable {name} must be a non-negative integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\+?[0-9]+\s*", value):
        number = int(value)
    else:
        raise ConfigError(f"variable {name} must be a non-negative integer, got {value!r}")
    if number < 0:
        raise ConfigError(f"variable {name} must be a non-negative integer, got {value!r}")
    if number > maximum:
        raise ConfigError(f"variable {name} must be at most {maximum}, got {value!r}")
    return number


def _non_negative_number(name: str, value: Any, maximum: float) -> float:
    """Parse a finite non-negative number (integer or decimal text).

    >>> _non_negative_number("x", "0.001", 1.0)
    0.001
    """
    if isinstance(value, bool):
        raise ConfigError(f"variable {name} must be a non-negative number, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?\s*", value):
        number = float(value)
    else:
        raise ConfigError(f"variable {name} must be a non-negative number, got {value!r}")
    if not (0.0 <= number <= maximum):
        raise ConfigError(f"variable {name} must be between 0 and {maximum:g}, got {value!r}")
    return number




def event_names(value: str | tuple[str, ...]) -> tuple[str, ...]:
    """The exposure event names of a parsed ``exp_exposure_event_name``, as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


def _timestamp_text(name: str, value: Any) -> str:
    """An ISO-8601 time as naive UTC text (``2026-03-01T00:00:00``), or "" (meaning: now)."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ConfigError(f"variable {name} must be an ISO-8601 time such as 2026-03-01T00:00:00Z "
                              f"(or empty for now), got {value!r}") from None
    else:
        raise ConfigError(f"variable {name} must be an ISO-8601 time such as 2026-03-01T00:00:00Z, got {value!r}")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(timespec="microseconds")


def parse_srm_weights(name: str, value: Any) -> dict[str, dict[str, float]]:
    """Expected variation weights per experiment, from JSON text or a mapping (a TOML table).

    The empty text means no weights. Weights are positive numbers; they need not sum to 1.

    >>> parse_srm_weights("w", '{"exp_1": {"control": 1, "treatment": 3}}')
    {'exp_1': {'control': 1.0, 'treatment': 3.0}}
    """
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ConfigError(f"variable {name} must be JSON like {_WEIGHTS_EXAMPLE}: {error}") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"variable {name} must map experiment ids to variation weights, like {_WEIGHTS_EXAMPLE}")
    weights: dict[str, dict[str, float]] = {}
    for experiment_id, variations in value.items():
        if not isinstance(experiment_id, str) or not experiment_id or not isinstance(variations, Mapping) or not variations:
            raise ConfigError(f"variable {name}: experiment {experiment_id!r} must map variation ids to weights")
        weights[experiment_id] = {}
        for variation_id, weight in variations.items():
            number = weight if isinstance(weight, (int, float)) and not isinstance(weight, bool) else None
            if not isinstance(variation_id, str) or not variation_id or number is None or not 0 < number < float("inf"):
                raise ConfigError(
                    f"variable {name}: weight of {experiment_id!r}/{variation_id!r} must be a positive number, got {weight!r}"
                )
            weights[experiment_id][variation_id] = float(number)
    return weights


_WEIGHTS_EXAMPLE = '{"exp_1": {"control": 50, "treatment": 50}}'


def _srm_weights_text(name: str, value: Any) -> str:
    weights = parse_srm_weights(name, value)
    return json.dumps(weights, sort_keys=True, separators=(",", ":")) if weights else ""


def variable(default: Any, kind: str, maximum: float | None = None, doc: str = "", minimum: float = 0) -> Any:
    """A variable field: ``kind`` is ``text``, ``names`` (one event name or several), ``int``,
    ``number``, ``weights`` (JSON text) or ``timestamp`` (ISO-8601 text, empty for now);
    ``maximum`` and ``minimum`` bound numbers."""
    return field(default=default, metadata={"kind": kind, "maximum": maximum, "minimum": minimum, "doc": doc})


def _parse_variable(f: dataclasses.Field, value: Any) -> Any:
    kind, maximum = f.metadata["kind"], f.metadata["maximum"]
    if kind == "text":
        return _non_empty_text(f.name, value)
    if kind == "names":
        return parse_event_names(f.name, value)
    if kind == "weights":
        return _srm_weights_text(f.name, value)
    if kind == "timestamp":
        return _timestamp_text(f.name, value)
    if kind == "int":
        number = _non_negative_int(f.name, value, int(maximum))
    else:
        number = _non_negative_number(f.name, value, float(maximum))
    if number < f.metadata.get("minimum", 0):
        raise ConfigError(f"variable {f.name} must be at least {f.metadata['minimum']:g}, got {value!r}")
    return number


@dataclass(frozen=True)
class Variables:
    """The variables, bound into the SQL as literals by :mod:`expguard.sql.render`.

    Each field declares its type and bound; every value, from any source, passes the same check.
    """

    exp_exposure_event_name: str | tuple[str, ...] = variable(
        "experiment_viewed", "names",
        doc="event_name of exposure events (exact, case-sensitive); a list of names counts each as an exposure")
    exp_allow_pre_assignment_exposure_grace_minutes: int = variable(
        5, "int", MAX_GRACE_MINUTES,
        doc="an exposure up to this many minutes before assigned_at still counts as post-assignment")
    exp_exposure_max_days_after_assignment: int = variable(
        30, "int", MAX_WINDOW_DAYS, doc="an exposure must come at most this many days after assigned_at")

    # Monitoring: sample-ratio mismatch and alerts (docs/monitoring.md gives the reasoning).
    exp_srm_p_value_threshold: float = variable(
        0.001, "number", 1.0, doc="an SRM test is failed when its chi-square p-value is below this")
    exp_srm_min_units: int = variable(
        8, "int", MAX_UNITS, doc="no SRM verdict when a variation expects fewer units than this at a stage")
    exp_srm_expected_weights: str = variable(
        "", "weights",
        doc='expected variation weights per experiment, JSON such as {"exp_1": {"control": 50, "treatment": 50}}; '
            "experiments not listed expect their assigned split")
    exp_alert_horizon_days: int = variable(
        1, "int", MAX_WINDOW_DAYS,
        doc="alerts compare the valid exposures that came within this many days of assignment")
    exp_alert_baseline_days: int = variable(
        14, "int", MAX_WINDOW_DAYS, minimum=1, doc="the baseline is the experiment's cohorts of this many days before")
    exp_alert_min_baseline_points: int = variable(
        7, "int", MAX_WINDOW_DAYS, minimum=1, doc="no alert without at least this many baseline cohorts")
    exp_alert_mad_k: float = variable(
        3.0, "number", 100.0, doc="alert beyond this many robust standard deviations (1.4826 x MAD)")
    exp_alert_critical_multiple: float = variable(
        2.0, "number", 100.0, minimum=1,
        doc="an alert is critical when its change exceeds this multiple of the allowed change")
    exp_alert_min_cohort_units: int = variable(
        200, "int", MAX_UNITS, minimum=1,
        doc="a cohort (or day) is tested, and used in a baseline, only with at least this many units (or events)")
    exp_alert_min_exposure_rate_drop: float = variable(
        0.05, "number", 1.0, doc="smallest drop of the exposure rate within the horizon that alerts")
    exp_alert_min_mismatch_rate_rise: float = variable(
        0.01, "number", 1.0, doc="smallest rise of the mismatch rate (share of exposed units) that alerts")
    exp_alert_min_multi_variation_rate_rise: float = variable(
        0.01, "number", 1.0, doc="smallest rise of the multi-variation rate (share of exposed units) that alerts")
    exp_alert_min_duplicate_rate_rise: float = variable(
        0.05, "number", 1.0, doc="smallest rise of the share of duplicate exposure events that alerts")
    exp_alert_min_unassigned_rate_rise: float = variable(
        0.02, "number", 1.0, doc="smallest rise of unassigned exposed units per assigned unit that alerts")
    exp_alert_min_rejected_rate_rise: float = variable(
        0.02, "number", 1.0, doc="smallest rise of the share of rejected exposure events that alerts")


    # Health checks: absolute thresholds per experiment (docs/monitoring.md gives the sources).
    exp_health_as_of: str = variable(
        "", "timestamp",
        doc="the run's reference time for the freshness check, ISO-8601 (UTC when no zone); empty: the time of the run")
    exp_health_min_units: int = variable(
        10, "int", MAX_UNITS, minimum=1,
        doc="a health check judges a share only when its denominator has at least this many units (or events), "
            "and warns or fails only when at least this many are affected (GrowthBook's rule)")
    exp_health_coverage_warn: float = variable(
        0.5, "number", 1.0, doc="exposure_coverage warns below this share of assigned units exposed in their window")
    exp_health_coverage_fail: float = variable(
        0.1, "number", 1.0, doc="exposure_coverage fails below this share")
    exp_health_rejected_warn: float = variable(
        0.01, "number", 1.0, doc="rejected_exposure_events warns at this share of exposure events rejected")
    exp_health_rejected_fail: float = variable(
        0.05, "number", 1.0, doc="rejected_exposure_events fails at this share")
    exp_health_mismatch_warn: float = variable(
        0.01, "number", 1.0, doc="variation_mismatch warns at this share of exposed units")
    exp_health_mismatch_fail: float = variable(
        0.05, "number", 1.0, doc="variation_mismatch fails at this share")
    exp_health_multiple_variations_warn: float = variable(
        0.01, "number", 1.0, doc="multiple_variations warns at this share of exposed units")
    exp_health_multiple_variations_fail: float = variable(
        0.05, "number", 1.0, doc="multiple_variations fails at this share")
    exp_health_pre_assignment_warn: float = variable(
        0.01, "number", 1.0, doc="pre_assignment_exposure warns at this share of exposed units")
    exp_health_pre_assignment_fail: float = variable(
        0.05, "number", 1.0, doc="pre_assignment_exposure fails at this share")
    exp_health_outside_window_warn: float = variable(
        0.01, "number", 1.0, doc="exposure_outside_window warns at this share of exposed units")
    exp_health_outside_window_fail: float = variable(
        0.05, "number", 1.0, doc="exposure_outside_window fails at this share")
    exp_health_unassigned_warn: float = variable(
        0.01, "number", 100.0, doc="unassigned_exposures warns at this many unassigned exposed units per assigned unit")
    exp_health_unassigned_fail: float = variable(
        0.05, "number", 100.0, doc="unassigned_exposures fails at this many per assigned unit")
    exp_health_srm_warn_p_value: float = variable(
        0.001, "number", 1.0,
        doc="sample_ratio warns below this p-value (it fails below exp_srm_p_value_threshold when the split "
            "is off by exp_health_srm_min_deviation); 0.01 gives Statsig's warning tier")
    exp_health_srm_min_deviation: float = variable(
        0.001, "number", 1.0,
        doc="sample_ratio fails only when some variation's share is off its expected share by at least this much")
    exp_health_freshness_warn_hours: float = variable(
        24.0, "number", 1e6, doc="freshness warns when exposure events lag by more than this many hours")
    exp_health_freshness_fail_hours: float = variable(
        48.0, "number", 1e6, doc="freshness fails when exposure events lag by more than this many hours")
    exp_health_open_alert_days: int = variable(
        7, "int", MAX_WINDOW_DAYS,
        doc="alerts dated within this many days before the newest exposure event are open and count in the verdict")
    exp_health_open_alert_min_warnings: int = variable(
        2, "int", MAX_WINDOW_DAYS, minimum=1,
        doc="open warnings count in the verdict when one alert type warned on at least this many days (criticals always count)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            parsed = _parse_variable(f, getattr(self, f.name))
            if f.metadata["kind"] == "names":  # a list given in Python becomes a tuple
                object.__setattr__(self, f.name, parsed)

    @property
    def exposure_event_names(self) -> tuple[str, ...]:
        """``exp_exposure_event_name`` as a tuple of one or more names."""
        return event_names(self.exp_exposure_event_name)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def with_values(self, values: Mapping[str, Any]) -> "Variables":
        """Return a copy with ``values`` applied; text values are parsed as the variable's type.

        >>> Variables().with_values({"exp_exposure_max_days_after_assignment": "7"}).exp_exposure_max_days_after_assignment
        7
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        parsed: dict[str, Any] = {}
        for name, value in values.items():
            if name not in fields:
                known = ", ".join(fields)
                raise ConfigError(f"unknown variable {name!r}; known variables: {known}")
            parsed[name] = _parse_variable(fields[name], value)
        return dataclasses.replace(self, **parsed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_var_options(options: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Parse ``NAME=VALUE`` strings from ``--var``.

    >>> parse_var_options(["exp_exposure_max_days_after_assignment=14"])
    {'exp_exposure_max_days_after_assignment': '14'}
    """
    values: dict[str, str] = {}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--var takes NAME=VALUE, got {option!r}")
        values[name.strip()] = value
    return values


# Default column mapping: canonical column -> SQL expression (DuckDB dialect) over the source.
# The two ids are read from the JSON text in ``properties``; invalid JSON yields null, so the
# event is kept and labelled missing_experiment_id by the staging model.
DEFAULT_ASSIGNMENT_MAPPING: dict[str, str] = {name: name for name in ASSIGNMENT_COLUMNS}


@dataclass(frozen=True)
class ColumnMapping:
    """Canonical column -> SQL expression over the source table (one expression, no statement).

    In the default ``experiment_id`` and ``variation_id`` expressions, ``properties`` means the
    mapped ``properties`` column; every user-given expression is over the source's own columns.
    """

    expressions: Mapping[str, str]
    defaults: Mapping[str, str]
    # Columns whose expression reads ``properties`` as the mapped properties (JSON text), as the
    # default id expressions do: a preset's [from_properties] entries, unless overridden.
    from_properties: frozenset[str] = frozenset()
    preset: str | None = None
    # A preset's columns with several expressions: the first whose source columns exist is used.
    alternatives: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def for_events(cls, overrides: Mapping[str, Any] | None = None, preset: str | None = None) -> "ColumnMapping":
        """The events mapping: the defaults, then the preset's expressions, then ``overrides``."""
        if preset is None:
            return cls._build(DEFAULT_EVENT_MAPPING, overrides or {}, "events", OPTIONAL_EVENT_COLUMNS)
        from .presets import get_preset

        chosen = get_preset(preset)
        mapping = cls._build(DEFAULT_EVENT_MAPPING, {**chosen.columns, **(overrides or {})}, "events", OPTIONAL_EVENT_COLUMNS)
        reading = frozenset(name for name in chosen.from_properties if name not in (overrides or {}))
        alternatives = {name: choices for name, choices in chosen.alternatives.items() if name not in (overrides or {})}
        return dataclasses.replace(mapping, from_properties=reading, preset=chosen.name, alternatives=alternatives)

    def for_columns(self, available: Any, columns_of: Any) -> "ColumnMapping":
        """This mapping with each of a preset's alternatives settled for a source: the first
        expression all of whose columns (``columns_of(expression, name)``) are among
        ``available`` (case-insensitive), else the first, whose missing column is then named."""
        if not self.alternatives:
            return self
        present = {name.lower() for name in available}
        expressions = dict(self.expressions)
        for name, choices in self.alternatives.items():
            usable = [c for c in choices if all(used.lower() in present for used in columns_of(c, name))]
            expressions[name] = usable[0] if usable else choices[0]
        return dataclasses.replace(self, expressions=expressions, alternatives={})

    def reads_properties(self, name: str) -> bool:
        """Whether ``properties`` in this column's expression means the mapped properties' JSON
        text (the default ids, and a preset's [from_properties] columns)."""
        if name in self.from_properties:
            return True
        return name in ("experiment_id", "variation_id") and self.is_default(name)

    @classmethod
    def for_assignments(cls, overrides: Mapping[str, Any] | None = None) -> "ColumnMapping":
        return cls._build(DEFAULT_ASSIGNMENT_MAPPING, overrides or {}, "assignments")

    @classmethod
    def _build(cls, defaults: Mapping[str, str], overrides: Mapping[str, Any], what: str,
               optional: tuple[str, ...] = ()) -> "ColumnMapping":
        expressions = dict(defaults)
        for name, value in overrides.items():
            if name not in defaults and name not in optional:
                raise ConfigError(
                    f"unknown {what} column {name!r} in the column mapping; known: {', '.join([*defaults, *optional])}"
                )
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{what} column {name!r} must map to a SQL expression (text), got {value!r}")
            expressions[name] = value
        return cls(expressions=expressions, defaults=dict(defaults))

    def is_default(self, name: str) -> bool:
        return self.expressions[name] == self.defaults[name]


FORMATS = ("parquet", "csv", "json")


@dataclass(frozen=True)
class Source:
    """Where an input comes from: a file or glob (``path``), or a table in a database file.

    ``Source.parse("warehouse.duckdb::raw.events")`` names table ``raw.events`` of that file.
    """

    path: str | None = None
    table: str | None = None
    database: str | None = None
    format: str | None = None
    #: An explicit list of the data files to read, listed already (an incremental run reads the
    #: new files of ``path`` only); ``files_base`` is the folder their Hive partitions start at.
    files: tuple[str, ...] | None = field(default=None, repr=False)
    files_base: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str, fmt: str | None = None) -> "Source":
        """Parse a command-line source: ``PATH`` (file or glob) or ``DBFILE::TABLE``.

        >>> Source.parse("w.duckdb::raw.events")
        Source(path=None, table='raw.events', database='w.duckdb', format=None)
        >>> Source.parse("events/*.parquet").resolved_format()
        'parquet'
        """
        if not text or not text.strip():
            raise ConfigError("an input path is empty")
        if "::" in text:
            database, _, table = text.partition("::")
            if not table:
                raise ConfigError(f"input {text!r}: expected DBFILE::TABLE, the table is missing")
            return cls(table=table, database=database or None, format=fmt)
        return cls(path=text, format=fmt)

    def resolved_format(self) -> str | None:
        if self.path is None:
            return None
        if self.format:
            if self.format not in FORMATS:
                raise ConfigError(f"unknown input format {self.format!r}; known: {', '.join(FORMATS)}")
            return self.format
        from ..core.files import expands, format_of_name, list_files

        named = format_of_name(self.path)
        if named is not None:
            return named

        if expands(self.path):  # a folder, or a glob without an extension: from its files' names
            return list_files(self.path).format
        raise ConfigError(
            f"cannot tell the format of {self.path!r} from its name; "
            f"use a .parquet, .csv or .jsonl name, or give the format ({', '.join(FORMATS)})"
        )

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        return f"{self.database}::{self.table}" if self.database else str(self.table)

    @classmethod
    def from_toml(cls, what: str, value: Any) -> "Source":
        if isinstance(value, str):
            return cls.parse(value)
        if not isinstance(value, dict):
            raise ConfigError(f"[{what}] must be a table with path or table, got {value!r}")
        refuse_unknown(value, ("path", "table", "database", "format", "columns", "preset"),
                       f"unknown key {{key}} in [{what}]; known: {{known}}")
        if bool(value.get("path")) == bool(value.get("table")):
            raise ConfigError(f"[{what}] needs exactly one of path or table")
        source = cls(
            path=value.get("path"), table=value.get("table"), database=value.get("database"), format=value.get("format")
        )
        from ..core.files import format_of_name

        if source.format or source.path is None or format_of_name(source.path):
            source.resolved_format()
        # else a folder or glob: its files tell the format once the path is resolved against
        # the project file's folder (build_config)
        return source


_MEMORY = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|KiB|MB|MiB|GB|GiB|TB|TiB)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class EngineSettings:
    """Engine choice and the settings that matter at scale.

    ``threads``, ``memory_limit`` and ``temp_directory`` apply to DuckDB, and to Spark when
    expguard starts Spark itself in local mode (``local[threads]``, the driver's memory, the
    spill folder). ``spark_master`` (``local[4]``, ``spark://host:7077``, ``yarn``) and
    ``spark_remote`` (Spark Connect, ``sc://host:15002``) choose where Spark runs; ``spark_conf``
    adds Spark settings (``{"spark.executor.memory" = "8g"}``).
    """

    name: str = "duckdb"
    threads: int | None = None
    memory_limit: str | None = None
    temp_directory: str | None = None
    spark_master: str | None = None
    spark_remote: str | None = None
    spark_conf: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"unknown engine {self.name!r}; known: {', '.join(ENGINES)}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise ConfigError(f"engine threads must be a positive integer, got {self.threads!r}")
        if self.memory_limit is not None and not (
            isinstance(self.memory_limit, str) and _MEMORY.match(self.memory_limit)
        ):
            raise ConfigError(f"engine memory_limit must look like '2GB' or '512MiB', got {self.memory_limit!r}")
        for key in ("spark_master", "spark_remote"):
            value = getattr(self, key)
            if value is None:
                continue
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"engine {key} must be a non-empty string, got {value!r}")
            if self.name != "spark":
                raise ConfigError(f"engine {key} needs the spark engine (--engine spark), not {self.name!r}")
        if self.spark_master is not None and self.spark_remote is not None:
            raise ConfigError("give engine spark_master or spark_remote, not both")
        if self.spark_remote is not None and not self.spark_remote.startswith("sc://"):
            raise ConfigError(f"engine spark_remote must be a Spark Connect URL like sc://host:15002, got {self.spark_remote!r}")
        if not isinstance(self.spark_conf, Mapping) or not all(
            isinstance(k, str) and isinstance(v, (str, int, float, bool)) for k, v in self.spark_conf.items()
        ):
            raise ConfigError(f"engine spark_conf must be a table of setting = value, got {self.spark_conf!r}")
        if self.spark_conf and self.name != "spark":
            raise ConfigError(f"engine spark_conf needs the spark engine (--engine spark), not {self.name!r}")


#: The settings of an engine (``[engine]``, ``engine=``) and of the outputs (``[output]``, ``output=``).
ENGINE_KEYS = tuple(f.name for f in dataclasses.fields(EngineSettings))
OUTPUT_KEYS = ("database", "dir", "parquet_compression")

#: The codecs a Parquet output may be written with; the first is the default. zstd (level 1):
#: on the benchmark's L the three large files are a quarter smaller than with Snappy (460
#: against 608 MiB) for about 0.5 more CPU s of their 7.5 (1.6% of a run). docs/configuration.md
#: has the numbers.
PARQUET_COMPRESSIONS = ("zstd", "snappy", "gzip", "uncompressed")


@dataclass(frozen=True)
class Outputs:
    """Where models go: a DuckDB database file and/or a folder of Parquet files, and the codec
    the Parquet files are written with (:data:`PARQUET_COMPRESSIONS`)."""

    database: str | None = None
    output_dir: str | None = None
    parquet_compression: str = PARQUET_COMPRESSIONS[0]

    def __post_init__(self) -> None:
        if self.parquet_compression not in PARQUET_COMPRESSIONS:
            raise ConfigError(
                f"unknown parquet_compression {self.parquet_compression!r}; known: {', '.join(PARQUET_COMPRESSIONS)}"
            )

    def resolved(self) -> "Outputs":
        # With neither given, the default is the database file expguard.duckdb.
        if self.database is None and self.output_dir is None:
            return dataclasses.replace(self, database="expguard.duckdb")
        return self


@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs."""

    events: Source
    assignments: Source
    event_mapping: ColumnMapping = field(default_factory=ColumnMapping.for_events)
    assignment_mapping: ColumnMapping = field(default_factory=ColumnMapping.for_assignments)
    variables: Variables = field(default_factory=Variables)
    engine: EngineSettings = field(default_factory=EngineSettings)
    outputs: Outputs = field(default_factory=Outputs)
    #: Read only what is new since the last run and update the models (docs/incremental.md).
    incremental: bool = False


_TOP_KEYS = {"events", "assignments", "vars", "engine", "output", "incremental"}


def _incremental_flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def load_project(path: str | Path) -> dict[str, Any]:
    """Read and validate ``expguard.toml``; return keyword arguments for :func:`build_config`."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"project file {str(path)!r} not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"project file {str(path)!r} is not valid TOML: {error}") from None
    refuse_unknown(data, _TOP_KEYS, f"unknown section {{key}} in {path}; known: {{known}}")
    base = path.parent
    result: dict[str, Any] = {}
    for what in ("events", "assignments"):
        if what in data:
            section = data[what]
            source = Source.from_toml(what, section)
            if source.path and not Path(source.path).is_absolute() and "://" not in source.path:
                source = dataclasses.replace(source, path=str(base / source.path))
            if source.database and not Path(source.database).is_absolute():
                source = dataclasses.replace(source, database=str(base / source.database))
            result[what] = source
            if isinstance(section, dict) and "columns" in section:
                if not isinstance(section["columns"], dict):
                    raise ConfigError(f"[{what}.columns] must be a table of column = expression")
                result[f"{what}_columns"] = section["columns"]
            if isinstance(section, dict) and "preset" in section:
                if what != "events":
                    raise ConfigError("preset is a key of [events] (an event export's shape), not of [assignments]")
                result["events_preset"] = section["preset"]
    if "vars" in data:
        if not isinstance(data["vars"], dict):
            raise ConfigError("[vars] must be a table of name = value")
        result["vars"] = data["vars"]
    if "engine" in data:
        engine = data["engine"]
        # ``engine = "spark"`` at the top, or ``engine = "spark"`` inside [engine], name the engine.
        if isinstance(engine, str):
            engine = {"name": engine}
        if not isinstance(engine, dict):
            raise ConfigError("[engine] must be a table of setting = value, or engine = \"duckdb\"/\"spark\"")
        if "engine" in engine:
            engine = dict(engine)
            alias = engine.pop("engine")
            if "name" in engine and engine["name"] != alias:
                raise ConfigError(f"[engine] gives both name = {engine['name']!r} and engine = {alias!r}; keep one")
            engine["name"] = alias
        refuse_unknown(engine, ENGINE_KEYS, "unknown key {key} in [engine]; known: {known}")
        result["engine"] = engine
    if "incremental" in data:
        result["incremental"] = _incremental_flag(data["incremental"], "incremental")
    if "output" in data:
        output = data["output"]
        if not isinstance(output, dict):
            raise ConfigError("[output] must be a table with database, dir, parquet_compression or incremental")
        output = dict(output)
        if "incremental" in output:
            if "incremental" in result:
                raise ConfigError("incremental is given both at the top of the project file and in [output]; keep one")
            result["incremental"] = _incremental_flag(output.pop("incremental"), "[output] incremental")
        # (incremental, read above, is named among the known keys)
        refuse_unknown(output, (*OUTPUT_KEYS, "incremental"), "unknown key {key} in [output]; known: {known}")
        for key in {"database", "dir"} & set(output):
            if not Path(output[key]).is_absolute():
                output[key] = str(base / output[key])
        result["output"] = output
    return result


def build_config(
    *,
    events: Source | str | None = None,
    assignments: Source | str | None = None,
    events_columns: Mapping[str, Any] | None = None,
    assignments_columns: Mapping[str, Any] | None = None,
    vars: Mapping[str, Any] | None = None,
    engine: Mapping[str, Any] | None = None,
    output: Mapping[str, Any] | None = None,
    events_preset: str | None = None,
    incremental: bool = False,
) -> RunConfig:
    """Validate loose values (from TOML, the CLI or the Python API) into a :class:`RunConfig`.

    ``events_preset`` names a source preset (:mod:`expguard.presets`); ``events_columns`` and
    ``vars`` given beside it win over its mapping and event names."""
    if events is None or assignments is None:
        missing = "events" if events is None else "assignments"
        raise ConfigError(f"no {missing} input given (use --{missing} PATH or [{missing}] in expguard.toml)")
    events = Source.parse(events) if isinstance(events, str) else events
    assignments = Source.parse(assignments) if isinstance(assignments, str) else assignments
    events.resolved_format()
    assignments.resolved_format()
    output = dict(output or {})
    # (the project file's keys are checked when it is read; these come from Python too)
    refuse_unknown(output, OUTPUT_KEYS, "unknown output setting {key}; known: {known}")
    return RunConfig(
        events=events,
        assignments=assignments,
        event_mapping=ColumnMapping.for_events(events_columns, events_preset),
        assignment_mapping=ColumnMapping.for_assignments(assignments_columns),
        variables=preset_variables(events_preset, vars),
        engine=engine_settings(engine),
        outputs=Outputs(
            database=output.get("database"),
            output_dir=output.get("dir"),
            **({"parquet_compression": output["parquet_compression"]}
               if output.get("parquet_compression") is not None else {}),
        ),
        incremental=_incremental_flag(incremental, "incremental"),
    )


def engine_settings(engine: Mapping[str, Any] | None) -> EngineSettings:
    """The engine settings of a mapping (from Python or the project file); an unknown key is one
    clear error, not a TypeError."""
    refuse_unknown(engine or {}, ENGINE_KEYS, "unknown engine setting {key}; known: {known}")
    return EngineSettings(**(engine or {}))


def refuse_unknown(given: Iterable[str], known: Iterable[str], message: str) -> None:
    """Raise ``message`` (a template of ``{key}``, the first unknown key quoted, and ``{known}``,
    every known one) when ``given`` holds a key ``known`` does not."""
    known = sorted(known)
    if unknown := sorted(set(given) - set(known)):
        raise ConfigError(message.format(key=repr(unknown[0]), known=", ".join(known)))


def preset_variables(events_preset: str | None, vars: Mapping[str, Any] | None) -> Variables:
    """The variables: the preset's exposure event name(s), then ``vars``, which win."""
    values = dict(vars or {})
    if events_preset is not None:
        from .presets import get_preset

        values.setdefault("exp_exposure_event_name", get_preset(events_preset).exposure_event_name)
    return Variables().with_values(values)


DEFAULT_PROJECT = "expguard.toml"


def config_from_options(
    project: str | None,
    events: str | None,
    assignments: str | None,
    events_format: str | None,
    assignments_format: str | None,
    var: tuple[str, ...],
    engine: str | None,
    threads: int | None,
    memory_limit: str | None,
    temp_directory: str | None,
    output_dir: str | None = None,
    database: str | None = None,
    spark_master: str | None = None,
    spark_remote: str | None = None,
    events_preset: str | None = None,
    as_of: str | None = None,
    incremental: bool | None = None,
    parquet_compression: str | None = None,
):
    """Merge the project file (if any, default ./expguard.toml) with the command-line options, which win."""
    settings: dict[str, Any] = {}
    if project is not None or Path(DEFAULT_PROJECT).exists():
        settings = load_project(project or DEFAULT_PROJECT)
    if events is not None:
        settings["events"] = Source.parse(events, events_format)
    if assignments is not None:
        settings["assignments"] = Source.parse(assignments, assignments_format)
    if events_preset is not None:
        settings["events_preset"] = events_preset
    variables = dict(settings.get("vars", {}))
    variables.update(parse_var_options(var))
    if as_of is not None:
        variables["exp_health_as_of"] = as_of
    settings["vars"] = variables
    engine_settings = dict(settings.get("engine", {}))
    for key, value in (("name", engine), ("threads", threads), ("memory_limit", memory_limit), ("temp_directory", temp_directory)):
        if value is not None:
            engine_settings[key] = value
    # --spark-master and --spark-remote replace each other (and the project file's), and
    # imply --engine spark when no engine is named anywhere.
    for key, value, other in (("spark_master", spark_master, "spark_remote"), ("spark_remote", spark_remote, "spark_master")):
        if value is not None:
            engine_settings[key] = value
            if (spark_master is None) != (spark_remote is None):
                engine_settings.pop(other, None)
            engine_settings.setdefault("name", "spark")
    settings["engine"] = engine_settings
    output = dict(settings.get("output", {}))
    if output_dir is not None or database is not None:
        # the command line's targets replace the project file's (its codec stays)
        output = {"dir": output_dir, "database": database} | (
            {"parquet_compression": output["parquet_compression"]} if "parquet_compression" in output else {}
        )
    if parquet_compression is not None:
        output["parquet_compression"] = parquet_compression
    settings["output"] = output
    if incremental:
        settings["incremental"] = True
    return build_config(**settings)
