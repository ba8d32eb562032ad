-- int_experiment_exposures_deduped: its merge (not a model: how `expguard run --incremental`
-- updates the model from the new events alone)
-- Reads: int_experiment_exposures_deduped, rows of two kinds for the same keys: the model's rows
--   before the run, and the model's own SQL run on the new events alone. Variables: none.
-- Grain: one row per (experiment_id, unit_id, variation_id), the model's.
-- The model is one aggregate per key whose parts combine: the row it gives on all the events is
-- these rows merged. The kept exposure is the earliest by the model's order (exposed_at asc, then
-- event_id asc nulls last: the minimum of the same struct), the last exposure the latest, the
-- event counts added. tests/incremental/test_merges.py checks, on every engine, that the
-- merge of the model on two halves of the events is the model on all of them.
with

merged as (
    select
        experiment_id,
        unit_id,
        variation_id,
        min({
            'exposed_at': exposed_at,
            'event_id_is_null': event_id is null,
            'event_id': event_id
        }) as kept,
        max(last_exposed_at) as last_exposed_at,
        sum(exposure_event_count) as exposure_event_count
    from int_experiment_exposures_deduped
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
from merged
