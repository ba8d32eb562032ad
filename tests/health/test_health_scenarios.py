"""Broken experiments fail (or warn) with the right check; a healthy dataset passes every check.

Each scenario starts from one small generated dataset with no defect but the ordinary ones (8% of
assigned units never exposed, duplicate events, a few malformed events), breaks it the way real
tracking breaks, runs expguard and reads the verdicts (``RunResult.verdicts``, the same function
the report, ``alerts`` and ``diagnose`` read). ``--fail-on fail`` makes the command exit 3.
"""

from __future__ import annotations

import dataclasses
import json
import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import expguard
from expguard.cli import main
from expguard.apps.demo import rename_exposures
from expguard.apps.demo.generator import Dataset, DefectRates, generate

START = dt.date(2026, 1, 1)
DAYS = 20
CLEAN = dataclasses.replace(DefectRates(**{f.name: 0.0 for f in dataclasses.fields(DefectRates)}),
                            never_exposed=0.08, duplicate_exposure=0.05, malformed_exposure=0.002)


def _dataset(defects: DefectRates = CLEAN) -> Dataset:
    return generate(40_000, seed=11, n_experiments=4, days=DAYS, start=START, defects=defects)


@pytest.fixture(scope="module")
def clean() -> Dataset:
    return _dataset()


def _as_of(dataset: Dataset) -> str:
    return pc.max(dataset.events["event_ts"]).as_py().isoformat()


def _run(tmp_path: Path, dataset: Dataset, **variables):
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(dataset.events, tmp_path / "events.parquet")
    pq.write_table(dataset.assignments, tmp_path / "assignments.parquet")
    variables.setdefault("exp_health_as_of", _as_of(dataset))
    return expguard.run(str(tmp_path / "events.parquet"), str(tmp_path / "assignments.parquet"),
                        output_dir=str(tmp_path / "out"), vars=variables)


def _statuses(result, experiment_id) -> dict[str, str]:
    return {row["check_name"]: row["status"] for row in result.verdicts[experiment_id].checks}


def _of_experiment(events: pa.Table, experiment_id: str) -> pa.ChunkedArray:
    return pc.match_substring_regex(pc.fill_null(events["properties"], ""), f'"experiment_id": *" *{experiment_id} *"')


def _exposures(events: pa.Table) -> pa.ChunkedArray:
    return pc.equal(events["event_name"], "experiment_viewed")


def test_a_healthy_dataset_passes_every_check(tmp_path, clean):
    result = _run(tmp_path, clean)
    assert len(result.verdicts) == 5  # four experiments and the stream
    bad = [(r["experiment_id"], r["check_name"], r["detail"]) for r in result.health if r["status"] != "pass"]
    assert bad == []
    assert result.status == "pass"


def test_wrong_exposure_event_name_from_day_one(tmp_path, clean):
    result = _run(tmp_path, clean, exp_exposure_event_name="exposure_logged")
    for experiment_id in ("exp_01", "exp_02", "exp_03", "exp_04"):
        verdict = result.verdicts[experiment_id]
        assert verdict.status == "fail"
        assert verdict.reason["check_name"] == "exposure_events_present"
        # The detail names the event that really carries the experiment's id.
        assert "'experiment_viewed'" in verdict.reason["detail"]
    assert _statuses(result, None)["exposure_events_present"] == "fail"


def test_exposure_event_renamed_mid_experiment(tmp_path, clean):
    renamed = rename_exposures(clean, "exp_02", dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc), "Experiment Viewed")
    result = _run(tmp_path, renamed)
    verdict = result.verdicts["exp_02"]
    assert verdict.status == "fail"
    assert verdict.reason["check_name"] == "freshness"
    assert "'Experiment Viewed'" in verdict.reason["detail"]
    assert {result.verdicts[e].status for e in ("exp_01", "exp_03", "exp_04")} == {"pass"}


