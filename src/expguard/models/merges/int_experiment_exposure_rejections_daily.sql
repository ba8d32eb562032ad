-- int_experiment_exposure_rejections_daily: its merge (not a model: how `expguard run --incremental`
-- updates the model from the new staged events alone, when it updates an output database in place)
-- Reads: int_experiment_exposure_rejections_daily, rows of two kinds for the same keys: the model's
--   rows before the run, and the model's own SQL run on the new staged events alone. Variables: none.
-- Grain: one row per (experiment_id, exposure_date), the model's; either key may be null, and the
--   nulls of a key group together, as they do in the model's own GROUP BY.
-- The staging model only ever gains rows in an incremental run (a changed or missing event file
-- forces a full build), so every count of a group is its count before plus its count in the new
-- events, and its newest event time the later of the two. tests/incremental/test_merges.py
-- checks, on every engine, that the merge of the model on two parts of the staged events is the
-- model on all of them.
select
    cast(experiment_id as varchar) as experiment_id,
    cast(exposure_date as date) as exposure_date,
    cast(sum(exposure_events) as bigint) as exposure_events,
    cast(sum(rejected_exposure_events) as bigint) as rejected_exposure_events,
    cast(sum(missing_experiment_id_events) as bigint) as missing_experiment_id_events,
    cast(sum(missing_unit_id_events) as bigint) as missing_unit_id_events,
    cast(sum(missing_variation_id_events) as bigint) as missing_variation_id_events,
    cast(sum(missing_timestamp_events) as bigint) as missing_timestamp_events,
    cast(max(last_exposure_event_at) as timestamp) as last_exposure_event_at
from int_experiment_exposure_rejections_daily
group by experiment_id, exposure_date
