-- fct_experiment_exposure_quality_daily
-- Not null: experiment_id, date, assigned_units, exposed_units, valid_exposed_units,
-- Not null: no_exposure_units, multi_variation_exposure_units, variation_mismatch_units, pre_assignment_exposure_units,
-- Not null: exposure_outside_window_units, mismatched_units, exposure_events, duplicate_exposure_events,
-- Not null: unassigned_exposed_units, is_window_complete
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: one row per (experiment_id, date); date is the assignment date (the daily cohort)
-- for assigned units, and the date of the first exposure for unassigned exposed units.
-- Purpose: daily exposure-quality metrics per experiment, to catch tracking regressions early.
-- Reads: fct_experiment_exposure_quality_daily_by_variation, int_experiment_exposures_deduped,
--        fct_experiment_assignments, stg_experiment_exposures.
-- Variables: exp_exposure_max_days_after_assignment.
-- data_through is the latest exposed_at over all staging rows (rejected ones included).
with

cohorts as (
    -- The assigned-unit counts are the by-variation model's, summed over variations: one
    -- definition of each count, and the two models agree by construction.
    select
        experiment_id,
        date,
        sum(assigned_units) as assigned_units,
        sum(exposed_units) as exposed_units,
        sum(valid_exposed_units) as valid_exposed_units,
        sum(no_exposure_units) as no_exposure_units,
        sum(multi_variation_exposure_units) as multi_variation_exposure_units,
        sum(variation_mismatch_units) as variation_mismatch_units,
        sum(pre_assignment_exposure_units) as pre_assignment_exposure_units,
        sum(exposure_outside_window_units) as exposure_outside_window_units,
        sum(mismatched_units) as mismatched_units,
        sum(exposure_events) as exposure_events,
        sum(duplicate_exposure_events) as duplicate_exposure_events
    from fct_experiment_exposure_quality_daily_by_variation
    group by experiment_id, date
),

unassigned_units as (
    select
        d.experiment_id,
        d.unit_id,
        min(d.exposed_at) as first_exposed_at
    from int_experiment_exposures_deduped as d
    left join fct_experiment_assignments as a
        on d.experiment_id = a.experiment_id
        and d.unit_id = a.unit_id
    where a.unit_id is null
    group by d.experiment_id, d.unit_id
),

unassigned as (
    select
        experiment_id,
        cast(first_exposed_at as date) as date,
        count(*) as unassigned_exposed_units
    from unassigned_units
    group by experiment_id, cast(first_exposed_at as date)
),

data_through as (
    select max(exposed_at) as data_through from stg_experiment_exposures
),

combined as (
    select
        coalesce(c.experiment_id, u.experiment_id) as experiment_id,
        coalesce(c.date, u.date) as date,
        coalesce(c.assigned_units, 0) as assigned_units,
        coalesce(c.exposed_units, 0) as exposed_units,
        coalesce(c.valid_exposed_units, 0) as valid_exposed_units,
        coalesce(c.no_exposure_units, 0) as no_exposure_units,
        coalesce(c.multi_variation_exposure_units, 0) as multi_variation_exposure_units,
        coalesce(c.variation_mismatch_units, 0) as variation_mismatch_units,
        coalesce(c.pre_assignment_exposure_units, 0) as pre_assignment_exposure_units,
        coalesce(c.exposure_outside_window_units, 0) as exposure_outside_window_units,
        coalesce(c.mismatched_units, 0) as mismatched_units,
        coalesce(c.exposure_events, 0) as exposure_events,
        coalesce(c.duplicate_exposure_events, 0) as duplicate_exposure_events,
        coalesce(u.unassigned_exposed_units, 0) as unassigned_exposed_units
    from cohorts as c
    full outer join unassigned as u
        on c.experiment_id = u.experiment_id
        and c.date = u.date
)

select
    cast(m.experiment_id as varchar) as experiment_id,
    cast(m.date as date) as date,
    cast(m.assigned_units as bigint) as assigned_units,
    cast(m.exposed_units as bigint) as exposed_units,
    cast(m.valid_exposed_units as bigint) as valid_exposed_units,
    cast(m.no_exposure_units as bigint) as no_exposure_units,
    cast(m.multi_variation_exposure_units as bigint) as multi_variation_exposure_units,
    cast(m.variation_mismatch_units as bigint) as variation_mismatch_units,
    cast(m.pre_assignment_exposure_units as bigint) as pre_assignment_exposure_units,
    cast(m.exposure_outside_window_units as bigint) as exposure_outside_window_units,
    cast(m.mismatched_units as bigint) as mismatched_units,
    cast(m.exposure_events as bigint) as exposure_events,
    cast(m.duplicate_exposure_events as bigint) as duplicate_exposure_events,
    cast(m.unassigned_exposed_units as bigint) as unassigned_exposed_units,
    case when m.assigned_units > 0
        then cast(m.valid_exposed_units as double) / m.assigned_units end as exposure_rate,
    case when m.exposed_units > 0
        then cast(m.mismatched_units as double) / m.exposed_units end as mismatch_rate,
    case when m.exposed_units > 0
        then cast(m.multi_variation_exposure_units as double) / m.exposed_units end as multi_variation_rate,
    case when m.assigned_units > 0
        then cast(m.no_exposure_units as double) / m.assigned_units end as no_exposure_rate,
    case when m.assigned_units > 0
        then cast(m.pre_assignment_exposure_units as double) / m.assigned_units end as pre_assignment_exposure_rate,
    case when m.assigned_units > 0
        then cast(m.exposure_outside_window_units as double) / m.assigned_units end as exposure_outside_window_rate,
    coalesce(
        cast(m.date as timestamp)
            + interval 1 day
            + interval :exp_exposure_max_days_after_assignment day
            <= t.data_through,
        false
    ) as is_window_complete
from combined as m
cross join data_through as t
