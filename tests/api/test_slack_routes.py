"""Slack calls Handrail: signed button clicks and slash commands, with the user mapped to an identity."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from support.api import TOKENS, api_client
from support.engine import runbook
from support.servers import HttpServer, Route
from support.slack import HooksTransport, SlackServer, answer_slack_through
from support.slack_requests import SECRET, click, signed, slash_command

EXAMPLES = Path(__file__).parents[2] / "examples" / "runbooks"
SLACK = (
    "notifiers:\n  slack:\n    botToken: xoxb-test-token\n"
    f"    signingSecret: {SECRET}\n"
    "    users: {U0APPROVER: approver-user, U0VIEWER: viewer-user}\n"
)


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def answer_through(client: TestClient, base_url: str) -> HooksTransport:
    """Route the app's answers to Slack's response URLs (https://hooks.slack.com/...) to `base_url`."""
    return answer_slack_through(client.app.state.handrail, base_url)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, slack: SlackServer) -> Iterator[TestClient]:
    with api_client(tmp_path_factory.mktemp("slack"), runbooks=EXAMPLES, extra=SLACK) as client:
        answer_through(client, slack.api_url)
        yield client


def responses_to(slack: SlackServer, url_path: str, count: int) -> list[dict[str, Any]]:
    """What reached the response URL `url_path`, once `count` answers have (posted after the acknowledgement)."""
    deadline = time.monotonic() + 30
    while True:
        found = [c.payload for c in slack.calls if c.path == url_path and c.ok]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


@pytest.fixture
def incident_id(client: TestClient, request: pytest.FixtureRequest) -> str:
    body = {"runbookId": "oom-kills", "context": {"labels": {"t": request.node.name}}}
    answer = client.post("/api/v1/incidents", json=body, headers={"Authorization": f"Bearer {TOKENS['responder']}"})
    return str(answer.json()["incident"]["id"])


def timeline(client: TestClient, incident_id: str) -> list[str]:
    view = client.get(f"/api/v1/incidents/{incident_id}", headers={"Authorization": f"Bearer {TOKENS['viewer']}"})
    return [event["message"] for event in view.json()["timeline"]]


def test_an_approver_clicking_approve_records_the_approval_and_is_answered_ephemerally(
    client: TestClient, incident_id: str, slack: SlackServer
) -> None:
    url = f"https://hooks.slack.com/actions/T0/{incident_id}/approve"
    body = click(incident_id, "rollback_release", "U0APPROVER", response_url=url)
    answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert "approved by approver-user" in answer.json()["text"]
    assert "rollback_release approved by approver-user: via Slack" in timeline(client, incident_id)
    # The answer Slack shows is the one posted to the click's response_url: to the clicker only,
    # leaving the message (which the engine updates) as it is.
    [reply] = responses_to(slack, f"/actions/T0/{incident_id}/approve", 1)
    assert reply == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"rollback_release approved by approver-user on {incident_id}.",
    }


