"""rollback: back to the previous (or a given) revision of a Kubernetes Deployment."""

from __future__ import annotations

from pydantic import Field

from handrail.actions.base import ActionParams

__all__ = ["RollbackParams"]


class RollbackParams(ActionParams):
    """What `kubectl rollout undo deployment/<deployment> [--to-revision]` does."""

    deployment: str = Field(min_length=1)
    namespace: str = "default"
    context: str | None = None
    to_revision: int | None = Field(default=None, gt=0)
