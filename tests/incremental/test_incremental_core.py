"""Incremental runs (``expguard run --incremental``): each piece, each compared with a full run.

Every test builds the outputs batch by batch with incremental runs and checks that every model
(all eleven, Parquet folder and database) equals one full run on all the data: the same rows
as a multiset and the same column types (and Parquet repetition). The freshness reference time
is fixed (``exp_health_as_of``) so that two runs are comparable.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from expguard.cli import main
from expguard.core.errors import ContractError
from expguard.models.registry import load_models
from expguard.runner.incremental import STATE_FORMAT
from expguard.runner.pipeline import run
from expguard.settings.config import ColumnMapping, Source, build_config
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, sort_rows, ts, write_rows

AS_OF = "2026-04-01T00:00:00"
MODELS = list(load_models())
STATE_FILE = "_expguard_state.json"
BY_VARIATION = "fct_experiment_exposure_quality_daily_by_variation"
REJECTIONS = "int_experiment_exposure_rejections_daily"


class Project:
    """An events folder, an assignment file, and two output sets: incremental and full."""

    def __init__(self, root: Path, engine: str = "duckdb", outputs: str = "folder and database", **variables: Any) -> None:
        self.root = root
        self.engine = engine
        #: "folder and database", or "database" alone (where DuckDB updates the big tables in place)
        self.folder = outputs != "database"
        self.events = root / "events"
        self.events.mkdir(parents=True)
        self.assignments = root / "assignments.parquet"
        self.variables = {"exp_health_as_of": AS_OF, **variables}

    def add_events(self, name: str, rows: list[dict]) -> Path:
        path = self.events / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_rows(path, rows, EVENT_SCHEMA)

    def set_assignments(self, rows: list[dict]) -> None:
        write_rows(self.assignments, rows, ASSIGNMENT_SCHEMA)

    def config(self, out: str, incremental: bool, **variables: Any):
        output = {"database": str(self.root / f"{out}.duckdb")}
        if self.folder:
            output["dir"] = str(self.root / out)
        return build_config(events=str(self.events), assignments=str(self.assignments),
                            vars={**self.variables, **variables}, output=output, incremental=incremental,
                            engine={"name": self.engine})

    @property
    def where(self) -> str:
        """How the run names the outputs (relative to the project folder, the current one)."""
        return "inc" if self.folder else "inc.duckdb"

    def rows(self, name: str) -> list[dict]:
        """A model's rows in the incremental output database."""
        with duckdb.connect(str(self.root / "inc.duckdb"), read_only=True) as con:
            return con.sql(f"select * from {name}").to_arrow_table().to_pylist()

    def state(self) -> dict:
        """The state in the incremental outputs (the same in the folder and the database)."""
        with duckdb.connect(str(self.root / "inc.duckdb"), read_only=True) as con:
            state = json.loads(con.sql("select state from _expguard_state").fetchall()[0][0])
        if self.folder:
            assert json.loads((self.root / "inc" / STATE_FILE).read_text()) == state
        return state

    def outputs(self) -> dict[str, Any]:
        """Everything in the incremental outputs: the folder's files' bytes, the database's tables."""
        found: dict[str, Any] = {}
        if self.folder:
            found.update({p.name: p.read_bytes() for p in (self.root / "inc").iterdir()})
        with duckdb.connect(str(self.root / "inc.duckdb"), read_only=True) as con:
            for (table,) in con.sql("show tables").fetchall():
                found[table] = sort_rows(con.sql(f"select * from {table}").to_arrow_table().to_pylist())
        return found

    def incremental(self, **variables: Any):
        return run(self.config("inc", True, **variables))

    def full(self, **variables: Any):
        shutil.rmtree(self.root / "full", ignore_errors=True)
        (self.root / "full.duckdb").unlink(missing_ok=True)
        return run(self.config("full", False, **variables))

    def assert_same_as_full(self, **variables: Any) -> None:
        """Every model of the incremental outputs equals a full run on all the data now."""
        self.full(**variables)
        for name in MODELS if self.folder else ():
            inc, full = self.root / "inc" / f"{name}.parquet", self.root / "full" / f"{name}.parquet"
            assert pq.read_schema(inc) == pq.read_schema(full), name
            assert sort_rows(pq.read_table(inc).to_pylist()) == sort_rows(pq.read_table(full).to_pylist()), name
        with duckdb.connect(str(self.root / "inc.duckdb"), read_only=True) as a, \
                duckdb.connect(str(self.root / "full.duckdb"), read_only=True) as b:
            for name in MODELS:
                assert a.sql(f"describe {name}").fetchall() == b.sql(f"describe {name}").fetchall(), name
                rows_a = sort_rows(a.sql(f"select * from {name}").to_arrow_table().to_pylist())
                rows_b = sort_rows(b.sql(f"select * from {name}").to_arrow_table().to_pylist())
                assert rows_a == rows_b, name
            # the state is the only extra thing in the outputs, with (a database alone, updated in
            # place) the deduped rows of the exposed units without an assignment, as the full run's
            # outputs have them
            tables = {r[0] for r in a.sql("show tables").fetchall()} - {r[0] for r in b.sql("show tables").fetchall()}
            if (self.root / "inc").is_dir() or self.engine != "duckdb":
                # (a folder too, or Spark: the database is written in full, not updated in place)
                assert tables == {"_expguard_state"}
            else:
                assert tables == {"_expguard_state", "_expguard_unassigned_exposures"}
                kept = sort_rows(a.sql("select * from _expguard_unassigned_exposures").to_arrow_table().to_pylist())
                expected = sort_rows(b.sql(
                    "select d.* from int_experiment_exposures_deduped as d where not exists (select 1 from "
                    "int_experiment_exposure_validation as v where v.experiment_id = d.experiment_id "
                    "and v.unit_id = d.unit_id)").to_arrow_table().to_pylist())
                assert kept == expected
        if self.folder:
            extra = {p.name for p in (self.root / "inc").iterdir()} - {p.name for p in (self.root / "full").iterdir()}
            assert extra == {STATE_FILE}


