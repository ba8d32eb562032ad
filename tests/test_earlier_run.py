"""Reading an earlier run's outputs (expguard.earlier_run), as report, diagnose and alerts do:
the same rows from its Parquet folder and from its DuckDB file, and one clear error for each way
the outputs can be missing."""

from __future__ import annotations

import pytest

import expguard
from expguard.outputs import earlier_run
from expguard.core.constants import FCT_DAILY, FCT_SRM, INT_VALIDATION
from expguard.core.errors import ConfigError, InputError
from expguard.apps.demo.generator import generate, write_dataset
from sqlglot import exp

MODELS = (FCT_DAILY, FCT_SRM, INT_VALIDATION)


@pytest.fixture(scope="module")
def earlier(tmp_path_factory):
    directory = tmp_path_factory.mktemp("earlier")
    events, assignments = write_dataset(generate(3_000, seed=5), directory)
    out, database = directory / "out", directory / "run.duckdb"
    expguard.run(str(events), str(assignments), output_dir=str(out), database=str(database))
    return out, database


def _rows(engine, model):
    return sorted(engine.fetch(exp.select("*").from_(model)), key=repr)


def test_the_folder_and_the_database_give_the_same_rows(earlier):
    out, database = earlier
    with earlier_run.engine(MODELS, out, None) as from_folder:
        folder_rows = {m: _rows(from_folder, m) for m in MODELS}
    with earlier_run.engine(MODELS, None, database) as from_database:
        database_rows = {m: _rows(from_database, m) for m in MODELS}
    assert folder_rows == database_rows
    assert all(folder_rows[m] for m in MODELS)


def test_a_missing_output_file_is_named_with_how_to_build_it(earlier, tmp_path):
    out, _ = earlier
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / f"{FCT_DAILY}.parquet").write_bytes((out / f"{FCT_DAILY}.parquet").read_bytes())
    with pytest.raises(InputError, match=rf"{FCT_SRM}\.parquet' not found; build it with: expguard run \.\.\. --output-dir"):
        earlier_run.sources(MODELS, partial, None)


def test_a_missing_database_or_table_is_named(earlier, tmp_path):
    _, database = earlier
    with pytest.raises(InputError, match="database file .*none.duckdb' not found"):
        earlier_run.sources(MODELS, None, tmp_path / "none.duckdb")
    with pytest.raises(InputError, match="has no table not_a_model; build it with: expguard run ... --database"):
        earlier_run.sources((*MODELS, "not_a_model"), None, database)


@pytest.mark.parametrize("output_dir, database", [(None, None), ("out", "run.duckdb")])
def test_exactly_one_place_to_read_from(output_dir, database):
    with pytest.raises(ConfigError, match="give one of --output-dir or --database"):
        earlier_run.sources(MODELS, output_dir, database)
