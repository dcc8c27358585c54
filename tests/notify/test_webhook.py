"""webhook against a real local HTTP server: the payload, the signature, headers, targets, failures.

`HttpServer` records each request's method, target and headers but not its body, so the body is
taken from the client's side of the same request by `RecordingTransport`, which wraps the real
httpx transport: the bytes recorded are the bytes that went over the socket (the server's
`Content-Length` is checked against them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from handrail.errors import NotifyError
from handrail.notify import Notification, Notifier, WebhookNotifier, WebhookNotifierConfig
from handrail.redaction import register_secrets
from support.servers import HttpServer, Route, refused_port, silent_port

pytestmark = pytest.mark.timeout(30)

NOW = 1_714_564_800.25
SENT_AT = "2024-05-01T12:00:00.250Z"
SECRET = "whsec-s3cret-value-1234"
TOKEN = "Bearer hook-t0ken-5678"
DOCS = Path(__file__).parents[2] / "docs" / "notifications.md"

NOTIFICATION = Notification(
    target="#incidents-payment",
    kind="opened",
    title="Payment DB connections exhausted",
    text="Pool usage is 97% on payments-db-1.\nRunbook: payment-db-connections — ünïcode",
    severity="P1",
    incident_id="INC-42",
    fields={"service": "payments", "state": "assessing"},
    dedup_key="INC-42:opened",
)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The real transport, keeping the body bytes of each request it sends."""

    def __init__(self) -> None:
        self._real = httpx.AsyncHTTPTransport()
        self.bodies: list[bytes] = []
        self.closed = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        return await self._real.handle_async_request(request)

    async def aclose(self) -> None:
        self.closed += 1
        await self._real.aclose()


@pytest.fixture
def server() -> Any:
    with HttpServer({"/hooks/incidents": Route(status=204, body=b"")}) as server:
        yield server


def webhook(url: str, transport: httpx.AsyncBaseTransport | None = None, **options: Any) -> WebhookNotifier:
    return WebhookNotifier(url, transport=transport, clock=lambda: NOW, **options)


async def send_once(notifier: WebhookNotifier, notification: Notification = NOTIFICATION) -> None:
    try:
        await notifier.send(notification)
    finally:
        await notifier.aclose()


async def failure(notifier: WebhookNotifier) -> str:
    """The message of the `NotifyError` that sending raises."""
    with pytest.raises(NotifyError) as caught:
        await send_once(notifier)
    return str(caught.value)


