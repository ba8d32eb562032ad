"""Pure-Python reference implementation ("oracle") of the four expguard models.

Written from the contract (``docs/contract.md``) alone, deliberately simple and literal
(stdlib only), to be compared against the SQL implementation in tests.  It is
O(n * m) in places; that is fine for the few thousand rows tests use.

Entry point::

    build_models(events, assignments, *,
                 exp_exposure_event_name="experiment_viewed",
                 exp_allow_pre_assignment_exposure_grace_minutes=5,
                 exp_exposure_max_days_after_assignment=30)
        -> {"stg_experiment_exposures": [...],
            "int_experiment_exposures_deduped": [...],
            "int_experiment_exposure_validation": [...],
            "fct_experiment_exposure_quality_daily": [...]}

Each model is a list of dicts holding exactly the SPEC columns, in SPEC order,
with Python values (str, int, float, bool, datetime (naive, UTC), date, None).

Choices made where the SPEC is silent (the SPEC leaves non-string/non-integer
JSON values to the project):

* ``properties`` is parsed as strict JSON (``NaN``/``Infinity`` are rejected).
  Invalid JSON, ``properties`` None, a top-level value that is not an object,
  a missing key and a JSON ``null`` all yield None.  With duplicate keys the
  last one wins (Python's ``json`` behaviour).
* JSON string -> its text; JSON integer -> its decimal text (``7`` -> ``"7"``,
  ``-0`` -> ``"0"``, big integers kept exactly); JSON fraction/exponent number
  -> its JSON text exactly as written (``7.0`` -> ``"7.0"``, ``1e2`` -> ``"1e2"``);
  booleans -> ``"true"``/``"false"``; objects and arrays -> compact JSON text
  (``separators=(',', ':')``, non-ASCII kept as UTF-8, numbers as written,
  key order as in the source).
* After extraction, only U+0020 is trimmed from both ends; empty -> None.
* ``unit_id``: an int becomes ``str(int)`` (any other non-string is ``str()``-ed),
  then trimmed; empty -> None.  ``event_id`` is kept exactly as in the source.
* ``event_ts`` / ``assigned_at``: naive datetimes are UTC; aware ones are
  converted to UTC and made naive.
* Assignment ids are used as given (ints -> decimal text, no trimming) and
  matched to exposures by exact (binary) string equality.  The assignment
  contract (no nulls, no empty/all-space ids, unique (experiment_id, unit_id))
  is checked; a violation raises ``ValueError``.  Variables must be
  non-negative ints (bool refused), else ``ValueError``.
* Window bounds that overflow Python's datetime range are clamped to
  ``datetime.min`` / ``datetime.max``; an overflowing ``is_window_complete``
  threshold gives False.
* Daily model: a cohort's exposures (for ``exposure_events`` and
  ``duplicate_exposure_events``) are the deduped rows of the cohort's assigned
  units in that experiment (all variations, all times).  Unassigned exposed
  units are counted on the UTC date of their earliest deduped ``exposed_at`` in
  that experiment; a (experiment, date) pair with only such units has
  ``assigned_units`` 0, all other counts 0 and all rates None.
* ``is_window_complete``: ``datetime(date) + (1 + max_days) days <= data_through``
  where ``data_through`` is the max non-null ``exposed_at`` over all staging rows
  (False when there is none).

Sorting: staging by all columns (None sorts after values), deduped by
(experiment_id, unit_id, variation_id), validation by (experiment_id, unit_id),
daily by (experiment_id, date).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone

STG = "stg_experiment_exposures"
DEDUPED = "int_experiment_exposures_deduped"
VALIDATION = "int_experiment_exposure_validation"
DAILY = "fct_experiment_exposure_quality_daily"

STG_COLUMNS = [
    "event_id",
    "experiment_id",
    "unit_id",
    "variation_id",
    "exposed_at",
    "exposure_date",
    "reject_reason",
]
DEDUPED_COLUMNS = [
    "experiment_id",
    "unit_id",
    "variation_id",
    "event_id",
    "exposed_at",
    "last_exposed_at",
    "exposure_event_count",
]
VALIDATION_COLUMNS = [
    "experiment_id",
    "unit_id",
    "assigned_variation_id",
    "assigned_at",
    "assignment_date",
    "exposed_variation_count",
    "first_exposure_at",
    "first_exposure_variation_id",
    "first_post_assignment_exposure_at",
    "first_valid_exposure_at",
    "is_exposed",
    "has_pre_assignment_exposure",
    "has_exposure_outside_window",
    "has_variation_mismatch",
    "is_multi_variation",
    "exposure_status",
    "is_valid_exposure",
]
DAILY_COLUMNS = [
    "experiment_id",
    "date",
    "assigned_units",
    "exposed_units",
    "valid_exposed_units",
    "no_exposure_units",
    "multi_variation_exposure_units",
    "variation_mismatch_units",
    "pre_assignment_exposure_units",
    "exposure_outside_window_units",
    "mismatched_units",
    "exposure_events",
    "duplicate_exposure_events",
    "unassigned_exposed_units",
    "exposure_rate",
    "mismatch_rate",
    "multi_variation_rate",
    "no_exposure_rate",
    "pre_assignment_exposure_rate",
    "exposure_outside_window_rate",
    "is_window_complete",
]

STATUSES = [
    "no_exposure",
    "multi_variation_exposure",
    "variation_mismatch",
    "pre_assignment_exposure",
    "exposure_outside_window",
    "valid",
]


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------


def trim(text):
    """Remove U+0020 (only) from both ends; empty result -> None."""
    if text is None:
        return None
    text = text.strip(" ")
    if text == "":
        return None
    return text


def to_utc_naive(ts):
    """Naive datetime = UTC; aware datetime -> converted to UTC, made naive."""
    if ts is None:
        return None
    if ts.tzinfo is not None and ts.tzinfo.utcoffset(ts) is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    else:
        ts = ts.replace(tzinfo=None)
    return ts


class _RawNumber(str):
    """A JSON non-integer number, kept as the exact text it was written with."""


class _Invalid(Exception):
    pass


def _reject_constant(name):
    raise _Invalid(name)  # NaN, Infinity, -Infinity are not JSON


def _compact_json(value):
    """Compact JSON text of a parsed value; numbers kept as written."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _RawNumber):
        return str.__str__(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(v) for v in value) + "]"
    if isinstance(value, dict):
        parts = []
        for k, v in value.items():
            parts.append(json.dumps(k, ensure_ascii=False) + ":" + _compact_json(v))
        return "{" + ",".join(parts) + "}"
    raise TypeError(f"unexpected JSON value {value!r}")


