"""Under a buffer too small for their hash tables, the dedupe and the validation are built in
parts by unit (``pipeline.BY_UNIT``, ``parts_for``, ``Engine.materialize_parts``): each part is
the model's own SQL on its inputs' rows of one hash bucket of ``unit_id``. The rows must be
exactly those of the model built whole, for any data, and nothing of the parts may stay behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expguard.core.constants import INT_DEDUPED, INT_VALIDATION
from expguard.engines import create_engine
from expguard.engines.duckdb import DuckDBEngine
from expguard.models.registry import load_models
from expguard.runner import pipeline
from expguard.settings.config import EngineSettings, build_config
from helpers import run_models, sort_rows
from strategies import assignment_rows, event_rows

ALL_MODELS = tuple(load_models())
AS_OF = "2026-04-01T00:00:00"  # the health model's reference time, pinned: the two runs are compared


def _in_parts(count: int):
    """A DuckDB engine that asks for ``count`` parts, whatever the data's size."""
    return mock.patch.object(pipeline, "parts_for", lambda rows, budget: count)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event_rows(), max_size=30), assignments=assignment_rows(), parts=st.integers(2, 5))
def test_a_model_built_in_parts_has_the_rows_of_the_model_built_whole(events, assignments, parts):
    with tempfile.TemporaryDirectory() as tmp:
        whole = run_models(Path(tmp) / "whole", events, assignments, models=ALL_MODELS, exp_health_as_of=AS_OF)
        with _in_parts(parts):
            split = run_models(Path(tmp) / "split", events, assignments, models=ALL_MODELS, exp_health_as_of=AS_OF)
    for name in ALL_MODELS:
        assert sort_rows(split[name]) == sort_rows(whole[name]), name


def test_the_demo_data_built_in_parts_gives_every_output_of_the_whole_build(tmp_path):
    """The generator's defects (units exposed to other variations, to several, before their
    assignment, unassigned, duplicated events) through every model, three parts against one."""
    import expguard
    from expguard.apps.demo.generator import generate, write_dataset
    from helpers import read_model

    events, assignments = write_dataset(generate(20_000, seed=3), tmp_path / "data")
    outputs = {}
    for label, parts in (("whole", 1), ("split", 3)):
        with _in_parts(parts):
            expguard.run(str(events), str(assignments), output_dir=str(tmp_path / label), vars={"exp_health_as_of": AS_OF})
        outputs[label] = {name: read_model(tmp_path / label / f"{name}.parquet") for name in ALL_MODELS}
    assert len(outputs["whole"][INT_VALIDATION]) > 1000
    for name in ALL_MODELS:
        assert sort_rows(outputs["split"][name]) == sort_rows(outputs["whole"][name]), name


def test_a_small_buffer_builds_the_unit_models_in_parts_and_drops_their_views(tmp_path, monkeypatch):
    from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, ts, write_rows

    events = [exposure(f"u{u}", ts(minutes=u), "A" if u % 3 else "B", event_id=f"e{u}") for u in range(60)]
    events += [exposure(f"u{u}", ts(minutes=u + 7), "B", event_id=None) for u in range(0, 60, 4)]
    write_rows(tmp_path / "events.parquet", events, EVENT_SCHEMA)
    write_rows(tmp_path / "assignments.parquet",
               [assignment(f"u{u}", "A" if u % 2 else "B", ts(minutes=u - 3)) for u in range(50)], ASSIGNMENT_SCHEMA)
    # a budget of one byte: the most parts there are
    monkeypatch.setattr(DuckDBEngine, "hash_budget", lambda self: 1)
    seen: dict[str, int] = {}

    def progress(event: str, info: dict) -> None:
        if event == "model_done":
            seen[info["name"]] = info["parts"]

    config = build_config(events=str(tmp_path / "events.parquet"), assignments=str(tmp_path / "assignments.parquet"),
                          engine={"name": "duckdb", "memory_limit": "1GB"},
                          vars={"exp_health_as_of": "2026-04-01T00:00:00"})
    with pipeline.built_engine(config, progress) as engine:
        views = [r[0] for r in engine.con.execute(
            "select table_name from information_schema.tables where table_name like '__expguard_part%'").fetchall()]
    assert seen[INT_DEDUPED] == seen[INT_VALIDATION] == pipeline.MAX_PARTS
    assert all(parts == 1 for name, parts in seen.items() if name not in pipeline.BY_UNIT)
    assert views == [], "the parts' views outlived the build"


