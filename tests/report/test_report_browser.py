"""The report in a real browser: headless Chromium opens the demo report and the checks are made
in the live page (browser.py): every chart drawn, no JavaScript error, no request off the machine.
A screenshot is saved to test-artifacts/report-demo.png.

Chromium is required, not optional: without it these tests fail with how to install it (CI's
.ci/run installs Debian's chromium).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import expguard
from browser import ARTIFACTS, Chromium, find_chromium, open_report, screenshot

WIDTH, HEIGHT = 1280, 1400


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium()
    if binary is None:
        pytest.fail("headless Chromium is needed for the report tests and was not found (looked for "
                    "$EXPGUARD_CHROMIUM, /usr/bin/chromium, chromium, chromium-browser, google-chrome); install it "
                    "with: apt-get update && apt-get install -y --no-install-recommends chromium", pytrace=False)
    with Chromium(binary, width=WIDTH, height=HEIGHT) as chromium:
        yield chromium


def local(url: str) -> bool:
    return url.startswith(("file:", "data:", "about:", "blob:"))


def test_demo_report_draws_every_chart_without_errors_or_requests(demo_run, browser, tmp_path):
    result = expguard.report(tmp_path / "report.html", output_dir=demo_run / "output")
    page = open_report(browser, result.path)
    print(f"\ndemo report: {result.bytes / 1e6:.1f} MB, {page.charts_drawn}/{page.charts_expected} charts; first "
          f"screen drawn {page.first_screen_ms:.0f} ms after navigation, every chart {page.done_ms:.0f} ms")
    assert page.state == "done", page
    assert page.charts_expected == result.charts == page.chart_divs == 100
    assert page.charts_drawn == page.charts_with_svg == page.charts_with_traces == page.chart_divs
    assert page.page_errors == [] and page.console_errors == [] and page.exceptions == [] and page.log_errors == []
    assert [url for url in page.requests if not local(url)] == []
    shot = screenshot(browser, ARTIFACTS / "report-demo.png", HEIGHT)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    # The overview sorts in the page: a click on "exposure rate" sorts ascending, a second descending.
    order = browser.evaluate("""(() => {
      const heads = Array.from(document.querySelectorAll('table.overview th'));
      const th = heads.find(h => h.textContent === 'exposure rate');
      const column = heads.indexOf(th);
      th.click(); th.click();
      return JSON.stringify(Array.from(document.querySelectorAll('table.overview tbody tr'))
        .map(r => Number(r.cells[column].getAttribute('data-sort'))));
    })()""")
    rates = json.loads(order)
    assert len(rates) == 20 and rates == sorted(rates, reverse=True)


def tampered(path: Path, out: Path, change) -> Path:
    out.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
    return out


def test_the_page_checks_catch_errors_missing_charts_and_requests(demo_run, browser, tmp_path):
    # The checks above would pass on a page that drew nothing if they could not see failures:
    # break a small report three ways and make sure each is seen.
    good = expguard.report(tmp_path / "small.html", output_dir=demo_run / "output", experiments=["exp_01", "exp_02"]).path

    def script_error(page: str) -> str:
        return page.replace("</body>", "<script>window.notAFunction();</script></body>")

    page = open_report(browser, tampered(good, tmp_path / "error.html", script_error))
    assert any("notAFunction" in e for e in page.page_errors) and page.exceptions

    def lose_a_chart(page: str) -> str:
        match = re.search(r'(<script type="application/json" id="expguard-charts">)(.*?)(</script>)', page, re.S)
        charts = json.loads(match.group(2))
        charts["charts"][3] = None
        return page[:match.start(2)] + json.dumps(charts) + page[match.end(2):]

    page = open_report(browser, tampered(good, tmp_path / "lost.html", lose_a_chart))
    assert page.state == "done" and page.charts_drawn == page.charts_expected - 1 == 9
    assert any("chart-3" in e for e in page.page_errors)

    def cdn_script(page: str) -> str:
        return page.replace("</head>", '<script src="https://cdn.example.com/plotly.min.js"></script></head>')

    page = open_report(browser, tampered(good, tmp_path / "cdn.html", cdn_script))
    assert "https://cdn.example.com/plotly.min.js" in page.requests
