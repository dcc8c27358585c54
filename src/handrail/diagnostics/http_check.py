"""http_check: a list of HTTP endpoints, checked concurrently.

Each endpoint gets one request with a deadline a little under the step's timeout, so a slow
endpoint reads as unreachable instead of the whole step timing out. Redirects are never followed:
a health check reports the status the endpoint itself answers (expect 301/302 to accept one).
What one endpoint does (refuses, times out, answers 500) is data in the result, never an exception.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import httpx
import re2
from cryptography import x509
from pydantic import Field

from handrail import __version__
from handrail.diagnostics.base import Observation, ProbeContext, ProbeParams
from handrail.errors import ProbeError, TemplateError
from handrail.runbook.model import StrictModel
from handrail.runbook.template import TemplateUrl, render_text, render_url

__all__ = ["HttpCheckParams", "HttpCheckProbe", "HttpEndpoint"]

MAX_BODY_BYTES = 1024 * 1024
"""Bodies are read up to 1 MiB; `bodyContains`/`bodyMatches` look at that much."""
BUDGET_SHARE = 0.9
"""The share of the step's timeout one request may take, so the probe answers before the step times out."""
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")
_REDACTED = "redacted"


class HttpEndpoint(StrictModel):
    """One endpoint: healthy when it answers with an expected status (and body, if asked)."""

    name: str = Field(min_length=1)
    url: TemplateUrl
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    expect_status: int | list[int] = 200
    body_contains: str | None = None
    body_matches: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True


class HttpCheckParams(ProbeParams):
    """`urls`: the endpoints to check (the reference write-up's key)."""

    urls: list[HttpEndpoint] = Field(min_length=1)

    PROVIDES: ClassVar[Mapping[str, str]] = {
        "all_healthy": "true when every endpoint answered as expected",
        "any_unreachable": "true when an endpoint could not be reached (connection error or timeout)",
        "any_slow": "the slowest latency among endpoints that answered, a duration (compare with 1000ms)",
        "max_latency": "the slowest latency among endpoints that answered, a duration",
        "healthy_count": "how many endpoints answered as expected",
        "total_count": "how many endpoints were checked",
        "unreachable": "the names of the endpoints that could not be reached",
        "endpoints": "each endpoint: {name, url, status, latency (seconds), healthy, error}",
        "tls_days_left": "for HTTPS endpoints: the fewest days until a certificate expires",
    }


@dataclass(frozen=True, slots=True)
class _Request:
    """One endpoint with its templates rendered and its regex compiled: ready to send."""

    endpoint: HttpEndpoint
    url: httpx.URL
    headers: dict[str, str]
    expected: tuple[int, ...]
    pattern: Any | None


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one endpoint did; `latency` and `status` are None when it could not be reached."""

    name: str
    url: str
    status: int | None
    latency: float | None
    healthy: bool
    error: str | None
    reachable: bool
    tls_days_left: float | None

    @classmethod
    def unreachable(cls, name: str, url: str, error: str) -> _Outcome:
        return cls(name, url, None, None, False, error, False, None)

    def as_value(self) -> dict[str, object]:
        return {
            "name": self.name,
            "url": self.url,
            "status": self.status,
            "latency": self.latency,
            "healthy": self.healthy,
            "error": self.error,
        }


def _utcnow() -> datetime:
    return datetime.now(UTC)


class HttpCheckProbe:
    """Checks every endpoint of an `http_check` at once, each with its own deadline."""

    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`transport`, when given, carries every request (and decides TLS); the probe closes it."""
        self._transport = transport
        self._clock = clock
        self._clients: dict[bool, httpx.AsyncClient] = {}

    async def observe(self, params: HttpCheckParams, context: ProbeContext) -> Observation:
        requests = [_prepare(endpoint, context) for endpoint in params.urls]
        budget = context.timeout * BUDGET_SHARE
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._check(request, budget)) for request in requests]
        outcomes = [task.result() for task in tasks]
        return Observation(values=_values(outcomes), message=_message(outcomes))

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, verify: bool) -> httpx.AsyncClient:
        # With an injected transport there is one client: the transport decides how TLS is checked.
        key = True if self._transport is not None else verify
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                transport=self._transport,
                verify=verify,
                follow_redirects=False,
                timeout=30.0,  # every request passes its own deadline
                trust_env=False,  # proxies and CA bundles come from settings, never from the environment
                headers={"User-Agent": f"handrail/{__version__} http_check"},
            )
            self._clients[key] = client
        return client

    async def _check(self, request: _Request, budget: float) -> _Outcome:
        endpoint = request.endpoint
        shown_url = _shown_url(request.url)
        client = self._client(endpoint.verify_tls)
        status: int | None = None
        tls_days_left: float | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget):
                async with client.stream(
                    endpoint.method, request.url, headers=request.headers, timeout=httpx.Timeout(budget)
                ) as response:
                    status = response.status_code
                    if request.url.scheme == "https":
                        tls_days_left = self._tls_days_left(response)
                    body = await _read_body(response)
                    encoding = response.encoding or "utf-8"
            latency = time.perf_counter() - started
        except (TimeoutError, httpx.TimeoutException):
            # Even after the status line: an answer that does not finish in time is no answer.
            return _Outcome.unreachable(endpoint.name, shown_url, f"no answer within {_seconds(budget)}")
        except (httpx.TransportError, OSError) as exc:
            if status is None:
                return _Outcome.unreachable(endpoint.name, shown_url, _describe(exc))
            latency = time.perf_counter() - started
            return _Outcome(endpoint.name, shown_url, status, latency, False, _describe(exc), True, tls_days_left)
        except httpx.HTTPError as exc:  # an answer that could not be decoded (bad gzip, bad charset)
            latency = time.perf_counter() - started
            return _Outcome(endpoint.name, shown_url, status, latency, False, _describe(exc), True, tls_days_left)
        error = _judge(request, status, body, encoding)
        return _Outcome(endpoint.name, shown_url, status, latency, error is None, error, True, tls_days_left)

    def _tls_days_left(self, response: httpx.Response) -> float | None:
        """Days until the certificate of the live connection expires; None when it cannot be seen."""
        stream = response.extensions.get("network_stream")
        if stream is None:
            return None
        ssl_object = stream.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
            return None
        der = ssl_object.getpeercert(binary_form=True)
        if der is None:
            return None
        try:
            certificate = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        return (certificate.not_valid_after_utc - self._clock()).total_seconds() / 86400


