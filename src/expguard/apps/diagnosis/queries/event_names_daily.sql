-- event_names_daily (a diagnose query, not a model)
-- Grain: one row per (event_name, event_date) of fct_events; event_date is the UTC date of
-- event_ts (null for events without a timestamp).
-- Purpose: the stream's volume per day and per event name (missing partitions, a renamed
-- exposure event), and how many of those events carry the diagnosed experiment's id (an exposure
-- logged under another name still carries it). One scan of three columns.
-- Reads: fct_events (event_name, event_ts, experiment_id). Variables: :experiment_id.
-- The experiment id is trimmed as stg_experiment_exposures trims it.
select
    cast(event_name as varchar) as event_name,
    cast(event_ts as date) as event_date,
    cast(count(*) as bigint) as events,
    cast(
        count(case when nullif(trim(cast(experiment_id as varchar), ' '), '') = :experiment_id then 1 end)
        as bigint
    ) as experiment_events
from fct_events
group by cast(event_name as varchar), cast(event_ts as date)