def day_rows(day: int, units: range, variation: str = "A", experiment: str = "exp") -> list[dict]:
    """One exposure per unit on day ``day`` (units assigned on day 0), with a duplicate for some."""
    rows = []
    for u in units:
        rows.append(exposure(f"u{u}", ts(minutes=u, days=day), variation, experiment, event_id=f"e{day}-{u}"))
        if u % 3 == 0:
            rows.append(exposure(f"u{u}", ts(minutes=u + 1, days=day), variation, experiment, event_id=f"f{day}-{u}"))
    return rows


def base_assignments(n: int = 30) -> list[dict]:
    return [assignment(f"u{u}", "A" if u % 2 else "B", ts(days=u % 3)) for u in range(n)] + [
        assignment(f"u{u}", "A", ts(days=1), experiment_id="exp2") for u in range(5)]


@pytest.fixture(params=["folder and database", "database"])
def project(tmp_path: Path, monkeypatch, request) -> Project:
    """A project writing a Parquet folder and a database (the models copied and written in full),
    or a database alone (DuckDB updates its three big tables in place)."""
    monkeypatch.chdir(tmp_path)  # paths in messages are shown relative to the current folder
    p = Project(tmp_path, outputs=request.param)
    p.set_assignments(base_assignments())
    p.add_events("day-00.parquet", day_rows(0, range(0, 20)))
    return p


def test_first_run_is_a_full_build_that_records_its_state(project):
    result = project.incremental()
    assert result.increment.mode == "full"
    assert result.increment.reason == f"first run: no earlier state in {project.where}"
    assert set(result.increment.steps) >= {"build", "write"}
    state = project.state()
    assert state["format"] == STATE_FORMAT
    assert list(state["inputs"]["events"]["files"]) == [str(project.events / "day-00.parquet")]
    project.assert_same_as_full()


def test_a_run_without_incremental_has_no_increment_and_leaves_no_state(project):
    project.incremental()
    result = run(project.config("inc", False))
    assert result.increment is None
    assert not (project.root / "inc" / STATE_FILE).exists()
    with duckdb.connect(str(project.root / "inc.duckdb"), read_only=True) as con:
        assert "_expguard_state" not in {r[0] for r in con.sql("show tables").fetchall()}
    # so the next incremental run starts over instead of trusting a stale list of files
    project.add_events("day-01.parquet", day_rows(1, range(10, 25)))
    assert project.incremental().increment.reason.startswith("first run: no earlier state")
    project.assert_same_as_full()


