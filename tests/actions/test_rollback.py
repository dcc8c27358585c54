"""rollback against the stand-in Kubernetes API server (no cluster runs here): what `kubectl rollout undo` does.

The stand-in plays the deployment controller too: each new pod template gets a ReplicaSet and
the next revision, so the history a rollback reads is the one a series of deploys leaves behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from handrail.actions.base import ActionContext, ActionOutcome, ActionScope
from handrail.actions.kubernetes import KubernetesConnection
from handrail.actions.rollback import RollbackAction, RollbackParams
from handrail.errors import ActionError
from support.kubernetes import TOKEN, KubernetesApiServer, deployment, write_kubeconfig

pytestmark = [
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]

PATH = "/apis/apps/v1/namespaces/production/deployments/payment-service"
IMAGE = "registry.example/payments:{}"


def params(**config: Any) -> RollbackParams:
    return RollbackParams.model_validate({"deployment": "payment-service", "namespace": "production"} | config)


def context(timeout: float = 10.0, **labels: str) -> ActionContext:
    return ActionContext(
        incident_id="inc-5",
        idempotency_key="inc-5:rollback:1",
        template={"labels": labels, "annotations": {}},
        timeout=timeout,
    )


@pytest.fixture
def cluster() -> Iterator[KubernetesApiServer]:
    """payment-service deployed three times: revisions 1, 2, 3 run images 1.0, 1.1, 1.2."""
    with KubernetesApiServer() as server:
        server.add(deployment("payment-service", "production", image=IMAGE.format("1.0")))
        server.roll_out("production", "payment-service", image=IMAGE.format("1.1"), change_cause="deploy 1.1")
        server.roll_out("production", "payment-service", image=IMAGE.format("1.2"), change_cause="deploy 1.2")
        yield server


@pytest.fixture
async def action(cluster: KubernetesApiServer, tmp_path: Path) -> AsyncIterator[RollbackAction]:
    path = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")
    action = RollbackAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
    yield action
    await action.aclose()


def image(cluster: KubernetesApiServer, name: str = "payment-service") -> str:
    return str(cluster.get("deployments", "production", name)["spec"]["template"]["spec"]["containers"][0]["image"])


def revision(cluster: KubernetesApiServer) -> str:
    return str(
        cluster.get("deployments", "production", "payment-service")["metadata"]["annotations"][
            "deployment.kubernetes.io/revision"
        ]
    )


async def test_rollback_action_goes_back_to_the_previous_revision(
    action: RollbackAction, cluster: KubernetesApiServer
) -> None:
    before = cluster.get("deployments", "production", "payment-service")
    old = cluster.replica_sets("production", "payment-service")[2]
    outcome = await action.execute(params(), context())
    assert outcome == ActionOutcome(
        True,
        "rolled back deployment production/payment-service from revision 3 to revision 2",
        f"payment-service: {IMAGE.format('1.2')} → {IMAGE.format('1.1')}\n",
    )
    get, listing, patch = cluster.requests
    assert (get.method, get.path) == ("GET", PATH)
    assert (listing.method, listing.path) == ("GET", "/apis/apps/v1/namespaces/production/replicasets")
    assert listing.query == {"labelSelector": ["app=payment-service"]}
    assert (patch.method, patch.path, patch.content_type) == ("PATCH", PATH, "application/json-patch+json")
    assert patch.headers["authorization"] == f"Bearer {TOKEN}"
    template = old["spec"]["template"]
    del template["metadata"]["labels"]["pod-template-hash"]
    assert patch.json == [
        {"op": "test", "path": "/metadata/generation", "value": before["metadata"]["generation"]},
        {"op": "replace", "path": "/spec/template", "value": template},
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "3", "kubernetes.io/change-cause": "deploy 1.1"},
        },
    ]
    # the pod template is swapped, and the deployment controller makes the old ReplicaSet the newest revision
    assert image(cluster) == IMAGE.format("1.1")
    assert revision(cluster) == "4"
    assert cluster.replica_sets("production", "payment-service")[4]["metadata"]["uid"] == old["metadata"]["uid"]
    stored = cluster.get("deployments", "production", "payment-service")
    assert "pod-template-hash" not in stored["spec"]["template"]["metadata"]["labels"]
    assert stored["metadata"]["annotations"]["kubernetes.io/change-cause"] == "deploy 1.1"


async def test_rollback_action_goes_back_to_a_given_revision(
    action: RollbackAction, cluster: KubernetesApiServer
) -> None:
    outcome = await action.execute(params(toRevision=1), context())
    assert outcome.ok
    assert outcome.message == "rolled back deployment production/payment-service from revision 3 to revision 1"
    assert image(cluster) == IMAGE.format("1.0")
    assert (
        "kubernetes.io/change-cause"
        not in cluster.get("deployments", "production", "payment-service")["metadata"]["annotations"]
    )


async def test_rollback_action_twice_goes_back_and_forth(action: RollbackAction, cluster: KubernetesApiServer) -> None:
    # as with kubectl: after an undo, the previous revision is the one that was just left
    first = await action.execute(params(), context())
    second = await action.execute(params(), context())
    assert first.message.endswith("from revision 3 to revision 2")
    assert second.message.endswith("from revision 4 to revision 3")
    assert image(cluster) == IMAGE.format("1.2")


async def test_rollback_action_reports_no_previous_revision(tmp_path: Path) -> None:
    with KubernetesApiServer() as cluster:
        cluster.add(deployment("payment-service", "production"))
        # another deployment's ReplicaSet that the selector matches too: not this deployment's history
        stranger = cluster.replica_sets("production", "payment-service")[1]
        stranger["metadata"] |= {"name": "payment-service-legacy"}
        stranger["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "0"
        stranger["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
        cluster.add(stranger)
        path = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")
        action = RollbackAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
        outcome = await action.execute(params(), context())
        await action.aclose()
        assert outcome == ActionOutcome(
            False,
            "deployment production/payment-service has no revision before 1 to roll back to (revisions kept: 1)",
        )
        assert cluster.writes() == []


@pytest.mark.parametrize(
    ("to", "message"),
    [
        pytest.param(
            9, "deployment production/payment-service has no revision 9 (revisions kept: 1, 2, 3)", id="unknown"
        ),
        pytest.param(
            3,
            "revision 3 is the current revision of deployment production/payment-service; nothing changed",
            id="current",
        ),
    ],
)
async def test_rollback_action_refuses_a_revision_it_cannot_go_to(
    action: RollbackAction, cluster: KubernetesApiServer, to: int, message: str
) -> None:
    outcome = await action.execute(params(toRevision=to), context())
    assert outcome == ActionOutcome(False, message)
    assert cluster.writes() == []


async def test_rollback_action_skips_a_revision_with_the_current_template(
    action: RollbackAction, cluster: KubernetesApiServer
) -> None:
    # 1.1 deployed again, before the deployment controller has made a revision of it
    cluster.roll_out("production", "payment-service", image=IMAGE.format("1.1"), observed=False)
    outcome = await action.execute(params(), context())
    assert outcome == ActionOutcome(
        False,
        "deployment production/payment-service: the current pod template already matches revision 2; nothing changed",
    )
    assert cluster.writes() == []


async def test_rollback_action_follows_a_reused_revision(action: RollbackAction, cluster: KubernetesApiServer) -> None:
    # deploying 1.1 again reuses revision 2's ReplicaSet as revision 4: the one before it is 3 (1.2)
    cluster.roll_out("production", "payment-service", image=IMAGE.format("1.1"))
    assert sorted(cluster.replica_sets("production", "payment-service")) == [1, 3, 4]
    outcome = await action.execute(params(), context())
    assert outcome.message.endswith("from revision 4 to revision 3")
    assert image(cluster) == IMAGE.format("1.2")


async def test_rollback_action_refuses_a_paused_deployment(
    action: RollbackAction, cluster: KubernetesApiServer
) -> None:
    cluster.pause("production", "payment-service")
    outcome = await action.execute(params(), context())
    assert outcome.ok is False
    assert outcome.message.startswith("deployment production/payment-service is paused: resume it first")
    assert cluster.writes() == []


async def test_rollback_action_never_overwrites_a_deploy_made_after_its_read(
    action: RollbackAction, cluster: KubernetesApiServer
) -> None:
    cluster.delay(0.5, method="PATCH")
    running = asyncio.create_task(action.execute(params(), context()))
    while not cluster.writes():  # the PATCH has arrived and waits: now someone deploys 1.3
        await asyncio.sleep(0.01)
    cluster.roll_out("production", "payment-service", image=IMAGE.format("1.3"))
    outcome = await running
    assert outcome.ok is False
    assert outcome.message.startswith("PATCH deployments/payment-service: 422 Unprocessable Entity: ")
    assert "testing value /metadata/generation failed" in outcome.message
    assert image(cluster) == IMAGE.format("1.3")


async def test_rollback_action_reports_an_unknown_deployment(action: RollbackAction) -> None:
    outcome = await action.execute(params(deployment="ghost"), context())
    assert outcome == ActionOutcome(False, 'GET deployments/ghost: 404 Not Found: deployments.apps "ghost" not found')


@pytest.mark.parametrize(
    ("verb", "resource", "call"),
    [
        pytest.param("patch", "deployments", "PATCH deployments/payment-service", id="patch"),
        pytest.param("list", "replicasets", "GET replicasets?labelSelector=app=payment-service", id="list"),
    ],
)
async def test_rollback_action_reports_a_refusal(
    action: RollbackAction, cluster: KubernetesApiServer, verb: str, resource: str, call: str
) -> None:
    cluster.refuse(verb, resource)
    outcome = await action.execute(params(), context())
    assert outcome.ok is False
    assert outcome.message.startswith(f"{call}: 403 Forbidden: ")
    assert f'cannot {verb} resource "{resource}"' in outcome.message
    assert image(cluster) == IMAGE.format("1.2")


async def test_rollback_action_gives_up_at_the_step_timeout(
    action: RollbackAction, cluster: KubernetesApiServer
) -> None:
    cluster.delay(10.0, method="PATCH")
    started = time.monotonic()
    outcome = await action.execute(params(), context(timeout=0.5))
    assert outcome == ActionOutcome(
        False, "PATCH deployments/payment-service: timed out after 0.5s (the API server may still have applied it)"
    )
    assert time.monotonic() - started < 5.0  # well short of the 10 s the stand-in holds the answer back


async def test_rollback_action_selects_replica_sets_with_match_expressions(tmp_path: Path) -> None:
    with KubernetesApiServer() as cluster:
        seeded = deployment("web", "production")
        seeded["spec"]["selector"]["matchExpressions"] = [
            {"key": "tier", "operator": "In", "values": ["api", "edge"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ]
        seeded["spec"]["template"]["metadata"]["labels"]["tier"] = "api"
        cluster.add(seeded)
        cluster.roll_out("production", "web", image="registry.example/web:2.0")
        path = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")
        action = RollbackAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
        outcome = await action.execute(params(deployment="web"), context())
        await action.aclose()
        assert outcome.message == "rolled back deployment production/web from revision 2 to revision 1"
        assert cluster.requests[1].query == {"labelSelector": ["app=web,tier in (api,edge),!canary"]}


@pytest.mark.parametrize("value", ["web; rm -rf /", "../x", "web/../../../api/v1/secrets"])
@pytest.mark.parametrize("key", ["deployment", "namespace"])
async def test_rollback_action_refuses_a_hostile_label_in_a_name(
    action: RollbackAction, cluster: KubernetesApiServer, key: str, value: str
) -> None:
    config = params(**{key: "{{ labels.app }}"})
    with pytest.raises(ActionError, match="not a Kubernetes"):
        await action.execute(config, context(app=value))
    with pytest.raises(ActionError, match="not a Kubernetes"):
        action.scope(config, context(app=value))
    assert cluster.requests == []


def test_rollback_action_describes_the_patch() -> None:
    action = RollbackAction(KubernetesConnection.model_validate({"kubeconfig": "/etc/kube", "context": "prod"}))
    assert action.describe(params(), context()) == (
        f"PATCH {PATH} (rollout undo to the previous revision: spec.template from its ReplicaSet) on context prod"
    )
    assert action.describe(params(deployment="{{ labels.app }}", toRevision=41), context(app="payment-service")) == (
        f"PATCH {PATH} (rollout undo to revision 41: spec.template from its ReplicaSet) on context prod"
    )


def test_rollback_action_scope_names_the_deployment() -> None:
    assert RollbackAction(None).scope(params(), context()) == ActionScope(
        target="kubernetes:production/deployment/payment-service", namespace="production"
    )


async def test_rollback_action_without_a_cluster_raises() -> None:
    with pytest.raises(ActionError, match="no Kubernetes cluster is configured"):
        await RollbackAction(None).execute(params(), context())
