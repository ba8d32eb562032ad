"""``expguard report``: one self-contained HTML file about a run's exposure quality.

The file opens offline (plotly.js, the styles and the data are inlined; nothing is fetched) and
shows an overview of every experiment, then per experiment the exposure rate by cohort with the
alerts, the exposure-status mix, the mismatch and multi-variation rates, the funnel per
variation, the exposure events per day and the sample-ratio-mismatch table, each chart with a
caption worked out from the data. See docs/report.md.

Modules: ``data`` reads the run's tables, ``summary`` groups them per experiment, ``captions``
writes the sentences, ``html`` draws the page from ``templates/``.

The package lives at ``expguard.apps.report`` (``import expguard.apps.report.html`` works); the
attribute ``expguard.report`` is the function :func:`report` below, the Python API.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["report", "ReportResult", "write_report"]

DEFAULT_OUT = "expguard-report.html"


@dataclass(frozen=True)
class ReportResult:
    """What a report holds and where it went."""

    path: Path
    bytes: int
    experiments: int
    charts: int


def write_report(run: Any, out: str | Path = DEFAULT_OUT, experiments: Sequence[str] = (),
                 title: str | None = None) -> ReportResult:
    """Render ``run`` (a :class:`~expguard.apps.report.data.RunData`) to ``out``, atomically: the
    file appears complete or not at all."""
    from .html import render

    page = render(run.only(experiments), title=title)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(page.html)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return ReportResult(path, path.stat().st_size, page.experiments, page.charts)


def report(
    out: str | Path = DEFAULT_OUT,
    *,
    output_dir: str | Path | None = None,
    database: str | Path | None = None,
    events: Any = None,
    assignments: Any = None,
    experiments: Sequence[str] = (),
    title: str | None = None,
    vars: Mapping[str, Any] | None = None,
    events_columns: Mapping[str, str] | None = None,
    assignments_columns: Mapping[str, str] | None = None,
    engine: Mapping[str, Any] | None = None,
) -> ReportResult:
    """Write the HTML report of a run to ``out`` and return what it holds.

    Give either an earlier run's outputs (``output_dir`` or ``database``), or the inputs
    (``events`` and ``assignments``, with ``vars``, the column mappings and ``engine`` as in
    :func:`expguard.run`), which are then built as ``expguard run`` does, without writing models.

    Args:
        out: the HTML file to write (its folder is created if missing).
        output_dir: the Parquet folder of an earlier ``expguard run --output-dir``.
        database: the DuckDB file of an earlier ``expguard run --database``.
        events: the event stream to build from: a file or glob, or ``DBFILE::TABLE``.
        assignments: the assignment table to build from.
        experiments: only these experiments (all when empty).
        title: the page title (default: "expguard exposure report").

    Example (after ``expguard run ... --output-dir out/``)::

        import expguard
        expguard.report("report.html", output_dir="out/")
        # ReportResult(path=PosixPath('report.html'), bytes=5213442, experiments=20, charts=100)
    """
    from ...core.errors import ConfigError
    from .data import build_data, read_outputs

    reading = output_dir is not None or database is not None
    building = events is not None or assignments is not None
    if reading and building:
        raise ConfigError("give an earlier run's outputs (output_dir/database) or inputs (events/assignments); not both")
    if reading:
        run = read_outputs(output_dir=output_dir, database=database)
    else:
        from ...settings.config import build_config

        config = build_config(events=events, assignments=assignments, events_columns=events_columns,
                              assignments_columns=assignments_columns, vars=vars, engine=engine)
        run = build_data(config)
    return write_report(run, out, experiments, title)
