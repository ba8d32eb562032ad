/* int_experiment_exposure_validation */
/* Not null: experiment_id, unit_id, assigned_variation_id, assigned_at, assignment_date, */
/* Not null: exposed_variation_count, is_exposed, has_pre_assignment_exposure, has_exposure_outside_window, */
/* Not null: has_variation_mismatch, is_multi_variation, exposure_status, is_valid_exposure, exposure_event_count */
/*   (written REQUIRED in Parquet on every engine; every other column OPTIONAL) */
/* Grain: exactly one row per row of fct_experiment_assignments (experiment_id, unit_id). */
/* Purpose: judge each assigned unit's exposures for timing and variation integrity. */
/* Reads: fct_experiment_assignments, int_experiment_exposures_deduped. */
/* Variables: exp_allow_pre_assignment_exposure_grace_minutes, exp_exposure_max_days_after_assignment. */
/* A unit's exposures are its deduped rows (all variations, all times); timing is judged on */
/* the first exposure of each variation. Both window bounds are inclusive. */
WITH assignments AS (
  SELECT
    experiment_id,
    unit_id,
    variation_id AS assigned_variation_id,
    assigned_at,
    assigned_at - INTERVAL '5' MINUTE AS window_start,
    assigned_at + INTERVAL '30' DAY AS window_end
  FROM fct_experiment_assignments
), exposures AS (
  SELECT
    experiment_id,
    unit_id,
    variation_id,
    exposed_at,
    exposure_event_count
  FROM int_experiment_exposures_deduped
), assignment_exposures AS (
  SELECT
    a.experiment_id,
    a.unit_id,
    a.assigned_variation_id,
    a.assigned_at,
    a.window_start,
    a.window_end,
    e.variation_id,
    e.exposed_at,
    e.exposure_event_count,
    e.exposed_at < a.window_start AS is_pre_window,
    e.exposed_at > a.window_end AS is_post_window,
    e.variation_id <> a.assigned_variation_id AS is_other_variation
  FROM assignments AS a
  LEFT JOIN exposures AS e
    ON a.experiment_id = e.experiment_id AND a.unit_id = e.unit_id
), per_unit AS (
  /* One group per (experiment_id, unit_id), the assignment's key (the contract makes it */
  /* unique, so min() of the assignment's own columns is that one assignment's value). A */
  /* duplicated pair would leave fewer rows than assignments: that is how a run checks the */
  /* uniqueness contract without a pass of its own (expguard.contracts). */
  SELECT
    experiment_id,
    unit_id,
    MIN(assigned_variation_id) AS assigned_variation_id,
    MIN(assigned_at) AS assigned_at,
    COUNT(variation_id) AS exposed_variation_count,
    MIN(STRUCT(exposed_at AS exposed_at, variation_id AS variation_id)) AS first_exposure, /* the first exposure, whose time is also first_exposure_at (every deduped row has a time; */ /* a never-exposed unit's one row has neither); ties on exposed_at: the smallest variation_id */
    MIN(CASE WHEN NOT is_pre_window THEN exposed_at END) AS first_post_assignment_exposure_at,
    MIN(
      CASE
        WHEN NOT is_pre_window AND NOT is_post_window AND NOT is_other_variation
        THEN exposed_at
      END
    ) AS first_valid_exposure_at,
    COALESCE(MAX(CASE WHEN is_pre_window THEN 1 ELSE 0 END), 0) = 1 AS has_pre_assignment_exposure,
    COALESCE(MAX(CASE WHEN is_post_window THEN 1 ELSE 0 END), 0) = 1 AS has_exposure_outside_window,
    COALESCE(MAX(CASE WHEN is_other_variation THEN 1 ELSE 0 END), 0) = 1 AS has_variation_mismatch,
    COALESCE(SUM(exposure_event_count), 0) AS exposure_event_count
  FROM assignment_exposures
  GROUP BY
    experiment_id,
    unit_id
), classified AS (
  SELECT
    *,
    CASE
      WHEN exposed_variation_count = 0
      THEN 'no_exposure'
      WHEN exposed_variation_count > 1
      THEN 'multi_variation_exposure'
      WHEN has_variation_mismatch
      THEN 'variation_mismatch'
      WHEN first_post_assignment_exposure_at IS NULL
      THEN 'pre_assignment_exposure'
      WHEN first_valid_exposure_at IS NULL
      THEN 'exposure_outside_window'
      ELSE 'valid'
    END AS exposure_status
  FROM per_unit
)
SELECT
  CAST(experiment_id AS STRING) AS experiment_id,
  CAST(unit_id AS STRING) AS unit_id,
  CAST(assigned_variation_id AS STRING) AS assigned_variation_id,
  CAST(assigned_at AS TIMESTAMP_NTZ) AS assigned_at,
  CAST(assigned_at AS DATE) AS assignment_date,
  CAST(exposed_variation_count AS BIGINT) AS exposed_variation_count,
  CAST(first_exposure.exposed_at AS TIMESTAMP_NTZ) AS first_exposure_at,
  CAST(first_exposure.variation_id AS STRING) AS first_exposure_variation_id,
  CAST(first_post_assignment_exposure_at AS TIMESTAMP_NTZ) AS first_post_assignment_exposure_at,
  CAST(first_valid_exposure_at AS TIMESTAMP_NTZ) AS first_valid_exposure_at,
  exposed_variation_count > 0 AS is_exposed,
  has_pre_assignment_exposure,
  has_exposure_outside_window,
  has_variation_mismatch,
  exposed_variation_count > 1 AS is_multi_variation,
  CAST(exposure_status AS STRING) AS exposure_status,
  exposure_status = 'valid' AS is_valid_exposure,
  CAST(exposure_event_count AS BIGINT) AS exposure_event_count
FROM classified
