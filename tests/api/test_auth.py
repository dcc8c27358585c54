"""Every endpoint × every role, with no token and with a wrong one: who may do what."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
ALERT = {"version": "4", "status": "firing", "alerts": []}

# (method, path, body, the least role that may call it)
ENDPOINTS = [
    ("GET", "/api/v1/incidents", None, "viewer"),
    ("GET", "/api/v1/incidents/{id}", None, "viewer"),
    ("POST", "/api/v1/incidents", {"runbookId": "oom-kills", "context": {"labels": {"n": "{n}"}}}, "responder"),
    ("POST", "/api/v1/incidents/{id}/ack", None, "responder"),
    ("POST", "/api/v1/incidents/{id}/note", {"text": "looking"}, "responder"),
    ("POST", "/api/v1/incidents/{id}/done", {"remediation": "raise_memory_limit"}, "responder"),
    ("POST", "/api/v1/incidents/{id}/skip", {"remediation": "raise_memory_limit"}, "responder"),
    ("POST", "/api/v1/incidents/{id}/approve", {"remediation": "rollback_release"}, "approver"),
    ("POST", "/api/v1/incidents/{id}/reject", {"remediation": "rollback_release"}, "approver"),
    ("POST", "/api/v1/incidents/{id}/resolve", {"reason": "fixed"}, "responder"),
    ("POST", "/api/v1/incidents/{id}/cancel", {"reason": "noise"}, "responder"),
    ("GET", "/api/v1/runbooks", None, "viewer"),
    ("GET", "/api/v1/runbooks/oom-kills", None, "viewer"),
    ("POST", "/api/v1/runbooks/reload", None, "admin"),
    ("POST", "/api/v1/alerts/alertmanager", ALERT, "alertmanager"),
]
ROLES = ["viewer", "responder", "approver", "admin", "alertmanager"]
ORDER = ["viewer", "responder", "approver", "admin"]


def allowed(role: str, needed: str) -> bool:
    if needed == "alertmanager" or role == "alertmanager":
        return role in (needed, "admin")
    return ORDER.index(role) >= ORDER.index(needed)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with api_client(tmp_path_factory.mktemp("api"), runbooks=EXAMPLES) as client:
        yield client


@pytest.fixture
def incident_id(client: TestClient, request: pytest.FixtureRequest) -> str:
    body = {"runbookId": "oom-kills", "context": {"labels": {"test": request.node.name}}}
    answer = client.post("/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["incident"]["id"])


def call(client: TestClient, method: str, path: str, body: object, headers: dict[str, str]) -> int:
    return client.request(method, path, json=body, headers=headers).status_code


@pytest.mark.parametrize(("method", "path", "body", "needed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
@pytest.mark.parametrize("role", ROLES)
def test_each_endpoint_for_each_role(
    client: TestClient, incident_id: str, method: str, path: str, body: object, needed: str, role: str
) -> None:
    path = path.replace("{id}", incident_id)
    if isinstance(body, dict) and "context" in body:
        body = {**body, "context": {"labels": {"n": f"{role}-{path}"}}}
    status = call(client, method, path, body, {"Authorization": f"Bearer {TOKENS[role]}"})
    if allowed(role, needed):
        assert status not in (401, 403), f"{role} was refused {method} {path}"
        assert status < 500
    else:
        assert status == 403


@pytest.mark.parametrize(("method", "path", "body", "needed"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ENDPOINTS])
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="wrong-token"),
        pytest.param({"Authorization": f"Basic {TOKENS['admin']}"}, id="wrong-scheme"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
    ],
)
def test_no_token_or_a_wrong_one_is_refused(
    client: TestClient, incident_id: str, method: str, path: str, body: object, needed: str, headers: dict[str, str]
) -> None:
    answer = client.request(method, path.replace("{id}", incident_id), json=body, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"


def test_health_is_open_but_says_nothing_secret(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["status"] == "ready"
    metrics = client.get("/metrics").text
    assert "handrail_incidents" in metrics
    assert "handrail_queue_depth" in metrics


def test_every_action_records_who_did_it(client: TestClient, incident_id: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['responder']}"}
    assert (
        client.post(f"/api/v1/incidents/{incident_id}/note", json={"text": "on it"}, headers=headers).status_code == 200
    )
    view = client.get(f"/api/v1/incidents/{incident_id}", headers=headers).json()
    notes = [e for e in view["timeline"] if e["kind"] == "note"]
    assert notes == [{"at": notes[0]["at"], "kind": "note", "actor": "responder-user", "message": "on it"}]
    triggered = view["triggeredBy"]
    assert triggered == "admin-user"
