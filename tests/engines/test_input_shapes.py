"""Inputs as tracking products and lakes write them, on DuckDB and on Spark (issue 14, part B).

- JSON lines whose ids or times are sometimes text and sometimes numbers give the same models
  as the same values written uniformly (``u1`` and ``42``, never ``"u1"``);
- epoch integers in a CSV's time columns are epochs by the magnitude rule, not rejects;
- a folder, a Hive-partitioned folder (``dt=.../part-0.parquet``) or a glob without extension
  gives the models of the single file holding the same rows; ``_SUCCESS``, hidden and 0-byte
  files are skipped; a partition column can be used in the column mapping;
- an empty file or folder, a folder mixing formats and a mapping that is not valid SQL stop
  with one line naming the problem.

Each comparison runs both sides on the same engine and compares every core model's rows.
"""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import decimal
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.core.constants import CORE_MODELS
from expguard.core.errors import ConfigError, ContractError, InputError
from helpers import read_model, sort_rows

ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]
T = dt.datetime(2026, 3, 1, 12)
EPOCH = dt.datetime(1970, 1, 1)


@pytest.fixture
def engine(request) -> str:
    if request.param == "spark":
        request.getfixturevalue("spark")  # the test run's shared session
    return request.param


def seconds(at: dt.datetime) -> float:
    return (at - EPOCH).total_seconds()


def iso(at: dt.datetime) -> str:
    return at.isoformat() + "Z"


def run(tmp_path: Path, name: str, events: str | Path, assignments: str | Path, engine: str,
        **kwargs: Any) -> dict[str, list[dict]]:
    out = tmp_path / name
    expguard.run(str(events), str(assignments), output_dir=str(out), engine={"name": engine}, **kwargs)
    return {model: sort_rows(read_model(out / f"{model}.parquet")) for model in CORE_MODELS}


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


# -- a small realistic stream -----------------------------------------------------------------

UNITS = ["u1", 42, "007", 9000000001, "u5"]  # text and integer ids, as a Mixpanel distinct_id


def stream() -> tuple[list[dict], list[dict]]:
    """Events and assignments as Python values: ids as they would be written in JSON, times as
    datetimes; every unit assigned, some exposed twice or in the other variation."""
    events, assignments = [], []
    for n, unit in enumerate(UNITS):
        variation = "A" if n % 2 else "B"
        assigned = T + dt.timedelta(minutes=n)
        assignments.append({"experiment_id": "exp", "unit_id": unit, "variation_id": variation, "assigned_at": assigned})
        for k in range(n % 3 + 1):
            seen = variation if k < 2 else ("A" if variation == "B" else "B")
            events.append({
                "event_id": f"e{n}-{k}" if k else n * 10,  # event ids text and integers too
                "event_name": "experiment_viewed",
                "unit_id": unit,
                "event_ts": assigned + dt.timedelta(minutes=k + 1, microseconds=500_000 * k),
                "properties": {"experiment_id": "exp", "variation_id": seen},
            })
    return events, assignments


def uniform(rows: list[dict]) -> list[dict]:
    """The same rows with every id as text and every time as ISO-8601 text."""
    return [{k: iso(v) if isinstance(v, dt.datetime) else str(v) if k.endswith("_id") else v for k, v in row.items()}
            for row in rows]


