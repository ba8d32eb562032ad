"""Day by day, late files included, incremental outputs equal the independent reference (#16).

Files land in the input folders one day at a time (events of a day in its own file, a late slice
of an earlier day in a file of its own two days later, the assignments of the day), and
``expguard run --incremental`` runs after each landing. After every landing, the four core models
must equal the pure-Python reference implementation of the contract (tests/reference.py) on all
the data landed so far: the incremental state never drifts from the contract.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import expguard
from expguard.apps.demo.generator import generate
from reference import build_models
from test_oracle import assert_models_equal, read_outputs

AS_OF = "2026-06-01T00:00:00"


def daily_landings(seed: int, n_events: int) -> list[dict[str, pa.Table]]:
    """The dataset as landings: one per assignment day, each a dict of file name -> rows."""
    data = generate(n_events, seed=seed)
    assignment_days = pc.cast(data.assignments["assigned_at"], pa.date32())
    event_days = pc.cast(data.events["event_ts"], pa.date32())
    days = sorted(d for d in set(assignment_days.to_pylist()) if d is not None)
    landings: list[dict[str, pa.Table]] = [dict() for _ in days]
    for index, day in enumerate(days):
        landing = landings[index]
        landing[f"assignments/{day}.parquet"] = data.assignments.filter(pc.equal(assignment_days, day))
        if index == 0:
            before = pc.or_kleene(pc.is_null(event_days), pc.less_equal(event_days, day))
            landing[f"events/{day}.parquet"] = data.events.filter(pc.fill_null(before, True))
            continue
        today = data.events.filter(pc.fill_null(pc.equal(event_days, day), False))
        if index == len(days) - 1:
            # the last landing also brings everything dated after the last assignment day
            today = pa.concat_tables([today, data.events.filter(pc.fill_null(pc.greater(event_days, day), False))])
        if index % 7 == 3 and index + 2 < len(days):
            # a tenth of this day arrives late, two landings later
            cut = today.num_rows * 9 // 10
            landings[index + 2][f"events/{day}-late.parquet"] = today.slice(cut)
            today = today.slice(0, cut)
        landing[f"events/{day}.parquet"] = today
    return landings


@pytest.mark.slow
def test_incremental_day_by_day_equals_the_reference(tmp_path):
    landings = daily_landings(seed=5, n_events=6_000)
    root, out = tmp_path / "data", tmp_path / "out"
    (root / "events").mkdir(parents=True)
    (root / "assignments").mkdir()
    landed_events: list[pa.Table] = []
    landed_assignments: list[pa.Table] = []
    checked = 0
    for index, landing in enumerate(landings):
        for name, table in landing.items():
            pq.write_table(table, root / name)
            (landed_events if name.startswith("events/") else landed_assignments).append(table)
        result = expguard.run(str(root / "events"), str(root / "assignments"), output_dir=str(out),
                              vars={"exp_health_as_of": AS_OF}, incremental=True)
        assert result.increment.mode == ("full" if index == 0 else "incremental"), result.increment.reason
        if index % 10 == 9 or index == len(landings) - 1:
            expected = build_models(pa.concat_tables(landed_events).to_pylist(),
                                    pa.concat_tables(landed_assignments).to_pylist())
            assert_models_equal(read_outputs(out), expected)
            checked += 1
    assert checked >= 5
