"""Messages that follow every step: one approval-gated incident, a real worker, Slack and PagerDuty stand-ins.

The incident is approved from Slack (a signed click through the API, answered through its
`response_url`), and the Slack stand-in must see, in order: the opening message, the approval
request, the update without buttons right after the approval, a thread reply for the action's
start and for its end, the verification, and the resolved update whose header says so. Every
message passes slack_sdk's Block Kit models as well as the stand-in's own checks; PagerDuty, the
escalation target, hears the resolution and nothing of the steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from support.api import api_client
from support.engine import EngineWorld, runbook
from support.pagerduty import PagerDutyServer
from support.slack import SlackCall, SlackServer, answer_slack_through
from support.slack_requests import SECRET, click, signed

pytestmark = pytest.mark.timeout(120)

CHANNEL, CHANNEL_ID = "#incidents-payment", "C0PAYMENTS"
ROUTING_KEY = "k" * 32
RESPONSE_URL = "https://hooks.slack.com/actions/T0/42/approve"


@pytest.fixture
def stand_ins() -> Iterator[tuple[SlackServer, PagerDutyServer]]:
    with SlackServer() as slack, PagerDutyServer() as pagerduty:
        yield slack, pagerduty


def wait_for(condition: Callable[[], bool], what: str, *, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def block_kit(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's blocks as slack_sdk's models read them: each one known, and written back unchanged."""
    blocks: list[dict[str, Any]] = payload.get("blocks") or []
    parsed = Block.parse_all(blocks)
    assert None not in parsed, blocks  # a block type slack_sdk does not know
    assert [block.to_dict() for block in parsed] == blocks  # to_dict validates each block against Slack's limits
    return blocks


def has_buttons(payload: dict[str, Any]) -> bool:
    return any(block["type"] == "actions" for block in block_kit(payload))


def header(payload: dict[str, Any]) -> str:
    text: str = block_kit(payload)[0]["text"]["text"]
    return text


def test_every_step_of_an_approved_incident_follows_in_its_slack_thread(
    tmp_path: Path, stand_ins: tuple[SlackServer, PagerDutyServer]
) -> None:
    slack, pagerduty = stand_ins
    book = (
        runbook("payments", tmp_path, approval=True, escalate_after=1000)
        .replace('primary: "#test"', f'primary: "{CHANNEL}"')
        .replace('secondary: "#test-escalation"', 'secondary: "pagerduty:sre"')
    )
    (tmp_path / "payments.state").write_text("broken\n")
    slack_settings = (
        f"  slack:\n    botToken: {slack.token}\n    apiUrl: '{slack.api_url}'\n    signingSecret: {SECRET}\n"
        "    users: {U0APPROVER: approver-user}\n"
    )
    world = EngineWorld.create(
        tmp_path,
        f"sqlite:///{tmp_path / 'h.db'}",
        runbooks={"payments": book},
        extra_settings=slack_settings
        + f"  pagerduty:\n    routingKeys: {{sre: '{ROUTING_KEY}'}}\n    url: '{pagerduty.url}'\n",
    )
    (tmp_path / "api").mkdir()
    with (
        world.worker() as worker,
        api_client(
            tmp_path / "api",
            runbooks=tmp_path / "runbooks",
            database=world.settings.database,
            extra=f"notifiers:\n{slack_settings}",
        ) as api,
    ):
        answer_slack_through(api.app.state.handrail, slack.api_url)  # type: ignore[attr-defined]
        incident = world.trigger("payments")
        world.wait_state(incident.id, "awaiting_approval")

        def message() -> dict[str, Any]:
            [found] = slack.top_level(CHANNEL_ID)
            return found.payload

        wait_for(lambda: bool(slack.top_level(CHANNEL_ID)) and has_buttons(message()), "the approval request")
        body = click(incident.id, "fix", "U0APPROVER", response_url=RESPONSE_URL)
        answer = api.post("/api/v1/slack/interactions", content=body, headers=signed(body))
        assert answer.status_code == 200, answer.text
        world.wait_state(incident.id, "resolved")
        wait_for(lambda: header(message()).startswith("✅"), "the resolved update")
        wait_for(lambda: len(slack.responses) == 1, "the answer to the click")
        assert worker.process is not None
        assert worker.process.poll() is None, worker.log()

    calls = [c for c in slack.calls if c.method != "response_url"]
    assert all(call.ok for call in slack.calls), [c.answer for c in slack.calls if not c.ok]
    [opening] = slack.top_level(CHANNEL_ID)

    def step(call: SlackCall) -> str:
        """What one call did: post the message, update it (with or without buttons), or reply in its thread."""
        payload = dict(call.payload)
        if call.method == "chat.update":
            return f"update: {header(payload)} | {'buttons' if has_buttons(payload) else 'no buttons'}"
        if payload.get("thread_ts") == opening.ts:
            return f"reply: {payload['text']}"
        return f"post: {header(payload)}"

    assert [step(call) for call in calls] == [
        "post: ⚪ Payments",  # opened before the diagnostics have run
        "update: 🔴 Payments | buttons",
        "reply: 🔴 *Approval needed*: approve Fix It? · state `awaiting_approval`",
        "update: 🔴 Payments | no buttons",  # right after the approval: the buttons are gone
        "reply: 🔴 *Approved*: Fix It approved by approver-user: via Slack · state `remediating`",
        "update: 🔴 Payments | no buttons",
        "reply: 🔴 *Action started*: starting Fix It · state `remediating`",
        "update: 🔴 Payments | no buttons",
        "reply: 🟢 *Action finished*: Fix It: succeeded · state `remediating`",
        "update: 🔴 Payments | no buttons",
        "reply: 🟢 *Verification*: verified healthy: Service State · state `verifying`",
        "update: ✅ Resolved: Payments | no buttons",
        "reply: ✅ *Resolved*: Verified healthy after remediation. · state `resolved`",
    ]
    for call in calls:  # every message, replies included, is one Slack takes
        assert call.payload.get("text"), call.payload
        block_kit(dict(call.payload))
    assert "*State:* resolved" in str(opening.payload["blocks"][1])
    assert [c.payload["channel"] for c in calls[:1]] == [CHANNEL]
    assert {c.payload["channel"] for c in calls[1:]} == {CHANNEL_ID}

    # The click was answered to the clicker alone, through its response_url, leaving the message to the engine.
    [reply] = slack.responses
    assert reply == {
        "response_type": "ephemeral",
        "replace_original": False,
        "text": f"fix approved by approver-user on {incident.id}.",
    }
    assert [c.path for c in slack.calls if c.method == "response_url"] == ["/actions/T0/42/approve"]

    # PagerDuty, the escalation target, hears the resolution once and nothing of the steps in between.
    assert [(e["event_action"], e["dedup_key"]) for e in pagerduty.events] == [("resolve", incident.id)]
    assert all(r.status == 202 for r in pagerduty.requests)
