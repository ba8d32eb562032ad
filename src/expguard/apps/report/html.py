"""Draw the report: the charts as compact plotly figures, the page around them, one HTML file.

The page is ``templates/report.html`` with its placeholders filled in one pass: the styles
(``report.css``), plotly.js (from the ``plotly`` package, inlined once for every chart), the
page body (tables and captions, plain HTML that reads without JavaScript), the charts' data as
one JSON block, and ``report.js``, which draws every chart and records in the page what it drew
(``data-charts-drawn``) and any JavaScript error (``data-js-errors``), for the browser test.

A chart is a dict ``{"data": [...], "layout": {...}}`` with only what differs between charts;
``report.js`` adds the shared layout. Rates are rounded to 4 decimals, dates are ISO text.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import textwrap
from dataclasses import dataclass
from importlib import resources
from typing import Any, Sequence

from ...core.constants import SRM_STAGES
from ...core.fmt import format_p_value
from . import captions
from .captions import MIN_SIZE, STATUS_LABELS, pct
from .data import RunData
from ...models.verdict import verdicts
from .summary import STATUSES, ExperimentData, overview_row, ratio, split_experiments

DEFAULT_TITLE = "expguard exposure report"
VARIATION_COLORS = ("#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#9D755D", "#FF9DA6", "#BAB0AC")
STATUS_COLORS = {
    "valid_exposed_units": "#54A24B",
    "no_exposure_units": "#BAB0AC",
    "multi_variation_exposure_units": "#B279A2",
    "variation_mismatch_units": "#E45756",
    "pre_assignment_exposure_units": "#F58518",
    "exposure_outside_window_units": "#EECA3B",
}
SEVERITY_COLORS = {"critical": "#D62728", "warning": "#E8A200"}
INCOMPLETE_OPACITY = 0.45


@dataclass(frozen=True)
class Page:
    """The rendered page and what it holds."""

    html: str
    experiments: int
    charts: int


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _dates(rows: Sequence[dict], key: str = "date") -> list[str]:
    return [row[key].isoformat() for row in rows]


def _symbols(rows: Sequence[dict]) -> list[str]:
    """Filled markers for cohorts whose window is complete, hollow for the others."""
    return ["circle" if row["is_window_complete"] else "circle-open" for row in rows]


def _wrap(text: str, width: int = 70) -> str:
    return "<br>".join(textwrap.wrap(html.escape(text), width)) if text else ""


def _alert_traces(alerts: Sequence[dict], types: Sequence[str], y_at: dict[dt.date, float | None]) -> list[dict]:
    """One marker trace per severity, placed on the chart's line at the alert's date."""
    traces = []
    for severity in ("critical", "warning"):
        chosen = [a for a in alerts if a["alert_type"] in types and a["severity"] == severity]
        if not chosen:
            continue
        traces.append({
            "type": "scatter", "mode": "markers", "name": f"{severity} alert",
            "x": [a["date"].isoformat() for a in chosen],
            "y": [_r(y_at.get(a["date"])) or 0 for a in chosen],
            "marker": {"symbol": "diamond", "size": 12, "color": SEVERITY_COLORS[severity],
                       "line": {"color": "#fff", "width": 1}},
            "text": [f"<b>{html.escape(a['alert_type'])}</b> ({severity})<br>{_wrap(a['message'])}" for a in chosen],
            "hovertemplate": "%{text}<extra></extra>",
        })
    return traces


def exposure_rate_chart(e: ExperimentData) -> dict:
    """Exposure rate per cohort: all units (solid while the window is complete, dashed after),
    each variation (thin), and the exposure-rate and SRM alerts as diamonds."""
    rows = e.cohorts
    complete = [r for r in rows if r["is_window_complete"]]
    open_ = [r for r in rows if not r["is_window_complete"]]
    bridge = complete[-1:] + open_ if open_ else []
    data: list[dict] = []
    hover = "%{x}: %{y:.1%} of %{customdata:,} assigned<extra>%{fullData.name}</extra>"
    sizes = sorted(r["assigned_units"] for r in e.by_variation if r["assigned_units"] > 0)
    # Variation lines of small cohorts are mostly noise: listed in the legend, drawn on a click.
    shown = True if sizes and sizes[len(sizes) // 2] >= MIN_SIZE else "legendonly"
    for i, variation in enumerate(e.variations()):
        vrows = [r for r in e.by_variation if r["assigned_variation_id"] == variation and r["assigned_units"] > 0]
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": variation, "visible": shown, "legendrank": 1100 + i,
            "x": _dates(vrows), "y": [_r(r["exposure_rate"]) for r in vrows],
            "customdata": [r["assigned_units"] for r in vrows],
            "line": {"color": VARIATION_COLORS[i % len(VARIATION_COLORS)], "width": 1.2},
            "marker": {"size": 4, "symbol": _symbols(vrows)}, "opacity": 0.85, "hovertemplate": hover,
        })
    # All units last, so that its line is drawn over the variations'; first in the legend.
    for rank, (part, name, dash) in enumerate(((complete, "all units", "solid"),
                                               (bridge, "all units, window still open", "dash"))):
        if part:
            data.append({
                "type": "scatter", "mode": "lines+markers", "name": name, "legendrank": 1000 + rank,
                "x": _dates(part), "y": [_r(r["exposure_rate"]) for r in part],
                "customdata": [r["assigned_units"] for r in part],
                "line": {"color": "#222", "width": 2.5, "dash": dash},
                "marker": {"size": 5, "symbol": _symbols(part), "color": "#222"}, "hovertemplate": hover,
            })
    data += _alert_traces(e.alerts, ("exposure_rate_drop", "srm"), {r["date"]: r["exposure_rate"] for r in rows})
    return {"data": data, "layout": {"yaxis": {"tickformat": ".0%", "range": [0, 1.04], "title": {"text": "valid exposed / assigned"}}}}


def status_chart(e: ExperimentData) -> dict:
    """Units of each cohort by exposure status, stacked; paler bars for open windows."""
    rows = e.cohorts
    opacity = [1 if r["is_window_complete"] else INCOMPLETE_OPACITY for r in rows]
    data = []
    for status, color in STATUS_COLORS.items():
        if not any(r[status] for r in rows):
            continue
        data.append({
            "type": "bar", "name": STATUS_LABELS[status], "x": _dates(rows), "y": [r[status] for r in rows],
            "customdata": [_r(ratio(r[status], r["assigned_units"])) for r in rows],
            "marker": {"color": color, "opacity": opacity},
            "hovertemplate": "%{x}: %{y:,} units (%{customdata:.1%})<extra>%{fullData.name}</extra>",
        })
    return {"data": data, "layout": {"barmode": "stack", "bargap": 0.1, "yaxis": {"title": {"text": "assigned units"}}}}


def rates_chart(e: ExperimentData) -> dict:
    """Mismatch and multi-variation rates per cohort, with their alerts."""
    rows = [r for r in e.cohorts if r["exposed_units"] > 0]
    data = []
    for column, name, color in (("mismatch_rate", "mismatch rate", "#E45756"),
                                ("multi_variation_rate", "multi-variation rate", "#B279A2")):
        data.append({
            "type": "scatter", "mode": "lines+markers", "name": name, "x": _dates(rows),
            "y": [_r(r[column]) for r in rows], "customdata": [r["exposed_units"] for r in rows],
            "line": {"color": color, "width": 1.8}, "marker": {"size": 5, "symbol": _symbols(rows), "color": color},
            "hovertemplate": "%{x}: %{y:.2%} of %{customdata:,} exposed<extra>%{fullData.name}</extra>",
        })
    data += _alert_traces(e.alerts, ("mismatch_rate_rise",), {r["date"]: r["mismatch_rate"] for r in rows})
    data += _alert_traces(e.alerts, ("multi_variation_rate_rise",), {r["date"]: r["multi_variation_rate"] for r in rows})
    return {"data": data, "layout": {"yaxis": {"tickformat": ".1%", "rangemode": "tozero", "title": {"text": "share of exposed units"}}}}


def funnel_chart(e: ExperimentData) -> dict:
    """Assigned -> exposed -> valid exposed, per variation: bars of the share of the variation's
    assigned units (so that unequal splits compare), labelled with the unit counts."""
    data = []
    for i, (variation, t) in enumerate(e.variation_totals().items()):
        counts = [t["assigned_units"], t["exposed_units"], t["valid_exposed_units"]]
        data.append({
            "type": "bar", "name": variation, "x": ["assigned", "exposed", "valid exposed"],
            "y": [_r(ratio(c, t["assigned_units"])) for c in counts], "customdata": counts,
            "text": [f"{c:,}" for c in counts], "textposition": "auto",
            "marker": {"color": VARIATION_COLORS[i % len(VARIATION_COLORS)]},
            "hovertemplate": "%{x}: %{customdata:,} units (%{y:.1%} of assigned)<extra>%{fullData.name}</extra>",
        })
    return {"data": data, "layout": {"barmode": "group", "xaxis": {"type": "category"}, "yaxis": {"tickformat": ".0%", "range": [0, 1.04],
                                                                  "title": {"text": "share of assigned units"}}}}


def events_chart(e: ExperimentData) -> dict:
    """Per UTC day: every exposure event, the deduped exposures first seen that day, the rejected
    events, and the units exposed without an assignment; with the day alerts."""
    days = e.events
    x = _dates(days, "exposure_date")
    series = (("raw_events", "exposure events (raw)", "#4C78A8", "solid"),
              ("deduped_exposures", "deduped exposures (first of unit x variation)", "#54A24B", "solid"),
              ("rejected_events", "rejected events (malformed)", "#E45756", "solid"),
              ("unassigned_exposed_units", "units exposed without assignment", "#9D755D", "dot"))
    data = [{
        "type": "scatter", "mode": "lines", "name": name, "x": x, "y": [d[key] for d in days],
        "line": {"color": color, "width": 1.8, "dash": dash},
        "hovertemplate": "%{x}: %{y:,}<extra>%{fullData.name}</extra>",
    } for key, name, color, dash in series]
    data += _alert_traces(e.alerts, ("duplicate_exposure_spike", "rejected_exposure_spike", "unassigned_exposure_spike"),
                          {d["exposure_date"]: d["raw_events"] for d in days})
    return {"data": data, "layout": {"yaxis": {"rangemode": "tozero", "title": {"text": "per day"}}}}


CHARTS = (
    ("rate", "Exposure rate by assignment cohort", exposure_rate_chart, captions.exposure_rate_caption),
    ("status", "Exposure status of each cohort's units", status_chart, captions.status_caption),
    ("rates", "Mismatch and multi-variation rates by cohort", rates_chart, captions.rates_caption),
    ("funnel", "Funnel per variation: assigned, exposed, valid", funnel_chart, captions.funnel_caption),
    ("events", "Exposure events per day: raw, deduped, rejected", events_chart, captions.events_caption),
)


# -- HTML -------------------------------------------------------------------------------------

def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _cell(text: str, sort: Any = None, cls: str = "") -> str:
    attrs = (f' data-sort="{_e(sort)}"' if sort is not None else "") + (f' class="{cls}"' if cls else "")
    return f"<td{attrs}>{text}</td>"


#: The words on a badge: a verdict's status, or an alert's severity.
BADGE_LABELS = {"fail": "fail", "warn": "warn", "pass": "pass", "not_enough_data": "not enough data",
                "critical": "critical", "warning": "warning"}


def _badge(status: str) -> str:
    return f'<span class="badge {status}">{_e(BADGE_LABELS.get(status, status))}</span>'


def _reason_cell(row: dict) -> str:
    reason = row["reason"]
    if reason is None:
        return _cell("-", "")
    # The sentence's first clause here; the whole of it in the tooltip and the experiment's table.
    short = reason["detail"].split("; ")[0]
    return _cell(f'<span title="{_e(reason["detail"])}">{_e(reason["check_name"])}'
                 f'<span class="sub">{_e(short)}</span></span>', reason["check_name"], "reason")


def overview_table(experiments: Sequence[ExperimentData], anchors: dict[str, str]) -> str:
    heads = (("experiment", "text"), ("status", "number"), ("reason", "text"), ("alerts", "number"),
             ("assigned units", "number"),
             ("valid exposed units", "number"), ("exposure rate", "number"), ("mismatch rate", "number"),
             ("multi-variation rate", "number"), ("SRM", "text"), ("SRM p-value", "number"))
    head = "".join(f'<th data-type="{kind}" title="sort">{_e(name)}</th>' for name, kind in heads)
    body = []
    for e in experiments:
        row = overview_row(e)
        srm = row["srm"]
        alerts = ", ".join(f"{n} {s}" for n, s in ((row["critical_alerts"], "critical"), (row["warning_alerts"], "warning")) if n)
        if row["last_alert_date"] is not None:
            alerts += f'<span class="sub">last {row["last_alert_date"].isoformat()}</span>'
        cells = [
            _cell(f'<a href="#{anchors[e.experiment_id]}">{_e(e.experiment_id)}</a>', e.experiment_id),
            _cell(_badge(row["status"]), STATUSES.index(row["status"])),
            _reason_cell(row),
            _cell(alerts or "none", row["critical_alerts"] * 10000 + row["warning_alerts"]),
            _cell(_num(row["assigned_units"]), row["assigned_units"], "num"),
            _cell(_num(row["valid_exposed_units"]), row["valid_exposed_units"], "num"),
            _cell(pct(row["exposure_rate"]), _sortable(row["exposure_rate"]), "num"),
            _cell(pct(row["mismatch_rate"]), _sortable(row["mismatch_rate"]), "num"),
            _cell(pct(row["multi_variation_rate"]), _sortable(row["multi_variation_rate"]), "num"),
            _cell(_e(srm.label), srm.label, "srm-bad" if srm.verdict == "srm" else ""),
            _cell("-" if srm.p_value is None else format_p_value(srm.p_value), _sortable(srm.p_value), "num"),
        ]
        body.append(f'<tr class="{row["status"]}">{"".join(cells)}</tr>')
    return f'<table class="overview sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _sortable(value: float | None) -> str:
    return "" if value is None else repr(value)


def srm_table(e: ExperimentData) -> str:
    """The SRM rows of one experiment, a block per stage in funnel order."""
    if not e.srm:
        return '<p class="empty">No SRM rows for this experiment.</p>'
    head = "".join(f"<th>{h}</th>" for h in ("stage", "variation", "units", "expected share", "observed share",
                                               "chi-square", "p-value", "verdict"))
    body = []
    for stage in SRM_STAGES:
        rows = [r for r in e.srm if r["stage"] == stage]
        for i, r in enumerate(rows):
            lead = ""
            if i == 0:
                p = "-" if r["p_value"] is None else format_p_value(r["p_value"])
                chi = "-" if r["chi_square"] is None else f'{r["chi_square"]:.2f}<span class="sub">{r["degrees_of_freedom"]} df</span>'
                verdict = r["srm_status"].replace("_", " ")
                span = f' rowspan="{len(rows)}"'
                lead = (f'<td{span}>{_e(stage.replace("_", " "))}</td>', f'<td{span} class="num">{chi}</td>',
                        f'<td{span} class="num">{p}</td>',
                        f'<td{span} class="{"srm-bad" if r["is_srm"] else ""}">{_e(verdict)}</td>')
            cells = [
                lead[0] if lead else "",
                f'<td>{_e(r["variation_id"])}</td>', f'<td class="num">{_num(r["units"])}</td>',
                f'<td class="num" title="{r["expected_units"]:,.0f} units expected">{pct(r["expected_share"])}</td>',
                f'<td class="num">{pct(r["observed_share"])}</td>',
                *(lead[1:] if lead else ()),
            ]
            body.append(f'<tr class="{"srm-row" if r["is_srm"] else ""}">{"".join(cells)}</tr>')
    return f'<div class="scroll"><table class="srm"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


MAX_ALERT_ROWS = 40


def alerts_table(e: ExperimentData) -> str:
    if not e.alerts:
        return ""
    latest = list(reversed(e.alerts))[:MAX_ALERT_ROWS]
    rows = "".join(
        f'<tr><td>{a["date"].isoformat()}</td><td>{_e(a["alert_type"])}</td><td>{_badge(a["severity"])}</td>'
        f'<td>{_e(a["message"])}</td></tr>' for a in latest)
    more = f'<p class="sub">and {len(e.alerts) - MAX_ALERT_ROWS:,} earlier alerts (expguard alerts --experiment {_e(e.experiment_id)} lists them all)</p>' \
        if len(e.alerts) > MAX_ALERT_ROWS else ""
    return (f'<details class="alerts"><summary>{len(e.alerts):,} alert{"s" if len(e.alerts) != 1 else ""}, latest first</summary>'
            f'<table><thead><tr><th>date</th><th>alert</th><th>severity</th><th>message</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>{more}</details>')


def _value(row: dict) -> str:
    value = row["value"]
    if value is None:
        return "-"
    if row["check_name"] == "sample_ratio":
        return f"p = {format_p_value(value)}"
    if row["check_name"] == "freshness":
        return f"{value:,.1f} h"
    if row["check_name"] in ("exposure_events_present", "assignments_present", "open_alerts"):
        return _num(int(value))
    return pct(value)


def health_table(e: ExperimentData) -> str:
    """Every health check of one experiment: its status, value and the sentence with the numbers."""
    if not e.health:
        return '<p class="empty">No health checks for this experiment.</p>'
    rows = "".join(
        f'<tr class="{r["status"]}"><td>{_e(r["check_name"])}</td><td>{_badge(r["status"])}</td>'
        f'<td class="num">{_value(r)}</td><td>{_e(r["detail"])}</td></tr>'
        for r in e.verdict.checks)
    return (f'<div class="scroll"><table class="health"><thead><tr><th>check</th><th>status</th><th>value</th>'
            f'<th>detail</th></tr></thead><tbody>{rows}</tbody></table></div>')


def experiment_section(e: ExperimentData, anchor: str, charts: list[dict]) -> str:
    """One experiment: key figures, five charts with captions, the SRM table, the alerts."""
    row = overview_row(e)
    facts = (f'{_num(row["assigned_units"])} assigned &middot; {_num(row["valid_exposed_units"])} validly exposed '
             f'({pct(row["exposure_rate"])}) &middot; mismatch {pct(row["mismatch_rate"])} &middot; '
             f'multi-variation {pct(row["multi_variation_rate"])} &middot; SRM: {_e(row["srm"].label)}')
    verdict = e.verdict
    figures = [f'<figure class="card wide"><h3>Health checks</h3>{health_table(e)}'
               f'<figcaption>{_e(e.experiment_id)} {_e(captions.verdict_phrase(verdict))}'
               f'{" (" + _e(verdict.reason["check_name"]) + "): " + _e(verdict.reason["detail"]) if verdict.reason else "."}'
               f'</figcaption></figure>']
    for key, heading, draw, caption in CHARTS:
        index = len(charts)
        figure = draw(e)
        if key != "funnel":  # dates on x; said outright, as plotly's guess from text can go wrong
            figure["layout"].setdefault("xaxis", {})["type"] = "date"
        charts.append(figure)
        figures.append(f'<figure class="card"><h3>{_e(heading)}</h3>'
                       f'<div class="chart" id="chart-{index}" data-chart="{index}" data-kind="{key}"></div>'
                       f'<figcaption>{_e(caption(e))}</figcaption></figure>')
    figures.append(f'<figure class="card"><h3>Sample-ratio mismatch by funnel stage</h3>{srm_table(e)}'
                   f'<figcaption>{_e(captions.srm_caption(e))}</figcaption></figure>')
    return (f'<section class="experiment" id="{anchor}"><h2>{_e(e.experiment_id)} {_badge(row["status"])}</h2>'
            f'<p class="facts">{facts}</p><div class="grid">{"".join(figures)}</div>{alerts_table(e)}'
            f'<p class="top"><a href="#overview">back to the overview</a></p></section>')


def _order(experiments: list[ExperimentData]) -> list[ExperimentData]:
    """Worst status first, then by experiment id: what needs attention comes first."""
    return sorted(experiments, key=lambda e: (-STATUSES.index(overview_row(e)["status"]), e.experiment_id))


def _json_for_script(value: Any) -> str:
    # Inside <script>, "</" would end the element early and "<!--" change its parsing.
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def _template(name: str) -> str:
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (inlined once per report)."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as error:  # pragma: no cover - plotly is a dependency
        from ...core.errors import ConfigError

        raise ConfigError("expguard report needs the plotly package: pip install 'plotly>=5.20,<7'") from error
    return get_plotlyjs()


def render(run: RunData, title: str | None = None) -> Page:
    """The whole page for ``run``."""
    from ...core.version import __version__

    title = title or DEFAULT_TITLE
    experiments = _order(split_experiments(run))
    anchors = {e.experiment_id: f"exp-{i}" for i, e in enumerate(sorted(experiments, key=lambda e: e.experiment_id))}
    charts: list[dict] = []
    sections = "".join(experiment_section(e, anchors[e.experiment_id], charts) for e in experiments)
    unattributed = sum(r["exposure_events"] for r in run.rejections if r["experiment_id"] is None)
    unattributed_alerts = sum(1 for a in run.alerts if a["experiment_id"] is None)
    stream = verdicts(run.health).get(None)
    dates = [r["date"] for e in experiments for r in e.cohorts]
    span = f"cohorts {min(dates).isoformat()} to {max(dates).isoformat()}" if dates else "no cohorts"
    body = (
        f'<header><h1>{_e(title)}</h1><p class="meta">{_e(run.source)} &middot; '
        f'{len(experiments)} experiment{"s" if len(experiments) != 1 else ""} &middot; {span} &middot; '
        f'expguard {_e(__version__)}</p></header>'
        f'<main><section id="overview"><h2>Overview</h2>'
        f'<p class="caption">{_e(captions.overview_caption(experiments, unattributed, unattributed_alerts, stream))}</p>'
        f'{overview_table(experiments, anchors)}'
        f'<p class="sub">Status: the experiment\'s health verdict, the worst of its health checks '
        f'(fct_experiment_health), its open alerts included; the reason is its first failing check. SRM: the '
        f'earliest funnel stage whose split fails the chi-square test over all cohorts, else the latest tested '
        f'stage. Click a column to sort; in a chart, drag to zoom, double-click to reset, click a legend entry to '
        f'hide or show it.</p></section>{sections}</main>'
    )
    values = {
        "title": _e(title),
        "css": _template("report.css"),
        "body": body,
        "data": _json_for_script({"charts": charts}),
        "plotly": plotly_js(),
        "js": _template("report.js"),
        "charts": str(len(charts)),
    }
    page = re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], _template("report.html"))
    return Page(page, len(experiments), len(charts))
