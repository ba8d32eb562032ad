"""The health verdicts as people read them at the end of a command: a compact table of the
experiments that fail or warn (each with its first failing check and the numbers), one line for
the stream, and the share of exposure events rejected with the top reasons.

``expguard run`` prints it after every run and ``expguard alerts`` after its alerts, both from
:func:`expguard.models.verdict.verdicts`, so they cannot disagree with the report or ``diagnose``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..core.fmt import percent
from ..models.verdict import FAIL, NOT_ENOUGH_DATA, PASS, WARN, Verdict

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

    from ..models.marts.fct_experiment_health import RejectedEvents

COLORS = {FAIL: "bold red", WARN: "yellow", PASS: "green", NOT_ENOUGH_DATA: "dim"}
#: Exit code of ``--fail-on`` when a verdict reaches the level (the alerts' code too); user errors exit 2.
VERDICT_EXIT_CODE = 3
#: Width of the verdict table when the output is not a terminal (a log file or a pipe).
LOG_WIDTH = 160


def counts(found: dict[str | None, Verdict]) -> dict[str, int]:
    """How many experiments (the stream left out) have each status."""
    result = {FAIL: 0, WARN: 0, PASS: 0, NOT_ENOUGH_DATA: 0}
    for key, verdict in found.items():
        if key is not None:
            result[verdict.status] += 1
    return result


def headline(found: dict[str | None, Verdict]) -> str:
    """One sentence: how many experiments fail, warn and pass, and the stream's verdict when it
    fails or warns (a stale stream of passing experiments never reads as "all pass" alone).

    >>> from expguard.models.verdict import Verdict
    >>> headline({"a": Verdict("a", "fail"), "b": Verdict("b", "pass")})
    'health: 1 of 2 experiments FAIL, 1 pass'
    >>> stale = Verdict(None, "fail", ({"check_name": "freshness", "status": "fail"},))
    >>> headline({"a": Verdict("a", "pass"), None: stale})
    'health: all 1 experiment pass; the event stream FAILs (freshness)'
    """
    stream = found.get(None)
    told = (f"; the event stream {'FAILs' if stream.status == FAIL else 'warns'} ({stream.reason['check_name']})"
            if stream is not None and stream.status in (FAIL, WARN) else "")
    return _experiments_headline(found) + told


def _experiments_headline(found: dict[str | None, Verdict]) -> str:
    n = counts(found)
    total = sum(n.values())
    if total == 0:
        return "health: no experiment found in the assignments or the exposure events"
    parts = []
    if n[FAIL]:
        parts.append(f"{n[FAIL]} of {total} experiment{'s' if total != 1 else ''} FAIL")
    if n[WARN]:
        parts.append(f"{n[WARN]} warn" if parts else f"{n[WARN]} of {total} experiment{'s' if total != 1 else ''} warn")
    if n[PASS]:
        parts.append(f"{n[PASS]} pass" if parts else f"all {total} experiment{'s' if total != 1 else ''} pass")
    if n[NOT_ENOUGH_DATA]:
        parts.append(f"{n[NOT_ENOUGH_DATA]} not enough data")
    return "health: " + ", ".join(parts)


def problems(found: dict[str | None, Verdict]) -> list[Verdict]:
    """The verdicts that fail or warn, failing first, the stream last."""
    bad = [v for v in found.values() if v.status in (FAIL, WARN)]
    return sorted(bad, key=lambda v: (v.experiment_id is None, v.status != FAIL, v.experiment_id or ""))


def table(found: dict[str | None, Verdict], limit: int = 20) -> "Table | None":
    """The experiments (and stream) that fail or warn, with their first failing check; None when
    there is none."""
    from rich.table import Table

    bad = problems(found)
    if not bad:
        return None
    result = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for header in ("experiment", "status", "check", "detail"):
        result.add_column(header, overflow="fold")
    for verdict in bad[:limit]:
        reason = verdict.reason
        others = len(verdict.problems) - 1
        detail = reason["detail"] + (f" (+{others} more check{'s' if others != 1 else ''})" if others > 0 else "")
        color = COLORS[verdict.status]
        result.add_row(verdict.experiment_id if verdict.experiment_id is not None else "(stream)",
                       f"[{color}]{verdict.status.upper()}[/{color}]", reason["check_name"], detail)
    if len(bad) > limit:
        result.add_row("...", "", "", f"{len(bad) - limit} more in fct_experiment_health")
    return result


def rejected_line(rejected: "RejectedEvents | None") -> str | None:
    """The share of exposure events rejected, with the top reasons; None when nothing was rejected.

    >>> from expguard.models.marts.fct_experiment_health import RejectedEvents
    >>> rejected_line(RejectedEvents(1000, 390, (("missing_variation_id", 390),)))
    'exposure events: 390 of 1,000 rejected (39.00%): missing_variation_id 390'
    """
    if rejected is None or rejected.rejected == 0:
        return None
    reasons = ", ".join(f"{reason} {count:,}" for reason, count in rejected.reasons[:3])
    return (f"exposure events: {rejected.rejected:,} of {rejected.events:,} rejected "
            f"({percent(rejected.share, 2)}): {reasons}")


def one_line(found: dict[str | None, Verdict], level: str) -> str:
    """The stderr line of ``--fail-on``: which experiments reached ``level``, each with its reason."""
    from ..models.verdict import FAIL, reaches

    hit = [v for v in problems(found) if reaches(v.status, level)]
    shown = "; ".join(f"{v.experiment_id if v.experiment_id is not None else '(stream)'} {v.status} "
                      f"({v.reason['check_name']})" for v in hit[:5])
    more = f"; +{len(hit) - 5} more" if len(hit) > 5 else ""
    what = "failing" if level == FAIL else "failing or warning"
    return f"{what} health verdicts: {shown}{more}"


def print_summary(console, found: dict[str | None, Verdict], rejected: "RejectedEvents | None" = None) -> None:
    """Print the headline, the table of problems and the rejected-events line."""
    from ..models.verdict import worst

    if console.quiet:  # prints nothing: the table is not built (nor rich imported)
        return
    color = COLORS[worst(v.status for v in found.values())]
    console.print(f"[{color}]{headline(found)}[/{color}]")
    shown = table(found)
    if shown is not None:
        if not console.is_terminal and console.width < LOG_WIDTH:
            # A log (CI, an orchestrator) is no 80-column terminal: folding the detail into a
            # 27-character column made one experiment a dozen lines. `alerts` prints at this width too.
            width, console.width = console.width, LOG_WIDTH
            console.print(shown)
            console.width = width
        else:
            console.print(shown)
    line = rejected_line(rejected)
    if line is not None:
        console.print(line)
