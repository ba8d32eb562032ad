/* int_experiment_exposures_deduped */
/* Not null: experiment_id, unit_id, variation_id, exposed_at, last_exposed_at, exposure_event_count */
/*   (written REQUIRED in Parquet on every engine; every other column OPTIONAL) */
/* Grain: one row per (experiment_id, unit_id, variation_id). */
/* Purpose: keep the earliest usable exposure; count the events collapsed into it. */
/* Reads: stg_experiment_exposures. Variables: none. */
/* Order: exposed_at asc, then event_id asc nulls last, so every engine keeps the same row. */
/* The kept event is the minimum of a struct (exposed_at, event_id is null, event_id): */
/* unlike arg_min, it never skips a null event_id, and it needs no sort. */
WITH usable AS (
  SELECT
    experiment_id,
    unit_id,
    variation_id,
    event_id,
    exposed_at
  FROM stg_experiment_exposures
  WHERE
    reject_reason IS NULL
), collapsed AS (
  SELECT
    experiment_id,
    unit_id,
    variation_id,
    MIN(
      {'exposed_at': exposed_at, 'event_id_is_null': event_id IS NULL, 'event_id': event_id}
    ) AS kept,
    MAX(exposed_at) AS last_exposed_at,
    COUNT(*) AS exposure_event_count
  FROM usable
  GROUP BY
    experiment_id,
    unit_id,
    variation_id
)
SELECT
  CAST(experiment_id AS TEXT) AS experiment_id,
  CAST(unit_id AS TEXT) AS unit_id,
  CAST(variation_id AS TEXT) AS variation_id,
  CAST(kept.event_id AS TEXT) AS event_id,
  CAST(kept.exposed_at AS TIMESTAMP) AS exposed_at,
  CAST(last_exposed_at AS TIMESTAMP) AS last_exposed_at,
  CAST(exposure_event_count AS BIGINT) AS exposure_event_count
FROM collapsed
