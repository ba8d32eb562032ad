"""expguard diagnose on another generator: the 60-day monitoring scenario (tests/monitoring).

Seven experiments of the scenario get one known regression each, and the alerts tests check
that each alerts on its day. The diagnosis of each must name the regression's cause first, and
the three healthy experiments must show nothing abnormal. The models are built once, and every
experiment is diagnosed on the same engine.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from expguard.settings.config import build_config
from expguard.apps.diagnosis import diagnose_observations
from expguard.apps.diagnosis.data import collect
from expguard.runner.pipeline import built_engine

sys.path.insert(0, str(Path(__file__).parents[1] / "monitoring"))
import scenario  # noqa: E402

EXPECTED = {
    "event_renamed": "event_renamed",
    "variation_dropped": "variation_exposures_lost",
    "mismatch_bug": "variation_mismatch",
    "double_firing": "double_firing",
    "identity_change": "identity_mismatch",
    "variation_id_lost": "malformed_exposures",
    "variation_leak": "multi_variation",
}


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """Every experiment's observations, from one build of the models."""
    built = scenario.build(scale=0.5)
    folder = tmp_path_factory.mktemp("scenario")
    pq.write_table(built.events, folder / "events.parquet")
    pq.write_table(built.assignments, folder / "assignments.parquet")
    # as of the data's end: unpinned, the stream would be stale at the time of the test run
    as_of = pc.max(built.events["event_ts"]).as_py().isoformat()
    config = build_config(events=str(folder / "events.parquet"), assignments=str(folder / "assignments.parquet"),
                          vars={"exp_health_as_of": as_of})
    experiments = [r.experiment_id for r in built.regressions] + list(built.healthy)
    with built_engine(config) as engine:
        found = {e: collect(engine, e, has_events=True, has_ingested_at=False) for e in experiments}
    return config, found


@pytest.mark.parametrize("regression", scenario.REGRESSIONS, ids=lambda r: r.kind)
def test_each_regression_is_named_first(observed, regression):
    config, found = observed
    # Double-firing does not lower the exposure rate, so the default day (the latest cohort) has
    # long absorbed it into its baseline: it is diagnosed a few days after it began.
    date = regression.date + dt.timedelta(days=3) if regression.kind == "double_firing" else None
    diagnosis = diagnose_observations(found[regression.experiment_id], config.variables, date)
    assert diagnosis.causes, diagnosis.to_json()
    assert diagnosis.causes[0]["cause"] == EXPECTED[regression.kind], diagnosis.to_json()
    assert diagnosis.causes[0]["onset"] == regression.date


def test_an_older_episode_is_pointed_at(observed):
    config, found = observed
    diagnosis = diagnose_observations(found["pricing_page"], config.variables)
    assert diagnosis.causes == []
    assert [a["alert_type"] for a in diagnosis.earlier_alerts] == ["duplicate_exposure_spike"]
    assert any("--date 2026-01-31" in note for note in diagnosis.notes)


@pytest.mark.parametrize("experiment_id", scenario.HEALTHY)
def test_healthy_experiments_show_nothing_abnormal(observed, experiment_id):
    config, found = observed
    diagnosis = diagnose_observations(found[experiment_id], config.variables)
    assert diagnosis.causes == [] and diagnosis.status == "ok", diagnosis.to_json()
