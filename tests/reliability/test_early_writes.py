"""A full run writes the models' Parquet files while its last models build (``ParquetStage.start``,
``pipeline.writes_beside``, ``Engine.writes_beside_models``): from the moment the validation (the
last large model) is built, every model built so far and then each one as it is built. The files
go into the run's staging folder beside the output folder, published only when every model and
every check passed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from expguard.core.constants import FCT_HEALTH, INT_VALIDATION, STG_EXPOSURES
from expguard.core.errors import EngineError
from expguard.engines.duckdb import DuckDBEngine
from expguard.models.registry import load_models
from expguard.outputs.publish import leftovers
from expguard.runner.pipeline import run, writes_beside
from expguard.settings.config import build_config
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, sort_rows, ts, write_rows

LAST = list(load_models())[-1]


def _project(root: Path) -> tuple[Path, Path]:
    events, assignments = root / "events.parquet", root / "assignments.parquet"
    write_rows(events, [exposure(f"u{u}", ts(minutes=u), "A" if u % 2 else "B", event_id=f"e{u}") for u in range(30)],
               EVENT_SCHEMA)
    write_rows(assignments, [assignment(f"u{u}", "A" if u % 2 else "B", ts()) for u in range(25)], ASSIGNMENT_SCHEMA)
    return events, assignments


def _config(tmp_path: Path, events: Path, assignments: Path, **engine):
    return build_config(events=str(events), assignments=str(assignments), engine={"name": "duckdb", **engine},
                        vars={"exp_health_as_of": "2026-04-01T00:00:00"}, output={"dir": str(tmp_path / "out")})


def _spy_writes(monkeypatch) -> tuple[threading.Event, list[str]]:
    """Record every model file written (by name) and signal when the staged events' file starts."""
    started, written = threading.Event(), []
    original = DuckDBEngine.write_parquet

    def spy(self, name, path):
        if name == STG_EXPOSURES:
            started.set()
        original(self, name, path)
        written.append(name)

    monkeypatch.setattr(DuckDBEngine, "write_parquet", spy)
    return started, written


def test_the_files_are_written_while_the_last_models_build(tmp_path, monkeypatch):
    events, assignments = _project(tmp_path)
    started, written = _spy_writes(monkeypatch)
    seen = {}

    def progress(event, info):
        if event == "model_done" and info["name"] == INT_VALIDATION:
            # not beside the large models: nothing is written before the validation is built
            seen["before validation"] = list(written) or started.is_set()
        if event == "model_start" and info["name"] == LAST:
            # the first model's file is being written (or done) before the last model starts;
            # a run that wrote everything at the end would never set this (waited for 10 s)
            seen["before last model"] = started.wait(timeout=10)

    result = run(_config(tmp_path, events, assignments), progress)
    assert seen == {"before validation": False, "before last model": True}
    assert sorted(written) == sorted(load_models())  # each file once, none written twice
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{m}.parquet" for m in load_models())
    assert pq.read_table(tmp_path / "out" / f"{STG_EXPOSURES}.parquet").num_rows == result.rows(STG_EXPOSURES)
    assert leftovers(tmp_path / "out") == []


def test_under_a_memory_limit_the_files_are_written_after_the_models(tmp_path, monkeypatch):
    events, assignments = _project(tmp_path)
    order = []
    original = DuckDBEngine.write_parquet

    def spy(self, name, path):
        original(self, name, path)
        order.append(("written", name))

    monkeypatch.setattr(DuckDBEngine, "write_parquet", spy)
    run(_config(tmp_path, events, assignments, memory_limit="1GB", temp_directory=str(tmp_path)),
        lambda event, info: order.append((event, info.get("name"))))
    end = order.index(("write", None))
    assert order[end - 1] == ("model_done", LAST)
    # before the end, only the staged events' file, as they left memory (Engine.spill); every
    # model's file after the last model: the writes' buffers never share the limit with a model
    assert [step for step in order[:end] if step[0] == "written"] == [("written", STG_EXPOSURES)]
    assert sorted(name for _, name in order[end + 1:]) == sorted(load_models())


def test_a_run_that_fails_after_its_first_files_were_written_leaves_nothing(tmp_path, monkeypatch):
    events, assignments = _project(tmp_path)
    run(_config(tmp_path, events, assignments))  # the previous outputs
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    started, _ = _spy_writes(monkeypatch)
    original = DuckDBEngine.register_rows

    def failing(self, name, rows, columns):
        if name == FCT_HEALTH:
            assert started.wait(timeout=10)  # the early writes are under way
            raise EngineError("the health model failed")
        return original(self, name, rows, columns)

    monkeypatch.setattr(DuckDBEngine, "register_rows", failing)
    with pytest.raises(EngineError, match="the health model failed"):
        run(_config(tmp_path, events, assignments))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert leftovers(tmp_path / "out") == []  # the staging folder and its written files: gone


def test_an_incremental_update_writes_its_updated_models_while_the_downstream_ones_build(tmp_path, monkeypatch):
    """The update's large models are done before the downstream models build: their files are
    written from the first downstream model on, and the outputs are those of a full run."""
    (tmp_path / "events").mkdir()
    _, assignments = _project(tmp_path)
    write_rows(tmp_path / "events" / "day1.parquet",
               [exposure(f"u{u}", ts(minutes=u), "A" if u % 2 else "B", event_id=f"e{u}") for u in range(20)],
               EVENT_SCHEMA)

    def config(out: str, incremental: bool):
        return build_config(events=str(tmp_path / "events"), assignments=str(assignments),
                            vars={"exp_health_as_of": "2026-04-01T00:00:00"}, output={"dir": str(tmp_path / out)},
                            incremental=incremental)

    run(config("inc", True))
    write_rows(tmp_path / "events" / "day2.parquet",
               [exposure(f"u{u}", ts(days=1, minutes=u), "A" if u % 2 else "B", event_id=f"f{u}") for u in range(10, 30)],
               EVENT_SCHEMA)
    started, written = _spy_writes(monkeypatch)
    seen = {}

    def progress(event, info):
        if event == "model_start" and info["name"] == LAST:
            seen["before last model"] = started.wait(timeout=10)

    result = run(config("inc", True), progress)
    assert result.increment.mode == "incremental" and seen == {"before last model": True}
    assert leftovers(tmp_path / "inc") == []
    run(config("full", False))
    for name in load_models():
        inc, full = pq.read_table(tmp_path / "inc" / f"{name}.parquet"), pq.read_table(tmp_path / "full" / f"{name}.parquet")
        assert inc.schema == full.schema, name
        assert sort_rows(inc.to_pylist()) == sort_rows(full.to_pylist()), name


def test_writes_beside_holds_the_models_built_before_the_validation_then_starts_them_in_order():
    class Stage:
        def __init__(self):
            self.started = []

        def start(self, name):
            self.started.append(name)

    stage = Stage()
    built = writes_beside(stage)
    names = list(load_models())
    first = names.index(INT_VALIDATION)
    for name in names[:first]:
        built(name)
    assert stage.started == []  # nothing beside the large models
    built(INT_VALIDATION)
    assert stage.started == names[:first + 1]  # the held ones, in build order, and the validation
    for name in names[first + 1:]:
        built(name)
        assert stage.started[-1] == name  # each later one as soon as it is built
    assert stage.started == names and writes_beside(None) is None
