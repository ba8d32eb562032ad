"""Where expguard's time goes: each step of a run on the DuckDB engine, timed in one process,
with DuckDB's operator profile of every SQL model. CPU seconds are this process's (every
DuckDB thread included): on a shared machine they move far less than wall seconds.

    python bench/profile.py --scale L [--memory-limit 2GB] [--hand]

Steps: registering the sources and building the canonical views, the assignment contracts,
each model (SQL models profiled with DuckDB's JSON profiler: the slowest operators and their
share of the model's time), and each model's Parquet write. ``--hand`` profiles the
hand-written DuckDB script (bench/peers/duckdb_job.sql) statement by statement, for comparison.
Writes ``bench/results/profile-<scale>[-hand].md`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH / "peers"))

import generate  # noqa: E402


class Clock:
    """Wall and CPU seconds (this process, all threads) since creation, as two table cells."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.wall:.2f} | {time.process_time() - self.cpu:.2f}"


def _operators(node: dict, out: list[tuple[float, str, str]]) -> None:
    # DuckDB 1.x: operator_name/operator_timing; DuckDB 2: name/timing
    name = node.get("operator_name") or node.get("name") or ""
    timing = float(node.get("operator_timing") or node.get("timing") or 0.0)
    info = node.get("extra_info") or {}
    detail = ""
    if isinstance(info, dict):
        detail = " ".join(f"{k}={v}" for k, v in info.items() if k in ("Table", "Function", "Groups", "Aggregates",
                                                                      "Join Type", "Conditions", "Projections")
                          )[:110]
    if name:
        out.append((timing, name.strip(), detail.replace("\n", " ")))
    for child in node.get("children", []):
        _operators(child, out)