def test_new_files_are_appended_and_touched_keys_restated(project):
    project.incremental()
    project.add_events("day-01.parquet", day_rows(1, range(10, 25)))
    result = project.incremental()
    inc = result.increment
    assert inc.mode == "incremental" and inc.reason is None
    assert inc.new_files == ["events/day-01.parquet"]
    assert inc.new_event_rows == len(day_rows(1, range(10, 25)))
    # units 10..24 of exp: assigned up to u29, so every one is an assigned unit restated
    assert inc.restated_units == 15
    assert inc.restated_cohorts == 3  # assignment days 0, 1 and 2
    assert set(inc.steps) >= {"read state", "new events", "deduped", "validation", "downstream models", "write"}
    project.assert_same_as_full()
    # and once more, a third batch with new experiments' events and unassigned units
    project.add_events("day-02.parquet", day_rows(2, range(0, 40)) + day_rows(2, range(3), "B", "exp2"))
    assert project.incremental().increment.mode == "incremental"
    project.assert_same_as_full()


def test_a_late_file_for_an_old_day_restates_the_earliest_exposure(project):
    project.add_events("day-05.parquet", day_rows(5, range(0, 30)))
    project.incremental()
    # arrives later, for day 1, before day 5's events: the kept (earliest) event changes, the
    # counts add up, and a unit is now exposed to another variation too
    late = day_rows(1, range(20, 30)) + [exposure("u5", ts(days=1), "B", event_id="late-b")]
    project.add_events("day-01-late.parquet", late)
    result = project.incremental()
    assert result.increment.mode == "incremental"
    assert result.increment.new_files == ["events/day-01-late.parquet"]
    project.assert_same_as_full()
    deduped = project.rows("int_experiment_exposures_deduped")
    kept = {(r["unit_id"], r["variation_id"]): r for r in deduped if r["experiment_id"] == "exp"}
    assert kept[("u21", "A")]["event_id"] == "e1-21" and kept[("u21", "A")]["exposure_event_count"] == 4
    validation = project.rows("int_experiment_exposure_validation")
    assert {r["unit_id"]: r["exposure_status"] for r in validation if r["experiment_id"] == "exp"}["u5"] == \
        "multi_variation_exposure"


def test_rejected_and_unusable_rows_in_a_new_file(project):
    project.incremental()
    project.add_events("day-03.parquet", [
        exposure(None, ts(days=3)), exposure("u1", None), exposure("u2", ts(days=3), variation_id=None),
        exposure("u3", ts(days=3), experiment_id=None), exposure("u4", ts(days=3), event_name="page_view"),
        exposure("u4", ts(days=3), event_id=None), exposure("u4", ts(days=3), event_id=None),
    ])
    assert project.incremental().increment.new_event_rows == 7
    project.assert_same_as_full()


def test_new_changed_and_deleted_assignments(project):
    project.add_events("unassigned.parquet", day_rows(1, range(50, 53)))  # exposed, not (yet) assigned
    project.incremental()
    rows = base_assignments()
    rows[4] = assignment("u4", "A", ts(days=2))            # changed variation and time
    rows[5] = assignment("u5", "A", ts(days=-3))           # changed time only (another cohort)
    del rows[7]                                            # deleted
    rows += [assignment("u100", "B", ts(days=2)), assignment("u101", "A", ts(days=0), experiment_id="exp3"),
             assignment("u51", "B", ts(days=1, minutes=30))]  # exposed a day ago: now an assigned unit
    project.set_assignments(rows)
    result = project.incremental()
    inc = result.increment
    assert inc.mode == "incremental"
    assert inc.new_files == ["assignments.parquet"]
    assert inc.new_assignment_rows == 5  # two changed, three new (the deletion is not counted)
    assert inc.restated_units == 6
    project.assert_same_as_full()
    validation = {(r["experiment_id"], r["unit_id"]): r for r in project.rows("int_experiment_exposure_validation")}
    assert ("exp", "u7") not in validation
    # its exposures of an earlier batch (variation A) are judged against its new assignment (B)
    assert validation[("exp", "u51")]["exposure_status"] == "variation_mismatch"



def test_assignments_and_events_change_together(project):
    project.incremental()
    project.set_assignments(base_assignments(40))
    project.add_events("day-02.parquet", day_rows(2, range(25, 45)))
    assert project.incremental().increment.mode == "incremental"
    project.assert_same_as_full()


def test_a_duplicate_assignment_across_batches_stops_the_run_as_a_full_run_does(project):
    project.incremental()
    before = project.outputs()
    project.set_assignments(base_assignments() + [assignment("u3", "B", ts(days=4))])
    with pytest.raises(ContractError) as incremental_error:
        project.incremental()
    with pytest.raises(ContractError) as full_error:
        project.full()
    assert str(incremental_error.value) == str(full_error.value)
    assert "more than one row for the same (experiment_id, unit_id)" in str(full_error.value)
    # nothing written: the previous outputs and their state are as they were
    assert project.outputs() == before
    # a null id in the new assignments: the same message too
    project.set_assignments(base_assignments() + [assignment("u200", None, ts())])
    with pytest.raises(ContractError) as incremental_error:
        project.incremental()
    with pytest.raises(ContractError) as full_error:
        project.full()
    assert str(incremental_error.value) == str(full_error.value)
    project.set_assignments(base_assignments())
    assert project.incremental().increment.mode == "incremental"
    project.assert_same_as_full()


