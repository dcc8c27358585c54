"""pagerduty: notifications to `pagerduty:NAME` become PagerDuty alerts, through the Events API v2.

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ — one POST per event to
`/v2/enqueue`. NAME picks a routing key (an integration key) from the settings. Every event of an
incident carries the incident id as its `dedup_key`, so the trigger, the acknowledge and the
resolve all land on one PagerDuty alert. Which notification kinds become which `event_action` is
`EVENT_ACTIONS`; the other kinds are not sent. docs/pagerduty.md shows the events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

import httpx
from pydantic import ConfigDict, Field, SecretStr, field_validator

from handrail.errors import NotifyError
from handrail.notify._http import one_line, read_head, snippet
from handrail.notify.base import Notification
from handrail.redaction import redact
from handrail.runbook.model import Duration, StrictModel

__all__ = [
    "EVENTS_URL",
    "EVENT_ACTIONS",
    "SEVERITIES",
    "TARGET_PREFIX",
    "PagerDutyNotifier",
    "PagerDutyNotifierConfig",
]

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
TARGET_PREFIX = "pagerduty:"
EVENT_ACTIONS: Mapping[str, str] = {
    "opened": "trigger",
    "escalated": "trigger",
    "approval_needed": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
    "cancelled": "resolve",
}
"""The `event_action` each notification kind is sent as; kinds not here are not sent."""
SEVERITIES: Mapping[str, str] = {"P1": "critical", "P2": "error", "P3": "warning", "P4": "info"}
"""The runbook's severity as PagerDuty's `payload.severity`."""
DEFAULT_SEVERITY = "error"
"""For a notification without a runbook severity (Alertmanager's PagerDuty default, too)."""

_SUMMARY_MAX = 1024
_DEDUP_KEY_MAX = 255
_EVENT_MAX_BYTES = 512_000
"""PagerDuty refuses events over 512 KB (Events API v2 overview, "Size Limits")."""
_SNIPPET = 300
_READ_AT_MOST = 8192

RoutingName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=128)]


