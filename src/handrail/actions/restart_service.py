"""restart_service: a rolling restart of a Kubernetes workload, or a configured command."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from handrail.actions.base import ActionParams

__all__ = ["RestartServiceParams"]


class RestartServiceParams(ActionParams):
    """Kubernetes (`deployment`/`statefulSet`/`daemonSet` + `namespace`), or `command` (argv or string)."""

    deployment: str | None = None
    stateful_set: str | None = None
    daemon_set: str | None = None
    namespace: str = "default"
    context: str | None = None
    command: str | list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        named = [n for n in (self.deployment, self.stateful_set, self.daemon_set, self.command) if n is not None]
        if len(named) != 1:
            raise ValueError("name exactly one of `deployment`, `statefulSet`, `daemonSet` or `command`")
        return self
