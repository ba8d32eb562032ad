"""Each model's Parquet schema (names, types, nullability) is fixed by its declaration: the same
on every run, whatever the data, and on both engines. Never-null columns are REQUIRED, every other
column OPTIONAL: schema-merging readers and warehouse external tables see one schema."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import expguard
from expguard.models.registry import load_models

from helpers import ASSIGNMENT_SCHEMA, EVENT_SCHEMA, assignment, exposure, props, ts, write_rows

MODELS = list(load_models())

# Nulls wherever the contract allows them: rejected events (no experiment, no unit, no time, no
# event id), an assigned unit never exposed, an unassigned exposed unit (rates on zero units).
WITH_NULLS = (
    [
        exposure("u1", ts(1), event_id=None),
        exposure("u2", ts(1), variation_id="B", event_id="e2"),
        exposure("u3", ts(1), event_id="e3"),
        exposure("u3", ts(2), variation_id="B", event_id="e4"),
        exposure("u9", ts(1, days=2), event_id="e5"),
        exposure(None, ts(1), event_id="e6"),
        exposure("u1", None, event_id="e7"),
        exposure("u1", ts(1), event_id="e8", properties=props(None, "A")),
    ],
    [assignment("u1"), assignment("u2"), assignment("u3"), assignment("u4", "B")],
)
# No null anywhere: every event usable, every assigned unit exposed once, in its window.
WITHOUT_NULLS = (
    [exposure(f"u{i}", ts(1), variation_id="AB"[i % 2], event_id=f"e{i}") for i in range(6)],
    [assignment(f"u{i}", "AB"[i % 2]) for i in range(6)],
)


def schemas(tmp_path: Path, data, engine: str) -> dict[str, list[tuple[str, str, bool]]]:
    events, assignments = data
    tmp_path.mkdir(parents=True, exist_ok=True)
    expguard.run(str(write_rows(tmp_path / "events.parquet", events, EVENT_SCHEMA)),
                 str(write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)),
                 output_dir=str(tmp_path / "out"), engine={"name": engine})
    found = {}
    for model in MODELS:
        schema = pq.read_schema(tmp_path / "out" / f"{model}.parquet")
        found[model] = [(f.name, str(f.type), f.nullable) for f in schema]
    return found


def nulls(tmp_path: Path, model: str) -> int:
    table = pq.read_table(tmp_path / "out" / f"{model}.parquet")
    return sum(column.null_count for column in table.columns)


def check_declared(found: dict[str, list[tuple[str, str, bool]]]) -> None:
    for model, fields in found.items():
        required = set(load_models()[model].not_null)
        assert required <= {name for name, _, _ in fields}, f"{model} declares columns it does not have"
        assert [name for name, _, nullable in fields if not nullable] == [n for n, _, _ in fields if n in required], model


def test_duckdb_writes_the_declared_schema_whatever_the_data(tmp_path):
    with_nulls = schemas(tmp_path / "nulls", WITH_NULLS, "duckdb")
    without = schemas(tmp_path / "clean", WITHOUT_NULLS, "duckdb")
    # the data did differ: nulls in one run, none in the other (but reject_reason, null when usable)
    for model in ("int_experiment_exposure_validation", "fct_experiment_exposure_quality_daily", "int_experiment_exposures_deduped"):
        assert nulls(tmp_path / "nulls", model) > 0 and nulls(tmp_path / "clean", model) == 0, model
    assert nulls(tmp_path / "nulls", "stg_experiment_exposures") > nulls(tmp_path / "clean", "stg_experiment_exposures")
    assert with_nulls == without
    check_declared(with_nulls)


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_both_engines_and_both_spark_writers_write_the_same_schema_four_times(tmp_path, monkeypatch):
    from expguard.engines.spark import SparkEngine

    found = {
        "duckdb, nulls": schemas(tmp_path / "d1", WITH_NULLS, "duckdb"),
        "duckdb, clean": schemas(tmp_path / "d2", WITHOUT_NULLS, "duckdb"),
        # small models are written from Arrow on the driver ...
        "spark arrow, nulls": schemas(tmp_path / "s1", WITH_NULLS, "spark"),
    }
    # ... large ones by a Spark write job: force that way for every model
    monkeypatch.setattr(SparkEngine, "ARROW_WRITE_MAX_ROWS", -1)
    found["spark job, clean"] = schemas(tmp_path / "s2", WITHOUT_NULLS, "spark")
    found["spark job, nulls"] = schemas(tmp_path / "s3", WITH_NULLS, "spark")
    reference = found["duckdb, nulls"]
    for run, schema in found.items():
        assert schema == reference, run
    check_declared(reference)


def test_the_declaration_is_read_from_the_sql_header_and_checked_for_python_models():
    from expguard.models.registry import declared_not_null
    from expguard.models.python import python_model

    sql = "-- m\n-- Not null: a, b,\n-- Not null: c\n--   (a note)\nselect 1 as a"
    assert declared_not_null(sql) == ("a", "b", "c")
    assert declared_not_null("-- m\n-- Not null: none\nselect 1") == ()
    with pytest.raises(ValueError, match=r"never-null columns \['nope'\] that it does not have"):
        python_model("test_model", (), (("a", "bigint"),), not_null=("nope",))


def codecs(folder: Path) -> dict[str, set[str]]:
    """Each written file's column-chunk codecs."""
    found = {}
    for path in sorted(folder.glob("*.parquet")):
        meta = pq.ParquetFile(path).metadata
        found[path.stem] = {meta.row_group(g).column(c).compression
                            for g in range(meta.num_row_groups) for c in range(meta.num_columns)}
    return found


