"""Four eyes (`api.fourEyes`) by every route: whoever opened an incident cannot approve its actions.

The opener is who opened it by any route (here: the API, the Alertmanager webhook, Slack); the
refusal comes from `IncidentService.decide`, and each face answers in its own way. The console's
answer is in tests/console/test_pages.py, the CLI's in tests/test_cli_incidents.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from support.api import TOKENS, api_client
from support.slack import SlackServer, answer_slack_through
from support.slack_requests import SECRET, click, signed, slash_command

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
SETTINGS = (
    "  fourEyes: true\n"
    "notifiers:\n  slack:\n    botToken: xoxb-test-token\n"
    f"    signingSecret: {SECRET}\n"
    "    users: {U0ADMIN: admin-user, U0APPROVER: approver-user}\n"
)


def bearer(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with (
        SlackServer() as slack,  # the answers to clicks go to their response URLs
        api_client(tmp_path_factory.mktemp("four-eyes"), runbooks=EXAMPLES, extra=SETTINGS) as client,
    ):
        answer_slack_through(client.app.state.handrail, slack.api_url)  # type: ignore[attr-defined]
        yield client


def alert(client: TestClient, role: str, fingerprint: str) -> dict[str, list[str]]:
    """Post a firing OOM alert for `oom-kills` with the token of `role`; the webhook's answer."""
    payload = {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "KubeContainerOOMKilled", "namespace": "shop", "pod": "web-1"},
                "fingerprint": fingerprint,
            }
        ],
    }
    answer = client.post("/api/v1/alerts/alertmanager", json=payload, headers=bearer(role))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def decisions(client: TestClient, incident_id: str) -> list[str]:
    view = client.get(f"/api/v1/incidents/{incident_id}", headers=bearer("viewer")).json()
    return [event["message"] for event in view["timeline"] if event["kind"] == "decision_by_person"]


def approve(client: TestClient, incident_id: str, role: str) -> tuple[int, dict[str, object]]:
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/approve", json={"remediation": "rollback_release"}, headers=bearer(role)
    )
    return answer.status_code, dict(answer.json())


def test_an_admin_who_posted_the_alert_cannot_approve_the_incident_it_opened(client: TestClient) -> None:
    [incident_id] = alert(client, "admin", "fp-admin-opens")["opened"]
    assert (
        client.get(f"/api/v1/incidents/{incident_id}", headers=bearer("viewer")).json()["triggeredBy"] == "admin-user"
    )

    status, body = approve(client, incident_id, "admin")
    assert status == 403
    assert body == {
        "error": {
            "code": "four_eyes",
            "message": f"admin-user triggered {incident_id}; someone else must approve (four eyes)",
        }
    }
    assert decisions(client, incident_id) == []

    assert approve(client, incident_id, "approver")[0] == 200
    assert decisions(client, incident_id) == ["rollback_release approved by approver-user"]


@pytest.mark.parametrize("kind", ["approve", "reject"])
def test_whoever_triggered_through_the_api_can_neither_approve_nor_reject(client: TestClient, kind: str) -> None:
    body = {"runbookId": "oom-kills", "context": {"labels": {"case": f"api-{kind}"}}}
    incident_id = client.post("/api/v1/incidents", json=body, headers=bearer("approver")).json()["incident"]["id"]
    answer = client.post(
        f"/api/v1/incidents/{incident_id}/{kind}", json={"remediation": "rollback_release"}, headers=bearer("approver")
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "four_eyes"
    assert decisions(client, incident_id) == []


def test_joining_an_open_incident_does_not_make_the_joiner_its_opener(client: TestClient) -> None:
    [incident_id] = alert(client, "alertmanager", "fp-joined")["opened"]
    assert alert(client, "admin", "fp-joined")["joined"] == [incident_id]
    assert approve(client, incident_id, "admin")[0] == 200
    assert decisions(client, incident_id) == ["rollback_release approved by admin-user"]


def test_a_slack_user_mapped_to_the_opener_cannot_approve_from_slack(client: TestClient) -> None:
    [incident_id] = alert(client, "admin", "fp-slack")["opened"]
    body = click(incident_id, "rollback_release", "U0ADMIN")
    answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert answer.json()["text"] == (
        f"Not recorded: admin-user triggered {incident_id}; someone else must approve (four eyes)"
    )
    assert decisions(client, incident_id) == []

    other = click(incident_id, "rollback_release", "U0APPROVER")
    assert (
        "approved by approver-user"
        in client.post("/api/v1/slack/interactions", content=other, headers=signed(other)).json()["text"]
    )


def test_a_slash_command_trigger_makes_the_slack_user_the_opener_everywhere(client: TestClient) -> None:
    body = slash_command("trigger oom-kills", "U0APPROVER")
    reply = client.post("/api/v1/slack/commands", content=body, headers=signed(body)).json()["text"]
    incident_id = reply.split()[1]
    assert incident_id.startswith("INC-"), reply
    # the approver's token is the same person as the Slack user mapped to it
    assert approve(client, incident_id, "approver")[0] == 403
    assert approve(client, incident_id, "admin")[0] == 200


def test_without_four_eyes_the_opener_may_approve(tmp_path: Path) -> None:
    with api_client(tmp_path, runbooks=EXAMPLES) as client:
        [incident_id] = alert(client, "admin", "fp-no-four-eyes")["opened"]
        assert approve(client, incident_id, "admin")[0] == 200
        assert json.dumps(decisions(client, incident_id)) == '["rollback_release approved by admin-user"]'
