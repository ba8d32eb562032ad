/* int_experiment_health_facts */
/* Not null: assigned_units, exposure_events, rejected_exposure_events */
/* Grain: one row per experiment_id seen in the assignments or in the staged exposure events */
/* (rejected ones included), plus one stream-wide row whose experiment_id is null. */
/* Purpose: the few per-experiment facts the health checks (fct_experiment_health) need that the */
/* daily models do not keep: when the newest assignment and the newest exposure event came, and */
/* how many exposure events carry the experiment's id at all. */
/* Reads: int_experiment_exposure_validation, int_experiment_exposure_rejections_daily. */
/* Variables: none. */
/* The stream-wide row counts every staged exposure event: exposure_events is all of them, */
/* rejected_exposure_events those rejected, last_exposure_event_at the newest event time */
/* (data_through of the daily models), and assigned_units every assignment. The event counts */
/* and times come from the rejections model, which counts every staged event once per */
/* (experiment, day, reason): summed per experiment, they are the staged events' own. */
WITH assigned AS (
  SELECT
    experiment_id,
    COUNT(*) AS assigned_units,
    MIN(assigned_at) AS first_assigned_at,
    MAX(assigned_at) AS last_assigned_at
  FROM int_experiment_exposure_validation
  GROUP BY
    experiment_id
), staged_all AS (
  /* per experiment, the events without one in a null group, and the stream-wide row summed */
  /* from these groups below (a few rows per experiment and day, not a pass over the events) */
  SELECT
    experiment_id,
    SUM(exposure_events) AS exposure_events,
    SUM(rejected_exposure_events) AS rejected_exposure_events,
    MAX(last_exposure_event_at) AS last_exposure_event_at
  FROM int_experiment_exposure_rejections_daily
  GROUP BY
    experiment_id
), staged AS (
  SELECT
    experiment_id,
    exposure_events,
    rejected_exposure_events,
    last_exposure_event_at
  FROM staged_all
  WHERE
    NOT experiment_id IS NULL
), per_experiment AS (
  SELECT
    COALESCE(a.experiment_id, s.experiment_id) AS experiment_id,
    COALESCE(a.assigned_units, 0) AS assigned_units,
    a.first_assigned_at,
    a.last_assigned_at,
    COALESCE(s.exposure_events, 0) AS exposure_events,
    COALESCE(s.rejected_exposure_events, 0) AS rejected_exposure_events,
    s.last_exposure_event_at
  FROM assigned AS a
  FULL OUTER JOIN staged AS s
    ON a.experiment_id = s.experiment_id
), stream_events AS (
  SELECT
    COALESCE(SUM(exposure_events), 0) AS exposure_events,
    COALESCE(SUM(rejected_exposure_events), 0) AS rejected_exposure_events,
    MAX(last_exposure_event_at) AS last_exposure_event_at
  FROM staged_all
), stream_assignments AS (
  SELECT
    SUM(assigned_units) AS assigned_units,
    MIN(first_assigned_at) AS first_assigned_at,
    MAX(last_assigned_at) AS last_assigned_at
  FROM assigned
), stream AS (
  SELECT
    CAST(NULL AS STRING) AS experiment_id,
    COALESCE(sa.assigned_units, 0) AS assigned_units,
    sa.first_assigned_at,
    sa.last_assigned_at,
    se.exposure_events,
    se.rejected_exposure_events,
    se.last_exposure_event_at
  FROM stream_events AS se
  CROSS JOIN stream_assignments AS sa
), facts AS (
  SELECT
    *
  FROM per_experiment
  UNION ALL
  SELECT
    *
  FROM stream
)
SELECT
  CAST(experiment_id AS STRING) AS experiment_id,
  CAST(assigned_units AS BIGINT) AS assigned_units,
  CAST(first_assigned_at AS TIMESTAMP_NTZ) AS first_assigned_at,
  CAST(last_assigned_at AS TIMESTAMP_NTZ) AS last_assigned_at,
  CAST(exposure_events AS BIGINT) AS exposure_events,
  CAST(rejected_exposure_events AS BIGINT) AS rejected_exposure_events,
  CAST(last_exposure_event_at AS TIMESTAMP_NTZ) AS last_exposure_event_at
FROM facts
