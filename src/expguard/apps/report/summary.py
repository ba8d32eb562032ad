"""The report's view of a run: one :class:`ExperimentData` per experiment, and the overview row.

Everything here is plain Python over the row dicts of :class:`~expguard.apps.report.data.RunData`,
so that the captions and charts can be tested on small hand-made rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ...core.constants import HEALTH_STATUSES, SRM_STAGES
from ...models.verdict import NOT_ENOUGH_DATA, Verdict, verdicts
from .data import RunData

#: An experiment's status is its health verdict (expguard.models.verdict), best first.
STATUSES = HEALTH_STATUSES


@dataclass
class ExperimentData:
    """One experiment's rows, each list sorted by date (and variation or stage).

    ``events`` has one row per UTC day of exposure events: ``exposure_date``, ``raw_events``
    (every exposure event of the day with this experiment, rejected ones included),
    ``rejected_events``, ``deduped_exposures`` (units x variations first exposed that day) and
    ``unassigned_exposed_units`` (units exposed without an assignment, on their first day).
    """

    experiment_id: str
    daily: list[dict] = field(default_factory=list)
    by_variation: list[dict] = field(default_factory=list)
    srm: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    undated_rejected_events: int = 0
    health: list[dict] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """The experiment's verdict: the worst of its health checks, open alerts included."""
        return verdicts(self.health).get(self.experiment_id) or Verdict(self.experiment_id, NOT_ENOUGH_DATA)

    @property
    def cohorts(self) -> list[dict]:
        """The daily rows with assigned units (the assignment cohorts)."""
        return [row for row in self.daily if row["assigned_units"] > 0]

    def variations(self) -> list[str]:
        return sorted({row["assigned_variation_id"] for row in self.by_variation})

    def horizon_complete(self) -> dict[dt.date, bool]:
        """Cohort date -> whether its alert horizon has elapsed (every variation's flag)."""
        flags: dict[dt.date, bool] = {}
        for row in self.by_variation:
            flags[row["date"]] = flags.get(row["date"], True) and bool(row["is_horizon_complete"])
        return flags

    def totals(self) -> dict[str, int]:
        """Sums of the daily counts over every cohort."""
        names = ("assigned_units", "exposed_units", "valid_exposed_units", "no_exposure_units",
                 "multi_variation_exposure_units", "variation_mismatch_units", "pre_assignment_exposure_units",
                 "exposure_outside_window_units", "mismatched_units", "exposure_events",
                 "duplicate_exposure_events", "unassigned_exposed_units")
        return {name: sum(row[name] for row in self.daily) for name in names}

    def variation_totals(self) -> dict[str, dict[str, int]]:
        """Variation -> assigned, exposed and valid exposed units over every cohort."""
        result: dict[str, dict[str, int]] = {}
        for row in self.by_variation:
            t = result.setdefault(row["assigned_variation_id"], {"assigned_units": 0, "exposed_units": 0,
                                                                  "valid_exposed_units": 0})
            for name in t:
                t[name] += row[name]
        return dict(sorted(result.items()))


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, None on a zero denominator (the contract's rule for rates, docs/contract.md)."""
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class SrmVerdict:
    """An experiment's SRM verdict: ``srm`` (at ``stage``), ``ok``, or why there is none."""

    verdict: str  # "srm", "ok" or an srm_status without a verdict
    stage: str | None
    p_value: float | None

    @property
    def label(self) -> str:
        if self.verdict == "srm":
            return f"SRM at {self.stage.replace('_', ' ')}" if self.stage else "SRM"
        if self.verdict == "ok":
            return "ok"
        return {"insufficient_units": "too few units", "single_variation": "one variation",
                "no_weights": "not tested"}.get(self.verdict, self.verdict.replace("_", " "))


def srm_verdict(rows: list[dict]) -> SrmVerdict:
    """The verdict of the earliest stage with an SRM; else of the latest stage with a verdict.

    >>> srm_verdict([{"stage": "exposed", "stage_order": 3, "srm_status": "srm", "p_value": 1e-9,
    ...               "first_srm_stage": "exposed"}]).label
    'SRM at exposed'
    """
    by_stage: dict[str, dict] = {}
    for row in sorted(rows, key=lambda r: r["stage_order"]):
        by_stage.setdefault(row["stage"], row)
    for stage in SRM_STAGES:
        row = by_stage.get(stage)
        if row is not None and row["srm_status"] == "srm":
            return SrmVerdict("srm", stage, row["p_value"])
    for stage in reversed(SRM_STAGES):
        row = by_stage.get(stage)
        if row is not None and row["srm_status"] == "ok":
            return SrmVerdict("ok", stage, row["p_value"])
    last = by_stage.get("valid_exposed") or next(iter(by_stage.values()), None)
    return SrmVerdict(last["srm_status"] if last else "no_data", None, None)


def split_experiments(run: RunData) -> list[ExperimentData]:
    """One ExperimentData per experiment of the daily model, in binary order of the ids."""
    experiments = {eid: ExperimentData(eid) for eid in run.experiment_ids()}

    def group(rows: list[dict], attribute: str, key) -> None:
        for row in sorted((r for r in rows if r["experiment_id"] in experiments), key=key):
            getattr(experiments[row["experiment_id"]], attribute).append(row)

    group([r for r in run.daily if r["date"] is not None], "daily", lambda r: r["date"])
    group(run.by_variation, "by_variation", lambda r: (r["date"], r["assigned_variation_id"]))
    group(run.srm, "srm", lambda r: (r["stage_order"], r["variation_id"]))
    group(run.alerts, "alerts", lambda r: (r["date"], r["alert_type"]))
    group(run.health, "health", lambda r: 0)
    days: dict[str, dict[dt.date, dict]] = {eid: {} for eid in experiments}

    def day(experiment_id: str, date: dt.date) -> dict:
        return days[experiment_id].setdefault(date, {"exposure_date": date, "raw_events": 0, "rejected_events": 0,
                                                     "deduped_exposures": 0, "unassigned_exposed_units": 0})

    for row in run.rejections:
        if row["experiment_id"] not in experiments:
            continue
        if row["exposure_date"] is None:
            experiments[row["experiment_id"]].undated_rejected_events += row["rejected_exposure_events"]
            continue
        d = day(row["experiment_id"], row["exposure_date"])
        d["raw_events"] += row["exposure_events"]
        d["rejected_events"] += row["rejected_exposure_events"]
    for row in run.exposures_daily:
        if row["experiment_id"] in experiments and row["exposure_date"] is not None:
            day(row["experiment_id"], row["exposure_date"])["deduped_exposures"] += row["deduped_exposures"]
    for row in run.daily:
        if row["experiment_id"] in experiments and row["date"] is not None and row["unassigned_exposed_units"]:
            day(row["experiment_id"], row["date"])["unassigned_exposed_units"] += row["unassigned_exposed_units"]
    for eid, by_date in days.items():
        experiments[eid].events = [by_date[d] for d in sorted(by_date)]
    return list(experiments.values())


def overview_row(e: ExperimentData) -> dict:
    """The overview table's row for one experiment."""
    t = e.totals()
    srm = srm_verdict(e.srm)
    severities = [a["severity"] for a in e.alerts]
    verdict = e.verdict
    return {
        "experiment_id": e.experiment_id,
        "status": verdict.status,
        "reason": verdict.reason,
        "critical_alerts": severities.count("critical"),
        "warning_alerts": severities.count("warning"),
        "last_alert_date": max((a["date"] for a in e.alerts), default=None),
        "assigned_units": t["assigned_units"],
        "valid_exposed_units": t["valid_exposed_units"],
        "exposure_rate": ratio(t["valid_exposed_units"], t["assigned_units"]),
        "mismatch_rate": ratio(t["mismatched_units"], t["exposed_units"]),
        "multi_variation_rate": ratio(t["multi_variation_exposure_units"], t["exposed_units"]),
        "srm": srm,
    }
