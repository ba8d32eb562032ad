"""Self-checks of the pure-Python reference (tests/reference.py) on hand-computed cases."""

from __future__ import annotations

import json
import os
import sys
from datetime import date, datetime, timedelta, timezone

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import build_models  # noqa: E402

STG = "stg_experiment_exposures"
DEDUPED = "int_experiment_exposures_deduped"
VALIDATION = "int_experiment_exposure_validation"
DAILY = "fct_experiment_exposure_quality_daily"

T0 = datetime(2024, 1, 10, 12, 0, 0)


_DEFAULT = object()


def ev(unit, ts, exp="e1", var="A", event_id=None, name="experiment_viewed", props=_DEFAULT):
    if props is _DEFAULT:
        props = json.dumps({"experiment_id": exp, "variation_id": var})
    return {"event_id": event_id, "event_name": name, "unit_id": unit, "event_ts": ts, "properties": props}


def asg(unit, var="A", at=T0, exp="e1"):
    return {"experiment_id": exp, "unit_id": unit, "variation_id": var, "assigned_at": at}


def validation_by_unit(out):
    return {r["unit_id"]: r for r in out[VALIDATION]}


def test_window_bounds_inclusive_and_grace_boundary():
    grace = timedelta(minutes=5)
    events = [
        ev("at_start", T0 - grace),
        ev("before_start", T0 - grace - timedelta(microseconds=1)),
        ev("at_end", T0 + timedelta(days=30)),
        ev("after_end", T0 + timedelta(days=30, microseconds=1)),
    ]
    assignments = [asg(u) for u in ("at_start", "before_start", "at_end", "after_end")]
    v = validation_by_unit(build_models(events, assignments))
    assert v["at_start"]["exposure_status"] == "valid"
    assert v["at_start"]["has_pre_assignment_exposure"] is False
    assert v["before_start"]["exposure_status"] == "pre_assignment_exposure"
    assert v["before_start"]["has_pre_assignment_exposure"] is True
    assert v["before_start"]["first_post_assignment_exposure_at"] is None
    assert v["at_end"]["exposure_status"] == "valid"
    assert v["at_end"]["first_valid_exposure_at"] == T0 + timedelta(days=30)
    assert v["after_end"]["exposure_status"] == "exposure_outside_window"
    assert v["after_end"]["has_exposure_outside_window"] is True
    assert v["after_end"]["first_post_assignment_exposure_at"] == T0 + timedelta(days=30, microseconds=1)
    assert v["after_end"]["first_valid_exposure_at"] is None


def test_variables_change_window():
    events = [ev("u", T0 - timedelta(minutes=1)), ev("w", T0 + timedelta(days=2))]
    out = build_models(
        events,
        [asg("u"), asg("w")],
        exp_allow_pre_assignment_exposure_grace_minutes=0,
        exp_exposure_max_days_after_assignment=1,
    )
    v = validation_by_unit(out)
    assert v["u"]["exposure_status"] == "pre_assignment_exposure"
    assert v["w"]["exposure_status"] == "exposure_outside_window"
    with pytest.raises(ValueError):
        build_models([], [], exp_exposure_max_days_after_assignment=-1)
    with pytest.raises(ValueError):
        build_models([], [], exp_allow_pre_assignment_exposure_grace_minutes="5")


def test_dedupe_tie_breaks():
    events = [
        ev("u", T0 + timedelta(hours=1), event_id=None),
        ev("u", T0 + timedelta(hours=1), event_id="b"),
        ev("u", T0 + timedelta(hours=1), event_id="B"),  # "B" < "b" by code point
        ev("u", T0 + timedelta(hours=3), event_id="A"),
        ev("v", T0, event_id=None),
        ev("v", T0, event_id=None),
        ev("w", T0, event_id="9"),
        ev("w", T0, event_id="10"),  # "10" < "9"
    ]
    out = build_models(events, [])
    d = {r["unit_id"]: r for r in out[DEDUPED]}
    assert d["u"]["event_id"] == "B"
    assert d["u"]["exposed_at"] == T0 + timedelta(hours=1)
    assert d["u"]["last_exposed_at"] == T0 + timedelta(hours=3)
    assert d["u"]["exposure_event_count"] == 4
    assert d["v"]["event_id"] is None and d["v"]["exposure_event_count"] == 2
    assert d["w"]["event_id"] == "10"
    assert list(d["u"].keys()) == [
        "experiment_id", "unit_id", "variation_id", "event_id",
        "exposed_at", "last_exposed_at", "exposure_event_count",
    ]


def test_dedupe_null_event_id_last_even_if_input_order_differs():
    a = [ev("u", T0, event_id=None), ev("u", T0, event_id="z")]
    out1 = build_models(a, [])
    out2 = build_models(list(reversed(a)), [])
    assert out1 == out2
    assert out1[DEDUPED][0]["event_id"] == "z"


