"""slack against a local stand-in for Slack (tests/support/slack.py) that checks every payload.

The stand-in answers like Slack: `ok: false` with an error code for what Slack refuses (a channel
name given to `chat.update`, a `ts` it never issued, blocks over a limit), so a notifier that sends
something Slack would refuse fails here too.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from handrail.errors import NotifyError
from handrail.notify.base import Notification, Notifier
from handrail.notify.slack import InMemoryMessageRefs, SlackNotifier, SlackNotifierConfig
from handrail.notify.slack_blocks import APPROVE_ACTION_ID
from support.servers import HttpServer, Route, refused_port, server_threads, silent_port
from support.slack import WEBHOOK_PATH, SlackServer, block_problems

pytestmark = pytest.mark.timeout(30)

TOKEN = "xoxb-test-t0ken"
CHANNEL = "#incidents-payment"
CHANNEL_ID = "C0PAYMENTS"


def note(
    kind: str = "opened", *, incident: str | None = "INC-42", target: str = CHANNEL, **changes: Any
) -> Notification:
    headlines = {
        "opened": "incident opened",
        "approval_needed": "approve Kill idle connections?",
        "action": "running Kill idle connections",
        "resolved": "resolved",
    }
    states = {
        "opened": "triggered",
        "approval_needed": "awaiting_approval",
        "action": "remediating",
        "resolved": "resolved",
    }
    values: dict[str, Any] = {
        "target": target,
        "kind": kind,
        "title": f"[P1] Payment DB connections — {headlines.get(kind, kind)}",
        "text": "alert trigger by alertmanager (instance=db-1)",
        "severity": "P1",
        "incident_id": incident,
        "fields": {
            "incident": incident or "",
            "service": "payments",
            "runbook": "payment-db",
            "state": states.get(kind, ""),
        },
        "dedup_key": f"{incident}:1:{kind}",
    }
    return Notification(**(values | changes))


@pytest.fixture
def slack() -> Any:
    with SlackServer(token=TOKEN) as server:
        yield server
    assert not [t for t in server_threads() if "slack" in t.name]


def bot(server: SlackServer, refs: InMemoryMessageRefs | None = None, **options: Any) -> SlackNotifier:
    options.setdefault("console_url", "https://handrail.example.com")
    return SlackNotifier(bot_token=SecretStr(TOKEN), api_url=server.api_url, refs=refs, **options)


async def failure(notifier: SlackNotifier, notification: Notification | None = None) -> NotifyError:
    with pytest.raises(NotifyError) as caught:
        await notifier.send(notification or note())
    await notifier.aclose()
    return caught.value


def assert_no_secret(exc: BaseException, *secrets: str) -> None:
    """Neither the message nor any traceback that logs it (causes included) shows a secret."""
    shown = "".join(traceback.format_exception(exc))
    for secret in secrets:
        assert secret not in shown


# -- configuration ------------------------------------------------------------------------------


def test_config_reads_camel_case_keys_and_builds_a_notifier() -> None:
    config = SlackNotifierConfig.model_validate(
        {
            "botToken": TOKEN,
            "signingSecret": "s3cret",
            "consoleUrl": "https://handrail.example.com",
            "users": {"U024BE7LH": "alice"},
            "apiUrl": "http://127.0.0.1:1/api/",
            "timeout": "5s",
        }
    )
    notifier: Notifier = config.create_notifier()

    assert (notifier.name, config.timeout, config.users) == ("slack", 5.0, {"U024BE7LH": "alice"})
    assert TOKEN not in repr(config)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({}, "exactly one of webhookUrl and botToken", id="neither"),
        pytest.param(
            {"botToken": TOKEN, "webhookUrl": "https://hooks.slack.com/services/T/B/x"},
            "exactly one of webhookUrl and botToken",
            id="both",
        ),
        pytest.param({"botToken": "xoxp-user-token-1"}, "starting with xoxb-", id="user-token"),
        pytest.param({"webhookUrl": "hooks.slack.com/services/T/B/x"}, "https:// URL", id="webhook-not-a-url"),
        pytest.param(
            {"botToken": TOKEN, "users": {"alice": "alice"}}, "Slack user ids like U024BE7LH", id="user-names"
        ),
        pytest.param({"botToken": TOKEN, "channel": "#x"}, "Extra inputs are not permitted", id="unknown-key"),
    ],
)
def test_config_refuses_what_cannot_work_without_echoing_secrets(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SlackNotifierConfig.model_validate(data)

    assert message in str(caught.value)
    assert "xoxp-user-token-1" not in str(caught.value)


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        pytest.param("#incidents-payment", True, id="channel"),
        pytest.param("#", False, id="bare-hash"),
        pytest.param("pagerduty:dba-oncall", False, id="pager"),
        pytest.param("alice", False, id="name"),
    ],
)
def test_slack_accepts_channel_targets_only(target: str, accepted: bool) -> None:
    assert SlackNotifier(bot_token=SecretStr(TOKEN)).accepts(target) is accepted


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({}, "exactly one of a bot token and an incoming webhook URL", id="neither"),
        pytest.param(
            {"bot_token": SecretStr(TOKEN), "webhook_url": SecretStr("https://hooks.slack.com/services/T/B/x")},
            "exactly one of",
            id="both",
        ),
        pytest.param({"bot_token": SecretStr(TOKEN), "timeout": 0}, "timeout must be positive", id="zero-timeout"),
    ],
)
def test_the_notifier_refuses_an_impossible_setup(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SlackNotifier(**options)


# -- with a bot token ---------------------------------------------------------------------------


async def test_the_first_notification_posts_a_block_kit_message(slack: SlackServer) -> None:
    refs = InMemoryMessageRefs()
    await bot(slack, refs).send(note("opened"))

    [call] = slack.calls
    assert (call.method, call.ok, call.headers["Authorization"]) == ("chat.postMessage", True, f"Bearer {TOKEN}")
    assert call.payload["channel"] == CHANNEL
    assert (
        call.payload["text"]
        == "⚪ [P1] Payment DB connections — Incident opened: alert trigger by alertmanager (instance=db-1) (INC-42)"
    )
    assert call.payload["blocks"][0]["text"]["text"] == "⚪ Payment DB connections"
    assert call.payload["blocks"][-1]["elements"][0]["text"] == (
        "<https://handrail.example.com/incidents/INC-42|Open incident INC-42>"
    )
    assert call.payload["unfurl_links"] is False
    [message] = slack.top_level(CHANNEL_ID)
    assert refs.refs == {("INC-42", CHANNEL): f"{CHANNEL_ID}:{message.ts}"}


async def test_later_events_update_the_message_and_reply_in_its_thread(slack: SlackServer) -> None:
    notifier = bot(slack)
    await notifier.send(note("opened"))
    await notifier.send(
        note("approval_needed", text="Kill idle connections needs approval.", fields=_fields("awaiting_approval"))
    )
    approval_blocks = slack.calls[-2].payload["blocks"]
    await notifier.send(note("action", fields=_fields("remediating")))

    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",
        "chat.update",
        "chat.postMessage",
    ]
    assert all(c.ok for c in slack.calls)
    [message] = slack.top_level(CHANNEL_ID)
    assert [_state(payload) for payload in [*message.edits, message.payload]] == [
        "triggered",
        "awaiting_approval",
        "remediating",
    ]
    assert [r["text"] for r in message.replies] == [
        "⚪ *Approval needed*: approve Kill idle connections? · state `awaiting_approval`",
        "⚪ *Action*: running Kill idle connections · state `remediating`",
    ]
    update = slack.calls_to("chat.update")[0].payload
    assert (update["channel"], update["ts"]) == (CHANNEL_ID, message.ts)
    assert approval_blocks == update["blocks"]


async def test_approval_buttons_are_removed_after_the_decision(slack: SlackServer) -> None:
    notifier = bot(slack)
    details = {"approval": {"remediation": "kill-idle", "name": "Kill idle connections"}}
    await notifier.send(note("approval_needed", fields=_fields("awaiting_approval"), details=details))
    await notifier.send(note("action", fields=_fields("remediating"), details=details))

    [message] = slack.top_level(CHANNEL_ID)
    [before] = message.edits
    assert [b["type"] for b in before["blocks"]].count("actions") == 1
    assert any(e.get("action_id") == APPROVE_ACTION_ID for b in before["blocks"] for e in b.get("elements", []))
    assert "actions" not in [b["type"] for b in message.payload["blocks"]]


async def test_each_incident_and_each_channel_gets_its_own_message(slack: SlackServer) -> None:
    notifier = bot(slack)
    await notifier.send(note(incident="INC-1"))
    await notifier.send(note(incident="INC-2"))
    await notifier.send(note(incident="INC-1", target="#ops"))
    await notifier.send(note("resolved", incident="INC-2"))

    assert len(slack.top_level(CHANNEL_ID)) == 2
    assert len(slack.top_level("C0OPS")) == 1
    first, second = slack.top_level(CHANNEL_ID)
    assert (len(first.edits), len(second.edits), len(second.replies)) == (0, 1, 1)
    assert (
        second.payload["blocks"][0]["text"]["text"] == "✅ Resolved: Payment DB connections"
    )  # the header follows the state


async def test_the_message_reference_outlives_the_notifier(slack: SlackServer) -> None:
    refs = InMemoryMessageRefs()
    await bot(slack, refs).send(note("opened"))
    await bot(slack, refs).send(note("resolved"))  # a new process, the same store

    [message] = slack.top_level(CHANNEL_ID)
    assert len(message.edits) == 1


async def test_two_notifications_at_once_make_one_message(slack: SlackServer) -> None:
    notifier = bot(slack)
    await asyncio.gather(notifier.send(note("opened")), notifier.send(note("approval_needed")))

    [message] = slack.top_level(CHANNEL_ID)
    assert (len(message.edits), len(message.replies)) == (1, 1)


async def test_a_runbook_message_is_a_thread_reply_without_touching_the_incident_message(slack: SlackServer) -> None:
    notifier = bot(slack)
    await notifier.send(note("opened"))
    await notifier.send(note("message", text="Heads up: <failover> in 5 minutes & counting"))

    [message] = slack.top_level(CHANNEL_ID)
    assert message.edits == []
    assert [r["text"] for r in message.replies] == ["Heads up: &lt;failover&gt; in 5 minutes &amp; counting"]


async def test_a_notification_without_an_incident_is_a_plain_post(slack: SlackServer) -> None:
    refs = InMemoryMessageRefs()
    notifier = bot(slack, refs)
    await notifier.send(note("message", incident=None))
    await notifier.send(note("message", incident=None))

    assert len(slack.top_level(CHANNEL_ID)) == 2
    assert refs.refs == {}


async def test_a_deleted_message_is_posted_again(slack: SlackServer) -> None:
    refs = InMemoryMessageRefs()
    notifier = bot(slack, refs)
    await notifier.send(note("opened"))
    slack.messages.clear()  # someone deleted it

    await notifier.send(note("resolved"))

    assert [(c.method, c.ok) for c in slack.calls] == [
        ("chat.postMessage", True),
        ("chat.update", False),
        ("chat.postMessage", True),
    ]
    [message] = slack.top_level(CHANNEL_ID)
    assert refs.refs[("INC-42", CHANNEL)] == f"{CHANNEL_ID}:{message.ts}"


# -- with an incoming webhook -------------------------------------------------------------------


async def test_an_incoming_webhook_gets_every_notification_as_a_new_message(slack: SlackServer) -> None:
    notifier = SlackNotifier(webhook_url=SecretStr(slack.webhook_url))
    await notifier.send(note("opened"))
    await notifier.send(note("resolved"))

    assert [c.method for c in slack.calls] == ["webhook", "webhook"]
    first, second = slack.webhook_messages
    assert first["text"].startswith("⚪ [P1] Payment DB connections — Incident opened")
    assert second["blocks"][0]["text"]["text"] == "✅ Resolved: Payment DB connections"
    assert "channel" not in first
    assert "thread_ts" not in second


async def test_through_an_incoming_webhook_a_step_is_one_line_not_the_whole_incident_again(
    slack: SlackServer,
) -> None:
    notifier = SlackNotifier(webhook_url=SecretStr(slack.webhook_url))
    await notifier.send(note("opened"))
    step = note(
        "approved",
        title="[P1] Payment DB connections — Kill idle connections approved by alice: <graphs>",
        fields={"incident": "INC-42", "state": "remediating"},
    )
    await notifier.send(step)

    opened, approved = slack.webhook_messages
    assert "blocks" in opened
    assert approved == {
        "text": "⚪ *Approved*: Kill idle connections approved by alice: &lt;graphs&gt; · state `remediating`"
    }


async def test_an_incoming_webhook_error_names_slacks_code_but_not_the_url(slack: SlackServer) -> None:
    slack.fail_next("invalid_blocks", status=400)
    error = await failure(SlackNotifier(webhook_url=SecretStr(slack.webhook_url)))

    assert str(error) == "slack incoming webhook: invalid_blocks (HTTP 400)"
    assert_no_secret(error, WEBHOOK_PATH, "hook-s3cret-path")


async def test_an_unreachable_incoming_webhook_does_not_show_its_path() -> None:
    with refused_port() as port:
        url = f"http://127.0.0.1:{port}{WEBHOOK_PATH}"
        error = await failure(SlackNotifier(webhook_url=SecretStr(url)))

    assert str(error).startswith("slack incoming webhook: ClientConnectorError")
    assert_no_secret(error, "hook-s3cret-path")


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "expected"),
    [
        pytest.param(
            "channel_not_found", 200, "slack chat.postMessage to #incidents-payment: channel_not_found", id="ok-false"
        ),
        pytest.param(
            "not_in_channel", 200, "slack chat.postMessage to #incidents-payment: not_in_channel", id="not-invited"
        ),
        pytest.param(
            "fatal_error", 500, "slack chat.postMessage to #incidents-payment: fatal_error (HTTP 500)", id="http-500"
        ),
    ],
)
async def test_slack_errors_become_notify_errors_with_slacks_code(
    slack: SlackServer, error: str, status: int, expected: str
) -> None:
    slack.fail_next(error, status=status)

    exc = await failure(bot(slack))

    assert str(exc) == expected
    assert_no_secret(exc, TOKEN)


async def test_a_rate_limit_says_when_to_retry(slack: SlackServer) -> None:
    slack.rate_limit_next(retry_after=17)

    exc = await failure(bot(slack))

    assert str(exc) == "slack chat.postMessage to #incidents-payment: ratelimited (HTTP 429, retry after 17s)"
    assert [c.status for c in slack.calls] == [429]  # slack_sdk's own retries are off: the engine retries


async def test_a_wrong_token_is_reported_without_either_token(slack: SlackServer) -> None:
    wrong = "xoxb-wrong-t0ken-999"
    exc = await failure(SlackNotifier(bot_token=SecretStr(wrong), api_url=slack.api_url))

    assert str(exc) == "slack chat.postMessage to #incidents-payment: invalid_auth"
    assert_no_secret(exc, wrong, TOKEN)


async def test_a_token_echoed_by_a_server_is_redacted(slack: SlackServer) -> None:
    slack.fail_next(f"invalid_auth for Bearer {TOKEN}")

    exc = await failure(bot(slack))

    assert str(exc) == "slack chat.postMessage to #incidents-payment: invalid_auth for Bearer [redacted]"
    assert_no_secret(exc, TOKEN)


async def test_an_unreachable_api_is_a_notify_error() -> None:
    with refused_port() as port:
        notifier = SlackNotifier(bot_token=SecretStr(TOKEN), api_url=f"http://127.0.0.1:{port}/api/")
        exc = await failure(notifier)

    assert str(exc).startswith("slack chat.postMessage to #incidents-payment: ClientConnectorError")
    assert_no_secret(exc, TOKEN)


async def test_a_silent_api_times_out() -> None:
    with silent_port() as port:
        notifier = SlackNotifier(bot_token=SecretStr(TOKEN), api_url=f"http://127.0.0.1:{port}/api/", timeout=0.3)
        exc = await failure(notifier)

    assert str(exc) == "slack chat.postMessage to #incidents-payment: no answer within 0.3s"


async def test_a_failed_update_fails_the_notification(slack: SlackServer) -> None:
    notifier = bot(slack)
    await notifier.send(note("opened"))
    slack.fail_next("restricted_action")

    exc = await failure(notifier, note("resolved"))

    assert str(exc) == f"slack chat.update to {CHANNEL_ID}: restricted_action"


async def test_an_ok_answer_without_channel_and_ts_is_an_error() -> None:
    answer = Route(body=json.dumps({"ok": True}), headers={"Content-Type": "application/json"})
    with HttpServer(default=answer) as server:
        exc = await failure(SlackNotifier(bot_token=SecretStr(TOKEN), api_url=server.url("/api/")))

    assert str(exc) == "slack chat.postMessage answered ok without the message's channel and ts"


async def test_a_refs_store_that_fails_fails_the_notification(slack: SlackServer) -> None:
    class BrokenRefs(InMemoryMessageRefs):
        async def get(self, incident_id: str, channel: str) -> str | None:
            raise NotifyError("message refs: database is down")

    exc = await failure(bot(slack, BrokenRefs()))

    assert str(exc) == "message refs: database is down"
    assert slack.calls == []


# -- the stand-in is strict ---------------------------------------------------------------------


def _post(server: SlackServer, method: str, payload: dict[str, Any], token: str | None = TOKEN) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer: dict[str, Any] = httpx.post(server.api_url + method, json=payload, headers=headers).json()
    return answer


@pytest.mark.parametrize(
    ("method", "payload", "token", "error"),
    [
        pytest.param("chat.postMessage", {"channel": CHANNEL, "text": "hi"}, None, "not_authed", id="no-token"),
        pytest.param(
            "chat.postMessage", {"channel": "#nope", "text": "hi"}, TOKEN, "channel_not_found", id="unknown-channel"
        ),
        pytest.param("chat.postMessage", {"channel": CHANNEL}, TOKEN, "no_text", id="no-text"),
        pytest.param(
            "chat.update",
            {"channel": CHANNEL, "ts": "1.2", "text": "hi"},
            TOKEN,
            "channel_not_found",
            id="update-by-name",
        ),
        pytest.param(
            "chat.update",
            {"channel": CHANNEL_ID, "ts": "1.2", "text": "hi"},
            TOKEN,
            "message_not_found",
            id="unknown-ts",
        ),
        pytest.param(
            "chat.postMessage",
            {"channel": CHANNEL, "text": "hi", "thread_ts": "1.2"},
            TOKEN,
            "thread_not_found",
            id="unknown-thread",
        ),
        pytest.param(
            "chat.postMessage",
            {
                "channel": CHANNEL,
                "text": "hi",
                "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}],
            },
            TOKEN,
            "invalid_blocks",
            id="mrkdwn-header",
        ),
    ],
)
def test_the_stand_in_refuses_what_slack_refuses(
    slack: SlackServer, method: str, payload: dict[str, Any], token: str | None, error: str
) -> None:
    assert _post(slack, method, payload, token) == {"ok": False, "error": error}


def _button(**changes: Any) -> dict[str, Any]:
    return {"type": "button", "action_id": "a", "text": {"type": "plain_text", "text": "Go"}, "value": "v"} | changes


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        pytest.param([{"type": "divider"}] * 51, "51 blocks, more than 50", id="too-many"),
        pytest.param([{"type": "image"}], "type 'image' is not one of", id="unknown-type"),
        pytest.param(
            [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "more than 150", id="long-header"
        ),
        pytest.param(
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "more than 3000", id="long-section"
        ),
        pytest.param(
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}], "more than 2000", id="long-field"
        ),
        pytest.param([{"type": "section"}], "section needs text or fields", id="empty-section"),
        pytest.param([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "non-empty", id="empty-text"),
        pytest.param(
            [{"type": "actions", "elements": [_button(value="v" * 2001)]}], "value must be 1-2000", id="long-value"
        ),
        pytest.param(
            [{"type": "actions", "elements": [_button(text={"type": "plain_text", "text": "x" * 76})]}],
            "more than 75",
            id="long-button",
        ),
        pytest.param(
            [{"type": "actions", "elements": [_button(), _button()]}], "action_id used twice: a", id="dup-action"
        ),
        pytest.param([{"type": "actions", "elements": [_button(style="warning")]}], "style must be", id="bad-style"),
        pytest.param(
            [{"type": "actions", "elements": [_button(confirm={"title": {}})]}], "confirm.title", id="bad-confirm"
        ),
    ],
)
def test_the_stand_ins_block_checks_catch_each_broken_limit(blocks: list[dict[str, Any]], problem: str) -> None:
    problems = block_problems(blocks)

    assert any(problem in p for p in problems), problems


def _fields(state: str) -> dict[str, str]:
    return {"incident": "INC-42", "service": "payments", "runbook": "payment-db", "state": state}


def _state(payload: dict[str, Any]) -> str:
    """The state a message's facts section shows."""
    [facts] = [b for b in payload["blocks"] if "fields" in b]
    [state] = [f["text"] for f in facts["fields"] if f["text"].startswith("*State:*")]
    return state.removeprefix("*State:* ")
