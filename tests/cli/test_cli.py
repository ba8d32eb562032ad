"""The command line: exit codes, the one-line error on stderr, outputs left intact on failure.

Most tests use click's CliRunner on ``expguard.cli.main``; two go through a real subprocess to
check what a user's terminal gets.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from click.testing import CliRunner

import expguard
from expguard.cli import main
from expguard.core.constants import CORE_MODELS
from expguard.apps.demo.generator import generate, write_dataset
from helpers import ASSIGNMENT_SCHEMA, T0, assignment, read_model, sort_rows, write_rows

GRACE = "exp_allow_pre_assignment_exposure_grace_minutes"
MAX_DAYS = "exp_exposure_max_days_after_assignment"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path]:
    """A small generated dataset (Parquet), shared by the tests of this module (read only)."""
    directory = tmp_path_factory.mktemp("cli-data")
    return write_dataset(generate(4_000, seed=21), directory)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    # `expguard run` reads ./expguard.toml when it exists: never pick up one from elsewhere.
    monkeypatch.chdir(tmp_path)


def invoke(*args: Any) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def run_args(events: Path | str, assignments: Path | str, out: Path, *extra: Any) -> list[Any]:
    return ["run", "--events", events, "--assignments", assignments, "--output-dir", out, *extra]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (names relative to it) with its bytes."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def visible(snap: dict[str, bytes]) -> dict[str, bytes]:
    """The files a reader sees: the model files, not lock files."""
    return {name: data for name, data in snap.items() if not name.endswith(".lock")}


def assert_one_line_error(result: Any) -> str:
    """Non-zero exit, exactly one stderr line starting with 'expguard: error:', no traceback."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {lines!r}"
    assert lines[0].startswith("expguard: error: "), lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def model_rows(out: Path, name: str) -> list[dict]:
    return sort_rows(read_model(out / f"{name}.parquet"))


# --------------------------------------------------------------------------------------------
# expguard run: success
# --------------------------------------------------------------------------------------------


def test_run_exits_0_and_writes_one_parquet_file_per_model(tmp_path, dataset):
    events, assignments = dataset
    out = tmp_path / "new" / "out"  # created if missing, parents included
    result = invoke(*run_args(events, assignments, out))
    assert result.exit_code == 0, result.output
    # the four SPEC models at least (extension models may be written beside them)
    assert {f"{m}.parquet" for m in CORE_MODELS} <= {p.name for p in out.glob("*.parquet")}
    for model in CORE_MODELS:
        assert pq.read_metadata(out / f"{model}.parquet").num_rows > 0
    assert not [p for p in out.iterdir() if p.is_dir()], "no staging folder is left behind"


def test_run_output_matches_the_python_api(tmp_path, dataset):
    events, assignments = dataset
    result = invoke(*run_args(events, assignments, tmp_path / "cli", "--var", f"{MAX_DAYS}=3"))
    assert result.exit_code == 0, result.output
    expguard.run(str(events), str(assignments), output_dir=str(tmp_path / "api"), vars={MAX_DAYS: 3})
    for model in CORE_MODELS:
        assert model_rows(tmp_path / "cli", model) == model_rows(tmp_path / "api", model), model


