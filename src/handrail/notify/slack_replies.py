"""slack_replies: answers through a Slack request's `response_url`, and only ever to Slack's hooks host.

A button click or a slash command carries a `response_url`: a JSON POST there of
`{"response_type": "ephemeral", "replace_original": false, "text": ...}` shows the person who clicked
or typed a message only they see, without touching the message they clicked on (Slack's
"Handling user interaction", message responses). The HTTP answer to a click only acknowledges it.

The URL arrives in a request, so it must never choose where Handrail sends one: `check_response_url`
holds it to `https://hooks.slack.com/...` (no other host, port, scheme or user info), the request
parsers refuse any other, and `SlackReplies.send` checks again before it posts; redirects are not
followed. No setting widens this. Tests reach a stand-in by handing `SlackReplies` an httpx
transport that routes that host to it (tests/support/slack.py, `HooksTransport`).

A response URL is a credential for its 30 minutes, so no error or log line shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from handrail.errors import NotifyError
from handrail.notify._http import snippet

__all__ = ["RESPONSE_HOST", "SlackReplies", "check_response_url", "ephemeral"]

RESPONSE_HOST = "hooks.slack.com"
"""Where Slack's response URLs point (https://hooks.slack.com/actions/..., .../commands/...)."""
_SNIPPET = 200


def check_response_url(url: str) -> str:
    """`url` when it is one of Slack's response URLs: `https://hooks.slack.com/...`.

    Raises:
        ValueError: another scheme, host, port, user info, or not a URL; the message never repeats the URL.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        raise ValueError("response_url is not a URL") from None
    if (
        parsed.scheme != "https"
        or parsed.host != RESPONSE_HOST
        or parsed.port not in (None, 443)
        or parsed.userinfo
        or not parsed.path.startswith("/")
    ):
        raise ValueError(f"response_url must be https://{RESPONSE_HOST}/...")
    return url


def ephemeral(text: str) -> dict[str, Any]:
    """A reply only the person who clicked or typed sees, leaving the original message as it is.

    `text` is mrkdwn: every outside value in it must have gone through `escape_mrkdwn`.
    """
    return {"response_type": "ephemeral", "replace_original": False, "text": text}


class SlackReplies:
    """Posts messages to Slack's response URLs, with a timeout; one HTTP client per answer."""

    def __init__(self, *, timeout: float = 10.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if timeout <= 0:
            raise ValueError(f"Slack timeout must be positive, not {timeout}")
        self._timeout = timeout
        self._transport = transport

    async def send(self, response_url: str, message: Mapping[str, Any]) -> None:
        """POST `message` as JSON to `response_url` once.

        Raises:
            NotifyError: the URL is not Slack's (nothing is sent), or Slack did not take the message.
        """
        try:
            url = check_response_url(response_url)
        except ValueError as exc:
            raise NotifyError(f"slack response_url refused: {exc}") from None
        try:
            async with httpx.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            ) as client:
                answer = await client.post(url, json=dict(message))
        except httpx.HTTPError as exc:
            raise NotifyError(f"slack response_url: {type(exc).__name__}") from None
        if answer.status_code != 200:
            body = snippet(answer.text, _SNIPPET)
            raise NotifyError(f"slack response_url: HTTP {answer.status_code}" + (f": {body}" if body else ""))
