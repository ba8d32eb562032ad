"""Atomic publication of the finished models, and the lock that keeps two runs from mixing outputs.

Parquet: a run never writes inside the output folder ``DIR``. Every model is written into a
staging folder *beside* it, on the same file system, named for expguard and for ``DIR``
(``.<DIR name>.expguard-staging-<pid>-<id>``); files that are not this run's model outputs
(a user's own files in ``DIR``) are carried into it as hard links (same files, no copy). When
every file is written and synced, the folder is renamed ``.<DIR name>.expguard-committed-<pid>-<id>``
(the commit point), and then published in one step:

* on Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the two folders atomically: at every instant
  ``DIR`` is the complete previous set or the complete new set, and ``DIR`` stays a real folder;
  the previous set, now under the committed name, is then removed;
* where that call is missing (``ENOSYS``: not Linux, an old kernel) or refused by the file
  system (``EINVAL``, ``EXDEV``, ``ENOTSUP``, ...), ``DIR`` becomes a symbolic link to a versioned
  sibling folder (``.<DIR name>.expguard-v-<pid>-<id>``), and each publication renames a new link
  over it (``rename`` of a link is atomic). Turning a real ``DIR`` into that link the first time
  takes two renames, between which ``DIR`` is missing for an instant (never a mix); once the
  exchange works again, it turns ``DIR`` back into a real folder.

A run killed before the commit point leaves ``DIR`` untouched and a staging folder beside it,
which the next run on ``DIR`` removes (unless its process is alive). A run killed after the
commit point, before or during publication, is rolled forward by the next run: its committed
folder is published before anything else. docs/failure-modes.md lists every leftover.

DuckDB database file: all model tables are replaced in one transaction (see the engine).

Lock: a run takes an exclusive ``flock`` on ``.<DIR name>.expguard.lock`` beside ``DIR`` (on
``<database>.lock`` for the database) around the write; a second run writing the same outputs
waits for it (up to ``lock_timeout`` seconds), then fails clearly.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import errno
import fcntl
import os
import platform
import shutil
import stat
import time
import uuid
from pathlib import Path
from typing import IO, Callable, Iterator

from ..core.errors import InputError, LockError
from ..core.faults import checkpoint, exchange_refused

#: The parts of the names of what a run keeps beside ``DIR`` (``.<DIR name>.expguard-<kind>-...``).
STAGING, COMMITTED, VERSION, LINK, OLD = "staging", "committed", "v", "link", "old"
#: What earlier versions of expguard kept inside ``DIR``: never carried into a new set.
LEGACY_NAMES = (".expguard.lock",)
LEGACY_PREFIX = ".expguard-staging-"
#: An incremental run's state in the output folder (docs/incremental.md), published with the models.
STATE_FILE = "_expguard_state.json"

# renameat2's flag, and the syscall's number where glibc has no wrapper (glibc < 2.28).
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "arm64": 276, "ppc64le": 357, "s390x": 347, "riscv64": 276}
#: Errors by which a kernel or a file system refuses the exchange: publish by a link instead.
_NO_EXCHANGE = {errno.ENOSYS, errno.EINVAL, errno.EXDEV, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM}


def _name(target: Path, kind: str, token: str = "") -> Path:
    return target.parent / f".{target.name}.expguard-{kind}-{token}"


def lock_path(target: Path) -> Path:
    """The lock file of output folder ``target`` (beside it)."""
    return target.parent / f".{target.name}.expguard.lock"


def _user_error(what: str, path: Path | str, error: OSError) -> InputError:
    reason = error.strerror or type(error).__name__
    return InputError(f"cannot write {what} {str(path)!r}: {reason}")


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, timeout: float, target: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` while the block runs (``target`` names what it guards)."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock_path, "a+")
    except OSError as error:
        raise _user_error("to", target if lock_path.parent.exists() else lock_path.parent, error) from None
    try:
        _acquire(handle, fcntl.LOCK_EX, lock_path, target, timeout, "another expguard process is writing or reading")
        yield
    finally:
        handle.close()


@contextlib.contextmanager
def shared_lock(lock_path: Path, timeout: float, target: Path) -> Iterator[None]:
    """Hold a shared lock on ``lock_path`` while the block runs: a reader of ``target`` waits (up to
    ``timeout`` s) for a run writing it, and a run waits for the readers. No lock file (no run ever
    wrote there) or one this process cannot open: no wait, the reader goes on."""
    try:
        handle = open(lock_path, "r")
    except OSError:
        handle = None
    try:
        if handle is not None:
            _acquire(handle, fcntl.LOCK_SH, lock_path, target, timeout, "an expguard run is writing")
        yield
    finally:
        if handle is not None:
            handle.close()


def _acquire(handle: IO[str], mode: int, lock_path: Path, target: Path, timeout: float, who: str) -> None:
    """Take ``mode`` (shared or exclusive) on ``handle``'s lock, retrying for ``timeout`` s; then a
    one-line error saying ``who`` holds ``target``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockError(f"{who} {str(target)!r} (lock {str(lock_path)!r} held for over {timeout:g} s); "
                                "try again when it has finished") from None
            time.sleep(0.1)


