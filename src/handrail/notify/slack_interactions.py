"""slack_interactions: what Slack sends back: signed requests, button clicks, `/handrail` commands.

The web layer verifies every request first (`verify_slack_signature`, Slack's v0 scheme:
https://api.slack.com/authentication/verifying-requests-from-slack), then reads it:
`parse_interaction` for the Approve / Reject buttons of an approval message (a `block_actions`
payload), `parse_slash_command` for `/handrail run|trigger|status ...`. Both take the raw form
body, the exact bytes that were signed, and refuse a `response_url` that is not Slack's
(slack_replies.py). Nothing here touches the network or the store.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs

from handrail.errors import SlackSignatureError
from handrail.notify.slack_blocks import APPROVE_ACTION_ID, REJECT_ACTION_ID
from handrail.notify.slack_replies import check_response_url

__all__ = [
    "MAX_CLOCK_SKEW",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SlackDecision",
    "SlackSignatureError",
    "SlashCommand",
    "check_slack_headers",
    "parse_interaction",
    "parse_slash_command",
    "verify_slack_signature",
]

SIGNATURE_HEADER = "X-Slack-Signature"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
MAX_CLOCK_SKEW = 300.0
"""Seconds a request's timestamp may differ from now, either way (Slack's own advice: five minutes)."""
_KINDS: Mapping[str, Literal["approve", "reject"]] = {APPROVE_ACTION_ID: "approve", REJECT_ACTION_ID: "reject"}
_TIMESTAMP_DIGITS = 12
"""Unix seconds have 10 digits until the year 2286; longer is not a timestamp (5,000 digits was a 500, #13)."""
_MAX_FIELDS = 100
"""Form fields read at most: Slack sends about a dozen; a body of thousands is not Slack."""


@dataclass(frozen=True, slots=True)
class SlackDecision:
    """Someone clicked Approve or Reject on an approval message."""

    kind: Literal["approve", "reject"]
    incident_id: str
    remediation_id: str
    user_id: str
    """Slack's user id (`U024BE7LH`); `SlackNotifierConfig.users` maps it to a Handrail identity."""
    user_name: str
    response_url: str
    """Where to answer (a message that replaces or follows the original), for 30 minutes; always Slack's."""


@dataclass(frozen=True, slots=True)
class SlashCommand:
    """A `/handrail ...` command as Slack sent it."""

    command: str
    text: str
    user_id: str
    channel_id: str
    response_url: str

    @property
    def verb(self) -> str:
        """The first word of `text`, lower-case (`run`, `trigger`, `status`); empty without one."""
        words = self.text.split(maxsplit=1)
        return words[0].lower() if words else ""

    @property
    def args(self) -> str:
        """`text` after the verb."""
        words = self.text.split(maxsplit=1)
        return words[1].strip() if len(words) > 1 else ""


def verify_slack_signature(
    signing_secret: str, *, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> None:
    """Check that Slack signed `body` at `timestamp`, within five minutes of `now`.

    Args:
        signing_secret: the app's signing secret.
        timestamp: the `X-Slack-Request-Timestamp` header (Unix seconds), None when absent.
        signature: the `X-Slack-Signature` header (`v0=` and hex HMAC-SHA256), None when absent.
        body: the request body, exactly as received.
        now: the current Unix time.

    Raises:
        SlackSignatureError: a header is missing, the timestamp is not a number or is stale, or
            the signature does not match.
        ValueError: `signing_secret` is empty (a configuration error, not a bad request).
    """
    if not signing_secret:
        raise ValueError("the Slack signing secret must not be empty")
    timestamp, signature = check_slack_headers(timestamp=timestamp, signature=signature, now=now)
    signed = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(signing_secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise SlackSignatureError(f"{SIGNATURE_HEADER} does not match the body")


def check_slack_headers(*, timestamp: str | None, signature: str | None, now: float) -> tuple[str, str]:
    """Check what can be checked before the body is read: both headers there, the timestamp fresh; return both.

    Raises:
        SlackSignatureError: a header is missing, or the timestamp is not Unix seconds or is stale.
    """
    if not timestamp:
        raise SlackSignatureError(f"missing {TIMESTAMP_HEADER} header")
    if not signature:
        raise SlackSignatureError(f"missing {SIGNATURE_HEADER} header")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _TIMESTAMP_DIGITS):
        raise SlackSignatureError(f"{TIMESTAMP_HEADER} is not Unix seconds")
    # A captured request replayed later is refused: the timestamp is inside the signed bytes.
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        raise SlackSignatureError(f"stale request: {TIMESTAMP_HEADER} is more than 5 minutes from now")
    return timestamp, signature


def parse_interaction(form_body: bytes) -> SlackDecision | None:
    """The Approve / Reject click in an interaction request, or None for any other interaction.

    Args:
        form_body: the request body, `payload=<JSON>` form-encoded.

    Returns:
        The decision for a `block_actions` payload whose action is `handrail_approve` or
        `handrail_reject`; None for other types (shortcuts, view submissions) and other actions.

    Raises:
        ValueError: the body is not a form with a JSON `payload`, or our button's payload lacks
            the user, the value or the response URL, or its response URL is not Slack's.
    """
    form = _form(form_body)
    raw = _one(form, "payload")
    try:
        payload = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"interaction payload is not JSON: {exc.msg} at {exc.pos}") from None
    except (RecursionError, ValueError):  # nested past the decoder's recursion, or a number past 4,300 digits
        raise ValueError("interaction payload is not JSON Slack sends") from None
    if not isinstance(payload, dict):
        raise ValueError("interaction payload is not a JSON object")
    if payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list):
        raise ValueError("block_actions payload has no actions list")
    ours = [a for a in actions if isinstance(a, dict) and a.get("action_id") in _KINDS]
    if not ours:
        return None
    action = ours[0]  # Slack sends the one action that was taken
    incident_id, remediation_id = _button_value(action.get("value"))
    user = payload.get("user")
    if not isinstance(user, dict) or not _text(user.get("id")):
        raise ValueError("block_actions payload has no user id")
    response_url = check_response_url(_text(payload.get("response_url")))
    return SlackDecision(
        kind=_KINDS[action["action_id"]],
        incident_id=incident_id,
        remediation_id=remediation_id,
        user_id=_text(user.get("id")),
        user_name=_text(user.get("username")) or _text(user.get("name")),
        response_url=response_url,
    )


