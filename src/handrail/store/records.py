"""What the store hands back: plain frozen records, never rows or sessions."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ActionRun",
    "ActionStatus",
    "IncidentRecord",
    "IncidentState",
    "NewIncident",
    "TimelineRecord",
    "incident_summary",
    "shadow_summary",
]


class IncidentState(enum.StrEnum):
    TRIGGERED = "triggered"
    DIAGNOSING = "diagnosing"
    AWAITING_APPROVAL = "awaiting_approval"
    REMEDIATING = "remediating"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RECORDED = "recorded"
    """A shadow version's run (#15) is over: its plan is recorded; nothing it planned was carried out."""

    @property
    def is_final(self) -> bool:
        return self in (IncidentState.RESOLVED, IncidentState.FAILED, IncidentState.CANCELLED, IncidentState.RECORDED)


class ActionStatus(enum.StrEnum):
    PENDING = "pending"
    """The intent is recorded; the action has not started."""
    RUNNING = "running"
    """The action started; if the process died here, the outcome is unknown."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    OUTCOME_UNKNOWN = "outcome_unknown"
    """It started and never reported (a crash): verified, then handed to a person; never re-run."""
    DRY_RUN = "dry_run"
    BLOCKED = "blocked"
    """A safety rail stopped it before it started: a cooldown, the circuit breaker, or an allow-list."""


@dataclass(frozen=True, slots=True)
class NewIncident:
    """What a trigger brings: the runbook (a snapshot, so later edits don't change a running incident)."""

    id: str
    runbook: Mapping[str, Any]
    dedup_key: str
    trigger_type: str
    triggered_by: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    dry_run: bool
    shadow_of: str | None = None
    """The incident a shadow version runs beside (#15); None for an incident of its own."""


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    id: str
    runbook_id: str
    title: str
    severity: str
    service: str
    runbook: Mapping[str, Any]
    state: IncidentState
    is_open: bool
    dedup_key: str
    trigger_type: str
    triggered_by: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    dry_run: bool
    waiting_for: str | None
    plan: Sequence[str]
    assessment: Mapping[str, Any] | None
    overall_severity: str | None
    escalated: bool
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    mitigated_at: datetime | None
    escalated_at: datetime | None
    closed_at: datetime | None
    joins: int
    shadow_of: str | None = None
    """The incident this shadow run rode beside (#15): its plan is recorded and nothing it plans acts."""

    @property
    def is_shadow(self) -> bool:
        return self.shadow_of is not None


def incident_summary(record: IncidentRecord) -> dict[str, Any]:
    """The incident as JSON shows it (the API's lists and answers, the handoff, `handrail incidents --json`).

    The one mapping from a record to JSON (#14): camelCase names, plain values, times in ISO 8601.
    """
    return {
        "id": record.id,
        "runbookId": record.runbook_id,
        "title": record.title,
        "severity": record.severity,
        "service": record.service,
        "state": record.state.value,
        "open": record.is_open,
        "dryRun": record.dry_run,
        "labels": dict(record.labels),
        "triggeredBy": record.triggered_by,
        "triggeredAt": record.created_at.isoformat(),
        "acknowledgedBy": record.acknowledged_by,
        "acknowledgedAt": record.acknowledged_at.isoformat() if record.acknowledged_at else None,
        "escalated": record.escalated,
        "waitingFor": record.waiting_for,
        "overallSeverity": record.overall_severity,
        "joins": record.joins,
        "shadowOf": record.shadow_of,
    }


def shadow_summary(active: IncidentRecord, shadow: IncidentRecord) -> dict[str, Any]:
    """A shadow version's run beside `active`, as the API and the console show it (#15).

    `agrees` is whether it planned the same remediations, in the same order, as the incident: None until both
    plans are recorded (the count behind `handrail_shadow_agreements_total`).
    """
    compared = active.assessment is not None and shadow.assessment is not None
    return {
        "id": shadow.id,
        "runbookId": shadow.runbook_id,
        "title": shadow.title,
        "state": shadow.state.value,
        "overallSeverity": shadow.overall_severity,
        "plan": list(shadow.plan),
        "agrees": list(active.plan) == list(shadow.plan) if compared else None,
    }


@dataclass(frozen=True, slots=True)
class TimelineRecord:
    id: int
    incident_id: str
    at: datetime
    kind: str
    actor: str | None
    message: str
    data: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ActionRun:
    key: str
    incident_id: str
    remediation_id: str
    attempt: int
    action_type: str
    description: str
    status: ActionStatus
    message: str | None
    output: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    target: str = ""
    service: str = ""
    approved_by: str | None = None
    params: Mapping[str, Any] | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
