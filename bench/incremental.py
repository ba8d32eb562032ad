"""Incremental runs against full rebuilds (issue #16), side by side in one invocation.

    python bench/incremental.py --scale L                      # day 60 (+ a late slice of day 58)
    python bench/incremental.py --scale M --replay             # 60 daily runs, end to end
    python bench/incremental.py --scale M --engine spark       # the same on Spark local

The scale's generated events and assignments (``bench/generate.py``) are first cut into one file
per day and chunk (``<work>/<scale>-days/``, reused): events by the UTC date of ``event_ts``
(undated events in a file of their own, with the first day), assignments by ``assigned_at``. The
days are the 60 days of assignments; events dated after them (the generator's tail of exposures
weeks after assignment) are left out of this workload, for the incremental and the full runs
alike. Day 58 keeps a tenth of its events aside, in a file that lands with day 60: late data for
a day already processed.

Day 60 (default): an ``--incremental`` run over days 1-59 (a full build that records its state),
then the same run with day 60 and the late slice added, timed; against it, in the same
invocation, a full rebuild (no ``--incremental``) over all 60 days, timed the same way. The
incremental outputs must equal the full rebuild's, every model (checked before any number is
kept). Goal: the incremental run at most a tenth of the full rebuild, peak memory no higher.

``--replay``: day by day from day 1, an incremental run after each day lands, and a full rebuild
of the same files beside it; the sums of both, and the equality of the last outputs.

``--outputs`` chooses what a run writes: the Parquet folder (``dir``, the default of the
benchmark), the DuckDB database (``db``), or ``both``. Timings are whole processes (start-up
included), measured as bench/run.py measures them; results go to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import check  # noqa: E402
import generate  # noqa: E402
from run import EXPGUARD_BIN, compile_expguard, machine, measure  # noqa: E402



def split_by_day(scale: str, data: Path, work: Path) -> Path:
    """Cut the scale's files into ``events/<day>-cNN.parquet`` and ``assignments/<day>.parquet``."""
    target = work / f"{scale}-days"
    if (target / "done.json").exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    (target / "events").mkdir(parents=True)
    (target / "assignments").mkdir(parents=True)
    source = generate.build(scale, data)
    for chunk, path in enumerate(sorted(source.glob("events-*.parquet"))):
        table = pq.read_table(path)
        days = pc.cast(table["event_ts"], pa.date32())
        pq.write_table(table.filter(pc.is_null(days)), target / "events" / f"undated-c{chunk:02d}.parquet")
        for day in sorted(d for d in pc.unique(days).to_pylist() if d is not None):
            part = table.filter(pc.equal(days, pa.scalar(day, pa.date32())))
            pq.write_table(part, target / "events" / f"{day}-c{chunk:02d}.parquet")
        print(f"[incremental] split {path.name}", file=sys.stderr)
    assignments = pq.read_table(source / "assignments.parquet")
    days = pc.cast(assignments["assigned_at"], pa.date32())
    for day in sorted(d for d in pc.unique(days).to_pylist() if d is not None):
        part = assignments.filter(pc.equal(days, pa.scalar(day, pa.date32())))
        pq.write_table(part, target / "assignments" / f"{day}.parquet")
    all_days = sorted(p.name[:10] for p in (target / "assignments").glob("*.parquet"))
    for path in (target / "events").glob("2*.parquet"):
        if path.name[:10] > all_days[-1]:
            path.unlink()  # past the 60 days of assignments: the generator's tail of late exposures
    late = all_days[-3]
    for path in sorted((target / "events").glob(f"{late}-c*.parquet")):
        table = pq.read_table(path)
        cut = table.num_rows * 9 // 10
        pq.write_table(table.slice(0, cut), path)
        pq.write_table(table.slice(cut), path.with_name(path.stem + "-late.parquet"))
    (target / "done.json").write_text(json.dumps({"days": all_days, "late_day": late}))
    return target


def files_up_to(days_dir: Path, day_index: int) -> list[Path]:
    """Every file that has landed once day ``day_index`` (1-based) has: its days' events and
    assignments, the undated events, and the late slice of day N-2 with day N."""
    info = json.loads((days_dir / "done.json").read_text())
    days = info["days"][:day_index]
    files = []
    for path in sorted((days_dir / "events").glob("*.parquet")):
        day = path.name[:10]
        if path.name.startswith("undated"):
            files.append(path)
        elif path.stem.endswith("-late"):
            landed_with = info["days"].index(day) + 2
            if landed_with < day_index:
                files.append(path)
        elif day <= days[-1]:  # (exposures before the first assignment day land with day 1)
            files.append(path)
    files += [p for p in sorted((days_dir / "assignments").glob("*.parquet")) if p.name[:10] in days]
    return files