class PagerDutyNotifierConfig(StrictModel):
    """PagerDuty: routing keys by name, the Events API URL, the timeout, the event source, incident links."""

    # A wrong routing key must not be echoed back in a settings error.
    model_config = ConfigDict(hide_input_in_errors=True)

    routing_keys: dict[RoutingName, SecretStr] = Field(min_length=1)
    """NAME → the 32-character integration key of an Events API v2 integration; targets say `pagerduty:NAME`."""
    url: str = Field(default=EVENTS_URL, pattern=r"^https?://")
    """The Events API v2 enqueue URL (another one only for tests or a proxy)."""
    timeout: Duration = 10.0
    """The whole request, connect to last byte of the answer."""
    source: str = Field(default="handrail", min_length=1)
    """`payload.source` of every trigger: which system is reporting."""
    console_url: str | None = Field(default=None, pattern=r"^https?://")
    """When set, triggers link to `<consoleUrl>/incidents/<id>`."""

    @field_validator("routing_keys")
    @classmethod
    def _check_routing_keys(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, key in keys.items():
            value = key.get_secret_value()
            # PagerDuty refuses any other length with 400 "Length of 'routing_key' is incorrect".
            if len(value) != 32 or not (value.isascii() and value.isalnum()):
                raise ValueError(
                    f"routing key {name!r} must be the 32-letter-or-digit integration key of an "
                    f"Events API v2 integration (it has {len(value)} characters)"
                )
        return keys

    def create_notifier(self, *, transport: httpx.AsyncBaseTransport | None = None) -> PagerDutyNotifier:
        """A `PagerDutyNotifier` with this configuration."""
        return PagerDutyNotifier(self, transport=transport)


class PagerDutyNotifier:
    """Sends notifications to `pagerduty:NAME` as Events API v2 events; one HTTP client, reused until `aclose`."""

    name = "pagerduty"

    def __init__(
        self,
        config: PagerDutyNotifierConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            url = httpx.URL(config.url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"PagerDuty URL is not a URL: {exc}") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("PagerDuty URL must be an http:// or https:// URL with a host")
        self._config = config
        self._url = url
        self._where = f"PagerDuty {url.scheme}://{url.netloc.decode('ascii', 'replace').rpartition('@')[2]}"
        self._keys = dict(config.routing_keys)
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def accepts(self, target: str) -> bool:
        """Targets `pagerduty:NAME` whose NAME has a routing key."""
        return _routing_name(target) in self._keys

    async def send(self, notification: Notification) -> None:
        """Send the event for `notification` once; `NotifyError` unless PagerDuty answers 202 Accepted.

        Kinds that are not in `EVENT_ACTIONS`, and acknowledge or resolve without an incident id
        (nothing to address), are not sent.
        """
        action = EVENT_ACTIONS.get(notification.kind)
        if action is None:
            return
        name = _routing_name(notification.target)
        key = self._keys.get(name or "")
        if key is None:
            known = ", ".join(sorted(self._keys))
            raise NotifyError(f"pagerduty: no routing key for {notification.target!r} (configured: {known})")
        dedup_key = _dedup_key(notification.incident_id)
        if dedup_key is None and action != "trigger":
            return
        event: dict[str, Any] = {"routing_key": key.get_secret_value(), "event_action": action}
        if dedup_key is not None:
            event["dedup_key"] = dedup_key
        if action == "trigger":
            event.update(self._trigger(notification))
        await self._post(_encode(event), notification.target)

    async def aclose(self) -> None:
        """Close the HTTP client (a later `send` opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _trigger(self, notification: Notification) -> dict[str, Any]:
        """The trigger's `payload` and `links`: what the responder's phone and the alert page show."""
        fields = {str(key): str(value) for key, value in notification.fields.items()}
        summary = notification.title.strip() or f"Handrail incident {notification.incident_id or ''}".strip()
        payload: dict[str, Any] = {
            "summary": summary if len(summary) <= _SUMMARY_MAX else summary[: _SUMMARY_MAX - 1] + "…",
            "source": self._config.source,
            "severity": SEVERITIES.get(notification.severity.strip().upper(), DEFAULT_SEVERITY),
            "timestamp": _timestamp(self._clock()),
        }
        if fields.get("service"):
            payload["component"] = fields["service"]
        if fields.get("runbook"):
            payload["group"] = fields["runbook"]
        payload["class"] = notification.kind
        details: dict[str, Any] = {"text": notification.text, "fields": fields}
        # `details` (the diagnostics, structured) arrives on Notification separately; until then it may be absent.
        extra = getattr(notification, "details", None)
        if isinstance(extra, Mapping) and extra:
            details["details"] = _plain(extra)
        payload["custom_details"] = details
        trigger: dict[str, Any] = {"payload": payload}
        console = self._config.console_url
        if console and notification.incident_id:
            href = f"{console.rstrip('/')}/incidents/{quote(notification.incident_id, safe='')}"
            trigger["links"] = [{"href": href, "text": "Handrail incident"}]
        return trigger

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers={"Content-Type": "application/json", "User-Agent": "handrail"},
                timeout=self._config.timeout,
                transport=self._transport,
                follow_redirects=False,
            )
        return self._client

    async def _post(self, body: bytes, target: str) -> None:
        """Returns when PagerDuty accepted the event (202); otherwise `NotifyError` says why, in one line.

        Every message is redacted where it is made, so no exception holding a routing key is ever
        raised, chained or left as `__context__` for a logged traceback to show.
        """
        where, timeout, secrets = self._where, self._config.timeout, self._secrets()
        try:
            # httpx's timeout bounds each phase; asyncio's bounds the whole exchange (a trickling server).
            async with (
                asyncio.timeout(timeout),
                self._http().stream("POST", self._url, content=body) as response,
            ):
                if response.status_code == 202:
                    return
                answer = await read_head(response, _READ_AT_MOST)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise NotifyError(f"{where} did not answer within {timeout:g}s (event for {target})") from exc
        except httpx.TransportError as exc:
            raise NotifyError(
                redact(f"cannot reach {where}: {type(exc).__name__}: {one_line(str(exc))}", secrets)
            ) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            failed = f"request to {where} failed: {type(exc).__name__}: {one_line(str(exc))}"
            raise NotifyError(redact(failed, secrets)) from exc
        # The answer is redacted before it is cut to a snippet, so a key at the edge cannot leak in part.
        raise NotifyError(_refusal(where, target, response, redact(answer, secrets)))

    def _secrets(self) -> list[str]:
        """The routing keys and URL credentials PagerDuty or a proxy might echo back, for `redact`."""
        secrets = [key.get_secret_value() for key in self._keys.values()]
        return [*secrets, self._url.password or "", self._url.query.decode("ascii", "replace")]


def _routing_name(target: str) -> str | None:
    return target[len(TARGET_PREFIX) :] if target.startswith(TARGET_PREFIX) else None


def _dedup_key(incident_id: str | None) -> str | None:
    """The incident id, so every event of one incident addresses one alert; hashed if over PagerDuty's 255."""
    if not incident_id:
        return None
    if len(incident_id) <= _DEDUP_KEY_MAX:
        return incident_id
    return "sha256:" + hashlib.sha256(incident_id.encode("utf-8")).hexdigest()


def _timestamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    """`value` as JSON values: mappings with string keys, lists, strings, finite numbers; the rest as `str`."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _encode(event: dict[str, Any]) -> bytes:
    """The event as UTF-8 JSON, shrunk to PagerDuty's size limit: structured details go first, then text."""
    body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) <= _EVENT_MAX_BYTES:
        return body
    details = event["payload"]["custom_details"]
    if details.pop("details", None) is not None:
        details["omitted"] = "details: too large for PagerDuty's 512 KB event limit"
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    excess = len(body) - _EVENT_MAX_BYTES
    if excess > 0:
        text: str = details["text"]
        # UTF-8 needs up to 4 bytes a character, JSON escapes up to 6: cut enough characters for the worst case.
        details["text"] = text[: max(0, len(text) - excess - 64)] + "… (cut to fit PagerDuty's 512 KB event limit)"
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return body


def _refusal(where: str, target: str, response: httpx.Response, text: str) -> str:
    """Why PagerDuty did not take the event, in one line: its own `errors` for a 400."""
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    if response.status_code == 400:
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if isinstance(answer, dict):
            errors = answer.get("errors")
            reasons = "; ".join(str(e) for e in errors) if isinstance(errors, list) else ""
            said = str(answer.get("message") or answer.get("status") or "invalid event")
            return f"{where} refused the event for {target} ({status}): " + snippet(
                f"{said}: {reasons or text}", _SNIPPET
            )
    if response.status_code == 429:
        return f"{where} is rate-limiting events (HTTP 429 Too Many Requests) for {target}; it is retried later"
    quoted = snippet(text, _SNIPPET)
    return f"{where} answered {status} for {target}" + (f": {quoted}" if quoted else "")
