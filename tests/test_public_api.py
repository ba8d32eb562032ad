"""The public surface stays as it is: the names of ``expguard``, the signatures of its functions,
``expguard --help`` and every command's options.

The expected values were captured from the code before the package was reorganized into layer
folders (issue 17); a change here is a change users see, so it must be deliberate. Since then:
``preset=`` on run, report and diagnose and ``--events-preset`` on every command that reads the
events (issue 14, source presets).
``--as-of`` on every command that builds the models and ``run --fail-on`` (issue 13, health verdicts).
``incremental=`` on run and ``run --incremental`` (issue 16, incremental runs);
``parquet_compression=`` on run and ``run --parquet-compression`` (issue 18: the outputs' codec).
"""

from __future__ import annotations

import inspect
import types

from click.testing import CliRunner

import expguard
from expguard.cli import main

PUBLIC_NAMES = ['Any', 'CORE_MODELS', 'ConfigError', 'ContractError', 'EngineError', 'ExpguardError', 'InputError', 'LockError', 'MODELS', 'Mapping', 'ReportResult', 'RunConfig', 'RunResult', 'Source', 'Variables', 'annotations', 'build_config', 'compile_model', 'diagnose', 'report', 'run']

ALL = ['run', 'report', 'diagnose', 'compile_model', 'MODELS', 'ReportResult', 'RunConfig', 'RunResult', 'Source', 'Variables', 'ExpguardError', 'ConfigError', 'ContractError', 'EngineError', 'InputError', 'LockError']

SIGNATURES = {
    'run': "(events: 'str | Source', assignments: 'str | Source', *, output_dir: 'str | None' = None, database: 'str | None' = None, vars: 'Mapping[str, Any] | None' = None, events_columns: 'Mapping[str, str] | None' = None, assignments_columns: 'Mapping[str, str] | None' = None, engine: 'Mapping[str, Any] | None' = None, lock_timeout: 'float' = 60.0, preset: 'str | None' = None, incremental: 'bool' = False, parquet_compression: 'str | None' = None) -> 'RunResult'",
    'diagnose': '(experiment_id: \'str\', events: \'str | Source | None\' = None, assignments: \'str | Source | None\' = None, *, date: "\'str | Any | None\'" = None, output_dir: \'str | None\' = None, database: \'str | None\' = None, vars: \'Mapping[str, Any] | None\' = None, events_columns: \'Mapping[str, str] | None\' = None, assignments_columns: \'Mapping[str, str] | None\' = None, engine: \'Mapping[str, Any] | None\' = None, preset: \'str | None\' = None)',
    'compile_model': "(name: 'str', dialect: 'str' = 'duckdb', vars: 'Mapping[str, Any] | None' = None) -> 'str'",
    'report': "(out: 'str | Path' = 'expguard-report.html', *, output_dir: 'str | Path | None' = None, database: 'str | Path | None' = None, events: 'Any' = None, assignments: 'Any' = None, experiments: 'Sequence[str]' = (), title: 'str | None' = None, vars: 'Mapping[str, Any] | None' = None, events_columns: 'Mapping[str, str] | None' = None, assignments_columns: 'Mapping[str, str] | None' = None, engine: 'Mapping[str, Any] | None' = None, preset: 'str | None' = None) -> 'ReportResult'",
}

TOP_HELP = "Usage: main [OPTIONS] COMMAND [ARGS]...\n\n  expguard: validate A/B-test exposures against assignments.\n\n  Example:\n    expguard demo\n    expguard run --events events.parquet --assignments assignments.parquet --output-dir out/\n\nOptions:\n  --version   Show the version and exit.\n  -h, --help  Show this message and exit.\n\nCommands:\n  alerts    List exposure-quality alerts: from an earlier run's outputs, or...\n  compile   Print a model's SQL with the variables bound, in a dialect, for...\n  demo      Generate a realistic seeded dataset with known defects, run the...\n  diagnose  Walk the exposure-rate-drop runbook for one experiment and say...\n  report    Write an HTML report of exposure quality: overview, charts and...\n  run       Build the exposure-validation models from an event stream and...\n"

COMMAND_OPTIONS = {
    'alerts': ['--as-of', '--assignments', '--assignments-format', '--database', '--debug', '--engine', '--events', '--events-format', '--events-preset', '--experiment', '--fail-on', '--format', '--memory-limit', '--output-dir', '--project', '--since', '--spark-master', '--spark-remote', '--temp-directory', '--threads', '--var'],
    'compile': ['--all', '--assignments-table', '--debug', '--dialect', '--events-table', '--schema', '--var', 'model'],
    'demo': ['--debug', '--dir', '--events', '--quiet', '--seed', '-q'],
    'diagnose': ['--as-of', '--assignments', '--assignments-format', '--database', '--date', '--debug', '--engine', '--events', '--events-format', '--events-preset', '--experiment', '--format', '--memory-limit', '--output-dir', '--project', '--spark-master', '--spark-remote', '--temp-directory', '--threads', '--var'],
    'report': ['--as-of', '--assignments', '--assignments-format', '--database', '--debug', '--engine', '--events', '--events-format', '--events-preset', '--experiment', '--memory-limit', '--out', '--output-dir', '--project', '--quiet', '--spark-master', '--spark-remote', '--temp-directory', '--threads', '--title', '--var', '-q'],
    'run': ['--as-of', '--assignments', '--assignments-format', '--database', '--debug', '--engine', '--events', '--events-format', '--events-preset', '--fail-on', '--incremental', '--lock-timeout', '--memory-limit', '--output-dir', '--parquet-compression', '--project', '--quiet', '--spark-master', '--spark-remote', '--temp-directory', '--threads', '--var', '-q'],
}


def test_public_names_are_unchanged():
    # Submodules (expguard.settings, expguard.apps, ...) are the layout, not the API: left out.
    names = sorted(n for n in dir(expguard)
                   if not n.startswith("_") and not isinstance(getattr(expguard, n), types.ModuleType))
    assert names == PUBLIC_NAMES
    assert expguard.__all__ == ALL
    for name in ALL:
        assert not isinstance(getattr(expguard, name), types.ModuleType), name


def test_function_signatures_are_unchanged():
    assert {name: str(inspect.signature(getattr(expguard, name))) for name in SIGNATURES} == SIGNATURES


def test_report_is_the_function_and_the_package_is_importable():
    import expguard.apps.report.html as html

    assert callable(html.render)
    assert callable(expguard.report) and not isinstance(expguard.report, types.ModuleType)
    assert expguard.report.__name__ == "report"


def test_top_help_is_unchanged():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert result.output == TOP_HELP


def test_every_command_keeps_its_options():
    options = {name: sorted(o for p in cmd.params for o in [*p.opts, *p.secondary_opts])
               for name, cmd in sorted(main.commands.items())}
    assert options == COMMAND_OPTIONS
    for name in COMMAND_OPTIONS:
        result = CliRunner().invoke(main, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
