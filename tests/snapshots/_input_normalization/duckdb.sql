SELECT
  CASE WHEN JSON_VALID(properties) THEN properties ->> '$.experiment_id' END AS experiment_id,
  CASE WHEN JSON_VALID(properties) THEN properties ->> '$.variation_id' END AS variation_id,
  CAST(TRY_CAST(ts_string AS TIMESTAMPTZ) AS TIMESTAMP) AS event_ts_from_string,
  CASE
    WHEN ABS(ts_integer) < 100000000000
    THEN CAST(TO_TIMESTAMP(ts_integer) AS TIMESTAMP)
    WHEN ABS(ts_integer) < 100000000000000
    THEN EPOCH_MS(ts_integer)
    ELSE MAKE_TIMESTAMP(ts_integer)
  END AS event_ts_from_integer,
  CAST(TO_TIMESTAMP(ts_float) AS TIMESTAMP) AS event_ts_from_float,
  CAST(ts_timestamptz AS TIMESTAMP) AS event_ts_from_timestamptz,
  CAST(ts_timestamp AS TIMESTAMP) AS event_ts_from_timestamp,
  CAST(ts_date AS TIMESTAMP) AS event_ts_from_date
FROM expguard_raw_events
