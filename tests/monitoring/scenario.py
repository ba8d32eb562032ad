"""A seeded 60-day monitoring scenario: healthy experiments, and known regressions on known days.

Fully vectorised (numpy + pyarrow). Every experiment assigns about ``daily_units`` units a day
(fewer at weekends), and its units are exposed like a healthy product's: 92% of them, most
within a minute of assignment, a slow 5% within hours or days; a little healthy noise is
always there (0.2% mismatched and 0.2% multi-variation units, 3% of exposures firing again,
unassigned exposures at 0.5% of the day's assignments, 0.5% of events without a variation_id,
and, across all experiments, events without an experiment_id).

Each :class:`Regression` starts at midnight UTC of its day, as a deploy would, and changes the
exposure events of one experiment logged from then on. The data is a snapshot taken at the
midnight that ends the last day: nothing later exists, so the youngest cohorts are still
receiving exposures, as in production.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

US_SECOND = 1_000_000
US_MINUTE = 60 * US_SECOND
US_HOUR = 60 * US_MINUTE
US_DAY = 24 * US_HOUR
START = dt.date(2026, 1, 1)
DAYS = 60
EVENT_NAME = "experiment_viewed"


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    variations: tuple[str, ...]
    split: tuple[float, ...]
    daily_units: int = 1500
    start_day: int = 0


@dataclass(frozen=True)
class Regression:
    """``kind`` changes ``experiment_id``'s exposure events logged from midnight of ``day`` on;
    ``alert_type`` is the alert it must raise on that day."""

    kind: str
    experiment_id: str
    day: int
    alert_type: str

    @property
    def date(self) -> dt.date:
        return START + dt.timedelta(days=self.day)


EXPERIMENTS = (
    # regressed (each healthy before its regression day)
    Experiment("checkout_button", ("control", "treatment"), (0.5, 0.5)),
    Experiment("search_ranking", ("control", "treatment"), (0.5, 0.5)),
    Experiment("onboarding_flow", ("control", "treatment"), (0.5, 0.5)),
    Experiment("pricing_page", ("control", "treatment", "treatment_b"), (0.34, 0.33, 0.33)),
    Experiment("recommendations", ("control", "treatment"), (0.5, 0.5)),
    Experiment("signup_form", ("control", "treatment"), (0.5, 0.5)),
    Experiment("homepage_hero", ("control", "treatment"), (0.5, 0.5)),
    # healthy throughout: unequal split, four variations, one starting late
    Experiment("email_digest", ("control", "treatment"), (0.8, 0.2)),
    Experiment("mobile_nav", ("control", "a", "b", "c"), (0.25, 0.25, 0.25, 0.25)),
    Experiment("late_starter", ("control", "treatment"), (0.5, 0.5), start_day=25),
)

REGRESSIONS = (
    Regression("event_renamed", "checkout_button", 40, "exposure_rate_drop"),
    Regression("variation_dropped", "search_ranking", 35, "srm"),
    Regression("mismatch_bug", "onboarding_flow", 45, "mismatch_rate_rise"),
    Regression("double_firing", "pricing_page", 30, "duplicate_exposure_spike"),
    Regression("identity_change", "recommendations", 50, "unassigned_exposure_spike"),
    Regression("variation_id_lost", "signup_form", 42, "rejected_exposure_spike"),
    Regression("variation_leak", "homepage_hero", 38, "multi_variation_rate_rise"),
)

HEALTHY = tuple(e.experiment_id for e in EXPERIMENTS if e.experiment_id not in {r.experiment_id for r in REGRESSIONS})


@dataclass(frozen=True)
class Scenario:
    events: pa.Table
    assignments: pa.Table
    regressions: tuple[Regression, ...]
    healthy: tuple[str, ...]


def _lognormal(rng: np.random.Generator, n: int, median_us: float, sigma: float, cap_us: int) -> np.ndarray:
    return np.minimum(rng.lognormal(np.log(median_us), sigma, n), cap_us).astype(np.int64)


def _other(rng: np.random.Generator, variation: np.ndarray, n_variations: int) -> np.ndarray:
    """Another variation than ``variation``, uniformly."""
    return (variation + 1 + rng.integers(0, n_variations - 1, len(variation))) % n_variations


def _share(codes: np.ndarray, share: float, salt: int) -> np.ndarray:
    """A fixed pseudo-random ``share`` of the codes (the same code always gets the same answer)."""
    return (codes * 2654435761 + salt) % 1_000_003 < share * 1_000_003


class _Events:
    """Columnar exposure events of the scenario, before rendering to text."""

    FIELDS = ("experiment", "unit", "variation", "ts", "renamed", "anonymous", "no_variation", "no_experiment")

    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, experiment: np.ndarray, unit: np.ndarray, variation: np.ndarray, ts: np.ndarray) -> None:
        n = len(unit)
        self.parts.append({
            "experiment": np.broadcast_to(experiment, n).astype(np.int64), "unit": unit, "variation": variation,
            "ts": ts, **{name: np.zeros(n, bool) for name in self.FIELDS[4:]},
        })

    def columns(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate([p[name] for p in self.parts]) for name in self.FIELDS}


def _healthy_experiment(rng: np.random.Generator, index: int, spec: Experiment, unit_base: int, t0: int,
                        events: _Events) -> dict[str, np.ndarray]:
    day_factor = np.array([0.8 if (START + dt.timedelta(days=d)).weekday() >= 5 else 1.0 for d in range(DAYS)])
    counts = rng.poisson(spec.daily_units * day_factor)
    counts[: spec.start_day] = 0
    n = int(counts.sum())
    day = np.repeat(np.arange(DAYS), counts)
    assigned_at = t0 + day * US_DAY + rng.integers(0, US_DAY, n)
    k = len(spec.variations)
    variation = rng.choice(k, n, p=np.array(spec.split) / sum(spec.split))
    unit = unit_base + np.arange(n)

    exposed = np.flatnonzero(rng.random(n) >= 0.08)
    m = len(exposed)
    slow = rng.random(m) < 0.05
    delay = np.where(slow, _lognormal(rng, m, 3 * US_HOUR, 1.2, 20 * US_DAY), _lognormal(rng, m, 30 * US_SECOND, 1.5, US_DAY))
    e_unit, e_var, e_ts = unit[exposed], variation[exposed].copy(), assigned_at[exposed] + delay
    mismatch = rng.random(m) < 0.002
    e_var[mismatch] = _other(rng, e_var[mismatch], k)
    events.add(index, e_unit, e_var, e_ts)
    multi = np.flatnonzero(rng.random(m) < 0.002)
    events.add(index, e_unit[multi], _other(rng, e_var[multi], k), e_ts[multi] + _lognormal(rng, len(multi), 10 * US_MINUTE, 1.0, US_DAY))
    again = np.flatnonzero(rng.random(m) < 0.03)
    again = np.repeat(again, rng.integers(1, 3, len(again)))
    events.add(index, e_unit[again], e_var[again], e_ts[again] + rng.integers(0, 10 * US_MINUTE, len(again)))
    # unassigned exposures: units whose assignment is missing, 0.5% of each day's assignments (the
    # health checks warn from 1%), in the split
    n_un = rng.poisson(0.005 * counts)
    u_day = np.repeat(np.arange(DAYS), n_un)
    u_unit = unit_base + n + np.arange(len(u_day))
    u_var = rng.choice(k, len(u_day), p=np.array(spec.split) / sum(spec.split))
    events.add(index, u_unit, u_var, t0 + u_day * US_DAY + rng.integers(0, US_DAY, len(u_day)))
    return {"experiment": np.full(n, index), "unit": unit, "variation": variation, "assigned_at": assigned_at}


def _inject(rng: np.random.Generator, cols: dict[str, np.ndarray], regression: Regression, index: int,
            n_variations: int, t0: int) -> dict[str, np.ndarray]:
    """Apply one regression to the columns (events of experiment ``index`` at or after its day)."""
    hit = (cols["experiment"] == index) & (cols["ts"] >= t0 + regression.day * US_DAY)
    kind = regression.kind
    if kind == "event_renamed":
        cols["renamed"] |= hit
    elif kind == "variation_dropped":
        keep = ~(hit & (cols["variation"] == 1))
        cols = {name: values[keep] for name, values in cols.items()}
    elif kind == "mismatch_bug":
        flip = hit & (cols["variation"] == 1) & _share(cols["unit"], 0.3, 1)
        cols["variation"] = np.where(flip, 0, cols["variation"])
    elif kind == "double_firing":
        rows = np.flatnonzero(hit)
        copies = {name: values[rows].copy() for name, values in cols.items()}
        copies["ts"] += rng.integers(1, 5 * US_SECOND, len(rows))
        cols = {name: np.concatenate([cols[name], copies[name]]) for name in cols}
    elif kind == "identity_change":
        cols["anonymous"] |= hit & _share(cols["unit"], 0.4, 2)
    elif kind == "variation_id_lost":
        cols["no_variation"] |= hit & (rng.random(len(hit)) < 0.4)
    elif kind == "variation_leak":
        rows = np.flatnonzero(hit & _share(cols["unit"], 0.05, 3))
        leak = {name: values[rows].copy() for name, values in cols.items()}
        leak["variation"] = (leak["variation"] + 1) % n_variations
        leak["ts"] += US_MINUTE
        cols = {name: np.concatenate([cols[name], leak[name]]) for name in cols}
    else:  # pragma: no cover
        raise ValueError(kind)
    return cols


def _text(prefix: str, codes: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(codes), pa.string()), "")


def build(seed: int = 20260101, experiments: tuple[Experiment, ...] = EXPERIMENTS,
          regressions: tuple[Regression, ...] = REGRESSIONS, scale: float = 1.0) -> Scenario:
    """Build the scenario's events and assignments (``scale`` multiplies every daily volume)."""
    rng = np.random.default_rng(seed)
    t0 = (START - dt.date(1970, 1, 1)).days * US_DAY
    events = _Events()
    assignments = []
    base = 0
    for index, spec in enumerate(experiments):
        spec = Experiment(spec.experiment_id, spec.variations, spec.split, round(spec.daily_units * scale), spec.start_day)
        assignments.append(_healthy_experiment(rng, index, spec, base, t0, events))
        base += 10_000_000
    cols = events.columns()
    n = len(cols["ts"])
    cols["no_variation"] |= rng.random(n) < 0.005
    cols["no_experiment"] |= rng.random(n) < 0.002
    names = [e.experiment_id for e in experiments]
    for regression in regressions:
        index = names.index(regression.experiment_id)
        cols = _inject(rng, cols, regression, index, len(experiments[index].variations), t0)
    # the snapshot: nothing logged after the midnight that ends the last day
    keep = cols["ts"] < t0 + DAYS * US_DAY
    cols = {name: values[keep] for name, values in cols.items()}
    order = rng.permutation(len(cols["ts"]))
    cols = {name: values[order] for name, values in cols.items()}

    n = len(cols["ts"])
    variation_names = [list(e.variations) + [""] * (4 - len(e.variations)) for e in experiments]
    var_text = pa.array([v for row in variation_names for v in row]).take(pa.array(cols["experiment"] * 4 + cols["variation"]))
    exp_text = pa.array(names).take(pa.array(cols["experiment"]))
    exp_part = pc.if_else(pa.array(cols["no_experiment"]), "",
                          pc.binary_join_element_wise('"experiment_id": "', exp_text, '", ', ""))
    var_part = pc.if_else(pa.array(cols["no_variation"]), '"variation_id": null',
                          pc.binary_join_element_wise('"variation_id": "', var_text, '"', ""))
    properties = pc.binary_join_element_wise("{", exp_part, var_part, ', "platform": "web"}', "")
    unit = pc.if_else(pa.array(cols["anonymous"]), _text("anon-", cols["unit"]), _text("u", cols["unit"]))
    event_table = pa.table({
        "event_id": _text("e", np.arange(n)),
        "event_name": pc.if_else(pa.array(cols["renamed"]), "experiment_view", EVENT_NAME),
        "unit_id": unit,
        "event_ts": pa.array(cols["ts"], type=pa.timestamp("us")),
        "properties": properties,
    })
    a = {name: np.concatenate([part[name] for part in assignments]) for name in assignments[0]}
    a_var = pa.array([v for row in variation_names for v in row]).take(pa.array(a["experiment"] * 4 + a["variation"]))
    assignment_table = pa.table({
        "experiment_id": pa.array(names).take(pa.array(a["experiment"])),
        "unit_id": _text("u", a["unit"]),
        "variation_id": a_var,
        "assigned_at": pa.array(a["assigned_at"], type=pa.timestamp("us")),
    })
    regressed = {r.experiment_id for r in regressions}
    healthy = tuple(e.experiment_id for e in experiments if e.experiment_id not in regressed)
    return Scenario(event_table, assignment_table, tuple(regressions), healthy)
