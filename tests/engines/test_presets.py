"""Source presets: each product's export, in the shape that product writes it, gives the models of
the same events written in canonical form, on DuckDB and on Spark.

One story is told in every export (``STORY``): a valid unit seen twice (a duplicate), a unit that
saw the other variation, a unit with only a non-exposure event, an exposure without a variation,
a numeric unit id, an exposure before the assignment, and (for products with two exposure names)
an exposure under the second name. Each writer turns the story into the product's own rows
(nested types as the export has them) and into the canonical rows they mean; the preset's run must
equal the canonical run in all nine models, and the statuses must be the story's.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.constants import CORE_MODELS, MONITORING_MODELS
from expguard.settings.presets import get_preset, presets
from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, T0, assignment, read_model, sort_rows, write_rows

MODELS = CORE_MODELS + MONITORING_MODELS
UTC = dt.timezone.utc


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


# kind: "exposure" (first name), "exposure2" (last name), "other" (not an exposure)
STORY: list[dict[str, Any]] = [
    {"id": "e1", "kind": "exposure", "unit": "u1", "at": at(1), "exp": "exp", "var": "A"},
    {"id": "e2", "kind": "exposure", "unit": "u1", "at": at(2.5), "exp": "exp", "var": "A"},
    {"id": "e3", "kind": "exposure", "unit": "u2", "at": at(3), "exp": "exp", "var": "B"},
    {"id": "e4", "kind": "other", "unit": "u3", "at": at(4), "exp": "exp", "var": "A"},
    {"id": "e5", "kind": "exposure", "unit": "u4", "at": at(5), "exp": "exp", "var": None},
    {"id": "e6", "kind": "exposure", "unit": 42, "at": at(6), "exp": "exp", "var": 1},
    {"id": "e7", "kind": "exposure", "unit": "u6", "at": at(-60), "exp": "exp", "var": "A"},
    {"id": "e8", "kind": "exposure2", "unit": "u7", "at": at(7.25), "exp": "exp", "var": "B"},
]
ASSIGNMENTS = [assignment("u1", "A"), assignment("u2", "A"), assignment("u3", "A"), assignment("u4", "A"),
               assignment("42", "1"), assignment("u6", "A"), assignment("u7", "B"), assignment("u8", "B")]
EXPECTED_STATUS = {"u1": "valid", "u2": "variation_mismatch", "u3": "no_exposure", "u4": "no_exposure",
                   "42": "valid", "u6": "pre_assignment_exposure", "u7": "valid", "u8": "no_exposure"}


def canonical(event: dict, name: str, event_id: Any = "same", at_: dt.datetime | None = None) -> dict:
    properties = {"experiment_id": event["exp"]}
    if event["var"] is not None:
        properties["variation_id"] = str(event["var"])
    return {"event_id": event["id"] if event_id == "same" else event_id, "event_name": name,
            "unit_id": str(event["unit"]), "event_ts": at_ or event["at"], "properties": json.dumps(properties)}


def names_of(preset: str) -> tuple[str, ...]:
    names = get_preset(preset).exposure_event_name
    return (names,) if isinstance(names, str) else names


def name_for(event: dict, preset: str, other: str) -> str:
    names = names_of(preset)
    return {"exposure": names[0], "exposure2": names[-1], "other": other}[event["kind"]]


def iso_z(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# -- the exports -----------------------------------------------------------------------------------

def segment(tmp: Path, preset: str = "segment", as_text: bool = False, raw: bool = False) -> tuple[Path, list[dict]]:
    """Segment/RudderStack warehouse-style rows (snake_case columns), or a raw JSON export's
    (camelCase ``messageId``, ``anonymousId``); properties a nested object in JSON lines (or JSON
    text in Parquet), GrowthBook camelCase keys on half the rows."""
    rows, canon = [], []
    for i, event in enumerate(STORY):
        camel = i % 2 == 1
        properties = {("experimentId" if camel else "experiment_id"): event["exp"]}
        if event["var"] is not None:
            properties["variationId" if camel else "variation_id"] = event["var"]
        properties["experiment_name"] = "Checkout v2"
        name = name_for(event, preset, "Page Viewed")
        ids = ({"messageId": f"ajs-{event['id']}", "anonymousId": str(event["unit"]), "userId": None} if raw else
               {"message_id": f"ajs-{event['id']}", "anonymous_id": str(event["unit"]), "user_id": None})
        rows.append({**ids, "type": "track", "event": name,
                     "timestamp": iso_z(event["at"]), "properties": json.dumps(properties) if as_text else properties,
                     "context": {"library": {"name": "analytics.js"}}})
        canon.append(canonical(event, name, f"ajs-{event['id']}"))
    if as_text:
        path = tmp / f"{preset}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
        return path, canon
    return write_jsonl(tmp / f"{preset}.jsonl", rows), canon


GA4_VALUE = pa.struct([("string_value", pa.string()), ("int_value", pa.int64()),
                       ("float_value", pa.float64()), ("double_value", pa.float64())])
GA4_SCHEMA = pa.schema([
    ("event_date", pa.string()), ("event_timestamp", pa.int64()), ("event_name", pa.string()),
    ("event_params", pa.list_(pa.struct([("key", pa.string()), ("value", GA4_VALUE)]))),
    ("user_id", pa.string()), ("user_pseudo_id", pa.string()),
])


def ga4(tmp: Path) -> tuple[Path, list[dict]]:
    """GA4 BigQuery export rows in Parquet: event_params a list of key/value structs, ids as
    string_value or int_value, event_timestamp in microseconds, no event id."""
    def param(key: str, value: Any) -> dict:
        typed = {"string_value": None, "int_value": None, "float_value": None, "double_value": None}
        typed["int_value" if isinstance(value, int) else "string_value"] = value
        return {"key": key, "value": typed}

    rows, canon = [], []
    for event in STORY:
        name = name_for(event, "ga4", "page_view")
        params = [param("ga_session_id", 1772366400), param("page_location", "https://shop.example/checkout")]
        if event["kind"] == "exposure2":  # Google's partner spec: one TOOL-EXPERIMENT-VARIANT string
            params.append(param("exp_variant_string", f"GB-{event['exp']}-{event['var']}"))
        else:
            params.append(param("experiment_id", event["exp"]))
            if event["var"] is not None:
                params.append(param("variation_id", event["var"]))
        moment = event["at"] + dt.timedelta(microseconds=17)
        micros = int((moment.replace(tzinfo=UTC) - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(microseconds=1))
        rows.append({"event_date": moment.strftime("%Y%m%d"), "event_timestamp": micros, "event_name": name,
                     "event_params": params, "user_id": None, "user_pseudo_id": str(event["unit"])})
        canon.append(canonical(event, name, None, moment))
    path = tmp / "events_20260301.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=GA4_SCHEMA), path)
    return path, canon


def mixpanel(tmp: Path) -> tuple[Path, list[dict]]:
    """Mixpanel raw export JSON lines: everything inside properties; time in epoch seconds with
    milliseconds; distinct_id a number on one row."""
    rows, canon = [], []
    for event in STORY:
        name = name_for(event, "mixpanel", "Viewed Checkout")
        seconds = (event["at"].replace(tzinfo=UTC) - dt.datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() + 0.125
        properties: dict[str, Any] = {"time": seconds, "distinct_id": event["unit"], "$insert_id": f"ins{event['id']}",
                                      "mp_lib": "web", "Experiment name": event["exp"]}
        if event["var"] is not None:
            properties["Variant name"] = event["var"]
        rows.append({"event": name, "properties": properties})
        canon.append(canonical(event, name, f"ins{event['id']}", event["at"] + dt.timedelta(milliseconds=125)))
    return write_jsonl(tmp / "mixpanel.json", rows), canon


def amplitude(tmp: Path) -> tuple[Path, list[dict]]:
    """Amplitude export JSON lines: event_properties nested, event_time UTC text."""
    rows, canon = [], []
    for event in STORY:
        name = name_for(event, "amplitude", "Checkout Viewed")
        properties: dict[str, Any] = {"flag_key": event["exp"]}
        if event["var"] is not None:
            properties["variant"] = str(event["var"])
        rows.append({"uuid": f"uuid-{event['id']}", "event_type": name, "user_id": str(event["unit"]),
                     "device_id": "dev-" + str(event["unit"]), "event_time": event["at"].strftime("%Y-%m-%d %H:%M:%S.%f"),
                     "event_properties": properties, "user_properties": {"plan": "free"}})
        canon.append(canonical(event, name, f"uuid-{event['id']}"))
    return write_jsonl(tmp / "amplitude.json", rows), canon


def posthog(tmp: Path) -> tuple[Path, list[dict]]:
    """PostHog S3 batch export in Parquet: properties JSON text, timestamp zone-aware."""
    rows, canon = [], []
    for event in STORY:
        name = name_for(event, "posthog", "$pageview")
        properties: dict[str, Any] = {"$feature_flag": event["exp"], "$lib": "web"}
        if event["var"] is not None:
            properties["$feature_flag_response"] = str(event["var"])
        rows.append({"uuid": f"0190-{event['id']}", "event": name, "distinct_id": str(event["unit"]),
                     "person_id": None, "properties": json.dumps(properties),
                     "timestamp": event["at"].replace(tzinfo=UTC)})
        canon.append(canonical(event, name, f"0190-{event['id']}"))
    path = tmp / "posthog.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema([
        ("uuid", pa.string()), ("event", pa.string()), ("distinct_id", pa.string()), ("person_id", pa.string()),
        ("properties", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC"))])), path)
    return path, canon


def statsig(tmp: Path) -> tuple[Path, list[dict]]:
    """Statsig first_exposures export in Parquet: one row per unit (the first exposure), a gate row."""
    rows, canon, seen = [], [], set()
    for event in STORY:
        if event["kind"] == "other" or event["unit"] in seen:
            continue  # the export holds first exposures only
        seen.add(event["unit"])
        rows.append({"company_id": "c1", "unit_id": str(event["unit"]), "unit_type": "userID",
                     "exposure_type": "get_experiment", "name": event["exp"], "rule": "launchedGroup",
                     "experiment_group": None if event["var"] is None else str(event["var"]),
                     "first_exposure_utc": event["at"], "first_exposure_pst_date": event["at"].date()})
        canon.append(canonical(event, "first_exposure", None))
    rows.append({"company_id": "c1", "unit_id": "u3", "unit_type": "userID", "exposure_type": "check_gate",
                 "name": "new_nav_gate", "rule": "default", "experiment_group": "pass",
                 "first_exposure_utc": at(4), "first_exposure_pst_date": at(4).date()})
    canon.append({"event_id": None, "event_name": "first_exposure", "unit_id": "u3", "event_ts": at(4),
                  "properties": json.dumps({"experiment_id": "new_nav_gate", "variation_id": "pass"})})
    path = tmp / "first_exposures.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path, canon


def statsig_events(tmp: Path) -> tuple[Path, list[dict]]:
    """Statsig SDK events in JSON lines: user a nested object, time in epoch milliseconds."""
    rows, canon = [], []
    for event in STORY:
        name = name_for(event, "statsig_events", "purchase")
        metadata: dict[str, Any] = {"config": event["exp"], "reason": "Network"}
        if event["var"] is not None:
            metadata["ruleID"] = str(event["var"])
        millis = int((event["at"].replace(tzinfo=UTC) - dt.datetime(1970, 1, 1, tzinfo=UTC)) / dt.timedelta(milliseconds=1))
        rows.append({"eventName": name, "user": {"userID": str(event["unit"]), "custom": {"plan": "free"}},
                     "time": millis, "metadata": metadata, "value": None})
        canon.append(canonical(event, name, None))
    return write_jsonl(tmp / "statsig_events.jsonl", rows), canon


def launchdarkly(tmp: Path) -> tuple[Path, list[dict]]:
    """LaunchDarkly evaluation_events in Parquet; an evaluation outside an experiment has no
    experiment_iteration_id."""
    rows, canon = [], []
    for event in STORY:
        exposure = event["kind"] != "other"
        name = "experiment_exposure" if exposure else "flag_evaluation"
        rows.append({"event_id": f"ld-{event['id']}", "flag_key": event["exp"], "context_key": str(event["unit"]),
                     "context_kind": "user", "variation_id": None if event["var"] is None else str(event["var"]),
                     "variation_value": "true", "experiment_iteration_id": "iter-1" if exposure else None,
                     "received_time": event["at"]})
        canon.append(canonical(event, name, f"ld-{event['id']}"))
    path = tmp / "evaluation_events.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path, canon


def segment_warehouse(tmp: Path) -> tuple[Path, list[dict]]:
    """Segment's warehouse table of the event (``experiment_viewed``) in Parquet: the properties as
    snake_case columns, the name in ``event_text`` (``event`` its slug), the id in ``id``."""
    rows, canon = [], []
    for event in STORY:
        name = name_for(event, "segment_warehouse", "Page Viewed")
        rows.append({"id": f"ajs-{event['id']}", "anonymous_id": str(event["unit"]), "user_id": None,
                     "event": name.lower().replace(" ", "_"), "event_text": name,
                     "timestamp": event["at"].replace(tzinfo=UTC), "received_at": event["at"].replace(tzinfo=UTC),
                     "context_library_name": "analytics.js", "experiment_id": event["exp"],
                     "variation_id": None if event["var"] is None else str(event["var"]),
                     "experiment_name": "Checkout v2"})
        canon.append(canonical(event, name, f"ajs-{event['id']}"))
    path = tmp / "experiment_viewed.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path, canon


WRITERS: dict[str, Callable[[Path], tuple[Path, list[dict]]]] = {
    "segment": segment,
    "segment_raw": lambda tmp: segment(tmp, raw=True),
    "segment_warehouse": segment_warehouse,
    "rudderstack": lambda tmp: segment(tmp, "rudderstack", as_text=True),
    "ga4": ga4,
    "mixpanel": mixpanel,
    "amplitude": amplitude,
    "posthog": posthog,
    "statsig": statsig,
    "statsig_events": statsig_events,
    "launchdarkly": launchdarkly,
}


# -- running ---------------------------------------------------------------------------------------

def models_of(out: Path) -> dict[str, list[dict]]:
    return {name: sort_rows(read_model(out / f"{name}.parquet")) for name in MODELS}


def preset_of(case: str) -> str:
    return "segment" if case == "segment_raw" else case


def run_preset(tmp: Path, case: str, engine: str = "duckdb") -> tuple[dict, list[dict]]:
    tmp.mkdir(parents=True, exist_ok=True)
    path, canon = WRITERS[case](tmp)
    assignments = write_rows(tmp / "assignments.parquet", ASSIGNMENTS, ASSIGNMENT_SCHEMA)
    expguard.run(str(path), str(assignments), output_dir=str(tmp / "out"), preset=preset_of(case), engine={"name": engine})
    return models_of(tmp / "out"), canon


def run_canonical(tmp: Path, preset: str, canon: list[dict]) -> dict:
    tmp.mkdir(parents=True, exist_ok=True)
    events = write_rows(tmp / "events.parquet", canon, EVENT_SCHEMA)
    assignments = write_rows(tmp / "assignments.parquet", ASSIGNMENTS, ASSIGNMENT_SCHEMA)
    expguard.run(str(events), str(assignments), output_dir=str(tmp / "out"),
                 vars={"exp_exposure_event_name": list(names_of(preset))})
    return models_of(tmp / "out")


def check_story(models: dict, preset: str) -> None:
    statuses = {r["unit_id"]: r["exposure_status"] for r in models["int_experiment_exposure_validation"]}
    assert statuses == EXPECTED_STATUS
    rejects = [r["reject_reason"] for r in models["stg_experiment_exposures"] if r["reject_reason"]]
    assert rejects == ["missing_variation_id"]
    deduped = {r["unit_id"]: r for r in models["int_experiment_exposures_deduped"]}
    # statsig's export holds first exposures only: u1's second exposure is not in it
    assert deduped["u1"]["exposure_event_count"] == (1 if preset == "statsig" else 2)
    assert deduped["42"]["variation_id"] == "1"


def test_every_preset_has_a_sample_export():
    assert sorted({preset_of(case) for case in WRITERS}) == sorted(presets())


@pytest.mark.parametrize("case", sorted(WRITERS))
def test_a_preset_export_gives_the_models_of_its_canonical_events(tmp_path, case):
    models, canon = run_preset(tmp_path / "preset", case)
    check_story(models, preset_of(case))
    assert models == run_canonical(tmp_path / "canonical", preset_of(case), canon)


@pytest.mark.spark
@pytest.mark.parametrize("case", sorted(WRITERS))
def test_a_preset_export_gives_the_same_models_on_spark(tmp_path, case, spark):
    models, canon = run_preset(tmp_path / "preset", case, engine="spark")
    check_story(models, preset_of(case))
    assert models == run_canonical(tmp_path / "canonical", preset_of(case), canon)


def test_a_missing_column_of_a_preset_names_the_first_alternative(tmp_path):
    # neither message_id nor messageId: the error names the warehouse spelling and the columns
    path = write_jsonl(tmp_path / "tracks.jsonl", [{"id": "1", "event": "Experiment Viewed", "anonymous_id": "u1",
                                                     "timestamp": "2026-03-01T12:00:00Z", "properties": {}}])
    assignments = write_rows(tmp_path / "assignments.parquet", ASSIGNMENTS, ASSIGNMENT_SCHEMA)
    with pytest.raises(expguard.ContractError, match="has no column 'message_id' .*its columns are: id, event"):
        expguard.run(str(path), str(assignments), output_dir=str(tmp_path / "out"), preset="segment")
    assert not (tmp_path / "out").exists()


def test_report_and_diagnose_take_a_preset_in_python(tmp_path):
    path, _ = mixpanel(tmp_path)
    assignments = write_rows(tmp_path / "assignments.parquet", ASSIGNMENTS, ASSIGNMENT_SCHEMA)
    result = expguard.report(tmp_path / "report.html", events=str(path), assignments=str(assignments), preset="mixpanel")
    assert result.experiments == 1 and "exp" in (tmp_path / "report.html").read_text(encoding="utf-8")
    diagnosis = expguard.diagnose("exp", str(path), str(assignments), preset="mixpanel")
    assert diagnosis.settings["exp_exposure_event_name"] == "$experiment_started"
    # the configured name is in the stream: the event-name check finds its events
    assert not any("no event is named" in note for note in diagnosis.checks[0].notes)


@pytest.mark.parametrize("case, preset", [("segment_raw", "segment"), ("ga4", "ga4"), ("posthog", "posthog"),
                                          ("mixpanel", "mixpanel"), ("segment_warehouse", "segment_warehouse")])
def test_an_export_read_without_its_preset_is_told_which_preset_fits(tmp_path, case, preset):
    """Read with the default mapping, a product's export misses a canonical column: the one-line
    error names the presets whose expressions read only columns it has, the most specific first
    (Mixpanel's reads only event and properties, which a Segment export has too)."""
    from expguard.core.errors import ContractError

    path, _ = WRITERS[case](tmp_path)
    assignments = write_rows(tmp_path / "assignments.parquet", ASSIGNMENTS, ASSIGNMENT_SCHEMA)
    with pytest.raises(ContractError) as error:
        expguard.run(str(path), str(assignments), output_dir=str(tmp_path / "out"))
    message = str(error.value)
    assert "\n" not in message
    fits = message.split("its columns fit the ")[1]
    assert f"'{preset}'" in fits and "try --events-preset " in fits
    if preset == "segment":
        assert "mixpanel" not in fits
