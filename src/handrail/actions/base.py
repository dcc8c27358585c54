"""What every action type has: a typed config model, and an action behind the `Action` protocol.

An action describes itself before it runs (`describe`: the exact command, SQL or API call with
every template resolved — the dry-run text) and then runs (`execute`). A run that happened but
did not succeed is an `ActionOutcome` with `ok=False`; an action that cannot run at all raises
`ActionError`. The engine records the intent before `execute` and the outcome after, so an action
is never started twice behind a person's back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, Self, TypeVar

from pydantic import model_validator

from handrail.runbook.model import StrictModel

__all__ = ["Action", "ActionContext", "ActionOutcome", "ActionParams", "ActionScope", "KubernetesTarget"]


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


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action may use besides its params."""

    incident_id: str
    idempotency_key: str
    """incident + remediation + attempt: the same key never runs twice."""
    template: Mapping[str, object] = field(default_factory=lambda: {"labels": {}, "annotations": {}})
    """`labels` and `annotations` of the alert, for `{{ ... }}` in config strings."""
    timeout: float = 60.0
    channel: str = ""
    """Where notifications go by default: the runbook's escalation primary."""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What happened when the action ran."""

    ok: bool
    message: str
    output: str = ""
    """Captured output (capped), for the timeline and the post-incident report."""


@dataclass(frozen=True, slots=True)
class ActionScope:
    """What an action touches, templates resolved: for cooldowns, allow-lists and the record.

    `target` identifies the thing acted on across incidents, e.g.
    `kubernetes:production/deployment/payment-service`, `sql:payments`, `redis:sessions/0`,
    `command:systemctl`; the same action type on the same target is what a cooldown counts.
    """

    target: str
    namespace: str | None = None
    """The Kubernetes namespace, for the `namespaces` allow-list."""
    database: str | None = None
    """The database connection name, for the `databases` allow-list."""
    command: str | None = None
    """The program run (argv[0], or `sh` for a shell script), for the `commands` allow-list."""
    cache: str | None = None
    """The cache connection name, for the `caches` allow-list."""


P_contra = TypeVar("P_contra", bound=ActionParams, contravariant=True)


class Action(Protocol[P_contra]):
    """Performs one action type."""

    def describe(self, params: P_contra, context: ActionContext) -> str:
        """The exact command, SQL or API call, with every parameter resolved (the dry-run text).

        Raises:
            ActionError: the action cannot be described (a template that cannot be rendered safely).
        """
        ...

    def scope(self, params: P_contra, context: ActionContext) -> ActionScope:
        """What this run would touch, with templates resolved.

        Raises:
            ActionError: a template cannot be rendered safely.
        """
        ...

    async def execute(self, params: P_contra, context: ActionContext) -> ActionOutcome:
        """Run the action once.

        Returns:
            The outcome; `ok=False` when it ran and failed (non-zero exit, SQL error, API refusal).

        Raises:
            ActionError: the action could not be started at all.
        """
        ...

    async def aclose(self) -> None:
        """Release what the action holds (clients, connection pools); a no-op if nothing."""
        ...
