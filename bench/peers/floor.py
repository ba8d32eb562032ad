"""The floor: read what the models need once and nothing more. One DuckDB query scans the
four event columns the models read with the event-name filter pushed into the Parquet scan,
parses each exposure's JSON once for both ids (invalid JSON -> null, as in the models), and
scans the four assignment columns; the results are counted or summed, so no column is pruned
away and none is answered from the files' metadata.
No dedupe, no join, no aggregation by key, no write: any job that builds the models from
these files must at least do this much."""

from __future__ import annotations

import duckdb

from _common import EVENT_NAME, arguments

QUERY = """
WITH e AS (
    SELECT event_id, unit_id, event_ts,
        CASE WHEN json_valid(properties)
            THEN json_extract_string(properties, ['$.experiment_id', '$.variation_id']) END AS ids
    FROM read_parquet($events)
    WHERE event_name = $event_name
)
SELECT
    (SELECT [count(event_id), count(unit_id), count(event_ts), count(ids[1]), count(ids[2])] FROM e),
    -- not count(): DuckDB answers counts (and min/max) of an unfiltered Parquet scan from the
    -- file's metadata, without reading the values
    (SELECT [sum(length(experiment_id) + length(unit_id) + length(variation_id)), sum(epoch_us(assigned_at) % 2)]
     FROM read_parquet($assignments))
"""


def main() -> None:
    args = arguments(__doc__)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    print(con.execute(QUERY, {"events": args.events, "assignments": args.assignments,
                              "event_name": EVENT_NAME}).fetchall())


if __name__ == "__main__":
    main()
