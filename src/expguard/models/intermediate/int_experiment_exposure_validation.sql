-- int_experiment_exposure_validation
-- Not null: experiment_id, unit_id, assigned_variation_id, assigned_at, assignment_date,
-- Not null: exposed_variation_count, is_exposed, has_pre_assignment_exposure, has_exposure_outside_window,
-- Not null: has_variation_mismatch, is_multi_variation, exposure_status, is_valid_exposure, exposure_event_count
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: exactly one row per row of fct_experiment_assignments (experiment_id, unit_id).
-- Purpose: judge each assigned unit's exposures for timing and variation integrity.
-- Reads: fct_experiment_assignments, int_experiment_exposures_deduped.
-- Variables: exp_allow_pre_assignment_exposure_grace_minutes, exp_exposure_max_days_after_assignment.
-- A unit's exposures are its deduped rows (all variations, all times); timing is judged on
-- the first exposure of each variation. Both window bounds are inclusive.
with

assignments as (
    select
        experiment_id,
        unit_id,
        variation_id as assigned_variation_id,
        assigned_at,
        assigned_at - interval :exp_allow_pre_assignment_exposure_grace_minutes minute as window_start,
        assigned_at + interval :exp_exposure_max_days_after_assignment day as window_end
    from fct_experiment_assignments
),

exposures as (
    select
        experiment_id,
        unit_id,
        variation_id,
        exposed_at,
        exposure_event_count
    from int_experiment_exposures_deduped
),

assignment_exposures as (
    select
        a.experiment_id,
        a.unit_id,
        a.assigned_variation_id,
        a.assigned_at,
        a.window_start,
        a.window_end,
        e.variation_id,
        e.exposed_at,
        e.exposure_event_count,
        e.exposed_at < a.window_start as is_pre_window,
        e.exposed_at > a.window_end as is_post_window,
        e.variation_id <> a.assigned_variation_id as is_other_variation
    from assignments as a
    left join exposures as e
        on a.experiment_id = e.experiment_id
        and a.unit_id = e.unit_id
),

per_unit as (
    -- One group per (experiment_id, unit_id), the assignment's key (the contract makes it
    -- unique, so min() of the assignment's own columns is that one assignment's value). A
    -- duplicated pair would leave fewer rows than assignments: that is how a run checks the
    -- uniqueness contract without a pass of its own (expguard.contracts).
    select
        experiment_id,
        unit_id,
        min(assigned_variation_id) as assigned_variation_id,
        min(assigned_at) as assigned_at,
        count(variation_id) as exposed_variation_count,
        -- the first exposure, whose time is also first_exposure_at (every deduped row has a time;
        -- a never-exposed unit's one row has neither); ties on exposed_at: the smallest variation_id
        min({'exposed_at': exposed_at, 'variation_id': variation_id}) as first_exposure,
        min(case when not is_pre_window then exposed_at end) as first_post_assignment_exposure_at,
        min(
            case
                when not is_pre_window and not is_post_window and not is_other_variation
                    then exposed_at
            end
        ) as first_valid_exposure_at,
        coalesce(max(case when is_pre_window then 1 else 0 end), 0) = 1 as has_pre_assignment_exposure,
        coalesce(max(case when is_post_window then 1 else 0 end), 0) = 1 as has_exposure_outside_window,
        coalesce(max(case when is_other_variation then 1 else 0 end), 0) = 1 as has_variation_mismatch,
        coalesce(sum(exposure_event_count), 0) as exposure_event_count
    from assignment_exposures
    group by experiment_id, unit_id
),

classified as (
    select
        *,
        case
            when exposed_variation_count = 0 then 'no_exposure'
            when exposed_variation_count > 1 then 'multi_variation_exposure'
            when has_variation_mismatch then 'variation_mismatch'
            when first_post_assignment_exposure_at is null then 'pre_assignment_exposure'
            when first_valid_exposure_at is null then 'exposure_outside_window'
            else 'valid'
        end as exposure_status
    from per_unit
)

select
    cast(experiment_id as varchar) as experiment_id,
    cast(unit_id as varchar) as unit_id,
    cast(assigned_variation_id as varchar) as assigned_variation_id,
    cast(assigned_at as timestamp) as assigned_at,
    cast(assigned_at as date) as assignment_date,
    cast(exposed_variation_count as bigint) as exposed_variation_count,
    cast(first_exposure.exposed_at as timestamp) as first_exposure_at,
    cast(first_exposure.variation_id as varchar) as first_exposure_variation_id,
    cast(first_post_assignment_exposure_at as timestamp) as first_post_assignment_exposure_at,
    cast(first_valid_exposure_at as timestamp) as first_valid_exposure_at,
    exposed_variation_count > 0 as is_exposed,
    has_pre_assignment_exposure,
    has_exposure_outside_window,
    has_variation_mismatch,
    exposed_variation_count > 1 as is_multi_variation,
    cast(exposure_status as varchar) as exposure_status,
    exposure_status = 'valid' as is_valid_exposure,
    cast(exposure_event_count as bigint) as exposure_event_count
from classified