def test_camel_case_json_keys_reject_every_exposure(tmp_path, clean):
    properties = pc.replace_substring(clean.events["properties"], '"experiment_id"', '"experimentId"')
    properties = pc.replace_substring(properties, '"variation_id"', '"variationId"')
    events = clean.events.set_column(clean.events.schema.get_field_index("properties"), "properties", properties)
    result = _run(tmp_path, Dataset(events, clean.assignments))
    stream = {row["check_name"]: row for row in result.verdicts[None].checks}
    assert stream["rejected_exposure_events"]["status"] == "fail"
    assert stream["rejected_exposure_events"]["value"] == 1.0
    assert "missing_experiment_id" in stream["rejected_exposure_events"]["detail"]
    for experiment_id in ("exp_01", "exp_02", "exp_03", "exp_04"):
        assert result.verdicts[experiment_id].reason["check_name"] == "exposure_events_present"


def test_unreadable_experiment_ids_are_named_in_each_experiments_reason(tmp_path, clean):
    # The same camelCase keys: each experiment's reason must point at the unreadable ids, before
    # any look-alike event name (which would send the user to change the wrong setting).
    properties = pc.replace_substring(clean.events["properties"], '"experiment_id"', '"experimentId"')
    events = clean.events.set_column(clean.events.schema.get_field_index("properties"), "properties", properties)
    result = _run(tmp_path, Dataset(events, clean.assignments))
    exposures = pc.sum(_exposures(events)).as_py()
    detail = result.verdicts["exp_01"].reason["detail"]
    assert (f"; {exposures:,} exposure events named 'experiment_viewed' have no readable experiment id "
            "(the stream's rejected_exposure_events row): check the experiment_id mapping first") in detail
    # with readable ids, a missing experiment's detail says nothing of the kind
    drop = pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_01"))
    plain = _run(tmp_path / "plain", Dataset(clean.events.filter(pc.invert(drop)), clean.assignments))
    assert "no readable experiment id" not in plain.verdicts["exp_01"].reason["detail"]


def test_variant_in_another_field_for_39_percent_of_events(tmp_path, clean):
    rng = np.random.default_rng(1)
    hit = pc.and_(pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_03")),
                  pa.array(rng.random(clean.events.num_rows) < 0.39))
    moved = pc.replace_substring(clean.events["properties"], '"variation_id"', '"variant"')
    properties = pc.if_else(hit, moved, clean.events["properties"])
    events = clean.events.set_column(clean.events.schema.get_field_index("properties"), "properties", properties)
    result = _run(tmp_path, Dataset(events, clean.assignments))
    verdict = result.verdicts["exp_03"]
    assert verdict.status == "fail" and verdict.reason["check_name"] == "rejected_exposure_events"
    assert 0.36 < verdict.reason["value"] < 0.42
    assert "missing_variation_id" in verdict.reason["detail"]
    assert result.verdicts["exp_01"].status == "pass"


def test_variation_mismatch_and_multiple_variations_present_from_day_one(tmp_path):
    broken = _dataset(dataclasses.replace(CLEAN, mismatch=0.31, multi_variation=0.12))
    result = _run(tmp_path, broken)
    for experiment_id in ("exp_01", "exp_02", "exp_03", "exp_04"):
        statuses = _statuses(result, experiment_id)
        assert result.verdicts[experiment_id].status == "fail"
        assert statuses["variation_mismatch"] == "fail"
        assert statuses["multiple_variations"] == "fail"
    assert result.verdicts["exp_01"].reason["check_name"] == "variation_mismatch"


def test_multiple_variations_alone_is_named_as_such_not_as_a_mismatch(tmp_path):
    # Units that saw their own variation and another one (12%): one defect, one check. Counted as
    # "saw a variation other than the one assigned" too, they used to make variation_mismatch the reason.
    result = _run(tmp_path, _dataset(dataclasses.replace(CLEAN, multi_variation=0.12)))
    for experiment_id in ("exp_01", "exp_02", "exp_03", "exp_04"):
        verdict = result.verdicts[experiment_id]
        assert verdict.status == "fail" and verdict.reason["check_name"] == "multiple_variations"
        assert _statuses(result, experiment_id)["variation_mismatch"] == "pass"
        assert [row["check_name"] for row in verdict.problems] == ["multiple_variations"]


