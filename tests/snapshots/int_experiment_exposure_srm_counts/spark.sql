/* int_experiment_exposure_srm_counts */
/* Not null: experiment_id, variation_id, assigned_units, logged_units, exposed_units, valid_exposed_units */
/*   (written REQUIRED in Parquet on every engine; every other column OPTIONAL) */
/* Grain: one row per (experiment_id, variation_id), for every experiment with assignments. */
/* Purpose: the counts that the sample-ratio-mismatch test of fct_experiment_exposure_srm */
/* compares with the expected split, at each stage of the funnel, cumulative over all cohorts: */
/*   assigned_units       assignments of the variation; */
/*   logged_units         units with a usable exposure event of the variation, as logged in the */
/*                        event (unassigned units included): the split an exposure log shows; */
/*   exposed_units        assigned units of the variation with any exposure (is_exposed); */
/*   valid_exposed_units  assigned units of the variation with a valid exposure. */
/* A variation appears when it was assigned or logged; the counts are 0, never null. */
/* Reads: fct_experiment_exposure_quality_daily_by_variation, int_experiment_exposures_deduped. */
/* Variables: none. The chi-square statistic is computed in Python (expguard.srm). */
WITH by_assigned_variation AS (
  /* the by-variation model's cohort counts, summed over cohorts: one definition of each */
  /* count, and one pass over the validation model fewer */
  SELECT
    experiment_id,
    assigned_variation_id AS variation_id,
    SUM(assigned_units) AS assigned_units,
    SUM(exposed_units) AS exposed_units,
    SUM(valid_exposed_units) AS valid_exposed_units
  FROM fct_experiment_exposure_quality_daily_by_variation
  GROUP BY
    experiment_id,
    assigned_variation_id
), assigned_experiments AS (
  SELECT DISTINCT
    experiment_id
  FROM by_assigned_variation
), logged_variation AS (
  /* one deduped row per (experiment, unit, variation): a count of rows counts distinct units */
  SELECT
    experiment_id,
    variation_id,
    COUNT(*) AS logged_units
  FROM int_experiment_exposures_deduped
  GROUP BY
    experiment_id,
    variation_id
), by_logged_variation AS (
  /* the experiments with assignments only, kept after the count: the join then meets one row */
  /* per (experiment, variation) instead of every deduped row (DuckDB does not move it there) */
  SELECT
    l.experiment_id,
    l.variation_id,
    l.logged_units
  FROM logged_variation AS l
  INNER JOIN assigned_experiments AS e
    ON l.experiment_id = e.experiment_id
)
SELECT
  CAST(COALESCE(a.experiment_id, l.experiment_id) AS STRING) AS experiment_id,
  CAST(COALESCE(a.variation_id, l.variation_id) AS STRING) AS variation_id,
  CAST(COALESCE(a.assigned_units, 0) AS BIGINT) AS assigned_units,
  CAST(COALESCE(l.logged_units, 0) AS BIGINT) AS logged_units,
  CAST(COALESCE(a.exposed_units, 0) AS BIGINT) AS exposed_units,
  CAST(COALESCE(a.valid_exposed_units, 0) AS BIGINT) AS valid_exposed_units
FROM by_assigned_variation AS a
FULL OUTER JOIN by_logged_variation AS l
  ON a.experiment_id = l.experiment_id AND a.variation_id = l.variation_id
