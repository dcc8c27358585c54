"""The handoff view of an incident: what was found, what was decided, what was done, what waits.

The incoming on-call reads this (CLI `incidents show`, later the API and console) and picks up
where the last responder left off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from handrail.engine.service import ActionRun, IncidentRecord, TimelineRecord, incident_summary

__all__ = ["durations", "format_duration", "handoff_dict", "handoff_text", "printable"]

# C0 controls but tab, line feed, form feed and carriage return; DEL and the C1 controls; lone
# surrogates, which UTF-8 cannot carry. CommonMark reads the same code points as U+FFFD (§2.5).
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?|[\n\v\f\x1c-\x1e\x85\u2028\u2029]")


def printable(value: object) -> str:
    """Text from outside (labels, notes, output) with every control character as U+FFFD.

    What a terminal would obey (ESC and CSI sequences) cannot reach one from a report or the
    handoff view.
    """
    return _CONTROL.sub("\ufffd", "" if value is None else str(value))


def _line(value: object) -> str:
    """Outside text on one line of the handoff view: a line break cannot forge an entry below it."""
    return printable(_LINE_BREAK.sub(" ", "" if value is None else str(value)))


def durations(record: IncidentRecord) -> dict[str, timedelta | None]:
    """Time to acknowledge, to mitigate and to resolve (None while it has not happened)."""
    resolved = record.closed_at if record.state.value == "resolved" else None
    return {
        "timeToAcknowledge": _since(record.created_at, record.acknowledged_at),
        "timeToMitigate": _since(record.created_at, record.mitigated_at),
        "timeToResolve": _since(record.created_at, resolved),
    }


def _since(start: datetime, end: datetime | None) -> timedelta | None:
    return end - start if end is not None else None


def format_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {seconds:02d}s" if hours else f"{minutes}m {seconds:02d}s"


def handoff_dict(
    record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]
) -> dict[str, Any]:
    assessment = record.assessment or {}
    return {
        **incident_summary(record),
        "createdAt": record.created_at.isoformat(),  # the handoff's older name for `triggeredAt`
        "durations": {k: (v.total_seconds() if v else None) for k, v in durations(record).items()},
        "diagnosticResults": assessment.get("diagnosticResults", []),
        "decisions": [d for d in assessment.get("decisions", []) if d.get("matched")],
        "plan": list(record.plan),
        "actions": [
            {
                "remediation": run.remediation_id,
                "attempt": run.attempt,
                "type": run.action_type,
                "status": run.status.value,
                "description": run.description,
                "message": run.message,
                "output": run.output,
                "startedAt": run.started_at.isoformat() if run.started_at else None,
                "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
            }
            for run in runs
        ],
        "timeline": [
            {"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "message": e.message} for e in timeline
        ],
    }


def handoff_text(record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]) -> str:
    """The handoff view for a terminal: one line per finding, decision, action and event."""
    view = handoff_dict(record, timeline, runs)
    times = durations(record)
    lines = [
        f"{_line(record.id)}  [{_line(record.severity)}] {_line(record.title)}  ({_line(record.runbook_id)})",
        f"state: {record.state.value}{' (escalated)' if record.escalated else ''}"
        f"{' · DRY RUN' if record.dry_run else ''} · opened {record.created_at:%Y-%m-%d %H:%M:%S}Z"
        f" by {_line(record.triggered_by)}",
        f"acknowledged: {_line(record.acknowledged_by or 'nobody yet')}"
        f" · to acknowledge {format_duration(times['timeToAcknowledge'])}"
        f" · to mitigate {format_duration(times['timeToMitigate'])}"
        f" · to resolve {format_duration(times['timeToResolve'])}",
    ]
    if record.waiting_for:
        lines.append(f"WAITING FOR: {_line(record.waiting_for)}")
    lines += ["", "What was found"]
    results = view["diagnosticResults"]
    lines += [f"  {_line(r.get('status')):<8} {_line(r.get('name'))}: {_line(r.get('message'))}" for r in results] or [
        "  (not yet)"
    ]
    lines += ["", "What was decided"]
    lines += [f"  • {_line(d.get('description'))}" for d in view["decisions"]] or ["  (nothing yet)"]
    if record.plan:
        lines.append(f"  plan: {_line(', '.join(record.plan))}")
    lines += ["", "What was done"]
    lines += [
        f"  {run.status.value:<16} {_line(run.remediation_id)}: {_line(run.message or run.description)}" for run in runs
    ] or ["  (nothing yet)"]
    lines += ["", "Timeline"]
    lines += [
        f"  {e.at:%H:%M:%S}  {_line(e.kind):<18} {_line(e.message)}" + (f"  — {_line(e.actor)}" if e.actor else "")
        for e in timeline
    ]
    return "\n".join(lines) + "\n"
