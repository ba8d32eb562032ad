"""Peer: Polars lazy. One lazy plan per model, collected together (``pl.collect_all``, so the
shared scan and joins run once), each written to Parquet. Ids come from the JSON with
``str.json_path_match`` (a JSON string -> its text, a number -> its text, invalid JSON -> null)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from _common import EVENT_NAME, GRACE_MINUTES, MAX_DAYS, MODELS, arguments


def clean(expr: pl.Expr) -> pl.Expr:
    """Trim U+0020 only; an empty result becomes null."""
    text = expr.str.strip_chars(" ")
    return pl.when(text == "").then(None).otherwise(text)


def main() -> None:
    args = arguments(__doc__)
    events = pl.scan_parquet(args.events)
    assignments = pl.scan_parquet(args.assignments).with_columns(
        pl.col("assigned_at").dt.replace_time_zone(None))

    stg = (
        events.filter(pl.col("event_name") == EVENT_NAME)
        .select(
            "event_id",
            clean(pl.col("properties").str.json_path_match("$.experiment_id")).alias("experiment_id"),
            clean(pl.col("unit_id")).alias("unit_id"),
            clean(pl.col("properties").str.json_path_match("$.variation_id")).alias("variation_id"),
            pl.col("event_ts").dt.replace_time_zone(None).alias("exposed_at"),
        )
        .with_columns(
            pl.col("exposed_at").dt.date().alias("exposure_date"),
            pl.when(pl.col("experiment_id").is_null()).then(pl.lit("missing_experiment_id"))
            .when(pl.col("unit_id").is_null()).then(pl.lit("missing_unit_id"))
            .when(pl.col("variation_id").is_null()).then(pl.lit("missing_variation_id"))
            .when(pl.col("exposed_at").is_null()).then(pl.lit("missing_timestamp"))
            .otherwise(None).alias("reject_reason"),
        )
    )

    key = ["experiment_id", "unit_id", "variation_id"]
    deduped = (
        stg.filter(pl.col("reject_reason").is_null())
        .group_by(key)
        .agg(
            # earliest by (exposed_at, event_id nulls last); first() keeps a null event_id
            pl.col("event_id").sort_by(["exposed_at", "event_id"], nulls_last=True).first(),
            pl.col("exposed_at").min(),
            pl.col("exposed_at").max().alias("last_exposed_at"),
            pl.len().cast(pl.Int64).alias("exposure_event_count"),
        )
    )

    grace, window = timedelta(minutes=GRACE_MINUTES), timedelta(days=MAX_DAYS)
    per_unit = (
        assignments.rename({"variation_id": "assigned_variation_id"})
        .join(deduped.select("experiment_id", "unit_id", "variation_id", "exposed_at", "exposure_event_count"),
              on=["experiment_id", "unit_id"], how="left")
        .with_columns(
            (pl.col("exposed_at") < pl.col("assigned_at") - grace).alias("pre"),
            (pl.col("exposed_at") > pl.col("assigned_at") + window).alias("post"),
            (pl.col("variation_id") != pl.col("assigned_variation_id")).alias("other"),
        )
        .group_by("experiment_id", "unit_id", "assigned_variation_id", "assigned_at")
        .agg(
            pl.col("variation_id").count().cast(pl.Int64).alias("exposed_variation_count"),
            pl.col("exposed_at").min().alias("first_exposure_at"),
            pl.col("variation_id").sort_by(["exposed_at", "variation_id"], nulls_last=True).first()
            .alias("first_exposure_variation_id"),
            pl.col("exposed_at").filter(~pl.col("pre")).min().alias("first_post_assignment_exposure_at"),
            pl.col("exposed_at").filter(~pl.col("pre") & ~pl.col("post") & ~pl.col("other")).min()
            .alias("first_valid_exposure_at"),
            pl.col("pre").any().alias("has_pre_assignment_exposure"),
            pl.col("post").any().alias("has_exposure_outside_window"),
            pl.col("other").any().alias("has_variation_mismatch"),
            pl.col("exposure_event_count").sum().cast(pl.Int64),
        )
    )
    n = pl.col("exposed_variation_count")
    validation = per_unit.select(
        "experiment_id", "unit_id", "assigned_variation_id", "assigned_at",
        pl.col("assigned_at").dt.date().alias("assignment_date"),
        "exposed_variation_count", "first_exposure_at", "first_exposure_variation_id",
        "first_post_assignment_exposure_at", "first_valid_exposure_at",
        (n > 0).alias("is_exposed"),
        "has_pre_assignment_exposure", "has_exposure_outside_window", "has_variation_mismatch",
        (n > 1).alias("is_multi_variation"),
        pl.when(n == 0).then(pl.lit("no_exposure"))
        .when(n > 1).then(pl.lit("multi_variation_exposure"))
        .when(pl.col("has_variation_mismatch")).then(pl.lit("variation_mismatch"))
        .when(pl.col("first_post_assignment_exposure_at").is_null()).then(pl.lit("pre_assignment_exposure"))
        .when(pl.col("first_valid_exposure_at").is_null()).then(pl.lit("exposure_outside_window"))
        .otherwise(pl.lit("valid")).alias("exposure_status"),
        "exposure_event_count",
    ).with_columns((pl.col("exposure_status") == "valid").alias("is_valid_exposure"))
    validation = validation.select(*[c for c in validation.collect_schema().names() if c != "exposure_event_count"],
                                   "exposure_event_count")

    def status(name: str) -> pl.Expr:
        return (pl.col("exposure_status") == name).sum().cast(pl.Int64)

    cohorts = validation.group_by("experiment_id", pl.col("assignment_date").alias("date")).agg(
        pl.len().cast(pl.Int64).alias("assigned_units"),
        pl.col("is_exposed").sum().cast(pl.Int64).alias("exposed_units"),
        pl.col("is_valid_exposure").sum().cast(pl.Int64).alias("valid_exposed_units"),
        status("no_exposure").alias("no_exposure_units"),
        status("multi_variation_exposure").alias("multi_variation_exposure_units"),
        status("variation_mismatch").alias("variation_mismatch_units"),
        status("pre_assignment_exposure").alias("pre_assignment_exposure_units"),
        status("exposure_outside_window").alias("exposure_outside_window_units"),
        pl.col("has_variation_mismatch").sum().cast(pl.Int64).alias("mismatched_units"),
        pl.col("exposure_event_count").sum().cast(pl.Int64).alias("exposure_events"),
        (pl.col("exposure_event_count").sum() - pl.col("exposed_variation_count").sum()).cast(pl.Int64)
        .alias("duplicate_exposure_events"),
    )
    unassigned = (
        deduped.join(assignments, on=["experiment_id", "unit_id"], how="anti")
        .group_by("experiment_id", "unit_id").agg(pl.col("exposed_at").min())
        .group_by("experiment_id", pl.col("exposed_at").dt.date().alias("date"))
        .agg(pl.len().cast(pl.Int64).alias("unassigned_exposed_units"))
    )
    data_through = stg.select(pl.col("exposed_at").max().alias("data_through"))
    counts = [c for c in cohorts.collect_schema().names() if c not in ("experiment_id", "date")]

    def rate(num: str, den: str) -> pl.Expr:
        return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None)

    daily = (
        cohorts.join(unassigned, on=["experiment_id", "date"], how="full", coalesce=True)
        .with_columns(pl.col(counts + ["unassigned_exposed_units"]).fill_null(0))
        .join(data_through, how="cross")
        .select(
            "experiment_id", "date", *counts, "unassigned_exposed_units",
            rate("valid_exposed_units", "assigned_units").alias("exposure_rate"),
            rate("mismatched_units", "exposed_units").alias("mismatch_rate"),
            rate("multi_variation_exposure_units", "exposed_units").alias("multi_variation_rate"),
            rate("no_exposure_units", "assigned_units").alias("no_exposure_rate"),
            rate("pre_assignment_exposure_units", "assigned_units").alias("pre_assignment_exposure_rate"),
            rate("exposure_outside_window_units", "assigned_units").alias("exposure_outside_window_rate"),
            (pl.col("date").cast(pl.Datetime("us")) + timedelta(days=1 + MAX_DAYS) <= pl.col("data_through"))
            .fill_null(False).alias("is_window_complete"),
        )
    )

    frames = pl.collect_all([stg, deduped, validation, daily])
    for name, frame in zip(MODELS, frames):
        frame.write_parquet(args.output_dir / f"{name}.parquet")


if __name__ == "__main__":
    main()
