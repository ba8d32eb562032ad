"""Peer: PySpark in local mode (all cores), the DataFrame API as a Spark user writes it:
get_json_object for the ids, a row_number window for the earliest event, a left join and a
groupBy per assignment. Session in UTC, Parquet timestamps as TIMESTAMP_MICROS, shuffle
partitions sized for one machine; each model is written as a folder of part files."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from _common import EVENT_NAME, GRACE_MINUTES, MAX_DAYS, MODELS, arguments


def clean(col):
    t = F.trim(col, F.lit(" "))
    return F.when(t == "", None).otherwise(t)


def main() -> None:
    args = arguments(__doc__)
    spark = (
        SparkSession.builder.master("local[*]").appName("expguard-bench-pyspark")
        .config("spark.driver.memory", os.environ.get("BENCH_SPARK_DRIVER_MEMORY", "8g"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")

    ev = spark.read.parquet(args.events).where(F.col("event_name") == EVENT_NAME)
    stg = ev.select(
        "event_id",
        clean(F.get_json_object("properties", "$.experiment_id")).alias("experiment_id"),
        clean(F.col("unit_id")).alias("unit_id"),
        clean(F.get_json_object("properties", "$.variation_id")).alias("variation_id"),
        F.col("event_ts").cast("timestamp_ntz").alias("exposed_at"),
    ).withColumn("exposure_date", F.to_date("exposed_at")).withColumn(
        "reject_reason",
        F.when(F.col("experiment_id").isNull(), "missing_experiment_id")
        .when(F.col("unit_id").isNull(), "missing_unit_id")
        .when(F.col("variation_id").isNull(), "missing_variation_id")
        .when(F.col("exposed_at").isNull(), "missing_timestamp"),
    ).cache()

    key = ["experiment_id", "unit_id", "variation_id"]
    w = Window.partitionBy(*key).orderBy(F.col("exposed_at").asc(), F.col("event_id").asc_nulls_last())
    wk = Window.partitionBy(*key)
    deduped = (
        stg.where(F.col("reject_reason").isNull())
        .withColumn("rn", F.row_number().over(w))
        .withColumn("last_exposed_at", F.max("exposed_at").over(wk))
        .withColumn("exposure_event_count", F.count(F.lit(1)).over(wk))
        .where("rn = 1")
        .select(*key, "event_id", "exposed_at", "last_exposed_at", "exposure_event_count")
    ).cache()

    a = spark.read.parquet(args.assignments).withColumn("assigned_at", F.col("assigned_at").cast("timestamp_ntz"))
    j = (
        a.withColumnRenamed("variation_id", "assigned_variation_id")
        .join(deduped.select("experiment_id", "unit_id", "variation_id", "exposed_at", "exposure_event_count"),
              ["experiment_id", "unit_id"], "left")
        .withColumn("pre", F.col("exposed_at") < F.col("assigned_at") - F.expr(f"INTERVAL {GRACE_MINUTES} MINUTES"))
        .withColumn("post", F.col("exposed_at") > F.col("assigned_at") + F.expr(f"INTERVAL {MAX_DAYS} DAYS"))
        .withColumn("other", F.col("variation_id") != F.col("assigned_variation_id"))
    )
    v = j.groupBy("experiment_id", "unit_id", "assigned_variation_id", "assigned_at").agg(
        F.count("variation_id").alias("exposed_variation_count"),
        F.min("exposed_at").alias("first_exposure_at"),
        F.min(F.struct("exposed_at", "variation_id")).alias("first"),
        F.min(F.when(~F.col("pre"), F.col("exposed_at"))).alias("first_post_assignment_exposure_at"),
        F.min(F.when(~F.col("pre") & ~F.col("post") & ~F.col("other"), F.col("exposed_at"))).alias("first_valid_exposure_at"),
        F.coalesce(F.bool_or("pre"), F.lit(False)).alias("has_pre_assignment_exposure"),
        F.coalesce(F.bool_or("post"), F.lit(False)).alias("has_exposure_outside_window"),
        F.coalesce(F.bool_or("other"), F.lit(False)).alias("has_variation_mismatch"),
        F.coalesce(F.sum("exposure_event_count"), F.lit(0)).cast("bigint").alias("exposure_event_count"),
    )
    n = F.col("exposed_variation_count")
    status = (
        F.when(n == 0, "no_exposure").when(n > 1, "multi_variation_exposure")
        .when(F.col("has_variation_mismatch"), "variation_mismatch")
        .when(F.col("first_post_assignment_exposure_at").isNull(), "pre_assignment_exposure")
        .when(F.col("first_valid_exposure_at").isNull(), "exposure_outside_window").otherwise("valid")
    )
    validation = v.select(
        "experiment_id", "unit_id", "assigned_variation_id", "assigned_at",
        F.to_date("assigned_at").alias("assignment_date"),
        "exposed_variation_count", "first_exposure_at",
        F.col("first.variation_id").alias("first_exposure_variation_id"),
        "first_post_assignment_exposure_at", "first_valid_exposure_at",
        (n > 0).alias("is_exposed"),
        "has_pre_assignment_exposure", "has_exposure_outside_window", "has_variation_mismatch",
        (n > 1).alias("is_multi_variation"),
        status.alias("exposure_status"),
        (status == "valid").alias("is_valid_exposure"),
        "exposure_event_count",
    ).cache()

    def count_if(cond):
        return F.count(F.when(cond, 1)).cast("bigint")

    s = F.col("exposure_status")
    cohorts = validation.groupBy("experiment_id", F.col("assignment_date").alias("date")).agg(
        F.count(F.lit(1)).alias("assigned_units"),
        count_if(F.col("is_exposed")).alias("exposed_units"),
        count_if(F.col("is_valid_exposure")).alias("valid_exposed_units"),
        count_if(s == "no_exposure").alias("no_exposure_units"),
        count_if(s == "multi_variation_exposure").alias("multi_variation_exposure_units"),
        count_if(s == "variation_mismatch").alias("variation_mismatch_units"),
        count_if(s == "pre_assignment_exposure").alias("pre_assignment_exposure_units"),
        count_if(s == "exposure_outside_window").alias("exposure_outside_window_units"),
        count_if(F.col("has_variation_mismatch")).alias("mismatched_units"),
        F.sum("exposure_event_count").cast("bigint").alias("exposure_events"),
        (F.sum("exposure_event_count") - F.sum("exposed_variation_count")).cast("bigint").alias("duplicate_exposure_events"),
    )
    unassigned = (
        deduped.join(a, ["experiment_id", "unit_id"], "left_anti")
        .groupBy("experiment_id", "unit_id").agg(F.min("exposed_at").alias("first_at"))
        .groupBy("experiment_id", F.to_date("first_at").alias("date"))
        .agg(F.count(F.lit(1)).alias("unassigned_exposed_units"))
    )
    data_through = stg.agg(F.max("exposed_at").alias("data_through"))
    counts = [c for c in cohorts.columns if c not in ("experiment_id", "date")]

    def rate(num, den):
        return F.when(F.col(den) > 0, F.col(num).cast("double") / F.col(den))

    daily = (
        cohorts.join(unassigned, ["experiment_id", "date"], "full")
        .na.fill(0, counts + ["unassigned_exposed_units"])
        .crossJoin(data_through)
        .select(
            "experiment_id", "date", *counts, "unassigned_exposed_units",
            rate("valid_exposed_units", "assigned_units").alias("exposure_rate"),
            rate("mismatched_units", "exposed_units").alias("mismatch_rate"),
            rate("multi_variation_exposure_units", "exposed_units").alias("multi_variation_rate"),
            rate("no_exposure_units", "assigned_units").alias("no_exposure_rate"),
            rate("pre_assignment_exposure_units", "assigned_units").alias("pre_assignment_exposure_rate"),
            rate("exposure_outside_window_units", "assigned_units").alias("exposure_outside_window_rate"),
            F.coalesce(F.col("date").cast("timestamp_ntz") + F.expr(f"INTERVAL {1 + MAX_DAYS} DAYS")
                       <= F.col("data_through"), F.lit(False)).alias("is_window_complete"),
        )
    )
    for name, frame in zip(MODELS, (stg, deduped, validation, daily)):
        frame.write.mode("overwrite").parquet(str(args.output_dir / f"{name}.parquet"))
    spark.stop()


if __name__ == "__main__":
    main()
