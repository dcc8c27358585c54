"""restart_service: a rolling restart of a Kubernetes workload, or a configured command.

Kubernetes — what `kubectl rollout restart` does: a strategic-merge PATCH of the workload that sets
`spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` to the current time
(RFC 3339). The changed pod template makes the controller replace every pod under the workload's
own update strategy. A Deployment is read first and refused when paused, as kubectl refuses it:
its pods would not restart, and the change would roll out whenever someone resumes it.

Command — `command` runs as in run_script: a string through `/bin/sh -c` with each label value in
an environment variable, a list as argv; within the step's timeout, exit 0 is success.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from kubernetes.client import AppsV1Api
from pydantic import Field, model_validator

from handrail.actions._command import render_command, run_command
from handrail.actions.base import ActionContext, ActionOutcome, ActionParams, ActionScope
from handrail.actions.kubernetes import (
    STRATEGIC_MERGE_PATCH,
    Budget,
    KubernetesClients,
    KubernetesConnection,
    KubernetesRequestError,
    Workload,
    call_api,
    dig,
    workload,
)
from handrail.process import (
    KILL_GRACE,
    MAX_OUTPUT,
)

__all__ = ["RESTARTED_AT", "RestartServiceAction", "RestartServiceParams"]

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""The pod-template annotation `kubectl rollout restart` sets."""


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
        if self.command is not None and ({"namespace", "context"} & self.model_fields_set):
            raise ValueError("`namespace` and `context` apply to a Kubernetes workload, not to `command`")
        return self


def _utc_now() -> datetime:
    return datetime.now(UTC)


class RestartServiceAction:
    """Runs `restart_service`: a rollout restart through the Kubernetes API, or a command."""

    def __init__(
        self,
        kubernetes: KubernetesConnection | None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        max_output: int = MAX_OUTPUT,
        kill_grace: float = KILL_GRACE,
    ) -> None:
        if max_output <= 0:
            raise ValueError("max_output must be positive")
        self._clients = KubernetesClients(kubernetes)
        self._clock = clock
        self._max_output = max_output
        self._kill_grace = kill_grace

    def describe(self, params: RestartServiceParams, context: ActionContext) -> str:
        """The PATCH (path, annotation, context), or the command line and the values its environment carries."""
        if params.command is not None:
            argv, env = render_command(params.command, context)
            return "\n".join([shlex.join(argv), *(f"{key}={shlex.quote(value)}" for key, value in env.items())])
        target = workload(params, context.template)
        return f"PATCH {target.path} (rollout restart: restartedAt=<now>) {self._clients.where(params.context)}"

    def scope(self, params: RestartServiceParams, context: ActionContext) -> ActionScope:
        """The workload (`kubernetes:<ns>/<kind>/<name>`), or the program (`command:<argv[0]>`, `command:sh`)."""
        if params.command is not None:
            if isinstance(params.command, str):
                return ActionScope(target="command:sh", command="sh")
            argv, _ = render_command(params.command, context)
            program = Path(argv[0]).name
            return ActionScope(target=f"command:{program}", command=program)
        target = workload(params, context.template)
        return ActionScope(target=target.target, namespace=target.namespace)

    async def execute(self, params: RestartServiceParams, context: ActionContext) -> ActionOutcome:
        """Restart once, within the step's timeout."""
        if params.command is not None:
            return await self._run_command(params.command, context)
        target = workload(params, context.template)
        budget = Budget.start(context.timeout)
        try:
            api = await self._clients.open_apps(params.context, budget)
            return await self._restart(api, target, budget)
        except KubernetesRequestError as exc:
            return ActionOutcome(False, str(exc))

    async def aclose(self) -> None:
        """Close the Kubernetes clients."""
        self._clients.close()

    async def _restart(self, api: AppsV1Api, target: Workload, budget: Budget) -> ActionOutcome:
        read, patch = _methods(api, target.kind)
        if target.kind == "deployment":
            current = await call_api(
                budget, f"GET {target.resource}/{target.name}", read, target.name, target.namespace
            )
            if dig(current, "spec", "paused") is True:
                return ActionOutcome(
                    False,
                    f"{target} is paused: resume it first (kubectl rollout resume deployment/{target.name}); "
                    "nothing changed",
                )
        now = self._clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # RFC 3339, as kubectl writes it
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
        updated = await call_api(
            budget,
            f"PATCH {target.resource}/{target.name}",
            patch,
            target.name,
            target.namespace,
            body,
            _content_type=STRATEGIC_MERGE_PATCH,
        )
        generation = dig(updated, "metadata", "generation")
        return ActionOutcome(True, f"restarted {target}: restartedAt={now}, generation {generation}", json.dumps(body))

    async def _run_command(self, command: str | list[str], context: ActionContext) -> ActionOutcome:
        argv, env = render_command(command, context)
        return await run_command(
            argv, env, context, timeout=context.timeout, max_output=self._max_output, kill_grace=self._kill_grace
        )


def _methods(api: AppsV1Api, kind: str) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The client's read and patch calls for a workload kind."""
    if kind == "deployment":
        return api.read_namespaced_deployment, api.patch_namespaced_deployment
    if kind == "statefulset":
        return api.read_namespaced_stateful_set, api.patch_namespaced_stateful_set
    return api.read_namespaced_daemon_set, api.patch_namespaced_daemon_set
