"""Peer: the hand-written DuckDB SQL script (duckdb_job.sql), tuned by hand (its header says how).

The statements run in order in one in-memory database; the COPY statements (the four Parquet
writes) are started together once every table is built, each from its own cursor on its own
thread (a cursor is a connection to the same database: it sees the tables), and the job ends
when the last one has finished.
"""

from __future__ import annotations

import concurrent.futures
import re
from pathlib import Path

import duckdb

from _common import EVENT_NAME, GRACE_MINUTES, MAX_DAYS, arguments


def statements(events: str, assignments: str, out: str) -> list[str]:
    """The script's statements, placeholders substituted, comments dropped."""
    script = (Path(__file__).with_name("duckdb_job.sql").read_text()
              .replace("{events}", events).replace("{assignments}", assignments)
              .replace("{out}", out).replace("{event_name}", EVENT_NAME)
              .replace("{grace_minutes}", str(GRACE_MINUTES)).replace("{max_days}", str(MAX_DAYS)))
    script = re.sub(r"--[^\n]*", "", script)
    return [s.strip() for s in script.split(";") if s.strip()]


def main() -> None:
    args = arguments(__doc__)
    con = duckdb.connect(config={"preserve_insertion_order": False})
    copies = []
    for statement in statements(args.events, args.assignments, str(args.output_dir)):
        if statement.upper().startswith("COPY"):
            copies.append(statement)
        else:
            con.execute(statement)

    def write(statement: str) -> None:
        cursor = con.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")  # a cursor is a new session
            cursor.execute(statement)
        finally:
            cursor.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(copies)) as pool:
        for future in [pool.submit(write, statement) for statement in copies]:
            future.result()
    con.close()


if __name__ == "__main__":
    main()
