"""slack: notifications to Slack channels, as Block Kit messages that follow the incident.

With a bot token (`chat:write`), the first notification about an incident in a channel posts a
message (`chat.postMessage`); every later one updates that message in place (`chat.update`: the
new state, the buttons gone after a decision, the header once it closed) and adds a one-line
thread reply saying what happened: an approval or rejection and by whom, an action's start and
end, a verification, an escalation, the resolution. The message's reference is kept per
(incident, channel) in `MessageRefs`; a reference is `<channel id>:<ts>`, because `chat.update`
takes only a channel's id, never its name (https://github.com/slackapi/python-slack-sdk/issues/1495).

With an incoming webhook there is nothing to update or thread under: every notification is a new
message in the webhook's own channel, the steps in between (`STEP_KINDS`) as one line each.

Errors become `NotifyError` with Slack's error code (`channel_not_found`, `ratelimited`, ...);
the token and the webhook URL (whose path is its secret) never appear in one.
"""

from __future__ import annotations

import asyncio
import math
import re
import weakref
from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

import aiohttp
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from handrail.errors import NotifyError
from handrail.notify.base import Notification
from handrail.notify.slack_blocks import event_line, incident_message, view_from_notification
from handrail.redaction import redact
from handrail.runbook.model import Duration, StrictModel

__all__ = [
    "DEFAULT_API_URL",
    "STEP_KINDS",
    "InMemoryMessageRefs",
    "MessageRefs",
    "SlackNotifier",
    "SlackNotifierConfig",
]

DEFAULT_API_URL = "https://slack.com/api/"
STEP_KINDS = frozenset(
    {"approved", "rejected", "done", "skipped", "action_started", "action_finished", "verification", "escalation_sent"}
)
"""The steps between the news (engine/notifications.py `Notes.follow`): through a webhook, one line each."""
_SNIPPET = 200
_GONE = frozenset({"message_not_found", "cant_update_message"})
"""`chat.update` answers these when the message was deleted or is too old: post a new one instead."""
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_T = TypeVar("_T")


class MessageRefs(Protocol):
    """Where the Slack message about an incident in a channel is remembered between notifications."""

    async def get(self, incident_id: str, channel: str) -> str | None:
        """The reference stored for the incident in `channel`.

        Args:
            incident_id: the incident.
            channel: the target as the runbook wrote it (`#incidents-payment`).

        Returns:
            The reference `put` stored (opaque, at most 64 characters), or None.

        Raises:
            NotifyError: the store cannot be read (the notification is retried).
        """
        ...

    async def put(self, incident_id: str, channel: str, ts: str) -> None:
        """Remember the message's reference (`<channel id>:<ts>`) for the incident in `channel`, replacing any.

        Raises:
            NotifyError: the store cannot be written.
        """
        ...


class InMemoryMessageRefs:
    """`MessageRefs` in a dict: for tests, and for one process that may forget across restarts."""

    def __init__(self) -> None:
        self.refs: dict[tuple[str, str], str] = {}

    async def get(self, incident_id: str, channel: str) -> str | None:
        return self.refs.get((incident_id, channel))

    async def put(self, incident_id: str, channel: str, ts: str) -> None:
        self.refs[(incident_id, channel)] = ts


