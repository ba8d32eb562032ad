"""Settings validation: variables, the project file, column mappings, literal binding."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

import expguard
from expguard.models.compile import compile_model
from expguard.settings.config import MAX_GRACE_MINUTES, MAX_WINDOW_DAYS, Variables, build_config, load_project
from expguard.core.errors import ConfigError, ExpguardError
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, read_model, write_rows

GRACE = "exp_allow_pre_assignment_exposure_grace_minutes"
MAX_DAYS = "exp_exposure_max_days_after_assignment"
EVENT_NAME = "exp_exposure_event_name"


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[str, str]:
    events = write_rows(tmp_path / "events.parquet", [exposure("u1"), exposure("u2", variation_id="B")], EVENT_SCHEMA)
    assignments = write_rows(tmp_path / "assignments.parquet", [assignment("u1"), assignment("u2")], ASSIGNMENT_SCHEMA)
    return str(events), str(assignments)


# --------------------------------------------------------------------------------------------
# variables
# --------------------------------------------------------------------------------------------


def test_defaults_are_the_spec_defaults():
    v = Variables()
    assert (v.exp_exposure_event_name, v.exp_allow_pre_assignment_exposure_grace_minutes,
            v.exp_exposure_max_days_after_assignment) == ("experiment_viewed", 5, 30)


def test_unknown_variable_is_named_with_the_known_ones():
    with pytest.raises(ConfigError) as error:
        Variables().with_values({"exp_max_days": 3})
    message = str(error.value)
    assert "'exp_max_days'" in message
    assert MAX_DAYS in message and GRACE in message


@pytest.mark.parametrize("name", [GRACE, MAX_DAYS])
@pytest.mark.parametrize("value", [-1, "-1", -30])
def test_negative_number_is_refused(name, value):
    with pytest.raises(ConfigError, match=rf"variable {name} must be a non-negative integer, got {value!r}"):
        Variables().with_values({name: value})


@pytest.mark.parametrize("name", [GRACE, MAX_DAYS])
@pytest.mark.parametrize("value", [1.5, "1.5", 14.0, "14.0", "1e3", "ten", "", "0x10", None, [3], "3 days", "٣", "３"])
def test_non_integer_is_refused(name, value):
    # "٣" and "３" are Unicode digits: not the decimal integer a user types, and not what SQL reads.
    with pytest.raises(ConfigError) as error:
        Variables().with_values({name: value})
    assert name in str(error.value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize("value", [True, False, "true"])
def test_boolean_is_refused(value):
    with pytest.raises(ConfigError, match="non-negative integer"):
        Variables().with_values({MAX_DAYS: value})


@pytest.mark.parametrize("name, maximum", [(GRACE, MAX_GRACE_MINUTES), (MAX_DAYS, MAX_WINDOW_DAYS)])
def test_too_large_is_refused_and_the_maximum_is_accepted(name, maximum):
    assert getattr(Variables().with_values({name: maximum}), name) == maximum
    with pytest.raises(ConfigError) as error:
        Variables().with_values({name: maximum + 1})
    assert name in str(error.value) and str(maximum) in str(error.value)
    with pytest.raises(ConfigError):
        Variables().with_values({name: 10**30})


@pytest.mark.parametrize("value, expected", [("0", 0), ("7", 7), (" 14 ", 14), (0, 0), (30, 30)])
def test_integers_and_integer_text_are_accepted(value, expected):
    assert Variables().with_values({MAX_DAYS: value}).exp_exposure_max_days_after_assignment == expected


@pytest.mark.parametrize("value", ["", None, 5])
def test_empty_or_non_text_event_name_is_refused(value):
    with pytest.raises(ConfigError, match=EVENT_NAME):
        Variables().with_values({EVENT_NAME: value})


def test_variables_are_validated_when_built_directly():
    with pytest.raises(ConfigError):
        Variables(exp_exposure_max_days_after_assignment=-1)
    with pytest.raises(ConfigError):
        Variables(exp_exposure_event_name="")


def test_config_errors_are_expguard_errors_with_exit_code_2():
    with pytest.raises(ExpguardError) as error:
        Variables().with_values({MAX_DAYS: -1})
    assert error.value.exit_code == 2
    assert "\n" not in error.value.one_line()


def test_invalid_variable_in_the_python_api_writes_nothing(tmp_path, inputs):
    with pytest.raises(ConfigError):
        expguard.run(*inputs, output_dir=str(tmp_path / "out"), vars={GRACE: -5})
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.parquet"))


# --------------------------------------------------------------------------------------------
# project file
# --------------------------------------------------------------------------------------------


def project(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expguard.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


GOOD = """\
    [events]
    path = "events.parquet"

    [assignments]
    path = "assignments.parquet"
