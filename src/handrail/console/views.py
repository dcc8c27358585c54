"""What the console's pages show, built from the store's records: plain dicts and dataclasses for the templates."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup

from handrail.console.svg import decision_tree, render_tree, sparkline
from handrail.engine.service import ActionRun, IncidentRecord, TimelineRecord
from handrail.handoff import durations, format_duration
from handrail.runbook.model import Runbook

__all__ = ["RemediationCard", "Waiting", "diagnostics_view", "incident_times", "remediation_cards", "waiting_for"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the incident waits for from a person: `approve`/`reject` or `done`/`skip` of one remediation."""

    remediation: str
    verbs: tuple[str, ...]
    role: str


@dataclass(frozen=True, slots=True)
class RemediationCard:
    id: str
    name: str
    type: str
    action_type: str | None
    requires_approval: bool
    instructions: str
    description: str
    """The action exactly as it runs (or would run): from its run, or as described when it waited for approval."""
    status: str
    message: str
    output: str
    waiting: Waiting | None


def waiting_for(record: IncidentRecord) -> Waiting | None:
    """Parse `waiting_for` (`approval: ID` or `done or skip: ID`), as the engine writes it."""
    if not record.is_open or not record.waiting_for:
        return None
    what, _, remediation = record.waiting_for.partition(": ")
    if what == "approval":
        return Waiting(remediation, ("approve", "reject"), "approver")
    if what == "done or skip":
        return Waiting(remediation, ("done", "skip"), "responder")
    return None


def incident_times(record: IncidentRecord, now: datetime) -> list[tuple[str, str, bool]]:
    """(label, time, final) for acknowledge / mitigate / resolve; while open, the time so far."""
    times = durations(record)
    shown = []
    for label, key in (
        ("to acknowledge", "timeToAcknowledge"),
        ("to mitigate", "timeToMitigate"),
        ("to resolve", "timeToResolve"),
    ):
        value = times[key]
        if value is not None:
            shown.append((label, format_duration(value), True))
        elif record.is_open:
            shown.append((label, format_duration(now - record.created_at) + " so far", False))
        else:
            shown.append((label, "—", True))
    return shown


def diagnostics_view(
    assessment: Mapping[str, Any] | None, charts: Mapping[str, Markup] | None = None
) -> list[dict[str, Any]]:
    """Each diagnostic with its status, finding, a short value and its chart (recorded, else a range's sparkline)."""
    rows = []
    for result in (assessment or {}).get("diagnosticResults", []):
        raw = result.get("rawValue") or {}
        samples = raw.get("samples") if isinstance(raw, Mapping) else None
        chart = (charts or {}).get(str(result.get("stepId")))
        if chart is None:
            chart = sparkline(samples, label=f"{result.get('name')} over the range") if samples else Markup("")
        rows.append(
            {
                "id": result.get("stepId"),
                "name": result.get("name"),
                "type": result.get("type"),
                "status": result.get("status"),
                "message": result.get("message"),
                "durationMs": result.get("durationMs"),
                "value": _value_text(raw),
                "raw": json.dumps(raw, indent=2, sort_keys=True, default=str)[:4000] if raw else "",
                "chart": chart,
            }
        )
    return rows


def _value_text(raw: Any) -> str:
    if not isinstance(raw, Mapping):
        return ""
    for key in ("value", "exit_code", "exitCode", "count", "status_code"):
        if key in raw and raw[key] is not None:
            return f"{key} = {raw[key]}"
    return ""


def tree_svg(runbook: Runbook, record: IncidentRecord | None = None) -> Markup:
    tree = decision_tree(runbook, record.assessment if record else None, record.plan if record else ())
    title = f"Decision tree of {runbook.name}" + (" with the path this incident took" if record else "")
    return render_tree(tree, title=title)


def remediation_cards(
    runbook: Runbook, record: IncidentRecord, timeline: Sequence[TimelineRecord], runs: Sequence[ActionRun]
) -> list[RemediationCard]:
    """One card per planned remediation, in plan order, with what happened to it so far."""
    described = {
        str(e.data.get("remediation")): str(e.data.get("description"))
        for e in timeline
        if e.kind == "action_described" and e.data
    }
    decided = {str(e.data.get("remediation")): e.message for e in timeline if e.kind == "decision_by_person" and e.data}
    last_run = {run.remediation_id: run for run in runs}
    waiting = waiting_for(record)
    cards = []
    for remediation_id in record.plan:
        remediation = runbook.remediation(remediation_id)
        if remediation is None:
            continue
        run = last_run.get(remediation_id)
        is_waiting = waiting is not None and waiting.remediation == remediation_id
        status = (
            run.status.value
            if run
            else ("waiting" if is_waiting else ("decided" if remediation_id in decided else "planned"))
        )
        cards.append(
            RemediationCard(
                id=remediation.id,
                name=remediation.name,
                type=remediation.type,
                action_type=remediation.action.type if remediation.action else None,
                requires_approval=remediation.requires_approval,
                instructions=(remediation.instructions or "").strip(),
                description=run.description if run else described.get(remediation_id, ""),
                status=status,
                message=(run.message or "") if run else decided.get(remediation_id, ""),
                output=(run.output or "")[-4000:] if run else "",
                waiting=waiting if is_waiting else None,
            )
        )
    return cards
