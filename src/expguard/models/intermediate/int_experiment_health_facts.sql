-- int_experiment_health_facts
-- Not null: assigned_units, exposure_events, rejected_exposure_events
-- Grain: one row per experiment_id seen in the assignments or in the staged exposure events
-- (rejected ones included), plus one stream-wide row whose experiment_id is null.
-- Purpose: the few per-experiment facts the health checks (fct_experiment_health) need that the
-- daily models do not keep: when the newest assignment and the newest exposure event came, and
-- how many exposure events carry the experiment's id at all.
-- Reads: int_experiment_exposure_validation, int_experiment_exposure_rejections_daily.
-- Variables: none.
-- The stream-wide row counts every staged exposure event: exposure_events is all of them,
-- rejected_exposure_events those rejected, last_exposure_event_at the newest event time
-- (data_through of the daily models), and assigned_units every assignment. The event counts
-- and times come from the rejections model, which counts every staged event once per
-- (experiment, day, reason): summed per experiment, they are the staged events' own.
with

assigned as (
    select
        experiment_id,
        count(*) as assigned_units,
        min(assigned_at) as first_assigned_at,
        max(assigned_at) as last_assigned_at
    from int_experiment_exposure_validation
    group by experiment_id
),

staged_all as (
    -- per experiment, the events without one in a null group, and the stream-wide row summed
    -- from these groups below (a few rows per experiment and day, not a pass over the events)
    select
        experiment_id,
        sum(exposure_events) as exposure_events,
        sum(rejected_exposure_events) as rejected_exposure_events,
        max(last_exposure_event_at) as last_exposure_event_at
    from int_experiment_exposure_rejections_daily
    group by experiment_id
),

staged as (
    select
        experiment_id,
        exposure_events,
        rejected_exposure_events,
        last_exposure_event_at
    from staged_all
    where experiment_id is not null
),

per_experiment as (
    select
        coalesce(a.experiment_id, s.experiment_id) as experiment_id,
        coalesce(a.assigned_units, 0) as assigned_units,
        a.first_assigned_at,
        a.last_assigned_at,
        coalesce(s.exposure_events, 0) as exposure_events,
        coalesce(s.rejected_exposure_events, 0) as rejected_exposure_events,
        s.last_exposure_event_at
    from assigned as a
    full outer join staged as s
        on a.experiment_id = s.experiment_id
),

stream_events as (
    select
        coalesce(sum(exposure_events), 0) as exposure_events,
        coalesce(sum(rejected_exposure_events), 0) as rejected_exposure_events,
        max(last_exposure_event_at) as last_exposure_event_at
    from staged_all
),

stream_assignments as (
    select
        sum(assigned_units) as assigned_units,
        min(first_assigned_at) as first_assigned_at,
        max(last_assigned_at) as last_assigned_at
    from assigned
),

stream as (
    select
        cast(null as varchar) as experiment_id,
        coalesce(sa.assigned_units, 0) as assigned_units,
        sa.first_assigned_at,
        sa.last_assigned_at,
        se.exposure_events,
        se.rejected_exposure_events,
        se.last_exposure_event_at
    from stream_events as se
    cross join stream_assignments as sa
),

facts as (
    select * from per_experiment
    union all
    select * from stream
)

select
    cast(experiment_id as varchar) as experiment_id,
    cast(assigned_units as bigint) as assigned_units,
    cast(first_assigned_at as timestamp) as first_assigned_at,
    cast(last_assigned_at as timestamp) as last_assigned_at,
    cast(exposure_events as bigint) as exposure_events,
    cast(rejected_exposure_events as bigint) as rejected_exposure_events,
    cast(last_exposure_event_at as timestamp) as last_exposure_event_at
from facts