def test_exposures_of_an_experiment_without_assignments(tmp_path, clean):
    keep = pc.not_equal(clean.assignments["experiment_id"], "exp_04")
    result = _run(tmp_path, Dataset(clean.events, clean.assignments.filter(keep)))
    verdict = result.verdicts["exp_04"]
    assert verdict.status == "fail" and verdict.reason["check_name"] == "assignments_present"
    assert _statuses(result, "exp_04")["unassigned_exposures"] == "not_enough_data"
    unassigned = next(r for r in verdict.checks if r["check_name"] == "unassigned_exposures")
    assert " units were exposed without an assignment, against 0 assigned units: too few to judge" \
        in unassigned["detail"]
    assert result.verdicts["exp_01"].status == "pass"


def test_assignments_of_an_experiment_without_exposures(tmp_path, clean):
    drop = pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_01"))
    result = _run(tmp_path, Dataset(clean.events.filter(pc.invert(drop)), clean.assignments))
    verdict = result.verdicts["exp_01"]
    assert verdict.status == "fail" and verdict.reason["check_name"] == "exposure_events_present"
    assert result.verdicts["exp_02"].status == "pass"


def test_stale_stream_at_the_reference_time(tmp_path, clean):
    later = (pc.max(clean.events["event_ts"]).as_py() + dt.timedelta(days=3)).isoformat()
    result = _run(tmp_path, clean, exp_health_as_of=later)
    assert _statuses(result, None)["freshness"] == "fail"
    assert result.verdicts["exp_01"].status == "pass"   # the stream's staleness is the stream's verdict
    assert result.status == "fail"


def test_a_stale_stream_is_in_the_headline_of_every_command(tmp_path, clean):
    # Every experiment passes but the stream is 3 days old at --as-of: the one-line headline of
    # run, alerts and report must not read "all 4 experiments pass" and nothing else.
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(clean.events, tmp_path / "events.parquet")
    pq.write_table(clean.assignments, tmp_path / "assignments.parquet")
    later = (pc.max(clean.events["event_ts"]).as_py() + dt.timedelta(days=3)).isoformat()
    out = str(tmp_path / "out")
    ran = CliRunner().invoke(main, ["run", "--events", str(tmp_path / "events.parquet"), "--assignments",
                                    str(tmp_path / "assignments.parquet"), "--output-dir", out, "--as-of", later])
    expected = "health: all 4 experiments pass; the event stream FAILs (freshness)\n"
    assert ran.exit_code == 0 and expected in ran.stdout
    assert expected in CliRunner().invoke(main, ["alerts", "--output-dir", out]).stdout
    report = CliRunner().invoke(main, ["report", "--output-dir", out, "--out", str(tmp_path / "r.html")])
    assert report.stdout.endswith(expected)
    assert "The event stream as a whole fails on stale exposure events: " in (tmp_path / "r.html").read_text()


def _cli_run(tmp_path: Path, dataset: Dataset, *extra: str):
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(dataset.events, tmp_path / "events.parquet")
    pq.write_table(dataset.assignments, tmp_path / "assignments.parquet")
    args = ["run", "--events", tmp_path / "events.parquet", "--assignments", tmp_path / "assignments.parquet",
            "--output-dir", tmp_path / "out", "--as-of", _as_of(dataset), *extra]
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_fail_on_fail_exits_3_and_names_the_check(tmp_path, clean):
    drop = pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_01"))
    broken = Dataset(clean.events.filter(pc.invert(drop)), clean.assignments)
    plain = _cli_run(tmp_path / "plain", broken)
    assert plain.exit_code == 0
    assert "health: 1 of 4 experiments FAIL" in plain.stdout
    assert "exp_01" in plain.stdout and "exposure_events_present" in plain.stdout
    failing = _cli_run(tmp_path / "failing", broken, "--fail-on", "fail")
    assert failing.exit_code == 3
    assert "exp_01 fail (exposure_events_present)" in failing.stderr
    assert (tmp_path / "failing" / "out" / "fct_experiment_health.parquet").exists()  # outputs written first
    quiet = _cli_run(tmp_path / "quiet", broken, "--quiet")
    assert quiet.exit_code == 0 and quiet.stdout == ""
    assert "exp_01 fail (exposure_events_present)" in quiet.stderr   # a failing verdict is never silent


