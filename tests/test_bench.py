"""The benchmark harness on its smallest scale: it generates S (1M events), checks the
hand-written DuckDB job's four models equal to expguard's (an independent implementation of
the SPEC, compared row for row) and a run into a database alone equal on all eleven, times each
peer as a whole process and writes its tables.
CI does not run the benchmark itself; this keeps its harness and its equality check working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

pytestmark = pytest.mark.slow


def test_the_benchmark_runs_on_s_and_the_hand_written_job_equals_expguard(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    # A table from an earlier version of the harness (load average, no other-CPU record):
    # merging it into latest.md must keep it readable.
    earlier = {"date": "2026-11-27 09:00 UTC", "machine": {"cpu": "cpu", "cores": 2, "memory_gib": 23.5}, "runs": 3,
               "load_median": 1.0, "load_max": 2.0}
    old_row = {"peer": "duckdb-sql", "scale": "M", "check": "equal", "note": "", "runs": 3, "failed_runs": 0, "raw": [],
               "wall_median": 3.7, "wall_min": 3.6, "wall_max": 3.9, "cpu_median": 6.8, "rss_median": 2**30,
               "rss_max": 2**30, "load_median": 1.0, "measured": earlier["date"]}
    (results / "latest.json").write_text(json.dumps({"runs": [earlier], "results": [old_row]}))
    command = [sys.executable, str(BENCH / "run.py"), "--scales", "S", "--peers", "expguard", "duckdb-sql", "floor", "expguard-db",
               "--runs", "1", "--data-dir", str(tmp_path / "data"), "--out-dir", str(tmp_path / "out"),
               "--results-dir", str(results)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    latest = json.loads((results / "latest.json").read_text())
    rows = {(r["scale"], r["peer"]): r for r in latest["results"]}
    assert rows[("S", "expguard")]["check"] == "reference"
    assert rows[("S", "duckdb-sql")]["check"] == "equal", rows[("S", "duckdb-sql")]["check"]
    assert rows[("S", "floor")]["check"].startswith("n/a")
    # the database as the only output: its eleven tables read in place of the files, all equal
    assert rows[("S", "expguard-db")]["check"] == "equal (11 models)", rows[("S", "expguard-db")]["check"]
    assert all(rows[("S", p)]["failed_runs"] == 0 and rows[("S", p)]["wall_median"] > 0
               for p in ("expguard", "duckdb-sql", "floor"))
    assert rows[("M", "duckdb-sql")]["measured"] == earlier["date"]  # kept from the earlier table
    run = latest["runs"][0]
    assert run["other_cpu_max"] >= 0 and "steal_median" in run
    text = (results / "latest.md").read_text()
    assert "During the runs the rest of the machine used" in text and "Load average (1 min)" in text
    assert "| S | duckdb-sql |" in text and "| M | duckdb-sql | 3.7" in text


def test_the_incremental_benchmark_runs_on_s_and_its_outputs_equal_a_full_rebuild(tmp_path):
    """bench/incremental.py (issue #16) on S: the day split, the day-60 runs with a database output,
    and its check that the incremental outputs equal the full rebuild's, every model."""
    results = tmp_path / "results"
    command = [sys.executable, str(BENCH / "incremental.py"), "--scale", "S", "--rounds", "1", "--outputs", "db",
               "--data-dir", str(tmp_path / "data"), "--work-dir", str(tmp_path / "work"),
               "--results-dir", str(results)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    text = (results / "incremental-S-duckdb-db.md").read_text()
    assert "equal (11 models)" in text, text
    split = json.loads((tmp_path / "work" / "S-days" / "done.json").read_text())
    assert len(split["days"]) == 60 and split["late_day"] == split["days"][-3]
    assert any((tmp_path / "work" / "S-days" / "events").glob(f"{split['late_day']}-c*-late.parquet"))