def test_run_with_database_writes_one_table_per_model(tmp_path, dataset):
    events, assignments = dataset
    database = tmp_path / "db" / "models.duckdb"
    result = invoke("run", "--events", events, "--assignments", assignments, "--database", database)
    assert result.exit_code == 0, result.output
    expguard.run(str(events), str(assignments), output_dir=str(tmp_path / "api"))
    with duckdb.connect(str(database), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        assert set(CORE_MODELS) <= tables
        for model in CORE_MODELS:
            count = con.execute(f'select count(*) from "{model}"').fetchone()[0]
            assert count == pq.read_metadata(tmp_path / "api" / f"{model}.parquet").num_rows, model


def test_run_with_database_and_output_dir_writes_both(tmp_path, dataset):
    events, assignments = dataset
    database, out = tmp_path / "m.duckdb", tmp_path / "out"
    result = invoke(*run_args(events, assignments, out, "--database", database))
    assert result.exit_code == 0, result.output
    assert database.exists()
    assert all((out / f"{m}.parquet").exists() for m in CORE_MODELS)


def test_run_reads_a_glob_of_event_files(tmp_path, dataset):
    events, assignments = dataset
    table = pq.read_table(events)
    parts = tmp_path / "parts"
    parts.mkdir()
    half = table.num_rows // 2
    pq.write_table(table.slice(0, half), parts / "part-0.parquet")
    pq.write_table(table.slice(half), parts / "part-1.parquet")
    result = invoke(*run_args(str(parts / "part-*.parquet"), assignments, tmp_path / "glob"))
    assert result.exit_code == 0, result.output
    invoke(*run_args(events, assignments, tmp_path / "one"))
    for model in CORE_MODELS:
        assert model_rows(tmp_path / "glob", model) == model_rows(tmp_path / "one", model), model


# --------------------------------------------------------------------------------------------
# expguard run: project file
# --------------------------------------------------------------------------------------------


def write_project(directory: Path, events: Path, assignments: Path, body: str = "") -> Path:
    data = directory / "data"
    data.mkdir(exist_ok=True)
    shutil.copy(events, data / "events.parquet")
    shutil.copy(assignments, data / "assignments.parquet")
    project = directory / "expguard.toml"
    project.write_text(
        textwrap.dedent(
            """\
            [events]
            path = "data/events.parquet"

            [assignments]
            path = "data/assignments.parquet"
            format = "parquet"
            """
        )
        + textwrap.dedent(body),
        encoding="utf-8",
    )
    return project


PROJECT_VARS = """
[vars]
exp_exposure_max_days_after_assignment = 7
exp_allow_pre_assignment_exposure_grace_minutes = 0

[engine]
name = "duckdb"
threads = 1

[output]
dir = "out"
database = "models.duckdb"
"""


def test_run_from_the_project_file_in_the_current_folder(tmp_path, dataset):
    write_project(tmp_path, *dataset, PROJECT_VARS)
    result = invoke("run")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "models.duckdb").exists()
    expguard.run(str(dataset[0]), str(dataset[1]), output_dir=str(tmp_path / "api"), vars={MAX_DAYS: 7, GRACE: 0})
    for model in CORE_MODELS:
        assert model_rows(tmp_path / "out", model) == model_rows(tmp_path / "api", model), model


def test_run_with_project_option_resolves_paths_relative_to_the_project_file(tmp_path, dataset, monkeypatch):
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    project = write_project(project_dir, *dataset, PROJECT_VARS)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke("run", "--project", project)
    assert result.exit_code == 0, result.output
    assert all((project_dir / "out" / f"{m}.parquet").exists() for m in CORE_MODELS)
    assert not list(elsewhere.iterdir())


def test_var_option_overrides_the_project_file(tmp_path, dataset):
    write_project(tmp_path, *dataset, PROJECT_VARS)
    result = invoke("run", "--var", f"{MAX_DAYS}=1", "--output-dir", tmp_path / "cli")
    assert result.exit_code == 0, result.output
    expguard.run(str(dataset[0]), str(dataset[1]), output_dir=str(tmp_path / "one"), vars={MAX_DAYS: 1, GRACE: 0})
    expguard.run(str(dataset[0]), str(dataset[1]), output_dir=str(tmp_path / "seven"), vars={MAX_DAYS: 7, GRACE: 0})
    validation = "int_experiment_exposure_validation"
    assert model_rows(tmp_path / "one", validation) != model_rows(tmp_path / "seven", validation)
    for model in CORE_MODELS:
        assert model_rows(tmp_path / "cli", model) == model_rows(tmp_path / "one", model), model


