"""The 60-day scenario (scenario.py): every injected regression alerts on the first day it is
visible, and the healthy experiments and days raise no alert."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import expguard
import scenario
from expguard.core.constants import FCT_ALERTS, FCT_DAILY_BY_VARIATION, FCT_SRM
from expguard.engines import ENGINES

pytestmark = pytest.mark.slow


def _run(directory: Path, data: scenario.Scenario, engine: str = "duckdb") -> dict[str, list[dict]]:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(data.events, directory / "events.parquet")
    pq.write_table(data.assignments, directory / "assignments.parquet")
    out = directory / "out"
    expguard.run(str(directory / "events.parquet"), str(directory / "assignments.parquet"), output_dir=str(out),
                 engine={"name": engine})
    return {name: pq.read_table(out / f"{name}.parquet").to_pylist() for name in (FCT_ALERTS, FCT_SRM, FCT_DAILY_BY_VARIATION)}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[scenario.Scenario, dict[str, list[dict]]]:
    data = scenario.build()
    return data, _run(tmp_path_factory.mktemp("scenario"), data)


def _alerts(built, experiment_id):
    return [a for a in built[1][FCT_ALERTS] if a["experiment_id"] == experiment_id]


@pytest.mark.parametrize("regression", scenario.REGRESSIONS, ids=lambda r: r.kind)
def test_each_regression_alerts_on_its_first_day(built, regression):
    alerts = _alerts(built, regression.experiment_id)
    assert alerts, f"{regression.kind} raised no alert"
    assert alerts[0]["date"] == regression.date, f"{regression.kind}: first alert on {alerts[0]['date']}"
    first_day = {a["alert_type"] for a in alerts if a["date"] == regression.date}
    assert regression.alert_type in first_day, f"{regression.kind} raised {sorted(first_day)} on its day"


def test_healthy_experiments_raise_no_alert(built):
    data, models = built
    noisy = [(a["experiment_id"], a["date"], a["alert_type"], a["message"]) for a in models[FCT_ALERTS]
             if a["experiment_id"] in data.healthy or a["experiment_id"] is None]
    assert noisy == []
    assert {a["experiment_id"] for a in models[FCT_ALERTS]} == {r.experiment_id for r in data.regressions}


def test_the_youngest_cohorts_are_not_tested(built):
    _, models = built
    # The data ends at midnight after day 59: cohorts up to day 57 are past their 1-day horizon.
    complete = {r["date"] for r in models[FCT_DAILY_BY_VARIATION] if r["is_horizon_complete"]}
    assert max(complete) == scenario.START + dt.timedelta(days=57)
    assert max(a["date"] for a in models[FCT_ALERTS]) <= max(complete)


def test_the_srm_table_shows_where_each_ratio_breaks(built):
    data, models = built
    first = {r["experiment_id"]: r["first_srm_stage"] for r in models[FCT_SRM]}
    assert first["search_ranking"] == "logged"          # the treatment's exposure events stopped
    assert first["onboarding_flow"] == "logged"         # treatment units logged as control
    for experiment_id in data.healthy + ("recommendations", "signup_form", "pricing_page"):
        assert first[experiment_id] is None, experiment_id  # losses that hit every variation alike


@pytest.mark.spark
@pytest.mark.skipif("spark" not in ENGINES, reason="the Spark engine is not registered in this build")
def test_spark_gives_the_same_alerts_and_srm_table(tmp_path):
    data = scenario.build(scale=0.25)
    duck, spark = _run(tmp_path / "duckdb", data, "duckdb"), _run(tmp_path / "spark", data, "spark")
    for name in (FCT_ALERTS, FCT_SRM):
        assert spark[name] == duck[name], name