def database_lock(database: Path) -> Path:
    """The lock beside DuckDB file ``database``: runs writing it hold it exclusively, readers of an
    earlier run's file (report, diagnose, alerts) share it."""
    return database.with_name(database.name + ".lock")


def output_target(output_dir: Path | str) -> Path:
    """The folder a run publishes for ``--output-dir``: the path as given (made absolute); when it
    is a symbolic link of the user's (not one of expguard's fallback links), the folder it names."""
    if "://" in str(output_dir):
        raise InputError(
            f"output folder {str(output_dir)!r} is a URL; expguard publishes into a local or mounted folder "
            "(see docs/failure-modes.md for object stores)"
        )
    target = Path(os.path.abspath(output_dir))
    for _ in range(40):
        if not target.is_symlink() or _own_link(target) is not None:
            return target
        target = Path(os.path.abspath(target.parent / os.readlink(target)))
    raise InputError(f"output folder {str(output_dir)!r}: too many levels of symbolic links")


def _own_link(target: Path) -> Path | None:
    """The versioned folder that ``target`` links to, when it is one of expguard's links."""
    try:
        pointed = os.readlink(target)
    except OSError:
        return None
    if "/" not in pointed and pointed.startswith(f".{target.name}.expguard-{VERSION}-"):
        return target.parent / pointed
    return None


def check_writable(target: Path, create: bool = True) -> None:
    """Fail with one line if ``target`` cannot hold a run's outputs; create it (``create``) if missing."""
    if os.path.lexists(target) and not target.is_dir():
        raise InputError(f"output folder {str(target)!r} is an existing file, not a folder; give a folder path")
    try:
        here = Path(os.getcwd())
    except OSError:
        here = None
    if here is not None and (here == target or target in here.parents):
        raise InputError(
            f"output folder {str(target)!r} is the current folder or holds it; expguard replaces the output "
            f"folder as a whole: give a folder of its own (e.g. {str(target / 'out')!r})"
        )
    if os.path.ismount(target):
        raise InputError(
            f"output folder {str(target)!r} is a mount point, which cannot be replaced as a whole; "
            f"give a folder inside it (e.g. {str(target / 'expguard')!r})"
        )
    if not target.exists():
        _check_creatable("output folder", target)
        if not create:
            return
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _user_error("output folder", target, error) from None
    for folder, why in ((target, ""), (target.parent, " (expguard stages its outputs beside the folder)")):
        if not os.access(folder, os.W_OK):
            raise InputError(f"cannot write output folder {str(target)!r}: {str(folder)!r} is not writable: {_why(folder)}{why}")


def check_database_writable(database: Path) -> None:
    """Fail with one line if the DuckDB file ``database`` cannot be written (created if missing)."""
    if database.is_dir():
        raise InputError(f"output database {str(database)!r} is a folder; give a file path")
    if database.exists():
        folder = database.parent
        for path in (database, folder):
            if not os.access(path, os.W_OK):
                raise InputError(f"cannot write output database {str(database)!r}: {str(path)!r} is not writable: {_why(path)}")
    else:
        _check_creatable("output database", database)


