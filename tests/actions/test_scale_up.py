"""scale_up against the stand-in Kubernetes API server (no cluster runs here): the scale subresource, capped at max."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from handrail.actions.base import ActionContext, ActionOutcome, ActionScope
from handrail.actions.kubernetes import KubernetesConnection
from handrail.actions.scale_up import ScaleUpAction, ScaleUpParams
from handrail.errors import ActionError
from support.kubernetes import TOKEN, KubernetesApiServer, deployment, stateful_set, write_kubeconfig

pytestmark = [
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]

SCALE = "/apis/apps/v1/namespaces/production/deployments/payment-service/scale"


def params(**config: Any) -> ScaleUpParams:
    return ScaleUpParams.model_validate({"deployment": "payment-service", "namespace": "production"} | config)


def context(timeout: float = 10.0, **labels: str) -> ActionContext:
    return ActionContext(
        incident_id="inc-3",
        idempotency_key="inc-3:scale:1",
        template={"labels": labels, "annotations": {}},
        timeout=timeout,
    )


@pytest.fixture
def cluster() -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer() as server:
        server.add(deployment("payment-service", "production", replicas=3))
        server.add(stateful_set("ledger", "production", replicas=2))
        yield server


@pytest.fixture
async def action(cluster: KubernetesApiServer, tmp_path: Path) -> AsyncIterator[ScaleUpAction]:
    path = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")
    action = ScaleUpAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
    yield action
    await action.aclose()


def replicas(cluster: KubernetesApiServer, resource: str = "deployments", name: str = "payment-service") -> int:
    return int(cluster.get(resource, "production", name)["spec"]["replicas"])


@pytest.mark.parametrize(
    ("config", "message", "new"),
    [
        pytest.param({"replicas": 6}, "from 3 to 6 (max 10)", 6, id="replicas"),
        pytest.param({"step": 2}, "from 3 to 5 (max 10)", 5, id="step"),
        pytest.param({"step": 9}, "from 3 to 10 (max 10; 12 asked, capped)", 10, id="step-capped-at-max"),
    ],
)
async def test_scale_up_action_patches_the_scale_subresource(
    action: ScaleUpAction, cluster: KubernetesApiServer, config: dict[str, int], message: str, new: int
) -> None:
    outcome = await action.execute(params(max=10, **config), context())
    assert outcome == ActionOutcome(True, f"scaled deployment production/payment-service {message}")
    read, patch = cluster.requests
    assert (read.method, read.path) == ("GET", SCALE)
    assert (patch.method, patch.path) == ("PATCH", SCALE)
    assert patch.content_type == "application/json-patch+json"
    assert patch.headers["authorization"] == f"Bearer {TOKEN}"
    assert patch.json == [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": new},
    ]
    assert replicas(cluster) == new
    assert cluster.get("deployments", "production", "payment-service")["metadata"]["generation"] == 2


async def test_scale_up_action_scales_a_stateful_set(action: ScaleUpAction, cluster: KubernetesApiServer) -> None:
    outcome = await action.execute(
        ScaleUpParams.model_validate({"statefulSet": "ledger", "namespace": "production", "step": 1, "max": 5}),
        context(),
    )
    assert outcome == ActionOutcome(True, "scaled statefulset production/ledger from 2 to 3 (max 5)")
    assert [r.path for r in cluster.requests] == ["/apis/apps/v1/namespaces/production/statefulsets/ledger/scale"] * 2
    assert replicas(cluster, "statefulsets", "ledger") == 3


@pytest.mark.parametrize(
    ("current", "config", "message"),
    [
        pytest.param(10, {"step": 1}, "is already at max 10 (10 replicas); nothing changed", id="at-max"),
        pytest.param(12, {"replicas": 4}, "is already at max 10 (12 replicas); nothing changed", id="above-max"),
        pytest.param(
            7,
            {"replicas": 5},
            "already has 7 replicas, not fewer than the 5 asked for; nothing changed",
            id="above-asked",
        ),
        pytest.param(
            5, {"replicas": 5}, "already has 5 replicas, not fewer than the 5 asked for; nothing changed", id="at-asked"
        ),
    ],
)
async def test_scale_up_action_changes_nothing_when_it_cannot_add(
    action: ScaleUpAction, cluster: KubernetesApiServer, current: int, config: dict[str, int], message: str
) -> None:
    cluster.set_replicas("deployments", "production", "payment-service", current)
    outcome = await action.execute(params(max=10, **config), context())
    assert outcome == ActionOutcome(False, f"deployment production/payment-service {message}")
    assert cluster.writes() == []
    assert replicas(cluster) == current


async def test_scale_up_action_never_overwrites_a_change_made_after_its_read(
    action: ScaleUpAction, cluster: KubernetesApiServer
) -> None:
    cluster.delay(0.5, method="PATCH")
    running = asyncio.create_task(action.execute(params(step=2, max=10), context()))
    while not cluster.writes():  # the PATCH has arrived and waits: now an autoscaler scales to 8
        await asyncio.sleep(0.01)
    cluster.set_replicas("deployments", "production", "payment-service", 8)
    outcome = await running
    assert outcome.ok is False
    assert outcome.message.startswith("PATCH deployments/payment-service/scale: 422 Unprocessable Entity: ")
    assert "testing value /spec/replicas failed" in outcome.message
    assert replicas(cluster) == 8  # not lowered to 5


async def test_scale_up_action_reports_an_unknown_deployment(action: ScaleUpAction) -> None:
    outcome = await action.execute(params(deployment="ghost", step=1, max=3), context())
    assert outcome == ActionOutcome(
        False, 'GET deployments/ghost/scale: 404 Not Found: deployments.apps "ghost" not found'
    )


async def test_scale_up_action_reports_a_refusal(action: ScaleUpAction, cluster: KubernetesApiServer) -> None:
    cluster.refuse("patch", "deployments/scale")
    outcome = await action.execute(params(step=1, max=10), context())
    assert outcome.ok is False
    assert outcome.message.startswith("PATCH deployments/payment-service/scale: 403 Forbidden: ")
    assert 'cannot patch resource "deployments/scale"' in outcome.message
    assert replicas(cluster) == 3


async def test_scale_up_action_gives_up_at_the_step_timeout(
    action: ScaleUpAction, cluster: KubernetesApiServer
) -> None:
    cluster.delay(10.0, method="GET")
    started = time.monotonic()
    outcome = await action.execute(params(step=1, max=10), context(timeout=0.5))
    assert outcome == ActionOutcome(False, "GET deployments/payment-service/scale: timed out after 0.5s")
    assert time.monotonic() - started < 5.0  # well short of the 10 s the stand-in holds the answer back
    assert cluster.writes() == []


@pytest.mark.parametrize("value", ["web; rm -rf /", "../x", "payment-service/scale", "PAYMENT"])
async def test_scale_up_action_refuses_a_hostile_label_in_the_name(
    action: ScaleUpAction, cluster: KubernetesApiServer, value: str
) -> None:
    config = params(deployment="{{ labels.app }}", step=1, max=10)
    with pytest.raises(ActionError, match="not a Kubernetes name"):
        await action.execute(config, context(app=value))
    with pytest.raises(ActionError, match="not a Kubernetes name"):
        action.describe(config, context(app=value))
    assert cluster.requests == []


def test_scale_up_action_describes_the_patch() -> None:
    action = ScaleUpAction(KubernetesConnection.model_validate({"kubeconfig": "/etc/kube", "context": "prod"}))
    assert action.describe(params(step=2, max=10), context()) == (
        f"PATCH {SCALE} (spec.replicas = current + 2, at most 10, never lowered) on context prod"
    )
    assert action.describe(params(replicas=6, max=10, context="eu-west"), context()) == (
        f"PATCH {SCALE} (spec.replicas = 6, at most 10, never lowered) on context eu-west"
    )


def test_scale_up_action_scope_names_the_workload() -> None:
    config = ScaleUpParams.model_validate({"statefulSet": "{{ labels.app }}", "namespace": "data", "step": 1, "max": 4})
    assert ScaleUpAction(None).scope(config, context(app="ledger")) == ActionScope(
        target="kubernetes:data/statefulset/ledger", namespace="data"
    )


async def test_scale_up_action_without_a_cluster_raises() -> None:
    with pytest.raises(ActionError, match="no Kubernetes cluster is configured"):
        await ScaleUpAction(None).execute(params(step=1, max=3), context())


@pytest.mark.parametrize(
    ("config", "error"),
    [
        pytest.param({"step": 1}, "max", id="max-required"),
        pytest.param({"replicas": 11, "max": 10}, "above `max`", id="replicas-above-max"),
        pytest.param({"replicas": 3, "step": 1, "max": 10}, "exactly one of `replicas`", id="both"),
        pytest.param({"daemonSet": "agent", "deployment": None, "step": 1, "max": 3}, "DaemonSet", id="daemonset"),
    ],
)
def test_scale_up_params_refuse(config: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        params(**config)
