"""Kill a run at every checkpoint; the previous outputs must survive intact and readable.

Each kill point is a real SIGKILL of a real ``expguard run`` process (see expguard/faults.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
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
    + ["commit"]
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    return write_dataset(generate(20_000, seed=11), tmp_path_factory.mktemp("data"))


def expguard_run(events: Path, assignments: Path, out: Path | None, db: Path, *extra: str,
                 kill_at: str | None = None, wait: bool = True, no_exchange: bool = False):
    """``out`` None: the database is the run's only output (its large models built straight into it)."""
    env = dict(os.environ)
    env.pop("EXPGUARD_KILL_AT", None)
    env.pop("EXPGUARD_NO_EXCHANGE", None)
    if no_exchange:
        env["EXPGUARD_NO_EXCHANGE"] = "1"
    if kill_at:
        env["EXPGUARD_KILL_AT"] = kill_at
    # A fixed reference time for the freshness check (default: now), so that two runs of the same
    # data write the same bytes.
    folder = ["--output-dir", str(out)] if out is not None else []
    command = [sys.executable, "-m", "expguard.cli", "run", "--events", str(events), "--assignments",
               str(assignments), *folder, "--database", str(db), "--quiet",
               "--as-of", "2026-06-01T00:00:00", *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def sorted_table(path: Path):
    """A model file's rows in a canonical order (row order within a file is not part of the contract)."""
    table = pq.read_table(path)
    return table.sort_by([(name, "ascending") for name in table.column_names])


def listing(out: Path) -> dict[str, str]:
    """The output folder's complete listing, hidden entries included: every entry's relative path
    and what it is (a folder, a link and where it points, or a file's SHA-256)."""
    state: dict[str, str] = {}
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out))
        if path.is_symlink():
            state[name] = "link:" + os.readlink(path)
        elif path.is_dir():
            state[name] = "folder"
        else:
            state[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def snapshot(out: Path | None, db: Path, exact: bool = True) -> dict[str, object]:
    """Every output file (its bytes' hash when ``exact``, else its sorted rows), the folder's
    complete listing when ``exact``, and every table's rows in the database (sorted)."""
    state: dict[str, object] = {}
    for path in sorted(out.glob("*.parquet")) if out is not None else []:
        rows = sorted_table(path).to_pylist()  # readable, whole
        state[path.name] = hashlib.sha256(path.read_bytes()).hexdigest() if exact else rows
    if exact and out is not None:
        state["listing"] = listing(out)
    with duckdb.connect(str(db), read_only=True) as con:
        for (name,) in con.execute("select table_name from information_schema.tables order by 1").fetchall():
            state[f"db:{name}"] = sorted(map(repr, con.execute(f'select * from "{name}"').fetchall()))
    return state


def kill_after(process: "subprocess.Popen", seconds: float) -> int:
    """SIGKILL a started run after ``seconds`` (unless it ended first); its exit code (-9 when killed)."""
    time.sleep(seconds)
    process.kill()
    process.communicate()
    return process.returncode


def beside(out: Path) -> list[str]:
    """What runs left beside the output folder (staging, committed, versioned folders), the lock aside."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.expguard-")
                  and p.name != f".{out.name}.expguard.lock")


def killed_at_each(events: Path, assignments: Path, out: Path | None, db: Path, points, before: dict) -> None:
    """Kill a run at each point; the outputs must still be ``before`` (their :func:`snapshot`)."""
    for point in points:
        # A different window makes every model's output differ from the first run's.
        code, _, _ = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3",
                                  kill_at=point)
        assert code == -9, f"{point}: the run was not killed (exit {code})"
        assert snapshot(out, db) == before, f"killed at {point}, the previous outputs changed"


@pytest.mark.slow
def test_every_kill_point_leaves_previous_outputs_intact(dataset, tmp_path):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    code, _, stderr = expguard_run(events, assignments, out, db)
    assert code == 0, stderr
    before = snapshot(out, db)
    assert len([k for k in before if k.endswith(".parquet")]) == len(MODELS)
    killed_at_each(events, assignments, out, db, KILL_POINTS, before)
    # The next run succeeds, cleans up what the killed runs left, and replaces the outputs.
    code, _, stderr = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3")
    assert code == 0, stderr
    after = snapshot(out, db)
    assert after != before and set(after) == set(before)
    assert beside(out) == []
    # nothing of a run was ever inside the folder: the listing is the model files, no more
    assert sorted(after["listing"]) == sorted(f"{m}.parquet" for m in MODELS)


@pytest.mark.slow
def test_every_kill_point_leaves_a_database_output_alone_intact(dataset, tmp_path):
    # The database as the only output: the large models are built straight into it, in the run's
    # one transaction, from the first model on. A kill anywhere before the commit leaves the file's
    # tables as they were (DuckDB never replays an uncommitted transaction), and the next run works.
    events, assignments = dataset
    db = tmp_path / "models.duckdb"
    code, _, stderr = expguard_run(events, assignments, None, db)
    assert code == 0, stderr
    before = snapshot(None, db)
    assert sorted(before) == sorted(f"db:{m}" for m in MODELS)
    killed_at_each(events, assignments, None, db,
                   [f"model:{m}" for m in MODELS] + [f"database:{m}" for m in MODELS] + ["database:commit"], before)
    code, _, stderr = expguard_run(events, assignments, None, db, "--var", "exp_exposure_max_days_after_assignment=3")
    assert code == 0, stderr
    after = snapshot(None, db)
    assert set(after) == set(before)
    changed = [name for name in after if after[name] != before[name]]
    assert "db:int_experiment_exposure_validation" in changed and "db:stg_experiment_exposures" not in changed
    # the same tables, rows and types as a run that builds them in memory and copies them in
    reference = tmp_path / "reference.duckdb"
    code, _, stderr = expguard_run(events, assignments, tmp_path / "out", reference,
                                   "--var", "exp_exposure_max_days_after_assignment=3")
    assert code == 0, stderr
    assert snapshot(None, reference) == after
    with duckdb.connect(str(db), read_only=True) as con, duckdb.connect(str(reference), read_only=True) as ref:
        types = "select table_name, column_name, data_type from information_schema.columns order by 1, 2"
        assert con.execute(types).fetchall() == ref.execute(types).fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["publish", "published"])
def test_kill_after_the_commit_point_is_rolled_forward_by_the_next_run(dataset, tmp_path, point):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    assert expguard_run(events, assignments, out, db)[0] == 0
    before = listing(out)
    code, _, _ = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3",
                              kill_at=point)
    assert code == -9
    # Killed before the exchange, the folder is the previous set, untouched; killed after it,
    # the killed run's complete set. Either way only the committed (or replaced) set is beside it.
    assert (listing(out) == before) == (point == "publish")
    assert len(beside(out)) == 1
    # The killed run had committed: the next run, of anything, first completes it, so the folder
    # holds one run's complete outputs, then its own.
    reference_dir = tmp_path / "reference"
    assert expguard_run(events, assignments, reference_dir, tmp_path / "ref.duckdb",
                        "--var", "exp_exposure_max_days_after_assignment=3")[0] == 0
    from expguard.outputs.publish import recover

    recover(out)
    assert beside(out) == []
    for model in MODELS:
        assert sorted_table(out / f"{model}.parquet").equals(sorted_table(reference_dir / f"{model}.parquet")), model


@pytest.mark.slow
@pytest.mark.parametrize("point", ["commit", "publish", "publish:aside", "published"])
def test_kills_while_publishing_by_the_link_fallback(dataset, tmp_path, point):
    """Without the folder exchange, DIR becomes a link to a versioned folder: a kill at any step
    leaves DIR as it was (or, between the two renames of the first switch, missing: documented),
    and the next run finishes the job and publishes a complete set."""
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    assert expguard_run(events, assignments, out, db)[0] == 0
    before = listing(out)
    code, _, _ = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=3",
                              kill_at=point, no_exchange=True)
    assert code == -9
    if point in ("commit", "publish"):
        assert not out.is_symlink() and listing(out) == before
    elif point == "publish:aside":
        assert not os.path.lexists(out)  # the one instant of the first switch without a folder
    else:
        assert out.is_symlink() and listing(out) != before and set(listing(out)) == set(before)
    # The next run (with the exchange) finishes what the killed run left, then publishes its own
    # set into a real folder again; nothing is left beside it.
    code, _, stderr = expguard_run(events, assignments, out, db, "--var", "exp_exposure_max_days_after_assignment=5")
    assert code == 0, stderr
    reference = tmp_path / "reference"
    assert expguard_run(events, assignments, reference, tmp_path / "ref.duckdb",
                        "--var", "exp_exposure_max_days_after_assignment=5")[0] == 0
    assert out.is_dir() and not out.is_symlink() and beside(out) == []
    assert sorted(listing(out)) == sorted(listing(reference))
    for model in MODELS:
        assert sorted_table(out / f"{model}.parquet").equals(sorted_table(reference / f"{model}.parquet")), model


def parquet_rows(out: Path) -> dict[str, object]:
    """Every entry of the folder, and every model file's rows (sorted)."""
    state: dict[str, object] = {"entries": sorted(listing(out))}
    for path in sorted(out.glob("*.parquet")):
        state[path.name] = sorted_table(path).to_pylist()
    return state


@pytest.mark.slow
def test_kill_at_random_moments_never_corrupts(dataset, tmp_path):
    events, assignments = dataset
    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    window = ("--var", "exp_exposure_max_days_after_assignment=3")
    started = time.monotonic()
    assert expguard_run(events, assignments, out, db)[0] == 0
    duration = time.monotonic() - started
    before, rows = listing(out), parquet_rows(out)
    reference = tmp_path / "reference"
    assert expguard_run(events, assignments, reference, tmp_path / "ref.duckdb", *window)[0] == 0
    killed_run = parquet_rows(reference)
    untouched = 0
    # Moments spread over a run (its commit point is at its very end, but a warm run is quicker).
    for fraction in (0.1, 0.25, 0.4, 0.55, 0.7):
        code = kill_after(expguard_run(events, assignments, out, db, *window, wait=False), fraction * duration)
        assert code == -9, "the run ended before it was killed"
        if listing(out) == before:
            # killed before its publication: the folder's complete listing and every checksum unchanged
            untouched += 1
        else:
            # killed after its exchange: the folder is the killed run's complete set, nothing more
            assert parquet_rows(out) == killed_run, f"killed at {fraction:.0%} of a run, the folder is no run's set"
            before = listing(out)
    assert untouched >= 3, "too few kills came before the publication to test anything"
    assert expguard_run(events, assignments, out, db)[0] == 0
    assert beside(out) == []
    assert parquet_rows(out) == rows


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


def test_two_runs_into_one_database_alone_take_turns(dataset, tmp_path):
    # a run that builds into the database holds its locks from the first model to the commit: the
    # second run waits for them, then replaces the first one's tables with its own complete set
    events, assignments = dataset
    db = tmp_path / "models.duckdb"
    one = expguard_run(events, assignments, None, db, wait=False)
    two = expguard_run(events, assignments, None, db, "--var", "exp_exposure_max_days_after_assignment=3", wait=False)
    results = [p.communicate(timeout=300) + (p.returncode,) for p in (one, two)]
    assert [code for _, _, code in results] == [0, 0], [stderr for _, stderr, _ in results]
    sets = []
    for index, extra in enumerate(((), ("--var", "exp_exposure_max_days_after_assignment=3"))):
        reference = tmp_path / f"ref{index}.duckdb"
        assert expguard_run(events, assignments, None, reference, *extra)[0] == 0
        sets.append(snapshot(None, reference))
    assert snapshot(None, db) in sets


# -- a reader beside the runs ------------------------------------------------------------
# A reader that globs the output folder recursively, in its own process, while runs are killed
# at random moments and others publish: every set it reads is one run's complete set, never a
# partial file, never a mix. It reads the way lake tools do (list DIR/**/*.parquet by path, then
# read each file); a publication exchanges the whole folder, so a reader whose listing and reads
# straddle one sees the folder's identity (its inode) change and reads again, as the docs say.

READER = r'''
import glob, hashlib, json, os, sys, time
import pyarrow.parquet as pq

def fingerprint(path):
    # One open file: the footer and the pages come from the same file even if the folder is
    # exchanged meanwhile (reading by path may open it twice, across a publication).
    with open(path, "rb") as handle:
        table = pq.read_table(handle)
    table = table.sort_by([(name, "ascending") for name in table.column_names])
    return hashlib.sha256(repr(table.to_pylist()).encode()).hexdigest()

def read_set(folder):
    files = sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True))
    return {os.path.relpath(f, folder): fingerprint(f) for f in files}

if __name__ == "__main__":
    folder, references, stop, report = sys.argv[1:5]
    if references == "-":
        print(json.dumps(read_set(folder)))
        sys.exit(0)
    references = json.load(open(references))
    seen, violations, retried, started = {}, [], 0, time.monotonic()
    while not os.path.exists(stop) and time.monotonic() - started < 600 and sum(seen.values()) < 5000:
        try:
            identity = os.stat(folder).st_ino
            found = read_set(folder)
            if os.stat(folder).st_ino != identity:
                retried += 1  # the set was replaced while being read: read again
                continue
        except FileNotFoundError as error:
            try:
                replaced = os.stat(folder).st_ino != identity
            except FileNotFoundError:
                replaced = False
            if replaced:
                retried += 1
            else:
                violations.append(f"a listed file vanished while the folder stayed the same: {error}")
            continue
        except Exception as error:  # a partial or unreadable file, unless the set was replaced meanwhile
            try:
                replaced = os.stat(folder).st_ino != identity
            except FileNotFoundError:
                replaced = False
            if replaced:
                retried += 1
            else:
                violations.append(f"{type(error).__name__}: {error}")
            continue
        match = [name for name, reference in references.items() if reference == found]
        if match:
            seen[match[0]] = seen.get(match[0], 0) + 1
        else:
            violations.append("a set that is no run's complete set: " + json.dumps(sorted(found)))
    json.dump({"seen": seen, "violations": violations[:20], "retried": retried}, open(report, "w"))
'''


@pytest.mark.slow
def test_a_recursive_reader_never_sees_a_partial_file_or_a_mix(tmp_path):
    script = tmp_path / "reader.py"
    script.write_text(READER)
    datasets = [write_dataset(generate(3000, seed=seed), tmp_path / f"data{seed}") for seed in (1, 2, 3)]
    # Each dataset's complete set, from clean runs, as the reader fingerprints it.
    references = {}
    for index, (events, assignments) in enumerate(datasets):
        ref = tmp_path / f"ref{index}"
        code, _, stderr = expguard_run(events, assignments, ref, tmp_path / f"ref{index}.duckdb")
        assert code == 0, stderr
        fingerprints = subprocess.run([sys.executable, str(script), str(ref), "-", "", ""], check=True,
                                      capture_output=True, text=True).stdout
        references[f"data{index}"] = json.loads(fingerprints)
    assert len({json.dumps(r, sort_keys=True) for r in references.values()}) == 3, "the datasets must differ"
    (tmp_path / "references.json").write_text(json.dumps(references))

    out, db = tmp_path / "out", tmp_path / "models.duckdb"
    started = time.monotonic()
    assert expguard_run(*datasets[0], out, db)[0] == 0
    duration = time.monotonic() - started
    stop, report = tmp_path / "stop", tmp_path / "report.json"
    reader = subprocess.Popen([sys.executable, str(script), str(out), str(tmp_path / "references.json"),
                               str(stop), str(report)])
    try:
        chance = random.Random(15)
        published = {"data0"}
        for turn in range(8):
            name = f"data{(turn + 1) % 3}"
            events, assignments = datasets[(turn + 1) % 3]
            if turn % 2 == 0:
                before = listing(out)
                process = expguard_run(events, assignments, out, db, wait=False)
                time.sleep(chance.uniform(0.1, 0.85) * duration)
                process.kill()
                process.communicate()
                assert process.returncode == -9
                if listing(out) != before:
                    # The kill came after the run had published, while it printed or exited: its
                    # outputs stay, and they must be its complete set, never a mix.
                    found = json.loads(subprocess.run([sys.executable, str(script), str(out), "-", "", ""],
                                                      check=True, capture_output=True, text=True).stdout)
                    assert found == references[name], f"turn {turn}: a killed run left a set that is not its own"
                    published.add(name)
            else:
                code, _, stderr = expguard_run(events, assignments, out, db)
                assert code == 0, stderr
                published.add(name)
                assert beside(out) == []
    finally:
        stop.touch()
        reader.wait(timeout=120)
    result = json.loads(report.read_text())
    assert result["violations"] == []
    # the reader did read across publications: several complete sets, many times
    assert sum(result["seen"].values()) >= 20 and len(result["seen"]) >= 2, result
    assert set(result["seen"]) <= published
