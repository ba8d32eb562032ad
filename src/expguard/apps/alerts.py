"""Reading and showing alerts (``expguard alerts``): an earlier run's alerts, selected, as JSON or a table.

The alerts themselves are the model fct_experiment_exposure_alerts
(:mod:`expguard.models.marts.fct_experiment_exposure_alerts`).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable, Sequence

from ..core.constants import ALERT_TYPES, FCT_ALERTS, FCT_HEALTH, SEVERITIES


def read_alerts(output_dir: str | None = None, database: str | None = None) -> list[dict]:
    """The alerts of an earlier run, as rows: ``DIR/fct_experiment_exposure_alerts.parquet`` or
    the table of that name in a DuckDB database file."""
    return read_run(output_dir, database)[0]


def read_run(output_dir: str | None = None, database: str | None = None) -> tuple[list[dict], list[dict]]:
    """The alerts and the health checks (``fct_experiment_health``) of an earlier run, as rows."""
    from ..outputs import earlier_run

    with earlier_run.engine((FCT_ALERTS, FCT_HEALTH), output_dir, database) as engine:
        return engine.rows(FCT_ALERTS), engine.rows(FCT_HEALTH)


#: What a verdict must reach for ``expguard alerts --fail-on SEVERITY`` (an alert's severity
#: names, the verdicts' statuses): a failing health check counts as a critical alert.
VERDICT_FOR_SEVERITY = {"warning": "warn", "critical": "fail"}


def select_health(rows: Iterable[dict], experiments: Sequence[str] = ()) -> list[dict]:
    """The health rows of the given experiments (all when none), the stream-wide rows always."""
    return [row for row in rows if not experiments or row["experiment_id"] is None or row["experiment_id"] in experiments]


def select_alerts(rows: Iterable[dict], since: dt.date | None = None, experiments: Sequence[str] = ()) -> list[dict]:
    """The alerts on or after ``since`` of the given experiments (all when none), in order."""
    rows = [
        row for row in rows
        if (since is None or row["date"] >= since) and (not experiments or row["experiment_id"] in experiments)
    ]
    return sorted(rows, key=lambda a: (a["date"], a["experiment_id"] is None, a["experiment_id"] or "",
                                       ALERT_TYPES.index(a["alert_type"])))


def reaches(rows: Iterable[dict], severity: str) -> bool:
    """Whether some alert has ``severity`` or a worse one.

    >>> reaches([{"severity": "warning"}], "critical"), reaches([{"severity": "critical"}], "warning")
    (False, True)
    """
    return any(SEVERITIES.index(row["severity"]) >= SEVERITIES.index(severity) for row in rows)


def alerts_json(rows: Sequence[dict]) -> str:
    """The alerts as a JSON array (dates as ISO text)."""
    import json

    return json.dumps([{**row, "date": row["date"].isoformat()} for row in rows], indent=2)


def alerts_table(rows: Sequence[dict]):
    """The alerts as a rich table."""
    from rich.table import Table

    table = Table(title=f"{len(rows)} exposure-quality alert{'s' if len(rows) != 1 else ''}", title_justify="left")
    for header in ("date", "experiment", "alert", "severity", "message"):
        table.add_column(header, overflow="fold")
    for row in rows:
        color = "red" if row["severity"] == "critical" else "yellow"
        table.add_row(row["date"].isoformat(), row["experiment_id"] or "(none)", row["alert_type"],
                      f"[{color}]{row['severity']}[/{color}]", row["message"])
    return table
