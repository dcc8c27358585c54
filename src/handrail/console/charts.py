"""An incident's evidence charts: the series recorded at diagnosis and at each verification, drawn as SVG.

The series come from the record (engine/history.py kept them: the assessment's `history`, each
verification event's `history`); the threshold lines from the runbook's `interpret`, read from the
expression's syntax tree where a condition compares a number the series shows (`value > 70`,
`2 <= max`); the markers from the record: when the incident opened and when each action ran.
The incident page shows them, and `handrail report --out` writes them as files beside report.md.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup
from pydantic import ValidationError

from handrail.console.svg import ChartLine, ChartMarker, ChartSeries, line_chart
from handrail.engine.service import ActionRun, IncidentRecord, TimelineRecord
from handrail.errors import ExpressionError
from handrail.expression import parse
from handrail.expression.node import Comparison, Literal, Name, Node, Unary, children
from handrail.report import ChartLink, incident_report
from handrail.runbook.model import Diagnostic, Runbook

__all__ = [
    "CHARTS_FOLDER",
    "REPORT_FILE",
    "EvidenceChart",
    "evidence_charts",
    "interpret_lines",
    "report_files",
    "report_zip",
]

REPORT_FILE = "report.md"
CHARTS_FOLDER = "charts"

SERIES_NAMES = frozenset({"value", "values", "min", "max", "avg", "first", "last"})
"""The `prometheus_query` names on the scale of the series drawn (not `count`, `sum`, `delta`)."""
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_FILE_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class EvidenceChart:
    """One recorded chart, drawn: at diagnosis or at a verification, of a diagnostic or a metric trigger."""

    id: str
    """The diagnostic's id, or `trigger-N`."""
    name: str
    source: str
    """`diagnostic` or `trigger`."""
    phase: str
    """`diagnosis` or `verification`."""
    at: datetime
    """When it was recorded (the verification's time for a verification)."""
    number: int
    """Which verification, counting from 1 (0 at diagnosis)."""
    verdict: str
    """A verification's outcome (`healthy`, `not healthy`); empty at diagnosis."""
    error: str
    svg: Markup
    file_name: str
    """A file name for it that is safe anywhere (`diagnosis-cpu.svg`, `verification-1-cpu.svg`)."""

    @property
    def key(self) -> str:
        """The file name without `.svg`: the chart's `data-chart` on the incident page."""
        return self.file_name.removesuffix(".svg")


def evidence_charts(
    record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]
) -> list[EvidenceChart]:
    """Every recorded chart of the incident, diagnosis first, then each verification in order."""
    runbook = _runbook(record.runbook)
    markers = [ChartMarker(record.created_at.timestamp(), "incident opened", "opened")]
    markers += [
        ChartMarker(run.started_at.timestamp(), f"{run.remediation_id} ({run.status.value})", "action")
        for run in runs
        if run.started_at is not None
    ]
    found: list[EvidenceChart] = []
    for chart in _mappings((record.assessment or {}).get("history")):
        found.append(_draw(chart, runbook, markers, phase="diagnosis", at=record.created_at, verdict="", number=0))
    number = 0
    for event in timeline:
        if event.kind != "verification" or not event.data:
            continue
        number += 1
        verdict = "healthy" if event.data.get("healthy") else "not healthy"
        for chart in _mappings(event.data.get("history")):
            found.append(
                _draw(chart, runbook, markers, phase="verification", at=event.at, verdict=verdict, number=number)
            )
    return found


def report_files(
    record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]
) -> dict[str, str]:
    """`report.md` and the SVG files it shows, by their path relative to the report (`handrail report --out`)."""
    charts = evidence_charts(record, timeline, runs)
    links = [ChartLink(_caption(chart), f"{CHARTS_FOLDER}/{chart.file_name}") for chart in charts]
    files = {REPORT_FILE: incident_report(record, timeline, runs, charts=links)}
    files |= {f"{CHARTS_FOLDER}/{chart.file_name}": str(chart.svg) + "\n" for chart in charts}
    return files


def report_zip(record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]) -> bytes:
    """The report's files in one zip, in a folder named after the incident (the console's download)."""
    buffer = io.BytesIO()
    folder = _FILE_SAFE.sub("-", record.id) or "incident"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in report_files(record, timeline, runs).items():
            archive.writestr(f"{folder}-report/{path}", text)
    return buffer.getvalue()


def _caption(chart: EvidenceChart) -> str:
    when = "diagnosis" if chart.phase == "diagnosis" else f"verification {chart.number} ({chart.verdict})"
    return f"{chart.name} at {when}"


