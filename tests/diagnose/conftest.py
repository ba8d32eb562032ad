"""Fixtures of the diagnose tests: each seeded dataset is built and diagnosed once per module."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import diagnose_data  # noqa: E402


# Per fault: the variables its dataset is diagnosed with, and whether ingested_at is mapped.
VARS = {"late_exposure": {"exp_exposure_max_days_after_assignment": 2}}
#: Every diagnosis as of the data's end, as the demo runs: unpinned, the stream's freshness would
#: be judged at the time of the test run, and the stream's verdict (which diagnose tells) fail.
AS_OF = {"exp_health_as_of": (dt.datetime.combine(diagnose_data.START, dt.time()) +
                              dt.timedelta(days=diagnose_data.DAYS)).isoformat()}
MAPS_INGESTED_AT = {None, "ingestion_delay"}


class Datasets:
    """Writes each dataset once and diagnoses it once (per test module)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._paths: dict[str | None, tuple[str, str]] = {}
        self._diagnoses: dict[str | None, object] = {}

    def paths(self, fault: str | None) -> tuple[str, str]:
        if fault not in self._paths:
            self._paths[fault] = diagnose_data.build(fault).write(self.root / (fault or "healthy"))
        return self._paths[fault]

    def columns(self, fault: str | None) -> dict[str, str] | None:
        return {"ingested_at": "ingested_at"} if fault in MAPS_INGESTED_AT else None

    def diagnosis(self, fault: str | None):
        import expguard

        if fault not in self._diagnoses:
            events, assignments = self.paths(fault)
            self._diagnoses[fault] = expguard.diagnose(diagnose_data.TARGET, events, assignments,
                                                       vars={**AS_OF, **VARS.get(fault, {})},
                                                       events_columns=self.columns(fault))
        return self._diagnoses[fault]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> Datasets:
    return Datasets(tmp_path_factory.mktemp("diagnose"))
