"""The ranking: the findings of the five checks, merged per cause and ranked.

A cause is ranked by its score (:attr:`~.findings.Finding.score`): its effect (how many allowed
changes its strongest day moved beyond the experiment's baseline, or how far its corrected p-value
is below the threshold, capped at :data:`~.findings.MAX_SCORE`) weighed by the number of days that
support it, so that one borderline day never ranks with a cause seen for days or with a large
effect. Equal scores go to the more specific cause (the order of :data:`~.findings.CAUSES`). A
status spike without a cause of its own (no_exposure) is a symptom: it is named, as
``exposure_events_missing``, only when nothing else explains the drop.
"""

from __future__ import annotations

from typing import Sequence

from ...core.fmt import days_text, percent
from .findings import CAUSES, PRIORITY, CheckResult, Finding


def rank(checks: Sequence[CheckResult], headline: dict, skipped: Sequence[str], critical_multiple: float,
         notes: list[str]) -> list[dict]:
    """The causes, most likely first, as JSON-ready dicts.

    When no check names a cause, a drop (or a no_exposure spike) is named
    ``exposure_events_missing`` only if it is critical (beyond ``critical_multiple`` allowed
    changes, as the alerts' severity); a borderline one is left as a note in ``notes``: with
    nothing else abnormal, it is most likely noise.
    """
    merged: dict[str, Finding] = {}
    symptoms: list[Finding] = []
    for check in checks:
        for finding in check.findings:
            if finding.symptom:
                symptoms.append(finding)
                continue
            known = merged.get(finding.cause)
            if known is None:
                merged[finding.cause] = Finding(finding.cause, finding.check, finding.summary, list(finding.days),
                                                finding.onset, finding.strength, list(finding.evidence),
                                                dict(finding.facts))
            else:  # the same cause seen by two checks: one cause, both pieces of evidence
                known.evidence.append(finding.summary)
                known.evidence += finding.evidence
                known.days = sorted(set(known.days) | set(finding.days))
                known.onset = min(d for d in (known.onset, finding.onset) if d is not None) if known.onset or finding.onset else None
                known.strength = max(known.strength, finding.strength)
                known.facts.update({k: v for k, v in finding.facts.items() if k not in known.facts})
    causes = list(merged.values())
    drop = (headline.get("strength") or 0.0) if headline.get("is_drop") else 0.0
    moved = max([s.strength for s in symptoms] + [drop])
    if not causes and 0 < moved <= critical_multiple:
        notes.append(f"a borderline {'drop' if headline.get('is_drop') else 'rise of no_exposure'} "
                     f"({moved:.2f} allowed changes, not beyond {critical_multiple:g}) and no check found a cause: "
                     "most likely noise")
    elif not causes and (symptoms or headline.get("is_drop")):
        evidence = [s.summary for s in symptoms]
        if headline.get("is_drop"):
            evidence.insert(0, f"valid exposure rate within the horizon {percent(headline['observed'])} "
                               f"(baseline {percent(headline['baseline'])})")
        if skipped:
            evidence.append("not checked: " + ", ".join(skipped))
        days = sorted({d for s in symptoms for d in s.days})
        causes.append(Finding("exposure_events_missing", "status_spikes",
                              "fewer units exposed than usual, and no check found why", days,
                              days[0] if days else None, max([s.strength for s in symptoms] or [1.0]), evidence, {}))
    causes.sort(key=lambda f: (-f.score, PRIORITY.index(f.cause), f.onset or headline.get("date")))
    ranked = []
    for position, finding in enumerate(causes, start=1):
        cause = CAUSES[finding.cause]
        ranked.append({
            "rank": position,
            "cause": finding.cause,
            "title": cause.title,
            "check": finding.check,
            "score": finding.score,
            "summary": finding.summary,
            "onset": finding.onset,
            "days": finding.days,
            "days_text": days_text(finding.days),
            "evidence": finding.evidence,
            "facts": finding.facts,
            "next_steps": _next_steps(finding.cause, skipped),
        })
    return ranked


def _next_steps(cause: str, skipped: Sequence[str]) -> list[str]:
    steps = list(CAUSES[cause].next_steps)
    if cause == "exposure_events_missing" and skipped:
        # The checks that usually explain it did not run: running them comes first.
        steps[0] = (f"Run the skipped checks ({', '.join(skipped)}) with --events: a renamed exposure event or a "
                    "missing partition is the usual cause")
    return steps
