"""Names that the SQL models, the Python code and the docs share.

Each is defined once; ``tests/test_constants.py`` checks that the SQL literals in
``models/`` match these values.
"""

from __future__ import annotations

# Inputs, as the models read them (canonical, typed views over the sources).
EVENTS = "fct_events"
ASSIGNMENTS = "fct_experiment_assignments"
INPUTS = (EVENTS, ASSIGNMENTS)

# Core models, in the order of docs/contract.md.
STG_EXPOSURES = "stg_experiment_exposures"
INT_DEDUPED = "int_experiment_exposures_deduped"
INT_VALIDATION = "int_experiment_exposure_validation"
FCT_DAILY = "fct_experiment_exposure_quality_daily"
CORE_MODELS = (STG_EXPOSURES, INT_DEDUPED, INT_VALIDATION, FCT_DAILY)

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

# Monitoring models (quality by variation, sample-ratio mismatch, alerts); see docs/monitoring.md.
FCT_DAILY_BY_VARIATION = "fct_experiment_exposure_quality_daily_by_variation"
INT_SRM_COUNTS = "int_experiment_exposure_srm_counts"
INT_REJECTIONS_DAILY = "int_experiment_exposure_rejections_daily"
FCT_SRM = "fct_experiment_exposure_srm"
FCT_ALERTS = "fct_experiment_exposure_alerts"
MONITORING_MODELS = (FCT_DAILY_BY_VARIATION, INT_SRM_COUNTS, INT_REJECTIONS_DAILY, FCT_SRM, FCT_ALERTS)

# fct_experiment_exposure_srm.stage, in funnel order, and the count column of
# int_experiment_exposure_srm_counts that each stage tests.
SRM_STAGES = ("assigned", "logged", "exposed", "valid_exposed")
SRM_STAGE_COLUMNS = {
    "assigned": "assigned_units",
    "logged": "logged_units",
    "exposed": "exposed_units",
    "valid_exposed": "valid_exposed_units",
}

# fct_experiment_exposure_srm.srm_status, in the order they are decided.
SRM_STATUSES = ("single_variation", "no_weights", "insufficient_units", "srm", "ok")

# fct_experiment_exposure_alerts.alert_type and severity (least severe first).
ALERT_TYPES = (
    "exposure_rate_drop",
    "mismatch_rate_rise",
    "multi_variation_rate_rise",
    "srm",
    "unassigned_exposure_spike",
    "duplicate_exposure_spike",
    "rejected_exposure_spike",
)
SEVERITIES = ("warning", "critical")

# The engines: name -> "module:Class", imported lazily (expguard.engines.create_engine) so that
# a DuckDB-only install never imports pyspark. Settings check a name against these keys.
ENGINES = {
    "duckdb": "expguard.engines.duckdb:DuckDBEngine",
    "spark": "expguard.engines.spark:SparkEngine",
}

# Health checks: fct_experiment_health (absolute checks per experiment) and the facts it reads.
INT_HEALTH_FACTS = "int_experiment_health_facts"
FCT_HEALTH = "fct_experiment_health"
HEALTH_MODELS = (INT_HEALTH_FACTS, FCT_HEALTH)

# fct_experiment_health.check_name, in the order a verdict names them (the first failing one is
# "the reason"): the checks that say the data cannot be trusted at all come first.
HEALTH_CHECKS = (
    "exposure_events_present",
    "assignments_present",
    "rejected_exposure_events",
    "freshness",
    "exposure_coverage",
    "sample_ratio",
    "variation_mismatch",
    "multiple_variations",
    "pre_assignment_exposure",
    "exposure_outside_window",
    "unassigned_exposures",
    "open_alerts",
)

# fct_experiment_health.status, and an experiment's verdict (the worst of its checks), from best
# to worst. not_enough_data ranks below pass: it neither clears nor condemns an experiment.
HEALTH_STATUSES = ("not_enough_data", "pass", "warn", "fail")
