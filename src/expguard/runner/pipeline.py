"""run(): read inputs -> check contracts -> build models in order -> write outputs atomically."""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..inputs import contracts
from ..inputs import views as inputs
from ..core.faults import checkpoint
from ..sql.render import bind_variables
from ..settings.config import RunConfig
from ..core.constants import ASSIGNMENTS, FCT_HEALTH, INT_DEDUPED, INT_REJECTIONS_DAILY, INT_VALIDATION, STG_EXPOSURES
from ..engines import create_engine
from ..engines.base import Engine
from ..core.errors import ContractError, InputError
from ..outputs.publish import (STATE_FILE, check_database_writable, check_writable, commit, database_lock, discard,
                               exclusive_lock, ParquetStage, lock_path, output_target, publish, recover, stage_parquet)
from ..models.compile import rename_inputs
from ..models.registry import load_models
from ..models.marts.fct_experiment_health import RejectedEvents, rejected_events
from ..models.verdict import Verdict, overall, verdicts
from . import incremental

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from sqlglot import exp

DEFAULT_LOCK_TIMEOUT = 60.0


@dataclass
class ModelResult:
    """What one model produced."""

    name: str
    rows: int
    seconds: float
    #: How many parts by unit the model was built in (:func:`partitioned`; 1: whole).
    parts: int = 1


@dataclass
class RunResult:
    """What a run built and where it wrote it."""

    models: list[ModelResult] = field(default_factory=list)
    parquet_files: list[Path] = field(default_factory=list)
    database: Path | None = None
    seconds: float = 0.0
    #: The rows of fct_experiment_health (a few per experiment): the run's verdicts.
    health: list[dict] = field(default_factory=list)
    #: Exposure events in all, rejected, and the rejections by reason (most frequent first).
    rejected: "RejectedEvents | None" = None
    #: What an incremental run (``RunConfig.incremental``) did; None for a run without it.
    increment: "incremental.Increment | None" = None

    def rows(self, name: str) -> int:
        return next(m.rows for m in self.models if m.name == name)

    @property
    def verdicts(self) -> "dict[str | None, Verdict]":
        """experiment_id -> its verdict (the stream-wide one under None); see expguard.verdict."""
        return verdicts(self.health)

    @property
    def status(self) -> str:
        """The worst verdict of the run: fail, warn, pass or not_enough_data."""
        return overall(self.health)


Progress = Callable[[str, dict], None]


def _silent(_event: str, _info: dict) -> None:
    pass


def prepare(engine: Engine, config: RunConfig) -> None:
    """Register the sources and build the canonical input views (the contracts are checked
    around the models: :func:`build_checked`)."""
    engine.register_source(inputs.RAW_EVENTS, config.events)
    engine.register_source(inputs.RAW_ASSIGNMENTS, config.assignments)
    inputs.build_event_view(engine, config.event_mapping, config.events.describe())
    inputs.build_assignment_view(engine, config.assignment_mapping, config.assignments.describe())


@contextlib.contextmanager
def contracts_checked(engine: Engine) -> Iterator[dict[str, int]]:
    """Check the assignment contracts around a block that builds the models; raise a violation.

    The row checks (nulls, blanks) run first, in one scan; on an engine that runs jobs side by
    side (:attr:`Engine.concurrent_jobs`: Spark, whose scan of one assignment file is one task)
    they run while the block builds the models, on a core the staging model leaves idle. The
    uniqueness check runs after the block, from the validation model's row count that the block
    stores under ``"validation_rows"`` (see :func:`contracts.check_unique_pairs`). Nothing is
    written before every check has passed, and a violation wins over a model's failure: it is
    the cause the user must fix first.
    """
    state: dict[str, int] = {}
    row_checks = None
    pool = None
    if engine.concurrent_jobs:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="expguard-contracts")
        row_checks = pool.submit(contracts.check_assignments, engine, contracts.ROW_CHECKS)
    else:
        contracts.check_assignments(engine, contracts.ROW_CHECKS)
    try:
        try:
            yield state
        except Exception:
            # (an interrupt or a kill is not explained by the input: it ends the run at once)
            if row_checks is not None and isinstance(row_checks.exception(), ContractError):
                raise row_checks.exception() from None
            try:
                contracts.check_unique_pairs(engine)
            except ContractError as violation:
                raise violation from None
            except Exception:  # noqa: BLE001 - the model's own failure is reported instead
                pass
            raise
        if row_checks is not None:
            row_checks.result()
        contracts.check_unique_pairs(engine, state.get("validation_rows"))
    finally:
        if pool is not None:
            pool.shutdown(wait=True)


