"""expguard report / expguard.report(): where it reads from, what the file holds, how it fails."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

import expguard
from expguard.cli import main
from expguard.core.errors import ConfigError, InputError
from expguard.apps.report import captions, write_report
from expguard.apps.report.data import read_outputs
from expguard.apps.report.summary import overview_row, split_experiments

CHARTS_PER_EXPERIMENT = 5


def charts_json(page: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="expguard-charts">(.*?)</script>', page, re.S).group(1))


def main_html(page: str) -> str:
    return page[page.index("<main>"):page.index("</main>")]


def test_report_from_the_parquet_folder_and_the_database_are_the_same(demo_run, tmp_path):
    from_dir = expguard.report(tmp_path / "dir.html", output_dir=demo_run / "output")
    from_db = expguard.report(tmp_path / "db.html", database=demo_run / "expguard.duckdb")
    assert (from_dir.experiments, from_dir.charts) == (20, 20 * CHARTS_PER_EXPERIMENT)
    a, b = from_dir.path.read_text(encoding="utf-8"), from_db.path.read_text(encoding="utf-8")
    assert charts_json(a) == charts_json(b)
    assert main_html(a) == main_html(b)


def test_report_built_from_the_inputs_shows_the_same_run(demo_run, tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    # The demo runs as of its newest event (the freshness check's reference time): so does this build.
    as_of = pc.max(pq.read_table(demo_run / "data" / "events.parquet", columns=["event_ts"])["event_ts"]).as_py()
    built = expguard.report(tmp_path / "built.html", events=str(demo_run / "data" / "events.parquet"),
                            assignments=str(demo_run / "data" / "assignments.parquet"),
                            vars={"exp_health_as_of": as_of.isoformat()})
    read = expguard.report(tmp_path / "read.html", output_dir=demo_run / "output")
    a, b = built.path.read_text(encoding="utf-8"), read.path.read_text(encoding="utf-8")
    assert charts_json(a) == charts_json(b)
    assert main_html(a) == main_html(b)


def test_report_is_one_self_contained_file(demo_run, tmp_path):
    result = expguard.report(tmp_path / "r.html", output_dir=demo_run / "output")
    page = result.path.read_text(encoding="utf-8")
    # Nothing to fetch: no external script, style sheet, image or font.
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", page, re.I)
    assert not re.search(r"<link\b", page, re.I)
    assert "@import" not in page and "url(http" not in page
    # One plotly.js for every chart, inlined.
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1
    assert result.bytes == len(page.encode("utf-8"))
    assert result.bytes < 7_000_000
    # The chart data is compact: a small part of the file next to plotly.js.
    assert len(json.dumps(charts_json(page), separators=(",", ":"))) < 1_000_000


def test_report_is_deterministic(demo_run, tmp_path):
    first = expguard.report(tmp_path / "a.html", output_dir=demo_run / "output").path.read_bytes()
    assert expguard.report(tmp_path / "b.html", output_dir=demo_run / "output").path.read_bytes() == first


def test_experiment_filter(demo_run, tmp_path):
    result = expguard.report(tmp_path / "r.html", output_dir=demo_run / "output", experiments=["exp_03", "exp_11"])
    assert (result.experiments, result.charts) == (2, 2 * CHARTS_PER_EXPERIMENT)
    page = result.path.read_text(encoding="utf-8")
    assert "exp_03" in page and "exp_11" in page and "exp_04" not in main_html(page)
    with pytest.raises(ConfigError, match="no experiment 'exp_99' in this run; experiments: exp_01, exp_02"):
        expguard.report(tmp_path / "x.html", output_dir=demo_run / "output", experiments=["exp_99"])


def test_a_run_without_a_model_is_a_clear_error(demo_run, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    for path in (demo_run / "output").glob("*.parquet"):
        if path.stem != "fct_experiment_exposure_srm":
            (folder / path.name).write_bytes(path.read_bytes())
    with pytest.raises(InputError, match=r"fct_experiment_exposure_srm\.parquet' not found; build it with: expguard run"):
        expguard.report(tmp_path / "r.html", output_dir=folder)
    with pytest.raises(InputError, match="not found"):
        expguard.report(tmp_path / "r.html", database=tmp_path / "missing.duckdb")
    with pytest.raises(ConfigError, match="not both"):
        expguard.report(tmp_path / "r.html", output_dir=folder, events="e.parquet", assignments="a.parquet")


def test_a_failed_write_leaves_the_previous_report(demo_run, tmp_path, monkeypatch):
    out = tmp_path / "r.html"
    out.write_text("previous", encoding="utf-8")
    run = read_outputs(output_dir=demo_run / "output")
    from expguard.apps.report import html

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(html, "render", broken)
    with pytest.raises(RuntimeError):
        write_report(run, out)
    assert out.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_ids_are_escaped_in_the_page_and_the_data(demo_run, tmp_path):
    run = read_outputs(output_dir=demo_run / "output")
    hostile = '<b>"x"</b></script><script>alert(1)</script>'
    for rows in (run.daily, run.by_variation, run.srm, run.alerts, run.rejections, run.exposures_daily):
        for row in rows:
            if row["experiment_id"] == "exp_01":
                row["experiment_id"] = hostile
            if row.get("variation_id") == "control" or row.get("assigned_variation_id") == "control":
                row["variation_id" if "variation_id" in row else "assigned_variation_id"] = hostile
    page = write_report(run, tmp_path / "r.html").path.read_text(encoding="utf-8")
    assert hostile not in page
    assert "&lt;b&gt;&quot;x&quot;&lt;/b&gt;&lt;/script&gt;" in page
    names = [t["name"] for chart in charts_json(page)["charts"] for t in chart["data"]]
    assert hostile in names  # the JSON decodes to the id; it never closes the script element


def test_scenario_captions_name_each_regression_and_its_day(scenario_run):
    scenario, data, out = scenario_run
    experiments = {e.experiment_id: e for e in split_experiments(read_outputs(output_dir=out))}
    where = {
        "event_renamed": (captions.exposure_rate_caption, "Exposure rate fell from"),
        "variation_dropped": (captions.exposure_rate_caption, "Only treatment (from"),
        "mismatch_bug": (captions.rates_caption, "Mismatch rate rose from"),
        "double_firing": (captions.events_caption, "Repeated events jumped from"),
        "identity_change": (captions.events_caption, "Units exposed without an assignment jumped from"),
        "variation_id_lost": (captions.events_caption, "Rejected events jumped from"),
        "variation_leak": (captions.rates_caption, "Multi-variation rate rose from"),
    }
    for regression in data.regressions:
        caption, phrase = where[regression.kind]
        text = caption(experiments[regression.experiment_id])
        sentence = next((s for s in text.split(". ") if phrase in s), "")
        assert regression.date.isoformat() in sentence, (regression, text)
        row = overview_row(experiments[regression.experiment_id])
        if regression.kind == "double_firing":
            # Repeated events are collapsed by the dedupe and bias no count: no health check fails
            # (the verdict passes); the month-old alert stays in the alerts column.
            assert row["status"] == "pass" and row["warning_alerts"] + row["critical_alerts"] > 0
        else:
            assert row["status"] in ("warn", "fail"), (regression, row["reason"])
    for experiment_id in data.healthy:
        e = experiments[experiment_id]
        assert "shows no shift beyond chance" in captions.exposure_rate_caption(e)
        assert "No day stands out." in captions.events_caption(e)


def test_cli_writes_the_report(demo_run, tmp_path):
    out = tmp_path / "sub" / "report.html"
    result = CliRunner().invoke(main, ["report", "--output-dir", str(demo_run / "output"), "--out", str(out),
                                       "--experiment", "exp_02", "--title", "Weekly check"])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(rf"wrote {re.escape(str(out))} \(\d+\.\d MB\): 1 experiment, 5 charts\n"
                        rf"health: 1 of 1 experiment warn\n", result.stdout)
    assert "<title>Weekly check</title>" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("args, message", [
    (["--experiment", "nope"], "expguard: error: no experiment 'nope' in this run"),
    (["--events", "e.parquet"], "expguard: error: give --output-dir/--database to read an earlier run, or inputs"),
])
def test_cli_errors_are_one_line(demo_run, tmp_path, args, message):
    result = CliRunner().invoke(main, ["report", "--output-dir", str(demo_run / "output"),
                                       "--out", str(tmp_path / "r.html"), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_cli_reads_a_database_and_reports_a_missing_one(demo_run, tmp_path):
    ok = CliRunner().invoke(main, ["report", "--database", str(demo_run / "expguard.duckdb"), "--out", str(tmp_path / "r.html"), "-q"])
    assert ok.exit_code == 0 and ok.stdout == ""
    missing = CliRunner().invoke(main, ["report", "--database", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "x.html")])
    assert missing.exit_code == 2 and "not found" in missing.stderr


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif("spark" not in __import__("expguard.engines", fromlist=["ENGINES"]).ENGINES,
                    reason="the Spark engine is not registered in this build")
def test_report_built_on_spark_is_the_duckdb_report(tmp_path):
    from expguard.apps.demo.generator import generate, write_dataset

    events, assignments = write_dataset(generate(30_000, seed=3, n_experiments=4, days=20), tmp_path / "data")
    pages = {}
    for engine in ("duckdb", "spark"):
        # (a fixed freshness reference time: by default the clock, whose minute the page shows)
        result = expguard.report(tmp_path / f"{engine}.html", events=str(events), assignments=str(assignments),
                                 engine={"name": engine}, vars={"exp_health_as_of": "2026-06-01T00:00:00"})
        pages[engine] = result.path.read_text(encoding="utf-8")
    assert charts_json(pages["spark"]) == charts_json(pages["duckdb"])
    assert main_html(pages["spark"]) == main_html(pages["duckdb"])