def test_the_verdict_table_is_readable_in_a_log(tmp_path, clean):
    # Not a terminal (a CI log, an orchestrator): the table is not folded to 80 columns, where the
    # detail column was 27 characters wide and one experiment took a dozen lines.
    drop = pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_01"))
    result = _cli_run(tmp_path, Dataset(clean.events.filter(pc.invert(drop)), clean.assignments))
    row = next(line for line in result.stdout.splitlines() if line.startswith("exp_01"))
    assert "no exposure event named 'experiment_viewed' carries this experiment's id" in row


def test_run_fail_on_on_a_healthy_dataset_exits_0(tmp_path, clean):
    result = _cli_run(tmp_path, clean, "--fail-on", "warn")
    assert result.exit_code == 0, result.stderr
    assert "health: all 4 experiments pass" in result.stdout


def test_alerts_command_shows_the_verdict_when_there_is_no_alert(tmp_path, clean):
    drop = pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_01"))
    broken = Dataset(clean.events.filter(pc.invert(drop)), clean.assignments)
    assert _cli_run(tmp_path, broken).exit_code == 0
    listed = CliRunner().invoke(main, ["alerts", "--output-dir", str(tmp_path / "out")])
    assert listed.exit_code == 0
    assert "no alerts" in listed.stdout
    assert "health: 1 of 4 experiments FAIL" in listed.stdout and "exposure_events_present" in listed.stdout
    failing = CliRunner().invoke(main, ["alerts", "--output-dir", str(tmp_path / "out"), "--fail-on", "critical"])
    assert failing.exit_code == 3
    as_json = CliRunner().invoke(main, ["alerts", "--output-dir", str(tmp_path / "out"), "--format", "json"])
    assert as_json.stdout.strip() == "[]" and "exp_01 fail (exposure_events_present)" in as_json.stderr


@pytest.mark.spark
def test_the_same_health_rows_on_spark(tmp_path, clean):
    # One dataset with three broken experiments: renamed mid-way, no exposures, no assignments;
    # the candidate search (a scan of fct_events) runs on both engines.
    renamed = rename_exposures(clean, "exp_02", dt.datetime(2026, 1, 11, tzinfo=dt.timezone.utc), "Experiment Viewed")
    drop = pc.and_(_exposures(renamed.events), _of_experiment(renamed.events, "exp_01"))
    keep = pc.not_equal(renamed.assignments["experiment_id"], "exp_04")
    broken = Dataset(renamed.events.filter(pc.invert(drop)), renamed.assignments.filter(keep))
    pq_dir = tmp_path / "in"
    pq_dir.mkdir()
    pq.write_table(broken.events, pq_dir / "events.parquet")
    pq.write_table(broken.assignments, pq_dir / "assignments.parquet")
    rows = {}
    for engine in ("duckdb", "spark"):
        result = expguard.run(str(pq_dir / "events.parquet"), str(pq_dir / "assignments.parquet"),
                              output_dir=str(tmp_path / engine), vars={"exp_health_as_of": _as_of(broken)},
                              engine={"name": engine})
        rows[engine] = sorted(result.health, key=lambda r: (r["experiment_id"] or "", r["check_name"]))
    assert rows["spark"] == rows["duckdb"]
    from expguard.models.verdict import verdicts

    found = verdicts(rows["spark"])
    assert found["exp_01"].reason["check_name"] == "exposure_events_present"
    assert found["exp_02"].reason["check_name"] == "freshness" and "'Experiment Viewed'" in found["exp_02"].reason["detail"]
    assert found["exp_04"].reason["check_name"] == "assignments_present"
    assert found["exp_03"].status == "pass"


