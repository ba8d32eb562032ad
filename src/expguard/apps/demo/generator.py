"""Seeded synthetic event streams and assignments with known defects.

The generator builds an ``fct_events``-shaped table and an
``fct_experiment_assignments``-shaped table (see ``docs/contract.md``) fully vectorised
with numpy and pyarrow. Every assignment gets one exposure category, drawn
independently with the probabilities in :class:`DefectRates`:

* ``never_exposed``: no exposure event at all;
* of the exposed units: ``multi_variation`` (assigned variation plus another
  one), ``mismatch`` (only a wrong variation), ``pre_assignment_within_grace``
  (first exposure at most ``grace_minutes`` before ``assigned_at``; still
  valid), ``pre_assignment_beyond_grace`` (only exposure before the window),
  ``late_beyond_window`` (only exposure after ``assigned_at + max_days``), and
  otherwise a normal exposure inside the window (minutes to days after
  assignment; a few land exactly on ``assigned_at`` or on a window bound).

On top of that, a ``duplicate_exposure`` share of exposures fires 1-3 extra
times (a few of them exact copies with the same ``event_id`` and timestamp, or
the same timestamp with another ``event_id``); ``unassigned_exposure`` adds
exposures of (experiment, unit) pairs without an assignment; and
``malformed_exposure`` adds exposure events that must be rejected (missing
``experiment_id`` key, empty or all-space ids, JSON null variation, null or
empty unit, null timestamp, truncated JSON). About 1% of the usable exposures
carry ids padded with spaces, which trim to valid ids. Ids in the JSON are
always strings.

The number of assignments is chosen so that exposure events make up about
``exposure_share`` of ``n_events``; at the defaults that is about
``n_events / 7``. The event table has exactly ``n_events`` rows unless the
exposures alone need more. Non-exposure events include a small share (0.2%)
named like the exposure event but in another case; they carry experiment
properties and must not count as exposures.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["DefectRates", "Dataset", "generate", "write_dataset"]

US_MIN = 60_000_000
US_HOUR = 60 * US_MIN
US_DAY = 24 * US_HOUR
TS = pa.timestamp("us", tz="UTC")
VARIATIONS = ("control", "treatment_a", "treatment_b", "treatment_c")
OTHER_EVENTS = ("page_view", "click", "search", "add_to_cart", "session_start", "purchase")
OTHER_P = (0.45, 0.22, 0.12, 0.08, 0.10, 0.03)
NEAR_MISS_SHARE = 0.002
POOL = 256  # distinct property payloads per non-exposure event name


@dataclass(frozen=True)
class DefectRates:
    """Defect proportions, each a fraction in ``[0, 1)``.

    ``multi_variation``, ``mismatch``, ``pre_assignment_within_grace``,
    ``pre_assignment_beyond_grace`` and ``late_beyond_window`` are exclusive
    categories of exposed units and must sum to at most 1.

    Attributes:
        duplicate_exposure: Exposures (unit x variation) that fire 2+ times.
        multi_variation: Exposed units that also see a second variation.
        mismatch: Exposed units that see only a wrong variation.
        pre_assignment_within_grace: Exposed units first exposed at most
            ``grace_minutes`` before ``assigned_at`` (valid).
        pre_assignment_beyond_grace: Exposed units exposed only before
            ``assigned_at - grace``.
        late_beyond_window: Exposed units exposed only after
            ``assigned_at + max_days``.
        never_exposed: Assigned units with no exposure.
        unassigned_exposure: Exposed (experiment, unit) pairs without an
            assignment, as a fraction of the number of assignments.
        malformed_exposure: Exposure events that must be rejected, as a
            fraction of all exposure events.
    """

    duplicate_exposure: float = 0.06
    multi_variation: float = 0.02
    mismatch: float = 0.02
    pre_assignment_within_grace: float = 0.03
    pre_assignment_beyond_grace: float = 0.02
    late_beyond_window: float = 0.02
    never_exposed: float = 0.08
    unassigned_exposure: float = 0.02
    malformed_exposure: float = 0.01

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"DefectRates.{f.name} must be in [0, 1), got {value!r}")
        if sum(self._exclusive()) > 1.0:
            raise ValueError("exclusive exposure categories of DefectRates sum to more than 1")

    def _exclusive(self) -> tuple[float, ...]:
        return (self.multi_variation, self.mismatch, self.pre_assignment_within_grace,
                self.pre_assignment_beyond_grace, self.late_beyond_window)


@dataclass(frozen=True)
class Dataset:
    """A generated event stream and its assignment table.

    Attributes:
        events: ``event_id``, ``event_name``, ``unit_id``, ``event_ts``
            (timestamp us UTC), ``properties`` (JSON text).
        assignments: ``experiment_id``, ``unit_id``, ``variation_id``,
            ``assigned_at`` (timestamp us UTC); unique per experiment and unit.
    """

    events: pa.Table
    assignments: pa.Table


def _delay(rng: np.random.Generator, n: int, median_us: float, sigma: float, cap_us: int) -> np.ndarray:
    """Log-normal non-negative delays in microseconds, capped at ``cap_us``."""
    return np.minimum(rng.lognormal(np.log(median_us), sigma, n), cap_us).astype(np.int64)


def _text(values: np.ndarray | pa.Array, prefix: str) -> pa.Array:
    """``prefix`` followed by the decimal text of each integer (nulls stay null)."""
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


@dataclass
class _Assignments:
    """Step 1: the experiments and their assignments (indexes into names and variations)."""

    names: list[str]
    n_var: np.ndarray     # variations per experiment
    pair: np.ndarray      # experiment * n_pool + unit, one per assignment
    n_pool: int           # units
    exp: np.ndarray
    unit: np.ndarray
    var: np.ndarray
    at: np.ndarray        # assigned_at, microseconds


@dataclass
class _Keys:
    """Steps 2-3: one exposure key (experiment, unit, variation, first time) per exposed unit,
    its second variation for multi-variation units, and the unassigned pairs."""

    exp: np.ndarray
    unit: np.ndarray
    var: np.ndarray
    ts: np.ndarray
    n_unassigned: int


@dataclass
class _ExposureEvents:
    """Step 4: the exposure events, shuffled: each one's key (``src``), defect ``kind`` (0: none,
    1-9: a malformed kind), time, ``event_id`` and null-id flag; ``ids``/``null_id`` hold the
    ids of every event row (the exposures' first)."""

    src: np.ndarray
    kind: np.ndarray
    ts: np.ndarray
    ids: np.ndarray
    null_id: np.ndarray
    n_total: int

    @property
    def n(self) -> int:
        return len(self.src)


def _check_arguments(n_events: int, n_experiments: int, days: int, exposure_share: float, grace_minutes: int,
                     max_days: int) -> None:
    if n_events < 1 or n_experiments < 1 or days < 1 or grace_minutes < 0 or max_days < 0:
        raise ValueError("n_events, n_experiments, days must be >= 1; grace_minutes, max_days >= 0")
    if not 0.0 < exposure_share <= 1.0:
        raise ValueError("exposure_share must be in (0, 1]")


def _assign(rng: np.random.Generator, d: DefectRates, n_events: int, n_experiments: int, days: int, t0: int,
            exposure_share: float) -> _Assignments:
    """Experiments (2-4 variations each) and assignments, sized so that exposure events are about
    ``exposure_share`` of ``n_events``; each unit is in about two experiments."""
    n_var = rng.integers(2, len(VARIATIONS) + 1, n_experiments)
    width = max(2, len(str(n_experiments)))
    names = [f"exp_{i + 1:0{width}d}" for i in range(n_experiments)]
    per_assignment = (((1 - d.never_exposed) * (1 + d.multi_variation) + d.unassigned_exposure)
                      * (1 + 2 * d.duplicate_exposure) / (1 - d.malformed_exposure))
    n_assign = max(1, round(exposure_share * n_events / per_assignment))
    n_pool = -(-n_assign // min(2, n_experiments))  # units; each in ~2 experiments
    pair = rng.choice(n_experiments * n_pool, n_assign, replace=False)
    a_exp, a_unit = pair // n_pool, pair % n_pool
    a_var = (rng.random(n_assign) * n_var[a_exp]).astype(np.int64)
    a_at = t0 + rng.integers(0, days * US_DAY, n_assign)
    return _Assignments(names, n_var, pair, n_pool, a_exp, a_unit, a_var, a_at)


def _exposed_keys(rng: np.random.Generator, d: DefectRates, a: _Assignments, grace: int,
                  window: int) -> tuple[_Keys, np.ndarray, np.ndarray, np.ndarray]:
    """One key per exposed unit, in its exposure category (timing and variation), and the
    multi-variation units' second key (indexes, times, wrong variations)."""
    ex = np.flatnonzero(rng.random(len(a.pair)) >= d.never_exposed)
    n = len(ex)
    cat = np.searchsorted(np.cumsum(d._exclusive()), rng.random(n), side="right")  # 5 = normal
    k_exp, k_unit, at, nv = a.exp[ex], a.unit[ex], a.at[ex], a.n_var[a.exp[ex]]
    wrong = (a.var[ex] + 1 + (rng.random(n) * (nv - 1)).astype(np.int64)) % nv
    normal = at + _delay(rng, n, 10 * US_MIN, 2.0, window)
    edge = rng.random(n) < 0.01  # exactly on assigned_at or a window bound (inclusive)
    normal = np.where(edge & (cat == 5), at + np.array([0, -grace, window])[rng.integers(0, 3, n)], normal)
    k_ts = np.select(
        [cat == 2, cat == 3, cat == 4],
        [at - (rng.integers(1, grace + 1, n) if grace else 0),
         at - grace - 1 - _delay(rng, n, 2 * US_HOUR, 1.5, 7 * US_DAY),
         at + window + 1 + _delay(rng, n, US_DAY, 1.0, 10 * US_DAY)], normal)
    k_var = np.where(cat == 1, wrong, a.var[ex])
    multi = np.flatnonzero(cat == 0)  # second variation, inside the window
    m_ts = at[multi] + _delay(rng, len(multi), 30 * US_MIN, 2.0, window)
    return _Keys(k_exp, k_unit, k_var, k_ts, 0), multi, m_ts, wrong


def _unassigned_keys(rng: np.random.Generator, d: DefectRates, a: _Assignments, n_experiments: int, days: int,
                     t0: int, window: int) -> _Keys:
    """(experiment, unit) pairs without an assignment: half brand-new units, half known units."""
    n_assign = len(a.pair)
    n_un = round(d.unassigned_exposure * n_assign)
    cand_e = rng.integers(0, n_experiments, 2 * n_un)
    cand_u = rng.integers(0, a.n_pool, 2 * n_un)
    assigned = np.sort(a.pair)
    cand = cand_e * a.n_pool + cand_u
    hit = assigned[np.minimum(np.searchsorted(assigned, cand), n_assign - 1)] == cand
    known = np.flatnonzero(~hit)[: n_un // 2]
    u_exp = np.concatenate([cand_e[known], rng.integers(0, n_experiments, n_un - len(known))])
    u_unit = np.concatenate([cand_u[known], a.n_pool + np.arange(n_un - len(known))])
    u_var = (rng.random(n_un) * a.n_var[u_exp]).astype(np.int64)
    u_ts = t0 + rng.integers(0, days * US_DAY, n_un) + _delay(rng, n_un, 10 * US_MIN, 2.0, window)
    return _Keys(u_exp, u_unit, u_var, u_ts, n_un)


def _all_keys(keys: _Keys, multi: np.ndarray, m_ts: np.ndarray, wrong: np.ndarray, unassigned: _Keys) -> _Keys:
    return _Keys(np.concatenate([keys.exp, keys.exp[multi], unassigned.exp]),
                 np.concatenate([keys.unit, keys.unit[multi], unassigned.unit]),
                 np.concatenate([keys.var, wrong[multi], unassigned.var]),
                 np.concatenate([keys.ts, m_ts, unassigned.ts]), unassigned.n_unassigned)


def _exposure_events(rng: np.random.Generator, d: DefectRates, k: _Keys, n_events: int) -> _ExposureEvents:
    """One event per key, duplicates, then malformed events; shuffled."""
    n_keys = len(k.exp)
    dup_keys = np.flatnonzero(rng.random(n_keys) < d.duplicate_exposure)
    dup = np.repeat(dup_keys, rng.integers(1, 4, len(dup_keys)))
    style = rng.random(len(dup))  # < 0.1: exact copy; < 0.15: same time, new id
    dup_ts = k.ts[dup] + np.where(style < 0.15, 0, 1 + _delay(rng, len(dup), 5 * US_MIN, 1.5, 6 * US_HOUR))
    n_ok = n_keys + len(dup)
    n_bad = round(d.malformed_exposure * n_ok / (1 - d.malformed_exposure)) if n_keys else 0
    bad = rng.integers(0, max(n_keys, 1), n_bad)
    kind = np.concatenate([np.zeros(n_ok, np.int64), 1 + np.arange(n_bad) % 9])  # every defect kind
    src = np.concatenate([np.arange(n_keys), dup, bad])
    e_ts = np.concatenate([k.ts, dup_ts, k.ts[bad] + _delay(rng, n_bad, US_MIN, 1.0, US_HOUR)])
    n_exp_ev, n_total = len(src), max(n_events, len(src))
    ids, null_id = rng.permutation(n_total), rng.random(n_total) < 0.005  # for exposures: [:n_exp_ev]
    copy = n_keys + np.flatnonzero(style < 0.1)  # exact copies share their source's id
    ids[copy], null_id[copy] = ids[dup[style < 0.1]], null_id[dup[style < 0.1]]
    order = rng.permutation(n_exp_ev)  # shuffle exposure rows before building text
    return _ExposureEvents(src[order], kind[order], e_ts[order], np.concatenate([ids[order], ids[n_exp_ev:]]),
                           np.concatenate([null_id[order], null_id[n_exp_ev:]]), n_total)


def _exposure_text(rng: np.random.Generator, names: list[str], k: _Keys, e: _ExposureEvents) -> tuple[pa.Array, pa.Array]:
    """The exposure events' properties JSON and unit ids, with their defects (padded, empty or
    null ids, the wrong key, truncated JSON)."""
    src, kind, n = e.src, e.kind, e.n
    pad = (kind == 0) & (rng.random(n) < 0.01)
    exp_code = np.select([pad, kind == 2, kind == 3], [1, 2, 3], 0)
    var_code = np.select([pad, kind == 4, kind == 5], [1, 4, 3], 0)
    toks = lambda name: [f'"{name}"', f'" {name} "', '""', '"   "', "null"]  # noqa: E731
    exp_tok = pa.array([t for x in names for t in toks(x)]).take(pa.array(k.exp[src] * 5 + exp_code))
    var_tok = pa.array([t for v in VARIATIONS for t in toks(v)]).take(pa.array(k.var[src] * 5 + var_code))
    exp_key = pa.array(['"experiment_id": ', '"experiment": ']).take(pa.array((kind == 1).astype(np.int8)))
    platform = pa.array(["web", "ios", "android"]).take(pa.array(rng.integers(0, 3, n)))
    props = pc.binary_join_element_wise("{", exp_key, exp_tok, ', "variation_id": ', var_tok,
                                        ', "platform": "', platform, '"}', "")
    props = pc.if_else(pa.array(kind == 9), pc.utf8_slice_codeunits(props, 0, -7), props)
    space = pa.array(np.where((kind == 0) & (rng.random(n) < 0.005), " ", ""))
    unit = pc.binary_join_element_wise(space, _text(k.unit[src], "u_"), space, "")
    unit = pc.if_else(pa.array(kind == 7), pa.array(np.where(np.cumsum(kind == 7) % 2, "", "   ")), unit)
    unit = pc.if_else(pa.array(kind == 6), pa.scalar(None, pa.string()), unit)
    return props, unit


def _other_event_names(exposure_event_name: str) -> dict[str, float]:
    """The other events' names and weights, with a case variant of the exposure name (a near miss)."""
    weights = {x: q for x, q in zip(OTHER_EVENTS, OTHER_P) if x != exposure_event_name}
    for near in (exposure_event_name.upper(), exposure_event_name.lower()):
        if near != exposure_event_name:
            weights.setdefault(near, NEAR_MISS_SHARE)
            break
    return weights


def _other_events(rng: np.random.Generator, names: list[str], experiments: list[str]) -> list[str | None]:
    """``POOL`` property payloads per other event name, in the order of ``names``."""
    pool: list[str | None] = []
    for name in names:
        r = rng.integers(0, 10_000, POOL)
        pool += {
            "page_view": [f'{{"path": "/products/{x}", "referrer": "search"}}' for x in r],
            "click": [f'{{"element": "cta_{x % 40}", "page": "/p/{x}"}}' for x in r],
            "search": [f'{{"query": "item {x}", "results": {x % 50}}}' for x in r],
            "add_to_cart": [f'{{"sku": "sku_{x}", "quantity": {1 + x % 3}}}' for x in r],
            "session_start": [None if x % 2 else f'{{"device": "d{x % 7}"}}' for x in r],
            "purchase": [f'{{"order_id": "o_{x}", "amount": {x / 100:.2f}, "currency": "EUR"}}' for x in r],
        }.get(name, [f'{{"experiment_id": "{experiments[x % len(experiments)]}", "variation_id": "control"}}'
                     for x in r])
    return pool


def generate(n_events: int = 200_000, *, seed: int = 0, n_experiments: int = 20, days: int = 60,
             start: dt.date = dt.date(2026, 1, 1), exposure_share: float = 0.15,
             defects: DefectRates = DefectRates(), exposure_event_name: str = "experiment_viewed",
             grace_minutes: int = 5, max_days: int = 30) -> Dataset:
    """Generate a synthetic, shuffled event stream and assignment table.

    Args:
        n_events: Number of event rows (more only if the exposures alone need more).
        seed: Seed; the same arguments give identical tables.
        n_experiments: Number of experiments (``exp_01``...), 2-4 variations each.
        days: Assignments (and non-exposure events) spread over this many days.
        start: First UTC day.
        exposure_share: Approximate share of exposure events among all events.
        defects: Defect proportions.
        exposure_event_name: ``event_name`` of exposure events.
        grace_minutes: Grace interval used to place pre-assignment exposures.
        max_days: Exposure window used to place late exposures.

    Returns:
        The generated :class:`Dataset`.

    Raises:
        ValueError: If an argument is out of range.
    """
    _check_arguments(n_events, n_experiments, days, exposure_share, grace_minutes, max_days)
    rng, d = np.random.default_rng(seed), defects
    t0 = (start - dt.date(1970, 1, 1)).days * US_DAY
    grace, window = grace_minutes * US_MIN, max_days * US_DAY
    a = _assign(rng, d, n_events, n_experiments, days, t0, exposure_share)
    exposed, multi, m_ts, wrong = _exposed_keys(rng, d, a, grace, window)
    keys = _all_keys(exposed, multi, m_ts, wrong, _unassigned_keys(rng, d, a, n_experiments, days, t0, window))
    e = _exposure_events(rng, d, keys, n_events)
    props, unit = _exposure_text(rng, a.names, keys, e)
    return Dataset(events=_event_table(rng, e, props, unit, a, keys.n_unassigned, exposure_event_name, days, t0),
                   assignments=_assignment_table(a))


def _event_table(rng: np.random.Generator, e: _ExposureEvents, props: pa.Array, unit: pa.Array, a: _Assignments,
                 n_un: int, exposure_event_name: str, days: int, t0: int) -> pa.Table:
    """Non-exposure events for every row (case variants of the exposure name included); the
    exposure events then replace them at random positions."""
    weights = _other_event_names(exposure_event_name)
    names, p = list(weights), np.array(list(weights.values())) / sum(weights.values())
    pool = _other_events(rng, names, a.names)
    n_total, n_exp_ev = e.n_total, e.n
    name_code = rng.choice(len(names), n_total, p=p)
    props_all = pa.array(pool).take(pa.array(name_code * POOL + rng.integers(0, POOL, n_total)))
    unit_num = np.where(rng.random(n_total) < 0.85, rng.integers(0, a.n_pool, n_total),
                        a.n_pool + n_un + rng.integers(0, a.n_pool // 2 + 1, n_total))
    ts = t0 + rng.integers(0, days * US_DAY, n_total)
    is_exp = np.zeros(n_total, bool)
    is_exp[rng.choice(n_total, n_exp_ev, replace=False)] = True
    event_id, id_null = np.empty(n_total, np.int64), np.empty(n_total, bool)
    event_id[is_exp], event_id[~is_exp] = e.ids[:n_exp_ev], e.ids[n_exp_ev:]
    id_null[is_exp], id_null[~is_exp] = e.null_id[:n_exp_ev], e.null_id[n_exp_ev:]
    name_code += 1
    name_code[is_exp], ts[is_exp] = 0, e.ts
    ts_null = np.zeros(n_total, bool)
    ts_null[is_exp] = e.kind == 8
    mask = pa.array(is_exp)
    return pa.table({
        "event_id": _text(pa.array(event_id, mask=id_null), "evt_"),
        "event_name": pa.array([exposure_event_name] + names).take(pa.array(name_code)),
        "unit_id": pc.replace_with_mask(_text(unit_num, "u_"), mask, unit),
        "event_ts": pa.array(ts, type=TS, mask=ts_null),
        "properties": pc.replace_with_mask(props_all, mask, props),
    })


def _assignment_table(a: _Assignments) -> pa.Table:
    return pa.table({
        "experiment_id": pa.array(a.names).take(pa.array(a.exp)),
        "unit_id": _text(a.unit, "u_"),
        "variation_id": pa.array(VARIATIONS).take(pa.array(a.var)),
        "assigned_at": pa.array(a.at, type=TS),
    })


def _iso(table: pa.Table) -> pa.Table:
    """Replace timestamp columns by ISO-8601 text ending in ``Z``."""
    for i, f in enumerate(table.schema):
        if pa.types.is_timestamp(f.type):
            text = pc.strftime(table.column(i).cast(TS), format="%Y-%m-%dT%H:%M:%SZ")
            table = table.set_column(i, f.name, text)
    return table


def _json_token(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """JSON token of each string value (``null`` for nulls).

    Escapes backslash, quote, newline, carriage return and tab; the generator
    produces no other control characters.
    """
    for old, new in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        col = pc.replace_substring(col, old, new)
    return pc.fill_null(pc.binary_join_element_wise('"', col, '"', ""), "null")


def _write_jsonl(table: pa.Table, path: Path) -> None:
    """Write one JSON object per line, in batches of one million rows."""
    table = _iso(table)
    with open(path, "wb") as out:
        for start in range(0, table.num_rows, 1_000_000):
            part = table.slice(start, 1_000_000)
            pieces: list = []
            for i, name in enumerate(part.column_names):
                pieces += [("{" if i == 0 else ", ") + f'"{name}": ', _json_token(part.column(i))]
            lines = pc.binary_join_element_wise(*pieces, "}\n", "").combine_chunks()
            offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
            if len(lines):
                out.write(memoryview(lines.buffers()[2])[offsets[0]:offsets[-1]])


def write_dataset(ds: Dataset, directory: str | Path, fmt: str = "parquet") -> tuple[Path, Path]:
    """Write ``events.<ext>`` and ``assignments.<ext>`` into ``directory``.

    Args:
        ds: The dataset to write.
        directory: Target directory, created if missing.
        fmt: ``parquet``, ``csv`` (header row, ISO-8601 timestamps ending in
            ``Z``, null as an empty field, empty string as ``""``) or ``jsonl``
            (one JSON object per line, timestamps as ISO-8601 text).

    Returns:
        The paths of the events file and of the assignments file.

    Raises:
        ValueError: If ``fmt`` is not supported.
    """
    if fmt not in ("parquet", "csv", "jsonl"):
        raise ValueError(f"unsupported format {fmt!r}; use parquet, csv or jsonl")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / f"events.{fmt}", directory / f"assignments.{fmt}")
    for table, path in zip((ds.events, ds.assignments), paths):
        if fmt == "parquet":
            pq.write_table(table, path)
        elif fmt == "csv":
            pacsv.write_csv(_iso(table), path)
        else:
            _write_jsonl(table, path)
    return paths