def test_nothing_new(project):
    project.incremental()
    result = project.incremental()
    inc = result.increment
    assert inc.mode == "incremental"
    assert (inc.new_files, inc.new_event_rows, inc.new_assignment_rows, inc.restated_units) == ([], 0, 0, 0)
    assert inc.lines()[0] == "incremental run: nothing new since the last run"
    project.assert_same_as_full()


@pytest.mark.parametrize("change, reason", [
    (lambda p: p.add_events("day-00.parquet", day_rows(0, range(0, 21))),
     "a processed file changed: events/day-00.parquet"),
    (lambda p: (p.events / "day-00.parquet").rename(p.events / "day-00b.parquet"),
     "a processed file is gone: events/day-00.parquet"),
])
def test_a_processed_file_changed_or_gone_forces_a_full_build(project, change, reason):
    project.incremental()
    change(project)
    result = project.incremental()
    assert result.increment.mode == "full"
    assert result.increment.reason == reason
    project.assert_same_as_full()


def test_a_cohort_emptied_by_a_deleted_assignment_leaves_the_by_variation_model(project):
    # the by-variation counts of a database updated in place are restated (previous counts, plus
    # the recomputed rows', minus the rows before): a cohort whose last assignment goes has no row
    lone = assignment("u99", "A", ts(days=9), experiment_id="exp3")
    project.set_assignments(base_assignments() + [lone])
    project.add_events("day-09.parquet", [exposure("u99", ts(days=9, minutes=5), "A", "exp3", event_id="lone")])
    project.incremental()
    cohorts = {(r["experiment_id"], r["assigned_variation_id"]) for r in project.rows(BY_VARIATION)}
    assert ("exp3", "A") in cohorts
    project.set_assignments(base_assignments())
    result = project.incremental()
    assert result.increment.mode == "incremental"
    assert ("exp3", "A") not in {(r["experiment_id"], r["assigned_variation_id"]) for r in project.rows(BY_VARIATION)}
    project.assert_same_as_full()


@pytest.mark.parametrize("table", ["fct_experiment_exposure_quality_daily_by_variation",
                                   "int_experiment_exposure_rejections_daily"])
def test_an_earlier_output_missing_forces_a_full_build(project, table):
    # a model the update reads back (in a database updated in place, the by-variation counts are
    # restated from theirs, the rejection counts merged with theirs) dropped from the outputs by hand
    project.incremental()
    with duckdb.connect(str(project.root / "inc.duckdb")) as con:
        con.execute(f"drop table {table}")
    project.add_events("day-01.parquet", day_rows(1, range(5)))
    result = project.incremental()
    assert result.increment.reason == f"an earlier output is missing: inc.duckdb table {table}"
    project.assert_same_as_full()


def test_the_rejection_counts_of_an_update_in_place_merge_the_previous_ones(project):
    # a database updated in place: the rejections model is its previous rows merged with the
    # model on the new events alone (models/merges/), so a count changed by hand in the outputs
    # stays changed and the new events add to it; with a folder too, the model is rebuilt from
    # every staged event and the hand change is gone
    project.incremental()
    with duckdb.connect(str(project.root / "inc.duckdb")) as con:
        day = con.execute(f"select min(exposure_date) from {REJECTIONS} where experiment_id is not null").fetchall()[0][0]
        before = con.execute(f"select sum(exposure_events) from {REJECTIONS}").fetchall()[0][0]
        staged = con.execute("select count(*) from stg_experiment_exposures").fetchall()[0][0]
        con.execute(f"update {REJECTIONS} set exposure_events = exposure_events + 1000 where exposure_date = ?", [day])
        changed = con.execute(f"select count(*) from {REJECTIONS} where exposure_date = ?", [day]).fetchall()[0][0]
    project.add_events("day-01.parquet", day_rows(1, range(5)))
    result = project.incremental()
    assert result.increment.mode == "incremental"
    added = len(project.rows("stg_experiment_exposures")) - staged
    assert added > 0 and changed > 0
    kept = 0 if project.folder else 1000 * changed
    assert sum(r["exposure_events"] for r in project.rows(REJECTIONS)) == before + kept + added


