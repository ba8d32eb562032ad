-- exposure_events_daily (a report query, not a model)
-- Grain: one row per (experiment_id, exposure_date).
-- Purpose: the deduped exposures (one per unit and variation) whose first event came that UTC
-- day, to set beside the day's raw and rejected events of int_experiment_exposure_rejections_daily.
-- Reads: int_experiment_exposures_deduped. Variables: none.
select
    experiment_id,
    cast(exposed_at as date) as exposure_date,
    count(*) as deduped_exposures
from int_experiment_exposures_deduped
group by experiment_id, cast(exposed_at as date)
