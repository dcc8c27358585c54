"""Shadow versions in the faces (#15): an alert opens the active incident with its shadow beside it; the API, the
console and `/metrics` show the shadow's plan and its agreement, and never list or count it as an incident.

The app runs in process on a real SQLite store without a worker; the plans are written through the store as the
engine's diagnose step writes them (tests/engine/test_shadow.py runs the engine itself).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from handrail.api.state import ApiState
from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
ADMIN = {"Authorization": f"Bearer {TOKENS['admin']}"}
ALERT = {
    "status": "firing",
    "alerts": [{"status": "firing", "labels": {"alertname": "CheckoutErrorRateHigh", "pod": "<b>checkout-1</b>"}}],
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    folder = tmp_path / "runbooks"
    shutil.copytree(EXAMPLES, folder)
    active = (folder / "bad-deploy.yaml").read_text()
    shadow = active.replace("id: bad-deploy\n", "id: bad-deploy-v2\nshadowOf: bad-deploy\n", 1)
    (folder / "bad-deploy-v2.yaml").write_text(shadow)
    extra = "  sessionSecret: console-test-session-secret-0123456789\n"
    with api_client(tmp_path, runbooks=folder, extra=extra) as client:
        yield client


def state(client: TestClient) -> ApiState:
    found: ApiState = client.app.state.handrail  # type: ignore[attr-defined]
    return found


def alert(client: TestClient) -> tuple[str, str]:
    """Post the alert; the incident's id and its shadow's."""
    answer = client.post(
        "/api/v1/alerts/alertmanager", json=ALERT, headers={"Authorization": f"Bearer {TOKENS['alertmanager']}"}
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["opened"]) == 1  # the shadow's own alert triggers open nothing
    incident_id = answer.json()["opened"][0]
    shadows = state(client).service.store.shadows(incident_id)
    assert [s.runbook_id for s in shadows] == ["bad-deploy-v2"]
    return incident_id, shadows[0].id


def plan(client: TestClient, incident_id: str, remediations: list[str]) -> None:
    state(client).service.store.set_assessment(incident_id, {"overallSeverity": "critical"}, remediations, "critical")


def test_an_alert_opens_the_incident_with_its_shadow_and_the_api_shows_both_plans(client: TestClient) -> None:
    incident_id, shadow_id = alert(client)
    shown = client.get(f"/api/v1/incidents/{incident_id}/shadows", headers=ADMIN).json()
    assert shown["shadows"][0]["agrees"] is None  # neither has planned yet
    plan(client, incident_id, ["rollback_checkout"])
    plan(client, shadow_id, ["inspect_rollout"])
    shown = client.get(f"/api/v1/incidents/{incident_id}/shadows", headers=ADMIN).json()
    assert shown["plan"] == ["rollback_checkout"]
    assert [(s["id"], s["runbookId"], s["plan"], s["agrees"]) for s in shown["shadows"]] == [
        (shadow_id, "bad-deploy-v2", ["inspect_rollout"], False)
    ]
    listed = client.get("/api/v1/incidents", headers=ADMIN).json()["incidents"]
    assert [i["id"] for i in listed] == [incident_id]
    assert client.get(f"/api/v1/incidents/{shadow_id}", headers=ADMIN).json()["shadowOf"] == incident_id
    refused = client.post(f"/api/v1/incidents/{shadow_id}/ack", headers=ADMIN)
    assert refused.status_code == 409
    assert f"is a shadow run beside {incident_id}" in refused.text
    manual = client.post("/api/v1/incidents", json={"runbookId": "bad-deploy-v2"}, headers=ADMIN)
    assert manual.status_code == 409
    assert "bad-deploy-v2 is a shadow of bad-deploy" in manual.text


def test_metrics_count_shadow_runs_and_agreements_and_no_shadow_incident(client: TestClient) -> None:
    for active_plan, shadow_plan in (["rollback_checkout"], ["rollback_checkout"]), (["rollback_checkout"], []):
        incident_id, shadow_id = alert(client)
        plan(client, incident_id, active_plan)
        plan(client, shadow_id, shadow_plan)
        resolved = client.post(f"/api/v1/incidents/{incident_id}/resolve", headers=ADMIN)  # the next alert opens anew
        assert resolved.status_code == 200, resolved.text
    text = client.get("/metrics").text
    assert 'handrail_shadow_runs_total{runbook="bad-deploy",shadow="bad-deploy-v2"} 2.0' in text
    assert 'handrail_shadow_agreements_total{runbook="bad-deploy",shadow="bad-deploy-v2"} 1.0' in text
    incidents = re.findall(r'^handrail_incidents\{runbook="([^"]+)",state="([^"]+)"\} (\S+)$', text, re.MULTILINE)
    assert incidents == [("bad-deploy", "resolved", "2.0")]


def log_in(client: TestClient) -> None:
    answer = client.post("/login", data={"token": TOKENS["responder"], "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303


def test_the_incident_page_shows_the_shadow_plan_beside_its_own(client: TestClient) -> None:
    incident_id, shadow_id = alert(client)
    plan(client, incident_id, ["rollback_checkout"])
    plan(client, shadow_id, ["inspect_rollout"])
    log_in(client)
    page = client.get(f"/incidents/{incident_id}").text
    row = re.search(r'<tr data-shadow="bad-deploy-v2">(.*?)</tr>', page, re.DOTALL)
    assert row is not None
    assert f'href="/incidents/{shadow_id}"' in row.group(1)
    assert (
        '<td class="shadow-plan">inspect_rollout</td><td>rollback_checkout</td><td class="agrees">no</td>'
        in row.group(1)
    )
    listing = client.get("/").text
    assert incident_id in listing
    assert shadow_id not in listing
    shadow_page = client.get(f"/incidents/{shadow_id}").text
    assert "shadow run beside" in shadow_page
    assert f'action="/incidents/{shadow_id}/ack"' not in shadow_page  # nothing to acknowledge, resolve or cancel
    assert "&lt;b&gt;checkout-1&lt;/b&gt;" in shadow_page  # the labels it shares are escaped like any


def test_the_runbook_page_shows_how_often_the_shadow_agreed(client: TestClient) -> None:
    log_in(client)
    assert "no run has been compared yet" in client.get("/runbooks/bad-deploy").text
    incident_id, shadow_id = alert(client)
    plan(client, incident_id, ["rollback_checkout"])
    plan(client, shadow_id, ["rollback_checkout"])
    for page in (client.get("/runbooks/bad-deploy").text, client.get("/runbooks/bad-deploy-v2").text):
        row = re.search(r'<tr data-shadow="bad-deploy-v2">(.*?)</tr>', page, re.DOTALL)
        assert row is not None
        assert '<td class="runs">1</td><td class="agreements">1</td><td>100%</td>' in row.group(1)
    assert "shadow version of" in client.get("/runbooks/bad-deploy-v2").text