def parse_properties(properties):
    """Parse JSON text; return a dict, or None when unusable."""
    if properties is None:
        return None
    try:
        parsed = json.loads(
            properties,
            parse_float=_RawNumber,
            parse_constant=_reject_constant,
        )
    except (ValueError, _Invalid):
        return None
    if not isinstance(parsed, dict):
        return None
    return parsed


def json_value_to_text(parsed, key):
    """Extract ``key`` from a parsed JSON object as text (before trimming)."""
    if parsed is None or key not in parsed:
        return None
    value = parsed[key]
    if value is None:
        return None
    if isinstance(value, _RawNumber):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    return _compact_json(value)  # object or array


def id_as_given(value):
    """Assignment ids: used as given; numbers cast to their decimal text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


def _none_last_key(values):
    """Sort key for a tuple of values where None sorts after any value."""
    return tuple((v is None, v if v is not None else 0) for v in values)


def _safe_add(ts, delta):
    try:
        return ts + delta
    except OverflowError:
        return datetime.max if delta >= timedelta(0) else datetime.min


def _check_var(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"variable {name} must be a non-negative integer, got {value!r}")


def _ratio(num, den):
    if den == 0:
        return None
    return num / den


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------


def build_staging(events, event_name):
    rows = []
    for ev in events:
        if ev.get("event_name") != event_name:
            continue
        parsed = parse_properties(ev.get("properties"))
        experiment_id = trim(json_value_to_text(parsed, "experiment_id"))
        variation_id = trim(json_value_to_text(parsed, "variation_id"))
        raw_unit = ev.get("unit_id")
        if raw_unit is not None and not isinstance(raw_unit, str):
            raw_unit = str(raw_unit)
        unit_id = trim(raw_unit)
        exposed_at = to_utc_naive(ev.get("event_ts"))
        exposure_date = exposed_at.date() if exposed_at is not None else None

        if experiment_id is None:
            reject_reason = "missing_experiment_id"
        elif unit_id is None:
            reject_reason = "missing_unit_id"
        elif variation_id is None:
            reject_reason = "missing_variation_id"
        elif exposed_at is None:
            reject_reason = "missing_timestamp"
        else:
            reject_reason = None

        rows.append(
            {
                "event_id": ev.get("event_id"),
                "experiment_id": experiment_id,
                "unit_id": unit_id,
                "variation_id": variation_id,
                "exposed_at": exposed_at,
                "exposure_date": exposure_date,
                "reject_reason": reject_reason,
            }
        )
    rows.sort(key=lambda r: _none_last_key([r[c] for c in STG_COLUMNS]))
    return rows


def build_deduped(staging):
    groups = {}
    for r in staging:
        if r["reject_reason"] is not None:
            continue
        key = (r["experiment_id"], r["unit_id"], r["variation_id"])
        groups.setdefault(key, []).append(r)

    rows = []
    for key in sorted(groups):
        members = groups[key]
        # earliest exposed_at, then event_id ascending with nulls last
        ordered = sorted(
            members,
            key=lambda r: (
                r["exposed_at"],
                r["event_id"] is None,
                r["event_id"] if r["event_id"] is not None else "",
            ),
        )
        kept = ordered[0]
        rows.append(
            {
                "experiment_id": key[0],
                "unit_id": key[1],
                "variation_id": key[2],
                "event_id": kept["event_id"],
                "exposed_at": kept["exposed_at"],
                "last_exposed_at": max(r["exposed_at"] for r in members),
                "exposure_event_count": len(members),
            }
        )
    return rows


def check_assignments(assignments):
    seen = set()
    out = []
    for i, a in enumerate(assignments):
        experiment_id = id_as_given(a.get("experiment_id"))
        unit_id = id_as_given(a.get("unit_id"))
        variation_id = id_as_given(a.get("variation_id"))
        assigned_at = a.get("assigned_at")
        for name, val in (
            ("experiment_id", experiment_id),
            ("unit_id", unit_id),
            ("variation_id", variation_id),
            ("assigned_at", assigned_at),
        ):
            if val is None:
                raise ValueError(f"assignment row {i}: null {name}: {a!r}")
        for name, val in (
            ("experiment_id", experiment_id),
            ("unit_id", unit_id),
            ("variation_id", variation_id),
        ):
            if val.strip(" ") == "":
                raise ValueError(f"assignment row {i}: empty or all-space {name}: {a!r}")
        key = (experiment_id, unit_id)
        if key in seen:
            raise ValueError(f"duplicate assignment (experiment_id, unit_id) = {key!r}")
        seen.add(key)
        out.append(
            {
                "experiment_id": experiment_id,
                "unit_id": unit_id,
                "variation_id": variation_id,
                "assigned_at": to_utc_naive(assigned_at),
            }
        )
    return out


def build_validation(assignments, deduped, grace_minutes, max_days):
    rows = []
    for a in assignments:
        exposures = [
            d
            for d in deduped
            if d["experiment_id"] == a["experiment_id"] and d["unit_id"] == a["unit_id"]
        ]
        assigned_variation = a["variation_id"]
        assigned_at = a["assigned_at"]
        window_start = _safe_add(assigned_at, -timedelta(minutes=grace_minutes))
        window_end = _safe_add(assigned_at, timedelta(days=max_days))

        exposed_variation_count = len({d["variation_id"] for d in exposures})

        if exposures:
            first_exposure_at = min(d["exposed_at"] for d in exposures)
            first_exposure_variation_id = min(
                d["variation_id"] for d in exposures if d["exposed_at"] == first_exposure_at
            )
        else:
            first_exposure_at = None
            first_exposure_variation_id = None

        post = [d["exposed_at"] for d in exposures if d["exposed_at"] >= window_start]
        first_post_assignment_exposure_at = min(post) if post else None

        valid_times = [
            d["exposed_at"]
            for d in exposures
            if window_start <= d["exposed_at"] <= window_end
            and d["variation_id"] == assigned_variation
        ]
        first_valid_exposure_at = min(valid_times) if valid_times else None

        in_window = [d for d in exposures if window_start <= d["exposed_at"] <= window_end]

        is_exposed = exposed_variation_count > 0
        has_pre = any(d["exposed_at"] < window_start for d in exposures)
        has_outside = any(d["exposed_at"] > window_end for d in exposures)
        has_mismatch = any(d["variation_id"] != assigned_variation for d in exposures)
        is_multi = exposed_variation_count > 1

        if not exposures:
            status = "no_exposure"
        elif is_multi:
            status = "multi_variation_exposure"
        elif exposures[0]["variation_id"] != assigned_variation:
            status = "variation_mismatch"
        elif first_post_assignment_exposure_at is None:
            status = "pre_assignment_exposure"
        elif not in_window:
            status = "exposure_outside_window"
        else:
            status = "valid"

        rows.append(
            {
                "experiment_id": a["experiment_id"],
                "unit_id": a["unit_id"],
                "assigned_variation_id": assigned_variation,
                "assigned_at": assigned_at,
                "assignment_date": assigned_at.date(),
                "exposed_variation_count": exposed_variation_count,
                "first_exposure_at": first_exposure_at,
                "first_exposure_variation_id": first_exposure_variation_id,
                "first_post_assignment_exposure_at": first_post_assignment_exposure_at,
                "first_valid_exposure_at": first_valid_exposure_at,
                "is_exposed": is_exposed,
                "has_pre_assignment_exposure": has_pre,
                "has_exposure_outside_window": has_outside,
                "has_variation_mismatch": has_mismatch,
                "is_multi_variation": is_multi,
                "exposure_status": status,
                "is_valid_exposure": status == "valid",
            }
        )
    rows.sort(key=lambda r: (r["experiment_id"], r["unit_id"]))
    return rows


def build_daily(validation, deduped, staging, max_days):
    # data_through: latest exposed_at over ALL staging rows (rejected included)
    stamps = [r["exposed_at"] for r in staging if r["exposed_at"] is not None]
    data_through = max(stamps) if stamps else None

    assigned_pairs = {(v["experiment_id"], v["unit_id"]) for v in validation}

    # unassigned exposed units: (experiment, unit) in deduped without assignment
    unassigned_first = {}
    for d in deduped:
        key = (d["experiment_id"], d["unit_id"])
        if key in assigned_pairs:
            continue
        if key not in unassigned_first or d["exposed_at"] < unassigned_first[key]:
            unassigned_first[key] = d["exposed_at"]

    pairs = set()
    for v in validation:
        pairs.add((v["experiment_id"], v["assignment_date"]))
    for (exp, _unit), first in unassigned_first.items():
        pairs.add((exp, first.date()))

    rows = []
    for exp, day in sorted(pairs):
        cohort = [
            v for v in validation if v["experiment_id"] == exp and v["assignment_date"] == day
        ]
        assigned_units = len(cohort)
        exposed_units = sum(1 for v in cohort if v["is_exposed"])
        status_counts = {s: sum(1 for v in cohort if v["exposure_status"] == s) for s in STATUSES}
        valid_exposed_units = sum(1 for v in cohort if v["is_valid_exposure"])
        mismatched_units = sum(1 for v in cohort if v["has_variation_mismatch"])

        cohort_units = {v["unit_id"] for v in cohort}
        cohort_exposures = [
            d for d in deduped if d["experiment_id"] == exp and d["unit_id"] in cohort_units
        ]
        exposure_events = sum(d["exposure_event_count"] for d in cohort_exposures)
        duplicate_exposure_events = exposure_events - len(cohort_exposures)

        unassigned_exposed_units = sum(
            1
            for (e, _u), first in unassigned_first.items()
            if e == exp and first.date() == day
        )

        if data_through is None:
            is_window_complete = False
        else:
            try:
                threshold = datetime.combine(day, time()) + timedelta(days=1 + max_days)
            except OverflowError:
                is_window_complete = False
            else:
                is_window_complete = threshold <= data_through

        rows.append(
            {
                "experiment_id": exp,
                "date": day,
                "assigned_units": assigned_units,
                "exposed_units": exposed_units,
                "valid_exposed_units": valid_exposed_units,
                "no_exposure_units": status_counts["no_exposure"],
                "multi_variation_exposure_units": status_counts["multi_variation_exposure"],
                "variation_mismatch_units": status_counts["variation_mismatch"],
                "pre_assignment_exposure_units": status_counts["pre_assignment_exposure"],
                "exposure_outside_window_units": status_counts["exposure_outside_window"],
                "mismatched_units": mismatched_units,
                "exposure_events": exposure_events,
                "duplicate_exposure_events": duplicate_exposure_events,
                "unassigned_exposed_units": unassigned_exposed_units,
                "exposure_rate": _ratio(valid_exposed_units, assigned_units),
                "mismatch_rate": _ratio(mismatched_units, exposed_units),
                "multi_variation_rate": _ratio(
                    status_counts["multi_variation_exposure"], exposed_units
                ),
                "no_exposure_rate": _ratio(status_counts["no_exposure"], assigned_units),
                "pre_assignment_exposure_rate": _ratio(
                    status_counts["pre_assignment_exposure"], assigned_units
                ),
                "exposure_outside_window_rate": _ratio(
                    status_counts["exposure_outside_window"], assigned_units
                ),
                "is_window_complete": is_window_complete,
            }
        )
    return rows


def build_models(
    events,
    assignments,
    *,
    exp_exposure_event_name="experiment_viewed",
    exp_allow_pre_assignment_exposure_grace_minutes=5,
    exp_exposure_max_days_after_assignment=30,
):
    grace = exp_allow_pre_assignment_exposure_grace_minutes
    max_days = exp_exposure_max_days_after_assignment
    _check_var("exp_allow_pre_assignment_exposure_grace_minutes", grace)
    _check_var("exp_exposure_max_days_after_assignment", max_days)

    clean_assignments = check_assignments(assignments)
    staging = build_staging(events, exp_exposure_event_name)
    deduped = build_deduped(staging)
    validation = build_validation(clean_assignments, deduped, grace, max_days)
    daily = build_daily(validation, deduped, staging, max_days)
    return {STG: staging, DEDUPED: deduped, VALIDATION: validation, DAILY: daily}
