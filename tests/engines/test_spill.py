"""Under a memory limit, the staged events leave memory once the dedupe has read them
(``Engine.spill``, ``pipeline.SPILLED_AFTER``): written once as their output file to the engine's
temporary folder, read from there by the later models, copied into the outputs. The outputs must
be exactly those of a run that keeps the table in memory, and nothing may stay behind.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import sqlglot

from expguard.core.constants import STG_EXPOSURES
from expguard.engines import create_engine
from expguard.engines.duckdb import DuckDBEngine
from expguard.models.registry import load_models
from expguard.runner.pipeline import run
from expguard.settings.config import EngineSettings, build_config
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, sort_rows, ts, write_rows


def _q(sql: str):
    return sqlglot.parse_one(sql, read="duckdb")


def test_a_spilled_table_is_read_from_its_file_and_written_as_it(tmp_path):
    engine = create_engine(EngineSettings(name="duckdb", memory_limit="1GB", temp_directory=str(tmp_path)))
    try:
        engine.not_null = {"t": ("k",)}
        engine.materialize("t", _q("select range as k, case when range % 3 = 0 then null else 'v' || range end as v "
                                   "from range(1000)"))
        before = sorted(engine.rows("t"), key=lambda r: r["k"])
        assert engine.spill("t") is True
        kinds = dict(engine.con.execute("select table_name, table_type from information_schema.tables "
                                        "where table_name = 't'").fetchall())
        assert kinds == {"t": "VIEW"}  # out of memory: a view over its file
        assert sorted(engine.rows("t"), key=lambda r: r["k"]) == before
        engine.write_parquet("t", tmp_path / "out.parquet")
        spilled = list(tmp_path.glob("expguard-tables-*/t.parquet"))
        assert len(spilled) == 1 and spilled[0].read_bytes() == (tmp_path / "out.parquet").read_bytes()
        # the columns as declared: k REQUIRED, v OPTIONAL
        schema = pq.read_schema(tmp_path / "out.parquet")
        assert not schema.field("k").nullable and schema.field("v").nullable
    finally:
        engine.close()
    assert not list(tmp_path.glob("expguard-tables-*")), "the spilled tables' folder outlived the engine"


def test_without_a_memory_limit_the_table_stays(tmp_path):
    engine = create_engine(EngineSettings(name="duckdb", temp_directory=str(tmp_path)))
    try:
        engine.materialize("t", _q("select 1 as k"))
        assert engine.spill("t") is False
        assert engine.con.execute("select table_type from information_schema.tables where table_name = 't'"
                                  ).fetchall() == [("BASE TABLE",)]
    finally:
        engine.close()


def _project(root: Path) -> tuple[Path, Path]:
    events, assignments = root / "events.parquet", root / "assignments.parquet"
    rows = []
    for u in range(40):
        rows.append(exposure(f"u{u}", ts(minutes=u, days=u % 4), "A" if u % 2 else "B", event_id=f"e{u}"))
        if u % 5 == 0:
            rows.append(exposure(f"u{u}", ts(minutes=u + 1, days=u % 4), "B", event_id=None))
    rows.append(exposure(None, ts(), "A", event_id="bad"))  # rejected
    write_rows(events, rows, EVENT_SCHEMA)
    write_rows(assignments, [assignment(f"u{u}", "A" if u % 2 else "B", ts(days=u % 4)) for u in range(35)],
               ASSIGNMENT_SCHEMA)
    return events, assignments


def test_a_run_under_a_memory_limit_writes_the_same_outputs(tmp_path, monkeypatch):
    events, assignments = _project(tmp_path)
    spilled = []
    original = DuckDBEngine.spill

    def spy(self, name):
        moved = original(self, name)
        spilled.append((name, moved))
        return moved

    monkeypatch.setattr(DuckDBEngine, "spill", spy)
    outputs = {}
    for label, limit in (("kept", None), ("spilled", "1GB")):
        engine = {"name": "duckdb", "temp_directory": str(tmp_path / f"tmp-{label}")}
        (tmp_path / f"tmp-{label}").mkdir()
        if limit:
            engine["memory_limit"] = limit
        run(build_config(events=str(events), assignments=str(assignments), engine=engine,
                         vars={"exp_health_as_of": "2026-04-01T00:00:00"},
                         output={"dir": str(tmp_path / label), "database": str(tmp_path / f"{label}.duckdb")}))
        assert not list((tmp_path / f"tmp-{label}").iterdir()), "a run left its temporary tables behind"
        outputs[label] = tmp_path / label
    assert spilled == [(STG_EXPOSURES, False), (STG_EXPOSURES, True)]
    for name in load_models():
        kept, moved = outputs["kept"] / f"{name}.parquet", outputs["spilled"] / f"{name}.parquet"
        assert pq.read_schema(kept) == pq.read_schema(moved), name
        assert sort_rows(pq.read_table(kept).to_pylist()) == sort_rows(pq.read_table(moved).to_pylist()), name
    with duckdb.connect(str(tmp_path / "kept.duckdb"), read_only=True) as a, \
            duckdb.connect(str(tmp_path / "spilled.duckdb"), read_only=True) as b:
        for name in load_models():
            assert a.sql(f"describe {name}").fetchall() == b.sql(f"describe {name}").fetchall(), name
            assert sort_rows(a.sql(f"select * from {name}").to_arrow_table().to_pylist()) == \
                sort_rows(b.sql(f"select * from {name}").to_arrow_table().to_pylist()), name


def test_the_engine_makes_its_own_temporary_folder_only_when_it_spills(tmp_path, monkeypatch):
    """A run killed before anything spilled (most runs) leaves no folder in the system temp folder:
    the engine names its own folder at start, DuckDB makes it when it first spills, close() removes it."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    engine = create_engine(EngineSettings(name="duckdb", memory_limit="1GB"))
    try:
        engine.materialize("t", _q("select 1 as k"))
        assert list(tmp_path.iterdir()) == []  # nothing made yet: a kill now leaves nothing
        assert engine.spill("t") is True  # the spilled table needs it: made now
        assert [p.name.startswith("expguard-spill-") for p in tmp_path.iterdir()] == [True]
    finally:
        engine.close()
    assert list(tmp_path.iterdir()) == []
