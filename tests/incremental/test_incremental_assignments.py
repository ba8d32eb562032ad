"""Assignments landing as new files (issue #16): read alone, checked as a full run checks them.

When every processed assignment file is still there, unchanged, an incremental run reads only the
new files; the earlier assignments are the previous validation's. The contracts must still stop
the run exactly as a full run on all the files would: a pair duplicated across two files, a null
or blank id in a new file give the same one-line message (count and examples included), and
nothing is written. A good file then brings the run back to incremental and equal to a full run.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.errors import ContractError
from expguard.models.registry import load_models
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, sort_rows, ts, write_rows

AS_OF = "2026-04-01T00:00:00"
MODELS = list(load_models())


class Folders:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.events, self.assignments = root / "events", root / "assignments"
        self.events.mkdir()
        self.assignments.mkdir()

    def run(self, out: str, incremental: bool):
        return expguard.run(str(self.events), str(self.assignments), output_dir=str(self.root / out),
                            database=str(self.root / f"{out}.duckdb"), vars={"exp_health_as_of": AS_OF},
                            incremental=incremental)

    def outputs(self, out: str) -> dict[str, list]:
        return {name: sort_rows(pq.read_table(self.root / out / f"{name}.parquet").to_pylist()) for name in MODELS}

    def files(self, out: str) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (self.root / out).iterdir()} | {
            "db": (self.root / f"{out}.duckdb").read_bytes()}


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    f = Folders(tmp_path)
    write_rows(f.assignments / "day-0.parquet", [assignment(f"u{u}", "AB"[u % 2], ts()) for u in range(10)],
               ASSIGNMENT_SCHEMA)
    write_rows(f.events / "day-0.parquet", [exposure(f"u{u}", ts(minutes=10 + u), "AB"[u % 2]) for u in range(8)],
               EVENT_SCHEMA)
    assert f.run("inc", True).increment.mode == "full"
    return f


BAD_FILES = {
    "a pair duplicated across files": [assignment("u3", "A", ts(days=1)), assignment("u20", "A", ts(days=1))],
    "a duplicate within the new file": [assignment("u21", "A", ts(days=1)), assignment("u21", "B", ts(days=1))],
    "a null unit id": [assignment(None, "A", ts(days=1))],
    "a blank variation": [assignment("u22", "  ", ts(days=1))],
}


@pytest.mark.parametrize("bad", list(BAD_FILES))
def test_a_bad_new_assignment_file_stops_the_run_as_a_full_run_does(folders, bad):
    before = folders.files("inc")
    write_rows(folders.assignments / "day-1.parquet", BAD_FILES[bad], ASSIGNMENT_SCHEMA)
    write_rows(folders.events / "day-1.parquet", [exposure("u20", ts(days=1, minutes=5), "A")], EVENT_SCHEMA)
    with pytest.raises(ContractError) as incremental:
        folders.run("inc", True)
    with pytest.raises(ContractError) as full:
        folders.run("full", False)
    assert str(incremental.value) == str(full.value)
    assert folders.files("inc") == before, "a stopped run changed the outputs or their state"
    # the file replaced by a good one: incremental again, and equal to a full run
    write_rows(folders.assignments / "day-1.parquet", [assignment("u20", "A", ts(days=1))], ASSIGNMENT_SCHEMA)
    result = folders.run("inc", True)
    assert result.increment.mode == "incremental", result.increment.reason
    assert result.increment.new_assignment_rows == 1
    folders.run("full", False)
    assert folders.outputs("inc") == folders.outputs("full")


def test_new_assignment_files_day_by_day_equal_a_full_run(folders):
    for day in range(1, 4):
        write_rows(folders.assignments / f"day-{day}.parquet",
                   [assignment(f"d{day}u{u}", "AB"[u % 2], ts(days=day)) for u in range(5)], ASSIGNMENT_SCHEMA)
        # exposures for the new units, for earlier units (late), and one for a unit assigned later
        rows = [exposure(f"d{day}u{u}", ts(days=day, minutes=u), "AB"[u % 2]) for u in range(4)]
        rows += [exposure(f"u{day}", ts(days=day), "B"), exposure(f"d{day + 1}u0", ts(days=day, minutes=30), "A")]
        write_rows(folders.events / f"day-{day}.parquet", rows, EVENT_SCHEMA)
        result = folders.run("inc", True)
        assert result.increment.mode == "incremental", result.increment.reason
        assert result.increment.new_assignment_rows == 5
        assert any(name.endswith(f"assignments/day-{day}.parquet") for name in result.increment.new_files)
    folders.run("full", False)
    assert folders.outputs("inc") == folders.outputs("full")