#: Under a memory limit, a model table leaves memory once the model named here is built
#: (:meth:`Engine.spill`): the staged events, once the dedupe has read them. The validation that
#: follows is the step that outgrows a small buffer (at L under 2 GB it spilled 0.75 GiB of its
#: hash table); without the staging table's 0.6 GiB it spills far less. The staging table's later
#: readers (health facts, by-variation, daily: a few columns) read its file.
SPILLED_AFTER = {INT_DEDUPED: STG_EXPOSURES}


#: Models in which no group and no join ever holds two units: every GROUP BY and every join
#: key includes ``unit_id``, and nothing else (no window, no total) spans units. Such a model's
#: rows are the union of the model run on each part of the units, its inputs (listed) cut by the
#: same hash of ``unit_id``. The dedupe and the validation are the run's large hash tables; under
#: a buffer too small for them (:meth:`Engine.hash_budget`) they are built in parts, one at a
#: time, each part's tables in memory instead of one spilled table (:func:`parts_for`).
BY_UNIT = {INT_DEDUPED: (STG_EXPOSURES,), INT_VALIDATION: (INT_DEDUPED, ASSIGNMENTS)}
#: Buffer bytes a part needs per input row (staged events; assignments plus deduped rows):
#: DuckDB's hash tables of the dedupe and the validation took about 150-250 per row at L.
HASH_BYTES_PER_ROW = 200
#: At most this many parts: each reads its inputs again (measured at L under 2 GB, the
#: validation took 6.9 s whole, 5.5 in 3 parts, 5.3 in 4 and 7.0 in 8).
MAX_PARTS = 16


