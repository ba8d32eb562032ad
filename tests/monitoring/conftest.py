"""Fixtures of the monitoring tests: the engines every model test runs on."""

from __future__ import annotations

import pytest

from expguard.engines import ENGINES

ENGINE_PARAMS = [
    "duckdb",
    pytest.param("spark", marks=[
        pytest.mark.spark,
        pytest.mark.skipif("spark" not in ENGINES, reason="the Spark engine is not registered in this build"),
    ]),
]


@pytest.fixture(params=ENGINE_PARAMS)
def engine(request) -> str:
    """Each monitoring model test runs on every engine (DuckDB always, Spark when marked)."""
    return request.param