def test_a_viewer_or_an_unmapped_user_is_refused(client: TestClient, incident_id: str, slack: SlackServer) -> None:
    for user in ("U0VIEWER", "U0STRANGER"):
        url = f"https://hooks.slack.com/actions/T0/{incident_id}/{user}"
        body = click(incident_id, "rollback_release", user, response_url=url)
        answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
        assert "not mapped to a Handrail approver" in answer.json()["text"]
        [reply] = responses_to(slack, f"/actions/T0/{incident_id}/{user}", 1)
        assert reply["response_type"] == "ephemeral"
        assert reply["text"] == f"<@{user}> is not mapped to a Handrail approver; nothing was recorded."
    assert not any("approved" in m for m in timeline(client, incident_id))


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("LOCAL", id="a-local-server"),
        pytest.param("https://hooks.slack.com.evil.example/actions/1", id="a-lookalike-host"),
        pytest.param("https://hooks.slack.com:8443/actions/1", id="another-port"),
    ],
)
def test_a_click_whose_response_url_is_not_slacks_is_refused_and_nothing_is_requested(tmp_path: Path, url: str) -> None:
    with HttpServer({"/actions/1": Route()}) as elsewhere:
        url = elsewhere.url("/actions/1") if url == "LOCAL" else url
        with api_client(tmp_path, runbooks=EXAMPLES, extra=SLACK) as client:
            transport = answer_through(client, elsewhere.url())
            body = click("INC-1", "rollback_release", "U0APPROVER", response_url=url)
            answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"]["field"] == "payload"
            assert "response_url must be https://hooks.slack.com/" in answer.json()["error"]["message"]
            command = slash_command("status INC-1", "U0APPROVER", response_url=url)
            answer = client.post("/api/v1/slack/commands", content=command, headers=signed(command))
            assert answer.status_code == 400, answer.text
        assert elsewhere.requests == []
        assert transport.urls == []


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param(lambda body: signed(body, secret="wrong-secret"), "does not match the body", id="wrong"),
        pytest.param(lambda body: signed(body, age=600), "stale", id="stale"),
        pytest.param(lambda body: {"Content-Type": "application/x-www-form-urlencoded"}, "missing", id="missing"),
        pytest.param(
            lambda body: {**signed(body), "X-Slack-Request-Timestamp": "1" * 5000}, "not Unix seconds", id="5000-digits"
        ),
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


def test_a_request_without_slack_headers_is_refused_before_its_body_is_read(client: TestClient) -> None:
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"payload=" + b"a" * 1024, "more_body": read < 10}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    path = "/api/v1/slack/interactions"
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"transfer-encoding", b"chunked")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}  # fmt: skip
    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 401
    assert read == 0


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param("[" * 5000 + '"\\ud800"' + "]" * 5000, id="nested-5000-deep"),
        pytest.param('{"type": "block_actions", "n": ' + "9" * 5000 + "}", id="5000-digit-number"),
    ],
)
def test_a_signed_interaction_slack_would_never_send_is_a_400_not_a_500(client: TestClient, payload: str) -> None:
    body = urlencode({"payload": payload}).encode()
    answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["field"] == "payload"


def test_a_slack_body_past_the_limit_is_a_413(client: TestClient) -> None:
    body = b"payload=" + b"a" * (1024 * 1024)
    answer = client.post("/api/v1/slack/interactions", content=body, headers=signed(body))
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["field"] == "body"


HOSTILE = "<!channel> <http://evil.example|log in here> & more"


def test_the_run_reply_shows_outside_text_as_text_never_as_mentions_or_links(tmp_path: Path) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    book = runbook("loud", tmp_path).replace("name: Loud", "name: Loud <!here>")
    book = book.replace(f"cat {tmp_path / 'loud.state'}", f"echo '{HOSTILE}' >&2; exit 1")
    (folder / "loud.yaml").write_text(book)
    with (
        HttpServer({"/commands/1": Route()}) as slack,
        api_client(tmp_path, runbooks=folder, extra=SLACK) as client,
    ):
        answer_through(client, slack.url())
        body = slash_command("run loud", "U0APPROVER", response_url="https://hooks.slack.com/commands/1")
        answer = client.post("/api/v1/slack/commands", content=body, headers=signed(body))
        assert answer.json()["text"] == "Running the diagnostics of loud; the result follows here."
        deadline = time.monotonic() + 30
        while not slack.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        [posted] = slack.requests
    text = json.loads(posted.body)["text"]
    assert text.startswith("*Loud &lt;!here&gt;*: overall ")
    assert "stderr: &lt;!channel&gt; &lt;http://evil.example|log in here&gt; &amp; more" in text
    assert "<" not in text.replace("&lt;", "")  # no mention, no link: nothing Slack would read as markup


def test_replies_quote_what_the_user_typed_as_text(client: TestClient) -> None:
    body = slash_command("status <!channel>", "U0APPROVER")
    answer = client.post("/api/v1/slack/commands", content=body, headers=signed(body))
    assert answer.json()["text"] == "no incident &lt;!channel&gt;"


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