def docs_verify() -> Callable[..., bool]:
    """The receiver-side `verify` exactly as docs/notifications.md shows it."""
    section = DOCS.read_text().split("### Verifying the signature", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/notifications.md has no Python snippet under 'Verifying the signature'"
    namespace: dict[str, Any] = {}
    exec(match.group(1), namespace)
    verify: Callable[..., bool] = namespace["verify"]
    return verify


# -- the request ----------------------------------------------------------------------------


async def test_webhook_notifier_posts_the_documented_json_payload(server: HttpServer) -> None:
    transport = RecordingTransport()
    await send_once(webhook(server.url("/hooks/incidents"), transport))

    [seen] = server.requests
    assert (seen.method, seen.target) == ("POST", "/hooks/incidents")
    headers = httpx.Headers(seen.headers)
    assert headers["content-type"] == "application/json"
    [body] = transport.bodies
    assert int(headers["content-length"]) == len(body)
    assert json.loads(body.decode("utf-8")) == {
        "version": "1",
        "kind": "opened",
        "target": "#incidents-payment",
        "title": "Payment DB connections exhausted",
        "text": "Pool usage is 97% on payments-db-1.\nRunbook: payment-db-connections — ünïcode",
        "severity": "P1",
        "incidentId": "INC-42",
        "fields": {"service": "payments", "state": "assessing"},
        "dedupKey": "INC-42:opened",
        "sentAt": SENT_AT,
    }


async def test_webhook_notifier_sends_defaults_as_empty_strings_and_null(server: HttpServer) -> None:
    transport = RecordingTransport()
    await send_once(webhook(server.url("/hooks/incidents"), transport), Notification("ops", "message", "hi", "body"))
    payload = json.loads(transport.bodies[0])
    assert (payload["severity"], payload["incidentId"], payload["fields"], payload["dedupKey"]) == ("", None, {}, "")


async def test_webhook_notifier_signature_verifies_with_the_documented_scheme(server: HttpServer) -> None:
    transport = RecordingTransport()
    await send_once(webhook(server.url("/hooks/incidents"), transport, secret=SecretStr(SECRET)))

    headers = httpx.Headers(server.requests[0].headers)
    [body] = transport.bodies
    assert headers["x-handrail-timestamp"] == str(int(NOW))
    signed = headers["x-handrail-timestamp"].encode() + b"." + body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert headers["x-handrail-signature"] == f"sha256={expected}"


async def test_docs_verification_snippet_accepts_a_real_request_and_refuses_tampering(server: HttpServer) -> None:
    transport = RecordingTransport()
    await send_once(webhook(server.url("/hooks/incidents"), transport, secret=SecretStr(SECRET)))
    verify = docs_verify()
    headers = httpx.Headers(server.requests[0].headers)
    [body] = transport.bodies

    assert verify(SECRET.encode(), headers, body, now=NOW + 60)
    assert not verify(b"another-secret", headers, body, now=NOW + 60)
    assert not verify(SECRET.encode(), headers, body.replace(b"P1", b"P4"), now=NOW + 60)
    assert not verify(SECRET.encode(), headers, body, now=NOW + 3600), "an old request is refused (replay)"
    replayed = httpx.Headers({**headers, "X-Handrail-Timestamp": str(int(NOW) + 3600)})
    assert not verify(SECRET.encode(), replayed, body, now=NOW + 3600), "a new timestamp breaks the signature"


async def test_webhook_notifier_without_secret_sends_no_signature(server: HttpServer) -> None:
    await send_once(webhook(server.url("/hooks/incidents")))
    headers = httpx.Headers(server.requests[0].headers)
    assert "x-handrail-signature" not in headers
    assert "x-handrail-timestamp" not in headers


async def test_webhook_notifier_sends_configured_headers_but_keeps_its_own(server: HttpServer) -> None:
    configured = {"Authorization": TOKEN, "X-Team": "payments", "Content-Type": "text/plain"}
    await send_once(webhook(server.url("/hooks/incidents"), headers=configured))
    headers = httpx.Headers(server.requests[0].headers)
    assert headers["authorization"] == TOKEN
    assert headers["x-team"] == "payments"
    assert headers["content-type"] == "application/json"


async def test_webhook_notifier_reuses_its_client_until_closed(server: HttpServer) -> None:
    transport = RecordingTransport()
    notifier = webhook(server.url("/hooks/incidents"), transport)
    await notifier.send(NOTIFICATION)
    await notifier.send(NOTIFICATION)
    assert transport.closed == 0
    await notifier.aclose()
    assert transport.closed == 1
    await notifier.aclose()  # closing twice is harmless
    assert transport.closed == 1
    assert len(server.requests) == 2


async def test_webhook_notifier_sends_again_after_aclose(server: HttpServer) -> None:
    notifier = webhook(server.url("/hooks/incidents"))
    await notifier.send(NOTIFICATION)
    await notifier.aclose()
    await send_once(notifier)
    assert len(server.requests) == 2


def test_webhook_notifier_is_a_notifier() -> None:
    notifier: Notifier = webhook("http://127.0.0.1:9/")  # mypy checks the protocol where it is used
    assert notifier.name == "webhook"
    assert webhook("http://127.0.0.1:9/", name="ops-hook").name == "ops-hook"


# -- targets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "target", "accepted"),
    [
        pytest.param(None, "#anything", True, id="no-targets-accepts-all"),
        pytest.param([], "pagerduty:dba-oncall", True, id="empty-targets-accepts-all"),
        pytest.param(["#incidents-payment"], "#incidents-payment", True, id="exact"),
        pytest.param(["#incidents-payment"], "#incidents-payments", False, id="exact-is-not-prefix"),
        pytest.param(["#payments-*"], "#payments-db", True, id="glob"),
        pytest.param(["#payments-*"], "#Payments-db", False, id="glob-is-case-sensitive"),
        pytest.param(["#payments-*"], "#orders-db", False, id="glob-mismatch"),
        pytest.param(["ops", "pagerduty:*"], "pagerduty:dba-oncall", True, id="any-of-several"),
        pytest.param(["team[1]"], "team[1]", True, id="brackets-match-exactly"),
    ],
)
def test_webhook_notifier_accepts_only_its_targets(targets: list[str] | None, target: str, accepted: bool) -> None:
    assert webhook("http://127.0.0.1:9/", targets=targets).accepts(target) is accepted


