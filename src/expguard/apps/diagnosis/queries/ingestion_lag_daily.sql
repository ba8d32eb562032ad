-- ingestion_lag_daily (a diagnose query, not a model)
-- Grain: one row per event_date (UTC date of event_ts) of fct_events.
-- Purpose: how long events took to reach the warehouse, per day: the median and 95th percentile
-- of ingested_at - event_ts in seconds (approximate quantiles: DuckDB's approx_quantile, Spark's
-- percentile_approx). Run only when the column mapping maps the optional ingested_at column.
-- Reads: fct_events (event_ts, ingested_at). Variables: none.
select
    cast(event_ts as date) as event_date,
    cast(count(*) as bigint) as events,
    cast(count(ingested_at) as bigint) as ingested_events,
    cast(approx_quantile(date_diff('second', event_ts, ingested_at), 0.5) as double) as lag_p50_seconds,
    cast(approx_quantile(date_diff('second', event_ts, ingested_at), 0.95) as double) as lag_p95_seconds
from fct_events
where event_ts is not null
group by cast(event_ts as date)
