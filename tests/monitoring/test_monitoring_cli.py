"""``expguard alerts``: from an earlier run's folder or database, or built from the inputs; table
or JSON; ``--fail-on`` exits 3 when a listed alert reaches that severity, or a health verdict does.
JSON goes to stdout alone (a failing verdict is one line on stderr), so scripts read ``stdout``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from expguard.cli import ALERTS_EXIT_CODE, main
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, T0, assignment, exposure, ts, write_rows

SMALL = ("--var", "exp_alert_min_cohort_units=10", "--as-of", "2026-03-13T12:00:00")
DROP_DATE = (T0 + dt.timedelta(days=7)).date().isoformat()


def invoke(*args: Any, **kwargs: Any):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("expguard: error:"), lines
    return lines[0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """Eight daily cohorts of 20 units, half exposed a minute after assignment; on day 7 no
    exposure arrives: one exposure_rate_drop warning at the default thresholds."""
    directory = tmp_path_factory.mktemp("alerts-cli")
    assignments, events = [], []
    for d in range(8):
        for u in range(20):
            assignments.append(assignment(f"u{d}_{u}", at=ts(days=d)))
            if u < 10 and d < 7:
                events.append(exposure(f"u{d}_{u}", ts(1, days=d)))
    events.append(exposure("late", ts(days=12)))
    return (write_rows(directory / "events.parquet", events, EVENT_SCHEMA),
            write_rows(directory / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA))


@pytest.fixture(scope="module")
def built(inputs, tmp_path_factory) -> tuple[Path, Path]:
    """An earlier run's folder and database."""
    directory = tmp_path_factory.mktemp("alerts-out")
    out, database = directory / "out", directory / "models.duckdb"
    result = invoke("run", "--events", inputs[0], "--assignments", inputs[1], "--output-dir", out,
                    "--database", database, *SMALL)
    assert result.exit_code == 0, result.output
    assert "1 exposure-quality alert;" in result.output
    return out, database


def test_table_from_an_output_folder(built):
    result = invoke("alerts", "--output-dir", built[0])
    assert result.exit_code == 0, result.output
    assert "exposure_rate_drop" in result.output and "warning" in result.output and DROP_DATE in result.output


def test_json_from_an_output_folder_and_from_a_database_agree(built):
    from_folder = invoke("alerts", "--output-dir", built[0], "--format", "json")
    from_database = invoke("alerts", "--database", built[1], "--format", "json")
    alerts = json.loads(from_folder.stdout)
    assert alerts == json.loads(from_database.stdout)
    assert [(a["experiment_id"], a["date"], a["alert_type"], a["severity"]) for a in alerts] == [
        ("exp", DROP_DATE, "exposure_rate_drop", "warning")]
    assert {"observed", "baseline", "threshold", "message"} <= set(alerts[0])


def test_built_from_the_inputs_writes_nothing(inputs, built, tmp_path):
    with CliRunner().isolated_filesystem(temp_dir=tmp_path) as cwd:
        result = invoke("alerts", "--events", inputs[0], "--assignments", inputs[1], *SMALL, "--format", "json")
        assert result.exit_code == 0, result.output
        assert list(Path(cwd).iterdir()) == []
    assert json.loads(result.stdout) == json.loads(invoke("alerts", "--output-dir", built[0], "--format", "json").stdout)


@pytest.mark.parametrize("fail_on, code", [("warning", ALERTS_EXIT_CODE), ("critical", 0)])
def test_fail_on_exits_3_when_an_alert_reaches_the_severity(built, fail_on, code):
    result = invoke("alerts", "--output-dir", built[0], "--fail-on", fail_on)
    assert result.exit_code == code
    assert "exposure_rate_drop" in result.output  # the alerts are printed either way


def test_fail_on_critical_with_a_critical_alert(inputs):
    result = invoke("alerts", "--events", inputs[0], "--assignments", inputs[1], *SMALL,
                    "--var", "exp_alert_critical_multiple=1", "--fail-on", "critical")
    assert result.exit_code == ALERTS_EXIT_CODE
    assert "critical" in result.output


def test_filters_apply_before_fail_on(built):
    later = (T0 + dt.timedelta(days=8)).date().isoformat()
    # --since filters the alerts, not the verdict: the experiment still warns (its exposures
    # stopped on its last day, the same drop the alert saw), and "no alerts" never stands alone.
    result = invoke("alerts", "--output-dir", built[0], "--since", later, "--fail-on", "warning")
    assert result.exit_code == ALERTS_EXIT_CODE
    assert result.output.startswith("no alerts\n")
    assert "health: 1 of 1 experiment warn" in result.output and "freshness" in result.output
    assert invoke("alerts", "--output-dir", built[0], "--since", later, "--fail-on", "critical").exit_code == 0
    result = invoke("alerts", "--output-dir", built[0], "--experiment", "other", "--format", "json", "--fail-on", "warning")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])
    assert invoke("alerts", "--output-dir", built[0], "--since", DROP_DATE, "--experiment", "exp",
                  "--fail-on", "warning").exit_code == ALERTS_EXIT_CODE


def test_missing_outputs_fail_with_one_line(tmp_path):
    assert "not found" in one_error_line(invoke("alerts", "--output-dir", tmp_path / "nowhere"))
    assert "not found" in one_error_line(invoke("alerts", "--database", tmp_path / "none.duckdb"))


def test_conflicting_sources_fail_with_one_line(built, inputs):
    assert "one of" in one_error_line(invoke("alerts", "--output-dir", built[0], "--database", built[1]))
    assert "not both" in one_error_line(invoke("alerts", "--output-dir", built[0], "--events", inputs[0]))


def test_help_has_a_runnable_example_and_the_exit_code():
    result = invoke("alerts", "--help")
    assert result.exit_code == 0
    assert "expguard alerts --output-dir out/ --fail-on critical" in result.output
    assert "Exits 3" in result.output


def test_compile_names_a_python_model_instead_of_printing_sql():
    line = one_error_line(invoke("compile", "fct_experiment_exposure_srm"))
    assert "computed in Python" in line and "int_experiment_exposure_srm_counts" in line
    listing = invoke("compile", "--all", "--dialect", "spark")
    assert listing.exit_code == 0
    assert "-- model: fct_experiment_exposure_alerts is computed in Python" in listing.output
    assert "-- model: fct_experiment_exposure_quality_daily_by_variation\n" in listing.output
