"""Kill incremental runs (issue #16): the previous outputs and the state survive intact.

A daily pipeline: events and assignments land as one file per day in two folders. The first
``--incremental`` run builds days 1..N-1 in full and records its state; the next one adds day N and
a late slice of day N-2. Killed at every point of its write path (a real SIGKILL of a real
process), it leaves the output folder (the state file included) and the database (the state table
included) byte for byte as they were; the run after that does the work, and its outputs equal one
full run over all the files.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from expguard.apps.demo.generator import generate
from expguard.models.registry import load_models

from reliability.test_faults import beside, kill_after, listing, snapshot, sorted_table

MODELS = list(load_models())
WRITE_POINTS = [f"parquet:{m}" for m in MODELS] + [f"database:{m}" for m in MODELS] + ["commit"]
AS_OF = "2026-06-01T00:00:00"


def by_day(table: pa.Table, column: str) -> dict[dt.date, pa.Table]:
    days = pc.cast(table[column], pa.date32())
    return {day: table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
            for day in sorted(d for d in set(days.to_pylist()) if d is not None)}


@pytest.fixture(scope="module")
def daily():
    """Day files of a generated dataset: everything but the last day and a late slice of day N-2
    (``first``), then the rest (``later``)."""
    data = generate(20_000, seed=11)
    events_days, assignment_days = by_day(data.events, "event_ts"), by_day(data.assignments, "assigned_at")
    undated = data.events.filter(pc.is_null(data.events["event_ts"]))
    days = sorted(events_days)
    last, late_day = days[-1], days[-3]
    first, later = {}, {}
    for day, table in events_days.items():
        name = f"events/day-{day}.parquet"
        if day == last:
            later[name] = table
        elif day == late_day:
            cut = table.num_rows * 9 // 10
            first[name], later[f"events/day-{day}-late.parquet"] = table.slice(0, cut), table.slice(cut)
        else:
            first[name] = table
    first["events/undated.parquet"] = undated
    for day, table in assignment_days.items():
        (later if day == last else first)[f"assignments/day-{day}.parquet"] = table
    return first, later


def land(root: Path, files: dict[str, pa.Table]) -> None:
    for name, table in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)


def expguard_run(root: Path, out: Path | None, db: Path, *extra: str, kill_at: str | None = None, wait: bool = True):
    """``out`` None: the database is the only output (an incremental run updates it in place)."""
    env = {k: v for k, v in os.environ.items() if k not in ("EXPGUARD_KILL_AT", "EXPGUARD_NO_EXCHANGE")}
    if kill_at:
        env["EXPGUARD_KILL_AT"] = kill_at
    folder = ["--output-dir", str(out)] if out is not None else []
    command = [sys.executable, "-m", "expguard.cli", "run", "--events", str(root / "events"), "--assignments",
               str(root / "assignments"), *folder, "--database", str(db), "--quiet", "--as-of", AS_OF, *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def model_rows(out: Path) -> dict[str, list]:
    return {m: sorted_table(out / f"{m}.parquet").to_pylist() for m in MODELS}


def day_n_pending(daily, folder: Path, outputs: str = "folder and database") -> tuple[Path, Path | None, Path]:
    """In ``folder``: days 1..N-1 landed and built by a first incremental run (its state
    recorded), then day N and the late slice landed; return the data, output folder (None with
    ``outputs="database"``: the database alone) and database."""
    first, later = daily
    root, db = folder / "data", folder / "models.duckdb"
    out = folder / "out" if outputs != "database" else None
    land(root, first)
    code, _, stderr = expguard_run(root, out, db, "--incremental")
    assert code == 0, stderr
    land(root, later)
    return root, out, db


@pytest.mark.slow
def test_killed_incremental_runs_leave_outputs_and_state_intact(daily, tmp_path):
    root, out, db = day_n_pending(daily, tmp_path)
    before = snapshot(out, db)
    assert "_expguard_state.json" in before["listing"], "the first incremental run recorded no state"
    assert "db:_expguard_state" in before, "the database holds no state table"
    for point in WRITE_POINTS:
        code, _, stderr = expguard_run(root, out, db, "--incremental", kill_at=point)
        assert code == -9, f"{point}: the run was not killed (exit {code}): {stderr}"
        assert snapshot(out, db) == before, f"killed at {point}, the previous outputs or state changed"
    code, _, stderr = expguard_run(root, out, db, "--incremental")
    assert code == 0, stderr
    assert beside(out) == []
    full = tmp_path / "full"
    code, _, stderr = expguard_run(root, full, tmp_path / "full.duckdb")
    assert code == 0, stderr
    assert model_rows(out) == model_rows(full), "after the kills, the incremental outputs differ from a full run"


@pytest.mark.slow
def test_incremental_run_killed_at_random_moments(daily, tmp_path):
    root, out, db = day_n_pending(daily, tmp_path / "killed")
    before = listing(out)
    full = tmp_path / "full"
    assert expguard_run(root, full, tmp_path / "full.duckdb")[0] == 0
    expected = model_rows(full)
    # how long the incremental run over the new day takes (the same run, in a folder of its own)
    probe = day_n_pending(daily, tmp_path / "probe")
    started = time.monotonic()
    assert expguard_run(*probe, "--incremental")[0] == 0
    duration = time.monotonic() - started
    untouched = 0
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
        if kill_after(expguard_run(root, out, db, "--incremental", wait=False), fraction * duration) != -9:
            # it finished first: the folder is now the complete incremental result
            assert model_rows(out) == expected
            break
        if listing(out) == before:
            untouched += 1
        else:
            # killed after its publication: the folder is the run's complete result
            assert model_rows(out) == expected, f"killed at {fraction:.0%}, the folder is no run's set"
            before = listing(out)
    assert untouched >= 2, "too few kills came before the publication to test anything"
    assert expguard_run(root, out, db, "--incremental")[0] == 0
    assert beside(out) == []
    assert model_rows(out) == expected


#: Where a run with a database output alone can be killed: while it builds (the big tables are
#: updated in place then, in the run's open transaction), while it writes the other models, and
#: just before its COMMIT.
DATABASE_POINTS = [f"model:{m}" for m in MODELS] + [f"database:{m}" for m in MODELS] + ["database:commit"]


def database_rows(db: Path) -> dict[str, list]:
    """Every table of the database (models, state, kept tables), its rows sorted."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [row[0] for row in con.execute("select table_name from information_schema.tables order by 1").fetchall()]
        return {name: sorted(map(repr, con.execute(f'select * from "{name}"').fetchall())) for name in names}


