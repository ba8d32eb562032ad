"""expguard diagnose tells the experiment's health verdict, its checks' statuses agree with their
text, and its scores weigh the evidence (issue 13, item 2).

- The verdict (``fct_experiment_health`` through ``models.verdict.verdicts``, as ``run``, ``alerts``
  and the report read it) is at the top of the text and in the JSON; while it fails or warns, the
  diagnosis never says "nothing abnormal", even when no runbook step found a cause; reading an
  earlier run, the verdict is that run's.
- A check is ``ok`` only when it judged and found nothing; its summary never contradicts it.
- A finding of many days or a large effect outranks one borderline day; a split test over many
  cohorts is corrected for multiplicity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import expguard
from expguard.apps.demo.generator import DefectRates, generate
from expguard.apps.diagnosis.checks import Context
from expguard.apps.diagnosis.findings import ABNORMAL, NOT_JUDGED, OK, SKIPPED, CheckResult, Finding
from expguard.apps.diagnosis.ranking import rank
from expguard.apps.diagnosis.stats import Window
from expguard.apps.diagnosis.steps.assignments import split_rows
from expguard.cli import main
from expguard.settings.config import Variables

import diagnose_data as dd

# -- the verdict ----------------------------------------------------------------------------------

CLEAN = dataclasses.replace(DefectRates(**{f.name: 0.0 for f in dataclasses.fields(DefectRates)}),
                            never_exposed=0.08, duplicate_exposure=0.05, malformed_exposure=0.002)


@pytest.fixture(scope="module")
def mismatch_run(tmp_path_factory):
    """31% of exposed units see only another variation and 12% several, from day one: the
    experiment's own baseline is broken all along, so no runbook step sees a change; the health
    checks fail it. Written as an earlier run's outputs."""
    folder = tmp_path_factory.mktemp("mismatch")
    data = generate(40_000, seed=11, n_experiments=2, days=30, defects=dataclasses.replace(CLEAN, mismatch=0.31,
                                                                                           multi_variation=0.12))
    pq.write_table(data.events, folder / "events.parquet")
    pq.write_table(data.assignments, folder / "assignments.parquet")
    as_of = pc.max(data.events["event_ts"]).as_py().isoformat()
    expguard.run(str(folder / "events.parquet"), str(folder / "assignments.parquet"), output_dir=str(folder / "out"),
                 vars={"exp_health_as_of": as_of})
    return folder, as_of