def test_project_file_with_a_column_mapping(tmp_path):
    # A Segment-style event table, mapped in [events.columns].
    rows = [
        {"message_id": "m1", "event": "Experiment Viewed", "anonymous_id": "a1", "timestamp": T0,
         "properties": '{"experiment_id": "exp", "variation_id": "A"}'},
        {"message_id": "m2", "event": "Page Viewed", "anonymous_id": "a1", "timestamp": T0,
         "properties": "{}"},
    ]
    (tmp_path / "data").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "data" / "tracks.parquet")
    write_rows(tmp_path / "data" / "assignments.parquet", [assignment("a1")], ASSIGNMENT_SCHEMA)
    (tmp_path / "expguard.toml").write_text(
        textwrap.dedent(
            """\
            [events]
            path = "data/tracks.parquet"

            [events.columns]
            event_id = "message_id"
            event_name = "event"
            event_ts = "timestamp"
            unit_id = "anonymous_id"

            [assignments]
            path = "data/assignments.parquet"

            [vars]
            exp_exposure_event_name = "Experiment Viewed"

            [output]
            dir = "out"
            """
        ),
        encoding="utf-8",
    )
    result = invoke("run")
    assert result.exit_code == 0, result.output
    validation = read_model(tmp_path / "out" / "int_experiment_exposure_validation.parquet")
    assert [(r["unit_id"], r["exposure_status"]) for r in validation] == [("a1", "valid")]
    assert [r["event_id"] for r in read_model(tmp_path / "out" / "stg_experiment_exposures.parquet")] == ["m1"]


# --------------------------------------------------------------------------------------------
# expguard run: failures leave earlier outputs as they were
# --------------------------------------------------------------------------------------------


