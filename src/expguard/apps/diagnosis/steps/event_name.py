"""Step 1, the exposure event name: is the configured event still logged, or did a look-alike name
(a case or separator variant, a close spelling, an event carrying this experiment's id) take over,
for all events or one platform's share?"""

from __future__ import annotations

import datetime as dt
from statistics import median

from ....core.fmt import count, percent
from ....core.names import LOOKALIKE, similarity
from ....core.stats import Point
from ..checks import Context, result
from ..findings import ABNORMAL, MAX_SCORE, SKIPPED, CheckResult, Finding
from ..stats import focus_run, judge_counts, judge_rates, peak

NAME_SIMILARITY = LOOKALIKE    # similarity from which another event name looks like the configured one
RENAME_MIN_SHARE_RISE = 0.05   # a look-alike name's share of the exposure-like events must rise this much
RENAME_MIN_DROP = 0.2          # ... while the configured name's own count falls by this share
RENAME_RESIDUAL = 0.05         # the configured name "stopped" when it keeps at most this share of its volume
MAX_CANDIDATES = 10            # look-alike names examined, by volume
MIN_OTHER_EVENTS = 10          # events of other names carrying the experiment's id that show it is logged there
CARRIED_SHARE = 0.1            # ... while the configured name carries at most this share of them

# event name -> date -> (events, events carrying this experiment's id)
Series = dict[str, dict[dt.date, tuple[int, int]]]


def configured_name(ctx: Context) -> str:
    """The configured exposure event name; several names are one series, shown by the first
    (``a` + `b``)."""
    names = ctx.variables.exposure_event_names
    return names[0] if len(names) == 1 else f"{names[0]}` + `{'`, `'.join(names[1:])}"


def gather_names(ctx: Context, names: tuple[str, ...] = (), key: str = "") -> Series:
    """The stream's events per name and day, and those carrying the experiment's id; the events of
    the configured ``names`` summed under ``key``.

    >>> from types import SimpleNamespace
    >>> rows = [{"event_name": "a", "event_date": dt.date(2026, 1, 1), "events": 3, "experiment_events": 1},
    ...         {"event_name": "b", "event_date": dt.date(2026, 1, 1), "events": 2, "experiment_events": 2}]
    >>> gather_names(SimpleNamespace(obs=SimpleNamespace(event_names=rows)), ("a", "b"), "a` + `b")
    {'a` + `b': {datetime.date(2026, 1, 1): (5, 3)}}
    """
    per_name: Series = {}
    for row in ctx.obs.event_names or []:
        if row["event_name"] is not None and row["event_date"] is not None:
            name = key if row["event_name"] in names else row["event_name"]
            before = per_name.setdefault(name, {}).get(row["event_date"], (0, 0))
            per_name[name][row["event_date"]] = (before[0] + row["events"], before[1] + row["experiment_events"])
    return per_name


def candidates(per_name: Series, configured: str, names: tuple[str, ...] = ()) -> list[dict]:
    """The look-alike names: a similar name (to the closest of the configured ``names``), or events
    carrying the experiment's id; the ones carrying the most of the experiment's events first, at
    most MAX_CANDIDATES."""
    found = []
    for name, series in per_name.items():
        if name == configured:
            continue
        carried = sum(e for _, e in series.values())
        score = max(similarity(name, one) for one in (names or (configured,)))
        if carried or score >= NAME_SIMILARITY:
            reasons = (["similar_name"] if score >= NAME_SIMILARITY else []) + (["carries_experiment_id"] if carried else [])
            found.append({"event_name": name, "reasons": reasons, "similarity": score,
                          "scope": "experiment" if carried else "stream",
                          "events": sum(a for a, _ in series.values()), "experiment_events": carried})
    found.sort(key=lambda c: (-c["experiment_events"], -c["events"], c["event_name"]))
    return found[:MAX_CANDIDATES]


