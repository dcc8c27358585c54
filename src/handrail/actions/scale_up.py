"""scale_up: raise a Kubernetes workload's replicas, never above `max`.

Through the scale subresource (autoscaling/v1 `Scale`), as `kubectl scale` does: read
`.../deployments/<name>/scale` (or `statefulsets`), compute `replicas` — or the current count plus
`step` — capped at `max`, then PATCH it. The PATCH is a JSON patch whose first operation tests
that `spec.replicas` still holds the count that was read, so a change that lands in between (an
autoscaler, a person) makes the API server refuse the write instead of being overwritten, and
scale_up can never scale down. Nothing is written when the workload is already at `max` or at
or above the count asked for; those runs are failed outcomes, since they added no capacity.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from kubernetes.client import AppsV1Api
from pydantic import Field, model_validator

from handrail.actions.base import ActionContext, ActionOutcome, ActionScope, KubernetesTarget
from handrail.actions.kubernetes import (
    JSON_PATCH,
    Budget,
    KubernetesClients,
    KubernetesConnection,
    KubernetesRequestError,
    Workload,
    call_api,
    dig,
    workload,
)

__all__ = ["ScaleUpAction", "ScaleUpParams"]


class ScaleUpParams(KubernetesTarget):
    """Set `replicas`, or add `step`; `max` is required so automation can never run away."""

    replicas: int | None = Field(default=None, gt=0)
    step: int | None = Field(default=None, gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def _replicas_or_step(self) -> Self:
        if self.daemon_set is not None:
            raise ValueError(
                "a DaemonSet runs one pod per node and has no replicas: scale a `deployment` or `statefulSet`"
            )
        if (self.replicas is None) == (self.step is None):
            raise ValueError("give exactly one of `replicas` (a number) or `step` (how many to add)")
        if self.replicas is not None and self.replicas > self.max:
            raise ValueError(f"`replicas` ({self.replicas}) is above `max` ({self.max})")
        return self


class ScaleUpAction:
    """Runs `scale_up` through the scale subresource of a Deployment or StatefulSet."""

    def __init__(self, kubernetes: KubernetesConnection | None) -> None:
        self._clients = KubernetesClients(kubernetes)

    def describe(self, params: ScaleUpParams, context: ActionContext) -> str:
        """The scale subresource's path, the new count (or how it is computed) and the cap."""
        target = workload(params, context.template)
        wanted = f"{params.replicas}" if params.replicas is not None else f"current + {params.step}"
        return (
            f"PATCH {target.path}/scale (spec.replicas = {wanted}, at most {params.max}, never lowered) "
            f"{self._clients.where(params.context)}"
        )

    def scope(self, params: ScaleUpParams, context: ActionContext) -> ActionScope:
        """The workload: `kubernetes:<namespace>/<kind>/<name>`."""
        target = workload(params, context.template)
        return ActionScope(target=target.target, namespace=target.namespace)

    async def execute(self, params: ScaleUpParams, context: ActionContext) -> ActionOutcome:
        """Read the scale, write the new count once; within the step's timeout."""
        target = workload(params, context.template)
        budget = Budget.start(context.timeout)
        try:
            api = await self._clients.open_apps(params.context, budget)
            return await self._scale(api, target, params, budget)
        except KubernetesRequestError as exc:
            return ActionOutcome(False, str(exc))

    async def aclose(self) -> None:
        """Close the Kubernetes clients."""
        self._clients.close()

    async def _scale(self, api: AppsV1Api, target: Workload, params: ScaleUpParams, budget: Budget) -> ActionOutcome:
        read, patch = _scale_methods(api, target.kind)
        what = f"{target.resource}/{target.name}/scale"
        scale = await call_api(budget, f"GET {what}", read, target.name, target.namespace)
        current = dig(scale, "spec", "replicas")
        current = 0 if current is None else current  # omitted from JSON when zero
        if not isinstance(current, int) or isinstance(current, bool):
            return ActionOutcome(False, f"{target}: the scale subresource has no usable spec.replicas ({current!r})")
        if current >= params.max:
            return ActionOutcome(
                False, f"{target} is already at max {params.max} ({current} replicas); nothing changed"
            )
        wanted = params.replicas if params.replicas is not None else current + (params.step or 0)
        new = min(wanted, params.max)
        if new <= current:
            return ActionOutcome(
                False,
                f"{target} already has {current} replicas, not fewer than the {wanted} asked for; nothing changed",
            )
        body = [
            {"op": "test", "path": "/spec/replicas", "value": current},
            {"op": "replace", "path": "/spec/replicas", "value": new},
        ]
        await call_api(budget, f"PATCH {what}", patch, target.name, target.namespace, body, _content_type=JSON_PATCH)
        capped = f"; {wanted} asked, capped" if new < wanted else ""
        return ActionOutcome(True, f"scaled {target} from {current} to {new} (max {params.max}{capped})")


def _scale_methods(api: AppsV1Api, kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The client's read and patch calls for the scale subresource of a workload kind."""
    if kind == "deployment":
        return api.read_namespaced_deployment_scale, api.patch_namespaced_deployment_scale
    return api.read_namespaced_stateful_set_scale, api.patch_namespaced_stateful_set_scale
