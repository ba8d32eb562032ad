-- int_experiment_exposures_deduped
-- Not null: experiment_id, unit_id, variation_id, exposed_at, last_exposed_at, exposure_event_count
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: one row per (experiment_id, unit_id, variation_id).
-- Purpose: keep the earliest usable exposure; count the events collapsed into it.
-- Reads: stg_experiment_exposures. Variables: none.
-- Order: exposed_at asc, then event_id asc nulls last, so every engine keeps the same row.
-- The kept event is the minimum of a struct (exposed_at, event_id is null, event_id):
-- unlike arg_min, it never skips a null event_id, and it needs no sort.
with

usable as (
    select
        experiment_id,
        unit_id,
        variation_id,
        event_id,
        exposed_at
    from stg_experiment_exposures
    where reject_reason is null
),

collapsed as (
    select
        experiment_id,
        unit_id,
        variation_id,
        min({
            'exposed_at': exposed_at,
            'event_id_is_null': event_id is null,
            'event_id': event_id
        }) as kept,
        max(exposed_at) as last_exposed_at,
        count(*) as exposure_event_count
    from usable
    group by experiment_id, unit_id, variation_id
)

select
    cast(experiment_id as varchar) as experiment_id,
    cast(unit_id as varchar) as unit_id,
    cast(variation_id as varchar) as variation_id,
    cast(kept.event_id as varchar) as event_id,
    cast(kept.exposed_at as timestamp) as exposed_at,
    cast(last_exposed_at as timestamp) as last_exposed_at,
    cast(exposure_event_count as bigint) as exposure_event_count
from collapsed
