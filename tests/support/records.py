"""Incident records built in memory, for what renders them (the report, the handoff view)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from handrail.store import ActionRun, ActionStatus, IncidentRecord, IncidentState, TimelineRecord

__all__ = ["AT", "action", "chart", "note", "record", "verification"]

AT = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def record(**changes: Any) -> IncidentRecord:
    fields: dict[str, Any] = {
        "id": "INC-1",
        "runbook_id": "gated-restart",
        "title": "Gated restart",
        "severity": "high",
        "service": "payments",
        "runbook": {},
        "state": IncidentState.RESOLVED,
        "is_open": False,
        "dedup_key": "k",
        "trigger_type": "alert",
        "triggered_by": "alertmanager",
        "labels": {},
        "annotations": {},
        "dry_run": False,
        "waiting_for": None,
        "plan": ["restart"],
        "assessment": None,
        "overall_severity": "critical",
        "escalated": False,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "created_at": AT,
        "updated_at": AT,
        "mitigated_at": None,
        "escalated_at": None,
        "closed_at": AT + timedelta(minutes=5),
        "joins": 0,
    }
    return IncidentRecord(**{**fields, **changes})


def note(text: str, *, actor: str = "alice") -> TimelineRecord:
    return TimelineRecord(id=1, incident_id="INC-1", at=AT, kind="note", actor=actor, message=text, data=None)


def action(*, message: str = "done", description: str = "restart payments", output: str = "ok") -> ActionRun:
    return ActionRun(
        key="INC-1:restart:1",
        incident_id="INC-1",
        remediation_id="restart",
        attempt=1,
        action_type="run_script",
        description=description,
        status=ActionStatus.SUCCEEDED,
        message=message,
        output=output,
        created_at=AT,
        started_at=AT,
        finished_at=AT,
    )


def chart(chart_id: str, *, name: str = "Busy pods", end: datetime = AT, **extra: Any) -> dict[str, Any]:
    """A recorded chart of the hour before `end`, as engine/history.py keeps it (one series of four samples)."""
    return {
        "source": "diagnostic",
        "id": chart_id,
        "name": name,
        "query": "cpu_busy",
        "start": end.timestamp() - 3600,
        "end": end.timestamp(),
        "step": 15,
        "series": [{"labels": {"pod": "a"}, "points": [[0, 10], [15, 20], [30, 80], [45, 75]]}],
        "seriesTotal": 1,
        **extra,
    }


def verification(*charts: dict[str, Any], at: datetime = AT, healthy: bool = True) -> TimelineRecord:
    """A verification event, as the engine writes it, with the charts recorded at it."""
    verdict = "healthy" if healthy else "not healthy"
    data = {"healthy": healthy, "results": [], "history": list(charts)}
    return TimelineRecord(
        id=2, incident_id="INC-1", at=at, kind="verification", actor=None, message=f"verification: {verdict}", data=data
    )
