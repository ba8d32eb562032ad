"""Rows handed to an engine: the column types a Python model may declare, and their Arrow form.

Rows, not Arrow tables: on DuckDB a run then never imports pyarrow (nor pandas, which pyarrow
imports as soon as it builds an array when pandas is installed), half a second of every run's
start-up. Engines that take rows as Arrow (Spark) convert them with :func:`rows_to_arrow`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: A Python model's output columns, in order: (name, SQL type), the types among ``SQL_TYPES``.
Columns = tuple[tuple[str, str], ...]
Rows = list[dict[str, Any]]

#: The column types a Python model may declare, with their Arrow types (for engines that
#: take a model's rows as Arrow).
SQL_TYPES = {"varchar": "string", "bigint": "int64", "double": "float64", "boolean": "bool_", "date": "date32"}


def arrow_schema(columns: Columns) -> "pa.Schema":
    """The Arrow schema of ``columns``."""
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, SQL_TYPES[kind])()) for name, kind in columns])


def rows_to_arrow(rows: Rows, columns: Columns) -> "pa.Table":
    """``rows`` as an Arrow table of exactly ``columns``."""
    import pyarrow as pa

    return pa.Table.from_pylist(rows, schema=arrow_schema(columns))