def _check_creatable(what: str, path: Path) -> None:
    """Fail when the nearest existing folder above ``path`` cannot be written (or is a file)."""
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"cannot create {what} {str(path)!r}: {str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise InputError(f"cannot create {what} {str(path)!r}: {str(ancestor)!r} is not writable: {_why(ancestor)}")


def _why(path: Path) -> str:
    return "read-only file system" if _read_only_fs(path) else "permission denied"


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


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


def _remove(path: Path) -> None:
    """Remove a file, a link or a folder tree (best effort)."""
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(OSError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def leftovers(target: Path) -> list[Path]:
    """What runs on ``target`` keep beside it (staging, committed, versioned folders and links)."""
    prefix = f".{target.name}.expguard-"
    try:
        return sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix) and p != lock_path(target))
    except OSError:
        return []


def recover(target: Path, keep: Path | None = None) -> None:
    """Finish or discard what interrupted runs left beside ``target`` (call under its lock).

    A committed folder is published (roll-forward); a staging folder of a dead process, a
    versioned folder ``target`` no longer links to, a stray link and a replaced set are removed.
    """
    prefix = f".{target.name}.expguard-"
    found = [p for p in leftovers(target) if p != keep]
    # A publication by link killed between its two renames leaves target missing: finish it.
    if not os.path.lexists(target):
        links = [p for p in found if p.name.startswith(prefix + LINK + "-") and _own_link_of(p, target)]
        if links:
            os.replace(links[-1], target)
    for committed in sorted(p for p in found if p.name.startswith(prefix + COMMITTED + "-") and p.exists()):
        if _is_new_set(committed):
            _publish(committed, target)
    current = _own_link(target)
    for path in leftovers(target):
        if path == keep or path == current or not os.path.lexists(path):
            continue
        kind, _, token = path.name.removeprefix(prefix).partition("-")
        if kind == STAGING:
            try:
                pid = int(token.split("-")[0])
            except ValueError:
                pid = -1
            if pid != os.getpid() and _pid_alive(pid):
                continue  # a live run's (the lock makes this rare: a run on another path spelling)
        _remove(path)


def _is_new_set(committed: Path) -> bool:
    """Whether a committed folder still holds the set it was committed with (not yet exchanged)."""
    try:
        return not committed.is_symlink() and committed.stat().st_ino == int(committed.name.rsplit("-", 1)[1])
    except (OSError, ValueError):
        return False


def _own_link_of(link: Path, target: Path) -> bool:
    try:
        pointed = os.readlink(link)
    except OSError:
        return False
    return pointed.startswith(f".{target.name}.expguard-{VERSION}-") and (target.parent / pointed).is_dir()


