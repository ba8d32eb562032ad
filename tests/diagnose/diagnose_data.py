"""Seeded 40-day datasets for the diagnose tests: one healthy stream, or exactly one fault.

Vectorised (numpy + pyarrow), after tests/monitoring/scenario.py. Two experiments assign units
every day (``checkout``, the one diagnosed, and ``search``); 92% of their units are exposed, most
within a minute of assignment and a slow 5% within hours; a little healthy noise is always there
(3% of exposures fire again, 0.2% mismatched and 0.2% multi-variation units, unassigned
exposures at 0.5% of the day's assignments, 0.5% of events without a variation_id). Each exposure
event carries a ``platform`` (web, ios, android: a third each, fixed per unit), and every event an
``ingested_at`` a few minutes after ``event_ts``. Other events (page_view, click, add_to_cart)
make up half of the stream, and a rare look-alike ``Experiment_Viewed`` (debug logging) carries
the experiment's id all along: it must never be taken for a rename.

A fault changes the stream from midnight of its day on (:data:`FAULT_DAY`, or its own day). The
snapshot is taken at the midnight that ends the last day (by ``ingested_at`` when the fault is an
ingestion delay: what has not reached the warehouse is not there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

US_SECOND = 1_000_000
US_MINUTE = 60 * US_SECOND
US_HOUR = 60 * US_MINUTE
US_DAY = 24 * US_HOUR
START = dt.date(2026, 1, 1)
DAYS = 40
EVENT_NAME = "experiment_viewed"
TARGET = "checkout"
EXPERIMENTS = ((TARGET, ("control", "treatment"), 400), ("search", ("control", "treatment"), 300))
PLATFORMS = ("web", "ios", "android")
FAULT_DAY = 32
MISSING_DAY = 34
LATE_FAULT_DAY = 28
INGESTION_FAULT_DAY = 33
RENAMED = "experimentViewed"
RENAMED_PARTIAL = "Experiment Viewed"

FAULTS = ("event_renamed", "event_renamed_partial", "missing_partition", "ingestion_delay", "clock_skew",
          "late_exposure", "double_firing", "variation_exposures_lost", "identity_mismatch",
          "assignment_volume_shift")


@dataclass(frozen=True)
class Dataset:
    events: pa.Table
    assignments: pa.Table
    fault: str | None

    def write(self, folder: Path) -> tuple[str, str]:
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(self.events, folder / "events.parquet")
        pq.write_table(self.assignments, folder / "assignments.parquet")
        return str(folder / "events.parquet"), str(folder / "assignments.parquet")


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def _lognormal(rng: np.random.Generator, n: int, median_us: float, sigma: float, cap_us: int) -> np.ndarray:
    return np.minimum(rng.lognormal(np.log(median_us), sigma, n), cap_us).astype(np.int64)


def _text(prefix: str, codes: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(codes), pa.string()), "")


def build(fault: str | None = None, seed: int = 7) -> Dataset:
    """The healthy stream, or the stream with ``fault`` (one of :data:`FAULTS`)."""
    if fault is not None and fault not in FAULTS:
        raise ValueError(fault)
    rng = np.random.default_rng(seed)
    t0 = (START - dt.date(1970, 1, 1)).days * US_DAY
    fault_at = t0 + {"late_exposure": LATE_FAULT_DAY, "ingestion_delay": INGESTION_FAULT_DAY}.get(fault, FAULT_DAY) * US_DAY
    a_parts, e_parts = [], []
    unit_base = 0
    for index, (experiment, variations, daily) in enumerate(EXPERIMENTS):
        target = experiment == TARGET
        counts = rng.poisson(daily, DAYS)
        n = int(counts.sum())
        a_day = np.repeat(np.arange(DAYS), counts)
        assigned_at = t0 + a_day * US_DAY + rng.integers(0, US_DAY, n)
        variation = rng.integers(0, len(variations), n)
        unit = unit_base + np.arange(n)
        exposed = rng.random(n) >= 0.08
        if target and fault == "assignment_volume_shift":
            # From the fault day on, a new surface assigns as many units again, none ever exposed.
            extra = rng.poisson(daily, DAYS)
            extra[:FAULT_DAY] = 0
            m = int(extra.sum())
            x_day = np.repeat(np.arange(DAYS), extra)
            assigned_at = np.concatenate([assigned_at, t0 + x_day * US_DAY + rng.integers(0, US_DAY, m)])
            variation = np.concatenate([variation, rng.integers(0, len(variations), m)])
            unit = np.concatenate([unit, unit_base + n + np.arange(m)])
            exposed = np.concatenate([exposed, np.zeros(m, bool)])
            n += m
        a_parts.append({"experiment": np.full(n, index), "unit": unit, "variation": variation, "assigned_at": assigned_at})

        idx = np.flatnonzero(exposed)
        m = len(idx)
        slow = rng.random(m) < 0.05
        delay = np.where(slow, _lognormal(rng, m, 3 * US_HOUR, 1.2, 20 * US_DAY), _lognormal(rng, m, 30 * US_SECOND, 1.5, US_DAY))
        e_unit, e_var, e_ts = unit[idx], variation[idx].copy(), assigned_at[idx] + delay
        mismatch = rng.random(m) < 0.002
        e_var[mismatch] = (e_var[mismatch] + 1) % len(variations)
        multi = np.flatnonzero(rng.random(m) < 0.002)
        again = np.flatnonzero(rng.random(m) < 0.03)
        unit_all = np.concatenate([e_unit, e_unit[multi], e_unit[again]])
        var_all = np.concatenate([e_var, (e_var[multi] + 1) % len(variations), e_var[again]])
        ts_all = np.concatenate([e_ts, e_ts[multi] + _lognormal(rng, len(multi), 10 * US_MINUTE, 1.0, US_DAY),
                                 e_ts[again] + rng.integers(1, 10 * US_MINUTE, len(again))])
        # unassigned exposures: 0.5% of each day's assignments (the health checks warn from 1%)
        n_un = rng.poisson(0.005 * counts)
        u_day = np.repeat(np.arange(DAYS), n_un)
        u_unit = unit_base + 5_000_000 + np.arange(len(u_day))
        unit_all = np.concatenate([unit_all, u_unit])
        var_all = np.concatenate([var_all, rng.integers(0, len(variations), len(u_day))])
        ts_all = np.concatenate([ts_all, t0 + u_day * US_DAY + rng.integers(0, US_DAY, len(u_day))])
        k = len(unit_all)
        e_parts.append({"experiment": np.full(k, index), "unit": unit_all, "variation": var_all, "ts": ts_all,
                        "name": np.zeros(k, np.int8), "anonymous": np.zeros(k, bool)})
        unit_base += 10_000_000

    e = {key: np.concatenate([p[key] for p in e_parts]) for key in e_parts[0]}
    platform = (e["unit"] * 2654435761 % 1_000_003) % 3
    target_index = 0
    hit = (e["experiment"] == target_index) & (e["ts"] >= fault_at)
    names = [EVENT_NAME, RENAMED, RENAMED_PARTIAL]
    if fault == "event_renamed":
        e["name"][e["ts"] >= fault_at] = 1
    elif fault == "event_renamed_partial":
        e["name"][(e["ts"] >= fault_at) & (platform == 1)] = 2
    elif fault == "clock_skew":
        # the android client's clock runs two hours behind: its exposures precede the assignment
        e["ts"] = np.where(hit & (platform == 2), e["ts"] - 2 * US_HOUR, e["ts"])
    elif fault == "late_exposure":
        # half of the units' exposures are sent three to four days late (an offline queue)
        late = hit & ((e["unit"] * 40503 % 1_000_003) % 2 == 0)
        e["ts"] = np.where(late, e["ts"] + 3 * US_DAY + rng.integers(0, US_DAY, len(late)), e["ts"])
    elif fault == "double_firing":
        rows = np.flatnonzero(hit)
        copies = {key: values[rows].copy() for key, values in e.items()}
        copies["ts"] += rng.integers(1, 5 * US_SECOND, len(rows))
        e = {key: np.concatenate([e[key], copies[key]]) for key in e}
    elif fault == "variation_exposures_lost":
        keep = ~(hit & (e["variation"] == 1))
        e = {key: values[keep] for key, values in e.items()}
    elif fault == "identity_mismatch":
        e["anonymous"] = hit & ((e["unit"] * 40503 % 1_000_003) % 2 == 0)
    e_count = len(e["ts"])
    platform = (e["unit"] * 2654435761 % 1_000_003) % 3
    no_variation = rng.random(e_count) < 0.005

    experiment_names = pa.array([x[0] for x in EXPERIMENTS]).take(pa.array(e["experiment"]))
    variation_names = pa.array([v for x in EXPERIMENTS for v in x[1]]).take(pa.array(e["experiment"] * 2 + e["variation"]))
    var_part = pc.if_else(pa.array(no_variation), '"variation_id": null',
                          pc.binary_join_element_wise('"variation_id": "', variation_names, '"', ""))
    properties = pc.binary_join_element_wise('{"experiment_id": "', experiment_names, '", ', var_part,
                                             ', "platform": "', pa.array(PLATFORMS).take(pa.array(platform)), '"}', "")
    exposure = {
        "event_name": pa.array(names).take(pa.array(e["name"])),
        "unit_id": pc.if_else(pa.array(e["anonymous"]), _text("anon-", e["unit"]), _text("u", e["unit"])),
        "event_ts": e["ts"],
        "properties": properties,
    }
    # other events: page views, clicks and carts, about as many as the exposures; and the rare
    # look-alike debug event that carries the experiment's id
    n_other = rng.poisson(700, DAYS)
    o_day = np.repeat(np.arange(DAYS), n_other)
    o_ts = t0 + o_day * US_DAY + rng.integers(0, US_DAY, len(o_day))
    o_name = pa.array(["page_view", "click", "add_to_cart"]).take(pa.array(rng.choice(3, len(o_day), p=[0.6, 0.3, 0.1])))
    n_debug = rng.poisson(3, DAYS)
    d_day = np.repeat(np.arange(DAYS), n_debug)
    d_ts = t0 + d_day * US_DAY + rng.integers(0, US_DAY, len(d_day))
    other = {
        "event_name": pa.concat_arrays([o_name, pa.array(["Experiment_Viewed"] * len(d_day))]),
        "unit_id": _text("u", rng.integers(0, 20_000, len(o_day) + len(d_day))),
        "event_ts": np.concatenate([o_ts, d_ts]),
        "properties": pa.concat_arrays([pa.array(['{"path": "/p/1"}'] * len(o_day)),
                                        pa.array([f'{{"experiment_id": "{TARGET}", "debug": true}}'] * len(d_day))]),
    }
    ts = np.concatenate([exposure["event_ts"], other["event_ts"]])
    n_all = len(ts)
    lag = _lognormal(rng, n_all, 2 * US_MINUTE, 1.0, 6 * US_HOUR)
    if fault == "ingestion_delay":
        lag = np.where(ts >= fault_at, _lognormal(rng, n_all, 2.5 * US_DAY, 0.25, 6 * US_DAY), lag)
    ingested = ts + lag
    end = t0 + DAYS * US_DAY
    keep = (ts < end) & ((ingested < end) if fault == "ingestion_delay" else True)
    if fault == "missing_partition":
        keep &= (ts < t0 + MISSING_DAY * US_DAY) | (ts >= t0 + (MISSING_DAY + 1) * US_DAY)
    order = rng.permutation(n_all)
    order = order[keep[order]]
    events = pa.table({
        "event_id": _text("e", np.arange(len(order))),
        "event_name": pa.concat_arrays([exposure["event_name"], other["event_name"]]).take(pa.array(order)),
        "unit_id": pa.concat_arrays([exposure["unit_id"], other["unit_id"]]).take(pa.array(order)),
        "event_ts": pa.array(ts[order], type=pa.timestamp("us")),
        "properties": pa.concat_arrays([exposure["properties"], other["properties"]]).take(pa.array(order)),
        "ingested_at": pa.array(ingested[order], type=pa.timestamp("us")),
    })
    a = {key: np.concatenate([p[key] for p in a_parts]) for key in a_parts[0]}
    assignments = pa.table({
        "experiment_id": pa.array([x[0] for x in EXPERIMENTS]).take(pa.array(a["experiment"])),
        "unit_id": _text("u", a["unit"]),
        "variation_id": pa.array([v for x in EXPERIMENTS for v in x[1]]).take(pa.array(a["experiment"] * 2 + a["variation"])),
        "assigned_at": pa.array(a["assigned_at"], type=pa.timestamp("us")),
    })
    return Dataset(events, assignments, fault)