def interpret_lines(diagnostic: Diagnostic) -> list[ChartLine]:
    """The critical and warning thresholds of `diagnostic`: each comparison of a series name with a number."""
    derived = set(diagnostic.derive)
    lines: list[ChartLine] = []
    for status in ("critical", "warning"):
        source = getattr(diagnostic.interpret, status)
        if not source:
            continue
        try:
            root = parse(source).root
        except ExpressionError:  # the catalog's runbooks passed lint; a snapshot might not
            continue
        for node in _walk(root):
            found = _threshold(node, derived)
            if found is None:
                continue
            name, op, number = found
            line = ChartLine(number, f"{status}: {name} {op} {_show(number)}", status)
            if all((known.value, known.kind) != (line.value, line.kind) for known in lines):
                lines.append(line)
    return lines


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in children(node):
        yield from _walk(child)


def _threshold(node: Node, derived: set[str]) -> tuple[str, str, float] | None:
    """(`value`, `>`, 70) for `value > 70` or `70 < value`; None for any other shape."""
    if not isinstance(node, Comparison) or node.op not in _FLIPPED:
        return None
    name, number = _series_name(node.left, derived), _number(node.right)
    if name is not None and number is not None:
        return name, node.op, number
    name, number = _series_name(node.right, derived), _number(node.left)
    if name is not None and number is not None:
        return name, _FLIPPED[node.op], number
    return None


def _series_name(node: Node, derived: set[str]) -> str | None:
    if isinstance(node, Name) and node.name in SERIES_NAMES and node.name not in derived:
        return node.name
    return None


def _number(node: Node) -> float | None:
    if isinstance(node, Unary) and node.op == "-":
        inner = _number(node.operand)
        return -inner if inner is not None else None
    if isinstance(node, Literal) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _draw(
    chart: Mapping[str, Any],
    runbook: Runbook | None,
    markers: Sequence[ChartMarker],
    *,
    phase: str,
    at: datetime,
    verdict: str,
    number: int,
) -> EvidenceChart:
    chart_id, name, source = str(chart.get("id", "")), str(chart.get("name", "")), str(chart.get("source", ""))
    start, end = _float(chart.get("start")), _float(chart.get("end"))
    series = [_series(item, start, str(chart.get("query", name))) for item in _mappings(chart.get("series"))]
    lines: list[ChartLine] = []
    threshold = chart.get("threshold")
    if source == "trigger" and isinstance(threshold, int | float):
        lines.append(ChartLine(float(threshold), f"trigger: value >= {_show(float(threshold))}", "critical"))
    diagnostic = next((d for d in runbook.diagnostics if d.id == chart_id), None) if runbook else None
    if source == "diagnostic" and diagnostic is not None:
        lines += interpret_lines(diagnostic)
    error = str(chart.get("error") or "")
    total = chart.get("seriesTotal")
    note = f"no data: {error}" if error else ("" if series else "no series in the hour before")
    if not error and isinstance(total, int) and total > len(series):
        note = f"the {len(series)} highest of {total} series"
    when = "diagnosis" if phase == "diagnosis" else f"verification {number}"
    svg = line_chart(
        series,
        start=start,
        end=end,
        title=f"{name}: the hour before {when}",
        lines=lines,
        markers=markers,
        note=note,
    )
    safe = _FILE_SAFE.sub("-", chart_id)[:60] or "chart"
    file_name = f"diagnosis-{safe}.svg" if phase == "diagnosis" else f"verification-{number}-{safe}.svg"
    return EvidenceChart(chart_id, name, source, phase, at, number, verdict, error, svg, file_name)


def _series(item: Mapping[str, Any], start: float, fallback: str) -> ChartSeries:
    labels = dict(item.get("labels") or {}) if isinstance(item.get("labels"), Mapping) else {}
    metric = str(labels.pop("__name__", ""))
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    shown = metric + (f"{{{inner}}}" if inner else "")  # as Prometheus writes a series
    points = []
    for point in item.get("points") or []:
        if isinstance(point, Sequence) and len(point) == 2 and isinstance(point[0], int | float):
            value = point[1] if isinstance(point[1], int | float) and not isinstance(point[1], bool) else None
            points.append((start + float(point[0]), float(value) if value is not None else None))
    return ChartSeries(shown or fallback, tuple(points))


def _mappings(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _show(number: float) -> str:
    return str(int(number)) if number == int(number) else f"{number:g}"


def _runbook(snapshot: Mapping[str, Any]) -> Runbook | None:
    try:
        return Runbook.model_validate(snapshot)
    except ValidationError:
        return None
