"""The Python-model mechanism (expguard.pymodels), the monitoring variables, and their docs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from pathlib import Path

import pyarrow as pa
import pytest

from expguard.settings.config import ConfigError, EngineSettings, Variables
from expguard.core.constants import ALERT_TYPES, FCT_ALERTS, FCT_SRM, MONITORING_MODELS, SRM_STAGES, SRM_STATUSES
from expguard.engines import create_engine
from expguard.models.registry import load_models
from expguard.models.python import PythonModel, python_model, read_inputs
from expguard.models.registry import python_models
from expguard.engines.rows import arrow_schema, rows_to_arrow

ROOT = Path(__file__).resolve().parents[2]


def test_python_models_join_the_one_dependency_order():
    models = load_models()
    order = list(models)
    assert {FCT_SRM, FCT_ALERTS} <= set(python_models())
    for name, python in python_models().items():
        model = models[name]
        assert model.is_python and model.python is python and model.sql == ""
        for dependency in python.depends_on:
            assert dependency in models, f"{name} reads {dependency}, which is not a model"
            assert order.index(dependency) < order.index(name)
    assert set(MONITORING_MODELS) <= set(models)


def test_a_python_model_has_no_sql_to_parse():
    with pytest.raises(ValueError, match="computed in Python"):
        load_models()[FCT_SRM].parse()


class FakeEngine:
    def __init__(self, tables: dict[str, list[dict]]) -> None:
        self.tables = tables
        self.read: list[str] = []

    def rows(self, name: str) -> list[dict]:
        self.read.append(name)
        return self.tables[name]


def test_read_inputs_hands_over_the_declared_dependencies_only():
    depends_on = python_models()[FCT_ALERTS].depends_on
    engine = FakeEngine({name: [{"x": 1}] for name in depends_on + ("other",)})
    assert set(read_inputs(engine, FCT_ALERTS)) == set(depends_on)
    assert engine.read == list(depends_on)


def test_build_returns_rows_of_the_declared_columns_and_refuses_others():
    columns = (("n", "bigint"), ("share", "double"))
    good = PythonModel("toy", (), lambda engine, variables: [{"n": 1, "share": 0.5}], columns)
    assert good.build(None, Variables()) == [{"n": 1, "share": 0.5}]
    bad = PythonModel("toy", (), lambda engine, variables: [{"share": 0.5, "n": 1}], columns)
    with pytest.raises(RuntimeError, match="declared"):
        bad.build(None, Variables())
    missing = PythonModel("toy", (), lambda engine, variables: [{"n": 1}], columns)
    with pytest.raises(RuntimeError, match="declared"):
        missing.build(None, Variables())


def test_a_python_model_declares_only_known_column_types():
    with pytest.raises(ValueError, match="column types"):
        python_model("toy_unknown", (), (("n", "int"),))(lambda engine, variables: [])


def _stored_on_duckdb(rows: list[dict], columns) -> pa.Table:
    engine = create_engine(EngineSettings())
    try:
        assert engine.register_rows("toy", rows, columns) == len(rows)
        return engine.to_arrow("toy")
    finally:
        engine.close()


def test_an_empty_input_gives_no_rows_and_an_empty_table_of_the_declared_types():
    from expguard.models.marts.fct_experiment_exposure_alerts import COLUMNS, build_alerts

    tables = {name: [] for name in python_models()[FCT_ALERTS].depends_on}
    assert build_alerts(FakeEngine(tables), Variables()) == []
    table = _stored_on_duckdb([], COLUMNS)
    assert table.num_rows == 0 and table.schema == arrow_schema(COLUMNS)


def test_duckdb_stores_a_python_models_rows_as_the_arrow_path_does():
    # DuckDB takes the rows as Python values; other engines take them as Arrow (rows_to_arrow):
    # both must store the same typed table, nulls, NaN, dates and odd text included.
    columns = (("s", "varchar"), ("n", "bigint"), ("x", "double"), ("b", "boolean"), ("d", "date"))
    rows = [
        {"s": "a", "n": 1, "x": 0.5, "b": True, "d": dt.date(2026, 3, 1)},
        {"s": None, "n": None, "x": None, "b": None, "d": None},
        {"s": "é'\"; drop", "n": -(2**63), "x": float("nan"), "b": False, "d": dt.date(1, 1, 1)},
        {"s": "", "n": 2**63 - 1, "x": float("inf"), "b": False, "d": dt.date(9999, 12, 31)},
    ]
    stored = _stored_on_duckdb(rows, columns)
    expected = rows_to_arrow(rows, columns)
    assert stored.schema == expected.schema
    assert stored.to_pylist()[:2] + stored.to_pylist()[3:] == expected.to_pylist()[:2] + expected.to_pylist()[3:]
    nan_row = stored.to_pylist()[2]
    assert math.isnan(nan_row.pop("x")) and nan_row == {k: v for k, v in rows[2].items() if k != "x"}


MONITORING_VARIABLES = [f.name for f in dataclasses.fields(Variables) if f.name.startswith(("exp_srm_", "exp_alert_"))]


@pytest.mark.parametrize("name", MONITORING_VARIABLES)
def test_every_monitoring_variable_is_documented_with_its_default(name):
    monitoring = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    default = getattr(Variables(), name)
    row = next((line for line in monitoring.splitlines() if line.startswith(f"| `{name}` |")), None)
    assert row is not None, f"{name} has no row in docs/monitoring.md"
    shown = f"`{default:g}`" if isinstance(default, float) else ("(none)" if default == "" else f"`{default}`")
    assert shown in row, f"docs/monitoring.md does not show the default {shown} of {name}"
    assert f"`{name}`" in readme


def test_every_label_is_documented():
    monitoring = (ROOT / "docs" / "monitoring.md").read_text(encoding="utf-8")
    for label in ALERT_TYPES + SRM_STAGES + SRM_STATUSES:
        assert f"`{label}`" in monitoring, label


@pytest.mark.parametrize("name, value", [
    ("exp_alert_min_baseline_points", "0"), ("exp_alert_baseline_days", "0"), ("exp_alert_critical_multiple", "0.5"),
    ("exp_srm_p_value_threshold", "1.5"), ("exp_alert_mad_k", "-1"), ("exp_alert_horizon_days", "1.5"),
])
def test_out_of_range_monitoring_variables_are_refused(name, value):
    with pytest.raises(ConfigError, match=re.escape(name)):
        Variables().with_values({name: value})