def parse_slash_command(form_body: bytes) -> SlashCommand:
    """The slash command in a request body (https://api.slack.com/interactivity/slash-commands).

    Raises:
        ValueError: the body is not a form, or lacks `command`, `user_id`, `channel_id` or `response_url`,
            or its `response_url` is not Slack's (`check_response_url`).
    """
    form = _form(form_body)
    command = _one(form, "command")
    if not command.startswith("/"):
        raise ValueError(f"slash command {command!r} does not start with /")
    return SlashCommand(
        command=command,
        text=_one(form, "text", required=False).strip(),
        user_id=_one(form, "user_id"),
        channel_id=_one(form, "channel_id"),
        response_url=check_response_url(_one(form, "response_url")),
    )


def _form(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("form body is not UTF-8") from None
    try:
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=_MAX_FIELDS)
    except ValueError as exc:
        raise ValueError(f"form body is not application/x-www-form-urlencoded: {exc}") from None


def _one(form: Mapping[str, list[str]], name: str, *, required: bool = True) -> str:
    values = form.get(name, [])
    if len(values) > 1:
        raise ValueError(f"form field {name!r} is given {len(values)} times")
    if not values or (required and not values[0]):
        if required:
            raise ValueError(f"form field {name!r} is missing")
        return ""
    return values[0]


def _button_value(value: object) -> tuple[str, str]:
    """`{"incident": ..., "remediation": ...}` from an approval button (see slack_blocks)."""
    if not isinstance(value, str):
        raise ValueError("approval button has no value")
    try:
        data: Any = json.loads(value)
    except (RecursionError, ValueError):  # JSONDecodeError is a ValueError
        raise ValueError("approval button value is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("approval button value is not a JSON object")
    incident, remediation = _text(data.get("incident")), _text(data.get("remediation"))
    if not incident or not remediation:
        raise ValueError("approval button value lacks incident or remediation")
    return incident, remediation


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
