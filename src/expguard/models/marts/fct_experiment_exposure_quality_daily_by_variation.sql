-- fct_experiment_exposure_quality_daily_by_variation
-- Not null: experiment_id, date, assigned_variation_id, assigned_units, exposed_units,
-- Not null: valid_exposed_units, no_exposure_units, multi_variation_exposure_units, variation_mismatch_units,
-- Not null: pre_assignment_exposure_units, exposure_outside_window_units, mismatched_units, exposure_events,
-- Not null: duplicate_exposure_events, is_window_complete, valid_exposed_within_horizon_units, is_horizon_complete
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: one row per (experiment_id, date, assigned_variation_id); date is the assignment date
-- (the daily cohort). Assigned units only: unassigned exposures have no assigned variation.
-- Purpose: the assigned-unit counts and rates of fct_experiment_exposure_quality_daily, split
-- by assigned variation (summed over variations they equal the daily model's), plus the valid
-- exposures that came within a fixed horizon after assignment, which the alerts compare
-- like with like across cohorts of different ages.
-- Reads: int_experiment_exposure_validation, stg_experiment_exposures.
-- Variables: exp_exposure_max_days_after_assignment, exp_alert_horizon_days.
-- data_through is the latest exposed_at over all staging rows (rejected ones included).
with

cohorts as (
    select
        experiment_id,
        assignment_date as date,
        assigned_variation_id,
        count(*) as assigned_units,
        count(case when is_exposed then 1 end) as exposed_units,
        count(case when is_valid_exposure then 1 end) as valid_exposed_units,
        count(case when exposure_status = 'no_exposure' then 1 end) as no_exposure_units,
        count(case when exposure_status = 'multi_variation_exposure' then 1 end) as multi_variation_exposure_units,
        count(case when exposure_status = 'variation_mismatch' then 1 end) as variation_mismatch_units,
        count(case when exposure_status = 'pre_assignment_exposure' then 1 end) as pre_assignment_exposure_units,
        count(case when exposure_status = 'exposure_outside_window' then 1 end) as exposure_outside_window_units,
        count(case when has_variation_mismatch then 1 end) as mismatched_units,
        sum(exposure_event_count) as exposure_events,
        sum(exposure_event_count) - sum(exposed_variation_count) as duplicate_exposure_events,
        count(
            case
                when is_valid_exposure
                    and first_valid_exposure_at <= assigned_at + interval :exp_alert_horizon_days day
                    then 1
            end
        ) as valid_exposed_within_horizon_units
    from int_experiment_exposure_validation
    group by experiment_id, assignment_date, assigned_variation_id
),

data_through as (
    select max(exposed_at) as data_through from stg_experiment_exposures
)

select
    cast(c.experiment_id as varchar) as experiment_id,
    cast(c.date as date) as date,
    cast(c.assigned_variation_id as varchar) as assigned_variation_id,
    cast(c.assigned_units as bigint) as assigned_units,
    cast(c.exposed_units as bigint) as exposed_units,
    cast(c.valid_exposed_units as bigint) as valid_exposed_units,
    cast(c.no_exposure_units as bigint) as no_exposure_units,
    cast(c.multi_variation_exposure_units as bigint) as multi_variation_exposure_units,
    cast(c.variation_mismatch_units as bigint) as variation_mismatch_units,
    cast(c.pre_assignment_exposure_units as bigint) as pre_assignment_exposure_units,
    cast(c.exposure_outside_window_units as bigint) as exposure_outside_window_units,
    cast(c.mismatched_units as bigint) as mismatched_units,
    cast(c.exposure_events as bigint) as exposure_events,
    cast(c.duplicate_exposure_events as bigint) as duplicate_exposure_events,
    cast(c.valid_exposed_units as double) / c.assigned_units as exposure_rate,
    case when c.exposed_units > 0
        then cast(c.mismatched_units as double) / c.exposed_units end as mismatch_rate,
    case when c.exposed_units > 0
        then cast(c.multi_variation_exposure_units as double) / c.exposed_units end as multi_variation_rate,
    cast(c.no_exposure_units as double) / c.assigned_units as no_exposure_rate,
    cast(c.pre_assignment_exposure_units as double) / c.assigned_units as pre_assignment_exposure_rate,
    cast(c.exposure_outside_window_units as double) / c.assigned_units as exposure_outside_window_rate,
    coalesce(
        cast(c.date as timestamp)
            + interval 1 day
            + interval :exp_exposure_max_days_after_assignment day
            <= t.data_through,
        false
    ) as is_window_complete,
    cast(c.valid_exposed_within_horizon_units as bigint) as valid_exposed_within_horizon_units,
    cast(c.valid_exposed_within_horizon_units as double) / c.assigned_units as exposure_rate_within_horizon,
    coalesce(
        cast(c.date as timestamp)
            + interval 1 day
            + interval :exp_alert_horizon_days day
            <= t.data_through,
        false
    ) as is_horizon_complete
from cohorts as c
cross join data_through as t