def parts_for(rows: int, budget: int | None) -> int:
    """How many parts by unit a model of ``rows`` input rows is built in, for a hash-table
    ``budget`` in bytes (None: the engine manages its memory, one part).

    >>> parts_for(13_300_000, 930_000_000), parts_for(7_400_000, 930_000_000)
    (3, 2)
    >>> parts_for(2_700_000, 930_000_000), parts_for(10**10, 10**9), parts_for(10, None)
    (1, 16, 1)
    """
    if not budget:
        return 1
    return max(1, min(MAX_PARTS, -(-rows * HASH_BYTES_PER_ROW // budget)))


def partitioned(engine: Engine, tree: "exp.Query", inputs: tuple[str, ...], parts: int) -> list["exp.Query"]:
    """The model's tree once per part: its ``inputs`` renamed to views of their rows whose
    ``abs(hash(unit_id) % parts)`` is the part's number (views dropped by :func:`drop_parts`)."""
    from sqlglot import exp

    # abs(): an engine whose hash is signed (Spark's) gives negative remainders (DuckDB's is unsigned)
    bucket = exp.Abs(this=exp.Mod(this=exp.func("hash", exp.column("unit_id")), expression=exp.Literal.number(parts)))
    queries = []
    for part in range(parts):
        tables = {}
        for name in inputs:
            view = f"__expguard_part_{part}_{name}"
            where = exp.EQ(this=bucket.copy(), expression=exp.Literal.number(part))
            engine.create_view(view, exp.select("*").from_(exp.to_table(name)).where(where))
            tables[name] = view
        queries.append(rename_inputs(tree.copy(), tables, engine.DIALECT))
    return queries


def drop_parts(engine: Engine, inputs: tuple[str, ...], parts: int) -> None:
    """Drop the views :func:`partitioned` made."""
    for part in range(parts):
        for name in inputs:
            engine.drop_view(f"__expguard_part_{part}_{name}")


def parts_of(engine: Engine, name: str) -> int:
    """How many parts by unit model ``name`` is built in on ``engine`` now (its inputs built):
    1 for a model not in :data:`BY_UNIT` or an engine that gives no budget."""
    budget = engine.hash_budget() if name in BY_UNIT else None
    if budget is None:
        return 1
    return parts_for(sum(engine.row_count(table) for table in BY_UNIT[name]), budget)


def build_models(engine: Engine, config: RunConfig, progress: Progress = _silent,
                 done: "dict[str, ModelResult] | None" = None,
                 swaps: "dict[str, Callable[[exp.Query], exp.Query]] | None" = None,
                 built: "Callable[[str], None] | None" = None) -> list[ModelResult]:
    """Materialize every model in dependency order, variables bound as literals; a Python
    model's rows are stored with ``engine.register_rows``. Models in ``done`` are in the
    engine already (an incremental run's updated ones) and are not built again; a SQL model in
    ``swaps`` is built from its tree transformed (its own SQL, variables bound, with some input
    tables renamed to an incremental run's smaller equivalents, or its counts restated).
    ``built(name)`` is called as each model is done, the models in ``done`` included (a run
    writes its files beside its last models: :func:`writes_beside`)."""
    results = []
    variables = config.variables.as_dict()
    models = load_models()
    # What the engine writes each model's columns as (never-null ones REQUIRED): declared here,
    # handed to the engine, which knows nothing of the models.
    engine.not_null = {name: model.not_null for name, model in models.items()}
    for model in models.values():
        if done and model.name in done:
            results.append(done[model.name])
            if built is not None:
                built(model.name)
            continue
        progress("model_start", {"name": model.name})
        started = time.perf_counter()
        parts = 1
        checkpoint(f"model:{model.name}")
        if model.python is not None:
            rows = engine.register_rows(model.name, model.python.build(engine, config.variables), model.python.columns)
        else:
            tree = bind_variables(model.parse(), variables)
            if swaps and model.name in swaps:
                tree = swaps[model.name](tree)
            else:
                parts = parts_of(engine, model.name)
            if parts > 1:
                try:
                    rows = engine.materialize_parts(model.name, partitioned(engine, tree, BY_UNIT[model.name], parts))
                finally:
                    drop_parts(engine, BY_UNIT[model.name], parts)
            else:
                rows = engine.materialize(model.name, tree)
        if model.name in SPILLED_AFTER and not done:
            engine.spill(SPILLED_AFTER[model.name])
        result = ModelResult(model.name, rows, time.perf_counter() - started, parts)
        results.append(result)
        progress("model_done", {"name": model.name, "rows": rows, "seconds": result.seconds, "parts": parts})
        if built is not None:
            built(model.name)
    return results


def build_checked(engine: Engine, config: RunConfig, progress: Progress = _silent,
                  built: "Callable[[str], None] | None" = None) -> list[ModelResult]:
    """Build every model (:func:`build_models`) with the assignment contracts checked around
    them (:func:`contracts_checked`): the one way a run, a report and a diagnosis build."""
    with contracts_checked(engine) as checked:
        models = build_models(engine, config, progress, built=built)
        rows = {model.name: model.rows for model in models}
        if INT_VALIDATION in rows:
            checked["validation_rows"] = rows[INT_VALIDATION]
    return models


@contextlib.contextmanager
def built_engine(config: RunConfig, progress: Progress = _silent) -> Iterator[Engine]:
    """An engine holding every model built from ``config``'s inputs, contracts checked; nothing
    is written, and the engine is closed when the block ends."""
    engine = create_engine(config.engine)
    try:
        prepare(engine, config)
        build_checked(engine, config, progress)
        yield engine
    finally:
        engine.close()


def build_tables(config: RunConfig, names: list[str], progress: Progress = _silent) -> dict[str, "pa.Table"]:
    """Build every model for ``config`` and return the named ones as Arrow tables; write nothing."""
    with built_engine(config, progress) as engine:
        return {name: engine.to_arrow(name) for name in names}


#: The Parquet files start to be written once this model is built (:func:`writes_beside`).
WRITES_START_AFTER = INT_VALIDATION


def writes_beside(stage: ParquetStage | None) -> "Callable[[str], None] | None":
    """A :func:`build_models` callback that writes the models' files into ``stage`` while the
    last models build: nothing until :data:`WRITES_START_AFTER` (the last of the three large
    models) is built, then every model built so far, in build order, and each later one as it
    is built. The writes then run beside the monitoring and health models (small aggregates and
    Python, which leave a core idle much of the time) instead of after them. Started beside the
    large models' hash aggregates instead, they compete for both cores and for memory: on the
    benchmark's L, 1 CPU s and 0.8 s of wall time more, where M gained 0.15 s.
    """
    if stage is None:
        return None
    held: list[str] = []
    started = False

    def built(name: str) -> None:
        nonlocal started
        held.append(name)
        started = started or name == WRITES_START_AFTER
        while started and held:
            stage.start(held.pop(0))

    return built


@contextlib.contextmanager
def staged_beside(engine: Engine, output_dir: Path | None) -> Iterator[ParquetStage | None]:
    """The Parquet staging folder a run writes into while its last models build
    (:func:`writes_beside`): made now when there is an output folder and the engine can
    (:attr:`Engine.writes_beside_models`), else None. Whatever the block's end, nothing of it
    stays: a run that failed before publishing leaves no file of its own (a published folder
    was renamed already, so there is nothing left to remove)."""
    stage = None
    if output_dir is not None and engine.writes_beside_models:
        stage = ParquetStage.beside(output_dir, engine.write_parquet, engine.parquet_writers)
    try:
        yield stage
    finally:
        if stage is not None:
            stage.discard()


@contextlib.contextmanager
def output_locks(config: RunConfig, lock_timeout: float, create: bool = True,
                 keep: Path | None = None) -> Iterator[None]:
    """Hold the locks of every output target (database, then folder: a fixed order, so that two
    runs never deadlock), after checking they can be written (``create``: the folder is created
    now if missing); recover the folder's leftovers (but ``keep``: this run's staging folder)."""
    outputs = config.outputs.resolved()
    output_dir = output_target(outputs.output_dir) if outputs.output_dir is not None else None
    database = Path(outputs.database) if outputs.database is not None else None
    with contextlib.ExitStack() as stack:
        if database is not None:
            check_database_writable(database)
            stack.enter_context(exclusive_lock(database_lock(database), lock_timeout, database))
        if output_dir is not None:
            check_writable(output_dir, create=create)
            stack.enter_context(exclusive_lock(lock_path(output_dir), lock_timeout, output_dir))
            recover(output_dir, keep=keep)
        yield


def written(engine: Engine, config: RunConfig, models: list[ModelResult], progress: Progress, lock_timeout: float,
            beside: "list[str] | None" = None, **write: Any) -> RunResult:
    """The run's result (its models, health rows and rejected events), once every model and the
    tables kept ``beside`` them are written (:func:`write_outputs`, given ``write``)."""
    result = RunResult(models=models)
    result.health = engine.rows(FCT_HEALTH)
    result.rejected = rejected_events(engine.rows(INT_REJECTIONS_DAILY))
    progress("write", {})
    write_outputs(engine, config, [m.name for m in models] + (beside or []), result, lock_timeout, **write)
    return result


def write_outputs(engine: Engine, config: RunConfig, names: list[str], result: RunResult, lock_timeout: float,
                  *, state: str | None = None, locked: bool = False, stage: ParquetStage | None = None) -> None:
    """Write every model to every output target, all or nothing.

    Each target is written aside first (Parquet files in a staging folder beside the output
    folder, database tables in an open transaction); then, under the targets' locks, the commit
    point (the staging folder renamed to its committed name), the database COMMIT, and the
    publication (the output folder exchanged with the committed one). A failure or kill before
    the commit point leaves every target as it was (see :mod:`expguard.outputs`).

    ``state`` (an incremental run's JSON state) is written with the models, in the same
    transaction and the same published folder; without it an earlier state is removed.
    ``locked``: the caller holds :func:`output_locks` already. ``stage``: the Parquet staging
    folder that some files were written into already, while the models built (:func:`run`).
    """
    outputs = config.outputs.resolved()
    output_dir = output_target(outputs.output_dir) if outputs.output_dir is not None else None
    database = Path(outputs.database) if outputs.database is not None else None
    with contextlib.ExitStack() as stack:
        if not locked:
            stack.enter_context(output_locks(config, lock_timeout, keep=stage.path if stage is not None else None))
        staging = None
        try:
            with contextlib.ExitStack() as transaction:
                if database is not None:
                    transaction.enter_context(engine.database_writer(names, database, state))
                if output_dir is not None:
                    extra = {STATE_FILE: state} if state is not None else None
                    if stage is None:
                        staging = stage_parquet(output_dir, names, engine.write_parquet, engine.parquet_writers, extra)
                    else:
                        staging = stage.finish(names, extra)
                    staging = commit(staging)
                # leaving this block commits the database transaction
            if staging is not None and output_dir is not None:
                try:
                    result.parquet_files = publish(staging, output_dir)
                except OSError as error:
                    # (a file system that can neither exchange folders nor rename links: FUSE mounts)
                    raise InputError(f"cannot publish the outputs into {str(output_dir)!r}: {error.strerror}") from None
                staging = None
            result.database = database
        finally:
            # a failure (not a kill) before publication: nothing of this run stays, in any target
            discard(staging)


#: With a database output alone, these models are built straight into it (:func:`build_into_output`).
BUILT_INTO_OUTPUT = (STG_EXPOSURES, INT_DEDUPED, INT_VALIDATION)


def database_alone(engine: Engine, config: RunConfig) -> Path | None:
    """The output database a run builds its large models straight into, or None: there must be
    a database and no output folder (a folder's files are written from other connections, which
    cannot see an open transaction's tables), an engine that can update it in place, and no input
    read from that same file (the run opens it for writing; its inputs are attached read-only)."""
    outputs = config.outputs.resolved()
    if not engine.updates_in_place or outputs.database is None or outputs.output_dir is not None:
        return None
    database = Path(os.path.abspath(outputs.database))
    for source in (config.events, config.assignments):
        if source.database is not None and Path(os.path.abspath(source.database)) == database:
            return None
    return database


def build_into_output(engine: Engine, database: Path) -> None:
    """Open the run's one transaction on output database ``database`` now and build the large
    models (:data:`BUILT_INTO_OUTPUT`) straight into it: each is built once, compressed into the
    file as it is built, instead of in memory and then copied into the file at the end (at L,
    2.5-3 s less of a 20 s run and 0.8 GiB less memory). The other models are temporary tables,
    copied in by :meth:`Engine.database_writer` with the state; it commits them all at once, and
    a failure or a kill before that leaves the file as it was. The caller holds the output locks."""
    engine.open_output(database)
    engine.into_output.update(BUILT_INTO_OUTPUT)


def writing_engine(config: RunConfig) -> Engine:
    """The engine of a run that writes ``config``'s outputs (their Parquet codec set)."""
    engine = create_engine(config.engine)
    engine.parquet_compression = config.outputs.parquet_compression
    return engine


def run(config: RunConfig, progress: Progress = _silent, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> RunResult:
    """Build all models for ``config`` and write them; raise an ExpguardError on bad input.

    Nothing is written unless every model was built: a failure at any step leaves the previous
    outputs as they were.
    """
    if config.incremental:
        return run_incremental(config, progress, lock_timeout)
    started = time.perf_counter()
    outputs = config.outputs.resolved()
    if outputs.database is not None:
        check_database_writable(Path(outputs.database))
    target = None
    if outputs.output_dir is not None:
        target = output_target(outputs.output_dir)
        # An output folder that cannot be written stops the run now, not after the models.
        check_writable(target, create=False)
        if target.is_dir() or lock_path(target).exists():
            # Finish (or discard) whatever an interrupted earlier run left, before anything else.
            with exclusive_lock(lock_path(target), lock_timeout, target):
                recover(target)
    with contextlib.ExitStack() as held:
        engine = writing_engine(config)
        try:
            progress("prepare", {})
            prepare(engine, config)
            database = database_alone(engine, config)
            if database is not None:
                # the locks from now to the commit (released after the engine closed: a failed
                # run's transaction is rolled back before another run can open the file)
                held.enter_context(output_locks(config, lock_timeout, create=False))
                build_into_output(engine, database)
            with staged_beside(engine, target) as stage:
                models = build_checked(engine, config, progress, built=writes_beside(stage))
                result = written(engine, config, models, progress, lock_timeout, stage=stage,
                                 locked=database is not None)
        finally:
            engine.close()
    result.seconds = time.perf_counter() - started
    return result


def run_incremental(config: RunConfig, progress: Progress, lock_timeout: float) -> RunResult:
    """``expguard run --incremental`` (:mod:`expguard.runner.incremental`): update the last run's
    outputs with what is new, or build in full and say why; write the models and the state."""
    started = time.perf_counter()
    outputs = config.outputs.resolved()
    targets = incremental.Targets(
        output_dir=output_target(outputs.output_dir) if outputs.output_dir is not None else None,
        database=Path(os.path.abspath(outputs.database)) if outputs.database is not None else None,
    )
    increment = incremental.Increment(mode=incremental.FULL)
    steps = incremental.Steps(increment)
    # The locks are held from reading the state to publishing: no second run interleaves.
    with output_locks(config, lock_timeout, create=False):
        engine = writing_engine(config)
        try:
            previous, why = incremental.read_state(targets, engine)
            events, assignments = incremental.list_input(config.events), incremental.list_input(config.assignments)
            current = incremental.fingerprint(config)
            reason = why if previous is None else incremental.full_build_reason(previous, current, events, config)
            steps.done("read state")
            with staged_beside(engine, targets.output_dir) as stage:
                progress("prepare", {})
                listed = dataclasses.replace(
                    config,
                    events=events.source(config.events) if events is not None else config.events,
                    assignments=(assignments.source(config.assignments) if assignments is not None
                                 else config.assignments),
                )
                watermark = None
                if incremental.uses_watermark(config):
                    # a table with an ingestion watermark: its rows tell what is new
                    prepare(engine, listed)
                    earlier = None if previous is None else previous["inputs"]["events"].get("watermark")
                    watermark = incremental.read_watermark(engine, earlier if reason is None else None)
                    if reason is None:
                        reason = incremental.watermark_reason(earlier, watermark)
                    steps.done("read state")
                if reason is not None:
                    increment.reason = reason
                    if watermark is None:
                        prepare(engine, listed)
                    database = database_alone(engine, config)
                    if database is not None:
                        build_into_output(engine, database)
                    models = build_checked(engine, listed, progress, built=writes_beside(stage))
                    beside = incremental.kept_beside(engine, targets)
                    steps.done("build")
                else:
                    increment.mode = incremental.INCREMENTAL
                    assert previous is not None
                    built, swaps = incremental.update(engine, config, targets, previous, events, assignments, increment,
                                                      steps, progress, watermark)
                    done = {name: ModelResult(name, rows, seconds) for name, (rows, seconds) in built.items()}
                    models = build_models(engine, config, progress, done=done, swaps=swaps, built=writes_beside(stage))
                    beside = []
                    steps.done("downstream models")
                result = written(engine, config, models, progress, lock_timeout, beside=beside,
                                 state=incremental.state_text(current, events, assignments, watermark), locked=True,
                                 stage=stage)
                steps.done("write")
        finally:
            engine.close()
    result.increment = increment
    result.seconds = time.perf_counter() - started
    return result
