SELECT
  CASE WHEN JSON_VALID(properties) THEN properties ->> '$.experiment_id' END AS experiment_id,
  CASE WHEN JSON_VALID(properties) THEN properties ->> '$.variation_id' END AS variation_id,
  CASE
    WHEN REGEXP_MATCHES(TRIM(ts_string), '^-?[0-9]{1,18}$')
    THEN CASE
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS BIGINT)) < 100000000000
      THEN CAST(TO_TIMESTAMP(TRY_CAST(TRIM(ts_string) AS BIGINT)) AS TIMESTAMP)
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS BIGINT)) < 100000000000000
      THEN EPOCH_MS(TRY_CAST(TRIM(ts_string) AS BIGINT))
      ELSE MAKE_TIMESTAMP(TRY_CAST(TRIM(ts_string) AS BIGINT))
    END
    WHEN REGEXP_MATCHES(TRIM(ts_string), '^-?[0-9]{1,18}\.[0-9]+$')
    THEN CASE
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS DOUBLE)) < 100000000000
      THEN CAST(TO_TIMESTAMP(TRY_CAST(TRIM(ts_string) AS DOUBLE)) AS TIMESTAMP)
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS DOUBLE)) < 100000000000000
      THEN MAKE_TIMESTAMP(CAST(ROUND(TRY_CAST(TRIM(ts_string) AS DOUBLE) * 1000) AS BIGINT))
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS DOUBLE)) < 1000000000000000000
      THEN MAKE_TIMESTAMP(CAST(ROUND(TRY_CAST(TRIM(ts_string) AS DOUBLE)) AS BIGINT))
    END
    ELSE CAST(TRY_CAST(ts_string AS TIMESTAMPTZ) AS TIMESTAMP)
  END AS event_ts_from_string,
  CASE
    WHEN ABS(CAST(ts_integer AS BIGINT)) < 100000000000
    THEN CAST(TO_TIMESTAMP(CAST(ts_integer AS BIGINT)) AS TIMESTAMP)
    WHEN ABS(CAST(ts_integer AS BIGINT)) < 100000000000000
    THEN EPOCH_MS(CAST(ts_integer AS BIGINT))
    ELSE MAKE_TIMESTAMP(CAST(ts_integer AS BIGINT))
  END AS event_ts_from_integer,
  CASE
    WHEN ABS(ts_float) < 100000000000
    THEN CAST(TO_TIMESTAMP(ts_float) AS TIMESTAMP)
    WHEN ABS(ts_float) < 100000000000000
    THEN MAKE_TIMESTAMP(CAST(ROUND(ts_float * 1000) AS BIGINT))
    WHEN ABS(ts_float) < 1000000000000000000
    THEN MAKE_TIMESTAMP(CAST(ROUND(ts_float) AS BIGINT))
  END AS event_ts_from_float,
  COALESCE(MAKE_TIMESTAMP(EPOCH_US(ts_timestamptz)), CAST(ts_timestamptz AS TIMESTAMP)) AS event_ts_from_timestamptz,
  CAST(ts_timestamp AS TIMESTAMP) AS event_ts_from_timestamp,
  CAST(ts_date AS TIMESTAMP) AS event_ts_from_date
FROM expguard_raw_events