def mixed_times(rows: list[dict], column: str) -> list[dict]:
    """The same rows with the times written in turn as ISO text, epoch seconds, milliseconds,
    microseconds and fractional seconds."""
    out = []
    for i, row in enumerate(rows):
        at = row[column]
        micros = int(seconds(at)) * 1_000_000 + at.microsecond
        forms = [iso(at), micros // 1_000_000 if not at.microsecond else iso(at), micros // 1000 if not at.microsecond % 1000 else iso(at),
                 micros, seconds(at)]
        out.append({**row, column: forms[i % len(forms)]})
    return out


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_mixed_json_types_give_the_models_of_uniform_json(tmp_path, engine):
    events, assignments = stream()
    canonical = run(tmp_path, "uniform",
                    jsonl(tmp_path / "u" / "events.jsonl", uniform(events)),
                    jsonl(tmp_path / "u" / "assignments.jsonl", uniform(assignments)), engine)
    mixed = run(tmp_path, "mixed",
                jsonl(tmp_path / "m" / "events.jsonl", mixed_times(events, "event_ts")),
                jsonl(tmp_path / "m" / "assignments.jsonl", mixed_times(assignments, "assigned_at")), engine)
    assert mixed == canonical
    validation = {r["unit_id"]: r["exposure_status"] for r in mixed["int_experiment_exposure_validation"]}
    # The ids are their text (u1, 42), never their JSON ("u1"), and every unit met its exposures.
    assert sorted(validation) == sorted(str(u) for u in UNITS)
    assert "no_exposure" not in validation.values()
    staged = mixed["stg_experiment_exposures"]
    assert {r["reject_reason"] for r in staged} == {None}
    assert {r["event_id"] for r in staged} >= {"0", "e1-1"}


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_epoch_integers_in_csv_times_are_epochs(tmp_path, engine):
    events, assignments = stream()

    def csv(path: Path, rows: list[dict], column: str) -> Path:
        rows = mixed_times(rows, column)
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv_module.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: json.dumps(v) if isinstance(v, dict) else v for k, v in row.items()} for row in rows)
        return path

    canonical = run(tmp_path, "uniform", jsonl(tmp_path / "events.jsonl", uniform(events)),
                    jsonl(tmp_path / "assignments.jsonl", uniform(assignments)), engine)
    from_csv = run(tmp_path, "csv", csv(tmp_path / "events.csv", events, "event_ts"),
                   csv(tmp_path / "assignments.csv", assignments, "assigned_at"), engine)
    assert from_csv == canonical
    assert {r["reject_reason"] for r in from_csv["stg_experiment_exposures"]} == {None}


# -- numbers where ids and times are expected ---------------------------------------------------

