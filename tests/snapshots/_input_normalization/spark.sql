SELECT
  CASE
    WHEN COALESCE(
      ARRAY_SIZE(
        TRY_VARIANT_GET(TRY_PARSE_JSON('[' || properties || ',0]'), '$', 'array<variant>')
      ) = 2
      AND ARRAY_SIZE(
        TRY_VARIANT_GET(TRY_PARSE_JSON('[0,' || properties || ']'), '$', 'array<variant>')
      ) = 2,
      FALSE
    )
    THEN GET_JSON_OBJECT(properties, '$.experiment_id')
  END AS experiment_id,
  CASE
    WHEN COALESCE(
      ARRAY_SIZE(
        TRY_VARIANT_GET(TRY_PARSE_JSON('[' || properties || ',0]'), '$', 'array<variant>')
      ) = 2
      AND ARRAY_SIZE(
        TRY_VARIANT_GET(TRY_PARSE_JSON('[0,' || properties || ']'), '$', 'array<variant>')
      ) = 2,
      FALSE
    )
    THEN GET_JSON_OBJECT(properties, '$.variation_id')
  END AS variation_id,
  CASE
    WHEN TRIM(ts_string) RLIKE '^-?[0-9]{1,18}$'
    THEN CASE
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS BIGINT)) < 100000000000
      THEN CAST(CAST(TIMESTAMP_MICROS(
        CAST(RINT(CAST(TRY_CAST(TRIM(ts_string) AS BIGINT) AS DOUBLE) * 1000000) AS BIGINT)
      ) AS TIMESTAMP_NTZ) AS TIMESTAMP_NTZ)
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS BIGINT)) < 100000000000000
      THEN CAST(TIMESTAMP_MILLIS(TRY_CAST(TRIM(ts_string) AS BIGINT)) AS TIMESTAMP_NTZ)
      ELSE CAST(TIMESTAMP_MICROS(TRY_CAST(TRIM(ts_string) AS BIGINT)) AS TIMESTAMP_NTZ)
    END
    WHEN TRIM(ts_string) RLIKE '^-?[0-9]{1,18}\\.[0-9]+$'
    THEN CASE
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS DOUBLE)) < 100000000000
      THEN CAST(CAST(TIMESTAMP_MICROS(CAST(RINT(TRY_CAST(TRIM(ts_string) AS DOUBLE) * 1000000) AS BIGINT)) AS TIMESTAMP_NTZ) AS TIMESTAMP_NTZ)
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS DOUBLE)) < 100000000000000
      THEN CAST(TIMESTAMP_MICROS(CAST(ROUND(TRY_CAST(TRIM(ts_string) AS DOUBLE) * 1000) AS BIGINT)) AS TIMESTAMP_NTZ)
      WHEN ABS(TRY_CAST(TRIM(ts_string) AS DOUBLE)) < 1000000000000000000
      THEN CAST(TIMESTAMP_MICROS(CAST(ROUND(TRY_CAST(TRIM(ts_string) AS DOUBLE)) AS BIGINT)) AS TIMESTAMP_NTZ)
    END
    ELSE CAST(CASE
      WHEN ts_string RLIKE '^\\s*[0-9]{4,}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}([.][0-9]*)?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2}(:[0-9]{2})?)?| (?!UT(?![A-Za-z]))[A-Za-z][A-Za-z0-9_/+:-]+)?)? *\\z'
      THEN TRY_CAST(ts_string AS TIMESTAMP)
    END AS TIMESTAMP_NTZ)
  END AS event_ts_from_string,
  CASE
    WHEN ABS(CAST(ts_integer AS BIGINT)) < 100000000000
    THEN CAST(CAST(TIMESTAMP_MICROS(CAST(RINT(CAST(CAST(ts_integer AS BIGINT) AS DOUBLE) * 1000000) AS BIGINT)) AS TIMESTAMP_NTZ) AS TIMESTAMP_NTZ)
    WHEN ABS(CAST(ts_integer AS BIGINT)) < 100000000000000
    THEN CAST(TIMESTAMP_MILLIS(CAST(ts_integer AS BIGINT)) AS TIMESTAMP_NTZ)
    ELSE CAST(TIMESTAMP_MICROS(CAST(ts_integer AS BIGINT)) AS TIMESTAMP_NTZ)
  END AS event_ts_from_integer,
  CASE
    WHEN ABS(ts_float) < 100000000000
    THEN CAST(CAST(TIMESTAMP_MICROS(CAST(RINT(CAST(ts_float AS DOUBLE) * 1000000) AS BIGINT)) AS TIMESTAMP_NTZ) AS TIMESTAMP_NTZ)
    WHEN ABS(ts_float) < 100000000000000
    THEN CAST(TIMESTAMP_MICROS(CAST(ROUND(ts_float * 1000) AS BIGINT)) AS TIMESTAMP_NTZ)
    WHEN ABS(ts_float) < 1000000000000000000
    THEN CAST(TIMESTAMP_MICROS(CAST(ROUND(ts_float) AS BIGINT)) AS TIMESTAMP_NTZ)
  END AS event_ts_from_float,
  CAST(ts_timestamptz AS TIMESTAMP_NTZ) AS event_ts_from_timestamptz,
  CAST(ts_timestamp AS TIMESTAMP_NTZ) AS event_ts_from_timestamp,
  CAST(ts_date AS TIMESTAMP_NTZ) AS event_ts_from_date
FROM expguard_raw_events