class SlackNotifierConfig(StrictModel):
    """Slack: a bot token or an incoming webhook, the signing secret, links, and who is who."""

    # A refused token or webhook URL must not be echoed in the error (pydantic shows inputs by default).
    model_config = ConfigDict(hide_input_in_errors=True)

    webhook_url: SecretStr | None = None
    """An incoming webhook (`https://hooks.slack.com/services/...`): messages only, no updates or threads."""
    bot_token: SecretStr | None = None
    """A bot token (`xoxb-...`) with `chat:write`: messages that are updated as the incident moves."""
    signing_secret: SecretStr | None = None
    """Verifies Slack's interaction and slash-command requests (buttons, `/handrail`)."""
    console_url: str | None = Field(default=None, pattern=r"^https?://")
    """Handrail's base URL; messages link to `<consoleUrl>/incidents/<id>`."""
    users: dict[str, str] = Field(default_factory=dict)
    """Slack user id (`U024BE7LH`) → Handrail identity, for approvals from Slack."""
    api_url: str = Field(default=DEFAULT_API_URL, pattern=r"^https?://")
    """Slack's Web API (tests point it elsewhere)."""
    timeout: Duration = 10.0
    """Each call to Slack, from connecting to the end of the answer."""

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url_is_a_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("must be an https:// URL (Slack's incoming webhook URL)")
        return value

    @field_validator("bot_token")
    @classmethod
    def _bot_token_is_a_bot_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token, starting with xoxb-")
        return value

    @field_validator("users")
    @classmethod
    def _users_are_slack_ids(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = [key for key in value if not _SLACK_USER.match(key)]
        if wrong:
            raise ValueError(f"keys must be Slack user ids like U024BE7LH, not {', '.join(sorted(wrong))}")
        return value

    @model_validator(mode="after")
    def _exactly_one_way_in(self) -> SlackNotifierConfig:
        if (self.webhook_url is None) == (self.bot_token is None):
            raise ValueError("set exactly one of webhookUrl and botToken")
        return self

    def create_notifier(self, *, refs: MessageRefs | None = None, name: str = "slack") -> SlackNotifier:
        """A `SlackNotifier` with this configuration, keeping message references in `refs`."""
        return SlackNotifier(
            bot_token=self.bot_token,
            webhook_url=self.webhook_url,
            refs=refs,
            console_url=self.console_url,
            api_url=self.api_url,
            timeout=self.timeout,
            name=name,
        )


class SlackNotifier:
    """Delivers notifications for `#channel` targets to Slack, by bot token or incoming webhook."""

    def __init__(
        self,
        *,
        bot_token: SecretStr | None = None,
        webhook_url: SecretStr | None = None,
        refs: MessageRefs | None = None,
        console_url: str | None = None,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 10.0,
        name: str = "slack",
    ) -> None:
        if (bot_token is None) == (webhook_url is None):
            raise ValueError("Slack needs exactly one of a bot token and an incoming webhook URL")
        if timeout <= 0:
            raise ValueError(f"Slack timeout must be positive, not {timeout}")
        self.name = name
        self._secrets = [s.get_secret_value() for s in (bot_token, webhook_url) if s is not None]
        if webhook_url is not None:
            # the path is the webhook's secret (https://hooks.slack.com/services/T…/B…/<secret>)
            self._secrets.append(webhook_url.get_secret_value().split("://", 1)[-1].partition("/")[2])
        self._secrets = sorted(filter(None, self._secrets), key=len, reverse=True)
        self._refs: MessageRefs = refs if refs is not None else InMemoryMessageRefs()
        self._console_url = console_url
        self._timeout = timeout
        seconds = max(1, math.ceil(timeout))  # slack_sdk takes whole seconds; asyncio.timeout bounds it exactly
        # No retry handlers: the engine retries a failed notification with backoff, durably.
        self._web = (
            AsyncWebClient(token=bot_token.get_secret_value(), base_url=api_url, timeout=seconds, retry_handlers=[])
            if bot_token is not None
            else None
        )
        self._webhook = (
            AsyncWebhookClient(webhook_url.get_secret_value(), timeout=seconds, retry_handlers=[])
            if webhook_url is not None
            else None
        )
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = weakref.WeakValueDictionary()

    def accepts(self, target: str) -> bool:
        """Channels: targets starting with `#`."""
        return target.startswith("#") and len(target) > 1

    async def send(self, notification: Notification) -> None:
        """Post, or update and reply in the thread; `NotifyError` when Slack did not take it."""
        view = view_from_notification(notification, console_url=self._console_url)
        message = incident_message(view, kind=notification.kind)
        if self._webhook is not None:
            if notification.kind in STEP_KINDS:  # no thread to put it in: a line, not the whole incident again
                message = {"text": event_line(view, kind=notification.kind)}
            await self._guard(self._post_webhook(self._webhook, message), "incoming webhook")
            return
        incident_id, channel = notification.incident_id, notification.target
        if incident_id is None:
            await self._post(channel, message)
            return
        # Two notifications about one incident may be delivered at once: one message, not two.
        key = (incident_id, channel)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            ref = await self._refs.get(incident_id, channel)
            if ref is not None and await self._follow(
                ref, notification, message, event_line(view, kind=notification.kind)
            ):
                return
            answer = await self._post(channel, message)
            await self._refs.put(incident_id, channel, f"{answer['channel']}:{answer['ts']}")

    async def aclose(self) -> None:
        """Nothing to release: slack_sdk opens and closes a session per call."""

    async def _follow(self, ref: str, notification: Notification, message: dict[str, Any], line: str) -> bool:
        """Update the incident's message and reply in its thread; False when that message is gone."""
        channel_id, _, ts = ref.partition(":")
        if notification.kind != "message":  # a runbook's message says nothing new about the incident itself
            try:
                await self._call("chat.update", channel=channel_id, ts=ts, **message)
            except _Gone:
                return False
        await self._call("chat.postMessage", channel=channel_id, thread_ts=ts, text=line)
        return True

    async def _post(self, channel: str, message: dict[str, Any]) -> dict[str, Any]:
        answer = await self._call(
            "chat.postMessage", channel=channel, unfurl_links=False, unfurl_media=False, **message
        )
        if not isinstance(answer.get("channel"), str) or not isinstance(answer.get("ts"), str):
            raise NotifyError("slack chat.postMessage answered ok without the message's channel and ts")
        return answer

    async def _call(self, method: str, **arguments: Any) -> dict[str, Any]:
        """One Web API call; its answer's data, or `NotifyError` (`_Gone` when an update has no message)."""
        assert self._web is not None
        web = self._web
        channel = arguments.get("channel", "")
        return await self._guard(_api_call(web, method, arguments), f"{method} to {channel}")

    async def _guard(self, call: Awaitable[_T], what: str) -> _T:
        """Await `call` within the timeout; Slack's and the network's errors become `NotifyError`."""
        try:
            async with asyncio.timeout(self._timeout):
                return await call
        except SlackApiError as exc:
            response = exc.response
            data = response.data if isinstance(response.data, dict) else {}
            code = str(data.get("error") or f"HTTP {response.status_code}")
            if code in _GONE:
                raise _Gone(code) from None
            detail = ""
            if response.status_code == 429:
                detail = f" (HTTP 429, retry after {response.headers.get('Retry-After', '?')}s)"
            elif response.status_code != 200:
                detail = f" (HTTP {response.status_code})"
            raise NotifyError(self._shown(f"slack {what}: {code}{detail}")) from self._cause(exc)
        except TimeoutError as exc:
            raise NotifyError(f"slack {what}: no answer within {self._timeout:g}s") from exc
        except (aiohttp.ClientError, SlackClientError) as exc:
            message = f"slack {what}: {type(exc).__name__}: {_one_line(str(exc))}"
            raise NotifyError(self._shown(message)) from self._cause(exc)

    async def _post_webhook(self, webhook: AsyncWebhookClient, message: dict[str, Any]) -> None:
        response = await webhook.send_dict(message)
        if response.status_code == 200:
            return
        # incoming webhooks answer errors as plain text: `invalid_blocks`, `no_service`, `channel_is_archived`
        code = _one_line(response.body or "") or "no error code"
        retry = response.headers.get("Retry-After") if response.status_code == 429 else None
        detail = f", retry after {retry}s" if retry else ""
        raise NotifyError(self._shown(f"slack incoming webhook: {code} (HTTP {response.status_code}{detail})"))

    def _cause(self, exc: BaseException) -> BaseException | None:
        """`exc`, unless its text holds a secret: a logged traceback would show it."""
        text = str(exc)
        return None if any(secret in text for secret in self._secrets) else exc

    def _shown(self, message: str) -> str:
        """`message` for an error: redacted (our own tokens as `[redacted]`) and cut to a snippet."""
        message = redact(message, self._secrets, replacement="[redacted]")
        return message if len(message) <= _SNIPPET else message[:_SNIPPET] + "…"


class _Gone(NotifyError):
    """The message to update no longer exists (deleted, or too old to edit)."""


async def _api_call(web: AsyncWebClient, method: str, arguments: dict[str, Any]) -> dict[str, Any]:
    # api_call with json= is what chat_postMessage / chat_update do; one path for both
    response = await web.api_call(method, json=arguments)
    data = response.data
    return dict(data) if isinstance(data, dict) else {}


def _one_line(text: str) -> str:
    return " ".join(text.split())
