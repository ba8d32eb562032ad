"""SQL snapshots: the compiled SQL of every SQL model, per dialect, kept in ``tests/snapshots``.

Any change in what a model compiles to (an edit, a new sqlglot release, a transform in
``compile.py``) shows up here and in review. To accept a change, rewrite the snapshots and read
the diff:

    EXPGUARD_UPDATE_SNAPSHOTS=1 python -m pytest tests/engines/test_snapshots.py

``_input_normalization`` is not a model: it is the input layer's expressions (JSON ids, text,
epoch and zone-aware timestamps), where most of the Spark transforms act.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlglot import exp

from expguard.inputs import views as inputs
from expguard.models.compile import compile_model
from expguard.sql.render import to_sql
from expguard.settings.config import DEFAULT_EVENT_MAPPING, Variables
from expguard.engines import base
from expguard.models.registry import load_models

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
DIALECTS = ("duckdb", "spark")
SQL_MODELS = tuple(name for name, model in load_models().items() if not model.is_python)
INPUTS = "_input_normalization"
UPDATE = os.environ.get("EXPGUARD_UPDATE_SNAPSHOTS") == "1"


def input_normalization(dialect: str) -> str:
    """The input layer's normalizations, as one SELECT over a raw events relation."""
    columns = [
        inputs.parse_expression(DEFAULT_EVENT_MAPPING[name], name, "events").as_(name)
        for name in ("experiment_id", "variation_id")
    ]
    for kind in (base.STRING, base.INTEGER, base.FLOAT, base.TIMESTAMPTZ, base.TIMESTAMP, base.DATE):
        value = inputs.to_utc_timestamp(exp.column(f"ts_{kind}"), kind, "event_ts", "events", kind,
                                         epoch_micros=dialect == "duckdb")  # as each engine runs it
        columns.append(value.as_(f"event_ts_from_{kind}"))
    return to_sql(exp.select(*columns).from_(inputs.RAW_EVENTS), dialect, pretty=True)


def compiled(name: str, dialect: str) -> str:
    if name == INPUTS:
        return input_normalization(dialect) + "\n"
    return compile_model(name, Variables().as_dict(), dialect, pretty=True) + "\n"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", SQL_MODELS + (INPUTS,))
def test_compiled_sql_matches_its_snapshot(name, dialect):
    path = SNAPSHOTS / name / f"{dialect}.sql"
    sql = compiled(name, dialect)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sql, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}; create it with EXPGUARD_UPDATE_SNAPSHOTS=1"
    assert sql == path.read_text(encoding="utf-8"), (
        f"{name} compiles differently for {dialect}; if intended, rerun with EXPGUARD_UPDATE_SNAPSHOTS=1 and review the diff"
    )


def test_every_snapshot_belongs_to_a_model():
    names = set(SQL_MODELS) | {INPUTS}
    stale = sorted(p.name for p in SNAPSHOTS.iterdir() if p.is_dir() and p.name not in names) if SNAPSHOTS.is_dir() else []
    if UPDATE:
        for name in stale:
            for file in (SNAPSHOTS / name).iterdir():
                file.unlink()
            (SNAPSHOTS / name).rmdir()
        return
    assert not stale, f"snapshots of models that no longer exist: {stale}"