def run_with_codec(tmp_path: Path, engine: str, codec: "str | None") -> Path:
    events, assignments = WITH_NULLS
    tmp_path.mkdir(parents=True, exist_ok=True)
    expguard.run(str(write_rows(tmp_path / "events.parquet", events, EVENT_SCHEMA)),
                 str(write_rows(tmp_path / "assignments.parquet", assignments, ASSIGNMENT_SCHEMA)),
                 output_dir=str(tmp_path / "out"), engine={"name": engine}, parquet_compression=codec,
                 vars={"exp_health_as_of": "2026-04-01T00:00:00Z"})  # the health rows equal run to run
    return tmp_path / "out"


@pytest.mark.parametrize("codec, written", [(None, "ZSTD"), ("snappy", "SNAPPY"), ("gzip", "GZIP"),
                                            ("uncompressed", "UNCOMPRESSED")])
def test_duckdb_writes_every_file_with_the_asked_codec_and_the_same_rows(tmp_path, codec, written):
    out = run_with_codec(tmp_path / "asked", "duckdb", codec)
    found = codecs(out)
    # every model but the (empty) alerts has a row group to carry a codec
    assert {m for m, c in found.items() if c} == set(MODELS) - {"fct_experiment_exposure_alerts"}
    assert all(c == {written} for c in found.values() if c), found
    reference = run_with_codec(tmp_path / "default", "duckdb", None) if codec else out
    for model in MODELS:
        rows = [sorted(pq.read_table(folder / f"{model}.parquet").to_pylist(), key=repr) for folder in (out, reference)]
        assert rows[0] == rows[1], model


@pytest.mark.spark
@pytest.mark.usefixtures("spark")
def test_both_spark_writers_write_the_asked_codec(tmp_path, monkeypatch):
    from expguard.engines.spark import SparkEngine

    arrow = codecs(run_with_codec(tmp_path / "arrow", "spark", "snappy"))  # small models: from Arrow
    monkeypatch.setattr(SparkEngine, "ARROW_WRITE_MAX_ROWS", -1)  # every model by a Spark job
    job = codecs(run_with_codec(tmp_path / "job", "spark", "snappy"))
    default = codecs(run_with_codec(tmp_path / "default", "spark", None))
    assert all(c == {"SNAPPY"} for c in [*arrow.values(), *job.values()] if c), (arrow, job)
    assert all(c == {"ZSTD"} for c in default.values() if c), default
    assert sum(1 for c in job.values() if c) >= 9