def test_the_run_prints_how_many_parts_it_built(tmp_path):
    from click.testing import CliRunner

    from expguard.cli import main
    from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, ts, write_rows

    write_rows(tmp_path / "e.parquet", [exposure(f"u{u}", ts(minutes=u), "A") for u in range(20)], EVENT_SCHEMA)
    write_rows(tmp_path / "a.parquet", [assignment(f"u{u}", "A", ts()) for u in range(20)], ASSIGNMENT_SCHEMA)
    with _in_parts(3):
        result = CliRunner().invoke(main, ["run", "--events", str(tmp_path / "e.parquet"), "--assignments",
                                           str(tmp_path / "a.parquet"), "--output-dir", str(tmp_path / "out"),
                                           "--as-of", "2026-04-01T00:00:00"])
    assert result.exit_code == 0, result.output
    built = [line for line in result.output.splitlines() if "built" in line]
    assert any(INT_DEDUPED in line and line.endswith("in 3 parts by unit") for line in built), built
    assert any(INT_VALIDATION in line and line.endswith("in 3 parts by unit") for line in built), built
    assert not any("parts" in line for line in built if INT_DEDUPED not in line and INT_VALIDATION not in line)


def test_the_duckdb_budget_is_half_its_memory_limit(tmp_path):
    engine = create_engine(EngineSettings(name="duckdb", memory_limit="2GB", temp_directory=str(tmp_path)))
    try:
        # DuckDB reads 2GB as 2e9 bytes and shows it as "1.8 GiB"
        assert 0.9e9 <= engine.hash_budget() <= 1.0e9
    finally:
        engine.close()
    engine = create_engine(EngineSettings(name="duckdb", temp_directory=str(tmp_path)))
    try:
        # without a limit, DuckDB's own (80% of the machine's memory): a run this size is built whole
        budget = engine.hash_budget()
        assert budget is not None and pipeline.parts_for(7_000_000, budget) == 1
    finally:
        engine.close()


def test_an_incremental_first_run_into_a_database_builds_in_parts_the_same_tables(tmp_path, monkeypatch):
    """The first run of ``--incremental`` into a database builds in the output's open
    transaction (its tables temporary until the commit): the parts' views and inserts work there
    too, and every table equals the one built whole."""
    import duckdb

    import expguard
    from expguard.apps.demo.generator import generate, write_dataset

    events, assignments = write_dataset(generate(20_000, seed=9), tmp_path / "data")
    for label, budget in (("whole", None), ("parts", 1)):
        monkeypatch.setattr(DuckDBEngine, "hash_budget", lambda self, b=budget: b)
        result = expguard.run(str(events), str(assignments), database=str(tmp_path / f"{label}.duckdb"),
                              incremental=True, engine={"memory_limit": "1GB"}, vars={"exp_health_as_of": AS_OF})
        built = {model.name: model.parts for model in result.models}
        assert (built[INT_DEDUPED], built[INT_VALIDATION]) == ((1, 1) if budget is None else (16, 16))
    with duckdb.connect() as con:
        con.execute(f"attach '{tmp_path / 'whole.duckdb'}' as whole (read_only)")
        con.execute(f"attach '{tmp_path / 'parts.duckdb'}' as parts (read_only)")
        for name in ALL_MODELS:
            a = con.sql(f"select * from whole.main.{name}").to_arrow_table().to_pylist()
            b = con.sql(f"select * from parts.main.{name}").to_arrow_table().to_pylist()
            assert len(a) > 0 or name.endswith("alerts"), name
            assert sort_rows(b) == sort_rows(a), name
