"""Kill a run at every checkpoint; the previous outputs must survive intact and readable.

Each kill point is a real SIGKILL of a real ``expguard run`` process (see expguard/faults.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from expguard.apps.demo.generator import generate, write_dataset
from expguard.models.registry import load_models

MODELS = list(load_models())
KILL_POINTS = (
    [f"model:{m}" for m in MODELS]
    + [f"parquet:{m}" for m in MODELS]
    + [f"database:{m}" for m in MODELS]
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    return write_dataset(generate(20_000, seed=11), tmp_path_factory.mktemp("data"))


def expguard_run(events: Path, assignments: Path, out: Path, db: Path, *extra: str,
                 kill_at: str | None = None, wait: bool = True):
    env = dict(os.environ)
    env.pop("EXPGUARD_KILL_AT", None)
    if kill_at:
        env["EXPGUARD_KILL_AT"] = kill_at
    command = [sys.executable, "-m", "expguard.cli", "run", "--events", str(events), "--assignments",
               str(assignments), "--output-dir", str(out), "--database", str(db), "--quiet", *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def sorted_table(path: Path):
    """A model file's rows in a canonical order (row order within a file is not part of the contract)."""
    table = pq.read_table(path)
    return table.sort_by([(name, "ascending") for name in table.column_names])


def snapshot(out: Path, db: Path, exact: bool = True) -> dict[str, object]:
    """Every visible output file (its bytes' hash when ``exact``, else its sorted rows) and
    every table's rows in the database (sorted)."""
    state: dict[str, object] = {}
    for path in sorted(out.glob("*.parquet")):
        rows = sorted_table(path).to_pylist()  # readable, whole
        state[path.name] = hashlib.sha256(path.read_bytes()).hexdigest() if exact else rows
    with duckdb.connect(str(db), read_only=True) as con:
        for (name,) in con.execute("select table_name from information_schema.tables order by 1").fetchall():
            state[f"db:{name}"] = sorted(map(repr, con.execute(f'select * from "{name}"').fetchall()))
    return state


@pytest.mark.slow
def test_every_kill_point_leaves_previous_outputs_intact(dataset, tmp_path):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    code, _, stderr = expguard_run(events, assignments, out, db)
    assert code == 0, stderr
    before = snapshot(out, db)
    assert len([k for k in before if k.endswith(".parquet")]) == len(MODELS)
    for point in KILL_POINTS:
        # A different window makes every model's output differ from the first run's.
        code, _, _ = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3",
                                  kill_at=point)
        assert code == -9, f"{point}: the run was not killed (exit {code})"
        assert snapshot(out, db) == before, f"killed at {point}, the previous outputs changed"
    # The next run succeeds, cleans up what the killed runs left, and replaces the outputs.
    code, _, stderr = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3")
    assert code == 0, stderr
    after = snapshot(out, db)
    assert after != before and set(after) == set(before)
    assert not list(out.glob(".expguard-staging-*"))


@pytest.mark.slow
def test_kill_between_renames_is_rolled_forward_by_the_next_run(dataset, tmp_path):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    assert expguard_run(events, assignments, out, db)[0] == 0
    code, _, _ = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3",
                              kill_at="commit:1")
    assert code == -9
    # The killed run had committed (its marker was written): the next run, of anything, first
    # completes it, so the folder holds one run's complete outputs, then its own.
    reference_dir = tmp_path / "reference"
    assert expguard_run(events, assignments, reference_dir, tmp_path / "ref.duckdb",
                        "--var", "exp_exposure_max_days_after_assignment=3")[0] == 0
    from expguard.outputs.publish import recover

    recover(out)
    for model in MODELS:
        assert sorted_table(out / f"{model}.parquet").equals(sorted_table(reference_dir / f"{model}.parquet")), model
    assert not list(out.glob(".expguard-staging-*"))


@pytest.mark.slow
def test_kill_at_random_moments_never_corrupts(dataset, tmp_path):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    assert expguard_run(events, assignments, out, db)[0] == 0
    before = snapshot(out, db, exact=False)
    for delay in (0.3, 0.8, 1.3, 1.8):
        process = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3",
                               wait=False)
        time.sleep(delay)
        process.kill()
        process.communicate()
        # Every file and table is whole and readable whenever the kill came.
        assert set(snapshot(out, db, exact=False)) == set(before)
    assert expguard_run(events, assignments, out, db)[0] == 0
    assert snapshot(out, db, exact=False) == before


@pytest.mark.slow
def test_two_runs_at_once_never_mix_outputs(dataset, tmp_path):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    one = expguard_run(events, assignments, out, db, wait=False)
    two = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3", wait=False)
    results = [p.communicate(timeout=300) + (p.returncode,) for p in (one, two)]
    for _, stderr, code in results:
        # Each run either succeeded (after waiting for the lock) or failed with one clear line.
        assert code == 0 or (code == 2 and stderr.count("\n") == 1 and "expguard: error:" in stderr), stderr
    # Whatever order they finished in, the files are one run's complete set: compare them with
    # clean runs of each configuration.
    sets = []
    for index, extra in enumerate(((), ("--var", "exp_exposure_max_days_after_assignment=3"))):
        ref_out = tmp_path / f"ref{index}"
        assert expguard_run(events, assignments, ref_out, tmp_path / f"ref{index}.duckdb", *extra)[0] == 0
        sets.append({m: sorted_table(ref_out / f"{m}.parquet") for m in MODELS})
    actual = {m: sorted_table(out / f"{m}.parquet") for m in MODELS}
    assert any(all(actual[m].equals(s[m]) for m in MODELS) for s in sets), "the outputs mix two runs"
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {m: con.execute(f'select count(*) from "{m}"').fetchone()[0] for m in MODELS}
    assert any(all(rows[m] == s[m].num_rows for m in MODELS) for s in sets)
