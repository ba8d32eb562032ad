/* fct_experiment_exposure_quality_daily */
/* Not null: experiment_id, date, assigned_units, exposed_units, valid_exposed_units, */
/* Not null: no_exposure_units, multi_variation_exposure_units, variation_mismatch_units, pre_assignment_exposure_units, */
/* Not null: exposure_outside_window_units, mismatched_units, exposure_events, duplicate_exposure_events, */
/* Not null: unassigned_exposed_units, is_window_complete */
/*   (written REQUIRED in Parquet on every engine; every other column OPTIONAL) */
/* Grain: one row per (experiment_id, date); date is the assignment date (the daily cohort) */
/* for assigned units, and the date of the first exposure for unassigned exposed units. */
/* Purpose: daily exposure-quality metrics per experiment, to catch tracking regressions early. */
/* Reads: fct_experiment_exposure_quality_daily_by_variation, int_experiment_exposures_deduped, */
/*        fct_experiment_assignments, stg_experiment_exposures. */
/* Variables: exp_exposure_max_days_after_assignment. */
/* data_through is the latest exposed_at over all staging rows (rejected ones included). */
WITH cohorts AS (
  /* The assigned-unit counts are the by-variation model's, summed over variations: one */
  /* definition of each count, and the two models agree by construction. */
  SELECT
    experiment_id,
    date,
    SUM(assigned_units) AS assigned_units,
    SUM(exposed_units) AS exposed_units,
    SUM(valid_exposed_units) AS valid_exposed_units,
    SUM(no_exposure_units) AS no_exposure_units,
    SUM(multi_variation_exposure_units) AS multi_variation_exposure_units,
    SUM(variation_mismatch_units) AS variation_mismatch_units,
    SUM(pre_assignment_exposure_units) AS pre_assignment_exposure_units,
    SUM(exposure_outside_window_units) AS exposure_outside_window_units,
    SUM(mismatched_units) AS mismatched_units,
    SUM(exposure_events) AS exposure_events,
    SUM(duplicate_exposure_events) AS duplicate_exposure_events
  FROM fct_experiment_exposure_quality_daily_by_variation
  GROUP BY
    experiment_id,
    date
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
