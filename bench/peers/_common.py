"""What every peer job shares: its command line and the SPEC variables at their defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

EVENT_NAME = "experiment_viewed"
GRACE_MINUTES = 5
MAX_DAYS = 30
MODELS = (
    "stg_experiment_exposures",
    "int_experiment_exposures_deduped",
    "int_experiment_exposure_validation",
    "fct_experiment_exposure_quality_daily",
)


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--events", required=True, help="Parquet file or glob of the event stream")
    parser.add_argument("--assignments", required=True, help="Parquet file of the assignments")
    parser.add_argument("--output-dir", required=True, type=Path, help="one <model>.parquet per model")
    args = parser.parse_args()
    args.output_dir.mkdir(parents=True, exist_ok=True)
    return args