def typed_parquet(path: Path, rows: list[dict], types: dict[str, pa.DataType]) -> Path:
    """``rows`` as a Parquet file, the columns in ``types`` given that Arrow type (the others inferred)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [pa.field(name, types.get(name) or pa.array([r[name] for r in rows]).type) for name in rows[0]]
    pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), path)
    return path


def numeric_stream() -> tuple[list[dict], list[dict]]:
    """The stream with integer unit ids only (pandas' and BigQuery's numeric ids) and JSON-text
    properties."""
    events, assignments = stream()
    number = {unit: 1000 + n for n, unit in enumerate(UNITS)}
    events = [{**e, "event_id": str(e["event_id"]), "unit_id": number[e["unit_id"]], "properties": json.dumps(e["properties"])}
              for e in events]
    return events, [{**a, "unit_id": number[a["unit_id"]]} for a in assignments]


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_float_and_decimal_ids_of_integral_value_are_the_integers(tmp_path, engine):
    """pandas makes an integer id column with one missing value float64 (1001.0); BigQuery's
    NUMERIC ids arrive as decimals (1001.000000000): either matches the integer id on the other
    side, as the integer's text. A fraction stays a fraction (7.5)."""
    events, assignments = numeric_stream()
    canonical = run(tmp_path, "int", typed_parquet(tmp_path / "i" / "events.parquet", events, {}),
                    typed_parquet(tmp_path / "i" / "assignments.parquet", assignments, {}), engine)
    odd = {**events[0], "event_id": "odd", "unit_id": 7.5}
    floats = run(tmp_path, "float",
                 typed_parquet(tmp_path / "f" / "events.parquet", [*events, odd], {"unit_id": pa.float64()}),
                 typed_parquet(tmp_path / "f" / "assignments.parquet",
                               [{**a, "unit_id": decimal.Decimal(a["unit_id"])} for a in assignments],
                               {"unit_id": pa.decimal128(38, 9)}), engine)
    staged = floats.pop("stg_experiment_exposures")
    assert [r for r in staged if r["event_id"] == "odd"][0]["unit_id"] == "7.5"
    assert [r for r in staged if r["event_id"] != "odd"] == canonical.pop("stg_experiment_exposures")
    # Every unit met its exposures: the ids matched across the float and decimal columns.
    assert "no_exposure" not in {r["exposure_status"] for r in floats["int_experiment_exposure_validation"]}
    assert floats["int_experiment_exposure_validation"] == canonical["int_experiment_exposure_validation"]


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_floating_point_epochs_are_read_by_magnitude(tmp_path, engine):
    """A double or decimal time is epoch seconds, milliseconds or microseconds by its magnitude,
    as an integer is (``Date.now()`` in a float column is milliseconds, not the year 58000); so
    is the text of a decimal number (a CSV column of fractional milliseconds)."""
    events, assignments = numeric_stream()
    canonical = run(tmp_path, "ts", typed_parquet(tmp_path / "t" / "events.parquet", events, {}),
                    typed_parquet(tmp_path / "t" / "assignments.parquet", assignments, {}), engine)
    scales = [1, 1000, 1_000_000]
    as_numbers = [{**e, "event_ts": seconds(e["event_ts"]) * scales[i % 3]} for i, e in enumerate(events)]
    floats = run(tmp_path, "float", typed_parquet(tmp_path / "f" / "events.parquet", as_numbers, {"event_ts": pa.float64()}),
                 typed_parquet(tmp_path / "f" / "assignments.parquet",
                               [{**a, "assigned_at": decimal.Decimal(int(seconds(a["assigned_at"]) * 1000))} for a in assignments],
                               {"assigned_at": pa.decimal128(20, 3)}), engine)
    assert floats == canonical
    csv_path = tmp_path / "c" / "events.csv"
    csv_path.parent.mkdir()
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv_module.DictWriter(handle, fieldnames=list(events[0]))
        writer.writeheader()
        writer.writerows({**e, "event_ts": f"{seconds(e['event_ts']) * 1000:.1f}"} for e in events)
    assert run(tmp_path, "csv", csv_path, tmp_path / "t" / "assignments.parquet", engine) == canonical


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_time_outside_the_years_1_to_9999_is_unreadable(tmp_path, engine):
    """DuckDB holds the year 12026, Spark, Parquet readers and Python do not: an event at such a
    time (a Parquet timestamp, an epoch in microseconds) is kept as a missing_timestamp reject,
    the run finishes and its monitoring models read; an assignment at such a time breaks the
    contract, shown with its raw value."""
    events, assignments = numeric_stream()
    far = [{**events[0], "event_id": "far", "event_ts": dt.datetime(9999, 12, 31, 23, 59)},
           {**events[0], "event_id": "micros", "event_ts": dt.datetime(2026, 3, 1)}]
    path = typed_parquet(tmp_path / "e" / "events.parquet", [*events, *far], {"event_ts": pa.timestamp("us")})
    table = pq.read_table(path)
    # Past 9999-12-31 through the file's integers: Arrow's Python datetimes stop there too.
    micros = pa.compute.cast(table["event_ts"], pa.int64()).to_pylist()
    micros[-2] += 10**9 * 86_400 * 366  # the year 10000 and more
    micros[-1] = 9 * 10**17  # year 30490
    table = table.set_column(table.schema.get_field_index("event_ts"), "event_ts",
                             pa.array(micros, pa.int64()).cast(pa.timestamp("us")))
    pq.write_table(table, path)
    assignments_path = typed_parquet(tmp_path / "e" / "assignments.parquet", assignments, {})
    out = run(tmp_path, "far", path, assignments_path, engine)
    rejected = {r["event_id"]: (r["exposed_at"], r["reject_reason"]) for r in out["stg_experiment_exposures"]
                if r["event_id"] in ("far", "micros")}
    assert rejected == {"far": (None, "missing_timestamp"), "micros": (None, "missing_timestamp")}
    assert read_model(tmp_path / "far" / "fct_experiment_health.parquet")  # the health model was built and written
    late = pq.read_table(assignments_path)
    at = pa.compute.cast(late["assigned_at"], pa.int64()).to_pylist()
    at[0] += 10**6 * 86_400 * 366 * 8000
    pq.write_table(late.set_column(late.schema.get_field_index("assigned_at"), "assigned_at",
                                   pa.array(at, pa.int64()).cast(pa.timestamp("us"))), assignments_path)
    with pytest.raises(ContractError, match=r"assigned_at is null or not a readable timestamp \(1 row\)"):
        run(tmp_path, "far-assignment", path, assignments_path, engine)