def judge_candidate(ctx: Context, candidate: dict, per_name: Series, days: list[dt.date]) -> Finding | str | None:
    """Whether ``candidate`` took over from the configured name: a finding (a full or partial
    rename), a note (an added event, not a rename) or None (its share did not rise)."""
    configured = configured_name(ctx)
    name, mine = candidate["event_name"], per_name.get(configured, {})
    index = 1 if candidate["scope"] == "experiment" else 0
    n = {d: mine.get(d, (0, 0))[index] for d in days}
    v = {d: per_name[name].get(d, (0, 0))[index] for d in days}
    points = [Point(d, v[d] / (n[d] + v[d]), n[d] + v[d]) for d in days if n[d] + v[d] > 0]
    run = focus_run(judge_rates(points, ctx.days, +1, RENAME_MIN_SHARE_RISE, ctx.variables), ctx.days)
    candidate["share_before"] = median([p.value for p in points if ctx.days.reference(p.date)] or [0.0])
    if not run:
        return None
    fell = judge_counts([(d, n[d]) for d in days], ctx.days, -1, RENAME_MIN_DROP, ctx.variables) or []
    run_days = [j.date for j in run]
    scope = "this experiment's" if index else "the stream's"
    if not {j.date for j in fell if j.flagged} & set(run_days):
        return (f"`{name}` grew to {percent(run[-1].value)} of {scope} exposure-like events from {run_days[0]}, "
                f"but `{configured}` did not fall: an added event, not a rename")
    reference = [d for d in days if ctx.days.reference(d)]
    return rename_finding(candidate, configured, run, n, v, median([n[d] for d in reference] or [0]),
                          median([v[d] for d in reference] or [0]), scope)


def rename_finding(candidate: dict, configured: str, run: list, n: dict, v: dict, n_before: float,
                   v_before: float, scope: str) -> Finding:
    """The rename, full (the configured name stopped) or partial, with its counts."""
    name = candidate["event_name"]
    run_days = [j.date for j in run]
    onset, last = run_days[0], run_days[-1]
    stopped = all(n[d] <= RENAME_RESIDUAL * n_before for d in run_days)
    facts = {"configured_name": configured, "new_name": name, "onset": onset, "scope": candidate["scope"],
             "configured_events_before": n_before, "new_events_before": v_before,
             "configured_events_on_onset": n[onset], "new_events_on_onset": v[onset],
             "configured_events_latest": n[last], "new_events_latest": v[last],
             "new_name_share": run[-1].value, "reasons": candidate["reasons"]}
    if stopped:
        summary = (f"`{configured}` stopped on {onset} and `{name}` began: {n[onset]:,} vs {v[onset]:,} of "
                   f"{scope} events that day (before: {count(n_before)} vs {count(v_before)} a day)")
    else:
        summary = (f"from {onset}, {percent(run[-1].value)} of {scope} exposure-like events are logged as `{name}`: "
                   f"on {last}, {v[last]:,} `{name}` and {n[last]:,} `{configured}` (before: {count(n_before)} "
                   f"`{configured}` a day)")
    evidence = [f"`{name}` looks like `{configured}`: " + ", ".join(
        {"similar_name": f"similar name ({candidate['similarity']:.2f})",
         "carries_experiment_id": "its events carry this experiment's id"}[r] for r in candidate["reasons"])]
    return Finding("event_renamed" if stopped else "event_renamed_partial", "event_name", summary,
                   run_days, onset, peak(run).strength, evidence, facts)


