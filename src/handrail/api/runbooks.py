"""`/api/v1/runbooks`: the catalog, each runbook explained, and assessments on demand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from handrail.api.auth import Identity
from handrail.api.deps import require, state_of
from handrail.engine import assess
from handrail.engine.service import plain_json
from handrail.explain import explain_markdown, explain_mermaid

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    labels: dict[str, str] = Field(default_factory=dict)


@router.get("/runbooks")
def list_runbooks(request: Request, _: Annotated[Identity, Depends(require("viewer"))]) -> dict[str, Any]:
    holder = state_of(request).catalog
    return {
        "runbooks": [
            {"id": rb.id, "name": rb.name, "severity": rb.severity, "service": rb.service, "lint": "ok"}
            for rb in sorted(holder.catalog.runbooks.values(), key=lambda r: r.id)
        ],
        "broken": [{"id": r.runbook_id, "path": r.path, "problems": [str(p) for p in r.errors]} for r in holder.broken],
    }


@router.get("/runbooks/{runbook_id}")
def get_runbook(
    request: Request, runbook_id: str, _: Annotated[Identity, Depends(require("viewer"))]
) -> dict[str, Any]:
    runbook = state_of(request).catalog.catalog.get(runbook_id)
    return {
        "runbook": runbook.model_dump(mode="json", by_alias=True, exclude_none=True),
        "explanation": {"markdown": explain_markdown(runbook), "mermaid": explain_mermaid(runbook)},
    }


@router.post("/runbooks/{runbook_id}/run")
async def run_runbook(
    request: Request,
    runbook_id: str,
    _: Annotated[Identity, Depends(require("responder"))],
    body: RunRequest | None = None,
) -> dict[str, Any]:
    """An assessment now; nothing is remediated and no incident is opened."""
    state = state_of(request)
    state.service.limits.check_labels(body.labels if body else {})
    runbook = state.catalog.catalog.get(runbook_id)
    result = await assess(
        runbook, probes=state.probes, labels=body.labels if body else {}, deadline=state.settings.assessment_deadline
    )
    return dict(plain_json(result.to_dict()))


@router.post("/runbooks/reload")
async def reload_runbooks(request: Request, _: Annotated[Identity, Depends(require("admin"))]) -> dict[str, Any]:
    state = state_of(request)
    return await state.service.pool.run(state.catalog.reload)  # reads every file in the folder