def land(days_dir: Path, inputs: Path, day_index: int) -> None:
    """Make ``inputs`` hold what has landed by day ``day_index`` (hard links: no copy)."""
    for path in files_up_to(days_dir, day_index):
        link = inputs / path.parent.name / path.name
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, link)


def as_of(days_dir: Path) -> str:
    """The freshness reference time of every run: the day after the workload's last day (fixed,
    so that the incremental and the full runs' health rows compare equal)."""
    last = dt.date.fromisoformat(json.loads((days_dir / "done.json").read_text())["days"][-1])
    return f"{last + dt.timedelta(days=1)}T00:00:00"


def command(inputs: Path, out: Path, outputs: str, engine: str, incremental: bool, stamp: str) -> list[str]:
    cmd = [EXPGUARD_BIN, "run", "-q", "--events", str(inputs / "events"), "--assignments", str(inputs / "assignments"),
           "--as-of", stamp, "--engine", engine]
    if outputs in ("dir", "both"):
        cmd += ["--output-dir", str(out)]
    if outputs in ("db", "both"):
        cmd += ["--database", str(out.with_suffix(".duckdb"))]
    return cmd + (["--incremental"] if incremental else [])


def compared_dir(out: Path, outputs: str, scratch: Path) -> Path:
    """A folder of ``<model>.parquet`` to compare: the output folder, or the database exported."""
    if outputs != "db":
        return out
    import duckdb

    folder = scratch / (out.name + "-exported")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with duckdb.connect(str(out.with_suffix(".duckdb")), read_only=True) as con:
        for (name,) in con.execute("select table_name from information_schema.tables "
                                   "where table_name not like '\\_%' escape '\\'").fetchall():
            con.execute(f"copy \"{name}\" to '{folder / (name + '.parquet')}' (format parquet)")
    return folder


def timed(cmd: list[str], what: str) -> dict:
    run = measure(cmd)
    if run.returncode != 0:
        raise SystemExit(f"[incremental] {what} failed (exit {run.returncode}): {run.stderr_tail}")
    print(f"[incremental] {what}: {run.wall:.2f} s wall, {run.cpu:.2f} s CPU, peak {run.peak_rss / 2**30:.2f} GiB",
          file=sys.stderr)
    return {"what": what, "wall": run.wall, "cpu": run.cpu, "peak_rss": run.peak_rss}