def _prepare(endpoint: HttpEndpoint, context: ProbeContext) -> _Request:
    """Render the endpoint's URL and headers and compile its regex, or raise `ProbeError`."""
    where = f"endpoint {endpoint.name!r}"
    try:
        url = httpx.URL(render_url(endpoint.url, context.template))
        headers = {name: render_text(value, context.template) for name, value in endpoint.headers.items()}
    except TemplateError as exc:
        raise ProbeError(f"{where}: {exc}") from exc
    except httpx.InvalidURL as exc:
        raise ProbeError(f"{where}: the URL is not valid once rendered: {exc}") from exc
    for name, value in headers.items():
        if any(char in value for char in _FORBIDDEN_IN_HEADERS):
            raise ProbeError(f"{where}: header {name!r} would contain a line break or NUL once rendered")
    pattern = None
    if endpoint.body_matches is not None:
        options = re2.Options()
        options.log_errors = False
        try:
            pattern = re2.compile(endpoint.body_matches, options)
        except re2.error as exc:
            raise ProbeError(f"{where}: bodyMatches is not a valid RE2 pattern: {exc}") from exc
    expected = (endpoint.expect_status,) if isinstance(endpoint.expect_status, int) else tuple(endpoint.expect_status)
    return _Request(endpoint, url, headers, expected, pattern)


async def _read_body(response: httpx.Response) -> bytes:
    """The body, up to `MAX_BODY_BYTES`; the rest is never read."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY_BYTES:
            break
    return b"".join(chunks)[:MAX_BODY_BYTES]


def _judge(request: _Request, status: int, body: bytes, encoding: str) -> str | None:
    """Why the answer is not healthy, or None when it is."""
    endpoint = request.endpoint
    if status not in request.expected:
        wanted = " or ".join(str(code) for code in request.expected)
        return f"status {status}, expected {wanted}"
    if endpoint.body_contains is None and request.pattern is None:
        return None
    try:
        text = body.decode(encoding, errors="replace")
    except LookupError:
        text = body.decode("utf-8", errors="replace")
    if endpoint.body_contains is not None and endpoint.body_contains not in text:
        return f"body does not contain {endpoint.body_contains!r}"
    if request.pattern is not None and request.pattern.search(text) is None:
        return f"body does not match {endpoint.body_matches!r}"
    return None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, its causes and contexts, and the members of exception groups among them."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(link for link in (current.__cause__, current.__context__) if link is not None)


def _describe(exc: BaseException) -> str:
    """One line on why a request failed, naming the layer (DNS, TCP, TLS) when it can be told."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted: {cause.verify_message or cause.reason}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed: {cause.reason or cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ConnectionResetError):
            return "connection reset"
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed: {cause.strerror or cause}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _shown_url(url: httpx.URL) -> str:
    """The URL as shown in results: a password in it is replaced."""
    if url.password:
        return str(url.copy_with(password=_REDACTED))
    return str(url)


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.1f}s"


def _values(outcomes: list[_Outcome]) -> dict[str, object]:
    answered = [outcome for outcome in outcomes if outcome.latency is not None]
    max_latency = max((outcome.latency for outcome in answered if outcome.latency is not None), default=None)
    tls = [outcome.tls_days_left for outcome in outcomes if outcome.tls_days_left is not None]
    unreachable = [outcome.name for outcome in outcomes if not outcome.reachable]
    return {
        "all_healthy": all(outcome.healthy for outcome in outcomes),
        "any_unreachable": bool(unreachable),
        "any_slow": max_latency,
        "max_latency": max_latency,
        "healthy_count": sum(1 for outcome in outcomes if outcome.healthy),
        "total_count": len(outcomes),
        "unreachable": unreachable,
        "endpoints": [outcome.as_value() for outcome in outcomes],
        "tls_days_left": min(tls) if tls else None,
    }


def _message(outcomes: list[_Outcome]) -> str:
    healthy = sum(1 for outcome in outcomes if outcome.healthy)
    parts = [f"{healthy}/{len(outcomes)} healthy"]
    unreachable = [outcome.name for outcome in outcomes if not outcome.reachable]
    if unreachable:
        parts.append(f"unreachable: {', '.join(unreachable)}")
    unhealthy = [f"{o.name} ({o.status})" for o in outcomes if o.reachable and not o.healthy]
    if unhealthy:
        parts.append(f"unhealthy: {', '.join(unhealthy)}")
    answered = [outcome for outcome in outcomes if outcome.latency is not None]
    if answered:
        slowest = max(answered, key=lambda outcome: outcome.latency or 0.0)
        parts.append(f"slowest {_seconds(slowest.latency or 0.0)} ({slowest.name})")
    return "; ".join(parts)
