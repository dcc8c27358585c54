"""rollback: back to the previous (or a given) revision of a Kubernetes Deployment.

What `kubectl rollout undo deployment/<name> [--to-revision=N]` does
(k8s.io/kubectl/pkg/polymorphichelpers/rollback.go):

1. GET the Deployment; a paused one is refused.
2. GET its ReplicaSets: those the deployment's `spec.selector` matches and that it controls
   (an `ownerReferences` entry with `controller: true` and the deployment's uid).
3. The current revision is the deployment's `deployment.kubernetes.io/revision` annotation; the
   target is `toRevision`, or else the highest ReplicaSet revision below the current one.
4. If that ReplicaSet's pod template already equals the deployment's (ignoring the
   `pod-template-hash` label), nothing is written.
5. A JSON patch replaces `spec.template` with the ReplicaSet's template (without the
   `pod-template-hash` label) and `metadata.annotations` with the ReplicaSet's annotations (the
   deployment keeping its own revision bookkeeping and last-applied configuration), as kubectl's
   does. Unlike kubectl's, it begins with a `test` of `metadata.generation`: if the deployment's
   spec changed after it was read (a deploy in between), the API server refuses the whole patch
   rather than rolling back from a revision nobody looked at. Status updates do not change the
   generation, so a rollout in progress does not get in the way.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from kubernetes.client import AppsV1Api
from pydantic import Field

from handrail.actions.base import ActionContext, ActionOutcome, ActionParams, ActionScope
from handrail.actions.kubernetes import (
    JSON_PATCH,
    Budget,
    KubernetesClients,
    KubernetesConnection,
    KubernetesRequestError,
    Workload,
    call_api,
    dig,
    render_name,
    render_namespace,
)

__all__ = ["POD_TEMPLATE_HASH", "REVISION", "RollbackAction", "RollbackParams"]

REVISION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
_KEPT_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
"""Annotations the deployment keeps rather than taking from the ReplicaSet (kubectl's `annotationsToSkip`)."""


class RollbackParams(ActionParams):
    """What `kubectl rollout undo deployment/<deployment> [--to-revision]` does."""

    deployment: str = Field(min_length=1)
    namespace: str = "default"
    context: str | None = None
    to_revision: int | None = Field(default=None, gt=0)


class RollbackAction:
    """Runs `rollback`: a Deployment's pod template back to an earlier ReplicaSet's."""

    def __init__(self, kubernetes: KubernetesConnection | None) -> None:
        self._clients = KubernetesClients(kubernetes)

    def describe(self, params: RollbackParams, context: ActionContext) -> str:
        """The deployment's PATCH, the revision it goes back to, and the context."""
        target = _deployment(params, context)
        to = f"revision {params.to_revision}" if params.to_revision is not None else "the previous revision"
        return (
            f"PATCH {target.path} (rollout undo to {to}: spec.template from its ReplicaSet) "
            f"{self._clients.where(params.context)}"
        )

    def scope(self, params: RollbackParams, context: ActionContext) -> ActionScope:
        """The deployment: `kubernetes:<namespace>/deployment/<name>`."""
        target = _deployment(params, context)
        return ActionScope(target=target.target, namespace=target.namespace)

    async def execute(self, params: RollbackParams, context: ActionContext) -> ActionOutcome:
        """Roll back once, within the step's timeout."""
        target = _deployment(params, context)
        budget = Budget.start(context.timeout)
        try:
            api = await self._clients.open_apps(params.context, budget)
            return await self._rollback(api, target, params.to_revision, budget)
        except KubernetesRequestError as exc:
            return ActionOutcome(False, str(exc))

    async def aclose(self) -> None:
        """Close the Kubernetes clients."""
        self._clients.close()

    async def _rollback(
        self, api: AppsV1Api, target: Workload, to_revision: int | None, budget: Budget
    ) -> ActionOutcome:
        name, namespace = target.name, target.namespace
        deployment = await call_api(budget, f"GET deployments/{name}", api.read_namespaced_deployment, name, namespace)
        if dig(deployment, "spec", "paused") is True:
            return ActionOutcome(
                False,
                f"{target} is paused: resume it first (kubectl rollout resume deployment/{name}); nothing changed",
            )
        selector = _selector(dig(deployment, "spec", "selector"))
        if not selector:
            return ActionOutcome(False, f"{target} has no spec.selector to find its ReplicaSets by")
        listed = await call_api(
            budget,
            f"GET replicasets?labelSelector={selector}",
            api.list_namespaced_replica_set,
            namespace,
            label_selector=selector,
        )
        revisions = _revisions(listed, dig(deployment, "metadata", "uid"))
        current = _revision(dig(deployment, "metadata", "annotations"))
        if current is None and revisions:
            current = max(revisions)
        chosen = _choose(revisions, current, to_revision)
        if isinstance(chosen, str):
            return ActionOutcome(False, chosen.format(target=target))
        replica_set = revisions[chosen]
        template = copy.deepcopy(dig(replica_set, "spec", "template"))
        if not isinstance(template, dict):
            return ActionOutcome(False, f"the ReplicaSet of revision {chosen} of {target} has no pod template")
        labels = dig(template, "metadata", "labels")
        if isinstance(labels, dict):
            labels.pop(POD_TEMPLATE_HASH, None)
        if _without_hash(template) == _without_hash(dig(deployment, "spec", "template")):
            return ActionOutcome(
                False, f"{target}: the current pod template already matches revision {chosen}; nothing changed"
            )
        body = _patch(deployment, replica_set, template)
        await call_api(
            budget,
            f"PATCH deployments/{name}",
            api.patch_namespaced_deployment,
            name,
            namespace,
            body,
            _content_type=JSON_PATCH,
        )
        return ActionOutcome(
            True,
            f"rolled back {target} from revision {current} to revision {chosen}",
            _images(dig(deployment, "spec", "template"), template),
        )


def _deployment(params: RollbackParams, context: ActionContext) -> Workload:
    return Workload(
        "deployment",
        render_name(params.deployment, context.template, key="deployment"),
        render_namespace(params.namespace, context.template),
    )


def _selector(selector: object) -> str:
    """A `LabelSelector` as the `labelSelector` query string (matchLabels and matchExpressions)."""
    if not isinstance(selector, dict):
        return ""
    terms: list[str] = []
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        terms += [f"{key}={value}" for key, value in sorted(match_labels.items())]
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, dict):
            continue
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In":
            terms.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            terms.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            terms.append(f"{key}")
        elif operator == "DoesNotExist":
            terms.append(f"!{key}")
    return ",".join(terms)


