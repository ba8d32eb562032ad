"""What a diagnosis reports: the causes it knows, and the findings and check results it builds.

Every cause has a stable id (the ``cause`` key of the JSON), a title, the order in which it is
preferred when two are equally strong (the more specific first), and what to check next.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# The five runbook steps, in order: (name, title).
CHECKS = (
    ("event_name", "exposure event name"),
    ("ingestion", "ingestion and partitions"),
    ("status_spikes", "exposure status spikes"),
    ("raw_vs_deduped", "raw vs deduped exposures"),
    ("assignments", "assignment volume and split"),
)
CHECK_TITLES = dict(CHECKS)

# Check statuses: ``ok`` (judged, nothing found), ``abnormal`` (something found, said in the
# summary), ``skipped`` (not run: its input was not given), ``not_judged`` (run, but too few days
# before the episode to judge against).
OK, ABNORMAL, SKIPPED, NOT_JUDGED = "ok", "abnormal", "skipped", "not_judged"


@dataclass(frozen=True)
class Cause:
    """One cause that a diagnosis can name."""

    title: str
    next_steps: tuple[str, ...]


# In preference order: when two findings are equally strong, the earlier (more specific) wins.
CAUSES: dict[str, Cause] = {
    "missing_partition": Cause("Missing event partitions", (
        "List the event table's partitions (or the loader's runs) for the days named: a load that failed or was skipped",
        "Backfill the missing data and re-run; the cohorts of those days are unreliable until then",
    )),
    "ingestion_delay": Cause("Ingestion delay", (
        "Check the ingestion pipeline's backlog (queue lag, loader job runs) for the days named",
        "Re-run once ingestion has caught up: the young cohorts' exposure rates recover when the late events land",
    )),
    "event_name_wrong": Cause("Exposure event name not in the stream", (
        "Check exp_exposure_event_name against the tracking plan: no event of that name was logged in these days",
        "Set it to the name the clients send (the nearest names are listed) and re-run",
    )),
    "event_name_wrong_for_experiment": Cause("This experiment's exposures carry another event name", (
        "Check which event the client sends for this experiment (the names carrying its id are listed): an SDK "
        "integration or tracking plan that names its exposure differently from the other experiments'",
        "Make the client send the configured name, or set exp_exposure_event_name to both names "
        "(--var 'exp_exposure_event_name=[\"CONFIGURED\",\"OTHER\"]'), and re-run",
    )),
    "event_renamed": Cause("Exposure event renamed", (
        "Confirm the rename in the client's release notes or tracking plan",
        "Set exp_exposure_event_name to the new name (--var exp_exposure_event_name=NEW), or to both names across "
        "the change (--var 'exp_exposure_event_name=[\"OLD\",\"NEW\"]'), or restore the old name in the client, and "
        "re-run: the renamed events are in the stream, so the exposures come back",
    )),
    "event_renamed_partial": Cause("Exposure event renamed on part of the traffic", (
        "Find which platform or app version sends the new name (group its events by a platform property)",
        "Make that client send the configured name; until then the experiment under-counts its exposures there",
    )),
    "identity_mismatch": Cause("Exposures logged under another identity", (
        "Compare unit_id in the exposure events with the assignments' unit ids (logged-out or anonymous ids, a new id scheme)",
        "Check the client release that went out on the onset day",
    )),
    "variation_exposures_lost": Cause("One variation's exposures lost", (
        "Check the exposure tracking call on the variation that lost its exposures (a page or flag path that skips it)",
        "Do not read the experiment's results: a sample-ratio mismatch invalidates the comparison",
    )),
    "clock_skew": Cause("Exposures logged before assignment (clock skew)", (
        "Compare the exposure events' timestamps with a server receive time: a client clock behind the server",
        "Prefer server-side timestamps; a small, known skew can be absorbed by "
        "exp_allow_pre_assignment_exposure_grace_minutes",
    )),
    "late_exposure": Cause("Late exposures", (
        "Look for exposure events sent in batches or from an offline queue, days after the view",
        "If late delivery is expected, raise exp_exposure_max_days_after_assignment",
    )),
    "double_firing": Cause("Exposure event double-firing", (
        "Find the release that fires the exposure event more than once per view (on every render or retry)",
        "The deduped models are unaffected, but anything counting raw exposure events is inflated",
    )),
    "assignment_volume_shift": Cause("Assignment volume shift", (
        "Check the assignment service for a targeting or traffic change on the onset day "
        "(a new surface assigning units that never reach the experiment)",
        "Compare assigned and exposed units per day: assigned units that are never exposed dilute the exposure rate",
    )),
    "variation_mismatch": Cause("Exposures for the wrong variation", (
        "Check that the client reads the assigned variation (a cached variation, a renamed variation id)",
    )),
    "multi_variation": Cause("Units exposed to several variations", (
        "Check for identity resets or a bucketing change that re-randomizes units",
    )),
    "malformed_exposures": Cause("Malformed exposure events", (
        "Look at stg_experiment_exposures.reject_reason for the days named: which field stopped arriving",
    )),
    "exposure_events_missing": Cause("Exposure events missing (cause not identified)", (
        "No rename, missing partition, ingestion delay or identity change explains it: check the client release "
        "that went out on the onset day, and whether the exposure call still fires",
        "Group the raw exposure events of this experiment by platform or app version to find where they stopped",
    )),
}
PRIORITY = tuple(CAUSES)
MAX_SCORE = 10.0


def persistence(days: int) -> float:
    """How much the number of affected days supports a finding: ``1 - 0.5 ** days`` (one day
    0.5, two 0.75, three 0.875, a week 0.99); 1 for a finding that is no series of days (a
    fact of the whole stream, such as an event name that never occurs).

    >>> persistence(1), persistence(3), persistence(0)
    (0.5, 0.875, 1.0)
    """
    return 1.0 - 0.5 ** days if days else 1.0


@dataclass
class Finding:
    """One abnormality, attributed to a cause, with its evidence."""

    cause: str
    check: str
    summary: str
    days: list[dt.date] = field(default_factory=list)
    onset: dt.date | None = None
    strength: float = 0.0
    evidence: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    symptom: bool = False

    @property
    def score(self) -> float:
        """The evidence for the finding, from 0 to MAX_SCORE: its effect (the strength, in allowed
        changes or decades of corrected p-value beyond the threshold, capped at MAX_SCORE) times
        its :func:`persistence` over the affected days. One borderline day scores about 0.5;
        a large effect over several days about 10.

        >>> Finding("c", "x", "", days=[dt.date(2026, 1, 1)], strength=1.2).score
        0.6
        >>> Finding("c", "x", "", days=[dt.date(2026, 1, d) for d in range(1, 8)], strength=25.0).score
        9.92
        """
        return round(min(self.strength, MAX_SCORE) * persistence(len(self.days)), 2)


@dataclass
class CheckResult:
    """The result of one runbook step."""

    name: str
    status: str
    summary: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return CHECK_TITLES[self.name]
