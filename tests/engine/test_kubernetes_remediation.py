"""The engine drives a Kubernetes remediation end to end, against the stand-in API server.

The worker process loads the kubeconfig from the settings and restarts the deployment through the
official client; the allow-list refuses a namespace the settings do not name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.store import ActionStatus
from support.engine import EngineWorld, runbook
from support.kubernetes import STRATEGIC, KubernetesApiServer, deployment, write_kubeconfig

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@pytest.fixture
def cluster() -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer() as server:
        server.add(deployment("payment-service", "production"))
        server.add(deployment("coredns", "kube-system"))
        yield server


def restart(namespace: str, name: str) -> str:
    return f"      type: restart_service\n      config: {{deployment: {name}, namespace: {namespace}}}"


def test_the_engine_restarts_a_deployment_once_and_refuses_other_namespaces(
    tmp_path: Path, cluster: KubernetesApiServer
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")
    books = {
        "payments": runbook("payments", tmp_path, action_block=restart("production", "payment-service")),
        "dns": runbook("dns", tmp_path, action_block=restart("kube-system", "coredns")),
    }
    for name in books:
        (tmp_path / f"{name}.state").write_text("broken\n")
    settings = f"kubernetes:\n  kubeconfig: '{kubeconfig}'\nsafety:\n  allow:\n    namespaces: [production]\n"
    world = EngineWorld.create(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks=books, extra_settings=settings)
    with world.worker():
        payments = world.trigger("payments")
        dns = world.trigger("dns")
        world.wait_state(payments.id, "escalated")  # restarted, but the state file (our "health") stays broken
        world.wait_state(dns.id, "escalated")

    patches = [r for r in cluster.writes() if r.method == "PATCH"]
    assert [(r.path, r.headers["content-type"]) for r in patches] == [
        ("/apis/apps/v1/namespaces/production/deployments/payment-service", STRATEGIC)
    ]
    template = cluster.get("deployments", "production", "payment-service")["spec"]["template"]
    assert RESTARTED_AT in template["metadata"]["annotations"]

    restarted = world.service.store.action_runs(payments.id)[0]
    assert restarted.status is ActionStatus.SUCCEEDED
    assert restarted.target == "kubernetes:production/deployment/payment-service"
    refused = world.service.store.action_runs(dns.id)[0]
    assert refused.status is ActionStatus.BLOCKED
    assert refused.message == "namespace 'kube-system' is not in the namespace allow-list (production)"
