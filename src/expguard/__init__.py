"""expguard: the auditable bridge between experiment assignment and exposure.

>>> import expguard
>>> sorted(expguard.MODELS)[:1]
['fct_experiment_exposure_quality_daily']
"""

from __future__ import annotations

from typing import Any, Mapping

from .settings.config import RunConfig, Source, Variables, build_config
from .core.constants import CORE_MODELS
from .core.errors import ConfigError, ContractError, EngineError, ExpguardError, InputError, LockError
from .runner.pipeline import RunResult
from .apps.report import ReportResult, report
from .core.version import __version__

__all__ = [
    "run", "report", "diagnose", "compile_model", "MODELS", "ReportResult", "RunConfig", "RunResult", "Source", "Variables",
    "ExpguardError", "ConfigError", "ContractError", "EngineError", "InputError", "LockError",
]

MODELS = CORE_MODELS


def run(
    events: str | Source,
    assignments: str | Source,
    *,
    output_dir: str | None = None,
    database: str | None = None,
    vars: Mapping[str, Any] | None = None,
    events_columns: Mapping[str, str] | None = None,
    assignments_columns: Mapping[str, str] | None = None,
    engine: Mapping[str, Any] | None = None,
    lock_timeout: float = 60.0,
    preset: str | None = None,
    incremental: bool = False,
    parquet_compression: str | None = None,
) -> RunResult:
    """Build every model, as ``expguard run`` does, and return what was built.

    Args:
        events: the event stream: a file or glob, or ``DBFILE::TABLE``.
        assignments: the assignment table, in the same forms.
        output_dir: folder for one Parquet file per model.
        database: DuckDB file for one table per model (default ``expguard.duckdb`` when
            ``output_dir`` is not given either).
        vars: variables by name, e.g. ``{"exp_exposure_max_days_after_assignment": 14}``.
        events_columns: column mapping for the events, canonical name -> SQL expression.
        assignments_columns: column mapping for the assignments.
        engine: engine settings: ``name``, ``threads``, ``memory_limit``, ``temp_directory``.
        lock_timeout: seconds to wait for another run writing the same outputs.
        preset: the events are this tracking product's export (``"segment"``, ``"ga4"``...; see
            ``expguard.presets``): its column mapping and exposure event name(s), under
            ``events_columns`` and ``vars``, which win.
        incremental: read only what is new since the last run into these outputs and update
            the models (``expguard run --incremental``; docs/incremental.md); the result's
            ``increment`` tells what was done.
        parquet_compression: the codec of the ``output_dir`` files: ``"zstd"`` (level 1, the
            default), ``"snappy"`` (files about a third larger for about 7% less write
            CPU), ``"gzip"`` or ``"uncompressed"``.
    """
    from .runner.pipeline import run as run_pipeline

    config = build_config(
        events=events,
        assignments=assignments,
        events_columns=events_columns,
        assignments_columns=assignments_columns,
        vars=vars,
        engine=engine,
        output={"dir": output_dir, "database": database, "parquet_compression": parquet_compression},
        events_preset=preset,
        incremental=incremental,
    )
    return run_pipeline(config, lock_timeout=lock_timeout)


def diagnose(
    experiment_id: str,
    events: str | Source | None = None,
    assignments: str | Source | None = None,
    *,
    date: "str | Any | None" = None,
    output_dir: str | None = None,
    database: str | None = None,
    vars: Mapping[str, Any] | None = None,
    events_columns: Mapping[str, str] | None = None,
    assignments_columns: Mapping[str, str] | None = None,
    engine: Mapping[str, Any] | None = None,
    preset: str | None = None,
):
    """Walk the exposure-rate-drop runbook for one experiment, as ``expguard diagnose`` does.

    Builds every model from ``events`` and ``assignments`` in-process (nothing written), or
    reuses an earlier run's ``output_dir`` or ``database`` (then ``events`` is optional and runs
    the raw-event checks). Returns an ``expguard.apps.diagnosis.Diagnosis``: ``.causes`` (ranked),
    ``.checks``, ``.to_dict()``, ``.to_json()``, ``.render()``. See docs/diagnose.md.

    Args:
        experiment_id: the experiment to diagnose.
        date: the assignment cohort (a ``datetime.date`` or ``YYYY-MM-DD``); default: the latest
            complete cohort with an exposure-rate drop, else the latest complete cohort.
        Other arguments as for :func:`run`.
    """
    from .apps.diagnosis import diagnose_inputs

    return diagnose_inputs(experiment_id, events, assignments, date=date, output_dir=output_dir, database=database,
                           vars=vars, events_columns=events_columns, assignments_columns=assignments_columns,
                           engine=engine, preset=preset)


def compile_model(name: str, dialect: str = "duckdb", vars: Mapping[str, Any] | None = None) -> str:
    """The SQL of one model with the variables bound, in ``dialect``."""
    from .models.compile import compile_model as _compile

    return _compile(name, Variables().with_values(vars or {}).as_dict(), dialect, pretty=True)
