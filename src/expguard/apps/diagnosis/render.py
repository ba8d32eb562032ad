"""The result of a diagnosis, and its forms: for people (rich, short) and for scripts (JSON, complete,
stable keys)."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from ...core.fmt import duration, percent as pct
from ...models.verdict import FAIL, WARN, Verdict
from .findings import ABNORMAL, NOT_JUDGED, OK, SKIPPED, CheckResult

FORMAT_VERSION = 1
INSUFFICIENT_HISTORY = "insufficient_history"


@dataclass
class Diagnosis:
    """The result of a diagnosis: the day, the five checks and the ranked causes."""

    experiment_id: str
    date: dt.date
    date_reason: str
    episode_start: dt.date
    reference_start: dt.date
    event_days_end: dt.date
    headline: dict[str, Any]
    checks: list[CheckResult]
    causes: list[dict[str, Any]]
    source: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    earlier_alerts: list[dict[str, Any]] = field(default_factory=list)
    verdict: Verdict | None = None  # the experiment's health verdict (None when it was not read)
    stream_verdict: Verdict | None = None  # the event stream's own verdict (its stream-wide rows)

    @property
    def is_unhealthy(self) -> bool:
        """Whether the experiment's health verdict fails or warns."""
        return self.verdict is not None and self.verdict.status in (FAIL, WARN)

    @property
    def is_stream_unhealthy(self) -> bool:
        """Whether the event stream's own verdict (stale, unreadable experiment ids) fails or warns."""
        return self.stream_verdict is not None and self.stream_verdict.status in (FAIL, WARN)

    @property
    def status(self) -> str:
        """``abnormal`` when a cause was found, the experiment's or the event stream's health
        verdict fails or warns, or a check is abnormal; else ``insufficient_history`` when the
        cohorts before the episode are too few to judge against, else ``ok``: never ``ok`` while
        another command fails it."""
        if (self.causes or self.is_unhealthy or self.is_stream_unhealthy
                or any(c.status == ABNORMAL for c in self.checks)):
            return ABNORMAL
        if self.headline.get("reference_cohorts", 0) < self.settings.get("exp_alert_min_baseline_points", 0):
            return INSUFFICIENT_HISTORY
        return OK

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    def to_json(self) -> str:
        return to_json(self)

    def render(self):
        """The diagnosis as a rich renderable, for a terminal."""
        return render(self)


def _plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, non-finite floats as null, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def to_dict(diagnosis: "Diagnosis") -> dict[str, Any]:
    """The whole diagnosis as plain data (the JSON of ``--format json``; keys in docs/diagnose.md)."""
    d = diagnosis
    return _plain({
        "format_version": FORMAT_VERSION,
        "experiment_id": d.experiment_id,
        "date": d.date,
        "date_reason": d.date_reason,
        "status": d.status,
        "verdict": verdict_dict(d.verdict),
        "stream_verdict": verdict_dict(d.stream_verdict),
        "episode_start": d.episode_start,
        "reference": {"start": d.reference_start, "end": d.episode_start - dt.timedelta(days=1)},
        "event_days": {"start": d.episode_start, "end": d.event_days_end},
        "exposure_rate": d.headline,
        "causes": d.causes,
        "checks": [{
            "step": step,
            "name": c.name,
            "title": c.title,
            "status": c.status,
            "summary": c.summary,
            "findings": [{"cause": f.cause, "summary": f.summary, "onset": f.onset, "days": f.days, "score": f.score,
                          "is_symptom": f.symptom, "evidence": f.evidence, "facts": f.facts} for f in c.findings],
            "notes": c.notes,
            "data": c.data,
        } for step, c in enumerate(d.checks, start=1)],
        "notes": d.notes,
        "earlier_alerts": d.earlier_alerts,
        "source": d.source,
        "settings": d.settings,
    })


def verdict_dict(verdict: Verdict | None) -> dict[str, Any] | None:
    """The health verdict as plain data: ``status``, ``reason`` (the check that gives it),
    ``problems`` (the checks that fail or warn) and ``checks`` (every check's row)."""
    if verdict is None:
        return None
    columns = ("check_name", "status", "value", "warn_threshold", "fail_threshold", "units", "detail")
    return {"status": verdict.status, "reason": verdict.reason["check_name"] if verdict.reason else None,
            "problems": [{k: row.get(k) for k in columns} for row in verdict.problems],
            "checks": [{k: row.get(k) for k in columns} for row in verdict.checks]}


def to_json(diagnosis: "Diagnosis") -> str:
    return json.dumps(to_dict(diagnosis), indent=2, sort_keys=False)


