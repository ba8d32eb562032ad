"""Staging and publication of Parquet outputs: written beside the output folder (several at once, the
Spark engine's way), all files or none, published as a whole; user files kept; leftovers cleaned."""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expguard.outputs import publish as outputs
from expguard.outputs.publish import leftovers, stage_parquet

NAMES = [f"model_{i}" for i in range(6)]


def writer(fail: str | None = None, delay: float = 0.05):
    """A write function recording how many writes overlapped; ``fail`` raises for that name."""
    state = {"running": 0, "most": 0, "written": []}
    lock = threading.Lock()

    def write(name: str, path: Path) -> None:
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        try:
            if name == fail:
                raise RuntimeError(f"disk full while writing {name}")
            time.sleep(delay)
            pq.write_table(pa.table({"name": [name]}), path)
            with lock:
                state["written"].append(name)
        finally:
            with lock:
                state["running"] -= 1

    return write, state


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_every_file_is_staged_whatever_the_number_of_writers(tmp_path, workers):
    write, state = writer()
    staging = stage_parquet(tmp_path / "out", NAMES, write, workers)
    # beside the output folder, never inside it
    assert staging.parent == tmp_path and list((tmp_path / "out").iterdir()) == []
    assert sorted(p.name for p in staging.glob("*.parquet")) == sorted(f"{n}.parquet" for n in NAMES)
    assert all(pq.read_table(staging / f"{n}.parquet").column("name").to_pylist() == [n] for n in NAMES)
    # the writes did overlap when allowed to, and never beyond the limit
    assert state["most"] == min(workers, len(NAMES))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_write_removes_the_staging_folder_and_raises_that_failure(tmp_path, workers):
    write, state = writer(fail="model_2", delay=0.5)
    with pytest.raises(RuntimeError, match="disk full while writing model_2"):
        stage_parquet(tmp_path / "out", NAMES, write, workers)
    assert leftovers(tmp_path / "out") == [] and list((tmp_path / "out").iterdir()) == []
    # writes queued behind the failure were dropped (model_5 could start only after a 0.5 s write)
    assert "model_5" not in state["written"]
    assert "model_2" not in state["written"]


# -- publication: the whole set at once, beside-the-folder staging, user files kept ------------


def publish_set(out: Path, tag: str, names=NAMES) -> list[Path]:
    """One run's publication of ``names`` (each file holding ``tag``), as the pipeline does it."""
    outputs.check_writable(out)
    outputs.recover(out)

    def write(name: str, path: Path) -> None:
        pq.write_table(pa.table({"name": [name], "tag": [tag]}), path)

    return outputs.publish(outputs.commit(stage_parquet(out, names, write)), out)


def tags(out: Path) -> set[str]:
    return {pq.read_table(p).column("tag")[0].as_py() for p in out.glob("*.parquet")}


def test_publication_exchanges_the_folder_and_keeps_the_users_files(tmp_path):
    out = tmp_path / "out"
    publish_set(out, "one")
    (out / "notes.txt").write_text("mine")
    (out / "extra").mkdir()
    (out / "extra" / "data.csv").write_text("a,b\n")
    os.symlink("notes.txt", out / "link-to-notes")
    notes_inode = (out / "notes.txt").stat().st_ino
    folder_inode = out.stat().st_ino
    files = publish_set(out, "two")
    assert sorted(files) == sorted(out / f"{n}.parquet" for n in NAMES)
    assert tags(out) == {"two"}
    # the folder was replaced as a whole (another inode), and is still a real folder
    assert out.is_dir() and not out.is_symlink() and out.stat().st_ino != folder_inode
    # the user's files are the same files (hard links), the folder and the link recreated
    assert (out / "notes.txt").read_text() == "mine" and (out / "notes.txt").stat().st_ino == notes_inode
    assert (out / "extra" / "data.csv").read_text() == "a,b\n"
    assert os.readlink(out / "link-to-notes") == "notes.txt"
    # nothing left beside the folder but the lock's place
    assert outputs.leftovers(out) == []


def test_without_the_exchange_the_folder_becomes_a_link_swapped_atomically(tmp_path, monkeypatch):
    out = tmp_path / "out"
    publish_set(out, "one")
    (out / "notes.txt").write_text("mine")

    def refused(first, second):
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(outputs, "exchange", refused)
    publish_set(out, "two")
    assert out.is_symlink() and tags(out) == {"two"} and (out / "notes.txt").read_text() == "mine"
    first_version = os.readlink(out)
    publish_set(out, "three")
    assert out.is_symlink() and os.readlink(out) != first_version and tags(out) == {"three"}
    # only the version the link names is kept
    assert [p.name for p in outputs.leftovers(out)] == [os.readlink(out)]
    # once the exchange works again, the folder is a real folder again, and the versions go
    monkeypatch.undo()
    publish_set(out, "four")
    assert out.is_dir() and not out.is_symlink() and tags(out) == {"four"}
    assert (out / "notes.txt").read_text() == "mine"
    assert outputs.leftovers(out) == []


def test_a_users_link_to_a_folder_stays_and_the_folder_it_names_is_published(tmp_path):
    real = tmp_path / "disk" / "outputs"
    real.mkdir(parents=True)
    out = tmp_path / "out"
    os.symlink(real, out)
    publish_set(outputs.output_target(out), "one")
    assert out.is_symlink() and os.readlink(out) == str(real) and tags(real) == {"one"}