def test_a_failing_verdict_is_told_even_without_a_cause(mismatch_run):
    folder, _ = mismatch_run
    result = CliRunner().invoke(main, ["diagnose", "--experiment", "exp_01", "--output-dir", str(folder / "out")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "health verdict: FAIL" in out
    assert "fail variation_mismatch:" in out and "fail multiple_variations:" in out
    assert "Nothing abnormal" not in out and "nothing abnormal" not in out
    assert "No runbook step found a cause, but the experiment's health verdict is FAIL" in out


def test_the_json_carries_the_verdict_of_the_run_read(mismatch_run):
    folder, as_of = mismatch_run
    result = CliRunner().invoke(main, ["diagnose", "--experiment", "exp_01", "--output-dir", str(folder / "out"),
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    verdict = data["verdict"]
    assert data["status"] == "abnormal"
    assert verdict["status"] == "fail" and verdict["reason"] == "variation_mismatch"
    problems = {p["check_name"]: p for p in verdict["problems"]}
    assert problems["variation_mismatch"]["status"] == "fail" and problems["variation_mismatch"]["value"] > 0.2
    assert {c["check_name"] for c in verdict["checks"]} >= {"variation_mismatch", "multiple_variations", "sample_ratio"}
    # built from the inputs, the diagnosis reads the same verdict
    built = expguard.diagnose("exp_01", str(folder / "events.parquet"), str(folder / "assignments.parquet"),
                              vars={"exp_health_as_of": as_of})
    assert built.verdict.status == "fail" and built.verdict.reason["check_name"] == "variation_mismatch"
    assert built.status == "abnormal"


def test_a_healthy_experiment_passes_and_says_so(datasets):
    diagnosis = datasets.diagnosis(None)
    assert diagnosis.verdict is not None and diagnosis.verdict.status == "pass"
    assert diagnosis.to_dict()["verdict"]["problems"] == []


def test_a_wrong_event_name_is_never_ok(datasets):
    """The configured name occurs nowhere in the stream: the event-name check is abnormal and names
    the nearest names, the cause is a wrong name, and the verdict fails on exposure_events_present."""
    events, assignments = datasets.paths(None)
    diagnosis = expguard.diagnose(dd.TARGET, events, assignments, vars={"exp_exposure_event_name": "experiment_view"})
    check = diagnosis.checks[0]
    assert check.status == ABNORMAL
    assert "no event is named `experiment_view`" in check.summary and f"`{dd.EVENT_NAME}`" in check.summary
    assert diagnosis.causes[0]["cause"] == "event_name_wrong"
    assert diagnosis.verdict.status == "fail"
    assert diagnosis.verdict.reason["check_name"] == "exposure_events_present"
    assert diagnosis.status == "abnormal"


# -- statuses agree with their text ---------------------------------------------------------------

# Words that say something was found, or that nothing could be judged: never in an ok summary.
FOUND = ("no event", "stopped", "rose to", "fell to", "fell from", "moved", "rejected on", "late from",
         "no events at all", "without an assignment", "mismatch from")
UNJUDGED = ("not judged", "too few", "skipped", "empty")


def assert_consistent(check: CheckResult) -> None:
    text = check.summary.lower()
    if check.status == OK:
        assert not check.findings, check
        assert not any(w in text for w in FOUND + UNJUDGED), (check.name, check.summary)
    elif check.status == ABNORMAL:
        assert check.findings or "sample-ratio mismatch" in text or "empty" in text, (check.name, check.summary)
        assert not any(w in text for w in UNJUDGED[:2]), (check.name, check.summary)
    elif check.status == NOT_JUDGED:
        assert text.startswith("not judged") and not check.findings, (check.name, check.summary)
    else:
        assert check.status == SKIPPED and "skipped" in text, (check.name, check.summary)


@pytest.mark.parametrize("fault", [None, *dd.FAULTS])
def test_each_checks_status_agrees_with_its_text(datasets, fault):
    for check in datasets.diagnosis(fault).checks:
        assert_consistent(check)


def test_checks_without_history_are_not_judged_rather_than_ok(tmp_path, monkeypatch):
    monkeypatch.setattr(dd, "DAYS", 6)
    events, assignments = dd.build(None).write(tmp_path)
    diagnosis = expguard.diagnose(dd.TARGET, events, assignments)
    statuses = {c.name: c.status for c in diagnosis.checks}
    assert statuses["status_spikes"] == statuses["assignments"] == statuses["ingestion"] == NOT_JUDGED
    for check in diagnosis.checks:
        assert_consistent(check)


# -- calibrated scores ----------------------------------------------------------------------------

def _days(first: int, n: int) -> list[dt.date]:
    return [dt.date(2026, 1, first) + dt.timedelta(days=i) for i in range(n)]


def test_a_cause_of_many_days_outranks_one_borderline_day():
    borderline = Finding("assignment_volume_shift", "assignments", "one day", _days(20, 1), _days(20, 1)[0], 1.4)
    real = Finding("identity_mismatch", "raw_vs_deduped", "a week", _days(14, 7), _days(14, 1)[0], 3.0)
    strong_one_day = Finding("double_firing", "raw_vs_deduped", "one day, far out", _days(20, 1), _days(20, 1)[0], 40.0)
    checks = [CheckResult("assignments", ABNORMAL, "", [borderline]),
              CheckResult("raw_vs_deduped", ABNORMAL, "", [real, strong_one_day])]
    ranked = rank(checks, {"date": dt.date(2026, 1, 20)}, [], 2.0, [])
    assert [c["cause"] for c in ranked] == ["double_firing", "identity_mismatch", "assignment_volume_shift"]
    scores = {c["cause"]: c["score"] for c in ranked}
    assert scores["assignment_volume_shift"] < 1 < scores["identity_mismatch"] < scores["double_firing"] <= 10
    # the days a finding spans weigh: the same effect on seven days scores more than on one
    assert Finding("c", "x", "", _days(1, 7), strength=3.0).score > Finding("c", "x", "", _days(1, 1), strength=3.0).score


def _split_context(units: dict[dt.date, tuple[int, int]]) -> Context:
    totals = {d: {"variations": {"control": {"assigned_units": a}, "treatment": {"assigned_units": b}}}
              for d, (a, b) in units.items()}
    days = sorted(units)
    window = Window(days[0], days[-1], days[-1])
    return Context(None, Variables(), days[-1], window, window, totals, days[-1])  # type: ignore[arg-type]


def test_a_one_day_split_shift_among_thirty_cohorts_is_not_an_srm_after_correction():
    days = _days(1, 30)
    units = {d: (150 + (i % 3) - 1, 150 - (i % 3) + 1) for i, d in enumerate(days)}
    units[days[-1]] = (121, 179)  # p = 0.0008 alone, below the 0.001 threshold
    rows = split_rows(_split_context(units), days, ["control", "treatment"], [0.5, 0.5])
    last = rows[-1]
    assert last["p_value"] < 0.001
    assert last["p_value_adjusted"] > 0.01 and not last["is_srm"]
    assert not any(r["is_srm"] for r in rows)
    # a real split shift stays one after the correction
    units[days[-1]] = (60, 240)
    rows = split_rows(_split_context(units), days, ["control", "treatment"], [0.5, 0.5])
    assert rows[-1]["is_srm"] and rows[-1]["p_value_adjusted"] < 1e-6


# -- an experiment logged under another name; an experiment without assignments --------------------

def _of_target(events):
    return pc.match_substring(pc.fill_null(events["properties"], ""), f'"experiment_id": "{dd.TARGET}"')


@pytest.mark.parametrize("trickle", [0.0, 0.05])
def test_an_experiment_logged_under_another_name_from_day_one_is_never_ok(tmp_path, trickle):
    """Other experiments log the configured name; this one's exposure events are all named
    otherwise from the first day (but for an old client's trickle), so no share changes over
    time: the step is still abnormal and names the event that carries the experiment's id."""
    data = dd.build(None)
    mine = pc.and_(pc.equal(data.events["event_name"], dd.EVENT_NAME), _of_target(data.events))
    kept = pa.array(np.random.default_rng(3).random(len(data.events)) < trickle)
    names = pc.if_else(pc.and_(mine, pc.invert(kept)), "checkout_exposure", data.events["event_name"])
    events = data.events.set_column(data.events.schema.get_field_index("event_name"), "event_name", names)
    paths = dd.Dataset(events, data.assignments, None).write(tmp_path)
    diagnosis = expguard.diagnose(dd.TARGET, *paths)
    step = diagnosis.checks[0]
    assert step.status == ABNORMAL
    if trickle:
        assert re.search(rf"only \d+ of the [\d,]+ events carrying this experiment's id .* are named "
                         rf"`{dd.EVENT_NAME}`", step.summary), step.summary
    else:
        assert f"no `{dd.EVENT_NAME}` event carries this experiment's id" in step.summary
    assert "`checkout_exposure`" in step.summary
    assert diagnosis.causes[0]["cause"] == "event_name_wrong_for_experiment"
    assert diagnosis.verdict.status == "fail"
    assert_consistent(step)
    # the other experiment, still logged under the configured name, is not touched
    assert expguard.diagnose("search", *paths).checks[0].status == OK


def test_an_experiment_without_assignments_tells_its_failing_verdict(tmp_path):
    data = dd.build(None)
    keep = pc.not_equal(data.assignments["experiment_id"], dd.TARGET)
    paths = dd.Dataset(data.events, data.assignments.filter(keep), None).write(tmp_path)
    result = CliRunner().invoke(main, ["diagnose", "--experiment", dd.TARGET, "--events", paths[0],
                                       "--assignments", paths[1]])
    assert result.exit_code == 2
    assert "has no assigned units to diagnose; its health verdict is FAIL (assignments_present: " in result.stderr
    assert "Traceback" not in result.output


def test_exposures_all_after_the_last_assignment_day_are_diagnosed(tmp_path):
    """Every unit assigned on one day and exposed the next (valid, inside the window): the
    stream's days all come after the assignments' last day. diagnose used to stop with an
    internal error (an empty span of days); it runs, with the run's verdict, exit 0."""
    start = dt.datetime(2026, 3, 1, 8)
    assignments = [{"experiment_id": "exp_a", "unit_id": f"u{i}", "variation_id": ("control", "treatment")[i % 2],
                    "assigned_at": start + dt.timedelta(minutes=i)} for i in range(40)]
    events = [{"event_id": f"e{i}", "event_name": "experiment_viewed", "unit_id": a["unit_id"],
               "event_ts": a["assigned_at"] + dt.timedelta(days=1),
               "properties": json.dumps({"experiment_id": "exp_a", "variation_id": a["variation_id"]})}
              for i, a in enumerate(assignments)]
    pq.write_table(pa.Table.from_pylist(assignments), tmp_path / "assignments.parquet")
    pq.write_table(pa.Table.from_pylist(events), tmp_path / "events.parquet")
    result = CliRunner().invoke(main, ["diagnose", "--experiment", "exp_a", "--events", str(tmp_path / "events.parquet"),
                                       "--assignments", str(tmp_path / "assignments.parquet"),
                                       "--as-of", "2026-03-02T12:00:00Z", "--format", "json"])
    assert result.exit_code == 0, result.output
    diagnosis = json.loads(result.stdout)
    assert diagnosis["verdict"]["status"] == "pass"
    assert diagnosis["checks"]  # the runbook ran
