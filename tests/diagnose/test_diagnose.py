"""expguard diagnose: one seeded dataset per fault, and the cause it must name first.

Every dataset (tests/diagnose/diagnose_data.py) is the same healthy 40-day stream of two
experiments with exactly one fault injected into it from a known day; the diagnosis of the
``checkout`` experiment, on its default day, must rank that fault's cause first, with the
evidence that proves it. The healthy stream must report nothing abnormal.
"""

from __future__ import annotations

import datetime as dt
import doctest
import json

import pytest
from click.testing import CliRunner

import expguard
from expguard.cli import main
from expguard.settings.config import ColumnMapping
from expguard.core.errors import ConfigError

import diagnose_data as dd
from diagnose_data import day

CHECK_NAMES = ["event_name", "ingestion", "status_spikes", "raw_vs_deduped", "assignments"]


def causes(diagnosis) -> list[str]:
    return [c["cause"] for c in diagnosis.causes]


def test_healthy_stream_reports_nothing_abnormal(datasets):
    diagnosis = datasets.diagnosis(None)
    assert diagnosis.status == "ok"
    assert diagnosis.causes == []
    assert [c.status for c in diagnosis.checks] == ["ok"] * 5, [(c.name, c.summary) for c in diagnosis.checks]
    assert diagnosis.notes == []
    # no drop: the latest complete cohort (the horizon of the last day has not elapsed)
    assert diagnosis.date == day(dd.DAYS - 3)
    assert diagnosis.headline["is_drop"] is False
    # the look-alike debug event that carries the experiment's id all along is examined, not blamed
    candidates = diagnosis.checks[0].data["candidates"]
    assert [c["event_name"] for c in candidates] == ["Experiment_Viewed"]
    # ingested_at is mapped: the lag was measured, and is a few minutes
    lag = diagnosis.checks[1].data["lag_daily"]
    assert lag and all(row["lag_p50_seconds"] < 600 for row in lag)


@pytest.mark.parametrize("fault", dd.FAULTS)
def test_each_fault_is_named_first(datasets, fault):
    diagnosis = datasets.diagnosis(fault)
    assert diagnosis.status == "abnormal"
    assert causes(diagnosis)[0] == fault, diagnosis.to_json()


def test_renamed_event_names_both_names_the_day_and_the_counts(datasets):
    top = datasets.diagnosis("event_renamed").causes[0]
    facts = top["facts"]
    assert (facts["configured_name"], facts["new_name"]) == (dd.EVENT_NAME, dd.RENAMED)
    assert top["onset"] == facts["onset"] == day(dd.FAULT_DAY)
    assert facts["configured_events_on_onset"] == 0
    assert facts["new_events_on_onset"] > 300 and facts["configured_events_before"] > 300
    assert f"`{dd.EVENT_NAME}` stopped on {day(dd.FAULT_DAY)} and `{dd.RENAMED}` began" in top["summary"]
    assert "carries_experiment_id" in facts["reasons"] and "similar_name" in facts["reasons"]


def test_partly_renamed_event_keeps_the_configured_name_at_lower_volume(datasets):
    diagnosis = datasets.diagnosis("event_renamed_partial")
    facts = diagnosis.causes[0]["facts"]
    assert facts["new_name"] == dd.RENAMED_PARTIAL
    assert diagnosis.causes[0]["onset"] == day(dd.FAULT_DAY)
    # one platform of three: the new name takes about a third, the configured one keeps the rest
    assert 0.2 < facts["new_name_share"] < 0.5
    assert 0.5 * facts["configured_events_before"] < facts["configured_events_latest"] < 0.85 * facts["configured_events_before"]


def test_missing_day_is_a_missing_partition(datasets):
    diagnosis = datasets.diagnosis("missing_partition")
    top = diagnosis.causes[0]
    assert diagnosis.date == day(dd.MISSING_DAY)
    assert top["days"] == [day(dd.MISSING_DAY)]
    assert f"no events at all on {day(dd.MISSING_DAY)}" in top["summary"]
    stream = {row["date"]: row for row in diagnosis.checks[1].data["stream_daily"]}
    assert stream[day(dd.MISSING_DAY)]["events"] == 0 and stream[day(dd.MISSING_DAY)]["is_abnormal"]


