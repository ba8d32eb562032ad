"""Drive headless Chromium over the DevTools protocol (``--remote-debugging-pipe``), stdlib only.

The report tests open a report in a real browser and check, in the page, that every chart was
drawn, that no JavaScript error reached the console, and that no request left the machine; and
they save a screenshot. The pipe carries JSON messages, each ended by a NUL byte: commands go to
the browser on fd 3, answers and events come back on fd 4.

Run as a script to make a screenshot of a report (how docs/images/report.png is made):

    python3 tests/report/browser.py report.html docs/images/report.png --width 1400 --height 1500
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Screenshots of the tests go here (gitignored), for a person to look at after a run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
    # Nothing may be fetched: every host name fails to resolve, so a CDN script could not load.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def find_chromium() -> str | None:
    """The Chromium binary: $EXPGUARD_CHROMIUM, else the usual names on PATH."""
    explicit = os.environ.get("EXPGUARD_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class BrowserError(RuntimeError):
    pass


@dataclass
class PageReport:
    """What a page showed in the browser."""

    state: str | None
    charts_expected: int
    charts_drawn: int
    chart_divs: int
    charts_with_svg: int
    charts_with_traces: int
    page_errors: list[str]
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    render_ms: float | None = None
    first_screen_ms: float | None = None  # from navigation start until the first screen's charts were drawn
    done_ms: float | None = None  # from navigation start to the last chart, in the page's real time
    wall_seconds: float = 0.0


# Evaluated in the page once it says it is done: the checks are made on the live DOM.
CHECK_SCRIPT = """(() => {
  const root = document.documentElement;
  const divs = Array.from(document.querySelectorAll('div[data-chart]'));
  return JSON.stringify({
    state: root.getAttribute('data-report-state'),
    expected: Number(root.getAttribute('data-charts-expected')),
    drawn: Number(root.getAttribute('data-charts-drawn')),
    divs: divs.length,
    withSvg: divs.filter(d => d.querySelector('svg.main-svg')).length,
    withTraces: divs.filter(d => d.querySelectorAll('g.trace').length > 0).length,
    errors: JSON.parse(root.getAttribute('data-js-errors') || '[]'),
    renderMs: Number(root.getAttribute('data-render-ms')),
    firstScreenMs: Number(root.getAttribute('data-first-screen-ms')),
    doneMs: window.__expguardDoneMs === undefined ? null : window.__expguardDoneMs,
  });
})()"""

# Installed before any script of the page runs: notes the real time at which the page is done.
DONE_WATCH = """new MutationObserver((_, observer) => {
  if (document.documentElement.getAttribute('data-report-state') === 'done') {
    window.__expguardDoneMs = performance.now(); observer.disconnect();
  }
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-report-state']});"""


def _as_fds_3_and_4(read_fd: int, write_fd: int):
    """In the child, before exec: make ``read_fd`` fd 3 and ``write_fd`` fd 4 (via copies above 9,
    so that neither is overwritten by the other's dup2)."""
    import fcntl

    def setup() -> None:
        high_read = fcntl.fcntl(read_fd, fcntl.F_DUPFD, 10)
        high_write = fcntl.fcntl(write_fd, fcntl.F_DUPFD, 10)
        os.dup2(high_read, 3)
        os.dup2(high_write, 4)

    return setup


class Chromium:
    """One headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, binary: str, width: int = 1400, height: int = 1000) -> None:
        self.profile = tempfile.mkdtemp(prefix="expguard-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser reads commands on fd 3 and writes answers on fd 4.
        self.process = subprocess.Popen(
            [binary, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=_as_fds_3_and_4(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._answers: dict[int, dict] = {}
        self._events: "queue.Queue[dict]" = queue.Queue()
        self._answered = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session: str | None = None
        self.width, self.height = width, height

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as stream:
            while True:
                chunk = stream.read(1 << 16)
                if not chunk:
                    break
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message:
                        with self._answered:
                            self._answers[message["id"]] = message
                            self._answered.notify_all()
                    else:
                        self._events.put(message)
        with self._answered:
            self._answered.notify_all()

    def send(self, method: str, params: dict | None = None, timeout: float = 60.0, session: bool = True) -> dict:
        self._next_id += 1
        number = self._next_id
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._answered:
            while number not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    raise BrowserError(f"no answer to {method} within {timeout:g} s")
                self._answered.wait(min(left, 0.5))
            answer = self._answers.pop(number)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def events(self) -> list[dict]:
        found = []
        while True:
            try:
                found.append(self._events.get_nowait())
            except queue.Empty:
                return found

    def open_page(self) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": DONE_WATCH})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.send("Browser.close", session=False, timeout=10)
                self.process.wait(timeout=10)
        except (BrowserError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            try:
                os.close(self._to_browser)
            except OSError:
                pass
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> "Chromium":
        self.open_page()
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


def _message(event: dict) -> str:
    params = event.get("params", {})
    if event["method"] == "Runtime.consoleAPICalled":
        return " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
    if event["method"] == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        return str(details.get("exception", {}).get("description") or details.get("text"))
    entry = params.get("entry", {})
    return f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()


def open_report(browser: Chromium, path: Path, timeout: float = 45.0) -> PageReport:
    """Load ``path`` and wait until it says it is done (or ``timeout``); return what it showed."""
    started = time.monotonic()
    browser.send("Page.navigate", {"url": path.resolve().as_uri()})
    state = None
    while time.monotonic() - started < timeout:
        state = browser.evaluate("document.documentElement && document.documentElement.getAttribute('data-report-state')")
        if state == "done":
            break
        time.sleep(0.1)
    wall = time.monotonic() - started
    checked = json.loads(browser.evaluate(CHECK_SCRIPT))
    report = PageReport(
        state=checked["state"], charts_expected=checked["expected"], charts_drawn=checked["drawn"],
        chart_divs=checked["divs"], charts_with_svg=checked["withSvg"], charts_with_traces=checked["withTraces"],
        page_errors=checked["errors"], render_ms=checked["renderMs"], first_screen_ms=checked["firstScreenMs"], done_ms=checked["doneMs"], wall_seconds=wall,
    )
    for event in browser.events():
        method = event.get("method")
        if method == "Runtime.consoleAPICalled" and event["params"].get("type") in ("error", "assert"):
            report.console_errors.append(_message(event))
        elif method == "Runtime.exceptionThrown":
            report.exceptions.append(_message(event))
        elif method == "Log.entryAdded" and event["params"]["entry"].get("level") == "error":
            report.log_errors.append(_message(event))
        elif method == "Network.requestWillBeSent":
            report.requests.append(event["params"]["request"]["url"])
    return report


def screenshot(browser: Chromium, out: Path, height: int | None = None) -> Path:
    """Save a PNG of the top ``height`` pixels of the page (the viewport when None)."""
    import base64

    params: dict[str, Any] = {"format": "png"}
    if height is not None:
        params["clip"] = {"x": 0, "y": 0, "width": browser.width, "height": height, "scale": 1}
        params["captureBeyondViewport"] = True
    data = browser.send("Page.captureScreenshot", params)["data"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(data))
    return out


def main() -> None:  # pragma: no cover - a tool for the docs
    import argparse

    parser = argparse.ArgumentParser(description="Screenshot an expguard report in headless Chromium.")
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1500)
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        raise SystemExit("chromium not found (apt-get install chromium, or set EXPGUARD_CHROMIUM)")
    with Chromium(binary, width=args.width, height=args.height) as browser:
        page = open_report(browser, args.report)
        screenshot(browser, args.png, args.height)
    print(f"{args.png}: {page.charts_drawn}/{page.charts_expected} charts; first screen drawn "
          f"{page.first_screen_ms:.0f} ms after navigation, every chart {page.done_ms:.0f} ms, errors: {page.page_errors + page.console_errors + page.exceptions}")


if __name__ == "__main__":
    main()
