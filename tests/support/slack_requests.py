"""Requests as Slack sends them to Handrail: signed (v0) form posts of button clicks and slash commands."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

__all__ = ["SECRET", "click", "signed", "slash_command"]

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
"""The signing secret the tests configure (`notifiers.slack.signingSecret`)."""


def signed(body: bytes, *, secret: str = SECRET, age: float = 0) -> dict[str, str]:
    """The headers of `body` signed as Slack signs it, `age` seconds ago."""
    timestamp = str(int(time.time() - age))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click(
    incident_id: str,
    remediation: str,
    user: str,
    action: str = "handrail_approve",
    *,
    response_url: str = "https://hooks.slack.com/actions/T0/1/x",
) -> bytes:
    """The body of a click on an approval message's button by Slack user `user`."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower()},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action,
                "type": "button",
                "value": json.dumps({"incident": incident_id, "remediation": remediation}),
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_command(text: str, user: str, *, response_url: str = "https://hooks.slack.com/commands/1") -> bytes:
    """The body of `/handrail TEXT` typed by Slack user `user`."""
    form = {"command": "/handrail", "text": text, "user_id": user, "channel_id": "C1", "response_url": response_url}
    return urlencode(form).encode()
