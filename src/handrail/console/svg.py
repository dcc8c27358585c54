"""Server-made SVG for the console: the decision tree as a diagram, sparklines, evidence charts, bar charts.

Drawn here rather than by a charting library in the browser: the pages stay readable without
JavaScript, nothing loads from the internet, and the picture is the same in a screenshot, a
printed review and a phone. Every piece of text is escaped; the result is safe `Markup`. An evidence
chart (`line_chart`) also stands alone as a file (the report's charts): its colours are presentation
attributes, which the console's stylesheet may override (dark mode), not rules of that stylesheet.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

from markupsafe import Markup

from handrail.errors import ExpressionError
from handrail.expression import parse
from handrail.runbook.model import Runbook

__all__ = [
    "ChartLine",
    "ChartMarker",
    "ChartSeries",
    "DecisionTree",
    "TreeEdge",
    "TreeNode",
    "column_chart",
    "decision_tree",
    "line_chart",
    "render_tree",
    "sparkline",
]

_NODE_WIDTH, _NODE_HEIGHT, _ROW, _COLUMN = 250, 46, 60, 330
_MAX_LABEL = 34


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One box: a diagnostic (column 0), a decision (1) or a remediation (2), and how this incident saw it."""

    key: str
    column: int
    label: str
    detail: str
    state: str = ""
    """A diagnostic's status, `fired` for a decision that held, `planned` for a remediation in the plan."""


@dataclass(frozen=True, slots=True)
class TreeEdge:
    source: str
    target: str
    taken: bool


@dataclass(frozen=True, slots=True)
class DecisionTree:
    nodes: tuple[TreeNode, ...]
    edges: tuple[TreeEdge, ...]

    def node(self, key: str) -> TreeNode:
        return next(n for n in self.nodes if n.key == key)


def decision_tree(
    runbook: Runbook, assessment: Mapping[str, Any] | None = None, plan: Sequence[str] = ()
) -> DecisionTree:
    """The runbook's diagnostics → decisions → remediations; with an assessment, the path it took marked."""
    statuses = {r.get("stepId"): r.get("status", "") for r in (assessment or {}).get("diagnosticResults", [])}
    fired = {d.get("index") for d in (assessment or {}).get("decisions", []) if d.get("matched")}
    nodes = [
        TreeNode(f"diag-{d.id}", 0, d.name, f"{d.type} · {d.id}", str(statuses.get(d.id, "")))
        for d in runbook.diagnostics
    ]
    edges: list[TreeEdge] = []
    for index, decision in enumerate(runbook.decision_tree):
        key = f"decision-{index}"
        title = "otherwise" if decision.otherwise else (decision.condition or "")
        nodes.append(TreeNode(key, 1, decision.description or title, title, "fired" if index in fired else ""))
        for diagnostic_id in _diagnostics_named(decision.condition) if decision.condition else ():
            edges.append(TreeEdge(f"diag-{diagnostic_id}", key, index in fired))
        edges += [TreeEdge(key, f"remediation-{r}", index in fired) for r in decision.then]
    nodes += [
        TreeNode(
            f"remediation-{r.id}",
            2,
            r.name,
            r.type + (f" · {r.action.type}" if r.action else "") + (" · needs approval" if r.requires_approval else ""),
            "planned" if r.id in plan else "",
        )
        for r in runbook.remediations
    ]
    keys = {n.key for n in nodes}
    return DecisionTree(tuple(nodes), tuple(e for e in edges if e.source in keys and e.target in keys))


def _diagnostics_named(condition: str) -> list[str]:
    try:
        references = parse(condition).references
    except ExpressionError:  # a runbook in the catalog has passed lint; this is belt and braces
        return []
    found: list[str] = []
    for reference in references:
        path = reference.path
        if len(path) >= 2 and path[0] == "diagnostics" and isinstance(path[1], str) and path[1] not in found:
            found.append(path[1])
    return found


