"""The bad-input matrix: each case has an expected outcome — a labelled reject row, a documented
coercion, or a one-line error naming the problem — never a traceback, never a partial output.

Each case runs the real CLI in a subprocess into an output folder that already holds a good
run's outputs; a failing case must leave them byte-identical.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

P = json.dumps({"experiment_id": "x", "variation_id": "a"})
T = dt.datetime(2026, 1, 1, 12)
GOOD_ASSIGNMENTS = pa.table({
    "experiment_id": ["x", "x"], "unit_id": ["1", "2"], "variation_id": ["a", "a"],
    "assigned_at": pa.array([T, T], pa.timestamp("us")),
})


def events_table(**columns) -> pa.Table:
    base = {
        "event_id": ["e1"], "event_name": ["experiment_viewed"], "unit_id": ["1"],
        "event_ts": pa.array([T + dt.timedelta(minutes=1)], pa.timestamp("us")), "properties": [P],
    }
    base.update(columns)
    return pa.table(base)


def write(path: Path, content) -> Path:
    if isinstance(content, pa.Table):
        pq.write_table(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "expguard.cli", "run", "--quiet", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def good_outputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("good")
    events = write(base / "events.parquet", events_table())
    assignments = write(base / "assignments.parquet", GOOD_ASSIGNMENTS)
    return base, events, assignments


def run_case(tmp_path: Path, good, events=None, assignments=None, extra=()) -> tuple[subprocess.CompletedProcess, Path]:
    base, good_events, good_assignments = good
    out = tmp_path / "out"
    first = cli("--events", str(good_events), "--assignments", str(good_assignments), "--output-dir", str(out))
    assert first.returncode == 0, first.stderr
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.glob("*.parquet")}
    result = cli("--events", str(events or good_events), "--assignments", str(assignments or good_assignments),
                 "--output-dir", str(out), *extra)
    assert "Traceback" not in result.stderr
    if result.returncode != 0:
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("expguard: error: "), result.stderr
        after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in out.glob("*.parquet")}
        assert after == before, "a failed run changed the earlier outputs"
        assert not [p for p in out.iterdir() if p.name.startswith(".expguard-staging")]
    return result, out


# -- cases that must stop with a one-line error naming the problem ---------------------------

ERRORS: dict[str, tuple[Callable[[Path], dict], str]] = {
    "corrupt parquet": (lambda d: {"events": write(d / "e.parquet", b"PAR1" + b"\x00" * 64 + b"PAR1")}, "cannot read"),
    "truncated parquet": (lambda d: {"events": write(d / "e.parquet", (d.parent / "trunc_src").read_bytes()[:200])}, "cannot read"),
    "empty file": (lambda d: {"events": write(d / "e.parquet", b"")}, "cannot read"),
    "glob matching nothing": (lambda d: {"events": d / "nothing-*.parquet"}, "no file matches"),
    "parquet named .csv": (lambda d: {"assignments": write(d / "a.csv", (d.parent / "trunc_src").read_bytes())}, "cannot read"),
    "text named .parquet": (lambda d: {"events": write(d / "e.parquet", "event_id,event_name\n1,2\n")}, "cannot read"),
    "unknown extension": (lambda d: {"events": write(d / "e.txt", "x")}, "cannot tell the format"),
    "missing event column": (lambda d: {"events": write(d / "e.parquet", events_table().drop(["event_ts"]))}, "no column 'event_ts'"),
    "missing assignment column": (lambda d: {"assignments": write(d / "a.parquet", GOOD_ASSIGNMENTS.drop(["variation_id"]))}, "no column 'variation_id'"),
    "event_ts boolean": (lambda d: {"events": write(d / "e.parquet", events_table(event_ts=[True]))}, "event_ts has type BOOLEAN"),
    "properties integer": (lambda d: {"events": write(d / "e.parquet", events_table(properties=[7]))}, "properties has type"),
    "duplicate assignments": (lambda d: {"assignments": write(d / "a.parquet", pa.concat_tables([GOOD_ASSIGNMENTS, GOOD_ASSIGNMENTS.slice(0, 1)]))}, "more than one row"),
    "null assigned_at": (lambda d: {"assignments": write(d / "a.parquet", GOOD_ASSIGNMENTS.set_column(3, "assigned_at", pa.array([T, None], pa.timestamp("us"))))}, "assigned_at is null"),
    "unreadable assigned_at text": (lambda d: {"assignments": write(d / "a.csv", "experiment_id,unit_id,variation_id,assigned_at\nx,1,a,yesterday\n")}, "'yesterday'"),
    "blank unit_id in assignments": (lambda d: {"assignments": write(d / "a.parquet", GOOD_ASSIGNMENTS.set_column(1, "unit_id", pa.array(["1", "   "])))}, "empty or all spaces"),
    "negative variable": (lambda d: {"extra": ("--var", "exp_exposure_max_days_after_assignment=-1")}, "non-negative integer"),
    "fractional variable": (lambda d: {"extra": ("--var", "exp_allow_pre_assignment_exposure_grace_minutes=1.5")}, "non-negative integer"),
    "unknown variable": (lambda d: {"extra": ("--var", "exp_max_days=3")}, "unknown variable"),
    # issue 14: empty inputs, folders and globs, mapping syntax
    "empty json lines file": (lambda d: {"events": write(d / "e.jsonl", b"")}, "cannot read '" + "{d}/e.jsonl': empty"),
    "empty csv file": (lambda d: {"assignments": write(d / "a.csv", b"")}, "cannot read '" + "{d}/a.csv': empty"),
    "empty folder": (lambda d: {"events": folder(d / "events")}, "cannot read '" + "{d}/events': empty"),
    "folder of _SUCCESS and hidden files": (lambda d: {"events": folder(d / "events", _SUCCESS=b"", **{".e.parquet.crc": b"x"})}, "': empty"),
    "glob without extension matching nothing": (lambda d: {"events": d / "events*"}, "no file matches"),
    "folder mixing formats": (lambda d: {"events": folder(d / "events", **{"a.parquet": events_table(), "b.csv": "event_id\n1\n"})}, "several formats (csv: b.csv; parquet: a.parquet)"),
    "folder of unknown files": (lambda d: {"events": folder(d / "events", part0=b"x")}, "cannot tell the format"),
    "mapping with $": (lambda d: {"extra": project(d, "event_id = 'properties.$insert_id'")}, "events column mapping event_id = 'properties.$insert_id' is not a valid SQL expression"),
    "mapping with a space": (lambda d: {"extra": project(d, "experiment_id = 'properties.Experiment name'")}, 'quote names with spaces or $: properties."Experiment name"'),
    "mapping with a syntax error": (lambda d: {"extra": project(d, "unit_id = 'coalesce(user_id,'")}, "unit_id = 'coalesce(user_id,' is not a valid SQL expression"),
}


def folder(path: Path, **files) -> Path:
    path.mkdir()
    for name, content in files.items():
        write(path / name, content)
    return path


def project(d: Path, mapping: str) -> tuple[str, str]:
    """--project with an [events.columns] mapping (the CLI's paths win for the inputs)."""
    text = f"[events]\npath = 'e.parquet'\n[events.columns]\n{mapping}\n[assignments]\npath = 'a.parquet'\n"
    return ("--project", str(write(d / "expguard.toml", text)))


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_bad_input_stops_with_one_clear_line(case, tmp_path, good_outputs):
    make, expected = ERRORS[case]
    data = tmp_path / "data"
    data.mkdir()
    write(tmp_path / "trunc_src", good_outputs[1].read_bytes())
    spec = make(data)
    result, _ = run_case(tmp_path, good_outputs, spec.get("events"), spec.get("assignments"), spec.get("extra", ()))
    assert result.returncode == 2, f"{case}: expected an error, got exit 0"
    assert expected.replace("{d}", str(data)) in result.stderr, result.stderr


# Source presets and lists of exposure event names: the same one-line errors, outputs unchanged.
PRESET_ERRORS: dict[str, tuple[tuple[str, ...], str]] = {
    "unknown preset": (("--events-preset", "heap"), "unknown events preset 'heap'; known presets: amplitude"),
    "preset on canonical events": (("--events-preset", "posthog"), "no column 'uuid' (needed for event_id = 'uuid')"),
    "empty list of event names": (("--var", "exp_exposure_event_name=[]"), "exp_exposure_event_name must be"),
    "event name list with a number": (("--var", 'exp_exposure_event_name=["a", 7]'), "every event name must be non-empty text"),
}


@pytest.mark.parametrize("case", sorted(PRESET_ERRORS))
def test_bad_preset_or_event_names_stop_with_one_clear_line(case, tmp_path, good_outputs):
    extra, expected = PRESET_ERRORS[case]
    result, _ = run_case(tmp_path, good_outputs, extra=extra)
    assert result.returncode == 2 and expected in result.stderr, result.stderr


# -- cases that run, with a labelled reject or a documented coercion -------------------------

def staging(out: Path) -> list[dict]:
    return sorted(pq.read_table(out / "stg_experiment_exposures.parquet").to_pylist(), key=lambda r: str(r["event_id"]))


def validation(out: Path) -> dict[str, dict]:
    return {r["unit_id"]: r for r in pq.read_table(out / "int_experiment_exposure_validation.parquet").to_pylist()}


def run_ok(tmp_path, good, events=None, assignments=None):
    result, out = run_case(tmp_path, good, events, assignments)
    assert result.returncode == 0, result.stderr
    return out


def test_extra_columns_are_ignored(tmp_path, good_outputs):
    events = write(tmp_path / "e.parquet", events_table(extra=["whatever"], another=[1.5]))
    out = run_ok(tmp_path, good_outputs, events)
    assert validation(out)["1"]["exposure_status"] == "valid"


@pytest.mark.parametrize("text, expected", [
    ("2026-01-01T12:01:00Z", T + dt.timedelta(minutes=1)),
    ("2026-01-01 14:01:00+02:00", T + dt.timedelta(minutes=1)),
    ("2026-01-01T07:01:00-05:00", T + dt.timedelta(minutes=1)),
    ("2026-01-01 12:01:00", T + dt.timedelta(minutes=1)),
    ("2026-01-01T12:01:00.123456", T + dt.timedelta(minutes=1, microseconds=123456)),
])
def test_iso_text_timestamps_with_and_without_offsets_are_utc(tmp_path, good_outputs, text, expected):
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events_table(event_ts=[text])))
    assert staging(out)[0]["exposed_at"] == expected