def test_ingestion_delay_shows_the_lag_and_absorbs_the_incomplete_days(datasets):
    diagnosis = datasets.diagnosis("ingestion_delay")
    top = diagnosis.causes[0]
    assert top["onset"] == day(dd.INGESTION_FAULT_DAY)
    assert top["facts"]["lag_p50_seconds_before"] < 600 < 86400 < top["facts"]["lag_p50_seconds_peak"]
    # the latest days are low because their events are still on their way: not a missing partition
    assert "missing_partition" not in causes(diagnosis)
    assert top["facts"]["incomplete_days"]


def test_clock_skew_moves_first_exposures_before_assignment(datasets):
    top = datasets.diagnosis("clock_skew").causes[0]
    assert top["facts"]["metric"] == "pre_assignment_exposure_rate"
    assert top["onset"] == day(dd.FAULT_DAY)
    assert 0.2 < top["facts"]["observed"] < 0.45 and top["facts"]["baseline"] < 0.01
    assert any("5th percentile time from assignment to first exposure: -" in line for line in top["evidence"])


def test_late_exposures_fall_outside_the_window(datasets):
    diagnosis = datasets.diagnosis("late_exposure")
    top = diagnosis.causes[0]
    assert top["facts"]["metric"] == "exposure_outside_window_rate"
    assert top["onset"] == day(dd.LATE_FAULT_DAY) == diagnosis.episode_start
    assert any("median time from assignment to first exposure: 3." in line for line in top["evidence"])


def test_double_firing_doubles_events_per_deduped_exposure(datasets):
    diagnosis = datasets.diagnosis("double_firing")
    top = diagnosis.causes[0]
    assert not diagnosis.headline["is_drop"]  # duplicates are deduped: the exposure rate holds
    assert top["onset"] == day(dd.FAULT_DAY)
    assert top["facts"]["events_per_deduped_exposure_before"] < 1.1
    assert 1.8 < top["facts"]["events_per_deduped_exposure"] < 2.2


def test_lost_variation_shows_as_srm_on_valid_exposures(datasets):
    top = datasets.diagnosis("variation_exposures_lost").causes[0]
    assert top["facts"]["variation_id"] == "treatment"
    assert top["facts"]["exposure_rate"] < 0.05 < 0.8 < top["facts"]["exposure_rate_before"]
    assert top["facts"]["srm_alert_dates"] and top["facts"]["first_srm_stage"] == "logged"


def test_another_identity_shows_as_unassigned_exposures(datasets):
    top = datasets.diagnosis("identity_mismatch").causes[0]
    assert top["onset"] == day(dd.FAULT_DAY)
    assert top["facts"]["unassigned_rate"] > 0.3 > 0.05 > top["facts"]["unassigned_rate_before"]


def test_assignment_volume_shift_compares_assigned_and_exposed_units(datasets):
    top = datasets.diagnosis("assignment_volume_shift").causes[0]
    facts = top["facts"]
    assert top["onset"] == day(dd.FAULT_DAY)
    assert facts["assigned_units"] > 1.6 * facts["assigned_units_before"]
    assert abs(facts["exposed_units"] - facts["exposed_units_before"]) < 0.2 * facts["exposed_units_before"]


def test_json_is_complete_with_stable_keys(datasets):
    data = json.loads(datasets.diagnosis("event_renamed").to_json())
    assert list(data) == ["format_version", "experiment_id", "date", "date_reason", "status", "verdict",
                          "stream_verdict", "episode_start",
                          "reference", "event_days", "exposure_rate", "causes", "checks", "notes", "earlier_alerts", "source",
                          "settings"]
    assert data["date"] == day(dd.DAYS - 3).isoformat() and data["episode_start"] == day(dd.FAULT_DAY).isoformat()
    assert [c["name"] for c in data["checks"]] == CHECK_NAMES
    for check in data["checks"]:
        assert set(check) == {"step", "name", "title", "status", "summary", "findings", "notes", "data"}
    assert set(data["causes"][0]) == {"rank", "cause", "title", "check", "score", "summary", "onset", "days",
                                      "days_text", "evidence", "facts", "next_steps"}
    assert data["source"]["mode"] == "built"