def _bad_case(case: str, tmp_path: Path, events: Path, assignments: Path) -> tuple[list[Any], str]:
    """Arguments for a run that must fail, and a word its error line must contain."""
    bad = tmp_path / "bad"
    bad.mkdir(exist_ok=True)
    good = [assignment("u1"), assignment("u2", "B")]
    if case == "duplicate_assignments":
        path = write_rows(bad / "assignments.parquet", good + [assignment("u1", "B")], ASSIGNMENT_SCHEMA)
        return ["--events", events, "--assignments", path], "u1"
    if case == "missing_assignment_column":
        table = pa.Table.from_pylist(good, schema=ASSIGNMENT_SCHEMA).drop_columns(["variation_id"])
        pq.write_table(table, bad / "assignments.parquet")
        return ["--events", events, "--assignments", bad / "assignments.parquet"], "variation_id"
    if case == "missing_event_column":
        pq.write_table(pq.read_table(events).drop_columns(["event_ts"]), bad / "events.parquet")
        return ["--events", bad / "events.parquet", "--assignments", assignments], "event_ts"
    if case == "negative_variable":
        return ["--events", events, "--assignments", assignments, "--var", f"{GRACE}=-5"], GRACE
    if case == "non_integer_variable":
        return ["--events", events, "--assignments", assignments, "--var", f"{MAX_DAYS}=1.5"], MAX_DAYS
    if case == "text_variable":
        return ["--events", events, "--assignments", assignments, "--var", f"{MAX_DAYS}=ten"], MAX_DAYS
    if case == "unknown_variable":
        return ["--events", events, "--assignments", assignments, "--var", "exp_max_days=3"], "exp_max_days"
    if case == "corrupt_events_file":
        (bad / "events.parquet").write_bytes(b"PAR1 this is not a parquet file at all PAR1")
        return ["--events", bad / "events.parquet", "--assignments", assignments], "events.parquet"
    if case == "truncated_assignments_file":
        data = Path(assignments).read_bytes()
        (bad / "assignments.parquet").write_bytes(data[: len(data) // 2])
        return ["--events", events, "--assignments", bad / "assignments.parquet"], "assignments.parquet"
    if case == "glob_matching_nothing":
        return ["--events", str(bad / "nothing-*.parquet"), "--assignments", assignments], "nothing-*.parquet"
    if case == "null_assigned_at":
        rows = good + [{**assignment("u3"), "assigned_at": None}]
        path = write_rows(bad / "assignments.parquet", rows, ASSIGNMENT_SCHEMA)
        return ["--events", events, "--assignments", path], "assigned_at"
    raise AssertionError(case)


BAD_CASES = [
    "duplicate_assignments", "missing_assignment_column", "missing_event_column", "negative_variable",
    "non_integer_variable", "text_variable", "unknown_variable", "corrupt_events_file",
    "truncated_assignments_file", "glob_matching_nothing", "null_assigned_at",
]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_fails_with_one_line_and_leaves_earlier_outputs_byte_identical(tmp_path, dataset, case):
    events, assignments = dataset
    out, database = tmp_path / "out", tmp_path / "models.duckdb"
    first = invoke(*run_args(events, assignments, out, "--database", database))
    assert first.exit_code == 0, first.output
    before, db_before = visible(snapshot(out)), database.read_bytes()

    args, word = _bad_case(case, tmp_path, events, assignments)
    result = invoke("run", *args, "--output-dir", out, "--database", database)

    line = assert_one_line_error(result)
    assert word in line, f"the error should name {word!r}: {line}"
    assert visible(snapshot(out)) == before
    assert database.read_bytes() == db_before


@pytest.mark.parametrize("case", ["duplicate_assignments", "negative_variable", "glob_matching_nothing"])
def test_failed_run_into_a_new_folder_leaves_no_model_output(tmp_path, dataset, case):
    args, _ = _bad_case(case, tmp_path, *dataset)
    out = tmp_path / "fresh"
    result = invoke("run", *args, "--output-dir", out)
    assert_one_line_error(result)
    assert not out.exists() or not list(out.rglob("*.parquet"))


def test_contract_error_shows_the_count_and_examples(tmp_path, dataset):
    rows = [assignment(f"u{i}") for i in range(8)] + [assignment(f"u{i}", "B") for i in range(8)]
    path = write_rows(tmp_path / "dups.parquet", rows, ASSIGNMENT_SCHEMA)
    result = invoke(*run_args(dataset[0], path, tmp_path / "out"))
    line = assert_one_line_error(result)
    assert re.search(r"\b8\b", line), line
    assert line.count("u") >= 5


def test_bad_project_file_fails_with_one_line(tmp_path, dataset):
    write_project(tmp_path, *dataset, "\n[engine]\ntreads = 2\n")
    result = invoke("run", "--output-dir", tmp_path / "out")
    line = assert_one_line_error(result)
    assert "treads" in line


def test_missing_inputs_fail_with_one_line(tmp_path):
    result = invoke("run", "--output-dir", tmp_path / "out")
    line = assert_one_line_error(result)
    assert "events" in line


def test_debug_shows_the_traceback(tmp_path, dataset):
    result = CliRunner().invoke(main, [str(a) for a in run_args(*dataset, tmp_path / "o", "--var", "nope=1", "--debug")])
    assert result.exit_code != 0
    assert isinstance(result.exception, expguard.ConfigError)


# --------------------------------------------------------------------------------------------
# real processes
# --------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    return env


def test_subprocess_bad_input_prints_one_line_on_real_stderr(tmp_path, dataset):
    events, assignments = dataset
    rows = [assignment("u1"), assignment("u1", "B")]
    path = write_rows(tmp_path / "dups.parquet", rows, ASSIGNMENT_SCHEMA)
    proc = subprocess.run(
        [sys.executable, "-m", "expguard.cli", *map(str, run_args(events, path, tmp_path / "out"))],
        capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("expguard: error: "), lines
    assert "Traceback" not in proc.stderr + proc.stdout


def test_subprocess_run_through_the_installed_script(tmp_path, dataset):
    script = shutil.which("expguard") or str(Path(sys.executable).parent / "expguard")
    if not Path(script).exists():
        pytest.fail("the expguard console script is not installed next to the interpreter")
    events, assignments = dataset
    proc = subprocess.run(
        [script, *map(str, run_args(events, assignments, tmp_path / "out"))],
        capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert all((tmp_path / "out" / f"{m}.parquet").exists() for m in CORE_MODELS)


# --------------------------------------------------------------------------------------------
# expguard compile
# --------------------------------------------------------------------------------------------


def test_compile_one_model_for_spark(tmp_path):
    result = invoke("compile", "int_experiment_exposures_deduped", "--dialect", "spark")
    assert result.exit_code == 0, result.output
    sql = result.stdout
    assert "int_experiment_exposures_deduped" in sql
    assert ":exp_" not in sql
    statements = [s for s in sqlglot.parse(sql, read="spark") if s is not None]
    assert len(statements) == 1


def test_compile_binds_variables_as_literals(tmp_path):
    result = invoke("compile", "stg_experiment_exposures", "--dialect", "spark",
                    "--var", "exp_exposure_event_name=it's viewed")
    assert result.exit_code == 0, result.output
    tree = sqlglot.parse_one(result.stdout.split("\n", 1)[1], read="spark")
    literals = {lit.this for lit in tree.find_all(sqlglot.exp.Literal) if lit.is_string}
    assert "it's viewed" in literals
    assert "json_valid" not in result.stdout.lower()


def test_compile_all_models_in_dependency_order(tmp_path):
    result = invoke("compile", "--all", "--dialect", "spark", "--var", f"{MAX_DAYS}=9")
    assert result.exit_code == 0, result.output
    names = re.findall(r"^-- model: (\S+)$", result.stdout, flags=re.MULTILINE)
    assert set(CORE_MODELS) <= set(names)
    positions = [names.index(m) for m in CORE_MODELS]
    assert positions == sorted(positions)
    assert ":exp_" not in result.stdout
    assert "'9'" in result.stdout or " 9 " in result.stdout


def test_compile_unknown_model_fails_with_one_line():
    line = assert_one_line_error(invoke("compile", "no_such_model", "--dialect", "spark"))
    assert "no_such_model" in line


def test_compile_unknown_dialect_fails_with_one_line():
    line = assert_one_line_error(invoke("compile", "stg_experiment_exposures", "--dialect", "klingon"))
    assert "klingon" in line


def test_compile_needs_a_model_or_all():
    assert_one_line_error(invoke("compile"))


# --------------------------------------------------------------------------------------------
# expguard demo and help
# --------------------------------------------------------------------------------------------


def test_demo_prints_a_summary_table(tmp_path):
    result = invoke("demo", "--events", 5000, "--dir", tmp_path / "demo")
    assert result.exit_code == 0, result.output
    # a table: a header row with the column names, then one row per experiment
    assert re.search(r"experiment\s.*assigned\s.*exposed\s.*valid", result.stdout), result.stdout
    assert re.search(r"exp_01\W+\d+", result.stdout), result.stdout
    assert all((tmp_path / "demo" / "output" / f"{m}.parquet").exists() for m in CORE_MODELS)


def _commands() -> list[str]:
    return sorted(main.commands)


@pytest.mark.parametrize("command", [None, *_commands()])
def test_every_command_has_help_with_an_example(command):
    args = ["--help"] if command is None else [command, "--help"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "Example" in result.stdout
    pattern = r"expguard " + (re.escape(command) if command else r"\w+")
    assert re.search(pattern, result.stdout), result.stdout


def test_run_and_compile_and_demo_are_commands():
    assert {"run", "compile", "demo"} <= set(main.commands)


def test_version_option():
    result = invoke("--version")
    assert result.exit_code == 0
    assert expguard.__version__ in result.stdout


def test_a_duckdb_run_starts_without_importing_pyarrow_pandas_scipy_or_numpy(dataset, tmp_path):
    # Half a second of every run's start-up: pyarrow, and pandas that pyarrow imports as soon
    # as it builds an array when pandas is installed. A DuckDB run needs neither. Another 0.4 s:
    # scipy (and numpy), which the SRM p-value no longer uses (core/stats.py, chi_square_sf).
    events, assignments = dataset
    script = textwrap.dedent(f"""
        import sys
        from expguard.cli import main
        try:
            main({[str(a) for a in ["run", "-q", *run_args(events, assignments, tmp_path / "out")[1:]]]!r})
        except SystemExit as stop:
            assert stop.code == 0, stop.code
        print(sorted(m for m in ("pyarrow", "pandas", "scipy", "numpy") if m in sys.modules))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"imported during a DuckDB run: {result.stdout.strip()}"
    assert (tmp_path / "out" / "fct_experiment_exposure_srm.parquet").is_file()


def _documented_options(section: str) -> set[str]:
    """The options named in the first column of the tables of ``section`` (a part of docs/cli.md)."""
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return {name for row in rows[1:] for name in re.findall(r"`(-{1,2}[a-z][a-z-]*)", row.split(" | ")[0])}


def test_docs_cli_documents_every_option_of_every_command():
    """docs/cli.md has, per command, a table naming every option the command's --help lists."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `expguard (\w+)`\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S))
    assert set(sections) == set(main.commands)
    for name, command in main.commands.items():
        listed = CliRunner().invoke(main, [name, "--help"]).output
        options = {opt for param in command.params for opt in param.opts if opt.startswith("-")}
        assert options and all(re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", listed) for opt in options), name
        missing = sorted(options - _documented_options(sections[name]))
        assert missing == [], f"docs/cli.md, expguard {name}: options missing from the table: {missing}"


def test_run_with_an_events_preset_reads_the_product_export(tmp_path):
    from engines.test_presets import ASSIGNMENTS, EXPECTED_STATUS, mixpanel

    events, _ = mixpanel(tmp_path)
    assignments = write_rows(tmp_path / "assignments.parquet", ASSIGNMENTS, ASSIGNMENT_SCHEMA)
    result = invoke(*run_args(events, assignments, tmp_path / "out", "--events-preset", "mixpanel"))
    assert result.exit_code == 0, result.output
    rows = model_rows(tmp_path / "out", "int_experiment_exposure_validation")
    assert {r["unit_id"]: r["exposure_status"] for r in rows} == EXPECTED_STATUS
    # a variable set beside the preset wins: no event is named so, so nobody is exposed
    result = invoke(*run_args(events, assignments, tmp_path / "other", "--events-preset", "mixpanel",
                              "--var", 'exp_exposure_event_name=["Experiment Started", "$experiment_begun"]'))
    assert result.exit_code == 0, result.output
    rows = model_rows(tmp_path / "other", "int_experiment_exposure_validation")
    assert {r["exposure_status"] for r in rows} == {"no_exposure"}


@pytest.mark.parametrize("command", ["run", "report", "alerts", "diagnose"])
def test_an_unknown_events_preset_is_a_one_line_error(tmp_path, dataset, command):
    events, assignments = dataset
    extra = ["--experiment", "exp_01"] if command == "diagnose" else []
    result = invoke(command, "--events", events, "--assignments", assignments, "--events-preset", "heap", *extra)
    line = assert_one_line_error(result)
    assert result.exit_code == 2 and "'heap'" in line and "segment" in line


def test_a_bad_list_of_event_names_on_the_command_line_is_a_one_line_error(tmp_path, dataset):
    events, assignments = dataset
    result = invoke(*run_args(events, assignments, tmp_path / "out", "--var", "exp_exposure_event_name=[]"))
    line = assert_one_line_error(result)
    assert result.exit_code == 2 and "exp_exposure_event_name" in line
    assert not (tmp_path / "out").exists()