class ParquetStage:
    """A new staging folder beside ``output_dir`` and the Parquet files written into it.

    ``write(name, path)`` writes model ``name`` to ``path``. A run can :meth:`start` a model's
    file as soon as the model is built, written on a background thread (one file at a time, in
    the order started) while the run builds its later models, and writes the rest at the end
    (:meth:`finish`, ``workers`` at once). The folder is complete only when every write has
    succeeded (:meth:`finish` returns it); a failure anywhere removes it (:meth:`discard`), and
    a kill leaves it to the next run's :func:`recover` (it is never inside ``output_dir``).
    """

    def __init__(self, output_dir: Path, write: Callable[[str, Path], None], workers: int = 1) -> None:
        self.output_dir = Path(output_dir)
        self._write = write
        self._workers = workers
        self._started: dict[str, concurrent.futures.Future] = {}
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.path = _name(self.output_dir, STAGING, f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            self.path.mkdir()
        except OSError as error:
            raise _user_error("output folder", self.output_dir, error) from None

    @classmethod
    def beside(cls, output_dir: Path, write: Callable[[str, Path], None], workers: int = 1) -> "ParquetStage | None":
        """A stage for a run that starts writing before its models are all built, or None when
        ``output_dir``'s parent folder does not exist yet (nothing is created before the run's
        end then: a failed run leaves no new folder)."""
        output_dir = Path(output_dir)
        if not output_dir.parent.is_dir() or not os.access(output_dir.parent, os.W_OK):
            return None
        return cls(output_dir, write, workers)

    def _write_one(self, name: str) -> None:
        path = self.path / f"{name}.parquet"
        self._write(name, path)
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())

    def start(self, name: str) -> None:
        """Begin writing ``name`` on the background thread; the caller goes on at once."""
        checkpoint(f"parquet:{name}")
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                               thread_name_prefix="expguard-early-write")
        self._started[name] = self._pool.submit(self._write_one, name)

    def finish(self, names: list[str], extra: dict[str, str] | None = None) -> Path:
        """Write every name not started yet, wait for the started ones, add ``extra`` (file
        name -> text: an incremental run's state) and what ``output_dir`` holds besides the
        models (hard links), sync it all; return the complete staging folder."""
        try:
            check_writable(self.output_dir)
            for name in names:
                if name in self._started:
                    self._started[name].result()  # the first failure, in model order
            rest = [name for name in names if name not in self._started]
            if self._workers <= 1:
                for name in rest:
                    checkpoint(f"parquet:{name}")
                    self._write_one(name)
            else:
                self._write_side_by_side(rest)
            for file_name, text in (extra or {}).items():
                with open(self.path / file_name, "w", encoding="utf-8") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
            # the state of an earlier run is never carried into a new set
            _carry(self.output_dir, self.path, {f"{name}.parquet" for name in names} | {STATE_FILE})
            _fsync_dir(self.path)
        except OSError as error:
            self.discard()
            if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                raise _user_error("output folder", self.output_dir, error) from None
            raise
        except BaseException:
            self.discard()
            raise
        self._close_pool()
        return self.path

    def _write_side_by_side(self, names: list[str]) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="expguard-write") as pool:
            pending: list[concurrent.futures.Future] = []
            try:
                for name in names:
                    checkpoint(f"parquet:{name}")
                    pending.append(pool.submit(self._write_one, name))
                concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_EXCEPTION)
            finally:
                # after a failure, writes not yet started are dropped; started ones end first
                for future in pending:
                    future.cancel()
                concurrent.futures.wait(pending)
            for future in pending:
                future.result()  # the first failure, in model order

    def _close_pool(self) -> None:
        if self._pool is not None:
            for future in self._started.values():
                future.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None

    def discard(self) -> None:
        """Stop: drop the writes not begun, wait for the running one, remove the folder."""
        self._close_pool()
        shutil.rmtree(self.path, ignore_errors=True)


def stage_parquet(output_dir: Path, names: list[str], write: Callable[[str, Path], None], workers: int = 1,
                  extra: dict[str, str] | None = None) -> Path:
    """Write ``<name>.parquet`` for each name into a new staging folder beside ``output_dir``
    (:class:`ParquetStage`, every file at the end) and return the complete folder.

    With ``workers`` > 1 that many files are written at once (an engine whose single-file
    writes use one core each: Spark); the folder is complete only when every write succeeded,
    and is removed when any failed. ``extra`` maps file names to text written beside the
    models (an incremental run's state, :data:`STATE_FILE`); the state of an earlier run is
    never carried into a new set.
    """
    output_dir = Path(output_dir)
    check_writable(output_dir)
    return ParquetStage(output_dir, write, workers).finish(names, extra)


