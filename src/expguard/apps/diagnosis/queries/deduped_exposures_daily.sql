-- deduped_exposures_daily (a diagnose query, not a model)
-- Grain: one row per (exposure_date, variation_id) of the diagnosed experiment's deduped exposures;
-- exposure_date is the UTC date of the kept (earliest) event.
-- Purpose: deduped exposures per day, and the events collapsed into them: events per deduped
-- exposure rising is double-firing.
-- Reads: int_experiment_exposures_deduped. Variables: :experiment_id.
select
    cast(exposed_at as date) as exposure_date,
    cast(variation_id as varchar) as variation_id,
    cast(count(*) as bigint) as deduped_exposures,
    cast(sum(exposure_event_count) as bigint) as exposure_events
from int_experiment_exposures_deduped
where experiment_id = :experiment_id
group by cast(exposed_at as date), cast(variation_id as varchar)