@pytest.mark.slow
def test_killed_updates_in_place_leave_the_database_as_it_was(daily, tmp_path):
    """A database output alone: the three big tables are updated in place inside the run's one
    transaction, opened before the update. A kill at any point, before COMMIT, leaves every table
    (models, state, the kept unassigned exposures) as it was; a kill at a random moment leaves the
    previous tables or the complete new ones; the next run does the work and equals a full run."""
    root, _, db = day_n_pending(daily, tmp_path, outputs="database")
    before = database_rows(db)
    assert {"_expguard_state", "_expguard_unassigned_exposures"} <= set(before)
    for point in DATABASE_POINTS:
        code, _, stderr = expguard_run(root, None, db, "--incremental", kill_at=point)
        assert code == -9, f"{point}: the run was not killed (exit {code}): {stderr}"
        assert database_rows(db) == before, f"killed at {point}, the database changed"
    full = tmp_path / "full.duckdb"
    assert expguard_run(root, None, full)[0] == 0
    probe = day_n_pending(daily, tmp_path / "probe", outputs="database")
    started = time.monotonic()
    assert expguard_run(*probe, "--incremental")[0] == 0
    duration = time.monotonic() - started
    # the probe's tables, but for its state (which names the probe's own files)
    after = {name: rows for name, rows in database_rows(probe[2]).items() if name != "_expguard_state"}
    for fraction in (0.2, 0.5, 0.8):
        kill_after(expguard_run(root, None, db, "--incremental", wait=False), fraction * duration)
        now = database_rows(db)
        if now == before:
            continue
        assert {n: r for n, r in now.items() if n != "_expguard_state"} == after, \
            f"killed at {fraction:.0%}, the database is neither run's tables"
        break
    assert expguard_run(root, None, db, "--incremental")[0] == 0
    assert {n: r for n, r in database_rows(db).items() if n != "_expguard_state"} == after
    with duckdb.connect(str(db), read_only=True) as a, duckdb.connect(str(full), read_only=True) as b:
        for name in MODELS:
            assert sorted(map(repr, a.execute(f'select * from "{name}"').fetchall())) == \
                sorted(map(repr, b.execute(f'select * from "{name}"').fetchall())), name
