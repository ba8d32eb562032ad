"""The data files of a path source: one file, a folder (Hive-partitioned or not) or a glob.

Both engines read the same list of files, so that a folder means the same rows on DuckDB and
on Spark:

- a folder is read as every file under it, at any depth (``events/dt=2026-03-01/part-0.parquet``);
- a glob is read as the files it matches, and a folder it matches as that folder's files;
- files and folders whose name starts with ``.`` or ``_`` are skipped, as Spark and Hive
  writers expect (``_SUCCESS``, ``.part-0.parquet.crc``, ``_temporary/``);
- 0-byte files hold no rows and are skipped; a source of nothing but those, or of no file at
  all, is refused: ``cannot read 'events/': empty``;
- the format comes from the files' names (``.parquet``, ``.csv``, ``.jsonl``, ... optionally
  ``.gz``/``.zst``), all one format, unless the source gives its format.

For a folder or a glob, ``base`` is the folder the Hive partitions are read under: the folder
itself, or the glob's fixed leading folders (``events/dt=*/*.parquet`` -> ``events``).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

from .errors import InputError

#: File name endings -> format (a ``.gz`` or ``.zst`` after them is compression).
EXTENSIONS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
_GLOB_CHARS = ("*", "?", "[")


@dataclass(frozen=True)
class SourceFiles:
    """The files a path source reads, their format, and where Hive partitions start."""

    files: tuple[str, ...]
    format: str
    #: The folder Hive partitions are read under; None for a single file.
    base: str | None


def format_of_name(name: str) -> str | None:
    """The format a file name tells, or None.

    >>> format_of_name("part-0.snappy.parquet"), format_of_name("e.JSONL.gz"), format_of_name("_SUCCESS")
    ('parquet', 'json', None)
    """
    name = name.lower()
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    for ext, fmt in EXTENSIONS.items():
        if name.endswith(ext):
            return fmt
    return None


def is_remote(path: str) -> bool:
    return "://" in path


def expands(path: str) -> bool:
    """Whether ``path`` names several files: a folder or a glob (a remote path never does here)."""
    return not is_remote(path) and (any(c in path for c in _GLOB_CHARS) or os.path.isdir(path))


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _walk(folder: str) -> list[str]:
    found = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        found += [os.path.join(root, n) for n in sorted(names) if not _hidden(n)]
    return found


def _glob_base(pattern: str) -> str:
    """The glob's leading folders without a wildcard (``events/dt=*/*.parquet`` -> ``events``)."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in _GLOB_CHARS):
            break
        fixed.append(part)
    return os.sep.join(fixed) or (os.sep if pattern.startswith(os.sep) else ".")


def _shown(paths: list[str], limit: int = 3) -> str:
    names = [os.path.basename(p) for p in paths[:limit]]
    return ", ".join(names) + (", ..." if len(paths) > limit else "")


def list_files(path: str, fmt: str | None = None) -> SourceFiles:
    """The data files of a local path source (a file, a folder or a glob), checked.

    Raises :class:`InputError` (one line) when nothing matches, nothing holds data, or the
    files' names mix formats.
    """
    if os.path.isdir(path):
        base: str | None = path
        candidates = _walk(path)
    elif any(c in path for c in _GLOB_CHARS):
        base = _glob_base(path)
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise InputError(f"no file matches {path!r}")
        candidates = []
        for match in matches:
            # the parts the wildcards matched: lake/*/*.parquet skips lake/_temporary/x.parquet
            if any(_hidden(part) for part in os.path.relpath(match, base).split(os.sep) if part != os.pardir):
                continue
            if os.path.isdir(match):
                candidates += _walk(match)
            else:
                candidates.append(match)
    else:
        if not os.path.exists(path):
            raise InputError(f"no file matches {path!r}")
        base, candidates = None, [path]
    files = [f for f in candidates if os.path.getsize(f) > 0]
    if not files:
        what = "a 0-byte file" if base is None else (
            f"only 0-byte files ({_shown(candidates)})" if candidates else "no data files"
        )
        raise InputError(f"cannot read {path!r}: empty ({what})")
    if fmt is None:
        by_format: dict[str, list[str]] = {}
        for file in files:
            by_format.setdefault(format_of_name(os.path.basename(file)) or "unknown", []).append(file)
        if len(by_format) > 1:
            mix = "; ".join(f"{name}: {_shown(found)}" for name, found in sorted(by_format.items()))
            raise InputError(
                f"{path!r} holds files of several formats ({mix}); keep one format per input, "
                "or give the format (parquet, csv, json) to read them all as one"
            )
        fmt = next(iter(by_format))
        if fmt == "unknown":
            raise InputError(
                f"cannot tell the format of {path!r}: its files ({_shown(files)}) have no .parquet, .csv or "
                ".jsonl name; give the format (parquet, csv, json)"
            )
    return SourceFiles(files=tuple(files), format=fmt, base=base)
