"""webhook: each notification POSTed as JSON to one URL, optionally signed with HMAC-SHA256.

The payload and the signature scheme are documented in docs/notifications.md; receivers rely on
both, so they change only with a new `version`. Signing follows the shape of Stripe's and Slack's
webhook signatures: the timestamp is part of the signed bytes, so a captured request cannot be
replayed later with a new timestamp, and a receiver can refuse old ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase

import httpx
from pydantic import Field, SecretStr

from handrail.errors import NotifyError
from handrail.notify._http import one_line, read_head, snippet
from handrail.notify.base import Notification
from handrail.redaction import SECRET_HEADER, redact
from handrail.runbook.model import Duration, StrictModel

__all__ = [
    "PAYLOAD_VERSION",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WebhookNotifier",
    "WebhookNotifierConfig",
]

PAYLOAD_VERSION = "1"
SIGNATURE_HEADER = "X-Handrail-Signature"
"""`sha256=` and the hex HMAC-SHA256, keyed with the secret, of `<timestamp>.<body>` (the exact bytes)."""
TIMESTAMP_HEADER = "X-Handrail-Timestamp"
"""Unix seconds (an integer) when the request was signed; the same instant as the payload's `sentAt`."""
_SNIPPET = 200
_READ_AT_MOST = 4096
"""Bytes of an error answer read for the message: enough for 200 characters, bounded against huge bodies."""


class WebhookNotifierConfig(StrictModel):
    """A webhook to notify: where, which extra headers, the signing secret, the timeout, which targets."""

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, str] = Field(default_factory=dict)
    """Sent with every request (e.g. `Authorization`); `Content-Type` and the signature headers are ours."""
    secret: SecretStr | None = Field(default=None, min_length=1)
    """When set, every request is signed (`X-Handrail-Signature`, `X-Handrail-Timestamp`)."""
    timeout: Duration = 10.0
    """The whole request, connect to last byte of the answer."""
    targets: list[str] = Field(default_factory=list)
    """Targets delivered to: exact strings or glob patterns like `#payments-*` (empty: every target)."""

    def create_notifier(
        self, *, name: str = "webhook", transport: httpx.AsyncBaseTransport | None = None
    ) -> WebhookNotifier:
        """A `WebhookNotifier` with this configuration."""
        return WebhookNotifier(
            self.url,
            headers=self.headers,
            secret=self.secret,
            timeout=self.timeout,
            transport=transport,
            targets=self.targets,
            name=name,
        )


class WebhookNotifier:
    """POSTs each notification as JSON to one URL; one HTTP client, reused until `aclose`."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secret: SecretStr | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        targets: Sequence[str] | None = None,
        name: str = "webhook",
        clock: Callable[[], float] = time.time,
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"webhook URL is not a URL: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("webhook URL must be an http:// or https:// URL with a host")
        if timeout <= 0:
            raise ValueError(f"webhook timeout must be positive, not {timeout}")
        if secret is not None and not secret.get_secret_value():
            raise ValueError("webhook secret must not be empty (leave it unset to send unsigned)")
        self.name = name
        self._url = parsed
        # Only the origin is ever shown: webhook URLs often carry a token in their path or query.
        self._where = f"webhook {parsed.scheme}://{parsed.netloc.decode('ascii', 'replace').rpartition('@')[2]}"
        self._headers = httpx.Headers(headers or {})  # a non-ASCII value fails here, at startup
        self._secret = secret
        self._timeout = timeout
        self._transport = transport
        self._targets = tuple(targets or ())
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def accepts(self, target: str) -> bool:
        """Every target, or only those matching one of `targets` (exactly, or as a glob pattern)."""
        if not self._targets:
            return True
        return any(target == pattern or fnmatchcase(target, pattern) for pattern in self._targets)

    async def send(self, notification: Notification) -> None:
        """POST `notification` once; `NotifyError` for anything but a 2xx answer within the timeout."""
        now = self._clock()
        body = _body(notification, now)
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            timestamp = str(int(now))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = _sign(self._secret, timestamp, body)
        try:
            await self._post(body, headers)
        except NotifyError as exc:
            # not chained to the unredacted error: a logged traceback would show it
            raise NotifyError(redact(str(exc), self._secrets())) from exc.__cause__

    async def aclose(self) -> None:
        """Close the HTTP client (a later `send` opens a new one)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                headers=self._headers, timeout=self._timeout, transport=self._transport, follow_redirects=False
            )
        return self._client

    async def _post(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Returns when the webhook took it (2xx); otherwise `NotifyError` says why, in one line."""
        where, timeout = self._where, self._timeout
        try:
            # httpx's timeout bounds each phase; asyncio's bounds the whole exchange (a trickling server).
            async with (
                asyncio.timeout(timeout),
                self._http().stream("POST", self._url, content=body, headers=headers) as response,
            ):
                if response.is_success:
                    return
                # Redirects are not followed: a signed body should reach only the configured URL.
                status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                text = snippet(await read_head(response, _READ_AT_MOST), _SNIPPET)
                raise NotifyError(f"{where} answered {status}" + (f": {text}" if text else ""))
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise NotifyError(f"{where} did not answer within {timeout:g}s") from exc
        except httpx.TransportError as exc:
            raise NotifyError(f"cannot reach {where}: {type(exc).__name__}: {one_line(str(exc))}") from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise NotifyError(f"request to {where} failed: {type(exc).__name__}: {one_line(str(exc))}") from exc

    def _secrets(self) -> list[str]:
        """The secret and credentials a server or proxy might echo back, for `redact`."""
        secrets = [value for header, value in self._headers.items() if SECRET_HEADER.search(header)]
        if self._secret is not None:
            secrets.append(self._secret.get_secret_value())
        secrets += [self._url.password or "", self._url.query.decode("ascii", "replace")]
        path = self._url.raw_path.decode("ascii", "replace").partition("?")[0]
        if path not in ("", "/"):  # webhook URLs often carry their token in the path
            secrets += [str(self._url), path]
        return secrets


def _body(notification: Notification, now: float) -> bytes:
    """The payload as UTF-8 JSON bytes, exactly what is signed and sent."""
    sent_at = datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {"version": PAYLOAD_VERSION, **notification.to_dict(), "sentAt": sent_at}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sign(secret: SecretStr, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over `<timestamp>.<body>`, hex, after `sha256=`."""
    signed = timestamp.encode("ascii") + b"." + body
    digest = hmac.new(secret.get_secret_value().encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