def test_trimming_and_numeric_json_ids():
    events = [
        ev(None, T0, props='{"experiment_id": 7, "variation_id": " \\tA "}', event_id="1") | {"unit_id": 42},
        ev("  u2  ", T0, props='{"experiment_id": "  e1 ", "variation_id": 7.0}', event_id="2"),
        ev("u3", T0, props='{"experiment_id": true, "variation_id": {"a": [1, 2.50]}}', event_id="3"),
        ev("u4", T0, props='{"experiment_id": 123456789012345678901234567890, "variation_id": "x"}', event_id="4"),
    ]
    rows = {r["event_id"]: r for r in build_models(events, [])[STG]}
    assert rows["1"]["experiment_id"] == "7"
    assert rows["1"]["unit_id"] == "42"
    assert rows["1"]["variation_id"] == "\tA"  # only U+0020 trimmed
    assert rows["2"]["experiment_id"] == "e1"
    assert rows["2"]["unit_id"] == "u2"
    assert rows["2"]["variation_id"] == "7.0"
    assert rows["3"]["experiment_id"] == "true"
    assert rows["3"]["variation_id"] == '{"a":[1,2.50]}'
    assert rows["4"]["experiment_id"] == "123456789012345678901234567890"
    assert all(r["reject_reason"] is None for r in rows.values())


def test_reject_reasons_in_order_and_nothing_dropped():
    events = [
        ev("u", T0, event_id="r1", props=None),  # everything missing
        ev("   ", None, event_id="r2", props='{"experiment_id": "e", "variation_id": null}'),
        ev("u", None, event_id="r3", props='{"experiment_id": "e"}'),
        ev("u", None, event_id="r4", props='{"experiment_id": "e", "variation_id": "  "}'),
        ev("u", None, event_id="r5", props='{"experiment_id": "e", "variation_id": "v"}'),
        ev("u", T0, event_id="r6", props="not json"),
        ev("u", T0, event_id="r7", props='{"experiment_id": "", "variation_id": "v"}'),
        ev("u", T0, event_id="x", name="Experiment_Viewed"),  # case-sensitive: not staged
        ev("u", T0, event_id="ok"),
    ]
    rows = {r["event_id"]: r for r in build_models(events, [])[STG]}
    assert set(rows) == {"r1", "r2", "r3", "r4", "r5", "r6", "r7", "ok"}
    assert rows["r1"]["reject_reason"] == "missing_experiment_id"
    assert rows["r2"]["reject_reason"] == "missing_unit_id"
    assert rows["r3"]["reject_reason"] == "missing_variation_id"
    assert rows["r4"]["reject_reason"] == "missing_variation_id"
    assert rows["r5"]["reject_reason"] == "missing_timestamp"
    assert rows["r6"]["reject_reason"] == "missing_experiment_id"
    assert rows["r7"]["reject_reason"] == "missing_experiment_id"
    assert rows["ok"]["reject_reason"] is None
    assert rows["r5"]["exposed_at"] is None and rows["r5"]["exposure_date"] is None


def test_timezone_conversion():
    tz = timezone(timedelta(hours=2))
    events = [ev("u", datetime(2024, 1, 1, 1, 0, tzinfo=tz), event_id="1")]
    row = build_models(events, [])[STG][0]
    assert row["exposed_at"] == datetime(2023, 12, 31, 23, 0)
    assert row["exposure_date"] == date(2023, 12, 31)


def test_status_precedence_and_first_exposure_variation_tie():
    events = [
        # multi: B pre-window, A in window -> multi wins over everything
        ev("multi", T0 - timedelta(days=1), var="B"),
        ev("multi", T0 + timedelta(hours=1), var="A"),
        # mismatch: only B, pre-window -> variation_mismatch beats pre_assignment
        ev("mis", T0 - timedelta(days=1), var="B"),
        # pre-assignment first exposure of A, seen again in window later -> still
        # deduped to the first one, so pre_assignment_exposure
        ev("pre", T0 - timedelta(days=1), var="A"),
        ev("pre", T0 + timedelta(hours=1), var="A"),
        # tie at the same instant: smallest variation wins
        ev("tie", T0, var="b"),
        ev("tie", T0, var="B"),
    ]
    assignments = [asg("multi"), asg("mis"), asg("pre"), asg("tie", var="b"), asg("none")]
    v = validation_by_unit(build_models(events, assignments))
    assert v["multi"]["exposure_status"] == "multi_variation_exposure"
    assert v["multi"]["is_multi_variation"] and v["multi"]["has_variation_mismatch"]
    assert v["multi"]["has_pre_assignment_exposure"]
    assert v["multi"]["first_valid_exposure_at"] == T0 + timedelta(hours=1)
    assert v["multi"]["is_valid_exposure"] is False
    assert v["mis"]["exposure_status"] == "variation_mismatch"
    assert v["pre"]["exposure_status"] == "pre_assignment_exposure"
    assert v["pre"]["first_exposure_at"] == T0 - timedelta(days=1)
    assert v["tie"]["first_exposure_variation_id"] == "B"
    assert v["tie"]["exposed_variation_count"] == 2
    n = v["none"]
    assert n["exposure_status"] == "no_exposure"
    assert n["exposed_variation_count"] == 0 and n["is_exposed"] is False
    assert n["first_exposure_at"] is None and n["first_exposure_variation_id"] is None
    for flag in ("has_pre_assignment_exposure", "has_exposure_outside_window",
                 "has_variation_mismatch", "is_multi_variation", "is_valid_exposure"):
        assert n[flag] is False


