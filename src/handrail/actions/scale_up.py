"""scale_up: raise a Kubernetes workload's replicas, never above `max`."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from handrail.actions.base import KubernetesTarget

__all__ = ["ScaleUpParams"]


class ScaleUpParams(KubernetesTarget):
    """Set `replicas`, or add `step`; `max` is required so automation can never run away."""

    replicas: int | None = Field(default=None, gt=0)
    step: int | None = Field(default=None, gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _replicas_or_step(self) -> Self:
        if (self.replicas is None) == (self.step is None):
            raise ValueError("give exactly one of `replicas` (a number) or `step` (how many to add)")
        if self.replicas is not None and self.replicas > self.max:
            raise ValueError(f"`replicas` ({self.replicas}) is above `max` ({self.max})")
        return self
