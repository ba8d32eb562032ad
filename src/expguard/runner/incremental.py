"""Incremental runs: read only what is new since the last run, update the models, and give
outputs identical (same rows, same types) to a full run on all the data.

The previous run's outputs are the state of the models; a small JSON *state* beside them (the
file ``_expguard_state.json`` in the output folder, the one-row table ``_expguard_state`` in
the output database, each written with the models, atomically) records what they were built
from: a fingerprint of everything that shapes the models (expguard's version, the models'
text, the variables they read, the inputs and their column mappings) and the input files read
(path, size, modification time). docs/incremental.md tells the whole story.

A run compares the fingerprint and the files with what it finds now:

- anything in the fingerprint changed, a processed event file changed or is gone, the event
  input is a table (no ingestion watermark), or there is no earlier state: a full build, and
  the one-line reason;
- else the new event files are read alone, their staging rows appended
  (``stg_experiment_exposures``); the deduped model's own SQL runs on them alone and its rows are
  merged with the previous rows of the keys they touch (``models/merges/``: earliest exposure by
  the model's order, latest exposure, counts added); the assignment keys touched (by those deduped
  keys, and by assignments added, changed or deleted since the last run) are recomputed with
  the validation model's own SQL; every other model is rebuilt in full from the updated tables
  with its own SQL or Python. One implementation of every model: the incremental steps run the
  same parsed SQL with its input tables swapped for the touched rows (:func:`restricted`); the
  deduped merge is written once beside the model and checked against it (the merge of the model
  on two parts of the events is the model on all of them).

With a database output alone, on an engine that can (DuckDB), the run's one transaction is opened
on the output database before the update, the three big tables are updated in place as it goes
(rows appended; the touched keys' rows moved out, their recomputed rows inserted), the other models
are built from the updated tables (the by-variation counts restated, the rejection counts merged
with their previous ones: ``RESTATED``, ``MERGED``), and COMMIT publishes it all; otherwise the
big tables are written in full.
The run itself (locks, full build or update, writes) is
:func:`expguard.runner.pipeline.run_incremental`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import sqlglot
from sqlglot import exp

from ..core import files
from ..core.constants import (ASSIGNMENTS, EVENTS, FCT_DAILY, FCT_DAILY_BY_VARIATION, INT_DEDUPED,
                              INT_REJECTIONS_DAILY, INT_VALIDATION, STG_EXPOSURES)
from ..core.errors import InputError
from ..core.faults import checkpoint
from ..core.version import __version__
from ..engines.base import UNASSIGNED_NAME, Engine
from ..inputs import contracts
from ..inputs import views as inputs
from ..models import restate
from ..models.compile import rename_inputs
from ..models.registry import _model_files, load_models, merge_files, merge_query
from ..outputs.publish import STATE_FILE
from ..settings.config import ColumnMapping, RunConfig, Source
from ..sql.render import bind_variables

#: The state's layout; a state of another format forces a full build.
STATE_FORMAT = 1
#: The models an incremental run updates by key; every other model is rebuilt in full.
MAINTAINED = (STG_EXPOSURES, INT_DEDUPED, INT_VALIDATION)
#: Models whose aggregate over a maintained model is restated from their previous output and
#: the rows that changed (models/restate.py) when an output database is updated in place:
#: model -> the maintained model it aggregates.
RESTATED = {FCT_DAILY_BY_VARIATION: INT_VALIDATION}
#: Models built, when an output database is updated in place, from their previous output and
#: their own SQL run on the new rows of a model that only gains rows, the two merged by the
#: model's merge (``models/merges/<model>.sql``): model -> the model it reads.
MERGED = {INT_REJECTIONS_DAILY: STG_EXPOSURES}
FULL, INCREMENTAL = "full", "incremental"

_DEDUPED_KEY = ("experiment_id", "unit_id", "variation_id")
_VALIDATION_KEY = ("experiment_id", "unit_id")


@dataclass
class Increment:
    """What an incremental run (``--incremental``) did: a full build (and why) or an update."""

    #: "full" or "incremental".
    mode: str
    #: Why a full build (one line); None for an incremental update.
    reason: str | None = None
    #: The input files read as new: event files, and assignment files new or changed.
    new_files: list[str] = field(default_factory=list)
    #: Rows of the new event files (every event, exposure or not).
    new_event_rows: int = 0
    #: Assignments added or changed since the last run (deleted ones not counted).
    new_assignment_rows: int = 0
    #: Assigned units (experiment_id, unit_id) whose validation row was recomputed or removed.
    restated_units: int = 0
    #: Cohorts (experiment_id, assignment_date) those units belonged to, before or after.
    restated_cohorts: int = 0
    #: Seconds per step, in the order they ran.
    steps: dict[str, float] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The block a run prints."""
        if self.mode == FULL:
            out = [f"incremental run: full build ({self.reason})"]
        elif not self.new_files and not self.new_assignment_rows and not self.restated_units:
            out = ["incremental run: nothing new since the last run"]
        else:
            out = ["incremental run: updated the last run's outputs"]
        if self.new_files:
            shown = ", ".join(self.new_files[:5]) + (f", ... ({len(self.new_files)} in all)" if len(self.new_files) > 5 else "")
            out.append(f"  new files: {shown}")
        if self.mode == INCREMENTAL:
            out.append(f"  new: {self.new_event_rows:,} event rows, {self.new_assignment_rows:,} assignments added or changed")
            out.append(f"  restated: {self.restated_units:,} assigned units in {self.restated_cohorts:,} cohorts")
        out.append("  steps: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.steps.items()))
        return out


class Steps:
    """Seconds per step of an incremental run, into ``increment.steps``."""

    def __init__(self, increment: Increment) -> None:
        self.increment = increment
        self.started = time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.increment.steps[name] = self.increment.steps.get(name, 0.0) + now - self.started
        self.started = now


# -- fingerprint and listing -------------------------------------------------------------------

def models_hash() -> str:
    """A hash of every model file's text (SQL and Python) and of the merges."""
    digest = hashlib.sha256()
    for layer, name, item in [*_model_files(), *(("merges", n, i) for n, i in merge_files())]:
        digest.update(f"{layer}/{name}\0".encode())
        digest.update(item.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def maintained_variables(config: RunConfig) -> dict[str, Any]:
    """The variables the models updated by key read, the restated aggregates and the merged models
    (the others shape only models rebuilt in full every run, so a change of theirs needs no full
    build)."""
    models = load_models()
    names: set[str] = set()
    for name in MAINTAINED:
        names |= {node.name for node in models[name].parse().find_all(exp.Placeholder)}
    for name, table in RESTATED.items():
        names |= {node.name for node in restate.aggregate_of(models[name].parse(), table).find_all(exp.Placeholder)}
    for name in MERGED:
        names |= {node.name for node in models[name].parse().find_all(exp.Placeholder)}
    values = config.variables.as_dict()
    return {name: list(v) if isinstance(v := values[name], tuple) else v for name in sorted(names)}


def _mapping_print(mapping: ColumnMapping) -> dict[str, Any]:
    return {
        "columns": dict(sorted(mapping.expressions.items())),
        "preset": mapping.preset,
        "from_properties": sorted(mapping.from_properties),
        "alternatives": {k: list(v) for k, v in sorted(mapping.alternatives.items())},
    }


def _abs(path: str | None) -> str | None:
    return None if path is None or files.is_remote(path) else os.path.abspath(path)


def _source_print(source: Source) -> dict[str, Any]:
    return {"path": _abs(source.path), "table": source.table, "database": _abs(source.database), "format": source.format}


def fingerprint(config: RunConfig) -> dict[str, Any]:
    """Everything that, changed, makes the previous outputs unusable as a start: engine-independent."""
    return {
        "expguard": __version__,
        "models": models_hash(),
        "variables": maintained_variables(config),
        "events": {"source": _source_print(config.events), "mapping": _mapping_print(config.event_mapping)},
        "assignments": {"source": _source_print(config.assignments),
                        "mapping": _mapping_print(config.assignment_mapping)},
    }


@dataclass(frozen=True)
class Listing:
    """The data files of a path input now: absolute path -> [size, mtime_ns]."""

    files: dict[str, list[int]]
    format: str
    base: str | None

    def source(self, source: Source, only: list[str] | None = None) -> Source:
        """``source`` over exactly these files (or ``only`` those of them)."""
        chosen = tuple(only if only is not None else self.files)
        return dataclasses.replace(source, format=self.format, files=chosen,
                                   files_base=None if self.base is None else os.path.abspath(self.base))


def list_input(source: Source) -> Listing | None:
    """The files of a local path input (the engines' own listing, core/files.py); None for a
    table or a remote path."""
    if source.path is None or files.is_remote(source.path):
        return None
    found = files.list_files(source.path, source.resolved_format())
    listed: dict[str, list[int]] = {}
    for path in found.files:
        try:
            status = os.stat(path)
        except OSError as error:
            raise InputError(f"cannot read {path!r}: {error.strerror}") from None
        listed[os.path.abspath(path)] = [status.st_size, status.st_mtime_ns]
    return Listing(files=listed, format=found.format, base=found.base)


def shown(path: str) -> str:
    """A path as a message shows it: relative to the current folder when under it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith(os.pardir) else relative


def _value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)


def full_build_reason(previous: dict[str, Any], current: dict[str, Any], events: Listing | None,
                      config: RunConfig) -> str | None:
    """Why the previous state cannot be updated (one line), or None when it can."""
    if previous.get("format") != STATE_FORMAT:
        return f"state format changed ({previous.get('format')} -> {STATE_FORMAT})"
    was, now = previous.get("fingerprint", {}), current
    if was.get("expguard") != now["expguard"]:
        return f"models changed (expguard {was.get('expguard')} -> {now['expguard']})"
    if was.get("models") != now["models"]:
        return f"models changed (model hash {str(was.get('models'))[:12]} -> {now['models'][:12]})"
    if was.get("variables") != now["variables"]:
        old = was.get("variables") or {}
        changed = [f"{name} {_value(old.get(name))} -> {_value(value)}"
                   for name, value in now["variables"].items() if old.get(name) != value]
        return "variables changed: " + ", ".join(changed)
    for what in ("events", "assignments"):
        old, new = was.get(what, {}), now[what]
        if old.get("source") != new["source"]:
            return f"the {what} input changed: {_source_text(old.get('source'))} -> {_source_text(new['source'])}"
        if old.get("mapping") != new["mapping"]:
            before, after = old.get("mapping", {}).get("columns", {}), new["mapping"]["columns"]
            columns = sorted(c for c in set(before) | set(after) if before.get(c) != after.get(c))
            detail = ", ".join(f"{c}: {before.get(c)!r} -> {after.get(c)!r}" for c in columns[:3])
            return f"column mapping changed ({what}{': ' + detail if detail else ''})"
    if events is None:
        if config.events.table is not None and not uses_watermark(config):
            return "table inputs are rebuilt in full (no ingestion watermark mapped)"
        if config.events.table is None:
            return "remote inputs are rebuilt in full (their files cannot be listed)"
        if not isinstance(previous.get("inputs", {}).get("events", {}).get("watermark"), dict):
            return "the earlier state has no ingestion watermark"
        return None  # the watermark is checked against the table (watermark_reason)
    processed = previous.get("inputs", {}).get("events", {}).get("files")
    if not isinstance(processed, dict):
        return "the earlier state lists no event files"
    for path, stat in sorted(processed.items()):
        if path not in events.files:
            return f"a processed file is gone: {shown(path)}"
        if list(events.files[path]) != list(stat):
            return f"a processed file changed: {shown(path)}"
    return None


def uses_watermark(config: RunConfig) -> bool:
    """Whether the events are a table with ``ingested_at`` mapped: its new rows are those
    ingested after the last run's newest ``ingested_at`` (the watermark)."""
    return config.events.table is not None and "ingested_at" in config.event_mapping.expressions


def read_watermark(engine: Engine, previous: dict[str, Any] | None) -> dict[str, Any]:
    """The events view's newest ``ingested_at`` and row counts now (the view must be built):
    ``at`` (ISO text, None without rows), ``rows``, ``unstamped`` (rows without ``ingested_at``)
    and, given a previous watermark, ``rows_then``: the rows ingested at or before it now."""
    found = engine.fetch(_q(f"select max(ingested_at) as at, count(*) as n, count(ingested_at) as stamped from {EVENTS}"))[0]
    mark = {"at": found["at"].isoformat() if found["at"] is not None else None, "rows": int(found["n"]),
            "unstamped": int(found["n"]) - int(found["stamped"])}
    if previous is not None and previous.get("at") is not None:
        mark["rows_then"] = _count(engine, f"select count(*) as n from {EVENTS} where ingested_at <= {_timestamp(previous['at'])}")
    return mark


def watermark_reason(previous: dict[str, Any], now: dict[str, Any]) -> str | None:
    """Why a table's new rows cannot be told by the watermark (one line), or None."""
    if now["unstamped"]:
        return f"{now['unstamped']:,} events have no ingested_at (the ingestion watermark): the table is rebuilt in full"
    if previous.get("at") is not None and now.get("rows_then") != previous["rows"]:
        return (f"rows ingested at or before the watermark {previous['at']} changed ({previous['rows']:,} then, "
                f"{now.get('rows_then', 0):,} now)")
    return None


def _timestamp(iso: str) -> str:
    return exp.cast(exp.Literal.string(iso), "timestamp").sql("duckdb")


def _source_text(source: dict[str, Any] | None) -> str:
    if not source:
        return "none"
    if source.get("table"):
        return f"{source.get('database')}::{source['table']}" if source.get("database") else str(source["table"])
    return shown(str(source.get("path")))


# -- the state in the outputs -----------------------------------------------------------------

@dataclass(frozen=True)
class Targets:
    output_dir: Path | None
    database: Path | None

    @property
    def where(self) -> str:
        return " and ".join(shown(str(p)) for p in (self.output_dir, self.database) if p is not None)


def read_state(targets: Targets, engine: Engine) -> tuple[dict[str, Any] | None, str]:
    """The previous run's state, or None and why there is none (the start of a full build's reason);
    an output database is read through ``engine`` (:meth:`Engine.database_state`)."""
    found: list[tuple[str, str | None]] = []
    if targets.output_dir is not None:
        path = targets.output_dir / STATE_FILE
        found.append((shown(str(targets.output_dir)), path.read_text(encoding="utf-8") if path.is_file() else None))
    tables: set[str] = set()
    if targets.database is not None:
        text, tables = engine.database_state(targets.database) if targets.database.is_file() else (None, set())
        found.append((shown(str(targets.database)), text))
    missing = [where for where, text in found if text is None]
    if missing:
        return None, f"first run: no earlier state in {missing[0]}"
    texts = {text for _, text in found}
    if len(texts) > 1:
        return None, f"the states in {found[0][0]} and {found[1][0]} differ (an earlier run wrote one of them)"
    try:
        state = json.loads(texts.pop())  # type: ignore[arg-type]
    except ValueError:
        return None, f"the earlier state in {found[0][0]} is unreadable"
    if not isinstance(state, dict):
        return None, f"the earlier state in {found[0][0]} is unreadable"
    missing_outputs = _missing_outputs(targets, tables)
    if missing_outputs:
        return None, f"an earlier output is missing: {missing_outputs}"
    return state, ""


def _missing_outputs(targets: Targets, tables: set[str]) -> str | None:
    """The first maintained output missing (``tables``: those of the output database)."""
    if targets.output_dir is not None:
        for name in MAINTAINED:
            path = targets.output_dir / f"{name}.parquet"
            if not path.is_file():
                return shown(str(path))
    if targets.database is not None:
        # (the restated models too: an update in place reads their previous rows)
        for name in (*MAINTAINED, *RESTATED, *MERGED):
            if name not in tables:
                return f"{shown(str(targets.database))} table {name}"
    return None


def previous_source(engine: Engine, targets: Targets, name: str) -> Source:
    """Where the previous output ``name`` is read: the database on DuckDB when there is one,
    else the Parquet folder (Spark reads the folder when there is one)."""
    use_database = targets.database is not None and (targets.output_dir is None or engine.NAME == "duckdb")
    if use_database:
        return Source(table=name, database=str(targets.database))
    return Source(path=str(targets.output_dir / f"{name}.parquet"))  # type: ignore[operator]


def state_text(current: dict[str, Any], events: Listing | None, assignments: Listing | None,
               watermark: dict[str, Any] | None = None) -> str:
    marked = None if watermark is None else {"at": watermark["at"], "rows": watermark["rows"]}
    state = {
        "format": STATE_FORMAT,
        "fingerprint": current,
        "inputs": {
            "events": {"files": events.files if events is not None else None, "watermark": marked},
            "assignments": {"files": assignments.files if assignments is not None else None},
        },
    }
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


# -- the incremental update -------------------------------------------------------------------

def _q(sql: str) -> exp.Query:
    return sqlglot.parse_one(sql, read="duckdb")  # type: ignore[return-value]


def _on(left: str, right: str, key: tuple[str, ...]) -> str:
    return " and ".join(f"{left}.{c} = {right}.{c}" for c in key)


def restricted(model: str, tables: dict[str, str], variables: dict[str, Any]) -> exp.Query:
    """Model ``model``'s own SQL, variables bound, with the tables it reads swapped for others
    (relations holding the touched rows only): the same logic, on fewer rows."""
    tree = bind_variables(load_models()[model].parse(), variables)
    return rename_inputs(tree, tables, "duckdb")  # type: ignore[return-value]


def renamed(tables: dict[str, str]) -> Callable[[exp.Query], exp.Query]:
    """A model's tree with the tables it reads swapped for others (its own SQL)."""
    return lambda tree: rename_inputs(tree, tables, "duckdb")  # type: ignore[return-value]


def _restating(table: str, previous: str, added: str, removed: str) -> Callable[[exp.Query], exp.Query]:
    """A model's tree with its aggregate over ``table`` restated (models/restate.py): its
    previous output ``previous``, plus relation ``added``'s rows, minus ``removed``'s."""
    not_null = load_models()[table].not_null
    return lambda tree: restate.restated(tree, table, not_null, previous, added, removed)


def _merging(engine: Engine, model: str, previous: str, new: dict[str, str]) -> Callable[[exp.Query], exp.Query]:
    """A swap of build_models: ``model`` (variables bound) built as its previous output
    ``previous`` merged, by its merge (``models/merges/<model>.sql``), with the model's own SQL
    run on the new rows alone (``new``: input -> the relation of its new rows)."""
    def swap(tree: exp.Query) -> exp.Query:
        engine.create_view(f"__expguard_new_{model}", rename_inputs(tree, new, engine.DIALECT))  # type: ignore[arg-type]
        return _merge(engine, model, tree.named_selects, previous, f"__expguard_new_{model}")
    return swap


def _merge(engine: Engine, model: str, columns: list[str], before: str, new: str) -> exp.Query:
    """The model's merge (``models/merges/<model>.sql``) of its rows in relation ``before`` and
    in relation ``new`` (both with the model's ``columns``, read in that order)."""
    listed = ", ".join(columns)
    engine.create_view(f"__expguard_{model}_to_merge", _q(
        f"select {listed} from {before} union all select {listed} from {new}"))
    return rename_inputs(merge_query(model), {model: f"__expguard_{model}_to_merge"},  # type: ignore[return-value]
                         engine.DIALECT)


def _count(engine: Engine, sql: str) -> int:
    return int(engine.fetch(_q(sql))[0]["n"])


def _append(engine: Engine, name: str, previous: str, new: str, out: str | None) -> int:
    """``name`` = the previous rows plus relation ``new``'s. With ``out`` (the output database,
    open for an update in place: :meth:`Engine.open_output`), ``new`` is appended to its table and
    ``name`` is a view of it."""
    if out is None:
        return engine.materialize(name, _q(f"select * from {previous} union all select * from {new}"))
    engine.insert_rows(f"{out}.{name}", new)
    return engine.in_output(name)


def _replace_keys(engine: Engine, name: str, previous: str, keys: str, key: tuple[str, ...],
                  recomputed: exp.Query) -> int:
    """``name`` = the previous rows whose key is not in ``keys``, plus the rows of ``recomputed``
    (a new table, for outputs written in full; an update in place moves rows instead: update()).

    Stored as one query (Spark 4.3 cannot checkpoint a union with a stored aggregate, whose
    constraints name columns it no longer has: "key not found: <column>#id").
    """
    kept = _q(f"select p.* from {previous} as p where not exists (select 1 from {keys} as k where {_on('p', 'k', key)})")
    fresh = exp.select("*").from_(recomputed.subquery("r"))
    return engine.materialize(name, exp.union(kept, fresh, distinct=False))


def updates_in_place(engine: Engine, targets: Targets) -> bool:
    """Whether the outputs are a database alone, on an engine that updates it in place."""
    return engine.updates_in_place and targets.output_dir is None and targets.database is not None


def kept_beside(engine: Engine, targets: Targets) -> list[str]:
    """After a full build: the tables kept beside the models for the updates in place that follow
    (stored now, written with the models); none when the outputs are not updated in place."""
    if not updates_in_place(engine, targets):
        return []
    engine.materialize(UNASSIGNED_NAME, _q(_unassigned(INT_DEDUPED, INT_VALIDATION)))
    return [UNASSIGNED_NAME]


def _unassigned(deduped: str, assigned: str) -> str:
    """The rows of relation ``deduped`` whose unit (experiment_id, unit_id) has no row in
    ``assigned`` (assignments, or validation rows: one per assignment)."""
    return (f"select d.* from {deduped} as d where not exists (select 1 from {assigned} as a "
            f"where {_on('d', 'a', _VALIDATION_KEY)})")


PREV = "__expguard_prev_"
#: The staging rows of the new events alone (the staging model's own SQL run on them).
NEW_STG = "__expguard_new_stg"
#: A model that only gains rows -> the relation of the rows it gained in this run (what a model in
#: ``MERGED`` runs its own SQL on).
NEW_ROWS = {STG_EXPOSURES: NEW_STG}


def update(engine: Engine, config: RunConfig, targets: Targets, previous_state: dict[str, Any],
           events: Listing | None, assignments: Listing | None, increment: Increment, steps: Steps,
           progress: Callable[[str, dict], None], watermark: dict[str, Any] | None = None,
           ) -> tuple[dict[str, tuple[int, float]], dict[str, Callable[[exp.Query], exp.Query]]]:
    """Update the three models maintained by key in ``engine``; return their (rows, seconds), and
    the models to build from a transformed tree of their own (model -> transform: the daily model
    reads the unassigned exposures kept in an output database, the by-variation model restates
    its counts).

    ``events`` None: the events are a table with an ingestion watermark, whose events view is
    built already; its new rows are those ingested after the previous watermark, up to
    ``watermark`` (the newest ``ingested_at`` now, which the state records)."""
    variables = config.variables.as_dict()
    built: dict[str, tuple[int, float]] = {}
    swaps: dict[str, Callable[[exp.Query], exp.Query]] = {}
    # A database output alone, on an engine that can: its three big tables are updated in place
    # (rows appended, touched keys' rows moved out and their recomputed rows inserted) in the run's
    # one transaction, opened now, instead of being copied and written again. A Parquet folder is
    # written in full files.
    in_place = updates_in_place(engine, targets)
    engine.in_place.clear()
    out: str | None = None
    if in_place:
        # the output database opened for writing, its one transaction begun: the previous rows are
        # its tables (read before they are updated), every table of the run is temporary
        assert targets.database is not None
        out = engine.open_output(targets.database)
        for name in MAINTAINED:
            engine.create_view(PREV + name, _q(f"select * from {out}.{name}"))
        if not engine.fetch(_q(f"select 1 as found from information_schema.tables where table_catalog = "
                               f"'{out.split('.')[0]}' and table_name = '{UNASSIGNED_NAME}'")):
            # (the first update in place after a full build: made once from the previous outputs)
            engine.create_output_table(f"{out}.{UNASSIGNED_NAME}", _q(_unassigned(
                f"{out}.{INT_DEDUPED}", f"{out}.{INT_VALIDATION}")))
    else:
        for name in MAINTAINED:
            engine.register_source(PREV + name, previous_source(engine, targets, name))
    steps.done("read state")

    # 1. staging: the previous rows and the new files' rows
    started = time.perf_counter()
    progress("model_start", {"name": STG_EXPOSURES})
    checkpoint(f"model:{STG_EXPOSURES}")
    keys_d = "__expguard_keys_deduped"
    if events is None:
        # a table with a watermark: its rows ingested after the last run's newest ingested_at
        mark = previous_state["inputs"]["events"]["watermark"]["at"]
        assert watermark is not None
        bounds = [f"ingested_at > {_timestamp(mark)}"] if mark is not None else []
        if watermark["at"] is not None:
            bounds.append(f"ingested_at <= {_timestamp(watermark['at'])}")  # rows loaded meanwhile: next run
        where = " where " + " and ".join(bounds) if bounds else " where false"
        engine.create_view("__expguard_new_events", _q(f"select * from {EVENTS}{where}"))
        increment.new_event_rows = _count(engine, "select count(*) as n from __expguard_new_events")
        engine.materialize(NEW_STG, restricted(STG_EXPOSURES, {EVENTS: "__expguard_new_events"}, variables))
    else:
        processed = previous_state["inputs"]["events"]["files"]
        new_files = [path for path in events.files if path not in processed]
        increment.new_files += [shown(path) for path in new_files]
        if new_files:
            engine.register_source(inputs.RAW_EVENTS, events.source(config.events, new_files))
            inputs.build_event_view(engine, config.event_mapping, config.events.describe())
            increment.new_event_rows = _count(engine, f"select count(*) as n from {inputs.RAW_EVENTS}")
            engine.materialize(NEW_STG, bind_variables(load_models()[STG_EXPOSURES].parse(), variables))
        else:
            engine.materialize(NEW_STG, _q(f"select * from {PREV}{STG_EXPOSURES} where false"))
    rows = _append(engine, STG_EXPOSURES, PREV + STG_EXPOSURES, NEW_STG, out)
    engine.materialize(keys_d, _q(f"select distinct {', '.join(_DEDUPED_KEY)} from {NEW_STG} "
                                  "where reject_reason is null"))
    built[STG_EXPOSURES] = (rows, time.perf_counter() - started)
    progress("model_done", {"name": STG_EXPOSURES, "rows": rows, "seconds": built[STG_EXPOSURES][1]})
    steps.done("new events")

    # 2. assignments: only files added -> their rows, checked with the earlier rows of their keys;
    #    a processed file changed or gone (or a table) -> the whole assignment view, checked,
    #    diffed against the previous validation's assignment columns
    started = time.perf_counter()
    processed_a = previous_state["inputs"]["assignments"]["files"]
    keys_a = "__expguard_keys_assignments"
    assignment_rows = "__expguard_assignments"
    def earlier_of(validation: str) -> str:
        # the assignment columns of validation rows (one row per assignment), as the view has them
        return ("select experiment_id, unit_id, assigned_variation_id as variation_id, assigned_at, "
                f"cast(null as varchar) as assigned_at_raw from {validation}")

    earlier_columns = earlier_of(PREV + INT_VALIDATION)
    new_rows = "__expguard_new_assignments"
    earlier_of_new_keys = (f"select e.* from ({{earlier}}) as e where exists (select 1 from {new_rows} as n "
                           f"where {_on('e', 'n', _VALIDATION_KEY)}) union all select * from {new_rows}")
    only_added = (assignments is not None and isinstance(processed_a, dict) and assignments.files != processed_a
                  and all(assignments.files.get(path) == list(stat) for path, stat in processed_a.items()))
    assignments_from_validation = only_added or (assignments is not None and assignments.files == processed_a)
    if only_added:
        # Only new files (every processed one is there, unchanged): the new rows are those files'
        # rows; the earlier ones are the previous validation's assignment columns, which passed
        # the contracts. The row checks run on the new rows alone and the uniqueness check on the
        # new rows with the earlier rows of their keys: the same violations, counts and examples
        # as on the whole table, without reading the earlier files again.
        added = [path for path in assignments.files if path not in processed_a]
        increment.new_files += [shown(path) for path in added]
        engine.register_source(inputs.RAW_ASSIGNMENTS, assignments.source(config.assignments, added))
        inputs.build_assignment_view(engine, config.assignment_mapping, config.assignments.describe())
        engine.materialize(new_rows, _q(
            "select experiment_id, unit_id, variation_id, assigned_at, cast(assigned_at_raw as varchar) as assigned_at_raw "
            f"from {ASSIGNMENTS}"))
        engine.create_view(ASSIGNMENTS, _q(f"select * from {new_rows}"))
        contracts.check_assignments(engine, contracts.ROW_CHECKS)
        if out is None:
            # (updated in place: checked in step 4, from the validation rows of the touched units)
            engine.create_view(ASSIGNMENTS, _q(earlier_of_new_keys.format(earlier=earlier_columns)))
            contracts.check_unique_pairs(engine)
        engine.materialize(keys_a, _q(f"select distinct experiment_id, unit_id, false as deleted from {new_rows}"))
        increment.new_assignment_rows = _count(engine, f"select count(*) as n from {new_rows}")
        engine.create_view(ASSIGNMENTS, _q(f"{earlier_columns} union all select * from {new_rows}"))
        engine.create_view(assignment_rows, _q(f"select * from {ASSIGNMENTS}"))
    elif assignments is None or assignments.files != processed_a:
        if assignments is not None:
            increment.new_files += [shown(p) for p, s in assignments.files.items()
                                    if p not in (processed_a or {}) or processed_a[p] != s]
            source = assignments.source(config.assignments)
        else:
            source = config.assignments
        engine.register_source(inputs.RAW_ASSIGNMENTS, source)
        inputs.build_assignment_view(engine, config.assignment_mapping, config.assignments.describe())
        # the contracts of a full run, on the whole assignment view, with the same messages
        contracts.check_assignments(engine, contracts.ROW_CHECKS)
        contracts.check_unique_pairs(engine)
        engine.materialize(keys_a, _q(
            "select coalesce(c.experiment_id, p.experiment_id) as experiment_id, "
            "coalesce(c.unit_id, p.unit_id) as unit_id, c.experiment_id is null as deleted "
            f"from {ASSIGNMENTS} as c full outer join {PREV}{INT_VALIDATION} as p "
            f"on {_on('c', 'p', _VALIDATION_KEY)} "
            "where c.experiment_id is null or p.experiment_id is null "
            "or c.variation_id is distinct from p.assigned_variation_id or c.assigned_at is distinct from p.assigned_at"))
        increment.new_assignment_rows = _count(engine, f"select count(*) as n from {keys_a} where not deleted")
        engine.create_view(assignment_rows, _q(f"select * from {ASSIGNMENTS}"))
    else:
        engine.materialize(keys_a, _q(f"select experiment_id, unit_id, false as deleted from {PREV}{INT_VALIDATION} "
                                      "where false"))
        # unchanged: the previous validation holds every assignment's columns, as the view gives
        # them (one row per assignment); the models read them under the view's name
        engine.create_view(ASSIGNMENTS, _q(earlier_columns))
        engine.create_view(assignment_rows, _q(f"select * from {ASSIGNMENTS}"))
    steps.done("assignments")

    # the assigned units touched: those of the touched deduped keys, and of the assignments added,
    # changed or deleted
    keys_v = "__expguard_keys_validation"
    engine.materialize(keys_v, _q(
        f"select distinct experiment_id, unit_id from (select experiment_id, unit_id from {keys_d} "
        f"union all select experiment_id, unit_id from {keys_a}) as t"))
    increment.restated_units = _count(engine, f"select count(*) as n from {keys_v}")

    # 3. deduped: the model's own SQL on the new events alone, merged with the touched keys' rows
    #    before (merges/int_experiment_exposures_deduped.sql): no earlier event is read again
    started = time.perf_counter()
    progress("model_start", {"name": INT_DEDUPED})
    checkpoint(f"model:{INT_DEDUPED}")
    # (a view, read once: Spark cannot store a union with a stored aggregate, see _replace_keys)
    engine.create_view("__expguard_new_deduped", restricted(INT_DEDUPED, {STG_EXPOSURES: NEW_STG}, variables))

    def merged(before: str) -> exp.Query:
        # the deduped rows of relation ``before`` merged with the new events' deduped rows
        return _merge(engine, INT_DEDUPED, load_models()[INT_DEDUPED].parse().named_selects, before,
                      "__expguard_new_deduped")

    if out is None:
        engine.create_view("__expguard_deduped_before", _q(
            f"select p.* from {PREV}{INT_DEDUPED} as p where exists (select 1 from {keys_d} as k "
            f"where {_on('p', 'k', _DEDUPED_KEY)})"))
        rows = _replace_keys(engine, INT_DEDUPED, PREV + INT_DEDUPED, keys_d, _DEDUPED_KEY,
                             merged("__expguard_deduped_before"))
    else:
        # Updated in place: every deduped row of the touched units is moved out of the table (one
        # scan, for both uses) and merged with the new rows (a row without new events comes out
        # as it was): all of them go back in, and they are the touched units' exposures that the
        # validation reads.
        engine.take_rows(f"__expguard_previous_{INT_DEDUPED}", f"{out}.{INT_DEDUPED}", keys_v, _VALIDATION_KEY)
        engine.materialize("__expguard_deduped_touched_units", merged(f"__expguard_previous_{INT_DEDUPED}"))
        engine.insert_rows(f"{out}.{INT_DEDUPED}", "__expguard_deduped_touched_units")
        rows = engine.in_output(INT_DEDUPED)
    built[INT_DEDUPED] = (rows, time.perf_counter() - started)
    progress("model_done", {"name": INT_DEDUPED, "rows": rows, "seconds": built[INT_DEDUPED][1]})
    steps.done("deduped")

    # 4. validation: the touched assignment keys recomputed
    started = time.perf_counter()
    progress("model_start", {"name": INT_VALIDATION})
    checkpoint(f"model:{INT_VALIDATION}")
    touched_assignments = (f"select a.* from {assignment_rows} as a inner join {keys_v} as k "
                           f"on {_on('a', 'k', _VALIDATION_KEY)}")
    recomputed = restricted(INT_VALIDATION, {ASSIGNMENTS: "__expguard_assignments_touched",
                                             INT_DEDUPED: "__expguard_deduped_touched_units"}, variables)
    if out is None:
        engine.create_view("__expguard_assignments_touched", _q(touched_assignments))
        engine.create_view("__expguard_deduped_touched_units", _q(
            f"select d.* from {INT_DEDUPED} as d inner join {keys_v} as k on {_on('d', 'k', _VALIDATION_KEY)}"))
        rows = _replace_keys(engine, INT_VALIDATION, PREV + INT_VALIDATION, keys_v, _VALIDATION_KEY, recomputed)
        # the touched units' rows before and now (read for the count of restated cohorts alone)
        taken = f"(select p.* from {PREV}{INT_VALIDATION} as p inner join {keys_v} as k on {_on('p', 'k', _VALIDATION_KEY)})"
        now = f"(select v.* from {INT_VALIDATION} as v inner join {keys_v} as k on {_on('v', 'k', _VALIDATION_KEY)})"
    else:
        # Updated in place: the touched units' validation rows are moved out of the table first
        # (one scan); their assignment columns are the earlier assignments of those units (the
        # uniqueness check of new assignment files reads them), then the recomputed rows go in.
        # (and the columns the restated aggregates read: their rows before are subtracted)
        taken, now = f"__expguard_previous_{INT_VALIDATION}", f"__expguard_recomputed_{INT_VALIDATION}"
        assignment_columns = ("experiment_id", "unit_id", "assigned_variation_id", "assigned_at", "assignment_date")
        aggregated: set[str] = set()
        for model, table in RESTATED.items():
            if table == INT_VALIDATION:
                aggregated |= restate.read_columns(load_models()[model].parse(), table)
        also = [c for c in load_models()[INT_VALIDATION].parse().named_selects
                if c in aggregated and c not in assignment_columns]
        engine.take_rows(taken, f"{out}.{INT_VALIDATION}", keys_v, _VALIDATION_KEY, (*assignment_columns, *also))
        if only_added:
            engine.create_view(ASSIGNMENTS, _q(earlier_of_new_keys.format(earlier=earlier_of(taken))))
            contracts.check_unique_pairs(engine)
            touched_assignments = f"{earlier_of(taken)} union all select * from {new_rows}"
        elif assignments_from_validation:
            touched_assignments = earlier_of(taken)
        engine.materialize("__expguard_assignments_touched", _q(touched_assignments))
        engine.materialize(now, recomputed)
        engine.insert_rows(f"{out}.{INT_VALIDATION}", now)
        rows = engine.in_output(INT_VALIDATION)
        if assignments_from_validation:
            # every assignment is now in the updated validation table, the new ones included
            engine.create_view(ASSIGNMENTS, _q(earlier_columns))
        # the unassigned exposed units: the touched units' rows replaced by those of them that
        # have no assignment now; the daily model reads them instead of its anti join of every
        # deduped row with every assignment (its own SQL, given no assignment to match)
        engine.take_rows("__expguard_unassigned_before", f"{out}.{UNASSIGNED_NAME}", keys_v, _VALIDATION_KEY, ())
        engine.materialize("__expguard_unassigned_now", _q(_unassigned(
            "__expguard_deduped_touched_units", "__expguard_assignments_touched")))
        engine.insert_rows(f"{out}.{UNASSIGNED_NAME}", "__expguard_unassigned_now")
        engine.in_place.add(UNASSIGNED_NAME)
        engine.create_view("__expguard_unassigned", _q(f"select * from {out}.{UNASSIGNED_NAME}"))
        engine.create_view("__expguard_no_assignments", _q(f"select * from {ASSIGNMENTS} where false"))
        swaps[FCT_DAILY] = renamed({INT_DEDUPED: "__expguard_unassigned", ASSIGNMENTS: "__expguard_no_assignments"})
        # the by-variation counts: the previous ones, plus the recomputed rows', minus the taken rows'
        for model, table in RESTATED.items():
            swaps[model] = _restating(table, f"{out}.{model}", now, taken)
        # the rejection counts: the previous ones merged with the model's own on the new events
        for model, table in MERGED.items():
            swaps[model] = _merging(engine, model, f"{out}.{model}", {table: NEW_ROWS[table]})
    if increment.restated_units:
        # (an assigned unit restated whose validation row is identical is counted as restated)
        increment.restated_cohorts = _count(engine, (
            "select count(*) as n from (select distinct experiment_id, assignment_date from ("
            f"select p.experiment_id, p.assignment_date from {taken} as p "
            f"union all select v.experiment_id, v.assignment_date from {now} as v) as c) as d"))
    built[INT_VALIDATION] = (rows, time.perf_counter() - started)
    progress("model_done", {"name": INT_VALIDATION, "rows": rows, "seconds": built[INT_VALIDATION][1]})
    steps.done("validation")

    # 5. the events view over every file, as a full run has it: a model may read it (the health
    #    model looks there for an experiment's missing exposure events, rarely), so it is bound
    #    only if one asks (binding a view over every file is a tenth of a second at L). The view
    #    over the new files alone goes now: nothing reads it by mistake.
    if events is not None:
        def every_event() -> None:
            engine.register_source(inputs.RAW_EVENTS, events.source(config.events))
            inputs.build_event_view(engine, config.event_mapping, config.events.describe())

        engine.defer(EVENTS, every_event)
    return built, swaps
