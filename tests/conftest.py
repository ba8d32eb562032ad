from __future__ import annotations

import sys
from pathlib import Path

# tests import their shared helpers (helpers.py, reference.py) by module name.
sys.path.insert(0, str(Path(__file__).parent))


import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# The fast selection (README, "Development"): ``python -m pytest -m fast --hypothesis-profile=fast``.
# It runs every rule of the contract on DuckDB: the per-model rule tests, the input contracts, the
# reference implementation against the SQL (hand-made adversarial rows, the text formats, and the
# property tests with few examples), every health check at its thresholds, the layer and public-API
# checks, the doctests. The generated-data oracle
# runs (tens of thousands of events each) stay in the full suite.
settings.register_profile("fast", max_examples=3)

FAST_PATHS = (
    "models/",
    "properties/",
    "test_contracts.py",
    "test_oracle.py",
    "test_reference_selfcheck.py",
    "test_constants.py",
    "test_event_view.py",
    "test_layers.py",
    "test_public_api.py",
    "health/test_health_checks.py",
)
FAST_EXCLUDED = ("test_generated_data_matches_reference_with_default_variables",
                 "test_generated_data_matches_reference_with_other_variables")


def pytest_collection_modifyitems(config, items):
    root = Path(__file__).parent
    for item in items:
        try:
            where = item.path.relative_to(root).as_posix()
        except ValueError:  # the package's doctests (src/expguard): quick, all in
            item.add_marker(pytest.mark.fast)
            continue
        if (where.startswith(FAST_PATHS) and getattr(item, "originalname", item.name) not in FAST_EXCLUDED
                and not item.get_closest_marker("slow") and not item.get_closest_marker("spark")):
            item.add_marker(pytest.mark.fast)
