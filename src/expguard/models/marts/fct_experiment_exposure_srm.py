"""Sample-ratio mismatch: Pearson's chi-square test, and the model fct_experiment_exposure_srm.

An experiment has a sample-ratio mismatch (SRM) when the units counted per variation are not
in the split the experiment was designed for: something between the randomizer and the count
lost or added units unevenly, and every metric comparison between the variations is suspect
(Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online Controlled Experiments", KDD 2019).
The counts come from SQL (``int_experiment_exposure_srm_counts``); only the statistic is
computed here (with :func:`expguard.core.stats.chi_square_test`), so the same counts give the
same p-value on every engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.stats import SrmTest, chi_square_test, expected_shares
from ...settings.config import parse_srm_weights
from ...core.constants import FCT_SRM, INT_SRM_COUNTS, SRM_STAGE_COLUMNS, SRM_STAGES
from ..python import python_model, read_inputs

if TYPE_CHECKING:  # pragma: no cover
    from ...settings.config import Variables
    from ...engines.base import Engine


COLUMNS = (
    ("experiment_id", "varchar"),
    ("stage", "varchar"),
    ("stage_order", "bigint"),
    ("variation_id", "varchar"),
    ("units", "bigint"),
    ("assigned_units", "bigint"),
    ("valid_exposed_units", "bigint"),
    ("expected_share", "double"),
    ("observed_share", "double"),
    ("expected_units", "double"),
    ("stage_units", "bigint"),
    ("expected_source", "varchar"),
    ("tested_variations", "bigint"),
    ("chi_square", "double"),
    ("degrees_of_freedom", "bigint"),
    ("p_value", "double"),
    ("is_srm", "boolean"),
    ("srm_status", "varchar"),
    ("first_srm_stage", "varchar"),
)


#: Never null (the others are null when a stage has no units or was not tested).
NOT_NULL = ("experiment_id", "stage", "stage_order", "variation_id", "units", "assigned_units", "valid_exposed_units",
            "expected_share", "expected_units", "stage_units", "expected_source", "tested_variations", "is_srm",
            "srm_status")


@python_model(FCT_SRM, depends_on=(INT_SRM_COUNTS,), columns=COLUMNS, not_null=NOT_NULL)
def build_srm(engine: "Engine", variables: "Variables") -> list[dict]:
    """One row per (experiment_id, stage, variation_id): the stage's count for the variation,
    its expected and observed shares, and the stage's chi-square test (repeated on its rows)."""
    counts = read_inputs(engine, FCT_SRM)[INT_SRM_COUNTS]
    all_weights = parse_srm_weights("exp_srm_expected_weights", variables.exp_srm_expected_weights)
    by_experiment: dict[str, dict[str, dict]] = {}
    for row in counts:
        by_experiment.setdefault(row["experiment_id"], {})[row["variation_id"]] = row
    rows: list[dict] = []
    for experiment_id in sorted(by_experiment):
        found = by_experiment[experiment_id]
        weights = all_weights.get(experiment_id)
        variations = sorted(set(found) | set(weights or {}))
        count = {stage: [found.get(v, {}).get(SRM_STAGE_COLUMNS[stage], 0) for v in variations] for stage in SRM_STAGES}
        assigned = dict(zip(variations, count["assigned"]))
        shares = expected_shares(variations, weights, assigned)
        experiment_rows = []
        for order, stage in enumerate(SRM_STAGES, start=1):
            units = count[stage]
            test = chi_square_test(units, shares, min_units=variables.exp_srm_min_units,
                                   threshold=variables.exp_srm_p_value_threshold)
            if stage == "assigned" and not weights and test.status != "single_variation":
                # Without weights the expected split *is* the assigned split: nothing to test.
                test = SrmTest("no_weights", test.tested_variations)
            stage_units = sum(units)
            tested_units = sum(u for u, s in zip(units, shares) if s > 0)
            for i, variation_id in enumerate(variations):
                unit_count, share = units[i], shares[i]
                experiment_rows.append({
                    "experiment_id": experiment_id,
                    "stage": stage,
                    "stage_order": order,
                    "variation_id": variation_id,
                    "units": unit_count,
                    "assigned_units": count["assigned"][i],
                    "valid_exposed_units": count["valid_exposed"][i],
                    "expected_share": share,
                    "observed_share": unit_count / stage_units if stage_units else None,
                    "expected_units": tested_units * share,
                    "stage_units": stage_units,
                    "expected_source": "weights" if weights else "assigned_split",
                    "tested_variations": test.tested_variations,
                    "chi_square": test.chi_square,
                    "degrees_of_freedom": test.degrees_of_freedom,
                    "p_value": test.p_value,
                    "is_srm": test.is_srm,
                    "srm_status": test.status,
                })
        first = next((r["stage"] for r in experiment_rows if r["is_srm"]), None)
        rows += [{**r, "first_srm_stage": first} for r in experiment_rows]
    return rows