def check_event_name(ctx: Context) -> CheckResult:
    obs, configured, names = ctx.obs, configured_name(ctx), ctx.variables.exposure_event_names
    if obs.event_names is None:
        return CheckResult("event_name", SKIPPED, obs.events_note or "skipped", notes=[obs.events_note or ""])
    per_name = gather_names(ctx, names, configured)
    days = sorted({d for series in per_name.values() for d in series if ctx.days.scanned(d)})
    found = candidates(per_name, configured, names)
    findings: list[Finding] = []
    notes: list[str] = []
    for candidate in found:
        judged = judge_candidate(ctx, candidate, per_name, days)
        if isinstance(judged, str):
            notes.append(judged)
        elif judged is not None:
            findings.append(judged)
    findings.sort(key=lambda f: -f.strength)
    findings = [f for i, f in enumerate(findings) if f.cause not in {g.cause for g in findings[:i]}]
    daily = [{"date": d, "event_name": name, "events": per_name[name][d][0],
              "experiment_events": per_name[name][d][1]}
             for name in [configured] + [c["event_name"] for c in found] if name in per_name
             for d in days if d in per_name[name]]
    data = {"configured_name": configured, "candidates": found, "daily": daily}
    if configured not in per_name:
        return missing_name(configured, found, findings, notes, data)
    if not findings:
        findings = carried_elsewhere(configured, found, per_name, days)
    ok = (f"`{configured}` steady; " + (f"{len(found)} look-alike name{'s' if len(found) != 1 else ''} "
                                         "examined, none took over" if found else "no look-alike event name"))
    return result("event_name", findings, ok, notes, data)


def missing_name(configured: str, found: list[dict], findings: list[Finding], notes: list[str],
                 data: dict) -> CheckResult:
    """No event of the configured name in the stream at all: never ``ok``. The nearest look-alike
    names are named; a rename found over time stays the finding, else the name is wrong."""
    nearest = ", ".join(f"`{c['event_name']}`" for c in found[:3])
    text = (f"no event is named `{configured}` (exp_exposure_event_name) in the stream"
            + (f"; nearest names: {nearest}" if nearest else ""))
    if not findings:
        findings = [Finding("event_name_wrong", "event_name", text, [], None, MAX_SCORE,
                            [f"`{c['event_name']}`: {c['events']:,} events, {c['experiment_events']:,} with this "
                             "experiment's id" for c in found[:3]],
                            {"configured_name": configured, "candidates": [c["event_name"] for c in found]})]
    else:
        notes.append(text)
    return CheckResult("event_name", ABNORMAL, "; ".join(f.summary for f in findings), findings, notes, data)


def carried_elsewhere(configured: str, found: list[dict], per_name: Series, days: list[dt.date]) -> list[Finding]:
    """The configured name is in the stream (other experiments log it), but at most
    CARRIED_SHARE of the events carrying this experiment's id on the days examined bear it, while
    other names' events carry the rest (at least MIN_OTHER_EVENTS): this experiment's exposures
    are logged under another name from before the days examined (a name wrong from day one, or a
    rename older than the baseline, old clients perhaps still sending a trickle of the old name).
    No change over time shows it, so the rename rule cannot; never ``ok``."""
    if not days:
        return []
    mine = sum(per_name[configured].get(d, (0, 0))[1] for d in days)
    theirs = sorted(((sum(per_name[c["event_name"]].get(d, (0, 0))[1] for d in days), c["event_name"])
                     for c in found if c["scope"] == "experiment"), key=lambda t: (-t[0], t[1]))
    theirs = [(n, name) for n, name in theirs if n > 0]
    others = sum(n for n, _ in theirs)
    if others < MIN_OTHER_EVENTS or mine > CARRIED_SHARE * (mine + others):
        return []
    names = ", ".join(f"`{name}` ({n:,})" for n, name in theirs[:3])
    span = f"from {days[0]} to {days[-1]}"
    head = (f"no `{configured}` event carries this experiment's id {span}" if not mine else
            f"only {mine:,} of the {mine + others:,} events carrying this experiment's id {span} are named "
            f"`{configured}` ({percent(mine / (mine + others))})")
    text = (f"{head}, though other experiments log that name; the "
            + ("others" if mine else "events carrying its id") + f" are named {names}")
    return [Finding("event_name_wrong_for_experiment", "event_name", text, [], None, MAX_SCORE,
                    [f"`{name}`: {n:,} events with this experiment's id on the days examined" for n, name in theirs[:3]],
                    {"configured_name": configured, "configured_events": mine,
                     "candidates": [name for _, name in theirs]})]