def test_recovery_removes_dead_runs_staging_only(tmp_path):
    out = tmp_path / "out"
    publish_set(out, "one")
    dead = tmp_path / ".out.expguard-staging-999999999-deadbeef"
    live = tmp_path / ".out.expguard-staging-1-cafecafe"  # pid 1 is alive
    for folder in (dead, live):
        folder.mkdir()
        (folder / "partial.parquet").write_bytes(b"PAR1")
    outputs.recover(out)
    assert not dead.exists() and live.exists()
    assert tags(out) == {"one"}


def test_a_user_file_that_cannot_be_carried_stops_before_anything_changes(tmp_path, monkeypatch):
    out = tmp_path / "out"
    publish_set(out, "one")
    (out / "theirs.txt").write_text("another user's file")
    before = sorted(p.name for p in out.iterdir())

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(outputs.os, "link", refuse)
    with pytest.raises(outputs.InputError, match=r"cannot keep '.*theirs.txt' .*move it out of the output folder"):
        publish_set(out, "two")
    monkeypatch.undo()
    assert sorted(p.name for p in out.iterdir()) == before and tags(out) == {"one"}
    assert outputs.leftovers(out) == []


def test_a_file_system_refusing_both_ways_of_publishing_is_a_one_line_error(tmp_path, monkeypatch):
    import expguard
    from expguard.core.errors import InputError
    from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, write_rows

    events = write_rows(tmp_path / "events.parquet", [exposure("u1")], EVENT_SCHEMA)
    assignments = write_rows(tmp_path / "assignments.parquet", [assignment("u1")], ASSIGNMENT_SCHEMA)
    out = tmp_path / "out"
    expguard.run(str(events), str(assignments), output_dir=str(out))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def refused(*args, **kwargs):
        raise OSError(errno.EINVAL, "Invalid argument")

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(outputs, "exchange", refused)
    monkeypatch.setattr(outputs.os, "symlink", no_links)
    with pytest.raises(InputError, match=r"cannot publish the outputs into '.*out': Operation not permitted"):
        expguard.run(str(events), str(assignments), output_dir=str(out), vars={"exp_exposure_max_days_after_assignment": 3})
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert outputs.leftovers(out) == []


def test_the_current_folder_or_one_holding_it_is_refused_as_output_folder(tmp_path, monkeypatch):
    inside = tmp_path / "project" / "work"
    inside.mkdir(parents=True)
    (inside / "mine.txt").write_text("mine")
    monkeypatch.chdir(inside)
    for given in (".", str(inside), str(tmp_path / "project")):
        with pytest.raises(outputs.InputError, match="is the current folder or holds it"):
            outputs.check_writable(outputs.output_target(given), create=False)
    assert (inside / "mine.txt").read_text() == "mine" and outputs.leftovers(inside) == []


# -- files started while the models build (ParquetStage.start), the rest at the end -----------


def test_started_files_are_written_one_at_a_time_before_the_end_and_the_rest_at_the_end(tmp_path):
    write, state = writer(delay=0.3)
    stage = outputs.ParquetStage(tmp_path / "out", write, workers=3)
    for name in NAMES[:3]:
        stage.start(name)  # returns at once: the caller builds its next model meanwhile
    assert state["written"] == []
    deadline = time.monotonic() + 10
    while len(state["written"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    # written before finish() was called, in the order started, never two at once
    assert state["written"] == NAMES[:3] and state["most"] == 1
    staging = stage.finish(NAMES)
    assert sorted(p.name for p in staging.glob("*.parquet")) == sorted(f"{n}.parquet" for n in NAMES)
    # the three others were written at the end, side by side
    assert sorted(state["written"][3:]) == sorted(NAMES[3:]) and state["most"] == 3
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_started_write_that_failed_fails_the_finish_and_removes_the_folder(tmp_path):
    write, state = writer(fail="model_1")
    stage = outputs.ParquetStage(tmp_path / "out", write)
    stage.start("model_0")
    stage.start("model_1")
    with pytest.raises(RuntimeError, match="disk full while writing model_1"):
        stage.finish(NAMES)
    assert leftovers(tmp_path / "out") == []
    # nothing was written at the end after the failure
    assert not set(state["written"]) & set(NAMES[2:])


def test_discard_waits_for_the_running_write_and_leaves_nothing(tmp_path):
    write, state = writer(delay=0.3)
    stage = outputs.ParquetStage(tmp_path / "out", write)
    for name in NAMES:
        stage.start(name)
    time.sleep(0.05)
    stage.discard()  # e.g. a later model failed
    assert leftovers(tmp_path / "out") == []
    assert state["running"] == 0 and len(state["written"]) <= 1  # the queued writes were dropped


def test_no_stage_is_made_before_the_end_when_the_output_folder_has_no_parent_yet(tmp_path):
    write, _ = writer()
    assert outputs.ParquetStage.beside(tmp_path / "new" / "out", write) is None
    assert list(tmp_path.iterdir()) == []  # a run that fails now leaves no new folder
    stage = outputs.ParquetStage.beside(tmp_path / "out", write)
    assert stage is not None and stage.path.parent == tmp_path
    stage.discard()
    assert list(tmp_path.iterdir()) == []