def test_changed_variables_force_a_full_build_only_when_the_updated_models_read_them(project):
    project.incremental()
    project.add_events("day-01.parquet", day_rows(1, range(5)))
    result = project.incremental(exp_exposure_max_days_after_assignment=7)
    assert result.increment.reason == "variables changed: exp_exposure_max_days_after_assignment 30 -> 7"
    project.assert_same_as_full(exp_exposure_max_days_after_assignment=7)
    # a variable of the models rebuilt in full every run: no full build needed
    project.add_events("day-02.parquet", day_rows(2, range(5)))
    result = project.incremental(exp_exposure_max_days_after_assignment=7, exp_health_coverage_warn=0.9,
                                 exp_health_as_of="2026-05-01T00:00:00")
    assert result.increment.mode == "incremental"
    project.assert_same_as_full(exp_exposure_max_days_after_assignment=7, exp_health_coverage_warn=0.9,
                                exp_health_as_of="2026-05-01T00:00:00")
    # the horizon of the by-variation counts, which an update in place restates from their
    # previous values (models/restate.py): a full build
    project.add_events("day-03.parquet", day_rows(3, range(5)))
    result = project.incremental(exp_exposure_max_days_after_assignment=7, exp_alert_horizon_days=2)
    assert result.increment.reason == "variables changed: exp_alert_horizon_days 1 -> 2"
    project.assert_same_as_full(exp_exposure_max_days_after_assignment=7, exp_alert_horizon_days=2)
    result = project.incremental(exp_exposure_max_days_after_assignment=7, exp_alert_horizon_days=2,
                                 exp_exposure_event_name=["experiment_viewed", "x"])
    assert result.increment.reason == ('variables changed: exp_exposure_event_name "experiment_viewed" -> '
                                       '["experiment_viewed", "x"]')


def test_changed_mapping_models_or_inputs_force_a_full_build(project, monkeypatch):
    project.incremental()
    config = dataclasses.replace(project.config("inc", True),
                                 event_mapping=ColumnMapping.for_events({"unit_id": "coalesce(unit_id, 'anon')"}))
    result = run(config)
    assert result.increment.reason == "column mapping changed (events: unit_id: 'unit_id' -> \"coalesce(unit_id, 'anon')\")"
    import expguard.runner.incremental as incremental

    monkeypatch.setattr(incremental, "__version__", "9.9.9")
    assert project.incremental().increment.reason.startswith("models changed (expguard 0.")
    monkeypatch.setattr(incremental, "models_hash", lambda: "0" * 64)
    assert project.incremental().increment.reason.startswith("models changed (model hash ")
    (project.root / "other").mkdir()
    shutil.copy(project.events / "day-00.parquet", project.root / "other" / "day-00.parquet")
    config = dataclasses.replace(project.config("inc", True), events=Source(path=str(project.root / "other")))
    assert run(config).increment.reason == "the events input changed: events -> other"


def test_table_inputs_are_rebuilt_in_full(project):
    warehouse = project.root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create table events as select * from '{project.events}/*.parquet'")
    config = build_config(events=f"{warehouse}::events", assignments=str(project.assignments), vars=project.variables,
                          output={"dir": str(project.root / "inc")}, incremental=True)
    run(config)
    result = run(config)
    assert result.increment.mode == "full"
    assert result.increment.reason == "table inputs are rebuilt in full (no ingestion watermark mapped)"


def test_hive_partitions_added_day_by_day(tmp_path):
    project = Project(tmp_path)
    project.set_assignments(base_assignments())
    project.add_events("dt=2026-03-01/part-0.parquet", day_rows(0, range(0, 15)))
    project.incremental()
    project.add_events("dt=2026-03-02/part-0.parquet", day_rows(1, range(5, 25)))
    project.add_events("dt=2026-03-01/part-1.parquet", day_rows(0, range(20, 30)))  # late, an old partition
    result = project.incremental()
    assert result.increment.mode == "incremental" and len(result.increment.new_files) == 2
    project.assert_same_as_full()