def _carry(source: Path, staging: Path, replaced: set[str]) -> None:
    """Carry what ``source`` holds besides this run's model files into ``staging``: files and
    links as hard links (the same files, no copy), folders recreated with their content carried."""
    try:
        os.chmod(staging, stat.S_IMODE(source.stat().st_mode))
        entries = sorted(os.scandir(source), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name in replaced or entry.name in LEGACY_NAMES or entry.name.startswith(LEGACY_PREFIX):
            continue
        _link_tree(Path(entry.path), staging / entry.name)


def _link_tree(source: Path, destination: Path) -> None:
    try:
        if source.is_dir() and not source.is_symlink():
            destination.mkdir()
            for entry in sorted(os.scandir(source), key=lambda e: e.name):
                _link_tree(Path(entry.path), destination / entry.name)
            shutil.copystat(source, destination)
        else:
            os.link(source, destination, follow_symlinks=False)
    except OSError as error:
        raise InputError(
            f"cannot keep {str(source)!r} in the new outputs of {str(source.parent)!r}: {error.strerror}; "
            "expguard carries files that are not model outputs into each new set as hard links: "
            "move it out of the output folder"
        ) from None


def commit(staging: Path) -> Path:
    """The commit point: rename the complete staging folder to its committed name; from here on
    its files are the outputs (a run killed later is rolled forward by the next one)."""
    checkpoint("commit")
    head, _, token = staging.name.rpartition(f".expguard-{STAGING}-")
    # The name ends with the folder's inode number: after the exchange, the folder under this
    # name is the previous set (another inode), which recovery removes instead of publishing.
    committed = staging.with_name(f"{head}.expguard-{COMMITTED}-{token}-{staging.stat().st_ino}")
    os.rename(staging, committed)
    _fsync_dir(committed.parent)
    return committed


def exchange(first: Path, second: Path) -> None:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); OSError when impossible."""
    if exchange_refused():
        raise OSError(errno.ENOSYS, "renameat2 refused (EXPGUARD_NO_EXCHANGE)", str(first))
    libc = ctypes.CDLL(None, use_errno=True)
    a, b = os.fsencode(first), os.fsencode(second)
    function = getattr(libc, "renameat2", None)
    if function is not None:
        function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        result = function(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE)
    else:
        number = _SYS_RENAMEAT2.get(platform.machine()) if platform.system() == "Linux" else None
        if number is None:
            raise OSError(errno.ENOSYS, "renameat2 is not available", str(first))
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        result = syscall(ctypes.c_long(number), ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(a),
                         ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(b), ctypes.c_uint(_RENAME_EXCHANGE))
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


def publish(committed: Path, output_dir: Path) -> list[Path]:
    """Publish a committed folder as ``output_dir`` in one step; return the model files' paths."""
    output_dir = Path(output_dir)
    names = sorted(p.name for p in committed.glob("*.parquet"))
    _publish(committed, output_dir)
    return [output_dir / name for name in names]


def _publish(committed: Path, target: Path) -> None:
    checkpoint("publish")
    if not os.path.lexists(target):
        target.mkdir()
    try:
        exchange(committed, target)
    except OSError as error:
        if error.errno not in _NO_EXCHANGE:
            raise
        _publish_by_link(committed, target)
        return
    _fsync_dir(target.parent)
    checkpoint("published")
    # The previous set now has the committed name (a folder, or expguard's link to a version).
    previous_version = _own_link_of(committed, target) and target.parent / os.readlink(committed)
    _remove(committed)
    if previous_version:
        _remove(previous_version)


def _publish_by_link(committed: Path, target: Path) -> None:
    """Fallback: ``target`` is a link to a versioned folder, replaced by an atomic rename."""
    token = committed.name.rsplit(f".expguard-{COMMITTED}-", 1)[1].rsplit("-", 1)[0]
    version = _name(target, VERSION, token)
    link = _name(target, LINK, token)
    with contextlib.suppress(FileNotFoundError):
        link.unlink()  # a link left by the same publication, killed (rolled forward now)
    os.symlink(version.name, link)  # first: a file system without links refuses before any change
    try:
        os.rename(committed, version)
        previous = _own_link(target)
        if previous is None and target.is_dir() and not target.is_symlink():
            # first time: the real folder is moved aside, then the link takes its name
            old = _name(target, OLD, token)
            os.rename(target, old)
            checkpoint("publish:aside")
            try:
                os.replace(link, target)
            except OSError:
                os.rename(old, target)
                raise
            previous = old
        else:
            os.replace(link, target)
    except OSError:
        # nothing published: put the committed folder back (the caller removes it) and the link away
        if version.exists() and not committed.exists():
            os.rename(version, committed)
        with contextlib.suppress(OSError):
            link.unlink()
        raise
    _fsync_dir(target.parent)
    checkpoint("published")
    if previous is not None:
        _remove(previous)


def discard(staging: Path | None) -> None:
    """Remove a staging folder that was never committed."""
    if staging is not None and os.path.lexists(staging):
        shutil.rmtree(staging, ignore_errors=True)