# -- failures -------------------------------------------------------------------------------


async def test_webhook_notifier_raises_on_a_server_error_with_status_and_body() -> None:
    with HttpServer({"/hook": Route(status=500, body="database on fire\n" + "x" * 400)}) as server:
        message = await failure(webhook(server.url("/hook")))
    assert message.startswith(f"webhook http://127.0.0.1:{server.port} answered HTTP 500 Internal Server Error: ")
    snippet = message.split(": ", 1)[1]
    assert snippet.startswith("database on fire xxx")
    assert snippet.endswith("…")
    assert len(snippet) == 201


@pytest.mark.parametrize("status", [pytest.param(302, id="redirect"), pytest.param(404, id="not-found")])
async def test_webhook_notifier_raises_on_any_status_but_2xx(status: int) -> None:
    route = Route(status=status, body="", headers={"Location": "/elsewhere"})
    with HttpServer({"/hook": route}, default=Route(status=200)) as server:
        message = await failure(webhook(server.url("/hook")))
        assert [seen.path for seen in server.requests] == ["/hook"], "redirects are not followed"
    assert f"answered HTTP {status}" in message


async def test_webhook_notifier_raises_when_the_port_refuses() -> None:
    with refused_port() as port:
        message = await failure(webhook(f"http://127.0.0.1:{port}/hook"))
    assert message.startswith(f"cannot reach webhook http://127.0.0.1:{port}: ConnectError")


@pytest.mark.timeout(10)
async def test_webhook_notifier_raises_when_the_server_never_answers() -> None:
    with silent_port() as port:
        started = time.monotonic()
        message = await failure(webhook(f"http://127.0.0.1:{port}/hook", timeout=0.3))
        elapsed = time.monotonic() - started
    assert message == f"webhook http://127.0.0.1:{port} did not answer within 0.3s"
    assert elapsed < 3, "bounded by the 0.3s timeout, not httpx's or the 10s default"


@pytest.mark.timeout(10)
async def test_webhook_notifier_raises_when_the_answer_is_too_slow() -> None:
    with HttpServer({"/hook": Route(delay=5)}) as server:
        message = await failure(webhook(server.url("/hook"), timeout=0.3))
    assert message == f"webhook http://127.0.0.1:{server.port} did not answer within 0.3s"


async def test_webhook_notifier_never_shows_its_secret_or_auth_headers() -> None:
    # A receiver (or a proxy) that echoes the request back, credentials included.
    echoed = f"bad request; Authorization: {TOKEN}; secret={SECRET}; Cookie: session=c00kie-v4lue-9"
    headers = {"Authorization": TOKEN, "Cookie": "session=c00kie-v4lue-9"}
    with HttpServer({"/hooks/T0KEN-IN-PATH": Route(status=400, body=echoed)}) as server:
        url = server.url("/hooks/T0KEN-IN-PATH?key=q5ery-t0ken")
        message = await failure(webhook(url, secret=SecretStr(SECRET), headers=headers))
    assert message.startswith(f"webhook http://127.0.0.1:{server.port} answered HTTP 400 Bad Request: bad request")
    for secret in (SECRET, "hook-t0ken-5678", "c00kie-v4lue-9", "T0KEN-IN-PATH", "q5ery-t0ken"):
        assert secret not in message
    assert "***" in message