def test_generated_stream_day_by_day_with_late_slices(tmp_path):
    """The demo generator's stream (every defect) cut into daily files, each run adding a day and
    a late slice of an earlier day; the outputs equal a full run at every step."""
    from expguard.apps.demo.generator import generate

    data = generate(20_000, seed=5, days=6, n_experiments=3)
    project = Project(tmp_path)
    pq.write_table(data.assignments, project.assignments)
    events = data.events
    day = pc.cast(events["event_ts"], pa.date32()).to_pylist()
    days = sorted({d for d in day if d is not None})
    order = pa.array([(d - days[0]).days if d is not None else -1 for d in day])
    late = pa.array([i % 7 == 0 for i in range(len(day))])
    first = 3
    for step in range(first, len(days) + 1, 2):
        on_time = pc.and_(pc.less(order, step), pc.or_(pc.less(order, step - 2), pc.invert(late)))
        already = pc.and_(pc.less(order, step - 2), pc.invert(late)) if step > first else pc.less(order, -1)
        pq.write_table(events.filter(pc.and_(on_time, pc.invert(already))), project.events / f"batch-{step:02d}.parquet")
        result = project.incremental()
        assert result.increment.mode == ("full" if step == first else "incremental")
    project.assert_same_as_full()


def test_incremental_from_the_project_file_and_the_cli(project):
    (project.root / "expguard.toml").write_text(
        'incremental = true\n[events]\npath = "events"\n[assignments]\npath = "assignments.parquet"\n'
        f'[vars]\nexp_health_as_of = "{AS_OF}"\n[output]\ndir = "inc"\ndatabase = "inc.duckdb"\n')
    first = CliRunner().invoke(main, ["run"])
    assert first.exit_code == 0, first.output
    assert "incremental run: full build (first run: no earlier state in inc)" in first.output
    project.add_events("day-01.parquet", day_rows(1, range(3)))
    second = CliRunner().invoke(main, ["run"])
    assert second.exit_code == 0, second.output
    assert "incremental run: updated the last run's outputs" in second.output
    assert "new files: events/day-01.parquet" in second.output
    assert "restated: 3 assigned units in" in second.output
    assert "steps: read state" in second.output
    quiet = CliRunner().invoke(main, ["run", "--quiet"])
    assert "incremental run" not in quiet.output
    project.assert_same_as_full()
    # without the project file's flag, --incremental on the command line
    (project.root / "expguard.toml").write_text(
        (project.root / "expguard.toml").read_text().replace("incremental = true\n", ""))
    plain = CliRunner().invoke(main, ["run"])
    assert "incremental run" not in plain.output and not (project.root / "inc" / STATE_FILE).exists()
    flagged = CliRunner().invoke(main, ["run", "--incremental"])
    assert "incremental run: full build (first run: no earlier state in inc)" in flagged.output


def test_incremental_in_output_section_and_bad_values(tmp_path):
    from expguard.core.errors import ConfigError
    from expguard.settings.config import load_project

    toml = tmp_path / "expguard.toml"
    toml.write_text('[output]\ndir = "out"\nincremental = true\n')
    assert load_project(toml)["incremental"] is True
    toml.write_text('incremental = "yes"\n')
    with pytest.raises(ConfigError, match="incremental must be true or false, got 'yes'"):
        load_project(toml)


@pytest.mark.parametrize("engine", ["duckdb", pytest.param("spark", marks=pytest.mark.spark)])
def test_an_output_database_duckdb_cannot_open_is_one_line_and_left_as_it_was(tmp_path, monkeypatch, engine):
    """The earlier state is read from the output database first: a file there that is not a DuckDB
    database stops the run with the full run's one line (exit 2), not an internal error."""
    monkeypatch.chdir(tmp_path)
    project = Project(tmp_path, engine=engine, outputs="database")
    project.set_assignments(base_assignments())
    project.add_events("day-00.parquet", day_rows(0, range(5)))
    (tmp_path / "inc.duckdb").write_text("not a database\n")
    result = CliRunner().invoke(main, ["run", "--incremental", "--events", "events", "--assignments",
                                       "assignments.parquet", "--database", "inc.duckdb", "--engine", engine])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("expguard: error: cannot open output database "), result.output
    assert "not a valid DuckDB database file" in lines[0]
    assert (tmp_path / "inc.duckdb").read_text() == "not a database\n"


