"""restart_service against the stand-in Kubernetes API server (no cluster runs here) and real commands.

The connection is built from a kubeconfig file pointing at the stand-in, so the official client's
config loading and bearer-token header run as they would against a cluster. Also here: the
shared plumbing of handrail.actions.kubernetes (connection, client per context, name checks).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from handrail.actions.base import ActionContext, ActionOutcome, ActionScope
from handrail.actions.kubernetes import (
    Budget,
    KubernetesClients,
    KubernetesConnection,
    KubernetesRequestError,
    build_client,
    call_api,
)
from handrail.actions.restart_service import RESTARTED_AT, RestartServiceAction, RestartServiceParams
from handrail.errors import ActionError
from support.kubernetes import TOKEN, KubernetesApiServer, daemon_set, deployment, stateful_set, write_kubeconfig
from support.servers import refused_port

pytestmark = [
    pytest.mark.filterwarnings("error::ResourceWarning"),
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.timeout(30),
]

NOW = datetime(2024, 5, 1, 12, 30, 5, tzinfo=UTC)
STRATEGIC = "application/strategic-merge-patch+json"


def params(**config: Any) -> RestartServiceParams:
    return RestartServiceParams.model_validate(config)


def context(timeout: float = 10.0, **labels: str) -> ActionContext:
    return ActionContext(
        incident_id="inc-9",
        idempotency_key="inc-9:restart:1",
        template={"labels": labels, "annotations": {}},
        timeout=timeout,
    )


@pytest.fixture
def cluster() -> Iterator[KubernetesApiServer]:
    with KubernetesApiServer() as server:
        server.add(deployment("payment-service", "production"))
        server.add(stateful_set("ledger", "production"))
        server.add(daemon_set("log-agent", "production"))
        yield server


@pytest.fixture
def kubeconfig(cluster: KubernetesApiServer, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in")


@pytest.fixture
async def action(kubeconfig: Path) -> AsyncIterator[RestartServiceAction]:
    action = RestartServiceAction(
        KubernetesConnection.model_validate({"kubeconfig": str(kubeconfig)}), clock=lambda: NOW
    )
    yield action
    await action.aclose()


# -- Kubernetes -----------------------------------------------------------------------------

WORKLOADS = [
    pytest.param("deployment", "deployments", "payment-service", id="deployment"),
    pytest.param("statefulSet", "statefulsets", "ledger", id="statefulset"),
    pytest.param("daemonSet", "daemonsets", "log-agent", id="daemonset"),
]


@pytest.mark.parametrize(("key", "resource", "name"), WORKLOADS)
async def test_restart_service_action_patches_the_restarted_at_annotation(
    action: RestartServiceAction, cluster: KubernetesApiServer, key: str, resource: str, name: str
) -> None:
    outcome = await action.execute(params(**{key: name, "namespace": "production"}), context())
    kind = resource.removesuffix("s")
    assert outcome.ok, outcome
    assert outcome.message == f"restarted {kind} production/{name}: restartedAt=2024-05-01T12:30:05Z, generation 2"
    [patch] = cluster.writes()
    assert patch.method == "PATCH"
    assert patch.path == f"/apis/apps/v1/namespaces/production/{resource}/{name}"
    assert patch.content_type == STRATEGIC
    assert patch.headers["authorization"] == f"Bearer {TOKEN}"
    assert patch.json == {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2024-05-01T12:30:05Z"}}}}}
    stored = cluster.get(resource, "production", name)
    assert stored["spec"]["template"]["metadata"]["annotations"] == {RESTARTED_AT: "2024-05-01T12:30:05Z"}
    assert stored["spec"]["template"]["spec"]["containers"][0]["name"] == name  # merged, not replaced


async def test_restart_service_action_rolls_a_deployment_out_to_a_new_revision(
    action: RestartServiceAction, cluster: KubernetesApiServer
) -> None:
    await action.execute(params(deployment="payment-service", namespace="production"), context())
    revisions = cluster.replica_sets("production", "payment-service")
    assert sorted(revisions) == [1, 2]
    assert revisions[2]["spec"]["template"]["metadata"]["annotations"] == {RESTARTED_AT: "2024-05-01T12:30:05Z"}
    assert [r.method for r in cluster.requests] == ["GET", "PATCH"]  # the deployment is read first (paused?)


async def test_restart_service_action_refuses_a_paused_deployment(
    action: RestartServiceAction, cluster: KubernetesApiServer
) -> None:
    cluster.pause("production", "payment-service")
    outcome = await action.execute(params(deployment="payment-service", namespace="production"), context())
    assert outcome == ActionOutcome(
        False,
        "deployment production/payment-service is paused: resume it first "
        "(kubectl rollout resume deployment/payment-service); nothing changed",
    )
    assert cluster.writes() == []


@pytest.mark.parametrize(
    ("config", "message"),
    [
        pytest.param(
            {"deployment": "ghost"},
            'GET deployments/ghost: 404 Not Found: deployments.apps "ghost" not found',
            id="deployment",
        ),
        pytest.param(
            {"statefulSet": "ghost"},
            'PATCH statefulsets/ghost: 404 Not Found: statefulsets.apps "ghost" not found',
            id="statefulset",
        ),
    ],
)
async def test_restart_service_action_reports_an_unknown_workload(
    action: RestartServiceAction, cluster: KubernetesApiServer, config: dict[str, str], message: str
) -> None:
    outcome = await action.execute(params(**config, namespace="production"), context())
    assert outcome == ActionOutcome(False, message)


async def test_restart_service_action_reports_a_refusal_without_the_token(
    action: RestartServiceAction, cluster: KubernetesApiServer
) -> None:
    cluster.refuse("patch", "deployments")
    outcome = await action.execute(params(deployment="payment-service", namespace="production"), context())
    assert outcome.ok is False
    assert outcome.message.startswith(
        'PATCH deployments/payment-service: 403 Forbidden: deployments.apps "payment-service" is forbidden: '
        'User "system:serviceaccount:handrail:handrail" cannot patch resource "deployments"'
    )
    assert TOKEN not in outcome.message
    assert RESTARTED_AT not in str(cluster.get("deployments", "production", "payment-service"))


async def test_restart_service_action_reports_a_wrong_token(cluster: KubernetesApiServer, tmp_path: Path) -> None:
    path = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster}, current="stand-in", token="revoked-123")
    action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
    outcome = await action.execute(params(daemonSet="log-agent", namespace="production"), context())
    await action.aclose()
    assert outcome == ActionOutcome(False, "PATCH daemonsets/log-agent: 401 Unauthorized: Unauthorized")
    assert "revoked-123" not in outcome.message


async def test_restart_service_action_gives_up_at_the_step_timeout(
    action: RestartServiceAction, cluster: KubernetesApiServer
) -> None:
    cluster.delay(10.0, method="PATCH")
    started = time.monotonic()
    outcome = await action.execute(params(deployment="payment-service", namespace="production"), context(timeout=0.5))
    elapsed = time.monotonic() - started
    assert outcome == ActionOutcome(
        False, "PATCH deployments/payment-service: timed out after 0.5s (the API server may still have applied it)"
    )
    assert elapsed < 5.0  # well short of the 10 s the stand-in holds the answer back


async def test_restart_service_action_uses_the_context_it_names(cluster: KubernetesApiServer, tmp_path: Path) -> None:
    with KubernetesApiServer() as other:
        other.add(deployment("payment-service", "production"))
        path = write_kubeconfig(tmp_path / "kubeconfig", {"stand-in": cluster, "eu-west": other}, current="stand-in")
        action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
        config = params(deployment="payment-service", namespace="production", context="eu-west")
        outcome = await action.execute(config, context())
        default = await action.execute(params(deployment="payment-service", namespace="production"), context())
        await action.aclose()
        assert outcome.ok
        assert default.ok
        assert len(other.writes()) == 1
        assert len(cluster.writes()) == 1


HOSTILE = [
    pytest.param("web; rm -rf /", id="shell"),
    pytest.param("../x", id="dot-dot"),
    pytest.param("..", id="dot-dot-alone"),
    pytest.param("web/../../api/v1/secrets", id="path"),
    pytest.param("web?dryRun=All", id="query"),
    pytest.param("Web", id="uppercase"),
    pytest.param("web\n", id="newline"),
    pytest.param("", id="empty"),
    pytest.param("a" * 254, id="too-long"),
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(
    "config",
    [
        pytest.param({"deployment": "{{ labels.app }}", "namespace": "production"}, id="name"),
        pytest.param({"statefulSet": "ledger", "namespace": "{{ labels.app }}"}, id="namespace"),
    ],
)
async def test_restart_service_action_refuses_a_hostile_label_in_a_name(
    action: RestartServiceAction, cluster: KubernetesApiServer, config: dict[str, str], value: str
) -> None:
    with pytest.raises(ActionError, match="not a Kubernetes"):
        await action.execute(params(**config), context(app=value))
    with pytest.raises(ActionError, match="not a Kubernetes"):
        action.describe(params(**config), context(app=value))
    with pytest.raises(ActionError, match="not a Kubernetes"):
        action.scope(params(**config), context(app=value))
    assert cluster.requests == []


async def test_restart_service_action_renders_names_from_labels(
    action: RestartServiceAction, cluster: KubernetesApiServer
) -> None:
    config = params(deployment="{{ labels.service }}", namespace="{{ labels.namespace }}")
    outcome = await action.execute(config, context(service="payment-service", namespace="production"))
    assert outcome.ok
    assert cluster.writes()[0].path == "/apis/apps/v1/namespaces/production/deployments/payment-service"


def test_restart_service_action_describes_the_patch() -> None:
    action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": "/etc/kube", "context": "prod"}))
    text = action.describe(
        params(deployment="{{ labels.app }}", namespace="production"), context(app="payment-service")
    )
    assert text == (
        "PATCH /apis/apps/v1/namespaces/production/deployments/payment-service "
        "(rollout restart: restartedAt=<now>) on context prod"
    )
    text = action.describe(params(daemonSet="log-agent", context="eu-west"), context())
    assert text == (
        "PATCH /apis/apps/v1/namespaces/default/daemonsets/log-agent (rollout restart: restartedAt=<now>) "
        "on context eu-west"
    )
    in_cluster = RestartServiceAction(KubernetesConnection.model_validate({"inCluster": True}))
    assert in_cluster.describe(params(statefulSet="ledger"), context()).endswith(
        "statefulsets/ledger (rollout restart: restartedAt=<now>) in-cluster"
    )
    plain = RestartServiceAction(KubernetesConnection())
    assert plain.describe(params(deployment="web"), context()).endswith("on the kubeconfig's current context")


@pytest.mark.parametrize(
    ("config", "scope"),
    [
        pytest.param(
            {"deployment": "payment-service", "namespace": "production"},
            ActionScope(target="kubernetes:production/deployment/payment-service", namespace="production"),
            id="deployment",
        ),
        pytest.param(
            {"statefulSet": "ledger"},
            ActionScope(target="kubernetes:default/statefulset/ledger", namespace="default"),
            id="statefulset",
        ),
        pytest.param(
            {"daemonSet": "{{ labels.app }}", "namespace": "kube-system"},
            ActionScope(target="kubernetes:kube-system/daemonset/log-agent", namespace="kube-system"),
            id="daemonset-from-label",
        ),
        pytest.param(
            {"command": ["/usr/bin/systemctl", "restart", "{{ labels.app }}"]},
            ActionScope(target="command:systemctl", command="systemctl"),
            id="argv",
        ),
        pytest.param(
            {"command": "systemctl restart {{ labels.app }}"},
            ActionScope(target="command:sh", command="sh"),
            id="shell",
        ),
    ],
)
def test_restart_service_action_scope_names_the_target(config: dict[str, Any], scope: ActionScope) -> None:
    assert RestartServiceAction(None).scope(params(**config), context(app="log-agent")) == scope


# -- command ------------------------------------------------------------------------------


async def test_restart_service_action_runs_an_argv_command(tmp_path: Path) -> None:
    marker = tmp_path / "restarted"
    action = RestartServiceAction(None)
    config = params(
        command=[
            "sh",
            "-c",
            'printf "%s|%s" "$1" "$HANDRAIL_INCIDENT_ID" > "$2"',
            "sh",
            "{{ labels.app }}",
            str(marker),
        ]
    )
    outcome = await action.execute(config, context(app="payment; touch /tmp/x"))
    assert outcome == ActionOutcome(True, "exit 0", "")
    assert marker.read_text() == "payment; touch /tmp/x|inc-9"


async def test_restart_service_action_runs_a_shell_command_with_labels_as_data(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    action = RestartServiceAction(None)
    outcome = await action.execute(
        params(command="echo restarting {{ labels.app }}"), context(app=f"$(touch {marker})")
    )
    assert outcome == ActionOutcome(True, "exit 0", f"restarting $(touch {marker})\n")
    assert not marker.exists()


async def test_restart_service_action_reports_a_failing_command() -> None:
    outcome = await RestartServiceAction(None).execute(params(command="echo 'unit not found' >&2; exit 5"), context())
    assert outcome == ActionOutcome(False, "exit 5; stderr: unit not found", "unit not found\n")


async def test_restart_service_action_kills_a_command_at_the_step_timeout() -> None:
    action = RestartServiceAction(None, kill_grace=0.2)
    outcome = await action.execute(params(command=["sleep", "30"]), context(timeout=0.3))
    assert outcome == ActionOutcome(False, "timed out after 0.3s (process group killed)", "")


async def test_restart_service_action_raises_when_the_command_cannot_start() -> None:
    with pytest.raises(ActionError, match="cannot start 'no-such-restart-tool'"):
        await RestartServiceAction(None).execute(params(command=["no-such-restart-tool"]), context())


def test_restart_service_action_describes_the_command() -> None:
    action = RestartServiceAction(None)
    assert action.describe(params(command=["systemctl", "restart", "{{ labels.app }}"]), context(app="a b")) == (
        "systemctl restart 'a b'"
    )
    assert action.describe(params(command="systemctl restart {{ labels.app }}"), context(app="pay")) == (
        """/bin/sh -c 'systemctl restart "${HANDRAIL_V1}"'\nHANDRAIL_V1=pay"""
    )


def test_restart_service_params_keep_kubernetes_keys_away_from_a_command() -> None:
    with pytest.raises(ValidationError, match="`namespace` and `context` apply to a Kubernetes workload"):
        params(command=["systemctl", "restart", "web"], namespace="production")
    with pytest.raises(ValidationError, match="exactly one of"):
        params(command=["systemctl", "restart", "web"], deployment="web")


# -- the connection (handrail.actions.kubernetes) -------------------------------------------


async def test_a_kubernetes_action_without_a_cluster_raises() -> None:
    with pytest.raises(ActionError, match="no Kubernetes cluster is configured"):
        await RestartServiceAction(None).execute(params(deployment="web"), context())


@pytest.mark.parametrize(
    ("write", "error"),
    [
        pytest.param(None, "cannot load the kubeconfig .*: Invalid kube-config file", id="missing"),
        pytest.param("just text\n", "cannot load the kubeconfig .*: not a usable kubeconfig", id="not-yaml-object"),
    ],
)
async def test_a_kubernetes_action_raises_when_the_kubeconfig_cannot_be_loaded(
    tmp_path: Path, write: str | None, error: str
) -> None:
    path = tmp_path / "kubeconfig"
    if write is not None:
        path.write_text(write)
    action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
    with pytest.raises(ActionError, match=error):
        await action.execute(params(deployment="web"), context())


async def test_a_kubernetes_action_reports_an_unreachable_api_server(tmp_path: Path) -> None:
    with refused_port() as port:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"gone": f"http://127.0.0.1:{port}"}, current="gone")
        action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": str(path)}))
        outcome = await action.execute(params(statefulSet="ledger"), context())
        await action.aclose()
    assert outcome.ok is False
    assert outcome.message.startswith("PATCH statefulsets/ledger: cannot connect to the API server (")
    assert "Connection refused" in outcome.message


async def test_a_kubernetes_action_raises_for_an_unknown_context(kubeconfig: Path) -> None:
    action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": str(kubeconfig)}))
    with pytest.raises(ActionError, match="Expected object with name nowhere"):
        await action.execute(params(deployment="web", context="nowhere"), context())


async def test_a_kubernetes_action_refuses_a_templated_context(kubeconfig: Path) -> None:
    action = RestartServiceAction(KubernetesConnection.model_validate({"kubeconfig": str(kubeconfig)}))
    with pytest.raises(ActionError, match="cannot come from a template"):
        await action.execute(params(deployment="web", context="{{ labels.cluster }}"), context(cluster="stand-in"))


async def test_in_cluster_config_outside_a_pod_raises() -> None:
    action = RestartServiceAction(KubernetesConnection.model_validate({"inCluster": True}))
    with pytest.raises(ActionError, match="cannot load the in-cluster config: Service host/port is not set"):
        await action.execute(params(deployment="web"), context())
    with pytest.raises(ActionError, match="in-cluster config has no contexts"):
        await action.execute(params(deployment="web", context="prod"), context())


def test_kubernetes_connection_keeps_in_cluster_apart_from_a_kubeconfig() -> None:
    with pytest.raises(ValidationError, match="inCluster"):
        KubernetesConnection.model_validate({"inCluster": True, "kubeconfig": "/etc/kube"})
    with pytest.raises(ValidationError, match="Extra inputs"):
        KubernetesConnection.model_validate({"kubeconfig": "/etc/kube", "token": "x"})


def test_kubernetes_clients_build_one_client_per_context(kubeconfig: Path) -> None:
    built: list[str | None] = []
    connection = KubernetesConnection.model_validate({"kubeconfig": str(kubeconfig), "context": "stand-in"})

    def factory(conn: KubernetesConnection, name: str | None) -> Any:
        built.append(name)
        return build_client(conn, name)

    clients = KubernetesClients(connection, factory=factory)
    first = clients.client(None)
    assert clients.client("stand-in") is first  # None means the connection's default context
    assert first.configuration.retries is False
    clients.close()
    clients.client(None)
    clients.close()
    assert built == ["stand-in", "stand-in"]


# -- the stand-in refuses what the API server would (so the tests above can fail) -----------


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        pytest.param(
            "application/json",
            {"spec": {"replicas": 4}},
            "415 Unsupported Media Type: the body of the request was in an unknown format",
            id="not-a-patch-type",
        ),
        pytest.param(
            STRATEGIC,
            [{"op": "replace", "path": "/spec/replicas", "value": 4}],
            '422 Unprocessable Entity: Deployment.apps "payment-service" is invalid: '
            "a application/strategic-merge-patch+json body must be a JSON object",
            id="merge-patch-not-an-object",
        ),
        pytest.param(
            "application/json-patch+json",
            [{"path": "/spec/replicas", "value": 4}],
            '422 Unprocessable Entity: Patch.apps "payment-service" is invalid: operation 0: needs a known `op`',
            id="json-patch-without-op",
        ),
        pytest.param(
            "application/merge-patch+json",
            {"spec": {"replicas": -1}},
            '422 Unprocessable Entity: Deployment.apps "payment-service" is invalid: spec.replicas: Invalid value: -1',
            id="negative-replicas",
        ),
        pytest.param(
            "application/merge-patch+json",
            {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}},
            "`selector` does not match template `labels`",
            id="template-labels-off-selector",
        ),
        pytest.param(
            "application/merge-patch+json",
            {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 4}},
            '409 Conflict: Operation cannot be fulfilled on deployments.apps "payment-service"',
            id="stale-resource-version",
        ),
    ],
)
async def test_the_stand_in_refuses_a_patch_the_api_server_would_refuse(
    cluster: KubernetesApiServer, kubeconfig: Path, content_type: str, body: Any, message: str
) -> None:
    clients = KubernetesClients(KubernetesConnection.model_validate({"kubeconfig": str(kubeconfig)}))
    api = clients.apps(None)
    with pytest.raises(KubernetesRequestError, match=re.escape(message)):
        await call_api(
            Budget.start(5.0),
            "PATCH",
            api.patch_namespaced_deployment,
            "payment-service",
            "production",
            body,
            _content_type=content_type,
        )
    clients.close()
    assert cluster.get("deployments", "production", "payment-service")["spec"]["replicas"] == 3


async def test_the_stand_in_refuses_a_label_selector_that_does_not_parse(
    cluster: KubernetesApiServer, kubeconfig: Path
) -> None:
    clients = KubernetesClients(KubernetesConnection.model_validate({"kubeconfig": str(kubeconfig)}))
    api = clients.apps(None)
    with pytest.raises(KubernetesRequestError, match="400 Bad Request: unable to parse requirement"):
        await call_api(Budget.start(5.0), "GET", api.list_namespaced_replica_set, "production", label_selector="a=(b")
    clients.close()
