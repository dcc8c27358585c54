"""The words of notifications: what people read in the channel at 3 AM."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handrail.engine.history import trend
from handrail.notify.base import Notification
from handrail.runbook.model import Remediation, Runbook

__all__ = ["DECISIONS", "approval_text", "decided", "evidence", "incident_details", "notification"]

DECISIONS: Mapping[str, str] = {
    "approve": "approved",
    "reject": "rejected",
    "done": "marked done",
    "skip": "skipped",
}
"""What a person may say to a waiting remediation, and how the timeline and the channel put it."""

_STATUS_MARK = {"healthy": "ok", "warning": "WARN", "critical": "CRIT", "unknown": "??", "error": "ERR"}


def evidence(assessment: Mapping[str, Any] | None) -> str:
    """One line per diagnostic: status, name, what it found."""
    if not assessment:
        return "No evidence collected yet."
    lines = []
    for result in assessment.get("diagnosticResults", []):
        mark = _STATUS_MARK.get(result.get("status", ""), "?")
        lines.append(f"[{mark}] {result.get('name')}: {result.get('message')}")
    return "\n".join(lines) or "No diagnostics."


def incident_details(
    incident_id: str,
    runbook: Runbook,
    assessment: Mapping[str, Any] | None,
    *,
    console_url: str | None,
    approval: Remediation | None = None,
    instructions: str | None = None,
) -> dict[str, Any]:
    """The structured facts rich notifiers render (see `Notification.details`)."""
    results = (assessment or {}).get("diagnosticResults", [])
    charts = {c.get("id"): c for c in (assessment or {}).get("history", []) if c.get("source") == "diagnostic"}
    planned = (assessment or {}).get("recommendedActions", [])
    recommended = []
    for remediation_id in planned:
        remediation = runbook.remediation(remediation_id)
        if remediation is not None:
            recommended.append(
                {
                    "id": remediation.id,
                    "name": remediation.name,
                    "type": remediation.type,
                    "requiresApproval": remediation.requires_approval,
                }
            )
    return {
        "url": f"{console_url.rstrip('/')}/incidents/{incident_id}" if console_url else None,
        "overall": (assessment or {}).get("overallSeverity"),
        "diagnostics": [
            {
                "name": r.get("name"),
                "status": r.get("status"),
                "message": r.get("message"),
                "trend": trend(charts.get(r.get("stepId"))),
            }
            for r in results
        ],
        "recommended": recommended,
        "instructions": instructions,
        "approval": (
            {"remediation": approval.id, "name": approval.name, "description": approval.description}
            if approval
            else None
        ),
    }


def notification(
    kind: str,
    *,
    incident_id: str,
    runbook: Runbook,
    target: str,
    headline: str,
    body: str = "",
    state: str = "",
    sequence: int = 0,
    details: Mapping[str, Any] | None = None,
) -> Notification:
    """A notification about an incident, with the facts every message carries."""
    return Notification(
        target=target,
        kind=kind,
        title=f"[{runbook.severity}] {runbook.name} — {headline}",
        text=body,
        severity=runbook.severity,
        incident_id=incident_id,
        fields={"incident": incident_id, "service": runbook.service, "runbook": runbook.id, "state": state},
        dedup_key=f"{incident_id}:{sequence}:{kind}",
        details=dict(details or {}),
    )


def decided(name: str, decision: Mapping[str, Any]) -> str:
    """`Fix It approved by alice: checked the graphs`: who decided what about `name`, and why."""
    reason = str(decision.get("reason") or "")
    return f"{name} {DECISIONS[decision['kind']]} by {decision['actor']}" + (f": {reason}" if reason else "")


def approval_text(remediation: Remediation, description: str) -> str:
    return (
        f"{remediation.name} needs approval before it runs.\n{remediation.description}\n\n"
        f"It would run:\n{description}\n\nApprove: handrail incidents approve <id> {remediation.id} --as <you>"
    )
