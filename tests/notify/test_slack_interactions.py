"""slack_interactions: Slack's v0 signatures (cross-checked with slack_sdk), button clicks, slash commands."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from handrail.notify.slack_blocks import ApprovalRequest, IncidentView, incident_blocks
from handrail.notify.slack_interactions import (
    SlackDecision,
    SlackSignatureError,
    SlashCommand,
    parse_interaction,
    parse_slash_command,
    verify_slack_signature,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret of Slack's own example
NOW = 1_714_564_800.0
BODY = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fhandrail&text=status+INC-42"


def sign(body: bytes, timestamp: str, secret: str = SECRET) -> str:
    """The v0 signature, computed the way Slack documents it."""
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class FixedClock(Clock):
    def now(self) -> float:
        return NOW


# -- signatures ---------------------------------------------------------------------------------


def test_a_good_signature_passes() -> None:
    timestamp = str(int(NOW))
    verify_slack_signature(SECRET, timestamp=timestamp, signature=sign(BODY, timestamp), body=BODY, now=NOW)


@pytest.mark.parametrize(
    ("timestamp", "signature", "reason"),
    [
        pytest.param(None, "v0=abc", "missing X-Slack-Request-Timestamp header", id="no-timestamp"),
        pytest.param("1714564800", None, "missing X-Slack-Signature header", id="no-signature"),
        pytest.param("", "v0=abc", "missing X-Slack-Request-Timestamp header", id="empty-timestamp"),
        pytest.param("1714564800.5", "v0=abc", "X-Slack-Request-Timestamp is not Unix seconds", id="not-integer"),
        pytest.param("٣٣", "v0=abc", "X-Slack-Request-Timestamp is not Unix seconds", id="non-ascii-digits"),
        pytest.param("1" * 5000, "v0=abc", "X-Slack-Request-Timestamp is not Unix seconds", id="5000-digits"),
        pytest.param("0" * 13, "v0=abc", "X-Slack-Request-Timestamp is not Unix seconds", id="13-digits"),
        pytest.param("1714564800", "v0=" + "0" * 64, "X-Slack-Signature does not match the body", id="wrong"),
        pytest.param("1714564800", "v0=ünïcode", "X-Slack-Signature does not match the body", id="non-ascii-signature"),
    ],
)
def test_a_bad_or_missing_header_is_refused(timestamp: str | None, signature: str | None, reason: str) -> None:
    with pytest.raises(SlackSignatureError) as caught:
        verify_slack_signature(SECRET, timestamp=timestamp, signature=signature, body=BODY, now=NOW)

    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        pytest.param(BODY + b"&x=1", SECRET, id="body-changed"),
        pytest.param(BODY, "another-secret", id="other-secret"),
    ],
)
def test_a_signature_over_other_bytes_or_with_another_secret_is_refused(body: bytes, secret: str) -> None:
    timestamp = str(int(NOW))
    with pytest.raises(SlackSignatureError, match="does not match"):
        verify_slack_signature(secret, timestamp=timestamp, signature=sign(BODY, timestamp), body=body, now=NOW)


@pytest.mark.parametrize(
    ("offset", "fresh"),
    [
        pytest.param(-300, True, id="5-minutes-old"),
        pytest.param(-301, False, id="older"),
        pytest.param(300, True, id="5-minutes-ahead"),
        pytest.param(301, False, id="further-ahead"),
    ],
)
def test_a_stale_timestamp_is_refused_even_when_correctly_signed(offset: int, fresh: bool) -> None:
    timestamp = str(int(NOW) + offset)
    signature = sign(BODY, timestamp)

    if fresh:
        verify_slack_signature(SECRET, timestamp=timestamp, signature=signature, body=BODY, now=NOW)
    else:
        with pytest.raises(SlackSignatureError, match="stale request"):
            verify_slack_signature(SECRET, timestamp=timestamp, signature=signature, body=BODY, now=NOW)


def test_an_empty_signing_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        verify_slack_signature("", timestamp="1", signature="v0=x", body=b"", now=NOW)


@pytest.mark.parametrize(
    ("body", "offset", "tamper"),
    [
        pytest.param(BODY, 0, False, id="form"),
        pytest.param(b"payload=" + json.dumps({"type": "block_actions"}).encode(), -120, False, id="payload"),
        pytest.param("ünïcode=✓".encode(), 60, False, id="utf-8"),
        pytest.param(b"", 0, False, id="empty"),
        pytest.param(BODY, 0, True, id="tampered"),
        pytest.param(BODY, -400, False, id="stale"),
    ],
)
def test_verdicts_agree_with_slack_sdks_verifier(body: bytes, offset: int, tamper: bool) -> None:
    theirs = SignatureVerifier(SECRET, clock=FixedClock())
    timestamp = str(int(NOW) + offset)
    signature = theirs.generate_signature(timestamp=timestamp, body=body)
    assert signature == sign(body, timestamp)  # the documented scheme, as slack_sdk implements it
    sent = body + b"x" if tamper else body

    try:
        verify_slack_signature(SECRET, timestamp=timestamp, signature=signature, body=sent, now=NOW)
        ours = True
    except SlackSignatureError:
        ours = False

    assert ours is theirs.is_valid(body=sent, timestamp=timestamp, signature=signature)
    assert ours is (not tamper and abs(offset) <= 300)


# -- button clicks ------------------------------------------------------------------------------

VIEW = IncidentView(
    title="Payment DB",
    state="awaiting_approval",
    incident_id="INC-42",
    approval=ApprovalRequest("kill-idle", "Kill idle connections"),
)


def clicked(action_id: str, **changes: Any) -> bytes:
    """A block_actions request as Slack sends it when a button of our approval message is clicked."""
    [actions] = [b for b in incident_blocks(VIEW, kind="approval_needed") if b["type"] == "actions"]
    [button] = [e for e in actions["elements"] if e["action_id"] == action_id]
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": "U024BE7LH", "username": "alice", "name": "alice", "team_id": "T0001"},
        "api_app_id": "A0001",
        "container": {"type": "message", "message_ts": "1714564800.000100", "channel_id": "C0PAYMENTS"},
        "trigger_id": "12345.98765.abcd",
        "channel": {"id": "C0PAYMENTS", "name": "incidents-payment"},
        "response_url": "https://hooks.slack.com/actions/T0001/123/xyz",
        "actions": [
            {
                "action_id": action_id,
                "block_id": actions["block_id"],
                "text": button["text"],
                "value": button["value"],
                "style": button["style"],
                "type": "button",
                "action_ts": "1714564801.000200",
            }
        ],
    } | changes
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize(
    ("action_id", "kind"),
    [pytest.param("handrail_approve", "approve", id="approve"), pytest.param("handrail_reject", "reject", id="reject")],
)
def test_a_click_on_our_buttons_is_a_decision(action_id: str, kind: str) -> None:
    assert parse_interaction(clicked(action_id)) == SlackDecision(
        kind=kind,  # type: ignore[arg-type]
        incident_id="INC-42",
        remediation_id="kill-idle",
        user_id="U024BE7LH",
        user_name="alice",
        response_url="https://hooks.slack.com/actions/T0001/123/xyz",
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(urlencode({"payload": json.dumps({"type": "view_submission", "view": {}})}).encode(), id="view"),
        pytest.param(
            urlencode({"payload": json.dumps({"type": "shortcut", "callback_id": "x"})}).encode(), id="shortcut"
        ),
        pytest.param(
            clicked("handrail_approve", actions=[{"action_id": "someone_else", "value": "x", "type": "button"}]),
            id="other-action",
        ),
    ],
)
def test_other_interactions_are_not_ours(body: bytes) -> None:
    assert parse_interaction(body) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "form field 'payload' is missing", id="empty"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
        pytest.param(b"payload", "not application/x-www-form-urlencoded", id="not-a-form"),
        pytest.param(b"payload=%7Bnope", "payload is not JSON", id="not-json"),
        pytest.param(b"payload=%5B%5D", "not a JSON object", id="json-array"),
        pytest.param(b"payload=%7B%7D&payload=%7B%7D", "given 2 times", id="two-payloads"),
        pytest.param(clicked("handrail_approve", actions="x"), "no actions list", id="actions-not-a-list"),
        pytest.param(clicked("handrail_approve", user={"name": "alice"}), "no user id", id="no-user-id"),
        pytest.param(
            clicked("handrail_approve", response_url="http://evil.example/"),
            "must be https://hooks.slack.com",
            id="http",
        ),
        pytest.param(
            clicked("handrail_approve", response_url="https://hooks.slack.com.evil.example/actions/1"),
            "must be https://hooks.slack.com",
            id="lookalike-host",
        ),
        pytest.param(
            clicked("handrail_approve", response_url="http://127.0.0.1:8080/admin"),
            "must be https://hooks.slack.com",
            id="internal-host",
        ),
        pytest.param(clicked("handrail_approve", response_url=""), "response_url", id="no-url"),
        pytest.param(
            clicked("handrail_approve", actions=[{"action_id": "handrail_approve", "value": "INC-42"}]),
            "value is not JSON",
            id="value-not-json",
        ),
        pytest.param(
            clicked("handrail_reject", actions=[{"action_id": "handrail_reject", "value": '{"incident": "INC-42"}'}]),
            "lacks incident or remediation",
            id="value-incomplete",
        ),
        pytest.param(
            clicked("handrail_reject", actions=[{"action_id": "handrail_reject"}]), "has no value", id="no-value"
        ),
        pytest.param(
            urlencode({"payload": "[" * 5000 + "]" * 5000}).encode(), "not JSON Slack sends", id="nested-5000-deep"
        ),
        pytest.param(urlencode({"payload": "9" * 5000}).encode(), "not JSON Slack sends", id="5000-digit-number"),
        pytest.param(
            clicked("handrail_reject", actions=[{"action_id": "handrail_reject", "value": "[" * 5000}]),
            "value is not JSON",
            id="value-nested-5000-deep",
        ),
        pytest.param(
            clicked("handrail_reject", actions=[{"action_id": "handrail_reject", "value": "[1]"}]),
            "value is not a JSON object",
            id="value-not-object",
        ),
    ],
)
def test_a_malformed_interaction_is_a_clear_value_error(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_interaction(body)


# -- slash commands -----------------------------------------------------------------------------


def command_body(**changes: str) -> bytes:
    fields = {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "team_id": "T0001",
        "channel_id": "C0PAYMENTS",
        "channel_name": "incidents-payment",
        "user_id": "U024BE7LH",
        "user_name": "alice",
        "command": "/handrail",
        "text": "run payment-db-connections  service=payments",
        "response_url": "https://hooks.slack.com/commands/1234/5678",
        "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    } | changes
    return urlencode({k: v for k, v in fields.items() if v != "<absent>"}).encode()


def test_a_slash_command_is_read_with_its_verb_and_arguments() -> None:
    command = parse_slash_command(command_body())

    assert command == SlashCommand(
        command="/handrail",
        text="run payment-db-connections  service=payments",
        user_id="U024BE7LH",
        channel_id="C0PAYMENTS",
        response_url="https://hooks.slack.com/commands/1234/5678",
    )
    assert (command.verb, command.args) == ("run", "payment-db-connections  service=payments")


@pytest.mark.parametrize(
    ("text", "verb", "args"),
    [
        pytest.param("STATUS INC-42", "status", "INC-42", id="upper-case"),
        pytest.param("trigger", "trigger", "", id="verb-only"),
        pytest.param("<absent>", "", "", id="no-text"),
        pytest.param("   ", "", "", id="blank"),
    ],
)
def test_the_verb_and_arguments_of_any_text(text: str, verb: str, args: str) -> None:
    command = parse_slash_command(command_body(text=text))

    assert (command.verb, command.args) == (verb, args)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"command": "<absent>"}, "'command' is missing", id="no-command"),
        pytest.param({"command": "handrail"}, "does not start with /", id="no-slash"),
        pytest.param({"user_id": ""}, "'user_id' is missing", id="empty-user"),
        pytest.param({"channel_id": "<absent>"}, "'channel_id' is missing", id="no-channel"),
        pytest.param({"response_url": "<absent>"}, "'response_url' is missing", id="no-response-url"),
        pytest.param(
            {"response_url": "https://metadata.internal/latest"}, "must be https://hooks.slack.com", id="foreign-url"
        ),
    ],
)
def test_a_malformed_slash_command_is_a_clear_value_error(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_slash_command(command_body(**changes))


def test_a_slash_command_body_that_is_not_a_form_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        parse_slash_command(b"command=%2Fhandrail\xff")