def _short(text: str, limit: int = _MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_tree(tree: DecisionTree, *, title: str) -> Markup:
    """The tree as an SVG diagram; nodes and edges on the path taken carry the classes `taken`/`fired`/`planned`."""
    places: dict[str, tuple[float, float]] = {}
    rows = [0, 0, 0]
    for node in tree.nodes:
        places[node.key] = (20 + node.column * _COLUMN, 40 + rows[node.column] * _ROW)
        rows[node.column] += 1
    width = 40 + 2 * _COLUMN + _NODE_WIDTH
    height = 50 + max(rows) * _ROW
    out = [
        f'<svg class="tree" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"'
        f' aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for column, heading in enumerate(("Diagnostics", "Decisions", "Remediations")):
        out.append(f'<text class="heading" x="{20 + column * _COLUMN}" y="22">{heading}</text>')
    for edge in sorted(tree.edges, key=lambda e: e.taken):  # taken edges drawn last, on top
        (x1, y1), (x2, y2) = places[edge.source], places[edge.target]
        x1, y1, y2 = x1 + _NODE_WIDTH, y1 + _NODE_HEIGHT / 2, y2 + _NODE_HEIGHT / 2
        middle = (x1 + x2) / 2
        out.append(
            f'<path class="edge{" taken" if edge.taken else ""}" data-from="{escape(edge.source)}"'
            f' data-to="{escape(edge.target)}" d="M{x1:.0f},{y1:.0f} C{middle:.0f},{y1:.0f}'
            f' {middle:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"/>'
        )
    for node in tree.nodes:
        x, y = places[node.key]
        state = f" {escape(node.state)}" if node.state else ""
        out += [
            f'<g class="node {("diagnostic", "decision", "remediation")[node.column]}{state}"'
            f' id="{escape(node.key)}" data-state="{escape(node.state)}">',
            f"<title>{escape(node.label)} — {escape(node.detail)}{' (' + escape(node.state) + ')' if state else ''}"
            "</title>",
            f'<rect x="{x}" y="{y}" width="{_NODE_WIDTH}" height="{_NODE_HEIGHT}" rx="8"/>',
            f'<text x="{x + 10}" y="{y + 19}">{escape(_short(node.label))}</text>',
            f'<text class="detail" x="{x + 10}" y="{y + 36}">{escape(_short(node.detail, 40))}</text>',
            "</g>",
        ]
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every piece of text above is escaped


def sparkline(samples: Sequence[Mapping[str, Any]], *, label: str, width: int = 260, height: int = 56) -> Markup:
    """A small line chart of `[{time, value}]` (a Prometheus range diagnostic's samples), with min and max."""
    points = [
        (float(s["time"]), float(s["value"]))
        for s in samples
        if isinstance(s.get("time"), int | float)
        and isinstance(s.get("value"), int | float)
        and math.isfinite(s["value"])
    ]
    if len(points) < 2:
        return Markup("")
    t0, t1 = points[0][0], points[-1][0]
    low, high = min(v for _, v in points), max(v for _, v in points)
    span_t, span_v = (t1 - t0) or 1.0, (high - low) or 1.0
    coords = " ".join(
        f"{(t - t0) / span_t * (width - 4) + 2:.1f},{height - 14 - (v - low) / span_v * (height - 20):.1f}"
        for t, v in points
    )
    return Markup(  # noqa: S704 - numbers and an escaped label only
        f'<svg class="sparkline" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"'
        f' aria-label="{escape(label)}"><title>{escape(label)}</title>'
        f'<polyline points="{coords}"/>'
        f'<text x="2" y="{height - 2}">min {_number(low)}</text>'
        f'<text x="{width - 2}" y="{height - 2}" text-anchor="end">max {_number(high)}</text></svg>'
    )


def column_chart(bars: Sequence[tuple[str, float | None]], *, title: str, unit: str = "") -> Markup:
    """Vertical bars, one per label (a week, say); a missing value draws no bar but keeps its place."""
    width, height, top, bottom = max(280, 52 * len(bars) + 40), 230, 34, 44
    values = [v for _, v in bars if v is not None]
    peak = max(values, default=0.0) or 1.0
    slot = (width - 40) / max(len(bars), 1)
    out = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"'
        f' aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text class="heading" x="4" y="20">{escape(title)}</text>',
        f'<line class="axis" x1="30" y1="{height - bottom}" x2="{width - 4}" y2="{height - bottom}"/>',
    ]
    for index, (label, value) in enumerate(bars):
        x = 34 + index * slot
        if value is not None:
            bar = value / peak * (height - top - bottom - 14)
            out.append(
                f'<rect x="{x:.1f}" y="{height - bottom - bar:.1f}" width="{slot * 0.7:.1f}" height="{bar:.1f}">'
                f"<title>{escape(label)}: {_number(value)}{escape(unit)}</title></rect>"
                f'<text class="value" x="{x + slot * 0.35:.1f}" y="{height - bottom - bar - 3:.1f}"'
                f' text-anchor="middle">{_number(value)}</text>'
            )
        out.append(
            f'<text class="label" x="{x + slot * 0.35:.1f}" y="{height - bottom + 18}" text-anchor="middle">'
            f"{escape(_short(label, 8))}</text>"
        )
    if not values:
        out.append(f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">no data</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - numbers and escaped labels only


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e12:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


# -- evidence charts ----------------------------------------------------------------------------

_PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#6a51a3")
"""Okabe–Ito colours, told apart with the common colour blindnesses, on light and dark backgrounds."""
_LINE_COLOURS = {"critical": "#c62828", "warning": "#b26a00"}
_MARKER_COLOURS = {"opened": "#37474f", "action": "#6a1b9a"}
_CHART_WIDTH, _PLOT_LEFT, _PLOT_RIGHT, _PLOT_TOP, _PLOT_HEIGHT, _LEGEND_ROW = 400, 46, 392, 52, 140, 18
_MAX_LEGEND = 50


@dataclass(frozen=True, slots=True)
class ChartSeries:
    """One line of an evidence chart: its label and its points as (unix seconds, value or None for a gap)."""

    label: str
    points: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True, slots=True)
class ChartLine:
    """A horizontal line at `value`: an `interpret` threshold (`kind` critical or warning)."""

    value: float
    label: str
    kind: str


@dataclass(frozen=True, slots=True)
class ChartMarker:
    """A vertical line at a moment (unix seconds): the incident opened, an action ran."""

    at: float
    label: str
    kind: str


def line_chart(
    series: Sequence[ChartSeries],
    *,
    start: float,
    end: float,
    title: str,
    lines: Sequence[ChartLine] = (),
    markers: Sequence[ChartMarker] = (),
    note: str = "",
) -> Markup:
    """A chart of recorded series over `start`..`end`, with threshold lines, moments marked and a legend.

    Args:
        series: the lines drawn, first on top in the legend; a `None` value leaves a gap.
        start: the left edge (unix seconds).
        end: the end of the data; a marker (an action) later by up to the data's span widens the chart to show it.
        title: the heading, also the image's accessible name.
        lines: thresholds drawn across; markers: moments drawn down (others outside are left out).
        note: one line under the legend (why there is no data, how many series were left out).

    Returns:
        A standalone `<svg>` (its own colours and fonts), every text escaped.
    """
    late = [m.at for m in markers if end < m.at <= end + (end - start)]
    last = max([end, *late])
    span_t = (last - start) or 1.0
    shown_markers = [m for m in markers if start <= m.at <= last]
    values = [v for s in series for _, v in s.points if v is not None and math.isfinite(v)]
    values += [line.value for line in lines]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.06
    low, high = low - pad, high + pad
    bottom = _PLOT_TOP + _PLOT_HEIGHT
    plot_width = _PLOT_RIGHT - _PLOT_LEFT

    def x(at: float) -> float:
        return _PLOT_LEFT + (at - start) / span_t * plot_width

    def y(value: float) -> float:
        return bottom - (value - low) / (high - low) * _PLOT_HEIGHT

    rows = len(series) + len(shown_markers) + (1 if note else 0)
    height = bottom + 34 + rows * _LEGEND_ROW
    out = [
        f'<svg class="evidence" role="img" viewBox="0 0 {_CHART_WIDTH} {height}" xmlns="http://www.w3.org/2000/svg"'
        f' font-family="system-ui, sans-serif" font-size="13" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="heading" x="4" y="16" font-weight="700" fill="#1c2026">{escape(_short(title, 52))}</text>',
        f'<rect class="plot" x="{_PLOT_LEFT}" y="{_PLOT_TOP}" width="{plot_width}" height="{_PLOT_HEIGHT}"'
        ' fill="#ffffff" stroke="#d9dee5"/>',
    ]
    for value in (low + pad, (low + high) / 2, high - pad):
        out.append(
            f'<text class="tick" x="{_PLOT_LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end" fill="#5d6673">'
            f"{_number(value)}</text>"
        )
    clock = "%H:%M:%S" if span_t < 600 else "%H:%M"
    for at, anchor in ((start, "start"), ((start + last) / 2, "middle"), (last, "end")):
        out.append(
            f'<text class="tick" x="{x(at):.1f}" y="{bottom + 15}" text-anchor="{anchor}" fill="#5d6673">'
            f"{_clock(at, clock)}{' UTC' if anchor == 'end' else ''}</text>"
        )
    for line in lines:  # labelled at the left: markers (the incident, actions) gather at the right
        colour = _LINE_COLOURS.get(line.kind, "#5d6673")
        out.append(
            f'<g class="threshold {escape(line.kind)}" data-value="{_number(line.value)}">'
            f"<title>{escape(line.label)}</title>"
            f'<line x1="{_PLOT_LEFT}" x2="{_PLOT_RIGHT}" y1="{y(line.value):.1f}" y2="{y(line.value):.1f}"'
            f' stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<text x="{_PLOT_LEFT + 3}" y="{y(line.value) - 3:.1f}" fill="{colour}">'
            f"{escape(_short(line.label, 30))}</text></g>"
        )
    for index, item in enumerate(series):
        colour = _PALETTE[index % len(_PALETTE)]
        path = _path(((x(t), y(v) if v is not None and math.isfinite(v) else None) for t, v in item.points))
        out.append(
            f'<path class="series" data-series="{index}" data-points="{len(item.points)}" d="{path}" fill="none"'
            f' stroke="{colour}" stroke-width="2" stroke-linejoin="round"><title>{escape(item.label)}</title></path>'
        )
        row = bottom + 32 + index * _LEGEND_ROW
        out.append(
            f'<g class="legend" data-series="{index}"><rect x="4" y="{row - 9}" width="14" height="4" fill="{colour}"/>'
            f'<text x="24" y="{row}" fill="#1c2026">{escape(_short(item.label, _MAX_LEGEND))}</text></g>'
        )
    for number, marker in enumerate(shown_markers, 1):
        # numbered at the top, on two rows so that neighbours do not cover each other; named in the legend
        colour = _MARKER_COLOURS.get(marker.kind, "#37474f")
        at = x(marker.at)
        row = bottom + 32 + (len(series) + number - 1) * _LEGEND_ROW
        out.append(
            f'<g class="marker {escape(marker.kind)}" data-at="{marker.at:.0f}"><title>{escape(marker.label)}</title>'
            f'<line x1="{at:.1f}" x2="{at:.1f}" y1="{_PLOT_TOP - 4}" y2="{bottom}" stroke="{colour}"'
            f' stroke-width="1.5" stroke-dasharray="2 3"/>'
            f'<text x="{at:.1f}" y="{_PLOT_TOP - 6 - (number + 1) % 2 * 13}" text-anchor="middle" fill="{colour}"'
            f' font-weight="700">{number}</text>'
            f'<text class="legend-text" x="4" y="{row}" fill="{colour}">{number} ┆ {escape(_short(marker.label, 34))}'
            f" {_clock(marker.at, clock)}</text></g>"
        )
    if note:
        row = bottom + 32 + (len(series) + len(shown_markers)) * _LEGEND_ROW
        out.append(f'<text class="note" x="4" y="{row}" fill="#5d6673">{escape(_short(note, _MAX_LEGEND + 4))}</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - numbers and escaped text only


def _path(points: Iterable[tuple[float, float | None]]) -> str:
    """An SVG path through the points; a missing value starts a new piece (a gap, not a made-up line)."""
    parts: list[str] = []
    pen_down = False
    for px, py in points:
        if py is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{px:.1f},{py:.1f}")
        pen_down = True
    return " ".join(parts)


def _clock(at: float, layout: str) -> str:
    return datetime.fromtimestamp(at, UTC).strftime(layout)
