-- int_experiment_exposure_rejections_daily
-- Not null: exposure_events, rejected_exposure_events, missing_experiment_id_events,
-- Not null: missing_unit_id_events, missing_variation_id_events, missing_timestamp_events
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: one row per (experiment_id, exposure_date) of stg_experiment_exposures. experiment_id
-- is null for the events whose experiment could not be read (missing_experiment_id), and
-- exposure_date is null for the events without a timestamp.
-- Purpose: how many exposure events of each day were rejected as malformed, for the
-- rejected_exposure_spike alert (counted on the UTC date of the event, not on a cohort), and
-- the newest event time of each group, from which int_experiment_health_facts takes each
-- experiment's last event time without a pass of its own over the staged events.
-- Reads: stg_experiment_exposures. Variables: none.
with

events as (
    -- one count per (experiment, day, reason) in the pass over the staged events; the reasons
    -- are spread into columns on these few groups, not tested on every event
    select
        experiment_id,
        exposure_date,
        reject_reason,
        count(*) as event_count,
        max(exposed_at) as last_event_at
    from stg_experiment_exposures
    group by experiment_id, exposure_date, reject_reason
)

select
    cast(experiment_id as varchar) as experiment_id,
    cast(exposure_date as date) as exposure_date,
    cast(sum(event_count) as bigint) as exposure_events,
    cast(coalesce(sum(case when reject_reason is not null then event_count end), 0) as bigint)
        as rejected_exposure_events,
    cast(coalesce(sum(case when reject_reason = 'missing_experiment_id' then event_count end), 0) as bigint)
        as missing_experiment_id_events,
    cast(coalesce(sum(case when reject_reason = 'missing_unit_id' then event_count end), 0) as bigint)
        as missing_unit_id_events,
    cast(coalesce(sum(case when reject_reason = 'missing_variation_id' then event_count end), 0) as bigint)
        as missing_variation_id_events,
    cast(coalesce(sum(case when reject_reason = 'missing_timestamp' then event_count end), 0) as bigint)
        as missing_timestamp_events,
    cast(max(last_event_at) as timestamp) as last_exposure_event_at
from events
group by experiment_id, exposure_date