async def test_webhook_notifier_never_shows_a_secret_path_the_receiver_echoes() -> None:
    path = "/hook/p4th-s3cret-9f8e7d"
    with HttpServer({path: Route(status=404, body="no such hook", echo_target=True)}) as server:
        message = await failure(webhook(server.url(path)))
    assert message == f"webhook http://127.0.0.1:{server.port} answered HTTP 404 Not Found: no such hook (for ***)"


async def test_webhook_notifier_hides_every_registered_secret_the_receiver_echoes() -> None:
    secret = "r3gistered-" + uuid.uuid4().hex
    register_secrets([secret])  # as load_settings does for each value handrail.yaml reads from ${ENV}
    with HttpServer({"/hook": Route(status=500, body=f"upstream token {secret} refused")}) as server:
        message = await failure(webhook(server.url("/hook")))
    assert message.endswith("upstream token *** refused")


async def test_webhook_notifier_error_hides_userinfo_in_the_url() -> None:
    with refused_port() as port:
        message = await failure(webhook(f"http://hook-user:p4ssw0rd-xyz@127.0.0.1:{port}/hook"))
    assert "p4ssw0rd-xyz" not in message
    assert "hook-user" not in message
    assert f"webhook http://127.0.0.1:{port}" in message


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"url": "ftp://example.com/hook"}, "http:// or https://", id="scheme"),
        pytest.param({"url": "not a url"}, "http:// or https://", id="not-a-url"),
        pytest.param({"timeout": 0}, "timeout must be positive", id="timeout"),
        pytest.param({"secret": SecretStr("")}, "secret must not be empty", id="empty-secret"),
    ],
)
def test_webhook_notifier_refuses_a_bad_configuration(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        WebhookNotifier(**{"url": "https://example.com/hook", **options})


# -- configuration --------------------------------------------------------------------------


def test_webhook_notifier_config_reads_camel_case_settings() -> None:
    config = WebhookNotifierConfig.model_validate(
        {
            "url": "https://hooks.example.com/handrail",
            "headers": {"Authorization": TOKEN},
            "secret": SECRET,
            "timeout": "5s",
            "targets": ["#payments-*"],
        }
    )
    assert config.timeout == 5.0
    assert config.secret is not None
    assert config.secret.get_secret_value() == SECRET
    assert SECRET not in repr(config)
    assert WebhookNotifierConfig.model_validate({"url": "http://hooks.example.com"}).targets == []


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"url": "ftp://hooks.example.com"}, id="scheme"),
        pytest.param({"url": "https://hooks.example.com", "secret": ""}, id="empty-secret"),
        pytest.param({"url": "https://hooks.example.com", "timeout": 0}, id="zero-timeout"),
        pytest.param({"url": "https://hooks.example.com", "retries": 3}, id="unknown-key"),
        pytest.param({"url": "https://hooks.example.com", "targets": "#payments"}, id="targets-not-a-list"),
    ],
)
def test_webhook_notifier_config_refuses_wrong_values(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WebhookNotifierConfig.model_validate(data)


async def test_webhook_notifier_config_creates_a_working_notifier(server: HttpServer) -> None:
    config = WebhookNotifierConfig.model_validate(
        {"url": server.url("/hooks/incidents"), "secret": SECRET, "headers": {"X-Team": "payments"}, "targets": ["#p*"]}
    )
    transport = RecordingTransport()
    notifier = config.create_notifier(transport=transport)
    assert notifier.accepts("#payments")
    assert not notifier.accepts("#orders")
    await send_once(notifier)
    headers = httpx.Headers(server.requests[0].headers)
    assert headers["x-team"] == "payments"
    assert docs_verify()(SECRET.encode(), headers, transport.bodies[0])
