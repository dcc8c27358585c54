"""Slack calls Handrail: signed button clicks and slash commands, with the user mapped to an identity."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from support.api import TOKENS, api_client

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK = (
    "notifiers:\n  slack:\n    botToken: xoxb-test-token\n"
    f"    signingSecret: {SECRET}\n"
    "    users: {U0APPROVER: approver-user, U0VIEWER: viewer-user}\n"
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with api_client(tmp_path_factory.mktemp("slack"), runbooks=EXAMPLES, extra=SLACK) as client:
        yield client


def signed(body: bytes, *, secret: str = SECRET, age: float = 0) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click(incident_id: str, remediation: str, user: str, action: str = "handrail_approve") -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [
            {
                "action_id": action,
                "type": "button",
                "value": json.dumps({"incident": incident_id, "remediation": remediation}),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.fixture
def incident_id(client: TestClient, request: pytest.FixtureRequest) -> str:
    body = {"runbookId": "oom-kills", "context": {"labels": {"t": request.node.name}}}
    answer = client.post("/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {TOKENS['responder']}"})
    return str(answer.json()["incident"]["id"])


def timeline(client: TestClient, incident_id: str) -> list[str]:
    view = client.get(f"/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    return [event["message"] for event in view.json()["timeline"]]


def test_an_approver_clicking_approve_records_the_approval(client: TestClient, incident_id: str) -> None:
    body = click(incident_id, "rollback_release", "U0APPROVER")
    answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert "approved by approver-user" in answer.json()["text"]
    assert "rollback_release approved by approver-user: via Slack" in timeline(client, incident_id)


def test_a_viewer_or_an_unmapped_user_is_refused(client: TestClient, incident_id: str) -> None:
    for user in ("U0VIEWER", "U0STRANGER"):
        body = click(incident_id, "rollback_release", user)
        answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
        assert "not mapped to a Handrail approver" in answer.json()["text"]
    assert not any("approved" in m for m in timeline(client, incident_id))


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(lambda body: signed(body, secret="wrong-secret"), "does not match the body", id="wrong"),
        pytest.param(lambda body: signed(body, age=600), "stale", id="stale"),
        pytest.param(lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, "missing", id="missing"),
    ],
)
def test_signatures_that_are_wrong_stale_or_missing_are_refused(
    client: TestClient, incident_id: str, headers: object, reason: str
) -> None:
    body = click(incident_id, "rollback_release", "U0APPROVER")
    answer = client.post("/api/v1/slack/interactions", content=body, headers=headers(body))  # type: ignore[operator]
    assert answer.status_code == 401
    assert reason in answer.json()["error"]["message"]
    assert not any("approved" in m for m in timeline(client, incident_id))


def test_a_tampered_body_fails_the_signature(client: TestClient, incident_id: str) -> None:
    body = click(incident_id, "rollback_release", "U0APPROVER")
    headers = signed(body)
    tampered = click(incident_id, "rollback_release", "U0VIEWER")
    assert client.post("/api/v1/slack/interactions", content=tampered, headers=headers).status_code == 401


def test_slash_command_status_and_trigger(client: TestClient, incident_id: str) -> None:
    def command(text: str) -> str:
        body = urlencode(
            {
                "command": "/handrail",
                "text": text,
                "user_id": "U0APPROVER",
                "channel_id": "C1",
                "response_url": "https://hooks.slack.com/commands/1",
            }
        ).encode()
        answer = client.post("/api/v1/slack/commands", content=body, headers=signed(body))
        assert answer.status_code == 200
        return str(answer.json()["text"])

    assert command(f"status {incident_id}").startswith(f"{incident_id} [P2] Containers OOM-Killed: triggered")
    assert command("trigger bad-deploy").startswith("Opened INC-")
    assert "no runbook 'nope'" in command("trigger nope")
    assert command("dance").startswith("Usage: /handrail")


def test_slash_commands_name_the_broken_file_of_a_runbook_without_server_paths(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    oom = (EXAMPLES / "oom-kills.yaml").read_text()
    (folder / "gated.yaml").write_text(oom.replace("id: oom-kills", "id: gated-restart").replace("P2", "high"))
    with api_client(tmp_path, runbooks=folder, extra=SLACK) as client:
        for verb in ("trigger", "run"):
            form = {
                "command": "/handrail",
                "text": f"{verb} gated-restart",
                "user_id": "U0APPROVER",
                "channel_id": "C1",
            }
            body = urlencode({**form, "response_url": "https://hooks.slack.com/commands/1"}).encode()
            text = client.post("/api/v1/slack/commands", content=body, headers=signed(body)).json()
            assert text["text"].startswith("runbook 'gated-restart' is in gated.yaml, which has 1 error; "), verb
            assert str(tmp_path) not in text["text"]
