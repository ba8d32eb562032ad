"""The Python-model mechanism (expguard.pymodels), the monitoring variables, and their docs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pyarrow as pa
import pytest

from expguard.config import ConfigError, Variables
from expguard.constants import ALERT_TYPES, FCT_ALERTS, FCT_SRM, MONITORING_MODELS, SRM_STAGES, SRM_STATUSES
from expguard.project import load_models
from expguard.pymodels import PythonModel, python_models, read_inputs

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
    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables
        self.read: list[str] = []

    def to_arrow(self, name: str) -> pa.Table:
        self.read.append(name)
        return self.tables[name]


def test_read_inputs_hands_over_the_declared_dependencies_only():
    depends_on = python_models()[FCT_ALERTS].depends_on
    engine = FakeEngine({name: pa.table({"x": [1]}) for name in depends_on + ("other",)})
    assert set(read_inputs(engine, FCT_ALERTS)) == set(depends_on)
    assert engine.read == list(depends_on)


def test_build_casts_to_the_declared_schema_and_refuses_other_columns():
    schema = pa.schema([("n", pa.int64()), ("share", pa.float64())])
    good = PythonModel("toy", (), lambda engine, variables: pa.table({"n": pa.array([1], pa.int32()), "share": [0.5]}), schema)
    assert good.build(None, Variables()).schema == schema
    bad = PythonModel("toy", (), lambda engine, variables: pa.table({"share": [0.5], "n": [1]}), schema)
    with pytest.raises(RuntimeError, match="declared"):
        bad.build(None, Variables())


def test_an_empty_input_gives_an_empty_table_of_the_declared_schema():
    from expguard.alerts import SCHEMA, build_alerts

    tables = {name: pa.table({}) for name in python_models()[FCT_ALERTS].depends_on}

    class Empty(FakeEngine):
        def to_arrow(self, name):
            return pa.Table.from_pylist([])

    table = build_alerts(Empty(tables), Variables())
    assert table.num_rows == 0 and table.schema == SCHEMA


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