def render(diagnosis: "Diagnosis"):
    """A short report: the day and its exposure rate, the ranked causes, one line per check."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    d, h = diagnosis, diagnosis.headline
    parts: list[Any] = []
    title = Text.assemble(("expguard diagnose ", "bold"), (d.experiment_id, "bold cyan"), "  cohort ",
                          (d.date.isoformat(), "bold"))
    parts.append(title)
    parts.append(Text(f"  {d.date_reason}", style="dim"))
    horizon = h["horizon_days"]
    rate = Text(f"  valid exposure rate within {horizon} day{'s' if horizon != 1 else ''}: {pct(h['observed'])}")
    if h.get("baseline") is not None:
        rate.append(f" (baseline {pct(h['baseline'])}, the median of {h['reference_cohorts']} cohorts before "
                    f"{d.episode_start})")
    if h.get("is_drop"):
        rate.append("  DROP", style="bold red")
    elif not h.get("is_comparable") and d.status != "insufficient_history":
        rate.append("  (not comparable yet: horizon not elapsed or cohort too small)", style="dim")
    parts.append(rate)
    parts += verdict_lines(d)
    parts.append(Text())
    if d.causes:
        parts.append(Text("Most likely causes", style="bold"))
        for cause in d.causes:
            head = Text(f" {cause['rank']}. ", style="bold")
            head.append(cause["title"], style="bold red" if cause["rank"] == 1 else "bold yellow")
            head.append(f"  (score {cause['score']:g}" + (f", from {cause['onset']}" if cause["onset"] else "") + ")",
                        style="dim")
            parts.append(head)
            parts.append(Padding(Text(cause["summary"]), (0, 0, 0, 4)))
            for line in cause["evidence"][:3]:
                parts.append(Padding(Text(f"- {line}", style="dim"), (0, 0, 0, 4)))
            for step in cause["next_steps"][:2]:
                parts.append(Padding(Text(f"next: {step}", style="green"), (0, 0, 0, 4)))
    elif d.status == "insufficient_history":
        parts.append(Text(f"Too little history to judge: {h['reference_cohorts']} comparable cohorts before "
                          f"{d.episode_start}, {d.settings['exp_alert_min_baseline_points']} needed.", style="bold yellow"))
    elif d.is_unhealthy:
        parts.append(Text(f"No runbook step found a cause, but the experiment's health verdict is "
                          f"{d.verdict.status.upper()}: see its failing checks above.", style="bold red"))
    elif d.status == ABNORMAL:
        parts.append(Text("No cause found: the abnormal checks below are most likely noise (see the notes).",
                          style="bold yellow"))
    else:
        parts.append(Text("Nothing abnormal found: every check is within the experiment's baseline.", style="bold green"))
    for note in d.notes:
        parts.append(Padding(Text(f"note: {note}", style="dim"), (0, 0, 0, 2)))
    parts.append(Text())
    table = Table(title="Runbook checks", title_justify="left", title_style="bold", show_edge=False, box=None,
                  pad_edge=False, padding=(0, 1))
    table.add_column("#", justify="right", style="dim")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("found", overflow="fold")
    styles = {ABNORMAL: "bold red", SKIPPED: "yellow", NOT_JUDGED: "yellow"}
    for step, check in enumerate(d.checks, start=1):
        summary = _escape(check.summary)
        if check.notes and check.status != SKIPPED:
            summary += "\n" + "\n".join(f"[dim]{_escape(n)}[/dim]" for n in check.notes[:3])
        table.add_row(str(step), check.title, f"[{styles.get(check.status, 'green')}]{check.status}[/]", summary)
    parts.append(table)
    return Group(*parts)


def verdict_lines(d: "Diagnosis", limit: int = 3) -> list[Any]:
    """The experiment's health verdict (``expguard run``'s, the report's): its status and the
    checks that fail or warn, each with its detail."""
    from rich.padding import Padding
    from rich.text import Text

    if d.verdict is None:
        return []
    color = {FAIL: "bold red", WARN: "bold yellow"}.get(d.verdict.status, "green")
    line = Text("  health verdict: ")
    line.append(d.verdict.label.upper() if d.is_unhealthy else d.verdict.label, style=color)
    problems = d.verdict.problems
    if problems:
        line.append(f" ({len(problems)} check{'s' if len(problems) != 1 else ''} failing or warning)", style="dim")
    lines: list[Any] = [line]
    for row in problems[:limit]:
        lines.append(Padding(Text(f"{row['status']} {row['check_name']}: {row['detail']}"), (0, 0, 0, 4)))
    if len(problems) > limit:
        lines.append(Padding(Text(f"+{len(problems) - limit} more in fct_experiment_health", style="dim"), (0, 0, 0, 4)))
    if d.is_stream_unhealthy:
        stream = d.stream_verdict
        line = Text("  the event stream: ")
        line.append(stream.status.upper(), style={FAIL: "bold red", WARN: "bold yellow"}[stream.status])
        line.append(" (its stream-wide checks, as in expguard run's headline)", style="dim")
        lines.append(line)
        for row in stream.problems[:limit]:
            lines.append(Padding(Text(f"{row['status']} {row['check_name']}: {row['detail']}"), (0, 0, 0, 4)))
    return lines


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


__all__ = ["to_dict", "to_json", "render", "duration"]
