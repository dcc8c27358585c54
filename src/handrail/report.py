"""The post-incident report: a Markdown page with everything the review needs, from the record.

Most of what the report shows came from outside: alert labels and annotations (chosen by whoever
makes an alert fire), notes, and the output of commands. All of it enters the Markdown through the
three functions below, one per kind of place, and renders back as exactly that text in any
CommonMark renderer, GitHub's tables included, raw HTML on or off (docs/security.md):

- `_text`: inline text (table cells, headings, paragraphs, list items). Every character that can
  open markup anywhere in a line is backslash-escaped (CommonMark §2.4): code, emphasis,
  strikethrough, links and images, raw HTML and autolinks, entities, table cells, headings, math;
  so are the ones that start a list at the start of a line. Line endings, and whitespace a renderer
  would trim, become numeric character references (§2.5). Other punctuation stays as written, so
  the file reads well as text too.
- `_code`: an inline code span, delimited by more backticks than any run inside it.
- `_block`: a fenced code block, fenced by more backticks than any run inside it (§4.5).

Everywhere, C0 and C1 control characters become U+FFFD first (`handoff.printable`), as CommonMark
does for their character references (§2.5): a report is printed to terminals too.

With its charts (`console/charts.report_files`: `handrail report --out DIR`, the console's zip),
the report shows one SVG file per recorded chart as an image, by a path made only of letters,
digits, `-`, `_` and `/`, with the chart's title as alt text (escaped as inline text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from handrail.engine.service import ActionRun, IncidentRecord, TimelineRecord
from handrail.handoff import durations, format_duration, handoff_dict, printable

__all__ = ["ChartLink", "incident_report"]

OUTPUT_LIMIT = 8000
"""Characters of an action's output the report keeps (the timeline and API have all of it)."""

_SAFE_PATH = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\.svg")
_MARKUP = "\\`*_~[]<>&|#$"  # the backslash first: the escapes added after it stay single
_LIST_START = re.compile(r"[-+]|\d+[.)]")
_SPACE = re.compile("[^\\S ]|\ufeff")  # whitespace but the plain space; U+FEFF, which JavaScript trims
_BACKTICKS = re.compile("`+")


@dataclass(frozen=True, slots=True)
class ChartLink:
    """A chart the report shows as an image: its title (alt text) and its file, relative to the report."""

    title: str
    path: str
    """Letters, digits, `-`, `_` and `/` only, ending `.svg` (console/charts.py names them so)."""


def _reference(match: re.Match[str]) -> str:
    return f"&#{ord(match.group())};"


def _text(value: object) -> str:
    """Inline text that renders as exactly this text, wherever inline text goes."""
    text = printable(value)
    for char in _MARKUP:  # one str.replace per character: faster here than str.translate or re.sub
        text = text.replace(char, "\\" + char)
    start = _LIST_START.match(text)
    if start is not None:
        text = f"{text[: start.end() - 1]}\\{text[start.end() - 1 :]}"
    text = _SPACE.sub(_reference, text)
    # A renderer trims the spaces around a cell, heading or paragraph; inside, they stay.
    if text.startswith(" "):
        text = "&#32;" + text[1:]
    if text.endswith(" "):
        text = text[:-1] + "&#32;"
    return text


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in _BACKTICKS.findall(text)), default=0)


def _code(value: object) -> str:
    """An inline code span showing exactly this text (line endings as spaces, as CommonMark shows them)."""
    text = re.sub(r"\r\n?|\n", " ", printable(value))
    if not text:
        return ""
    fence = "`" * (1 + _longest_backtick_run(text))
    # CommonMark strips one space from each end when both ends have one (§6.1): pad so that what
    # it strips is the padding, and so a backtick at an end cannot join the fence.
    pad = text.startswith("`") or text.endswith("`") or (text[0] == text[-1] == " " and text.strip(" "))
    return f"{fence} {text} {fence}" if pad else f"{fence}{text}{fence}"


def _block(value: object) -> list[str]:
    """A fenced code block holding exactly this text (CR and CRLF as LF, as CommonMark reads them)."""
    text = re.sub(r"\r\n?", "\n", printable(value))
    fence = "`" * max(3, 1 + _longest_backtick_run(text))
    return [fence, text.removesuffix("\n"), fence] if text else [fence, fence]


def _row(*cells: object) -> str:
    return "| " + " | ".join(_text(cell) for cell in cells) + " |"


def incident_report(
    record: IncidentRecord,
    timeline: Sequence[TimelineRecord],
    runs: Sequence[ActionRun],
    *,
    charts: Sequence[ChartLink] = (),
) -> str:
    """Summary, alert, times, evidence (with `charts`, images of their files), decisions, actions, the timeline."""
    view = handoff_dict(record, timeline, runs)
    times = durations(record)
    out = [
        f"# Post-incident report: {_text(record.title)} ({_text(record.id)})",
        "",
        "## Summary",
        "",
        "| | |",
        "| --- | --- |",
        _row("Runbook", record.runbook_id),
        _row("Severity", record.severity),
        _row("Service", record.service),
        _row("Outcome", f"{record.state.value}{' (escalated)' if record.escalated else ''}"),
        _row("Opened", f"{record.created_at:%Y-%m-%d %H:%M:%S} UTC by {record.triggered_by} ({record.trigger_type})"),
        _row("Acknowledged by", record.acknowledged_by or "—"),
        _row("Time to acknowledge", format_duration(times["timeToAcknowledge"])),
        _row("Time to mitigate", format_duration(times["timeToMitigate"])),
        _row("Time to resolve", format_duration(times["timeToResolve"])),
        _row("Duplicate triggers joined", record.joins),
    ]
    if record.labels or record.annotations:
        out += ["", "## Alert", "", "| | name | value |", "| --- | --- | --- |"]
        out += [_row("label", name, value) for name, value in sorted(record.labels.items())]
        out += [_row("annotation", name, value) for name, value in sorted(record.annotations.items())]
    out += ["", "## Evidence", "", "| diagnostic | status | finding |", "| --- | --- | --- |"]
    out += [_row(r.get("name"), r.get("status"), r.get("message")) for r in view["diagnosticResults"]]
    if charts:
        out += ["", "### Charts: the hour before", ""]
    for chart in charts:
        if not _SAFE_PATH.fullmatch(chart.path):
            raise ValueError(f"not a chart path a report links: {chart.path!r}")
        out += [f"![{_text(chart.title)}]({chart.path})", ""]
    out += ["", "## Decisions", ""]
    out += [f"- {_text(d.get('description'))} ({_code(d.get('condition') or 'otherwise')})" for d in view["decisions"]]
    if not view["decisions"]:
        out.append("- none fired")
    out += ["", f"Plan: {', '.join(_code(r) for r in record.plan) or 'nothing'}", "", "## Actions", ""]
    if not runs:
        out.append("No action ran.")
    for run in runs:
        out += [f"### {_code(run.remediation_id)} — {_text(run.status.value)}", "", _text(run.message), ""]
        out += _block(run.description)
        if run.output:
            out += ["", "Output:", "", *_block(run.output.rstrip()[:OUTPUT_LIMIT])]
        out.append("")
    out += ["", "## Timeline", "", "| time (UTC) | event | by | what |", "| --- | --- | --- | --- |"]
    out += [_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, e.actor or "", e.message) for e in timeline]
    return "\n".join(out) + "\n"