def test_unreadable_text_timestamp_is_labelled_missing_timestamp(tmp_path, good_outputs):
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events_table(event_ts=["not a time"])))
    assert staging(out)[0]["reject_reason"] == "missing_timestamp"


@pytest.mark.parametrize("value", [1767268860, 1767268860000, 1767268860000000])
def test_epoch_seconds_milliseconds_and_microseconds(tmp_path, good_outputs, value):
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events_table(event_ts=pa.array([value], pa.int64()))))
    assert staging(out)[0]["exposed_at"] == T + dt.timedelta(minutes=1)


def test_time_zone_aware_timestamps_are_converted_to_utc(tmp_path, good_outputs):
    local = pa.array([T + dt.timedelta(minutes=1)], pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us", tz="Asia/Kolkata"))
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events_table(event_ts=local)))
    assert staging(out)[0]["exposed_at"] == T + dt.timedelta(minutes=1)


def test_far_past_and_far_future_timestamps_do_not_break_the_run(tmp_path, good_outputs):
    events = events_table(event_id=["old", "new"], event_name=["experiment_viewed"] * 2, unit_id=["1", "2"],
                          event_ts=pa.array([dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23)], pa.timestamp("us")),
                          properties=[P, P])
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events))
    statuses = validation(out)
    assert statuses["1"]["exposure_status"] == "pre_assignment_exposure"
    assert statuses["2"]["exposure_status"] == "exposure_outside_window"


