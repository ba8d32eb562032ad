"""Check that a peer's outputs equal expguard's: every column, every row, in any row order.

    python bench/check.py EXPECTED_DIR ACTUAL_DIR [--all]

A model's output is ``DIR/<model>.parquet``, a file or (Spark) a folder of part files, or the
table of that name in ``DIR/expguard.duckdb`` (a run whose only output is a database). For each
of the four core models: the same column names, the same column types (DuckDB's reading of the
Parquet types), the same row count, and the same multiset of rows (``EXCEPT ALL`` both ways,
after casting the peer's columns to expguard's types, so that a type difference is reported
once and the values are still compared). ``--all`` compares every model file of EXPECTED_DIR
(two expguard runs: the monitoring models too).
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import duckdb

MODELS = (
    "stg_experiment_exposures",
    "int_experiment_exposures_deduped",
    "int_experiment_exposure_validation",
    "fct_experiment_exposure_quality_daily",
)


#: A folder of outputs may hold this DuckDB file instead of Parquet files (a run whose only output
#: is a database): its tables are read in their place.
DATABASE = "expguard.duckdb"


def _source(directory: Path, model: str) -> str:
    path = directory / f"{model}.parquet"
    if not path.exists() and (directory / DATABASE).is_file():
        return f"{_alias(directory)}.main.{_q(model)}"
    pattern = str(path / "*.parquet") if path.is_dir() else str(path)
    return "read_parquet('" + pattern.replace("'", "''") + "')"


def _alias(directory: Path) -> str:
    return "db_" + hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:12]


def _attach_databases(con: duckdb.DuckDBPyConnection, *directories: Path) -> None:
    for directory in directories:
        if (directory / DATABASE).is_file():
            path = str(directory / DATABASE).replace("'", "''")
            con.execute(f"attach '{path}' as {_alias(directory)} (read_only)")


def _has(directory: Path, model: str, con: duckdb.DuckDBPyConnection) -> bool:
    if (directory / f"{model}.parquet").exists():
        return True
    if not (directory / DATABASE).is_file():
        return False
    return bool(con.execute("select 1 from information_schema.tables where table_catalog = ? and table_name = ?",
                            [_alias(directory), model]).fetchall())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def compare(expected: Path, actual: Path, models: tuple[str, ...] = MODELS) -> list[str]:
    """Every difference found, as one line each; empty when the outputs are equal."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    _attach_databases(con, expected, actual)
    problems: list[str] = []
    for model in models:
        if not _has(actual, model, con):
            problems.append(f"{model}: missing in {actual}")
            continue
        exp_rel, act_rel = con.sql(f"select * from {_source(expected, model)}"), con.sql(f"select * from {_source(actual, model)}")
        exp_types = dict(zip(exp_rel.columns, map(str, exp_rel.dtypes)))
        act_types = dict(zip(act_rel.columns, map(str, act_rel.dtypes)))
        if missing := [c for c in exp_types if c not in act_types]:
            problems.append(f"{model}: missing columns {missing}")
            continue
        if extra := [c for c in act_types if c not in exp_types]:
            problems.append(f"{model}: extra columns {extra}")
        for column, kind in exp_types.items():
            if act_types[column] != kind:
                problems.append(f"{model}.{column}: type {act_types[column]}, expected {kind}")
        cols = ", ".join(_q(c) for c in exp_types)
        cast = ", ".join(f"cast({_q(c)} as {k}) as {_q(c)}" for c, k in exp_types.items())
        e = f"(select {cols} from {_source(expected, model)})"
        a = f"(select {cast} from {_source(actual, model)})"
        n_e, n_a = (con.sql(f"select count(*) from {x}").fetchall()[0][0] for x in (e, a))
        if n_e != n_a:
            problems.append(f"{model}: {n_a} rows, expected {n_e}")
        only_e = con.sql(f"select count(*) from ({e} except all {a})").fetchall()[0][0]
        only_a = con.sql(f"select count(*) from ({a} except all {e})").fetchall()[0][0]
        if only_e or only_a:
            example = con.sql(f"select * from ({a} except all {e}) order by all limit 2").fetchall()
            wanted = con.sql(f"select * from ({e} except all {a}) order by all limit 2").fetchall()
            problems.append(f"{model}: {only_e} expected rows missing, {only_a} unexpected rows; "
                            f"e.g. got {example} wanted {wanted}")
    con.close()
    return problems


def models_in(directory: Path) -> tuple[str, ...]:
    """Every model output in ``directory`` (to compare two expguard runs model for model)."""
    return tuple(sorted(p.name.removesuffix(".parquet") for p in directory.glob("*.parquet")))


def main() -> None:
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4 and sys.argv[3] != "--all"):
        sys.exit(__doc__)
    expected = Path(sys.argv[1])
    problems = compare(expected, Path(sys.argv[2]), models_in(expected) if len(sys.argv) == 4 else MODELS)
    print("\n".join(problems) if problems else "equal")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
