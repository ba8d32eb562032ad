/* fct_experiment_exposure_quality_daily_by_variation */
/* Not null: experiment_id, date, assigned_variation_id, assigned_units, exposed_units, */
/* Not null: valid_exposed_units, no_exposure_units, multi_variation_exposure_units, variation_mismatch_units, */
/* Not null: pre_assignment_exposure_units, exposure_outside_window_units, mismatched_units, exposure_events, */
/* Not null: duplicate_exposure_events, is_window_complete, valid_exposed_within_horizon_units, is_horizon_complete */
/*   (written REQUIRED in Parquet on every engine; every other column OPTIONAL) */
/* Grain: one row per (experiment_id, date, assigned_variation_id); date is the assignment date */
/* (the daily cohort). Assigned units only: unassigned exposures have no assigned variation. */
/* Purpose: the assigned-unit counts and rates of fct_experiment_exposure_quality_daily, split */
/* by assigned variation (summed over variations they equal the daily model's), plus the valid */
/* exposures that came within a fixed horizon after assignment, which the alerts compare */
/* like with like across cohorts of different ages. */
/* Reads: int_experiment_exposure_validation, stg_experiment_exposures. */
/* Variables: exp_exposure_max_days_after_assignment, exp_alert_horizon_days. */
/* data_through is the latest exposed_at over all staging rows (rejected ones included). */
WITH cohorts AS (
  SELECT
    experiment_id,
    assignment_date AS date,
    assigned_variation_id,
    COUNT(*) AS assigned_units,
    COUNT(CASE WHEN is_exposed THEN 1 END) AS exposed_units,
    COUNT(CASE WHEN is_valid_exposure THEN 1 END) AS valid_exposed_units,
    COUNT(CASE WHEN exposure_status = 'no_exposure' THEN 1 END) AS no_exposure_units,
    COUNT(CASE WHEN exposure_status = 'multi_variation_exposure' THEN 1 END) AS multi_variation_exposure_units,
    COUNT(CASE WHEN exposure_status = 'variation_mismatch' THEN 1 END) AS variation_mismatch_units,
    COUNT(CASE WHEN exposure_status = 'pre_assignment_exposure' THEN 1 END) AS pre_assignment_exposure_units,
    COUNT(CASE WHEN exposure_status = 'exposure_outside_window' THEN 1 END) AS exposure_outside_window_units,
    COUNT(CASE WHEN has_variation_mismatch THEN 1 END) AS mismatched_units,
    SUM(exposure_event_count) AS exposure_events,
    SUM(exposure_event_count) - SUM(exposed_variation_count) AS duplicate_exposure_events,
    COUNT(
      CASE
        WHEN is_valid_exposure AND first_valid_exposure_at <= assigned_at + INTERVAL '1' DAY
        THEN 1
      END
    ) AS valid_exposed_within_horizon_units
  FROM int_experiment_exposure_validation
  GROUP BY
    experiment_id,
    assignment_date,
    assigned_variation_id
), data_through AS (
  SELECT
    MAX(exposed_at) AS data_through
  FROM stg_experiment_exposures
)
SELECT
  CAST(c.experiment_id AS TEXT) AS experiment_id,
  CAST(c.date AS DATE) AS date,
  CAST(c.assigned_variation_id AS TEXT) AS assigned_variation_id,
  CAST(c.assigned_units AS BIGINT) AS assigned_units,
  CAST(c.exposed_units AS BIGINT) AS exposed_units,
  CAST(c.valid_exposed_units AS BIGINT) AS valid_exposed_units,
  CAST(c.no_exposure_units AS BIGINT) AS no_exposure_units,
  CAST(c.multi_variation_exposure_units AS BIGINT) AS multi_variation_exposure_units,
  CAST(c.variation_mismatch_units AS BIGINT) AS variation_mismatch_units,
  CAST(c.pre_assignment_exposure_units AS BIGINT) AS pre_assignment_exposure_units,
  CAST(c.exposure_outside_window_units AS BIGINT) AS exposure_outside_window_units,
  CAST(c.mismatched_units AS BIGINT) AS mismatched_units,
  CAST(c.exposure_events AS BIGINT) AS exposure_events,
  CAST(c.duplicate_exposure_events AS BIGINT) AS duplicate_exposure_events,
  CAST(c.valid_exposed_units AS DOUBLE) / c.assigned_units AS exposure_rate,
  CASE
    WHEN c.exposed_units > 0
    THEN CAST(c.mismatched_units AS DOUBLE) / c.exposed_units
  END AS mismatch_rate,
  CASE
    WHEN c.exposed_units > 0
    THEN CAST(c.multi_variation_exposure_units AS DOUBLE) / c.exposed_units
  END AS multi_variation_rate,
  CAST(c.no_exposure_units AS DOUBLE) / c.assigned_units AS no_exposure_rate,
  CAST(c.pre_assignment_exposure_units AS DOUBLE) / c.assigned_units AS pre_assignment_exposure_rate,
  CAST(c.exposure_outside_window_units AS DOUBLE) / c.assigned_units AS exposure_outside_window_rate,
  COALESCE(
    CAST(c.date AS TIMESTAMP) + INTERVAL '1' DAY + INTERVAL '30' DAY <= t.data_through,
    FALSE
  ) AS is_window_complete,
  CAST(c.valid_exposed_within_horizon_units AS BIGINT) AS valid_exposed_within_horizon_units,
  CAST(c.valid_exposed_within_horizon_units AS DOUBLE) / c.assigned_units AS exposure_rate_within_horizon,
  COALESCE(
    CAST(c.date AS TIMESTAMP) + INTERVAL '1' DAY + INTERVAL '1' DAY <= t.data_through,
    FALSE
  ) AS is_horizon_complete
FROM cohorts AS c
CROSS JOIN data_through AS t