def test_integer_ids_on_one_side_match_text_ids_on_the_other(tmp_path, good_outputs):
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events_table(unit_id=pa.array([1], pa.int64()))))
    assert validation(out)["1"]["exposure_status"] == "valid"


@pytest.mark.parametrize("properties, reason, experiment_id", [
    ("{not json", "missing_experiment_id", None),
    ("{}", "missing_experiment_id", None),
    ('{"experiment_id": null, "variation_id": "a"}', "missing_experiment_id", None),
    ('{"experiment_id": "x", "variation_id": null}', "missing_variation_id", "x"),
    ('{"experiment_id": {"nested": 1}, "variation_id": "a"}', None, '{"nested":1}'),
    ('{"experiment_id": [1, 2], "variation_id": "a"}', None, "[1,2]"),
    ('{"experiment_id": 7, "variation_id": "a"}', None, "7"),
    ('[1, 2]', "missing_experiment_id", None),
    ("", "missing_experiment_id", None),
    (None, "missing_experiment_id", None),
])
def test_json_properties_edge_cases_are_labelled_or_coerced(tmp_path, good_outputs, properties, reason, experiment_id):
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events_table(properties=pa.array([properties], pa.string()))))
    row = staging(out)[0]
    assert (row["reject_reason"], row["experiment_id"]) == (reason, experiment_id)


