"""`/api/v1/incidents`: trigger, list, read and act on incidents."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from handrail.api.auth import Identity
from handrail.api.deps import require, state_of
from handrail.api.errors import ApiError
from handrail.engine.service import IncidentRecord, incident_summary, shadow_summary
from handrail.handoff import handoff_dict

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
MAX_OFFSET = 1_000_000_000
"""Far past any real list; larger numbers overflow the databases' 64-bit OFFSET (a 500 before, #9 fuzzing)."""
REFERENCE_WAIT = 60.0
"""Seconds `/incidents/trigger` waits for the diagnostics before it answers 504."""

Viewer = Annotated[Identity, Depends(require("viewer"))]
Responder = Annotated[Identity, Depends(require("responder"))]
Approver = Annotated[Identity, Depends(require("approver"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TriggerContext(_Body):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    dedupKey: str | None = None


class TriggerRequest(_Body):
    runbookId: str = Field(min_length=1, max_length=128)
    alertName: str | None = None
    context: TriggerContext = Field(default_factory=TriggerContext)
    dryRun: bool = False


class DecisionRequest(_Body):
    remediation: str = Field(min_length=1, max_length=128)
    reason: str = ""
    """At most `api.limits.reasonChars` (IncidentService checks)."""


class NoteRequest(_Body):
    text: str = Field(min_length=1)
    """At most `api.limits.noteChars` (IncidentService checks)."""


class CloseRequest(_Body):
    reason: str = ""


async def _trigger(request: Request, body: TriggerRequest, identity: Identity) -> tuple[IncidentRecord, bool]:
    state = state_of(request)
    state.service.limits.check_labels(body.context.labels, field="context.labels")
    state.service.limits.check_annotations(body.context.annotations, field="context.annotations")
    runbook = state.catalog.catalog.get(body.runbookId)
    return await state.service.trigger(
        runbook,
        trigger_type="manual",
        triggered_by=identity.name,
        labels=body.context.labels,
        annotations=body.context.annotations,
        dedup_key=body.context.dedupKey,
        dry_run=body.dryRun,
    )


@router.post("/incidents", status_code=202)
async def trigger_incident(request: Request, body: TriggerRequest, identity: Responder) -> dict[str, Any]:
    """Open an incident (or join the open one with the same dedup key)."""
    record, opened = await _trigger(request, body, identity)
    return {"incident": incident_summary(record), "opened": opened}


@router.post("/incidents/trigger")
async def trigger_reference(request: Request, body: TriggerRequest, identity: Responder) -> dict[str, Any]:
    """The reference API: trigger, wait for the diagnostics (up to 60 s), answer with the execution."""
    record, _ = await _trigger(request, body, identity)
    current = await state_of(request).service.wait_for_assessment(record.id, timeout=REFERENCE_WAIT)
    if current is not None and current.assessment is not None:
        execution = dict(current.assessment)
        results = len(execution.get("diagnosticResults", []))
        actions = len(execution.get("recommendedActions", []))
        return {
            "execution": execution,
            "incidentId": record.id,
            "message": f"Runbook executed. {results} diagnostics run, {actions} actions recommended.",
        }
    raise ApiError(504, "timeout", f"{record.id} was opened, but its diagnostics did not finish within 60 s")


@router.get("/incidents")
async def list_incidents(
    request: Request,
    _: Viewer,
    state: Annotated[list[str] | None, Query()] = None,
    runbookId: str | None = None,
    open: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """Incidents, newest first (`{"incidents": [...]}` as in the reference API)."""
    records = await state_of(request).service.find(
        states=state or (), open_only=open, runbook_id=runbookId, limit=limit, offset=offset
    )
    return {"incidents": [incident_summary(r) for r in records], "limit": limit, "offset": offset}


@router.get("/incidents/{incident_id}")
async def get_incident(request: Request, incident_id: str, _: Viewer) -> dict[str, Any]:
    record, timeline, runs = await state_of(request).service.story(incident_id)
    return handoff_dict(record, timeline, runs)


@router.get("/incidents/{incident_id}/shadows")
async def get_shadows(request: Request, incident_id: str, _: Viewer) -> dict[str, Any]:
    """The shadow versions' runs beside an incident (#15): each plan, and whether it agrees with the incident's."""
    service = state_of(request).service
    record = await service.get(incident_id)
    shadows = await service.shadows(incident_id)
    return {"incident": record.id, "plan": list(record.plan), "shadows": [shadow_summary(record, s) for s in shadows]}


async def _decide(
    request: Request, incident_id: str, kind: str, body: DecisionRequest, identity: Identity
) -> dict[str, Any]:
    service = state_of(request).service
    record = await service.decide(incident_id, body.remediation, kind, actor=identity.name, reason=body.reason)
    return {"incident": incident_summary(record), "recorded": kind}


@router.post("/incidents/{incident_id}/approve")
async def approve(request: Request, incident_id: str, body: DecisionRequest, identity: Approver) -> dict[str, Any]:
    return await _decide(request, incident_id, "approve", body, identity)


@router.post("/incidents/{incident_id}/reject")
async def reject(request: Request, incident_id: str, body: DecisionRequest, identity: Approver) -> dict[str, Any]:
    return await _decide(request, incident_id, "reject", body, identity)


@router.post("/incidents/{incident_id}/done")
async def done(request: Request, incident_id: str, body: DecisionRequest, identity: Responder) -> dict[str, Any]:
    return await _decide(request, incident_id, "done", body, identity)


@router.post("/incidents/{incident_id}/skip")
async def skip(request: Request, incident_id: str, body: DecisionRequest, identity: Responder) -> dict[str, Any]:
    return await _decide(request, incident_id, "skip", body, identity)


@router.post("/incidents/{incident_id}/ack")
async def ack(request: Request, incident_id: str, identity: Responder) -> dict[str, Any]:
    return {"incident": incident_summary(await state_of(request).service.acknowledge(incident_id, actor=identity.name))}


@router.post("/incidents/{incident_id}/note")
async def note(request: Request, incident_id: str, body: NoteRequest, identity: Responder) -> dict[str, Any]:
    record = await state_of(request).service.note(incident_id, body.text, actor=identity.name)
    return {"incident": incident_summary(record)}


@router.post("/incidents/{incident_id}/{verb}")
async def close(
    request: Request,
    incident_id: str,
    verb: Literal["resolve", "cancel"],
    identity: Responder,
    body: CloseRequest | None = None,
) -> dict[str, Any]:
    service = state_of(request).service
    method = service.resolve if verb == "resolve" else service.cancel
    record = await method(incident_id, actor=identity.name, reason=body.reason if body else "")
    return {"incident": incident_summary(record)}
