-- int_experiment_exposure_srm_counts
-- Not null: experiment_id, variation_id, assigned_units, logged_units, exposed_units, valid_exposed_units
--   (written REQUIRED in Parquet on every engine; every other column OPTIONAL)
-- Grain: one row per (experiment_id, variation_id), for every experiment with assignments.
-- Purpose: the counts that the sample-ratio-mismatch test of fct_experiment_exposure_srm
-- compares with the expected split, at each stage of the funnel, cumulative over all cohorts:
--   assigned_units       assignments of the variation;
--   logged_units         units with a usable exposure event of the variation, as logged in the
--                        event (unassigned units included): the split an exposure log shows;
--   exposed_units        assigned units of the variation with any exposure (is_exposed);
--   valid_exposed_units  assigned units of the variation with a valid exposure.
-- A variation appears when it was assigned or logged; the counts are 0, never null.
-- Reads: fct_experiment_exposure_quality_daily_by_variation, int_experiment_exposures_deduped.
-- Variables: none. The chi-square statistic is computed in Python (expguard.srm).
with

by_assigned_variation as (
    -- the by-variation model's cohort counts, summed over cohorts: one definition of each
    -- count, and one pass over the validation model fewer
    select
        experiment_id,
        assigned_variation_id as variation_id,
        sum(assigned_units) as assigned_units,
        sum(exposed_units) as exposed_units,
        sum(valid_exposed_units) as valid_exposed_units
    from fct_experiment_exposure_quality_daily_by_variation
    group by experiment_id, assigned_variation_id
),

assigned_experiments as (
    select distinct experiment_id from by_assigned_variation
),

logged_variation as (
    -- one deduped row per (experiment, unit, variation): a count of rows counts distinct units
    select
        experiment_id,
        variation_id,
        count(*) as logged_units
    from int_experiment_exposures_deduped
    group by experiment_id, variation_id
),

by_logged_variation as (
    -- the experiments with assignments only, kept after the count: the join then meets one row
    -- per (experiment, variation) instead of every deduped row (DuckDB does not move it there)
    select
        l.experiment_id,
        l.variation_id,
        l.logged_units
    from logged_variation as l
    inner join assigned_experiments as e
        on l.experiment_id = e.experiment_id
)

select
    cast(coalesce(a.experiment_id, l.experiment_id) as varchar) as experiment_id,
    cast(coalesce(a.variation_id, l.variation_id) as varchar) as variation_id,
    cast(coalesce(a.assigned_units, 0) as bigint) as assigned_units,
    cast(coalesce(l.logged_units, 0) as bigint) as logged_units,
    cast(coalesce(a.exposed_units, 0) as bigint) as exposed_units,
    cast(coalesce(a.valid_exposed_units, 0) as bigint) as valid_exposed_units
from by_assigned_variation as a
full outer join by_logged_variation as l
    on a.experiment_id = l.experiment_id
    and a.variation_id = l.variation_id
