"""Atomic writes of the finished models, and the lock that keeps two runs from mixing outputs.

Parquet: every model is written into a private staging folder inside the output folder; only
when all are written is a ``COMMITTED`` marker written (and synced), and then each file is
moved into place with ``os.replace`` (atomic per file). A run killed before the marker leaves
the previous outputs untouched and its staging folder is removed by the next run; a run killed
between the marker and the last move (a window of a few renames) is rolled forward by the next
run, before anything else, so readers never keep a mix.

DuckDB database file: all model tables are replaced in one transaction (see the engine).

Lock: a run takes an exclusive ``flock`` on ``<target>.lock`` around the write; a second run
writing the same outputs waits for it (up to ``lock_timeout`` seconds), then fails clearly.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

from ..core.errors import InputError, LockError
from ..core.faults import checkpoint

STAGING_PREFIX = ".expguard-staging-"
MARKER = "COMMITTED"


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, timeout: float, target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` while the block runs (``target`` names what it guards)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a+")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockError(
                        f"another expguard run is writing {str(target)!r} (lock {str(lock_path)!r} held for over {timeout:g} s); "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        handle.close()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(output_dir: Path) -> None:
    """Finish or discard what an interrupted run left in ``output_dir`` (call under the lock)."""
    if not output_dir.is_dir():
        return
    for staging in sorted(output_dir.glob(STAGING_PREFIX + "*")):
        if (staging / MARKER).exists():
            _move_into_place(staging, output_dir)
            continue
        try:
            pid = int(staging.name.removeprefix(STAGING_PREFIX).split("-")[0])
        except ValueError:
            pid = -1
        if not _pid_alive(pid):
            shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, output_dir: Path) -> None:
    names = (staging / MARKER).read_text(encoding="utf-8").split()
    for number, name in enumerate(names):
        checkpoint(f"commit:{number}")
        source = staging / name
        if source.exists():
            os.replace(source, output_dir / name)
    _fsync_dir(output_dir)
    shutil.rmtree(staging, ignore_errors=True)


def stage_parquet(output_dir: Path, names: list[str], write: Callable[[str, Path], None], workers: int = 1) -> Path:
    """Write ``<name>.parquet`` for each name into a new private staging folder of ``output_dir``.

    With ``workers`` > 1 that many files are written at once (an engine whose single-file
    writes use one core each: Spark); the folder is complete only when every write succeeded,
    and is removed when any failed.
    """
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"cannot create output folder {str(output_dir)!r}: {error.strerror}") from None
    staging = output_dir / f"{STAGING_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()

    def write_one(name: str) -> None:
        path = staging / f"{name}.parquet"
        write(name, path)
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())

    try:
        if workers <= 1:
            for name in names:
                checkpoint(f"parquet:{name}")
                write_one(name)
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="expguard-write") as pool:
                pending: list[concurrent.futures.Future] = []
                try:
                    for name in names:
                        checkpoint(f"parquet:{name}")
                        pending.append(pool.submit(write_one, name))
                    concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_EXCEPTION)
                finally:
                    # after a failure, writes not yet started are dropped; started ones end first
                    for future in pending:
                        future.cancel()
                    concurrent.futures.wait(pending)
                for future in pending:
                    future.result()  # the first failure, in model order
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return staging


def mark_committed(staging: Path) -> None:
    """The commit point: from here on, the staged files are the outputs (rolled forward if need be)."""
    files = sorted(p.name for p in staging.glob("*.parquet"))
    with open(staging / MARKER, "w", encoding="utf-8") as handle:
        handle.write("\n".join(files) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    _fsync_dir(staging)


def publish(staging: Path, output_dir: Path) -> list[Path]:
    """Move committed staged files into place; return their final paths."""
    names = (staging / MARKER).read_text(encoding="utf-8").split()
    _move_into_place(staging, output_dir)
    return [output_dir / name for name in names]


def discard(staging: Path | None) -> None:
    """Remove a staging folder that was never committed."""
    if staging is not None and staging.exists() and not (staging / MARKER).exists():
        shutil.rmtree(staging, ignore_errors=True)