@pytest.mark.spark
@pytest.mark.parametrize("outputs", ["folder and database", "database"])
def test_spark_batches_late_data_and_assignment_changes(tmp_path, outputs):
    """On Spark (the previous outputs read back from the Parquet folder, or from the database):
    a new file, a late file and changed assignments, the outputs equal to a full Spark run on all
    the data."""
    project = Project(tmp_path, engine="spark", outputs=outputs)
    project.set_assignments(base_assignments())
    project.add_events("day-03.parquet", day_rows(3, range(0, 20)))
    assert project.incremental().increment.mode == "full"
    project.add_events("day-01-late.parquet", day_rows(1, range(10, 30)) + [exposure("u5", ts(days=1), "B")])
    rows = base_assignments()
    rows[4] = assignment("u4", "A", ts(days=2))
    del rows[7]
    project.set_assignments(rows + [assignment("u100", "B", ts(days=2))])
    result = project.incremental()
    assert result.increment.mode == "incremental"
    assert (result.increment.new_assignment_rows, result.increment.new_event_rows) == (2, 27)
    project.assert_same_as_full()


def test_a_first_run_stopped_by_a_contract_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    project = Project(tmp_path)
    project.set_assignments(base_assignments() + [assignment("u1", "B")])
    project.add_events("day-00.parquet", day_rows(0, range(5)))
    with pytest.raises(ContractError, match="more than one row for the same"):
        project.incremental()
    assert not (tmp_path / "inc").exists() and not (tmp_path / "inc.duckdb").exists()


def _write_text_rows(path: Path, rows: list[dict], fmt: str) -> None:
    """Event rows as CSV (ISO times, empty for null) or JSON lines."""
    import pyarrow.csv as pacsv

    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    if fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        with open(path, "w", encoding="utf-8") as handle:
            for row in rows:
                row = {k: (v.isoformat() + "Z" if hasattr(v, "isoformat") else v) for k, v in row.items()}
                handle.write(json.dumps(row) + "\n")


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_and_a_glob(tmp_path, monkeypatch, fmt):
    """New CSV or JSON-lines files matched by a glob are read alone, as the full run reads them all."""
    monkeypatch.chdir(tmp_path)
    project = Project(tmp_path)
    project.set_assignments(base_assignments())
    _write_text_rows(project.events / f"day-00.{fmt}", day_rows(0, range(0, 15)), fmt)
    glob = str(project.events / f"day-*.{fmt}")

    folder_config = project.config

    def config(out: str, incremental: bool, **variables: Any):
        return dataclasses.replace(folder_config(out, incremental, **variables), events=Source(path=glob))

    project.config = config  # type: ignore[method-assign]
    assert project.incremental().increment.mode == "full"
    _write_text_rows(project.events / f"day-02.{fmt}", day_rows(2, range(5, 25)), fmt)
    _write_text_rows(project.events / f"day-01.{fmt}", day_rows(1, range(10, 30)) + [exposure(None, ts(days=1))], fmt)
    result = project.incremental()
    assert result.increment.mode == "incremental"
    assert result.increment.new_files == [f"events/day-01.{fmt}", f"events/day-02.{fmt}"]
    project.assert_same_as_full()


def _load(warehouse: Path, rows: list[dict], loaded_at: Any) -> None:
    """Append event rows to the warehouse table ``events``, stamped ``loaded_at``."""
    table = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA).append_column(
        "loaded_at", pa.array([loaded_at] * len(rows), pa.timestamp("us")))
    with duckdb.connect(str(warehouse)) as con:
        con.register("batch", table)
        con.execute("create table if not exists events as select * from batch where false")
        con.execute("insert into events select * from batch")


@pytest.fixture
def warehouse_project(project: Project) -> tuple[Project, Path]:
    """The project's events as a table of a DuckDB file, with ``ingested_at`` mapped (a watermark)."""
    warehouse = project.root / "warehouse.duckdb"
    _load(warehouse, day_rows(0, range(0, 20)), ts(days=1))
    table_config = project.config

    def config(out: str, incremental: bool, **variables: Any):
        return dataclasses.replace(
            table_config(out, incremental, **variables), events=Source(table="events", database=str(warehouse)),
            event_mapping=ColumnMapping.for_events({"ingested_at": "loaded_at"}))

    project.config = config  # type: ignore[method-assign]
    return project, warehouse


def test_a_table_with_an_ingestion_watermark_reads_its_new_rows(warehouse_project):
    project, warehouse = warehouse_project
    assert project.incremental().increment.reason == f"first run: no earlier state in {project.where}"
    # a day's load: new events and late events of an earlier day
    _load(warehouse, day_rows(2, range(10, 30)) + day_rows(0, range(25, 28)), ts(days=3))
    result = project.incremental()
    assert result.increment.mode == "incremental"
    assert result.increment.new_event_rows == len(day_rows(2, range(10, 30)) + day_rows(0, range(25, 28)))
    project.assert_same_as_full()
    assert project.state()["inputs"]["events"]["watermark"] == {"at": "2026-03-04T12:00:00", "rows": 57}
    assert project.incremental().increment.new_event_rows == 0
    project.assert_same_as_full()