def _choose(revisions: Mapping[int, object], current: int | None, to_revision: int | None) -> int | str:
    """The revision to go back to, or why there is none (a message with `{target}` in it)."""
    kept = ", ".join(str(r) for r in sorted(revisions)) or "none"
    if to_revision is not None:
        if to_revision == current:
            return f"revision {to_revision} is the current revision of {{target}}; nothing changed"
        if to_revision not in revisions:
            return f"{{target}} has no revision {to_revision} (revisions kept: {kept})"
        return to_revision
    earlier = [r for r in revisions if current is None or r < current]
    if not earlier:
        before = f" before {current}" if current is not None else ""
        return f"{{target}} has no revision{before} to roll back to (revisions kept: {kept})"
    return max(earlier)


def _revision(annotations: object) -> int | None:
    value = annotations.get(REVISION) if isinstance(annotations, dict) else None
    try:
        return int(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _revisions(listed: object, uid: object) -> dict[int, dict[str, Any]]:
    """The deployment's own ReplicaSets by revision (the selector alone can match others')."""
    found: dict[int, dict[str, Any]] = {}
    items = dig(listed, "items")
    for item in items if isinstance(items, list) else []:
        references = dig(item, "metadata", "ownerReferences")
        if not isinstance(references, list):
            continue
        if not any(isinstance(r, dict) and r.get("controller") is True and r.get("uid") == uid for r in references):
            continue
        revision = _revision(dig(item, "metadata", "annotations"))
        if revision is not None:
            found[revision] = item
    return found


def _without_hash(template: object) -> object:
    template = copy.deepcopy(template)
    labels = dig(template, "metadata", "labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return template


def _patch(deployment: object, replica_set: Mapping[str, Any], template: dict[str, Any]) -> list[dict[str, Any]]:
    """kubectl's rollback patch, made conditional on the generation that was read."""
    own = dig(deployment, "metadata", "annotations")
    own = own if isinstance(own, dict) else {}
    theirs = dig(replica_set, "metadata", "annotations")
    theirs = theirs if isinstance(theirs, dict) else {}
    annotations = {k: v for k, v in own.items() if k in _KEPT_ANNOTATIONS}
    annotations |= {k: v for k, v in theirs.items() if k not in _KEPT_ANNOTATIONS}
    body: list[dict[str, Any]] = []
    generation = dig(deployment, "metadata", "generation")
    if isinstance(generation, int):
        body.append({"op": "test", "path": "/metadata/generation", "value": generation})
    body.append({"op": "replace", "path": "/spec/template", "value": template})
    # `add` sets a member whether or not it exists (RFC 6902 §4.1); `replace` needs it to exist
    body.append({"op": "replace" if own else "add", "path": "/metadata/annotations", "value": annotations})
    return body


def _images(before: object, after: object) -> str:
    """`web: registry/web:1.3 → registry/web:1.2`, one line per container whose image changes."""
    old = {c.get("name"): c.get("image") for c in _containers(before)}
    lines = [
        f"{c.get('name')}: {old.get(c.get('name'), '(new container)')} → {c.get('image')}"
        for c in _containers(after)
        if old.get(c.get("name")) != c.get("image")
    ]
    return "\n".join(lines) + "\n" if lines else ""


def _containers(template: object) -> list[dict[str, Any]]:
    containers = dig(template, "spec", "containers")
    return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []
