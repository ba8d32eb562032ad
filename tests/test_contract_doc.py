"""docs/contract.md stays true: its model tables against the models' real output.

Every model a run builds is run on one tiny hand-made dataset (every reject reason, every
exposure status, an unassigned unit, a cohort whose exposure rate drops so that an alert fires);
then, for each model, the columns of its table in the page must be exactly the output's columns,
in file order, with the output's types, and a column the page calls never null must hold no null.
The variables table must list every variable the code accepts, with its default, and the page
must name every value of the enumerated columns.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from expguard.core import constants
from expguard.settings.config import Variables
from expguard.models.registry import load_models

from helpers import assignment, exposure, props, run_models, ts

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "contract.md"

# The type words of the page, by the Arrow type of a model's Parquet output.
TYPE_WORDS = {
    pa.string(): "string",
    pa.int64(): "integer",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.timestamp("us"): "timestamp",
}


def section(text: str, heading: str) -> str:
    """The text of the level-2 section ``## heading``, up to the next level-2 heading."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"docs/contract.md has no section '## {heading}'"
    return match.group(1)


def table_rows(text: str, header: str) -> list[list[str]]:
    """The body rows (cells stripped) of every Markdown table in ``text`` whose header row starts
    with ``header``."""
    rows: list[list[str]] = []
    inside = False
    for line in text.splitlines():
        if not line.startswith("|"):
            inside = False
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith(header):
            inside = True
        elif inside and not set(line) <= set("|-: "):
            rows.append(cells)
    return rows


def documented_models() -> dict[str, list[tuple[str, str, str]]]:
    """Model -> its table's (column, type, null) rows, for every ``### `model` `` section of the
    page's Models part that has a column table (a placeholder section has none)."""
    models_part = section(PAGE.read_text(encoding="utf-8"), "Models")
    documented: dict[str, list[tuple[str, str, str]]] = {}
    for block in re.split(r"^### ", models_part, flags=re.M)[1:]:
        name = re.match(r"`([a-z_]+)`", block)
        assert name, f"a model heading without a `model_name`: {block.splitlines()[0]!r}"
        rows = table_rows(block, "| column | type | null |")
        if rows:
            documented[name.group(1)] = [
                (column, row[1], row[2]) for row in rows for column in re.findall(r"`([^`]+)`", row[0])
            ]
    return documented


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, pa.Table]:
    """Every model's output on a tiny dataset that gives every model rows (alerts included)."""
    events = [
        # cohort of day 0: one unit per exposure status
        exposure("u1", ts(1), "A", event_id="e1"),
        exposure("u1", ts(2), "A", event_id=None),                # a duplicate event
        exposure("u2", ts(1), "A"),                               # assigned B: variation_mismatch
        exposure("u4", ts(1), "A"), exposure("u4", ts(3), "B"),   # multi_variation_exposure
        exposure("u5", ts(-10), "A"),                             # pre_assignment_exposure
        exposure("u6", ts(days=40), "B"),                         # exposure_outside_window
        # cohort of day 1: every unit valid; cohort of day 2: none exposed (the rate drops)
        exposure("u7", ts(1, days=1), "A"), exposure("u8", ts(1, days=1), "B"),
        # an unassigned unit
        exposure("u11", ts(days=1), "A"),
        # one rejected event per reason, and one that is not an exposure
        exposure("u12", ts(days=1), properties=props(None, "A")),
        exposure("  ", ts(days=1), "A"),
        exposure("u13", ts(days=1), properties=props("exp", ...)),
        exposure("u14", None, "A"),
        exposure("u15", ts(days=1), properties="not json"),
        exposure("u1", ts(5), "A", event_name="page_view"),
    ]
    assignments = [
        assignment("u1", "A"), assignment("u2", "B"), assignment("u3", "A"), assignment("u4", "A"),
        assignment("u5", "A"), assignment("u6", "B"),
        assignment("u7", "A", ts(days=1)), assignment("u8", "B", ts(days=1)),
        assignment("u9", "A", ts(days=2)), assignment("u10", "B", ts(days=2)),
    ]
    names = list(load_models())
    tmp_path = tmp_path_factory.mktemp("contract")
    # Small thresholds so that the alert rules test these few units (and the drop fires).
    run_models(tmp_path, events, assignments, models=(), exp_alert_min_cohort_units=1,
               exp_alert_min_baseline_points=1, exp_alert_mad_k=0)
    return {name: pq.read_table(tmp_path / "out" / f"{name}.parquet") for name in names}


def test_the_page_documents_every_model_a_run_builds_and_no_other():
    documented = set(documented_models())
    built = set(load_models())
    assert built - documented == set(), "built but without a column table in docs/contract.md"
    assert documented - built == set(), "documented in docs/contract.md but not built by a run"
    assert len(built) >= 9


def test_every_model_has_rows_on_the_dataset(outputs):
    # the checks below are only worth something when every model has rows to check
    assert {name: table.num_rows for name, table in outputs.items() if table.num_rows == 0} == {}


@pytest.mark.parametrize("model", list(load_models()))
def test_documented_columns_are_the_output_columns(outputs, model):
    documented = documented_models()[model]
    schema = outputs[model].schema
    assert [column for column, _, _ in documented] == schema.names, (
        f"{model}: docs/contract.md lists {[c for c, _, _ in documented]}, the output has {schema.names}"
    )
    for column, word, _ in documented:
        actual = schema.field(column).type
        assert TYPE_WORDS.get(actual) == word, f"{model}.{column}: the page says {word}, the output is {actual}"


@pytest.mark.parametrize("model", list(load_models()))
def test_never_null_columns_hold_no_null(outputs, model):
    table = outputs[model]
    never_null = [column for column, _, null in documented_models()[model] if null == "never"]
    assert never_null or model == constants.STG_EXPOSURES  # staging passes every column through
    with_nulls = [column for column in never_null if table.column(column).null_count]
    assert with_nulls == [], f"{model}: documented as never null, but null here: {with_nulls}"


def test_the_variables_table_lists_every_variable_with_its_default():
    rows = table_rows(section(PAGE.read_text(encoding="utf-8"), "Variables"), "| variable | default |")
    documented = {re.findall(r"`([^`]+)`", row[0])[0]: row[1] for row in rows}
    assert list(documented) == list(Variables.names())
    defaults = Variables()
    for name, cell in documented.items():
        text = "" if cell == "none" else cell.strip("`")
        # the page's default, read as the code reads a value, is the code's default
        assert getattr(defaults.with_values({name: text}), name) == getattr(defaults, name), name


def test_the_page_names_every_enumerated_value():
    text = PAGE.read_text(encoding="utf-8")
    values = (*constants.REJECT_REASONS, *constants.EXPOSURE_STATUSES, *constants.SRM_STAGES,
              *constants.SRM_STATUSES, *constants.ALERT_TYPES, *constants.SEVERITIES,
              *constants.HEALTH_CHECKS, *constants.HEALTH_STATUSES)
    assert [value for value in values if f"`{value}`" not in text] == []


def test_readme_docs_and_code_cite_the_page_not_an_outside_file():
    assert "(docs/contract.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "src").rglob("*.py"))]
    citing = [str(path.relative_to(ROOT)) for path in files if "SPEC.md" in path.read_text(encoding="utf-8")]
    assert citing == []