def test_null_and_empty_event_names_are_not_exposures(tmp_path, good_outputs):
    events = events_table(event_id=["a", "b", "c"], event_name=[None, "", "experiment_viewed"], unit_id=["1"] * 3,
                          event_ts=pa.array([T] * 3, pa.timestamp("us")), properties=[P] * 3)
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events))
    assert [r["event_id"] for r in staging(out)] == ["c"]


def test_long_non_ascii_and_control_characters_in_ids_are_kept_exactly(tmp_path, good_outputs):
    odd = ["ü" * 5000, "a\x01b", "日本\u00a0", "tab\tid", "emoji🙂"]
    events = events_table(event_id=[str(i) for i in range(5)], event_name=["experiment_viewed"] * 5, unit_id=odd,
                          event_ts=pa.array([T] * 5, pa.timestamp("us")), properties=[P] * 5)
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.parquet", events))
    assert sorted(r["unit_id"] for r in staging(out)) == sorted(odd)


def test_csv_with_quoted_separators_newlines_and_bom(tmp_path, good_outputs):
    events = write(tmp_path / "e.csv", "\ufeffevent_id,event_name,unit_id,event_ts,properties\n"
                   '"e,1",experiment_viewed,"1",2026-01-01T12:01:00Z,"{""experiment_id"": ""x"", ""variation_id"": ""a""}"\n'
                   '"e\n2",experiment_viewed,"2",2026-01-01T12:02:00Z,"{""experiment_id"": ""x"", ""variation_id"": ""a""}"\n')
    out = run_ok(tmp_path, good_outputs, events)
    assert [r["event_id"] for r in staging(out)] == ["e\n2", "e,1"]
    assert {u: r["exposure_status"] for u, r in validation(out).items()} == {"1": "valid", "2": "valid"}


def test_csv_with_a_header_only_gives_empty_models(tmp_path, good_outputs):
    events = write(tmp_path / "e.csv", "event_id,event_name,unit_id,event_ts,properties\n")
    out = run_ok(tmp_path, good_outputs, events)
    assert staging(out) == []
    assert {r["exposure_status"] for r in validation(out).values()} == {"no_exposure"}


def test_epoch_milliseconds_in_json_lines(tmp_path, good_outputs):
    # DuckDB may read a JSON-lines integer column as a 128-bit integer; it must still be an epoch.
    line = {"event_id": "e1", "event_name": "experiment_viewed", "unit_id": "1", "event_ts": 1767268860000,
            "properties": P}
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.jsonl", json.dumps(line) + "\n"))
    assert staging(out)[0]["exposed_at"] == T + dt.timedelta(minutes=1)


def test_epoch_integers_in_csv_time_columns_are_epochs(tmp_path, good_outputs):
    # CSV columns are text: digits-only times are epochs by the integer magnitude rule, not rejects.
    events = write(tmp_path / "e.csv", "event_id,event_name,unit_id,event_ts,properties\n"
                   f'e1,experiment_viewed,1,1767268860,"{P.replace(chr(34), 2 * chr(34))}"\n'
                   f'e2,experiment_viewed,2,1767268860000,"{P.replace(chr(34), 2 * chr(34))}"\n')
    assignments = write(tmp_path / "a.csv", "experiment_id,unit_id,variation_id,assigned_at\n"
                        "x,1,a,1767268800000000\nx,2,a,1767268800\n")
    out = run_ok(tmp_path, good_outputs, events, assignments)
    assert [(r["event_id"], r["exposed_at"], r["reject_reason"]) for r in staging(out)] == [
        ("e1", T + dt.timedelta(minutes=1), None), ("e2", T + dt.timedelta(minutes=1), None)]
    assert {u: r["exposure_status"] for u, r in validation(out).items()} == {"1": "valid", "2": "valid"}


def test_json_lines_mixing_text_and_number_ids_and_times(tmp_path, good_outputs):
    # "unit_id": "1" next to "unit_id": 2, an ISO time next to an epoch: text ids, one time rule.
    lines = [{"event_id": "e1", "event_name": "experiment_viewed", "unit_id": "1", "event_ts": "2026-01-01T12:01:00Z", "properties": P},
             {"event_id": 2, "event_name": "experiment_viewed", "unit_id": 2, "event_ts": 1767268860000, "properties": P}]
    out = run_ok(tmp_path, good_outputs, write(tmp_path / "e.jsonl", "".join(json.dumps(line) + "\n" for line in lines)))
    assert [(r["event_id"], r["unit_id"], r["exposed_at"]) for r in staging(out)] == [
        ("2", "2", T + dt.timedelta(minutes=1)), ("e1", "1", T + dt.timedelta(minutes=1))]
    assert {u: r["exposure_status"] for u, r in validation(out).items()} == {"1": "valid", "2": "valid"}


