"""Staging of Parquet outputs written several at once (the Spark engine's way): all files or none."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expguard.outputs.publish import STAGING_PREFIX, stage_parquet

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
    staging = stage_parquet(tmp_path, NAMES, write, workers)
    assert sorted(p.name for p in staging.glob("*.parquet")) == sorted(f"{n}.parquet" for n in NAMES)
    assert all(pq.read_table(staging / f"{n}.parquet").column("name").to_pylist() == [n] for n in NAMES)
    # the writes did overlap when allowed to, and never beyond the limit
    assert state["most"] == min(workers, len(NAMES))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_write_removes_the_staging_folder_and_raises_that_failure(tmp_path, workers):
    write, state = writer(fail="model_2", delay=0.5)
    with pytest.raises(RuntimeError, match="disk full while writing model_2"):
        stage_parquet(tmp_path, NAMES, write, workers)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]
    # writes queued behind the failure were dropped (model_5 could start only after a 0.5 s write)
    assert "model_5" not in state["written"]
    assert "model_2" not in state["written"]
