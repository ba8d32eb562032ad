/* int_experiment_exposure_rejections_daily */
/* Not null: exposure_events, rejected_exposure_events, missing_experiment_id_events, */
/* Not null: missing_unit_id_events, missing_variation_id_events, missing_timestamp_events */
/*   (written REQUIRED in Parquet on every engine; every other column OPTIONAL) */
/* Grain: one row per (experiment_id, exposure_date) of stg_experiment_exposures. experiment_id */
/* is null for the events whose experiment could not be read (missing_experiment_id), and */
/* exposure_date is null for the events without a timestamp. */
/* Purpose: how many exposure events of each day were rejected as malformed, for the */
/* rejected_exposure_spike alert (counted on the UTC date of the event, not on a cohort), and */
/* the newest event time of each group, from which int_experiment_health_facts takes each */
/* experiment's last event time without a pass of its own over the staged events. */
/* Reads: stg_experiment_exposures. Variables: none. */
WITH events AS (
  /* one count per (experiment, day, reason) in the pass over the staged events; the reasons */
  /* are spread into columns on these few groups, not tested on every event */
  SELECT
    experiment_id,
    exposure_date,
    reject_reason,
    COUNT(*) AS event_count,
    MAX(exposed_at) AS last_event_at
  FROM stg_experiment_exposures
  GROUP BY
    experiment_id,
    exposure_date,
    reject_reason
)
SELECT
  CAST(experiment_id AS STRING) AS experiment_id,
  CAST(exposure_date AS DATE) AS exposure_date,
  CAST(SUM(event_count) AS BIGINT) AS exposure_events,
  CAST(COALESCE(SUM(CASE WHEN NOT reject_reason IS NULL THEN event_count END), 0) AS BIGINT) AS rejected_exposure_events,
  CAST(COALESCE(SUM(CASE WHEN reject_reason = 'missing_experiment_id' THEN event_count END), 0) AS BIGINT) AS missing_experiment_id_events,
  CAST(COALESCE(SUM(CASE WHEN reject_reason = 'missing_unit_id' THEN event_count END), 0) AS BIGINT) AS missing_unit_id_events,
  CAST(COALESCE(SUM(CASE WHEN reject_reason = 'missing_variation_id' THEN event_count END), 0) AS BIGINT) AS missing_variation_id_events,
  CAST(COALESCE(SUM(CASE WHEN reject_reason = 'missing_timestamp' THEN event_count END), 0) AS BIGINT) AS missing_timestamp_events,
  CAST(MAX(last_event_at) AS TIMESTAMP_NTZ) AS last_exposure_event_at
FROM events
GROUP BY
  experiment_id,
  exposure_date
