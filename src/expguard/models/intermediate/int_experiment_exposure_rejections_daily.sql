-- int_experiment_exposure_rejections_daily
-- Not null: exposure_events, rejected_exposure_events, missing_experiment_id_events,
-- Not null: missing_unit_id_events, missing_variation_id_events, missing_timestamp_events
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: one row per (experiment_id, exposure_date) of stg_experiment_exposures. experiment_id
-- is null for the events whose experiment could not be read (missing_experiment_id), and
-- exposure_date is null for the events without a timestamp.
-- Purpose: how many exposure events of each day were rejected as malformed, for the
-- rejected_exposure_spike alert (counted on the UTC date of the event, not on a cohort).
-- Reads: stg_experiment_exposures. Variables: none.
with

events as (
    select
        experiment_id,
        exposure_date,
        reject_reason
    from stg_experiment_exposures
)

select
    cast(experiment_id as varchar) as experiment_id,
    cast(exposure_date as date) as exposure_date,
    cast(count(*) as bigint) as exposure_events,
    cast(count(reject_reason) as bigint) as rejected_exposure_events,
    cast(count(case when reject_reason = 'missing_experiment_id' then 1 end) as bigint) as missing_experiment_id_events,
    cast(count(case when reject_reason = 'missing_unit_id' then 1 end) as bigint) as missing_unit_id_events,
    cast(count(case when reject_reason = 'missing_variation_id' then 1 end) as bigint) as missing_variation_id_events,
    cast(count(case when reject_reason = 'missing_timestamp' then 1 end) as bigint) as missing_timestamp_events
from events
group by experiment_id, exposure_date
