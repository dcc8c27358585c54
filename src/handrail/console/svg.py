"""Server-made SVG for the console: the decision tree as a diagram, sparklines of Prometheus ranges, bar charts.

Drawn here rather than by a charting library in the browser: the pages stay readable without
JavaScript, nothing loads from the internet, and the picture is the same in a screenshot, a
printed review and a phone. Every piece of text is escaped; the result is safe `Markup`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

from handrail.errors import ExpressionError
from handrail.expression import parse
from handrail.runbook.model import Runbook

__all__ = ["DecisionTree", "TreeEdge", "TreeNode", "column_chart", "decision_tree", "render_tree", "sparkline"]

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
