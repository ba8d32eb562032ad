-- exposure_timing_daily (a diagnose query, not a model)
-- Grain: one row per assignment_date (cohort) of the diagnosed experiment.
-- Purpose: how long after assignment the cohort's units were first exposed: the 5th, 50th and
-- 95th percentiles of first_exposure_at - assigned_at in seconds (negative: before assignment;
-- approximate quantiles). A clock skew moves them below zero, late exposures far above.
-- Reads: int_experiment_exposure_validation. Variables: :experiment_id.
select
    assignment_date,
    cast(count(first_exposure_at) as bigint) as exposed_units,
    cast(approx_quantile(date_diff('second', assigned_at, first_exposure_at), 0.05) as double)
        as first_exposure_p05_seconds,
    cast(approx_quantile(date_diff('second', assigned_at, first_exposure_at), 0.5) as double)
        as first_exposure_p50_seconds,
    cast(approx_quantile(date_diff('second', assigned_at, first_exposure_at), 0.95) as double)
        as first_exposure_p95_seconds
from int_experiment_exposure_validation
where experiment_id = :experiment_id
group by assignment_date