def test_table_output_is_short_and_names_the_cause(datasets):
    events, assignments = datasets.paths("event_renamed")
    result = CliRunner().invoke(main, ["diagnose", "--experiment", dd.TARGET, "--events", events,
                                       "--assignments", assignments])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "1. Exposure event renamed" in out and f"`{dd.RENAMED}` began" in out
    assert "Runbook checks" in out and out.count("\n") < 45
    assert result.stderr == ""


def test_outputs_without_events_skip_the_raw_event_checks_and_say_so(datasets, tmp_path):
    events, assignments = datasets.paths("event_renamed")
    expguard.run(events, assignments, output_dir=str(tmp_path / "out"))
    runner = CliRunner()
    result = runner.invoke(main, ["diagnose", "--experiment", dd.TARGET, "--output-dir", str(tmp_path / "out"),
                                  "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["status"] for c in data["checks"][:2]] == ["skipped", "skipped"]
    assert all("--events" in c["summary"] for c in data["checks"][:2])
    # the drop is still found; its cause cannot be, and the verdict says which checks to run
    assert data["causes"][0]["cause"] == "exposure_events_missing"
    assert "--events" in data["causes"][0]["next_steps"][0]
    table = runner.invoke(main, ["diagnose", "--experiment", dd.TARGET, "--output-dir", str(tmp_path / "out")])
    assert "skipped" in table.stdout and "--events" in table.stdout
    # with the events, the same outputs give the rename
    with_events = runner.invoke(main, ["diagnose", "--experiment", dd.TARGET, "--output-dir", str(tmp_path / "out"),
                                       "--events", events, "--format", "json"])
    assert with_events.exit_code == 0, with_events.output
    data = json.loads(with_events.stdout)
    assert data["causes"][0]["cause"] == "event_renamed" and data["source"]["mode"] == "outputs"


def test_project_file_gives_inputs_mapping_and_events_for_outputs(datasets, tmp_path, monkeypatch):
    events, assignments = datasets.paths("ingestion_delay")
    (tmp_path / "expguard.toml").write_text(
        f'[events]\npath = "{events}"\n\n[events.columns]\ningested_at = "ingested_at"\n\n'
        f'[assignments]\npath = "{assignments}"\n')
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    built = runner.invoke(main, ["diagnose", "--experiment", dd.TARGET, "--format", "json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.stdout)["causes"][0]["cause"] == "ingestion_delay"
    assert runner.invoke(main, ["run", "--output-dir", "out", "-q"]).exit_code == 0
    # outputs: the project's events (and their mapping) still run the raw-event checks
    reused = runner.invoke(main, ["diagnose", "--experiment", dd.TARGET, "--output-dir", "out", "--format", "json"])
    assert reused.exit_code == 0, reused.output
    data = json.loads(reused.stdout)
    assert data["source"]["mode"] == "outputs" and data["source"]["events"] == events
    assert data["causes"][0]["cause"] == "ingestion_delay"


def test_database_outputs_give_the_same_diagnosis(datasets, tmp_path):
    events, assignments = datasets.paths("identity_mismatch")
    database = str(tmp_path / "run.duckdb")
    expguard.run(events, assignments, database=database)
    reused = expguard.diagnose(dd.TARGET, events, database=database)
    built = datasets.diagnosis("identity_mismatch")
    assert reused.causes == built.causes
    assert reused.date == built.date


def test_a_given_date_is_diagnosed(datasets):
    events, assignments = datasets.paths("clock_skew")
    before = expguard.diagnose(dd.TARGET, events, assignments, date=day(dd.FAULT_DAY - 5).isoformat())
    assert before.date == day(dd.FAULT_DAY - 5) and before.date_reason == "given"
    assert before.causes == []


@pytest.mark.parametrize("args, message", [
    (["--experiment", "nope"], "no experiment 'nope'"),
    (["--experiment", dd.TARGET, "--date", "2025-01-01"], "has no cohort on 2025-01-01"),
    (["--experiment", dd.TARGET, "--output-dir", "x", "--database", "y"], "give one of --output-dir or --database"),
    (["--experiment", dd.TARGET, "--output-dir", "missing-dir"], "not found"),
])
def test_errors_are_one_line_and_exit_2(datasets, args, message):
    events, assignments = datasets.paths(None)
    if "--output-dir" not in args:
        args = args + ["--events", events, "--assignments", assignments]
    result = CliRunner().invoke(main, ["diagnose", *args])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and result.stderr.startswith("expguard: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1


def test_assignments_with_outputs_are_refused(tmp_path):
    result = CliRunner().invoke(main, ["diagnose", "--experiment", "e", "--output-dir", str(tmp_path),
                                       "--assignments", "a.parquet"])
    assert result.exit_code == 2 and "--assignments is not read" in result.stderr


def test_too_little_history_is_said(tmp_path, monkeypatch):
    monkeypatch.setattr(dd, "DAYS", 6)
    events, assignments = dd.build(None).write(tmp_path)
    as_of = (dt.datetime.combine(dd.START, dt.time()) + dt.timedelta(days=6)).isoformat()
    diagnosis = expguard.diagnose(dd.TARGET, events, assignments, vars={"exp_health_as_of": as_of})
    assert diagnosis.status == "insufficient_history" and diagnosis.causes == []
    result = CliRunner().invoke(main, ["diagnose", "--experiment", dd.TARGET, "--events", events,
                                       "--assignments", assignments, "--as-of", as_of])
    assert result.exit_code == 0 and "Too little history to judge" in result.stdout


def test_ingested_at_is_an_optional_event_column():
    assert "ingested_at" not in ColumnMapping.for_events().expressions
    assert ColumnMapping.for_events({"ingested_at": "loaded_at"}).expressions["ingested_at"] == "loaded_at"
    with pytest.raises(ConfigError, match="known: .*ingested_at"):
        ColumnMapping.for_events({"ingested": "x"})


def test_doctests():
    import expguard.apps.diagnosis.checks
    import expguard.apps.diagnosis.data
    import expguard.apps.diagnosis.stats

    for module in (expguard.apps.diagnosis.checks, expguard.apps.diagnosis.data, expguard.apps.diagnosis.stats):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


@pytest.mark.spark
def test_a_fault_is_named_first_on_spark(datasets):
    pytest.importorskip("pyspark", reason="the spark tests need pyspark (pip install 'expguard[spark]')")
    from expguard.engines import ENGINES

    if "spark" not in ENGINES:
        pytest.skip("the Spark engine is not registered in this build")
    events, assignments = datasets.paths("clock_skew")
    result = CliRunner().invoke(main, ["diagnose", "--experiment", dd.TARGET, "--events", events,
                                       "--assignments", assignments, "--engine", "spark", "--threads", "2",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["source"]["engine"] == "spark"
    assert data["causes"][0]["cause"] == "clock_skew"
    # the same counts as on DuckDB (the quantiles are approximate on both: compared loosely)
    duck = json.loads(datasets.diagnosis("clock_skew").to_json())
    assert data["date"] == duck["date"] and data["exposure_rate"] == duck["exposure_rate"]
    assert data["checks"][2]["data"]["cohorts"] == duck["checks"][2]["data"]["cohorts"]


def test_both_names_across_a_rename_configured_make_the_rename_no_cause(datasets):
    # The runbook's advice for a rename: list both names. The stream then reads as steady: the
    # configured names are one series, and the renamed events are exposures again.
    events, assignments = datasets.paths("event_renamed")
    diagnosis = expguard.diagnose(dd.TARGET, events, assignments,
                                  vars={"exp_exposure_event_name": [dd.EVENT_NAME, dd.RENAMED]})
    assert "event_renamed" not in causes(diagnosis)
    event_name = diagnosis.checks[0]
    assert event_name.status == "ok", event_name.summary
    assert dd.RENAMED not in [c["event_name"] for c in event_name.data["candidates"]]
    assert diagnosis.headline["is_drop"] is False
    assert diagnosis.to_dict()["settings"]["exp_exposure_event_name"] == [dd.EVENT_NAME, dd.RENAMED]
    assert f"`{dd.EVENT_NAME}` + `{dd.RENAMED}` steady" in event_name.summary
