"""Peer: the hand-written DuckDB SQL script (duckdb_job.sql), run in one in-memory connection."""

from __future__ import annotations

from pathlib import Path

import duckdb

from _common import EVENT_NAME, GRACE_MINUTES, MAX_DAYS, arguments


def main() -> None:
    args = arguments(__doc__)
    script = (Path(__file__).with_name("duckdb_job.sql").read_text()
              .replace("{events}", args.events).replace("{assignments}", args.assignments)
              .replace("{out}", str(args.output_dir)).replace("{event_name}", EVENT_NAME)
              .replace("{grace_minutes}", str(GRACE_MINUTES)).replace("{max_days}", str(MAX_DAYS)))
    con = duckdb.connect()
    con.execute(script)
    con.close()


if __name__ == "__main__":
    main()
