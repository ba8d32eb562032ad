"""Hypothesis strategies for adversarial inputs, shared by the property tests.

Few units, variations, experiments, event ids and timestamps, so that ties on ``exposed_at``,
duplicate events, exact window bounds and malformed rows all happen often.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from helpers import T0, props

US = dt.timedelta(microseconds=1)
MIN = dt.timedelta(minutes=1)
DAY = dt.timedelta(days=1)

# Instants around T0 that sit on, or one microsecond off, the window bounds of the variable
# values drawn below (grace 0/5/60 minutes, max_days 0/1/30), on a few different dates.
OFFSETS = [
    dt.timedelta(0), US, -US, -5 * MIN, -5 * MIN - US, -60 * MIN, -60 * MIN - US, 3 * MIN,
    DAY, DAY + US, 30 * DAY, 30 * DAY + US, -DAY, 2 * DAY + 11 * dt.timedelta(hours=1),
]
INSTANTS = [T0 + offset for offset in OFFSETS]
ASSIGNED_AT = [T0, T0 - DAY, T0 + DAY + 5 * MIN, T0 - 12 * dt.timedelta(hours=1)]

units = st.sampled_from(["u1", "u2", "u3", " u1 ", "10", "9"])
experiments = st.sampled_from(["e1", "e2"])
variations = st.sampled_from(["A", "B", "a"])
event_ids = st.sampled_from([None, None, "a", "b", "B", "10", "9"])


@st.composite
def properties_text(draw) -> str | None:
    kind = draw(st.sampled_from(["ok"] * 8 + ["numeric", "padded", "missing", "null", "empty", "bad_json", "none"]))
    experiment_id, variation_id = draw(experiments), draw(variations)
    if kind == "numeric":
        return props(draw(st.sampled_from([1, 2])), draw(st.sampled_from([1, 10])))
    if kind == "padded":
        return props(f" {experiment_id}  ", f"  {variation_id}")
    if kind == "missing":
        return draw(st.sampled_from([props(..., variation_id), props(experiment_id, ...)]))
    if kind == "null":
        return draw(st.sampled_from([props(None, variation_id), props(experiment_id, None)]))
    if kind == "empty":
        return draw(st.sampled_from([props("", variation_id), props(experiment_id, "   ")]))
    if kind == "bad_json":
        return props(experiment_id, variation_id)[:-3]
    if kind == "none":
        return None
    return props(experiment_id, variation_id)


@st.composite
def event_rows(draw) -> dict[str, Any]:
    return {
        "event_id": draw(event_ids),
        "event_name": draw(st.sampled_from(["experiment_viewed"] * 6 + ["page_view", "Experiment_Viewed"])),
        "unit_id": draw(st.one_of(units, st.sampled_from([None, "", "  "])) if draw(st.booleans()) else units),
        "event_ts": draw(st.sampled_from(INSTANTS + [None]) if draw(st.integers(0, 9)) == 0 else st.sampled_from(INSTANTS)),
        "properties": draw(properties_text()),
    }


@st.composite
def assignment_rows(draw) -> list[dict[str, Any]]:
    keys = draw(st.lists(st.tuples(st.sampled_from(["e1", "e2", "1"]), st.sampled_from(["u1", "u2", "u3", "u4", "10"])),
                         unique=True, max_size=8))
    return [
        {"experiment_id": e, "unit_id": u, "variation_id": draw(st.sampled_from(["A", "B", "a", "1"])),
         "assigned_at": draw(st.sampled_from(ASSIGNED_AT))}
        for e, u in keys
    ]
