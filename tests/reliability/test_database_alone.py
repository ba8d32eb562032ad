"""A run whose only output is a DuckDB database builds its large models straight into it, in the
run's one transaction (runner.pipeline.build_into_output): they are in the file's transaction as
they are built, the small models are not yet, nothing is in the file before the commit, and a run
that ends without committing leaves the file as it was. With an output folder too, or with an input
read from that same file, the run builds in memory and copies at the end, as before. And the
readers of such a file (report, diagnose, alerts) wait for a run writing it, under its lock."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

import expguard
from expguard.cli import main
from expguard.core.errors import LockError
from expguard.outputs import earlier_run
from expguard.outputs.publish import database_lock, exclusive_lock, shared_lock
from expguard.apps.demo.generator import generate, write_dataset
from expguard.core.constants import FCT_DAILY, INT_DEDUPED, INT_VALIDATION, STG_EXPOSURES
from expguard.engines import create_engine
from expguard.runner.pipeline import (BUILT_INTO_OUTPUT, build_checked, build_into_output, database_alone, prepare)
from expguard.settings.config import build_config

AS_OF = {"exp_health_as_of": "2026-06-01T00:00:00"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    return write_dataset(generate(3_000, seed=7), tmp_path_factory.mktemp("data"))


def tables(database: Path) -> set[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}


def test_the_large_models_are_built_in_the_files_transaction_and_gone_without_a_commit(dataset, tmp_path):
    events, assignments = dataset
    database = tmp_path / "models.duckdb"
    expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF)
    before = tables(database)
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(f"select count(*) from {INT_VALIDATION}").fetchall()[0][0]
    config = build_config(events=str(events), assignments=str(assignments), output={"database": str(database)},
                          vars={**AS_OF, "exp_exposure_max_days_after_assignment": 3})
    engine = create_engine(config.engine)
    try:
        prepare(engine, config)
        assert database_alone(engine, config) == database
        build_into_output(engine, database)
        build_checked(engine, config)
        # inside the transaction: the large models are the file's tables, the others temporary
        in_file = {row[0] for row in engine.con.execute(
            "select table_name from information_schema.tables where table_catalog = 'expguard_out' "
            "and table_schema = 'main'").fetchall()}
        assert set(BUILT_INTO_OUTPUT) == {STG_EXPOSURES, INT_DEDUPED, INT_VALIDATION}
        assert set(BUILT_INTO_OUTPUT) <= in_file and engine.in_place == set(BUILT_INTO_OUTPUT)
        assert engine.row_count(INT_VALIDATION) == rows
    finally:
        engine.close()  # no commit: rolled back
    assert tables(database) == before
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute(f"select count(*) from {INT_VALIDATION}").fetchall()[0][0] == rows


def test_a_folder_or_an_input_in_the_same_file_keeps_the_copy_at_the_end(dataset, tmp_path):
    events, assignments = dataset
    database = tmp_path / "models.duckdb"
    expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF)
    engine = create_engine(build_config(events=str(events), assignments=str(assignments)).engine)
    try:
        with_folder = build_config(events=str(events), assignments=str(assignments),
                                   output={"database": str(database), "dir": str(tmp_path / "out")})
        assert database_alone(engine, with_folder) is None
        # the assignments read from the output file itself (a table an earlier run wrote there)
        same_file = build_config(events=str(events), assignments=f"{database}::{INT_VALIDATION}",
                                 assignments_columns={"variation_id": "assigned_variation_id"},
                                 output={"database": str(database)})
        assert database_alone(engine, same_file) is None
    finally:
        engine.close()


def test_a_database_alone_holds_every_model_with_the_same_rows_as_a_copied_one(dataset, tmp_path):
    events, assignments = dataset
    alone, copied = tmp_path / "alone.duckdb", tmp_path / "copied.duckdb"
    expguard.run(str(events), str(assignments), database=str(alone), vars=AS_OF)
    expguard.run(str(events), str(assignments), database=str(copied), output_dir=str(tmp_path / "out"), vars=AS_OF)
    assert tables(alone) == tables(copied) and FCT_DAILY in tables(alone)
    with duckdb.connect(str(alone), read_only=True) as a:
        a.execute(f"attach '{copied}' as c (read_only)")
        for name in tables(copied):
            for left, right in ((f"alone.main.{name}", f"c.main.{name}"), (f"c.main.{name}", f"alone.main.{name}")):
                assert a.execute(f"select count(*) from (select * from {left} except all select * from {right})"
                                 ).fetchall()[0][0] == 0, name


# -- readers of the file beside a run -----------------------------------------------------------
# A run writing the file holds its lock (FILE.lock) exclusively from its first model to its commit,
# and DuckDB locks the file meanwhile; report, diagnose and alerts read an earlier run's file under
# the same lock, shared: a reader waits for the run, and a run waits for its readers.

def test_a_reader_waits_for_the_run_writing_the_file_then_reads_its_tables(dataset, tmp_path):
    events, assignments = dataset
    database = tmp_path / "models.duckdb"
    expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF)
    expected = alerts_of(database)
    read: list[int] = []
    reader = threading.Thread(target=lambda: read.append(alerts_of(database)))
    with exclusive_lock(database_lock(database), 5, database):  # as a run holds it
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and not read  # waiting while the lock is held
    reader.join(30)
    assert read == [expected]


def test_a_reader_that_waits_too_long_stops_with_one_line(dataset, tmp_path, monkeypatch):
    events, assignments = dataset
    database = tmp_path / "models.duckdb"
    expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF)
    monkeypatch.setattr(earlier_run, "READ_LOCK_TIMEOUT", 0.3)
    with exclusive_lock(database_lock(database), 5, database):
        with pytest.raises(LockError, match=r"^an expguard run is writing '.*models\.duckdb' \(lock .* held for over 0\.3 s\)"):
            alerts_of(database)


def test_a_run_waits_for_a_reader_and_says_so_when_it_cannot(dataset, tmp_path):
    events, assignments = dataset
    database = tmp_path / "models.duckdb"
    expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF)
    with shared_lock(database_lock(database), 5, database):
        with pytest.raises(LockError, match="another expguard process is writing or reading"):
            expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF, lock_timeout=0.3)
    assert alerts_of(database) >= 0  # the file as the first run left it


def test_another_program_writing_the_file_is_one_clear_error(dataset, tmp_path):
    events, assignments = dataset
    database = tmp_path / "models.duckdb"
    expguard.run(str(events), str(assignments), database=str(database), vars=AS_OF)
    writer = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(30)", str(database)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        done = CliRunner().invoke(main, ["alerts", "--database", str(database)])
    finally:
        writer.kill()
        writer.wait()
    assert done.exit_code == 2
    assert done.output.startswith("expguard: error: cannot open database file") and done.output.count("\n") == 1


def alerts_of(database: Path) -> int:
    """How many alert rows an earlier run's file holds, read as `expguard alerts` reads it."""
    with earlier_run.engine(("fct_experiment_exposure_alerts",), None, database) as engine:
        return engine.row_count("fct_experiment_exposure_alerts")