def reset(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
        path.with_suffix(".duckdb").unlink(missing_ok=True)


def equal_or_stop(full: Path, inc: Path, outputs: str, scratch: Path) -> str:
    expected, actual = compared_dir(full, outputs, scratch), compared_dir(inc, outputs, scratch)
    problems = check.compare(expected, actual, check.models_in(expected))
    if problems:
        raise SystemExit("[incremental] the incremental outputs differ from the full rebuild: " + "; ".join(problems)[:800])
    return f"equal ({len(check.models_in(expected))} models)"


def day_sixty(days_dir: Path, work: Path, outputs: str, engine: str, rounds: int) -> list[dict]:
    n = len(json.loads((days_dir / "done.json").read_text())["days"])
    stamp = as_of(days_dir)
    rows = []
    for round_ in range(rounds):
        inputs, inc, full = work / "inputs", work / "out-incremental", work / "out-full"
        shutil.rmtree(inputs, ignore_errors=True)
        reset(inc, full)
        land(days_dir, inputs, n - 1)
        first = timed(command(inputs, inc, outputs, engine, True, stamp), f"round {round_ + 1}: incremental first run, days 1-{n - 1} (full build)")
        land(days_dir, inputs, n)
        # the two timed runs of a round alternate their order, as bench/run.py rotates peers
        order = ("incremental", "full") if round_ % 2 == 0 else ("full", "incremental")
        got = {}
        for kind in order:
            if kind == "incremental":
                got[kind] = timed(command(inputs, inc, outputs, engine, True, stamp), f"round {round_ + 1}: incremental, day {n} + late slice of day {n - 2}")
            else:
                got[kind] = timed(command(inputs, full, outputs, engine, False, stamp), f"round {round_ + 1}: full rebuild, days 1-{n}")
        check_text = equal_or_stop(full, inc, outputs, work)
        rows.append({"round": round_ + 1, "first": first, "incremental": got["incremental"], "full": got["full"],
                     "check": check_text})
    return rows


def replay(days_dir: Path, work: Path, outputs: str, engine: str) -> dict:
    n = len(json.loads((days_dir / "done.json").read_text())["days"])
    stamp = as_of(days_dir)
    inputs, inc, full = work / "inputs", work / "out-incremental", work / "out-full"
    shutil.rmtree(inputs, ignore_errors=True)
    reset(inc, full)
    days = []
    for day in range(1, n + 1):
        land(days_dir, inputs, day)
        a = timed(command(inputs, inc, outputs, engine, True, stamp), f"day {day}: incremental")
        reset(full)
        b = timed(command(inputs, full, outputs, engine, False, stamp), f"day {day}: full rebuild")
        days.append({"day": day, "incremental": a, "full": b})
    return {"days": days, "check": equal_or_stop(full, inc, outputs, work)}


def markdown(args, info: dict, result) -> str:
    lines = [f"# Incremental runs, scale {args.scale}, engine {args.engine}, outputs {args.outputs}", "",
             f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, `python bench/incremental.py "
             f"{' '.join(sys.argv[1:])}`; machine: {info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB.", ""]
    if args.replay:
        inc = sum(d["incremental"]["wall"] for d in result["days"])
        full = sum(d["full"]["wall"] for d in result["days"])
        inc_cpu = sum(d["incremental"]["cpu"] for d in result["days"])
        full_cpu = sum(d["full"]["cpu"] for d in result["days"])
        lines += ["| replay | runs | wall s | CPU s | max peak RSS GiB |", "|---|---|---|---|---|",
                  f"| incremental, one run per day | {len(result['days'])} | {inc:.1f} | {inc_cpu:.1f} | "
                  f"{max(d['incremental']['peak_rss'] for d in result['days']) / 2**30:.2f} |",
                  f"| full rebuild every day | {len(result['days'])} | {full:.1f} | {full_cpu:.1f} | "
                  f"{max(d['full']['peak_rss'] for d in result['days']) / 2**30:.2f} |", "",
                  f"Incremental / full: {inc / full:.3f} wall, {inc_cpu / full_cpu:.3f} CPU. Last outputs: {result['check']}.", ""]
        lines += ["| day | incremental wall s | full wall s |", "|---|---|---|"]
        lines += [f"| {d['day']} | {d['incremental']['wall']:.2f} | {d['full']['wall']:.2f} |" for d in result["days"]]
        return "\n".join(lines) + "\n"
    lines += ["| round | first run (days 1-59, full build) wall s | incremental (day 60 + late) wall s / CPU s / peak GiB "
              "| full rebuild (60 days) wall s / CPU s / peak GiB | incremental / full (wall, CPU) | check |",
              "|---|---|---|---|---|---|"]
    for r in result:
        i, f = r["incremental"], r["full"]
        lines.append(f"| {r['round']} | {r['first']['wall']:.2f} | {i['wall']:.2f} / {i['cpu']:.2f} / {i['peak_rss'] / 2**30:.2f} "
                     f"| {f['wall']:.2f} / {f['cpu']:.2f} / {f['peak_rss'] / 2**30:.2f} | {i['wall'] / f['wall']:.3f}, "
                     f"{i['cpu'] / f['cpu']:.3f} | {r['check']} |")
    med_i = statistics.median(r["incremental"]["wall"] for r in result)
    med_f = statistics.median(r["full"]["wall"] for r in result)
    lines += ["", f"Median: incremental {med_i:.2f} s, full rebuild {med_f:.2f} s: **{med_i / med_f:.3f}x** "
              f"(goal: at most 0.100x)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="L", choices=sorted(generate.SCALES))
    parser.add_argument("--engine", default="duckdb", choices=["duckdb", "spark"])
    parser.add_argument("--outputs", default="dir", choices=["dir", "db", "both"])
    parser.add_argument("--replay", action="store_true", help="one incremental run per day, against a full rebuild per day")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--work-dir", type=Path, default=HERE / "work")
    parser.add_argument("--results-dir", type=Path, default=HERE / "results")
    args = parser.parse_args()
    compile_expguard()  # as a wheel install has them, for both kinds of run (bench/run.py)
    started = time.monotonic()
    days_dir = split_by_day(args.scale, args.data_dir, args.work_dir)
    work = args.work_dir / f"{args.scale}-{args.engine}-{args.outputs}"
    work.mkdir(parents=True, exist_ok=True)
    result = replay(days_dir, work, args.outputs, args.engine) if args.replay else \
        day_sixty(days_dir, work, args.outputs, args.engine, args.rounds)
    info = machine()
    text = markdown(args, info, result)
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"incremental-{args.scale}-{args.engine}-{args.outputs}" + ("-replay" if args.replay else "")
    (args.results_dir / f"{stem}.md").write_text(text)
    (args.results_dir / f"{stem}.json").write_text(json.dumps({"machine": info, "result": result}, indent=1, default=str))
    print(text)
    print(f"[incremental] {time.monotonic() - started:.0f} s in all; {args.results_dir / (stem + '.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
