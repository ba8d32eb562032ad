"""Source presets: the column mapping and exposure event name(s) of a tracking product's export.

A preset is a data file, ``presets/<name>.toml``, shipped in the package::

    title = "Segment / RudderStack track events"
    exposure_event_name = "Experiment Viewed"      # or a list of names
    notes = "..."                                  # shown in docs/configuration.md

    [columns]          # canonical column -> SQL expression over the export's own columns
    event_id = ["message_id", "messageId"]        # the first whose columns the source has
    properties = "properties"

    [from_properties]  # canonical column -> JSON paths read from the mapped ``properties``
    experiment_id = ["$.experiment_id", "$.experimentId"]   # the first non-null wins
    event_ts = { paths = ["$.time"], cast = "double" }      # read as a number

``[from_properties]`` entries read ``properties`` as the events' ``properties`` column maps it,
JSON text or a nested object alike (an object is turned into its JSON text first), as the default
``experiment_id`` mapping does; text that is not JSON gives null ids (a labelled reject).

Options set beside a preset win: a ``[events.columns]`` entry (or ``events_columns``) replaces the
preset's expression for that column, and ``exp_exposure_event_name`` set in ``[vars]`` or with
``--var`` replaces the preset's event names.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

from ..core.errors import ConfigError
from .values import DEFAULT_EVENT_MAPPING, OPTIONAL_EVENT_COLUMNS, parse_event_names

_CASTS = ("double", "bigint", "varchar")


@dataclass(frozen=True)
class Preset:
    """One preset: its expressions, which of them read the mapped properties, its event names."""

    name: str
    title: str
    columns: Mapping[str, str]
    from_properties: frozenset[str]
    # Columns given as a list in the file: the first whose source columns all exist is used
    # (``columns`` holds the first), e.g. a warehouse's ``message_id`` or a raw export's ``messageId``.
    alternatives: Mapping[str, tuple[str, ...]]
    exposure_event_name: str | tuple[str, ...]
    notes: str = ""
    sources: tuple[str, ...] = field(default=())


def json_expression(paths: list[str], cast: str | None = None) -> str:
    """The SQL (DuckDB dialect) that reads the first non-null of ``paths`` from ``properties``.

    >>> json_expression(["$.a", "$.b"])
    "case when json_valid(properties) then coalesce(json_extract_string(properties, '$.a'), json_extract_string(properties, '$.b')) end"
    """
    reads = [f"json_extract_string(properties, '{path}')" for path in paths]
    value = reads[0] if len(reads) == 1 else f"coalesce({', '.join(reads)})"
    if cast:
        value = f"try_cast({value} as {cast})"
    return f"case when json_valid(properties) then {value} end"


def _load(name: str, text: str) -> Preset:

    data = tomllib.loads(text)
    known = (*DEFAULT_EVENT_MAPPING, *OPTIONAL_EVENT_COLUMNS)
    columns: dict[str, str] = {}
    alternatives: dict[str, tuple[str, ...]] = {}
    for column, spec in data.get("columns", {}).items():
        if isinstance(spec, list):
            alternatives[column] = tuple(spec)
            spec = spec[0]
        columns[column] = spec
    from_properties = set()
    for column, spec in data.get("from_properties", {}).items():
        paths, cast = (spec, None) if isinstance(spec, list) else (spec["paths"], spec.get("cast"))
        if cast is not None and cast not in _CASTS:
            raise ValueError(f"preset {name}: cast of {column} must be one of {_CASTS}")
        columns[column] = json_expression(list(paths), cast)
        from_properties.add(column)
    unknown = sorted(set(columns) - set(known))
    if unknown:
        raise ValueError(f"preset {name}: unknown column {unknown[0]!r}")
    return Preset(
        name=name,
        title=data["title"],
        columns=columns,
        from_properties=frozenset(from_properties),
        alternatives=alternatives,
        exposure_event_name=parse_event_names("exposure_event_name", data["exposure_event_name"]),
        notes=" ".join(str(data.get("notes", "")).split()),
        sources=tuple(data.get("sources", ())),
    )


@functools.cache
def presets() -> dict[str, Preset]:
    """Every shipped preset by name, sorted."""
    folder = resources.files("expguard.settings") / "presets"
    found = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            name = entry.name.removesuffix(".toml")
            found[name] = _load(name, entry.read_text(encoding="utf-8"))
    return found


def get_preset(name: Any) -> Preset:
    """The preset called ``name``; an unknown name is a one-line error listing the known ones."""
    known = presets()
    if not isinstance(name, str) or name not in known:
        raise ConfigError(f"unknown events preset {name!r}; known presets: {', '.join(known)}")
    return known[name]


def markdown_table(preset: Preset) -> str:
    """The preset's mapping as a Markdown table (docs/configuration.md holds one per preset)."""
    names = preset.exposure_event_name
    shown = ", ".join(f"`{n}`" for n in ((names,) if isinstance(names, str) else names))
    lines = [f"#### `{preset.name}`: {preset.title}", "", f"Exposure event name(s): {shown}.", "",
             "| column | expression |", "|---|---|"]
    for column, expression in preset.columns.items():
        choices = preset.alternatives.get(column, (expression,))
        shown = ", else ".join(f"`{choice.replace('|', chr(92) + '|')}`" for choice in choices)
        lines.append(f"| `{column}` | {shown} |")
    if preset.notes:
        lines += ["", preset.notes]
    if preset.sources:
        lines += ["", "Field names from: " + "; ".join(preset.sources) + "."]
    return "\n".join(lines) + "\n"


DOCS_BEGIN, DOCS_END = "<!-- presets:begin -->", "<!-- presets:end -->"


def docs_section() -> str:
    """Every preset's table, as docs/configuration.md lists them between the presets markers."""
    return "\n".join(markdown_table(preset) for preset in presets().values())