# -- outputs that cannot be written: user errors, one line naming the path and the reason --------


@contextlib.contextmanager
def read_only_folder(path: Path):
    """A folder that this process truly cannot write, holding an empty folder ``existing`` that it
    cannot write either, with the reason it gives.

    Mode 0o555 stops a normal user, not root (root bypasses permissions): as root, a tmpfs mounted
    on it and made read-only, else immutable folders (``chattr +i``), else sysfs (``/sys/fs``),
    which refuses new entries even to root.
    """
    path.mkdir()
    if os.geteuid() != 0:
        (path / "existing").mkdir()
        for folder in (path / "existing", path):
            folder.chmod(0o555)
        try:
            yield path, "permission denied"
        finally:
            for folder in (path, path / "existing"):
                folder.chmod(0o755)
        return
    mount = shutil.which("mount") and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                                                     capture_output=True)
    if mount and mount.returncode == 0:
        (path / "existing").mkdir()
        try:
            if subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True).returncode == 0:
                yield path, "read-only file system"
                return
        finally:
            subprocess.run(["umount", str(path)], capture_output=True)
    (path / "existing").mkdir(exist_ok=True)
    chattr = shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path / "existing"), str(path)],
                                                       capture_output=True)
    if chattr and chattr.returncode == 0:
        try:
            yield path, "permission denied"
        finally:
            subprocess.run(["chattr", "-i", str(path), str(path / "existing")], capture_output=True)
        return
    yield Path("/sys/fs"), "permission denied"


UNWRITABLE = {
    # name: (output arguments for a read-only folder RO and a scratch folder TMP, the path named, the reason)
    "output folder inside a read-only folder": (lambda ro, tmp: ("--output-dir", str(ro / "out")), lambda ro, tmp: ro / "out", None),
    "read-only output folder": (lambda ro, tmp: ("--output-dir", str(ro / "existing")), lambda ro, tmp: ro / "existing", None),
    "output folder that is a file": (lambda ro, tmp: ("--output-dir", str(write(tmp / "out.txt", "x"))), lambda ro, tmp: tmp / "out.txt", "is an existing file"),
    "output folder below a file": (lambda ro, tmp: ("--output-dir", str(write(tmp / "f.txt", "x") / "out")), lambda ro, tmp: tmp / "f.txt" / "out", "is a file"),
    "database inside a read-only folder": (lambda ro, tmp: ("--database", str(ro / "models.duckdb")), lambda ro, tmp: ro / "models.duckdb", None),
    "output folder given as an object store URL": (lambda ro, tmp: ("--output-dir", "s3://bucket/out"), lambda ro, tmp: "s3://bucket/out", "is a URL"),
    # /dev/shm is a mount point on Linux: the folder cannot be exchanged with a sibling
    "output folder that is a mount point": (lambda ro, tmp: ("--output-dir", "/dev/shm"), lambda ro, tmp: "/dev/shm", "is a mount point"),
    "database that is a folder": (lambda ro, tmp: ("--database", str(tmp)), lambda ro, tmp: tmp, "is a folder"),
}


@pytest.mark.parametrize("case", sorted(UNWRITABLE))
def test_unwritable_outputs_stop_with_one_clear_line(case, tmp_path, good_outputs):
    arguments, named, reason = UNWRITABLE[case]
    _, events, assignments = good_outputs
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with read_only_folder(tmp_path / "ro") as (ro, read_only_reason):
        result = cli("--events", str(events), "--assignments", str(assignments), *arguments(ro, scratch))
        listing = sorted(p.name for p in ro.iterdir() if p.name != "existing") if ro != Path("/sys/fs") else []
        assert ro == Path("/sys/fs") or list((ro / "existing").iterdir()) == []
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("expguard: error: ") and "Traceback" not in result.stderr, result.stderr
    assert repr(str(named(ro, scratch))) in lines[0], lines[0]
    assert (reason or read_only_reason) in lines[0], lines[0]
    # nothing written anywhere: not in the read-only place, not beside the scratch paths
    assert listing == []
    assert sorted(p.name for p in scratch.iterdir()) in ([], ["out.txt"], ["f.txt"])