# -- folders, Hive partitions, globs ----------------------------------------------------------

EVENT_TYPES = pa.schema([("event_id", pa.string()), ("event_name", pa.string()), ("unit_id", pa.string()),
                         ("event_ts", pa.timestamp("us")), ("properties", pa.string())])


def event_table(events: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{**e, "event_id": str(e["event_id"]), "unit_id": str(e["unit_id"]),
                                  "properties": json.dumps(e["properties"])} for e in events], schema=EVENT_TYPES)


def write_lake(folder: Path, events: list[dict], fmt: str, *, drop_experiment: bool = False) -> Path:
    """The events as a Hive-partitioned folder: experiment=<id>/dt=<day>/part-N.<fmt>, with the
    litter Spark and Hadoop leave (_SUCCESS, .crc-like hidden files, an empty part)."""
    table = event_table(events)
    days = sorted({e["event_ts"].date() for e in events})
    for n, day in enumerate(days):
        rows = [i for i, e in enumerate(events) if e["event_ts"].date() == day]
        part = table.take(rows)
        if drop_experiment:  # the experiment id lives in the folder name only
            part = part.set_column(4, "properties", pa.array([json.dumps({"variation_id": events[i]["properties"]["variation_id"]}) for i in rows]))
        where = folder / "experiment=exp" / f"dt={day.isoformat()}"
        where.mkdir(parents=True, exist_ok=True)
        name = where / f"part-{n:05d}.{ {'parquet': 'parquet', 'csv': 'csv', 'json': 'json'}[fmt] }"
        if fmt == "parquet":
            pq.write_table(part, name)
        elif fmt == "csv":
            part.to_pandas().to_csv(name, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            jsonl(name, [{**r, "event_ts": iso(r["event_ts"])} for r in part.to_pylist()])
        (where / f"part-{n + 100:05d}.{name.suffix[1:]}").write_bytes(b"")  # an empty part: no rows
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\x00junk")
    (folder / "_temporary").mkdir()
    (folder / "_temporary" / "part-0.parquet").write_bytes(b"not parquet")
    return folder


def spread(events: list[dict]) -> list[dict]:
    """The stream over three days, so that the folder has several partitions."""
    return [{**e, "event_ts": e["event_ts"] + dt.timedelta(days=i % 3)} for i, e in enumerate(events)]


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_hive_partitioned_parquet_folder_gives_the_models_of_the_single_file(tmp_path, engine):
    events, assignments = stream()
    events = spread(events)
    single = tmp_path / "events.parquet"
    pq.write_table(event_table(events), single)
    assignments_file = jsonl(tmp_path / "assignments.jsonl", uniform(assignments))
    canonical = run(tmp_path, "single", single, assignments_file, engine)
    lake = write_lake(tmp_path / "lake" / "events", events, "parquet")
    assert run(tmp_path, "folder", lake, assignments_file, engine) == canonical
    # a glob without extension, matching the folder
    assert run(tmp_path, "glob", tmp_path / "lake" / "ev*", assignments_file, engine) == canonical
    # a recursive glob: what its wildcards match under _temporary/ is skipped too
    assert run(tmp_path, "deep", tmp_path / "lake" / "events" / "**" / "*.parquet", assignments_file, engine) == canonical
    # the partition column in the mapping: the experiment id only in the folder names
    bare = write_lake(tmp_path / "bare" / "events", events, "parquet", drop_experiment=True)
    mapped = run(tmp_path, "mapped", bare, assignments_file, engine, events_columns={"experiment_id": "experiment"})
    assert mapped == canonical


@pytest.mark.parametrize("fmt", ["csv", "json"])
@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_csv_and_json_lines_folders_give_the_models_of_the_single_file(tmp_path, engine, fmt):
    events, assignments = stream()
    events = spread(events)
    single = tmp_path / "events.parquet"
    pq.write_table(event_table(events), single)
    assignments_file = jsonl(tmp_path / "assignments.jsonl", uniform(assignments))
    canonical = run(tmp_path, "single", single, assignments_file, engine)
    lake = write_lake(tmp_path / "lake", events, fmt)
    assert run(tmp_path, "folder", lake, assignments_file, engine) == canonical


# -- one clear line, on both engines ----------------------------------------------------------

def assignments_file(tmp_path: Path) -> Path:
    return jsonl(tmp_path / "assignments.jsonl", uniform(stream()[1]))


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize("name", ["events.jsonl", "events.csv", "events.parquet"])
def test_an_empty_file_cannot_be_read(tmp_path, engine, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(InputError, match=rf"^cannot read '.*{name}': empty"):
        run(tmp_path, "out", tmp_path / name, assignments_file(tmp_path), engine)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_folder_of_nothing_cannot_be_read(tmp_path, engine):
    folder = tmp_path / "events"
    (folder / "dt=2026-03-01").mkdir(parents=True)
    (folder / "_SUCCESS").write_bytes(b"")
    (folder / "dt=2026-03-01" / "part-0.parquet").write_bytes(b"")
    with pytest.raises(InputError, match=r"^cannot read '.*events': empty \(only 0-byte files \(part-0.parquet\)\)"):
        run(tmp_path, "out", folder, assignments_file(tmp_path), engine)
    (folder / "dt=2026-03-01" / "part-0.parquet").unlink()
    with pytest.raises(InputError, match=r"^cannot read '.*events': empty \(no data files\)"):
        run(tmp_path, "out", folder, assignments_file(tmp_path), engine)
    with pytest.raises(InputError, match=r"^no file matches '.*nothing\*'"):
        run(tmp_path, "out", tmp_path / "nothing*", assignments_file(tmp_path), engine)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_a_folder_mixing_formats_is_refused_with_the_mix(tmp_path, engine):
    events, _ = stream()
    folder = tmp_path / "events"
    folder.mkdir()
    pq.write_table(event_table(events), folder / "a.parquet")
    jsonl(folder / "b.jsonl", uniform(events))
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError) as error:
        run(tmp_path, "out", folder, assignments_file(tmp_path), engine)
    assert str(error.value).startswith(f"{str(folder)!r} holds files of several formats (json: b.jsonl; parquet: a.parquet; unknown: notes.txt)")
    (folder / "notes.txt").unlink()
    (folder / "b.jsonl").unlink()
    (folder / "c.data").write_bytes(b"x")
    with pytest.raises(InputError, match="several formats"):
        run(tmp_path, "out", folder, assignments_file(tmp_path), engine)
    (folder / "a.parquet").unlink()
    with pytest.raises(InputError, match=r"cannot tell the format of '.*events': its files \(c.data\)"):
        run(tmp_path, "out", folder, assignments_file(tmp_path), engine)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize("key, expression, message", [
    ("event_id", "properties.$insert_id",
     "events column mapping event_id = 'properties.$insert_id' is not a valid SQL expression: '$insert_id' is a "
     "parameter, not a name; quote names with spaces or $: properties.\"$insert_id\""),
    ("experiment_id", "properties.Experiment name",
     "events column mapping experiment_id = 'properties.Experiment name' is not a valid SQL expression: it reads as "
     "'properties.Experiment' followed by the word 'name'; quote names with spaces or $: properties.\"Experiment name\""),
    ("unit_id", "coalesce(user_id,",
     "events column mapping unit_id = 'coalesce(user_id,' is not a valid SQL expression: "),
])
def test_a_mapping_that_is_not_valid_sql_names_the_key_and_the_expression(tmp_path, engine, key, expression, message):
    events, _ = stream()
    source = tmp_path / "events.parquet"
    pq.write_table(event_table(events), source)
    with pytest.raises(ConfigError) as error:
        run(tmp_path, "out", source, assignments_file(tmp_path), engine, events_columns={key: expression})
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
@pytest.mark.parametrize("key, expression, names", [
    ("variation_id", "properties.variation_id", "properties is struct"),  # the key is variationId
    ("unit_id", "coalesec(user_id, anonymous_id)", None),  # a misspelt function
])
def test_a_mapping_the_engine_cannot_read_names_the_key_and_the_struct(tmp_path, engine, key, expression, names):
    """A mapping that parses but that the engine cannot read (a struct field that is not there,
    a function that does not exist) stops with one line naming the mapping key, its expression
    and the input, and, for a struct, its fields; not the engine's bare error."""
    events, _ = stream()
    rows = [{"event_id": str(e["event_id"]), "event_name": e["event_name"], "user_id": str(e["unit_id"]),
             "anonymous_id": None, "event_ts": e["event_ts"],
             "properties": {"experimentId": "exp", "variationId": e["properties"]["variation_id"]}} for e in events]
    source = tmp_path / "events.parquet"
    pq.write_table(pa.Table.from_pylist(rows), source)
    columns = {"unit_id": "coalesce(user_id, anonymous_id)", "experiment_id": "properties.experimentId",
               "variation_id": "properties.variationId", key: expression}
    with pytest.raises(ConfigError) as error:
        run(tmp_path, "out", source, assignments_file(tmp_path), engine, events_columns=columns)
    message = str(error.value)
    assert message.startswith(f"events column mapping {key} = {expression!r} cannot be read from ")
    assert "\n" not in message and "Traceback" not in message
    if names:
        assert names in message.lower() and "variationid" in message.lower()


@pytest.mark.parametrize("engine", ENGINES, indirect=True)
def test_quoted_names_with_dollar_and_spaces_read_nested_fields(tmp_path, engine):
    """The hint works: Mixpanel-style keys, quoted, read the fields of a JSON-lines object."""
    events, assignments = stream()
    canonical = run(tmp_path, "canonical", jsonl(tmp_path / "c" / "events.jsonl", uniform(events)),
                    jsonl(tmp_path / "assignments.jsonl", uniform(assignments)), engine)
    mixpanel = [{"event": e["event_name"], "properties": {
        "$insert_id": str(e["event_id"]), "distinct_id": e["unit_id"], "time": seconds(e["event_ts"]),
        "Experiment name": e["properties"]["experiment_id"], "Variant name": e["properties"]["variation_id"]}}
        for e in events]
    mapped = run(tmp_path, "mixpanel", jsonl(tmp_path / "m" / "events.jsonl", mixpanel),
                 tmp_path / "assignments.jsonl", engine, events_columns={
                     "event_id": 'properties."$insert_id"', "event_name": "event",
                     "unit_id": "properties.distinct_id", "event_ts": "properties.time",
                     "experiment_id": 'properties."Experiment name"', "variation_id": 'properties."Variant name"'})
    assert mapped == canonical


def test_a_project_file_folder_is_found_beside_the_project_file(tmp_path, monkeypatch):
    """A folder path in expguard.toml is relative to that file, and its format is its files'."""
    from expguard.settings.config import build_config, load_project

    events, _ = stream()
    lake = write_lake(tmp_path / "project" / "lake", spread(events), "json")
    assert lake.is_dir()
    (tmp_path / "project" / "expguard.toml").write_text('[events]\npath = "lake"\n[assignments]\npath = "a.jsonl"\n')
    monkeypatch.chdir(tmp_path)
    config = build_config(**load_project(tmp_path / "project" / "expguard.toml"))
    assert config.events.resolved_format() == "json"
    assert os.path.samefile(config.events.path, lake)
