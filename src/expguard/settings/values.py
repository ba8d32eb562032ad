"""Values of the settings that both the settings and the source presets need: the default event
mapping, the optional event columns, and the checks of text and event-name values. It imports no
other settings module, so that the presets (read by the settings) and the settings share them
without a circle."""

from __future__ import annotations

import json
from typing import Any

from ..core.errors import ConfigError

DEFAULT_EVENT_MAPPING: dict[str, str] = {
    "event_id": "event_id",
    "event_name": "event_name",
    "unit_id": "unit_id",
    "event_ts": "event_ts",
    "properties": "properties",
    "experiment_id": "case when json_valid(properties) then json_extract_string(properties, '$.experiment_id') end",
    "variation_id": "case when json_valid(properties) then json_extract_string(properties, '$.variation_id') end",
}
# Optional canonical event columns: absent from fct_events unless mapped. ``ingested_at`` (when
# the warehouse received the event) lets ``expguard diagnose`` measure ingestion lag; no model
# reads it.
OPTIONAL_EVENT_COLUMNS: tuple[str, ...] = ("ingested_at",)


def _non_empty_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or value == "":
        raise ConfigError(f"variable {name} must be a non-empty string, got {value!r}")
    return value


def parse_event_names(name: str, value: Any) -> str | tuple[str, ...]:
    """One event name (text), or several: a list (a TOML array, a Python list or tuple) or the
    text of a JSON array of strings (``--var 'NAME=["a","b"]'``). Text that is not a JSON array
    is one name, as it is, even with commas or brackets (``[Experiment] Exposure``).
    Several names keep their order; a repeated name is kept once.

    >>> parse_event_names("n", "Experiment Viewed")
    'Experiment Viewed'
    >>> parse_event_names("n", '["$exposure", "[Experiment] Exposure"]')
    ('$exposure', '[Experiment] Exposure')
    >>> parse_event_names("n", "[Experiment] Exposure")
    '[Experiment] Exposure'
    """
    if isinstance(value, str) and value.startswith("["):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if isinstance(decoded, list):
            value = decoded
    if isinstance(value, str):
        return _non_empty_text(name, value)
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(
            f"variable {name} must be an event name or a non-empty list of event names "
            f"(like [\"Experiment Viewed\", \"experiment_viewed\"]), got {value!r}"
        )
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or item == "":
            raise ConfigError(f"variable {name}: every event name must be non-empty text, got {item!r} in {list(value)!r}")
        if item not in names:
            names.append(item)
    return tuple(names)