def profiled(con, sql: str, label: str, lines: list[str], top: int = 5) -> float:
    """Run ``sql`` with DuckDB's JSON profiler on; append its slowest operators to ``lines``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        target = handle.name
    con.execute("set enable_profiling = 'json'")
    con.execute(f"set profiling_output = '{target}'")
    started, cpu = time.perf_counter(), time.process_time()
    con.execute(sql)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    con.execute("set enable_profiling = 'no_output'")
    con.execute("pragma disable_profiling")
    try:
        tree = json.loads(Path(target).read_text() or "{}")
    except json.JSONDecodeError:
        tree = {}
    Path(target).unlink(missing_ok=True)
    ops: list[tuple[float, str, str]] = []
    for child in tree.get("children", []) + tree.get("operator", []):
        _operators(child, ops)
    ops = [o for o in ops if o[1] not in ("RESULT_COLLECTOR",)]
    total = sum(t for t, _, _ in ops) or 1.0
    system = tree.get("system", {})
    spilled = system.get("total_bytes_spilled") or 0
    memory = f"peak buffer {system.get('peak_buffer_memory', 0) / 2**30:.2f} GiB" + (
        f", spilled {spilled / 2**30:.2f} GiB" if spilled else "")
    lines.append(f"| {label} | {seconds:.2f} | {cpu:.2f} | {memory}<br>" + "<br>".join(
        f"{name} {t:.2f} s ({100 * t / total:.0f}%) {detail}" for t, name, detail in sorted(ops, reverse=True)[:top]) + " |")
    return seconds


def profile_expguard(scale: str, data: Path, memory_limit: str | None) -> list[str]:
    from expguard.inputs import contracts, views as inputs
    from expguard.sql.render import bind_variables
    from expguard.settings.config import build_config
    from expguard.engines import create_engine
    from expguard.models.registry import load_models
    from expguard.runner.pipeline import BY_UNIT, SPILLED_AFTER, drop_parts, partitioned, parts_of

    events, assignments = generate.paths(scale, data)
    config = build_config(events=events, assignments=assignments,
                          engine={"memory_limit": memory_limit} if memory_limit else None)
    engine = create_engine(config.engine)
    con = engine.con
    lines = [f"expguard on {scale}" + (f", memory limit {memory_limit}" if memory_limit else ""), "",
             "| step | wall s | CPU s | slowest operators (share of the step's operator time) |", "|---|---|---|---|"]
    t = Clock()
    engine.register_source(inputs.RAW_EVENTS, config.events)
    engine.register_source(inputs.RAW_ASSIGNMENTS, config.assignments)
    inputs.build_event_view(engine, config.event_mapping, config.events.describe())
    inputs.build_assignment_view(engine, config.assignment_mapping, config.assignments.describe())
    lines.append(f"| sources and views | {t} | |")
    # The contracts as a run checks them: the row checks in one scan first, the uniqueness from
    # the validation model's row count after the models (expguard.runner.pipeline.contracts_checked).
    t = Clock()
    contracts.check_assignments(engine, contracts.ROW_CHECKS)
    lines.append(f"| contracts: row checks | {t} | |")
    variables = config.variables.as_dict()
    names = []
    for model in load_models().values():
        names.append(model.name)
        if model.python is not None:
            t = Clock()
            engine.register_rows(model.name, model.python.build(engine, config.variables), model.python.columns)
            lines.append(f"| {model.name} (Python) | {t} | |")
            continue
        tree = bind_variables(model.parse(), variables)
        parts = parts_of(engine, model.name)
        if parts > 1:
            # as a run does under a small buffer: the model built in parts by unit, one statement each
            for part, query in enumerate(partitioned(engine, tree, BY_UNIT[model.name], parts)):
                sql = engine.render(query)
                profiled(con, f"create or replace table {model.name} as {sql}" if part == 0 else
                         f"insert into {model.name} {sql}", f"{model.name}, part {part + 1} of {parts} by unit", lines)
            drop_parts(engine, BY_UNIT[model.name], parts)
        else:
            profiled(con, f"create or replace table {model.name} as {engine.render(tree)}", model.name, lines)
        if model.name in SPILLED_AFTER:
            # as a run does: under a memory limit, a table leaves memory here (Engine.spill)
            t = Clock()
            if engine.spill(SPILLED_AFTER[model.name]):
                lines.append(f"| {SPILLED_AFTER[model.name]} written and dropped from memory (its write below "
                             f"copies the file) | {t} | |")
    t = Clock()
    validation_rows = con.execute("select count(*) from int_experiment_exposure_validation").fetchone()[0]
    contracts.check_unique_pairs(engine, validation_rows)
    lines.append(f"| contracts: uniqueness (from the validation row count) | {t} | |")
    out = Path(tempfile.mkdtemp(prefix="expguard-profile-"))
    for name in names:
        t = Clock()
        engine.write_parquet(name, out / f"{name}.parquet")
        lines.append(f"| write {name} | {t} | |")
    engine.close()
    shutil.rmtree(out, ignore_errors=True)
    return lines


def profile_hand(scale: str, data: Path) -> list[str]:
    import duckdb

    from _common import EVENT_NAME, GRACE_MINUTES, MAX_DAYS

    events, assignments = generate.paths(scale, data)
    out = Path(tempfile.mkdtemp(prefix="hand-profile-"))
    script = ((BENCH / "peers" / "duckdb_job.sql").read_text()
              .replace("{events}", events).replace("{assignments}", assignments).replace("{out}", str(out))
              .replace("{event_name}", EVENT_NAME).replace("{grace_minutes}", str(GRACE_MINUTES))
              .replace("{max_days}", str(MAX_DAYS)))
    script = re.sub(r"--[^\n]*", "", script)
    con = duckdb.connect()
    lines = [f"hand-written DuckDB job on {scale}", "",
             "| statement | wall s | CPU s | slowest operators |", "|---|---|---|---|"]
    for statement in (s.strip() for s in script.split(";")):
        if not statement:
            continue
        label = " ".join(statement.split()[:4])[:60]
        if statement.upper().startswith("SET"):
            con.execute(statement)
            continue
        profiled(con, statement, label, lines)
    con.close()
    shutil.rmtree(out, ignore_errors=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=list(generate.SCALES), default="M")
    parser.add_argument("--data-dir", type=Path, default=generate.DEFAULT_DATA)
    parser.add_argument("--memory-limit")
    parser.add_argument("--hand", action="store_true", help="profile the hand-written DuckDB job instead")
    args = parser.parse_args()
    generate.build(args.scale, args.data_dir)
    lines = profile_hand(args.scale, args.data_dir) if args.hand else \
        profile_expguard(args.scale, args.data_dir, args.memory_limit)
    text = "\n".join(lines) + "\n"
    suffix = "-hand" if args.hand else ("-" + args.memory_limit if args.memory_limit else "")
    target = BENCH / "results" / f"profile-{args.scale}{suffix}.md"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
