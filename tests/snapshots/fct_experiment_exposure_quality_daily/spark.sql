/* fct_experiment_exposure_quality_daily */
/* Grain: one row per (experiment_id, date); date is the assignment date (the daily cohort) */
/* for assigned units, and the date of the first exposure for unassigned exposed units. */
/* Purpose: daily exposure-quality metrics per experiment, to catch tracking regressions early. */
/* Reads: int_experiment_exposure_validation, int_experiment_exposures_deduped, */
/*        fct_experiment_assignments, stg_experiment_exposures. */
/* Variables: exp_exposure_max_days_after_assignment. */
/* data_through is the latest exposed_at over all staging rows (rejected ones included). */
WITH cohorts AS (
  SELECT
    experiment_id,
    assignment_date AS date,
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
    SUM(exposure_event_count) - SUM(exposed_variation_count) AS duplicate_exposure_events
  FROM int_experiment_exposure_validation
  GROUP BY
    experiment_id,
    assignment_date
), unassigned_units AS (
  SELECT
    d.experiment_id,
    d.unit_id,
    MIN(d.exposed_at) AS first_exposed_at
  FROM int_experiment_exposures_deduped AS d
  LEFT JOIN fct_experiment_assignments AS a
    ON d.experiment_id = a.experiment_id AND d.unit_id = a.unit_id
  WHERE
    a.unit_id IS NULL
  GROUP BY
    d.experiment_id,
    d.unit_id
), unassigned AS (
  SELECT
    experiment_id,
    CAST(first_exposed_at AS DATE) AS date,
    COUNT(*) AS unassigned_exposed_units
  FROM unassigned_units
  GROUP BY
    experiment_id,
    CAST(first_exposed_at AS DATE)
), data_through AS (
  SELECT
    MAX(exposed_at) AS data_through
  FROM stg_experiment_exposures
), combined AS (
  SELECT
    COALESCE(c.experiment_id, u.experiment_id) AS experiment_id,
    COALESCE(c.date, u.date) AS date,
    COALESCE(c.assigned_units, 0) AS assigned_units,
    COALESCE(c.exposed_units, 0) AS exposed_units,
    COALESCE(c.valid_exposed_units, 0) AS valid_exposed_units,
    COALESCE(c.no_exposure_units, 0) AS no_exposure_units,
    COALESCE(c.multi_variation_exposure_units, 0) AS multi_variation_exposure_units,
    COALESCE(c.variation_mismatch_units, 0) AS variation_mismatch_units,
    COALESCE(c.pre_assignment_exposure_units, 0) AS pre_assignment_exposure_units,
    COALESCE(c.exposure_outside_window_units, 0) AS exposure_outside_window_units,
    COALESCE(c.mismatched_units, 0) AS mismatched_units,
    COALESCE(c.exposure_events, 0) AS exposure_events,
    COALESCE(c.duplicate_exposure_events, 0) AS duplicate_exposure_events,
    COALESCE(u.unassigned_exposed_units, 0) AS unassigned_exposed_units
  FROM cohorts AS c
  FULL OUTER JOIN unassigned AS u
    ON c.experiment_id = u.experiment_id AND c.date = u.date
)
SELECT
  CAST(m.experiment_id AS STRING) AS experiment_id,
  CAST(m.date AS DATE) AS date,
  CAST(m.assigned_units AS BIGINT) AS assigned_units,
  CAST(m.exposed_units AS BIGINT) AS exposed_units,
  CAST(m.valid_exposed_units AS BIGINT) AS valid_exposed_units,
  CAST(m.no_exposure_units AS BIGINT) AS no_exposure_units,
  CAST(m.multi_variation_exposure_units AS BIGINT) AS multi_variation_exposure_units,
  CAST(m.variation_mismatch_units AS BIGINT) AS variation_mismatch_units,
  CAST(m.pre_assignment_exposure_units AS BIGINT) AS pre_assignment_exposure_units,
  CAST(m.exposure_outside_window_units AS BIGINT) AS exposure_outside_window_units,
  CAST(m.mismatched_units AS BIGINT) AS mismatched_units,
  CAST(m.exposure_events AS BIGINT) AS exposure_events,
  CAST(m.duplicate_exposure_events AS BIGINT) AS duplicate_exposure_events,
  CAST(m.unassigned_exposed_units AS BIGINT) AS unassigned_exposed_units,
  CASE
    WHEN m.assigned_units > 0
    THEN CAST(m.valid_exposed_units AS DOUBLE) / m.assigned_units
  END AS exposure_rate,
  CASE
    WHEN m.exposed_units > 0
    THEN CAST(m.mismatched_units AS DOUBLE) / m.exposed_units
  END AS mismatch_rate,
  CASE
    WHEN m.exposed_units > 0
    THEN CAST(m.multi_variation_exposure_units AS DOUBLE) / m.exposed_units
  END AS multi_variation_rate,
  CASE
    WHEN m.assigned_units > 0
    THEN CAST(m.no_exposure_units AS DOUBLE) / m.assigned_units
  END AS no_exposure_rate,
  CASE
    WHEN m.assigned_units > 0
    THEN CAST(m.pre_assignment_exposure_units AS DOUBLE) / m.assigned_units
  END AS pre_assignment_exposure_rate,
  CASE
    WHEN m.assigned_units > 0
    THEN CAST(m.exposure_outside_window_units AS DOUBLE) / m.assigned_units
  END AS exposure_outside_window_rate,
  COALESCE(
    CAST(m.date AS TIMESTAMP_NTZ) + INTERVAL '1' DAY + INTERVAL '30' DAY <= t.data_through,
    FALSE
  ) AS is_window_complete
FROM combined AS m
CROSS JOIN data_through AS t
