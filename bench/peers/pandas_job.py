"""Peer: pandas. The columns needed are read with the event-name filter pushed into the
Parquet reader; the ids come from ``json.loads`` per row (invalid JSON -> null); the earliest
event is kept with sort_values + drop_duplicates (``groupby().first()`` would skip a null
event_id)."""

from __future__ import annotations

import glob
import json

import numpy as np
import pandas as pd

from _common import EVENT_NAME, GRACE_MINUTES, MAX_DAYS, MODELS, arguments


def ids(text: object) -> tuple[object, object]:
    """(experiment_id, variation_id) from the JSON text: a string as is, a number as its
    text, a boolean as true/false, anything nested as compact JSON; invalid JSON -> nulls."""
    if not isinstance(text, str):
        return None, None
    try:
        obj = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    out = []
    for key in ("experiment_id", "variation_id"):
        v = obj.get(key)
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, (int, float)):
            out.append(str(v))
        else:
            out.append(json.dumps(v, separators=(",", ":")))
    return out[0], out[1]


def clean(s: pd.Series) -> pd.Series:
    s = s.str.strip(" ")
    return s.mask(s == "")


def main() -> None:
    args = arguments(__doc__)
    ev = pd.read_parquet(sorted(glob.glob(args.events)), columns=["event_id", "unit_id", "event_ts", "properties"],
                         filters=[("event_name", "==", EVENT_NAME)])
    a = pd.read_parquet(args.assignments)
    a["assigned_at"] = a["assigned_at"].dt.tz_localize(None)

    # stg_experiment_exposures
    pairs = pd.DataFrame([ids(p) for p in ev["properties"]], columns=["experiment_id", "variation_id"],
                         index=ev.index, dtype="str")
    stg = pd.DataFrame({
        "event_id": ev["event_id"],
        "experiment_id": clean(pairs["experiment_id"]),
        "unit_id": clean(ev["unit_id"]),
        "variation_id": clean(pairs["variation_id"]),
        "exposed_at": ev["event_ts"].dt.tz_localize(None),
    })
    stg["exposure_date"] = stg["exposed_at"].dt.date
    stg["reject_reason"] = np.select(
        [stg["experiment_id"].isna(), stg["unit_id"].isna(), stg["variation_id"].isna(), stg["exposed_at"].isna()],
        ["missing_experiment_id", "missing_unit_id", "missing_variation_id", "missing_timestamp"], None)
    del ev, pairs

    # int_experiment_exposures_deduped
    key = ["experiment_id", "unit_id", "variation_id"]
    usable = stg[stg["reject_reason"].isna()]
    first = (usable.sort_values(key + ["exposed_at", "event_id"], na_position="last")
             .drop_duplicates(key)[key + ["event_id", "exposed_at"]])
    agg = usable.groupby(key).agg(last_exposed_at=("exposed_at", "max"),
                                  exposure_event_count=("exposed_at", "size")).reset_index()
    deduped = first.merge(agg, on=key)
    del usable, first, agg

    # int_experiment_exposure_validation
    j = a.rename(columns={"variation_id": "assigned_variation_id"}).merge(
        deduped[["experiment_id", "unit_id", "variation_id", "exposed_at", "exposure_event_count"]],
        on=["experiment_id", "unit_id"], how="left")
    exposed = j["exposed_at"].notna()
    j["pre"] = exposed & (j["exposed_at"] < j["assigned_at"] - pd.Timedelta(minutes=GRACE_MINUTES))
    j["post"] = exposed & (j["exposed_at"] > j["assigned_at"] + pd.Timedelta(days=MAX_DAYS))
    j["other"] = exposed & (j["variation_id"] != j["assigned_variation_id"])
    j["post_at"] = j["exposed_at"].where(~j["pre"])
    j["valid_at"] = j["exposed_at"].where(~j["pre"] & ~j["post"] & ~j["other"])
    unit = ["experiment_id", "unit_id", "assigned_variation_id", "assigned_at"]
    v = j.groupby(unit, sort=False).agg(
        exposed_variation_count=("variation_id", "count"),
        first_exposure_at=("exposed_at", "min"),
        first_post_assignment_exposure_at=("post_at", "min"),
        first_valid_exposure_at=("valid_at", "min"),
        has_pre_assignment_exposure=("pre", "any"),
        has_exposure_outside_window=("post", "any"),
        has_variation_mismatch=("other", "any"),
        exposure_event_count=("exposure_event_count", "sum"),
    ).reset_index()
    firsts = (j[exposed].sort_values(["experiment_id", "unit_id", "exposed_at", "variation_id"])
              .drop_duplicates(["experiment_id", "unit_id"])[["experiment_id", "unit_id", "variation_id"]]
              .rename(columns={"variation_id": "first_exposure_variation_id"}))
    v = v.merge(firsts, on=["experiment_id", "unit_id"], how="left")
    del j, firsts
    n = v["exposed_variation_count"]
    v["assignment_date"] = v["assigned_at"].dt.date
    v["is_exposed"] = n > 0
    v["is_multi_variation"] = n > 1
    v["exposure_status"] = np.select(
        [n == 0, n > 1, v["has_variation_mismatch"], v["first_post_assignment_exposure_at"].isna(),
         v["first_valid_exposure_at"].isna()],
        ["no_exposure", "multi_variation_exposure", "variation_mismatch", "pre_assignment_exposure",
         "exposure_outside_window"], "valid")
    v["is_valid_exposure"] = v["exposure_status"] == "valid"
    v["exposure_event_count"] = v["exposure_event_count"].astype("int64")
    validation = v[["experiment_id", "unit_id", "assigned_variation_id", "assigned_at", "assignment_date",
                    "exposed_variation_count", "first_exposure_at", "first_exposure_variation_id",
                    "first_post_assignment_exposure_at", "first_valid_exposure_at", "is_exposed",
                    "has_pre_assignment_exposure", "has_exposure_outside_window", "has_variation_mismatch",
                    "is_multi_variation", "exposure_status", "is_valid_exposure", "exposure_event_count"]]

    # fct_experiment_exposure_quality_daily
    s = validation["exposure_status"]
    c = validation.assign(
        no_exposure_units=s == "no_exposure", multi_variation_exposure_units=s == "multi_variation_exposure",
        variation_mismatch_units=s == "variation_mismatch", pre_assignment_exposure_units=s == "pre_assignment_exposure",
        exposure_outside_window_units=s == "exposure_outside_window",
    ).groupby(["experiment_id", "assignment_date"]).agg(
        assigned_units=("unit_id", "size"),
        exposed_units=("is_exposed", "sum"),
        valid_exposed_units=("is_valid_exposure", "sum"),
        no_exposure_units=("no_exposure_units", "sum"),
        multi_variation_exposure_units=("multi_variation_exposure_units", "sum"),
        variation_mismatch_units=("variation_mismatch_units", "sum"),
        pre_assignment_exposure_units=("pre_assignment_exposure_units", "sum"),
        exposure_outside_window_units=("exposure_outside_window_units", "sum"),
        mismatched_units=("has_variation_mismatch", "sum"),
        exposure_events=("exposure_event_count", "sum"),
        exposures=("exposed_variation_count", "sum"),
    ).reset_index().rename(columns={"assignment_date": "date"})
    c["duplicate_exposure_events"] = c["exposure_events"] - c.pop("exposures")
    assigned = pd.MultiIndex.from_frame(a[["experiment_id", "unit_id"]])
    un = deduped[~pd.MultiIndex.from_frame(deduped[["experiment_id", "unit_id"]]).isin(assigned)]
    un = un.groupby(["experiment_id", "unit_id"])["exposed_at"].min().dt.date.rename("date").reset_index()
    un = un.groupby(["experiment_id", "date"]).size().rename("unassigned_exposed_units").reset_index()
    d = c.merge(un, on=["experiment_id", "date"], how="outer")
    counts = [col for col in d.columns if col not in ("experiment_id", "date")]
    d[counts] = d[counts].fillna(0).astype("int64")

    def rate(num: str, den: str) -> pd.Series:
        return (d[num] / d[den]).where(d[den] > 0)

    d["exposure_rate"] = rate("valid_exposed_units", "assigned_units")
    d["mismatch_rate"] = rate("mismatched_units", "exposed_units")
    d["multi_variation_rate"] = rate("multi_variation_exposure_units", "exposed_units")
    d["no_exposure_rate"] = rate("no_exposure_units", "assigned_units")
    d["pre_assignment_exposure_rate"] = rate("pre_assignment_exposure_units", "assigned_units")
    d["exposure_outside_window_rate"] = rate("exposure_outside_window_units", "assigned_units")
    data_through = stg["exposed_at"].max()
    d["is_window_complete"] = (False if pd.isna(data_through) else
                               pd.to_datetime(d["date"]) + pd.Timedelta(days=1 + MAX_DAYS) <= data_through)

    for name, frame in zip(MODELS, (stg, deduped, validation, d)):
        frame.to_parquet(args.output_dir / f"{name}.parquet", index=False)


if __name__ == "__main__":
    main()