"""


def test_good_project_file_loads(tmp_path):
    settings = load_project(project(tmp_path, GOOD + '\n[vars]\nexp_exposure_max_days_after_assignment = 7\n'))
    config = build_config(**settings)
    assert config.variables.exp_exposure_max_days_after_assignment == 7
    assert Path(config.events.path) == tmp_path / "events.parquet"


@pytest.mark.parametrize(
    "text, word",
    [
        (GOOD + "\n[outputs]\ndir = 'out'\n", "outputs"),
        (GOOD + "\n[variables]\nexp_exposure_max_days_after_assignment = 7\n", "variables"),
        ("[events]\npath = 'e.parquet'\npaht = 'x'\n[assignments]\npath = 'a.parquet'\n", "paht"),
        (GOOD + "\n[engine]\ntreads = 2\n", "treads"),
        (GOOD + "\n[output]\nfolder = 'out'\n", "folder"),
    ],
    ids=["section-outputs", "section-variables", "events-key", "engine-key", "output-key"],
)
def test_unknown_sections_and_keys_are_refused(tmp_path, text, word):
    with pytest.raises(ConfigError) as error:
        settings = load_project(project(tmp_path, text))
        build_config(**settings)
    assert word in str(error.value)


@pytest.mark.parametrize("settings, message", [
    ({"output": {"output_dir": "out"}}, "unknown output setting 'output_dir'; known: database, dir, parquet_compression"),
    ({"engine": {"thread": 2}}, "unknown engine setting 'thread'; known: memory_limit, name,"),
])
def test_build_config_refuses_a_setting_it_does_not_know(settings, message):
    # from Python (build_config, as docs/incremental.md shows it), a misspelt output or engine
    # setting is one clear error, not ignored (the outputs going nowhere) nor a TypeError
    with pytest.raises(ConfigError) as error:
        build_config(events="e.parquet", assignments="a.parquet", **settings)
    assert str(error.value).startswith(message)
    if "engine" in settings:  # diagnose on an earlier run's outputs builds no RunConfig of inputs
        with pytest.raises(ConfigError, match="unknown engine setting 'thread'"):
            expguard.diagnose("exp", output_dir="out", engine=settings["engine"])


@pytest.mark.parametrize(
    "text, word",
    [
        (GOOD + "\n[vars]\nexp_max_days = 7\n", "exp_max_days"),
        (GOOD + "\n[vars]\nexp_exposure_max_days_after_assignment = -7\n", MAX_DAYS),
        (GOOD + "\n[vars]\nexp_exposure_max_days_after_assignment = 7.5\n", MAX_DAYS),
        (GOOD + "\n[vars]\nexp_exposure_max_days_after_assignment = true\n", MAX_DAYS),
        (GOOD + "\n[vars]\nexp_exposure_event_name = ''\n", EVENT_NAME),
        (GOOD + "\n[events.columns]\nuser = 'user_id'\n", "user"),
        (GOOD + "\n[assignments.columns]\nvariant = 'variation_id'\n", "variant"),
        (GOOD + "\n[events.columns]\nunit_id = 42\n", "unit_id"),
        (GOOD + "\n[engine]\nname = 'oracle'\n", "oracle"),
        (GOOD + "\n[engine]\nthreads = 0\n", "threads"),
        ("[events]\npath = 'e.parquet'\n", "assignments"),
        ("[events]\npath = 'e.parquet'\ntable = 't'\n[assignments]\npath = 'a.parquet'\n", "events"),
        ("[events]\npath = 'e.unknown'\n[assignments]\npath = 'a.parquet'\n", "e.unknown"),
        ("[events\npath = 1\n", "TOML"),
    ],
    ids=["unknown-var", "negative-var", "fraction-var", "bool-var", "empty-event-name", "events-column",
         "assignments-column", "non-text-mapping", "engine-name", "threads", "no-assignments", "path-and-table",
         "unknown-format", "bad-toml"],
)
def test_bad_project_values_are_refused_with_a_clear_message(tmp_path, text, word):
    with pytest.raises(ConfigError) as error:
        build_config(**load_project(project(tmp_path, text)))
    assert word in str(error.value)


def test_missing_project_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_project(tmp_path / "nope.toml")


# --------------------------------------------------------------------------------------------
# column mapping: single expressions only
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "a; drop table x",
        "unit_id; drop table fct_events",
        "select 1",
        "(select 1)",
        "(select max(unit_id) from expguard_raw_events)",
        "exists(select 1)",
        "drop table x",
        "attach 'other.duckdb' as other",
        "set threads = 1",
        "pragma version",
        "alter table t add column b int",
        "1 +",
        "",
        "   ",
        "unit_id unit_id2",
    ],
)
def test_column_mapping_that_is_not_a_single_expression_is_refused(tmp_path, inputs, expression):
    with pytest.raises(ConfigError) as error:
        expguard.run(*inputs, output_dir=str(tmp_path / "out"), events_columns={"unit_id": expression})
    assert "unit_id" in str(error.value)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.parquet"))


def test_assignment_mapping_that_is_a_statement_is_refused(tmp_path, inputs):
    with pytest.raises(ConfigError, match="variation_id"):
        expguard.run(*inputs, output_dir=str(tmp_path / "out"),
                     assignments_columns={"variation_id": "variation_id; delete from t"})


def test_column_mapping_expression_over_source_columns_works(tmp_path, inputs):
    expguard.run(*inputs, output_dir=str(tmp_path / "out"),
                 events_columns={"unit_id": "upper(unit_id)"}, assignments_columns={"unit_id": "upper(unit_id)"})
    rows = read_model(tmp_path / "out" / "int_experiment_exposure_validation.parquet")
    assert sorted((r["unit_id"], r["exposure_status"]) for r in rows) == [("U1", "valid"), ("U2", "variation_mismatch")]


# --------------------------------------------------------------------------------------------
# variables are literals
# --------------------------------------------------------------------------------------------

HOSTILE = "x'; drop table t; --"


def test_event_name_that_tries_to_close_a_string_is_bound_as_a_literal(tmp_path, inputs):
    # No event has that name: the run works and stages nothing.
    expguard.run(*inputs, output_dir=str(tmp_path / "out"), vars={EVENT_NAME: HOSTILE})
    assert read_model(tmp_path / "out" / "stg_experiment_exposures.parquet") == []
    validation = read_model(tmp_path / "out" / "int_experiment_exposure_validation.parquet")
    assert sorted(r["exposure_status"] for r in validation) == ["no_exposure", "no_exposure"]


def test_event_with_the_hostile_name_matches_it_exactly(tmp_path):
    events = write_rows(tmp_path / "events.parquet", [exposure("u1"), exposure("u2", event_name=HOSTILE)], EVENT_SCHEMA)
    assignments = write_rows(tmp_path / "assignments.parquet", [assignment("u1"), assignment("u2")], ASSIGNMENT_SCHEMA)
    expguard.run(str(events), str(assignments), output_dir=str(tmp_path / "out"), vars={EVENT_NAME: HOSTILE})
    staged = read_model(tmp_path / "out" / "stg_experiment_exposures.parquet")
    assert [r["unit_id"] for r in staged] == ["u2"]


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_compiled_sql_holds_the_hostile_name_as_one_string_literal(dialect):
    sql = compile_model("stg_experiment_exposures", {**Variables().as_dict(), EVENT_NAME: HOSTILE}, dialect)
    statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    assert len(statements) == 1
    literals = [lit.this for lit in statements[0].find_all(exp.Literal) if lit.is_string]
    assert HOSTILE in literals
    assert not list(statements[0].find_all(exp.Drop))


def test_numbers_are_bound_as_literals_in_the_compiled_sql():
    sql = compile_model("int_experiment_exposure_validation",
                        {**Variables().as_dict(), GRACE: 17, MAX_DAYS: 23}, "duckdb")
    assert ":exp_" not in sql
    tree = sqlglot.parse_one(sql, read="duckdb")
    amounts = {str(i.this.this) for i in tree.find_all(exp.Interval)}
    assert {"17", "23"} <= amounts


# --------------------------------------------------------------------------------------------
# several exposure event names
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, parsed",
    [
        ("Experiment Viewed", "Experiment Viewed"),
        ("a,b", "a,b"),  # a comma is part of a name
        ("[Experiment] Exposure", "[Experiment] Exposure"),  # brackets but not a JSON array
        ('["$exposure", "[Experiment] Exposure"]', ("$exposure", "[Experiment] Exposure")),
        (["old", "new", "old"], ("old", "new")),
        (("one",), ("one",)),
    ],
)
def test_exposure_event_name_is_one_name_or_a_list(value, parsed):
    assert Variables().with_values({EVENT_NAME: value}).exp_exposure_event_name == parsed
    assert Variables(exp_exposure_event_name=value).exp_exposure_event_name == parsed


@pytest.mark.parametrize("value", [[], "[]", ["a", ""], ["a", 7], '["a", 7]', 7, {"a": 1}])
def test_a_bad_list_of_event_names_is_one_clear_error(value):
    with pytest.raises(ConfigError) as error:
        Variables().with_values({EVENT_NAME: value})
    assert EVENT_NAME in str(error.value) and "\n" not in str(error.value)


def test_a_list_of_event_names_from_toml_and_from_var_is_the_same(tmp_path):
    text = GOOD + '\n[vars]\nexp_exposure_event_name = ["experiment_viewed", "Experiment Viewed"]\n'
    config = build_config(**load_project(project(tmp_path, text)))
    assert config.variables.exp_exposure_event_name == ("experiment_viewed", "Experiment Viewed")
    from expguard.settings.config import parse_var_options

    cli = Variables().with_values(parse_var_options([f'{EVENT_NAME}=["experiment_viewed","Experiment Viewed"]']))
    assert cli == config.variables


@pytest.mark.parametrize("dialect", ["duckdb", "spark"])
def test_a_list_of_event_names_is_bound_as_literals(dialect):
    hostile = ("it's", "x') or 1=1 --")
    sql = compile_model("stg_experiment_exposures", {**Variables().as_dict(), EVENT_NAME: hostile}, dialect)
    tree = sqlglot.parse_one(sql, read=dialect)
    (where,) = [node for node in tree.find_all(exp.In)]
    assert [literal.this for literal in where.expressions] == list(hostile)
    assert "or 1=1 --'" in sql and len(sqlglot.parse(sql, read=dialect)) == 1


def test_a_list_outside_in_is_refused():
    from expguard.sql.render import bind_variables

    with pytest.raises(ConfigError, match="several values"):
        bind_variables(sqlglot.parse_one("select 1 where a = :names", read="duckdb"), {"names": ("a", "b")})


# --------------------------------------------------------------------------------------------
# source presets (the samples in each product's shape: tests/engines/test_presets.py)
# --------------------------------------------------------------------------------------------


def test_a_preset_gives_its_mapping_and_event_names(inputs):
    config = build_config(events=inputs[0], assignments=inputs[1], events_preset="segment")
    assert config.event_mapping.expressions["unit_id"] == "anonymous_id"
    assert config.event_mapping.reads_properties("experiment_id")
    assert config.variables.exp_exposure_event_name == "Experiment Viewed"


def test_options_beside_a_preset_win(inputs):
    config = build_config(events=inputs[0], assignments=inputs[1], events_preset="segment",
                          events_columns={"unit_id": "user_id", "experiment_id": "properties.experimentId"},
                          vars={EVENT_NAME: ["Experiment Viewed", "experiment_viewed"]})
    assert config.event_mapping.expressions["unit_id"] == "user_id"
    assert config.event_mapping.expressions["event_id"] == "message_id"
    # an overridden column is the user's expression, over the source's own columns
    assert not config.event_mapping.reads_properties("experiment_id")
    assert config.event_mapping.reads_properties("variation_id")
    assert config.variables.exp_exposure_event_name == ("Experiment Viewed", "experiment_viewed")


def test_an_unknown_preset_lists_the_known_ones(inputs):
    with pytest.raises(ConfigError) as error:
        build_config(events=inputs[0], assignments=inputs[1], events_preset="heap")
    message = str(error.value)
    assert "'heap'" in message and "ga4" in message and "segment" in message and "\n" not in message


def test_a_preset_in_the_project_file(tmp_path):
    text = GOOD.replace("[assignments]", 'preset = "mixpanel"\n\n[assignments]', 1)
    settings = load_project(project(tmp_path, text))
    assert settings["events_preset"] == "mixpanel"
    assert build_config(**settings).variables.exp_exposure_event_name == "$experiment_started"
    with pytest.raises(ConfigError, match="preset is a key of \\[events\\]"):
        load_project(project(tmp_path, GOOD + 'preset = "ga4"\n'))


def test_every_preset_loads_and_its_expressions_parse():
    from expguard.inputs.views import parse_expression
    from expguard.settings.presets import presets

    assert {"segment", "rudderstack", "ga4", "mixpanel", "amplitude", "posthog", "statsig", "launchdarkly"} <= set(presets())
    for preset in presets().values():
        assert preset.title and preset.sources, preset.name
        for column, expression in preset.columns.items():
            parse_expression(expression, column, "events")


# --------------------------------------------------------------------------------------------
# the Parquet codec of the outputs
# --------------------------------------------------------------------------------------------


def test_parquet_compression_defaults_to_zstd_and_is_read_from_the_project_file(tmp_path):
    from expguard.settings.config import config_from_options

    assert build_config(events="e.parquet", assignments="a.parquet").outputs.parquet_compression == "zstd"
    path = project(tmp_path, GOOD + "\n[output]\ndir = 'out'\nparquet_compression = 'snappy'\n")
    config = build_config(**load_project(path))
    assert (config.outputs.parquet_compression, Path(config.outputs.output_dir)) == ("snappy", tmp_path / "out")
    options = dict(project=str(path), events=None, assignments=None, events_format=None, assignments_format=None,
                   var=(), engine=None, threads=None, memory_limit=None, temp_directory=None)
    # --output-dir replaces the file's targets and keeps its codec; --parquet-compression wins
    moved = config_from_options(**options, output_dir=str(tmp_path / "elsewhere"))
    assert (moved.outputs.parquet_compression, moved.outputs.output_dir) == ("snappy", str(tmp_path / "elsewhere"))
    assert config_from_options(**options, parquet_compression="gzip").outputs.parquet_compression == "gzip"
    # the default database target keeps the codec too
    assert config_from_options(**options, database=str(tmp_path / "x.duckdb")).outputs.resolved().parquet_compression == "snappy"


@pytest.mark.parametrize("value", ["lz4", "SNAPPY", "", 3])
def test_an_unknown_parquet_compression_is_refused_with_the_known_ones(tmp_path, value):
    path = project(tmp_path, GOOD + f"\n[output]\ndir = 'out'\nparquet_compression = {value!r}\n")
    with pytest.raises(ConfigError) as error:
        build_config(**load_project(path))
    message = str(error.value)
    assert "\n" not in message and "parquet_compression" in message
    assert "zstd, snappy, gzip, uncompressed" in message