def test_exposures_whose_unit_ids_match_no_assignment_fail_in_every_command(tmp_path, clean):
    # exp_01's exposure events all carry unit_id "undefined" (a tracking call that read the unit
    # id before it was set): they carry the experiment's id, so every presence check passes, and
    # every window is still open, so the coverage share was not judged: the experiment passed.
    # It fails on exposure_coverage in run, alerts, the report and diagnose alike.
    undefined = pc.and_(_exposures(clean.events), _of_experiment(clean.events, "exp_01"))
    index = clean.events.schema.get_field_index("unit_id")
    units = pc.if_else(undefined, "undefined", clean.events["unit_id"])
    broken = Dataset(clean.events.set_column(index, "unit_id", units), clean.assignments)
    ran = _cli_run(tmp_path, broken, "--fail-on", "fail")
    assert ran.exit_code == 3, ran.output
    assert "exp_01 fail (exposure_coverage)" in ran.stderr
    assert "match no assignment" in ran.stdout
    out = str(tmp_path / "out")
    alerts = CliRunner().invoke(main, ["alerts", "--output-dir", out, "--fail-on", "critical"])
    assert alerts.exit_code == 3 and "health: 1 of 4 experiments FAIL" in alerts.stdout
    assert "exposure_coverage" in alerts.stdout
    report = CliRunner().invoke(main, ["report", "--output-dir", out, "--out", str(tmp_path / "r.html")])
    assert report.exit_code == 0 and "1 of 4 experiments FAIL" in report.stdout
    diagnosed = CliRunner().invoke(main, ["diagnose", "--experiment", "exp_01", "--output-dir", out, "--format", "json"])
    assert json.loads(diagnosed.stdout)["verdict"]["status"] == "fail"


@pytest.mark.parametrize("command", ["alerts", "report", "diagnose"])
def test_options_that_shape_a_build_are_refused_when_reading_an_earlier_run(tmp_path, clean, command):
    # --as-of (and, for alerts and the report, --var) would be ignored reading an earlier run's
    # outputs: the verdicts are that run's. Refused on one line, exit 2, rather than ignored.
    assert _cli_run(tmp_path, clean).exit_code == 0
    extra = {"report": ["--out", str(tmp_path / "r.html")], "diagnose": ["--experiment", "exp_01"]}.get(command, [])
    result = CliRunner().invoke(main, [command, "--output-dir", str(tmp_path / "out"), *extra,
                                       "--as-of", "2030-01-01T00:00:00Z"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "--as-of applies when the models are built" in result.stderr
    assert not (tmp_path / "r.html").exists()
    if command != "diagnose":
        result = CliRunner().invoke(main, [command, "--output-dir", str(tmp_path / "out"), *extra,
                                           "--var", "exp_health_freshness_fail_hours=0"])
        assert result.exit_code == 2 and "--var applies" in result.stderr


def test_diagnose_says_the_streams_verdict(tmp_path, clean):
    # Every experiment passes but the stream is 3 days old at --as-of: run and alerts fail on the
    # stream; diagnose, which used to say only the experiment's "pass", says the stream's too.
    later = (pc.max(clean.events["event_ts"]).as_py() + dt.timedelta(days=3)).isoformat()
    tmp_path.mkdir(parents=True, exist_ok=True)
    pq.write_table(clean.events, tmp_path / "events.parquet")
    pq.write_table(clean.assignments, tmp_path / "assignments.parquet")
    inputs = ["--events", str(tmp_path / "events.parquet"), "--assignments", str(tmp_path / "assignments.parquet"),
              "--as-of", later]
    text = CliRunner().invoke(main, ["diagnose", "--experiment", "exp_01", *inputs])
    assert text.exit_code == 0, text.output
    assert "health verdict: pass" in text.stdout and "the event stream: FAIL" in text.stdout
    assert "fail freshness: the newest exposure event" in text.stdout
    found = json.loads(CliRunner().invoke(main, ["diagnose", "--experiment", "exp_01", *inputs,
                                                 "--format", "json"]).stdout)
    assert (found["verdict"]["status"], found["stream_verdict"]["status"], found["status"]) == ("pass", "fail", "abnormal")
