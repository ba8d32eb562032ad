/* stg_experiment_exposures */
/* Not null: none */
/*   (every column may be null: the model keeps every exposure event, rejected ones too) */
/* Grain: one row per event of fct_events whose event_name is one of the exposure event names. */
/* Purpose: standardize exposure events; label (never drop) the rows that cannot be used. */
/* Reads: fct_events (the canonical, typed view built from the column mapping). */
/* Variables: exp_exposure_event_name (one name or a list, bound as literals). */
/* Trimming removes U+0020 only: trim(x, ' ') means the same on every engine. */
WITH exposure_events AS (
  SELECT
    event_id,
    unit_id,
    event_ts,
    experiment_id,
    variation_id
  FROM fct_events
  WHERE
    event_name IN ('experiment_viewed', 'Experiment Viewed')
), texts AS (
  SELECT
    CAST(event_id AS TEXT) AS event_id,
    CAST(experiment_id AS TEXT) AS experiment_id,
    CAST(unit_id AS TEXT) AS unit_id,
    CAST(variation_id AS TEXT) AS variation_id,
    CAST(event_ts AS TIMESTAMP) AS exposed_at
  FROM exposure_events
), standardized AS (
  /* trim(x, ' ') only for the rare ids that start or end with a space: the same values, for */
  /* a quarter less CPU in this model (a trim with a character list is slow; LIKE is cheap) */
  SELECT
    event_id,
    NULLIF(
      CASE
        WHEN experiment_id LIKE ' %' OR experiment_id LIKE '% '
        THEN TRIM(experiment_id, ' ')
        ELSE experiment_id
      END,
      ''
    ) AS experiment_id,
    NULLIF(
      CASE
        WHEN unit_id LIKE ' %' OR unit_id LIKE '% '
        THEN TRIM(unit_id, ' ')
        ELSE unit_id
      END,
      ''
    ) AS unit_id,
    NULLIF(
      CASE
        WHEN variation_id LIKE ' %' OR variation_id LIKE '% '
        THEN TRIM(variation_id, ' ')
        ELSE variation_id
      END,
      ''
    ) AS variation_id,
    exposed_at
  FROM texts
)
SELECT
  event_id,
  experiment_id,
  unit_id,
  variation_id,
  exposed_at,
  CAST(exposed_at AS DATE) AS exposure_date,
  CAST(CASE
    WHEN experiment_id IS NULL
    THEN 'missing_experiment_id'
    WHEN unit_id IS NULL
    THEN 'missing_unit_id'
    WHEN variation_id IS NULL
    THEN 'missing_variation_id'
    WHEN exposed_at IS NULL
    THEN 'missing_timestamp'
  END AS TEXT) AS reject_reason
FROM standardized
