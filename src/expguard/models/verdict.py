"""One verdict per experiment, computed in one place from the health checks.

``fct_experiment_health`` holds one row per (experiment, check), its open alerts included (the
``open_alerts`` check), so an experiment's verdict is simply the worst status among its rows:
``fail`` > ``warn`` > ``pass`` > ``not_enough_data`` (an experiment none of whose checks could be
judged is ``not_enough_data``, never ``pass``), except that an experiment passes only when its
``exposure_coverage`` was judged: whether its units saw their variation at all is the one check a
healthy verdict cannot do without, so an experiment of 9 units, or with every window still open
and its share between the two thresholds, is ``not_enough_data`` rather than ``pass``. The *reason* is its first check, in the order of
:data:`~expguard.core.constants.HEALTH_CHECKS`, that has the verdict's status. The stream-wide rows
(``experiment_id`` null) form the verdict of ``None``.

``expguard run``'s summary and ``--fail-on``, ``expguard alerts``, the report's badges and
captions, and ``expguard diagnose`` all read :func:`verdicts`: no command can call an experiment
healthy while another fails it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..core.constants import HEALTH_CHECKS, HEALTH_STATUSES

PASS, WARN, FAIL, NOT_ENOUGH_DATA = "pass", "warn", "fail", "not_enough_data"
#: The check without whose judgement no experiment passes (see the module's docstring).
COVERAGE = "exposure_coverage"
#: What each verdict is called where people read it (the report's badges, the run's summary).
LABELS = {FAIL: "fail", WARN: "warn", PASS: "pass", NOT_ENOUGH_DATA: "not enough data"}


def rank(status: str) -> int:
    """How bad a status is: not_enough_data 0, pass 1, warn 2, fail 3."""
    return HEALTH_STATUSES.index(status)


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses``; ``not_enough_data`` when there is none.

    >>> worst(["pass", "not_enough_data", "warn"]), worst([])
    ('warn', 'not_enough_data')
    """
    return max(statuses, key=rank, default=NOT_ENOUGH_DATA)


def reaches(status: str, level: str) -> bool:
    """Whether ``status`` is ``level`` or worse (``level`` is ``warn`` or ``fail``).

    >>> reaches("fail", "warn"), reaches("warn", "fail"), reaches("not_enough_data", "warn")
    (True, False, False)
    """
    return rank(status) >= rank(level)


@dataclass(frozen=True)
class Verdict:
    """An experiment's verdict: its status, the check that gives it, and every check's row."""

    experiment_id: str | None
    status: str
    checks: tuple[dict, ...] = field(default=())

    @property
    def reason(self) -> dict | None:
        """The first check (in HEALTH_CHECKS order) with the verdict's status; None when it passes."""
        if self.status in (PASS, NOT_ENOUGH_DATA):
            return None
        return next(row for row in self.checks if row["status"] == self.status)

    @property
    def problems(self) -> list[dict]:
        """The checks that warn or fail, worst first, then in HEALTH_CHECKS order."""
        bad = [row for row in self.checks if row["status"] in (WARN, FAIL)]
        return sorted(bad, key=lambda row: -rank(row["status"]))

    @property
    def label(self) -> str:
        return LABELS[self.status]


def _check_order(row: dict) -> int:
    name = row["check_name"]
    return HEALTH_CHECKS.index(name) if name in HEALTH_CHECKS else len(HEALTH_CHECKS)


def verdicts(health: Iterable[dict]) -> dict[str | None, Verdict]:
    """experiment_id -> Verdict over the rows of ``fct_experiment_health``; the stream-wide
    rows under ``None``. Experiments in binary order of their ids, the stream last.

    >>> rows = [{"experiment_id": "e", "check_name": "sample_ratio", "status": "pass"},
    ...         {"experiment_id": "e", "check_name": "exposure_coverage", "status": "warn"}]
    >>> v = verdicts(rows)["e"]
    >>> v.status, v.reason["check_name"]
    ('warn', 'exposure_coverage')
    """
    grouped: dict[str | None, list[dict]] = {}
    for row in health:
        grouped.setdefault(row["experiment_id"], []).append(row)
    keys = sorted((k for k in grouped if k is not None)) + ([None] if None in grouped else [])
    result = {}
    for key in keys:
        checks = tuple(sorted(grouped[key], key=_check_order))
        status = worst(row["status"] for row in checks)
        if status == PASS and any(row["check_name"] == COVERAGE and row["status"] == NOT_ENOUGH_DATA for row in checks):
            status = NOT_ENOUGH_DATA  # nothing failed, but coverage, the one check a pass needs, was not judged
        result[key] = Verdict(key, status, checks)
    return result


def overall(health: Iterable[dict]) -> str:
    """The worst status of every row (experiments and stream): the run's verdict."""
    return worst(row["status"] for row in health)


def overall_of(found: dict[str | None, Verdict]) -> str:
    """The worst of several verdicts."""
    return worst(v.status for v in found.values())
