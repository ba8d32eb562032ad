"""Names that the SQL models, the Python code and the docs share.

Each is defined once; ``tests/test_constants.py`` checks that the SQL literals in
``models/`` match these values.
"""

from __future__ import annotations

# Inputs, as the models read them (canonical, typed views over the sources).
EVENTS = "fct_events"
ASSIGNMENTS = "fct_experiment_assignments"
INPUTS = (EVENTS, ASSIGNMENTS)

# Core models, in SPEC order.
STG_EXPOSURES = "stg_experiment_exposures"
INT_DEDUPED = "int_experiment_exposures_deduped"
INT_VALIDATION = "int_experiment_exposure_validation"
FCT_DAILY = "fct_experiment_exposure_quality_daily"
CORE_MODELS = (STG_EXPOSURES, INT_DEDUPED, INT_VALIDATION, FCT_DAILY)

# Canonical event columns (SPEC "fct_events"), plus the two ids that the default
# column mapping extracts from the JSON ``properties``.
EVENT_COLUMNS = ("event_id", "event_name", "unit_id", "event_ts", "experiment_id", "variation_id")
ASSIGNMENT_COLUMNS = ("experiment_id", "unit_id", "variation_id", "assigned_at")

# stg_experiment_exposures.reject_reason, in the order they are tested.
REJECT_REASONS = (
    "missing_experiment_id",
    "missing_unit_id",
    "missing_variation_id",
    "missing_timestamp",
)

# int_experiment_exposure_validation.exposure_status, in precedence order.
EXPOSURE_STATUSES = (
    "no_exposure",
    "multi_variation_exposure",
    "variation_mismatch",
    "pre_assignment_exposure",
    "exposure_outside_window",
    "valid",
)
