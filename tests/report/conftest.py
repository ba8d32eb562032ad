"""Fixtures of the report tests: a demo run's outputs, and the monitoring scenario's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parents[1]

sys.path.insert(0, str(HERE))  # browser.py


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """``expguard demo``'s dataset built into a folder; returns the demo folder
    (``output/`` holds the Parquet files, ``expguard.duckdb`` the database, ``data/`` the inputs)."""
    from expguard.apps.demo import run_demo

    directory = tmp_path_factory.mktemp("demo")
    run_demo(directory, n_events=200_000, seed=7)
    return directory


def load_scenario():
    """tests/monitoring/scenario.py: ten experiments, seven known regressions on known days."""
    spec = importlib.util.spec_from_file_location("report_scenario", ROOT / "tests" / "monitoring" / "scenario.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["report_scenario"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def scenario_run(tmp_path_factory):
    """The monitoring scenario at a quarter of its volume, built into Parquet outputs; returns
    (scenario module, data, output folder)."""
    import pyarrow.parquet as pq

    import expguard

    scenario = load_scenario()
    data = scenario.build(scale=0.25)
    directory = tmp_path_factory.mktemp("scenario")
    pq.write_table(data.events, directory / "events.parquet")
    pq.write_table(data.assignments, directory / "assignments.parquet")
    expguard.run(str(directory / "events.parquet"), str(directory / "assignments.parquet"),
                 output_dir=str(directory / "out"))
    return scenario, data, directory / "out"
