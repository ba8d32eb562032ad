"""Benchmark workloads: S = 1M, M = 10M, L = 50M events, built with ``expguard.generator``.

Each scale is generated in seeded chunks of at most ``CHUNK_EVENTS`` events, one
``events-NN.parquet`` file per chunk, so that peak memory stays near that of one chunk
(about 1.5 GiB for 5M events) whatever the scale. Every chunk is an independent
``expguard.generator.generate`` call (seed ``SEED * 1000 + chunk``) over the same 20
experiments and the same 60 days, with its own population of units: unit ids are
renamed ``u_N`` -> ``uC_N`` (C = chunk number) and event ids ``evt_N`` -> ``evtC_N``, so
(experiment_id, unit_id) stays unique in the assignments across chunks and no two
chunks share a unit. Padded (" u_1 ") and empty unit ids keep their defects: only the
``u_`` prefix is rewritten. The chunks' assignments are written together as one
``assignments.parquet``.

Defect rates are the generator's defaults (6% duplicated exposures, 2% multi-variation,
2% mismatch, 3% + 2% pre-assignment within/beyond grace, 2% late, 8% never exposed,
2% unassigned, 1% malformed), 15% of events are exposures, and assignments come to
about 1/7 of the events. Files are Snappy-compressed with row groups of 512Ki rows.

    python bench/generate.py --scales S M L            # into bench/data/<scale>/
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from expguard.apps.demo.generator import generate

SCALES = {"S": 1_000_000, "M": 10_000_000, "L": 50_000_000}
CHUNK_EVENTS = 5_000_000
ROW_GROUP = 512 * 1024  # rows per Parquet row group (~11 MB of events): S gets 2, so 2 cores can scan
SEED = 2026
N_EXPERIMENTS = 20
DEFAULT_DATA = Path(__file__).resolve().parent / "data"


def _rename(column: pa.ChunkedArray, old: str, new: str) -> pa.ChunkedArray:
    # Ids are "<prefix>_<digits>", possibly padded with spaces; only the prefix changes.
    return pc.replace_substring(column, old, new, max_replacements=1)


def chunk_tables(n_events: int, chunk: int, n_chunks: int, seed: int = SEED) -> tuple[pa.Table, pa.Table]:
    """Events and assignments of one chunk, ids made unique to the chunk."""
    size = n_events // n_chunks + (1 if chunk < n_events % n_chunks else 0)
    ds = generate(size, seed=seed * 1000 + chunk, n_experiments=N_EXPERIMENTS)
    events, assignments = ds.events, ds.assignments
    tag = f"{chunk:02d}"
    events = events.set_column(0, "event_id", _rename(events["event_id"], "evt_", f"evt{tag}_"))
    events = events.set_column(2, "unit_id", _rename(events["unit_id"], "u_", f"u{tag}_"))
    assignments = assignments.set_column(1, "unit_id", _rename(assignments["unit_id"], "u_", f"u{tag}_"))
    return events, assignments


def build(scale: str, root: Path, seed: int = SEED, force: bool = False) -> Path:
    """Write ``root/<scale>/events-NN.parquet`` and ``assignments.parquet``; return the folder."""
    n_events = SCALES[scale]
    target = root / scale
    manifest = target / "manifest.json"
    n_chunks = math.ceil(n_events / CHUNK_EVENTS)
    wanted = {"scale": scale, "events": n_events, "chunks": n_chunks, "seed": seed, "chunk_events": CHUNK_EVENTS,
              "row_group": ROW_GROUP}
    if not force and manifest.exists():
        have = json.loads(manifest.read_text())
        if {k: have.get(k) for k in wanted} == wanted:
            print(f"[generate] {scale}: already in {target}", file=sys.stderr)
            return target
    target.mkdir(parents=True, exist_ok=True)
    for old in list(target.glob("events-*.parquet")) + list(target.glob("assignments*.parquet")):
        old.unlink()
    started = time.perf_counter()
    assignment_parts, n_rows, n_exposures = [], 0, 0
    for chunk in range(n_chunks):
        events, assignments = chunk_tables(n_events, chunk, n_chunks, seed)
        pq.write_table(events, target / f"events-{chunk:02d}.parquet", compression="snappy",
                       row_group_size=ROW_GROUP)
        n_rows += events.num_rows
        n_exposures += pc.sum(pc.equal(events["event_name"], "experiment_viewed")).as_py()
        assignment_parts.append(assignments)
        del events
        print(f"[generate] {scale}: chunk {chunk + 1}/{n_chunks} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    assignments = pa.concat_tables(assignment_parts)
    pq.write_table(assignments, target / "assignments.parquet", compression="snappy", row_group_size=ROW_GROUP)
    info = dict(wanted, event_rows=n_rows, exposure_events=n_exposures, assignments=assignments.num_rows,
                seconds=round(time.perf_counter() - started, 1),
                bytes=sum(p.stat().st_size for p in target.glob("*.parquet")))
    manifest.write_text(json.dumps(info, indent=2) + "\n")
    print(f"[generate] {scale}: {json.dumps(info)}", file=sys.stderr)
    return target


def paths(scale: str, root: Path = DEFAULT_DATA) -> tuple[str, str]:
    """The ``--events`` glob and the ``--assignments`` file of a generated scale."""
    return str(root / scale / "events-*.parquet"), str(root / scale / "assignments.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", nargs="+", choices=list(SCALES), default=["S"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--force", action="store_true", help="regenerate even if the data is there")
    args = parser.parse_args()
    for scale in args.scales:
        build(scale, args.data_dir, args.seed, args.force)


if __name__ == "__main__":
    main()