def test_a_table_loaded_behind_its_watermark_is_rebuilt_in_full(warehouse_project):
    project, warehouse = warehouse_project
    project.incremental()
    _load(warehouse, day_rows(1, range(3)), ts(days=0))  # stamped before the watermark
    result = project.incremental()
    assert result.increment.reason == ("rows ingested at or before the watermark 2026-03-02T12:00:00 changed "
                                       "(27 then, 31 now)")
    project.assert_same_as_full()
    _load(warehouse, day_rows(2, range(2)), None)
    assert project.incremental().increment.reason == \
        "3 events have no ingested_at (the ingestion watermark): the table is rebuilt in full"
    project.assert_same_as_full()


def _tables(path: Path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {row[0] for row in con.sql("show tables").fetchall()}


def test_the_kept_unassigned_exposures_never_outlive_an_update_in_place(tmp_path, monkeypatch):
    """The table kept beside the models for the updates in place is written by an incremental
    run with a database alone, and dropped by any other write of the database (a run without
    --incremental, a run with a folder too, another engine's writer): a stale copy would give a
    later update wrong unassigned counts."""
    from expguard.engines import create_engine
    from expguard.engines.base import UNASSIGNED_NAME, Engine

    monkeypatch.chdir(tmp_path)
    p = Project(tmp_path, outputs="database")
    p.set_assignments(base_assignments())
    p.add_events("day-00.parquet", day_rows(0, range(0, 20)) + day_rows(0, range(500, 503)))  # 3 unassigned
    database = tmp_path / "inc.duckdb"
    assert p.incremental().increment.mode == "full"
    assert {UNASSIGNED_NAME, "_expguard_state"} <= _tables(database)
    p.add_events("day-01.parquet", day_rows(1, range(503, 505)))
    assert p.incremental().increment.mode == "incremental"
    assert len(p.rows(UNASSIGNED_NAME)) == 5
    p.assert_same_as_full()
    # a run without --incremental: neither the state nor the kept table stays
    run(p.config("inc", False))
    assert not {UNASSIGNED_NAME, "_expguard_state"} & _tables(database)
    # the next incremental run is a full build that writes it again
    assert p.incremental().increment.mode == "full" and UNASSIGNED_NAME in _tables(database)
    # written with a folder too (a full build: the folder has no state yet), the database is not
    # updated in place: no kept table; the next run with the database alone updates it in place
    # and makes the table from the previous tables
    p.folder = True
    p.add_events("day-02.parquet", day_rows(2, range(505, 506)))
    assert p.incremental().increment.mode == "full"
    assert UNASSIGNED_NAME not in _tables(database)
    p.folder = False
    shutil.rmtree(tmp_path / "inc")  # (the folder output dropped)
    p.add_events("day-03.parquet", day_rows(3, range(506, 507)) + day_rows(3, range(0, 2)))
    assert p.incremental().increment.mode == "incremental"
    assert len(p.rows(UNASSIGNED_NAME)) == 7
    p.assert_same_as_full()
    # the writer other engines use (it copies each model through Arrow) drops it too
    engine = create_engine(p.config("inc", False).engine)
    try:
        with duckdb.connect(str(database), read_only=True) as con:
            health = con.sql("select * from fct_experiment_health").to_arrow_table()
        engine.register_arrow("fct_experiment_health", health)
        with Engine.database_writer(engine, ["fct_experiment_health"], database, None):
            pass
    finally:
        engine.close()
    assert UNASSIGNED_NAME not in _tables(database)


def test_health_looks_for_missing_exposures_in_every_event_file(project):
    """An experiment without exposure events: the health model looks through all the events (an
    incremental run binds the view over every file only then) and names the same candidates as a
    full run, here events of another name, in an earlier file, that carry its id."""
    project.add_events("other.parquet", [exposure(f"u{u}", ts(minutes=u), "A", "exp2", event_id=f"o{u}",
                                                  event_name="exp2_seen") for u in range(5)])
    project.incremental()
    project.add_events("day-01.parquet", day_rows(1, range(3)))
    assert project.incremental().increment.mode == "incremental"
    texts = [str(value) for row in project.rows("fct_experiment_health") if row["experiment_id"] == "exp2"
             for value in row.values()]
    assert any("'exp2_seen' (5)" in text for text in texts), texts
    project.assert_same_as_full()
