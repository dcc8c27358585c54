"""What every action type has: a typed config model.

`describe()` and `execute()` arrive with the incident engine (#4) behind an `Action` protocol here.
"""

from __future__ import annotations

from typing import Self

from pydantic import model_validator

from handrail.runbook.model import StrictModel

__all__ = ["ActionParams", "KubernetesTarget"]


class ActionParams(StrictModel):
    """The `config` of one action type."""


class KubernetesTarget(ActionParams):
    """A workload named by exactly one of `deployment`, `statefulSet` or `daemonSet`."""

    deployment: str | None = None
    stateful_set: str | None = None
    daemon_set: str | None = None
    namespace: str = "default"
    context: str | None = None
    """A kubeconfig context; the current one (or in-cluster config) when absent."""

    @model_validator(mode="after")
    def _one_workload(self) -> Self:
        named = [n for n in (self.deployment, self.stateful_set, self.daemon_set) if n is not None]
        if len(named) != 1:
            raise ValueError("name exactly one workload: `deployment`, `statefulSet` or `daemonSet`")
        return self