def test_daily_counts_rates_and_unassigned():
    d1 = datetime(2024, 1, 10, 8, 0)
    events = [
        ev("a", d1 + timedelta(hours=1), event_id="1"),
        ev("a", d1 + timedelta(hours=2), event_id="2"),
        ev("a", d1 + timedelta(hours=3), event_id="3"),
        ev("b", d1 + timedelta(hours=1), var="B", event_id="4"),
        # unassigned unit x: first exposure on Jan 12 (two variations)
        ev("x", datetime(2024, 1, 13), var="A", event_id="5"),
        ev("x", datetime(2024, 1, 12, 23, 59), var="B", event_id="6"),
        # unassigned only in another experiment
        ev("y", datetime(2024, 1, 11), exp="e2", event_id="7"),
    ]
    assignments = [asg("a", at=d1), asg("b", at=d1), asg("c", at=d1)]
    out = build_models(events, assignments)
    daily = {(r["experiment_id"], r["date"]): r for r in out[DAILY]}
    assert set(daily) == {("e1", date(2024, 1, 10)), ("e1", date(2024, 1, 12)), ("e2", date(2024, 1, 11))}
    r = daily[("e1", date(2024, 1, 10))]
    assert r["assigned_units"] == 3 and r["exposed_units"] == 2
    assert r["valid_exposed_units"] == 1
    assert r["variation_mismatch_units"] == 1 and r["no_exposure_units"] == 1
    assert r["mismatched_units"] == 1
    assert r["exposure_events"] == 4 and r["duplicate_exposure_events"] == 2
    assert r["unassigned_exposed_units"] == 0
    assert r["exposure_rate"] == pytest.approx(1 / 3)
    assert r["mismatch_rate"] == 0.5 and r["multi_variation_rate"] == 0.0
    assert r["no_exposure_rate"] == pytest.approx(1 / 3)
    assert r["pre_assignment_exposure_rate"] == 0.0
    statuses = ("valid_exposed_units", "no_exposure_units", "multi_variation_exposure_units",
                "variation_mismatch_units", "pre_assignment_exposure_units",
                "exposure_outside_window_units")
    assert sum(r[k] for k in statuses) == r["assigned_units"]
    u = daily[("e1", date(2024, 1, 12))]
    assert u["assigned_units"] == 0 and u["unassigned_exposed_units"] == 1
    assert u["exposure_events"] == 0 and u["duplicate_exposure_events"] == 0
    for k in ("exposure_rate", "mismatch_rate", "multi_variation_rate", "no_exposure_rate",
              "pre_assignment_exposure_rate", "exposure_outside_window_rate"):
        assert u[k] is None
    assert daily[("e2", date(2024, 1, 11))]["unassigned_exposed_units"] == 1
    assert len(out[DAILY][0]) == 21


def test_is_window_complete():
    # cohort date Jan 10, max_days 2 -> needs data_through >= Jan 13 00:00
    assignments = [asg("u", at=datetime(2024, 1, 10, 23, 0))]

    def complete(events):
        out = build_models(events, assignments, exp_exposure_max_days_after_assignment=2)
        return out[DAILY][0]["is_window_complete"]

    assert complete([]) is False
    # a rejected row (missing unit) in another experiment still counts
    assert complete([ev(None, datetime(2024, 1, 13), exp="other")]) is True
    assert complete([ev("z", datetime(2024, 1, 12, 23, 59, 59, 999999), exp="other")]) is False
    # null timestamps do not count
    assert complete([ev("z", None)]) is False


def test_assignment_contract_violations():
    with pytest.raises(ValueError):
        build_models([], [asg("u"), asg("u", var="B")])
    with pytest.raises(ValueError):
        build_models([], [asg("  ")])
    with pytest.raises(ValueError):
        build_models([], [asg("u") | {"assigned_at": None}])
    # ids used as given: no trimming, numbers as decimal text
    out = build_models([ev("7", T0)], [asg(7), asg(" u")])
    v = validation_by_unit(out)
    assert v["7"]["is_valid_exposure"] is True
    assert v[" u"]["exposure_status"] == "no_exposure"
