"""pagerduty against a stand-in Events API v2 that checks every event against PagerDuty's documented format.

PagerDuty cannot run here; `support.pagerduty.PagerDutyServer` answers as PagerDuty documents
(202 for a valid event, 400 with `errors` for an invalid one) and can be told to answer 429 or 500
or to hang. The first tests below show the stand-in itself refuses what PagerDuty would refuse, so
that "the stand-in accepted it" means something.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError

from handrail.errors import NotifyError
from handrail.notify import Notification, Notifier
from handrail.notify.pagerduty import (
    EVENT_ACTIONS,
    EVENTS_URL,
    PagerDutyNotifier,
    PagerDutyNotifierConfig,
)
from support.pagerduty import PagerDutyServer, check_event
from support.servers import refused_port

pytestmark = pytest.mark.timeout(30)

NOW = 1_714_564_800.25
TIMESTAMP = "2024-05-01T12:00:00.250Z"
DBA_KEY = "d4b1a8c0e9f24c6b8a7e5f3d2c1b0a99"
PAYMENTS_KEY = "R0PAYMENTS0ruleset0key0000000042"
CONSOLE = "https://handrail.example.com"
DOCS = Path(__file__).parents[2] / "docs" / "pagerduty.md"

OPENED = Notification(
    target="pagerduty:dba-oncall",
    kind="opened",
    title="[P1] Payment DB connections exhausted — incident opened",
    text="alert trigger by alertmanager (alertname=PaymentDbConnectionsHigh, service=payments)",
    severity="P1",
    incident_id="INC-42",
    fields={"incident": "INC-42", "service": "payments", "runbook": "payment-db-connections", "state": "triggered"},
    dedup_key="INC-42:1:opened",
)


@dataclass(frozen=True, slots=True)
class DetailedNotification(Notification):
    """A notification with structured `details`, as the engine will send once `Notification` has them."""

    details: Mapping[Any, Any] = field(default_factory=dict)


@pytest.fixture
def pagerduty() -> Any:
    with PagerDutyServer() as server:
        yield server


def config(url: str = EVENTS_URL, **settings: Any) -> PagerDutyNotifierConfig:
    data = {"routingKeys": {"dba-oncall": DBA_KEY, "payments-oncall": PAYMENTS_KEY}, "url": url, **settings}
    return PagerDutyNotifierConfig.model_validate(data)


def notifier(url: str = EVENTS_URL, **settings: Any) -> PagerDutyNotifier:
    return PagerDutyNotifier(config(url, **settings), clock=lambda: NOW)


async def send_all(target: PagerDutyNotifier, *notifications: Notification) -> None:
    try:
        for notification in notifications:
            await target.send(notification)
    finally:
        await target.aclose()


async def failure(target: PagerDutyNotifier, notification: Notification = OPENED) -> str:
    """The message of the `NotifyError` that sending raises."""
    with pytest.raises(NotifyError) as caught:
        await send_all(target, notification)
    return str(caught.value)


# -- the stand-in refuses what PagerDuty refuses ----------------------------------------------

VALID_TRIGGER: dict[str, Any] = {
    "routing_key": DBA_KEY,
    "event_action": "trigger",
    "dedup_key": "INC-42",
    "payload": {
        "summary": "Example alert on host1.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003",
        "severity": "info",
        "component": "postgres",
        "group": "prod-datapipe",
        "class": "deploy",
        "custom_details": {"ping time": "1500ms", "load avg": 0.75},
    },
    "images": [{"src": "https://example.com/logo.png", "href": "https://example.com/", "alt": "Example text"}],
    "links": [{"href": "https://example.com/", "text": "Link text"}],
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.example.com",
}


def test_stand_in_accepts_pagerdutys_own_examples() -> None:
    assert check_event(VALID_TRIGGER) == []
    for action in ("acknowledge", "resolve"):
        assert check_event({"routing_key": DBA_KEY, "dedup_key": "INC-42", "event_action": action}) == []


def _without(event: dict[str, Any], *path: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(event))
    *parents, last = path
    inner: Any = copy
    for key in parents:
        inner = inner[key]
    del inner[last]
    return copy


def _with(event: dict[str, Any], *path: str, value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(event))
    *parents, last = path
    inner: Any = copy
    for key in parents:
        inner = inner[key]
    inner[last] = value
    return copy


@pytest.mark.parametrize(
    ("event", "error"),
    [
        pytest.param(_with(VALID_TRIGGER, "routing_key", value="x" * 31), "Length of 'routing_key'", id="key-length"),
        pytest.param(_without(VALID_TRIGGER, "routing_key"), "'routing_key' is missing", id="no-key"),
        pytest.param(_with(VALID_TRIGGER, "event_action", value="page"), "'event_action' is invalid", id="action"),
        pytest.param(_without(VALID_TRIGGER, "payload"), "'payload' is missing", id="no-payload"),
        pytest.param(_without(VALID_TRIGGER, "payload", "summary"), "'payload.summary' is missing", id="no-summary"),
        pytest.param(
            _with(VALID_TRIGGER, "payload", "summary", value="s" * 1025), "1025 characters", id="summary-long"
        ),
        pytest.param(_without(VALID_TRIGGER, "payload", "source"), "'payload.source' is missing", id="no-source"),
        pytest.param(_with(VALID_TRIGGER, "payload", "severity", value="high"), "'payload.severity'", id="severity"),
        pytest.param(_with(VALID_TRIGGER, "payload", "timestamp", value="yesterday"), "ISO 8601", id="timestamp"),
        pytest.param(_with(VALID_TRIGGER, "payload", "custom_details", value="x"), "must be an object", id="details"),
        pytest.param(_with(VALID_TRIGGER, "payload", "class", value=3), "'payload.class' must be", id="class-type"),
        pytest.param(_with(VALID_TRIGGER, "payload", "customDetails", value={}), "not an Events API", id="typo"),
        pytest.param(_with(VALID_TRIGGER, "dedup_key", value="k" * 256), "1 to 255", id="dedup-long"),
        pytest.param(_with(VALID_TRIGGER, "links", value=[{"text": "x"}]), "'links[0].href'", id="link-href"),
        pytest.param(_with(VALID_TRIGGER, "links", value={"href": "x"}), "array of objects", id="links-shape"),
        pytest.param(_with(VALID_TRIGGER, "images", value=[{"src": "http://a/b.png"}]), "HTTPS", id="image-http"),
        pytest.param(
            {"routing_key": DBA_KEY, "event_action": "resolve"}, "'dedup_key' is required", id="resolve-no-dedup"
        ),
        pytest.param([VALID_TRIGGER], "JSON object", id="not-an-object"),
    ],
)
def test_stand_in_refuses_what_the_documentation_forbids(event: Any, error: str) -> None:
    errors = check_event(event)
    assert any(error in message for message in errors), errors


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        pytest.param("text/plain", json.dumps(VALID_TRIGGER), "Content-Type must be application/json", id="type"),
        pytest.param("application/json", "{not json", "not valid UTF-8 JSON", id="json"),
        pytest.param("application/json", json.dumps({**VALID_TRIGGER, "x": "y" * 600_000}), "512 KB", id="size"),
    ],
)
def test_stand_in_answers_an_invalid_request_like_pagerduty(
    pagerduty: PagerDutyServer, content_type: str, body: str, error: str
) -> None:
    response = httpx.post(pagerduty.url, content=body.encode(), headers={"Content-Type": content_type})
    assert response.status_code == 400
    answer = response.json()
    assert (answer["status"], answer["message"]) == ("invalid event", "Event object is invalid")
    assert any(error in message for message in answer["errors"]), answer
    assert pagerduty.events == []


def test_stand_in_stops_with_no_thread_left_even_when_hung() -> None:
    with PagerDutyServer() as server:
        server.hang()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.url, json=VALID_TRIGGER, timeout=0.2)
    assert PagerDutyServer.threads() == []
    assert [request.status for request in server.requests] == [0]


# -- what is sent ---------------------------------------------------------------------------


async def test_pagerduty_notifier_triggers_with_the_documented_event(pagerduty: PagerDutyServer) -> None:
    await send_all(notifier(pagerduty.url, consoleUrl=CONSOLE + "/"), OPENED)

    [request] = pagerduty.requests
    assert (request.method, request.path, request.status) == ("POST", "/v2/enqueue", 202)
    assert httpx.Headers(request.headers)["content-type"] == "application/json"
    assert request.event == {
        "routing_key": DBA_KEY,
        "event_action": "trigger",
        "dedup_key": "INC-42",
        "payload": {
            "summary": OPENED.title,
            "source": "handrail",
            "severity": "critical",
            "timestamp": TIMESTAMP,
            "component": "payments",
            "group": "payment-db-connections",
            "class": "opened",
            "custom_details": {"text": OPENED.text, "fields": dict(OPENED.fields)},
        },
        "links": [{"href": f"{CONSOLE}/incidents/INC-42", "text": "Handrail incident"}],
    }


async def test_pagerduty_notifier_follows_one_incident_with_one_dedup_key(pagerduty: PagerDutyServer) -> None:
    sequence = [
        OPENED,
        replace(OPENED, kind="escalated", title="[P1] Payment DB connections exhausted — escalated"),
        replace(OPENED, kind="approval_needed", title="[P1] Payment DB connections exhausted — approve restart?"),
        replace(OPENED, kind="acknowledged", title="acknowledged by ana"),
        replace(OPENED, kind="resolved", title="resolved"),
    ]
    await send_all(notifier(pagerduty.url), *sequence)

    assert [request.status for request in pagerduty.requests] == [202] * 5
    events = pagerduty.events
    assert [event["event_action"] for event in events] == ["trigger", "trigger", "trigger", "acknowledge", "resolve"]
    assert {event["dedup_key"] for event in events} == {"INC-42"}
    assert [event["payload"]["class"] for event in events[:3]] == ["opened", "escalated", "approval_needed"]
    for event in events[3:]:
        assert event == {"routing_key": DBA_KEY, "event_action": event["event_action"], "dedup_key": "INC-42"}


@pytest.mark.parametrize(
    ("kind", "action"),
    [
        pytest.param("opened", "trigger", id="opened"),
        pytest.param("escalated", "trigger", id="escalated"),
        pytest.param("approval_needed", "trigger", id="approval_needed"),
        pytest.param("acknowledged", "acknowledge", id="acknowledged"),
        pytest.param("resolved", "resolve", id="resolved"),
        pytest.param("cancelled", "resolve", id="cancelled"),
    ],
)
async def test_pagerduty_notifier_maps_each_kind_to_its_event_action(
    pagerduty: PagerDutyServer, kind: str, action: str
) -> None:
    await send_all(notifier(pagerduty.url), replace(OPENED, kind=kind))
    [event] = pagerduty.events
    assert event["event_action"] == action


@pytest.mark.parametrize("kind", ["action", "action_needed", "message", "something-new", ""])
async def test_pagerduty_notifier_does_not_send_other_kinds(pagerduty: PagerDutyServer, kind: str) -> None:
    await send_all(notifier(pagerduty.url), replace(OPENED, kind=kind))
    assert pagerduty.requests == []


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        pytest.param("P1", "critical", id="P1"),
        pytest.param("P2", "error", id="P2"),
        pytest.param("P3", "warning", id="P3"),
        pytest.param("P4", "info", id="P4"),
        pytest.param(" p3 ", "warning", id="lowercase-spaced"),
        pytest.param("", "error", id="none"),
        pytest.param("SEV0", "error", id="unknown"),
    ],
)
async def test_pagerduty_notifier_maps_the_runbook_severity(
    pagerduty: PagerDutyServer, severity: str, expected: str
) -> None:
    await send_all(notifier(pagerduty.url), replace(OPENED, severity=severity))
    assert pagerduty.events[0]["payload"]["severity"] == expected


@pytest.mark.parametrize(
    ("title", "summary"),
    [
        pytest.param("t" * 1024, "t" * 1024, id="exactly-1024-kept"),
        pytest.param("ü" * 1025, "ü" * 1023 + "…", id="1025-cut"),
        pytest.param("x" * 5000, "x" * 1023 + "…", id="5000-cut"),
        pytest.param("   ", "Handrail incident INC-42", id="blank-title"),
    ],
)
async def test_pagerduty_notifier_fits_the_summary_to_1024_characters(
    pagerduty: PagerDutyServer, title: str, summary: str
) -> None:
    await send_all(notifier(pagerduty.url), replace(OPENED, title=title))
    [event] = pagerduty.events
    assert event["payload"]["summary"] == summary
    assert len(event["payload"]["summary"]) <= 1024


async def test_pagerduty_notifier_puts_the_diagnostics_in_custom_details(pagerduty: PagerDutyServer) -> None:
    text = "Pool exhausted\n\n[CRIT] db_connections: 97 of 100 in use\n[ok] replica_lag: 0.2s"
    details = {
        "diagnostics": [{"name": "db_connections", "status": "critical", "value": 97.0, "labels": ("a", "b")}],
        "checkedAt": NOW,
        "ratio": float("nan"),
        7: {"nested": None},
        "stamp": Path("/tmp/evidence"),
    }
    await send_all(notifier(pagerduty.url), DetailedNotification(**{**_fields(OPENED), "text": text}, details=details))

    [event] = pagerduty.events
    assert event["payload"]["custom_details"] == {
        "text": text,
        "fields": dict(OPENED.fields),
        "details": {
            "diagnostics": [{"name": "db_connections", "status": "critical", "value": 97.0, "labels": ["a", "b"]}],
            "checkedAt": NOW,
            "ratio": "nan",
            "7": {"nested": None},
            "stamp": "/tmp/evidence",
        },
    }


async def test_pagerduty_notifier_leaves_out_what_the_notification_does_not_say(pagerduty: PagerDutyServer) -> None:
    bare = Notification(target="pagerduty:dba-oncall", kind="escalated", title="db down", text="", incident_id="7")
    await send_all(notifier(pagerduty.url), bare)
    [event] = pagerduty.events
    assert "links" not in event, "no consoleUrl, no link"
    assert event["payload"] == {
        "summary": "db down",
        "source": "handrail",
        "severity": "error",
        "timestamp": TIMESTAMP,
        "class": "escalated",
        "custom_details": {"text": "", "fields": {}},
    }


async def test_pagerduty_notifier_without_an_incident_id_triggers_but_cannot_resolve(
    pagerduty: PagerDutyServer,
) -> None:
    loose = replace(OPENED, incident_id=None)
    await send_all(notifier(pagerduty.url, consoleUrl=CONSOLE), loose, replace(loose, kind="resolved"))
    [event] = pagerduty.events
    assert event["event_action"] == "trigger"
    assert "dedup_key" not in event
    assert "links" not in event


async def test_pagerduty_notifier_hashes_an_incident_id_longer_than_255(pagerduty: PagerDutyServer) -> None:
    long_id = "INC-" + "9" * 300
    await send_all(notifier(pagerduty.url), replace(OPENED, incident_id=long_id), replace(OPENED, incident_id=long_id))
    first, second = pagerduty.events
    assert first["dedup_key"] == second["dedup_key"]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first["dedup_key"])


async def test_pagerduty_notifier_escapes_the_incident_id_in_the_link(pagerduty: PagerDutyServer) -> None:
    await send_all(notifier(pagerduty.url, consoleUrl=CONSOLE), replace(OPENED, incident_id="INC 42/x?y"))
    assert pagerduty.events[0]["links"][0]["href"] == f"{CONSOLE}/incidents/INC%2042%2Fx%3Fy"


async def test_pagerduty_notifier_fits_a_huge_event_into_512_kb(pagerduty: PagerDutyServer) -> None:
    huge = DetailedNotification(**{**_fields(OPENED), "text": "é" * 400_000}, details={"rows": ["r" * 100] * 5000})
    await send_all(notifier(pagerduty.url), huge)
    [request] = pagerduty.requests
    assert request.status == 202, request.errors
    assert len(request.body) <= 512_000
    details = request.event["payload"]["custom_details"]
    assert "details" not in details
    assert "512 KB" in details["omitted"]
    assert details["text"].startswith("éé")
    assert details["text"].endswith("(cut to fit PagerDuty's 512 KB event limit)")


async def test_pagerduty_notifier_uses_the_routing_key_its_target_names(pagerduty: PagerDutyServer) -> None:
    await send_all(
        notifier(pagerduty.url, source="handrail-prod"),
        replace(OPENED, target="pagerduty:payments-oncall"),
        OPENED,
    )
    assert [event["routing_key"] for event in pagerduty.events] == [PAYMENTS_KEY, DBA_KEY]
    assert {event["payload"]["source"] for event in pagerduty.events} == {"handrail-prod"}


async def test_pagerduty_notifier_reuses_its_client_until_closed(pagerduty: PagerDutyServer) -> None:
    closed: list[int] = []

    class CountingTransport(httpx.AsyncHTTPTransport):
        async def aclose(self) -> None:
            closed.append(-1)
            await super().aclose()

    target = PagerDutyNotifier(config(pagerduty.url), transport=CountingTransport(), clock=lambda: NOW)
    await target.send(OPENED)
    client = target._client
    await target.send(replace(OPENED, kind="resolved"))
    assert target._client is client
    await target.aclose()
    await target.aclose()
    assert closed == [-1]
    await send_all(target, OPENED)  # works again after aclose
    assert len(pagerduty.events) == 3


# -- which targets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        pytest.param("pagerduty:dba-oncall", True, id="configured"),
        pytest.param("pagerduty:payments-oncall", True, id="another-configured"),
        pytest.param("pagerduty:web-oncall", False, id="unknown-name"),
        pytest.param("pagerduty:DBA-oncall", False, id="case-sensitive"),
        pytest.param("pagerduty:", False, id="no-name"),
        pytest.param("pagerduty:dba-oncall ", False, id="trailing-space"),
        pytest.param("PagerDuty:dba-oncall", False, id="prefix-case"),
        pytest.param("dba-oncall", False, id="bare-name"),
        pytest.param("#incidents-payment", False, id="channel"),
    ],
)
def test_pagerduty_notifier_accepts_only_configured_pagerduty_targets(target: str, accepted: bool) -> None:
    assert notifier().accepts(target) is accepted


async def test_pagerduty_notifier_refuses_to_send_to_an_unknown_name(pagerduty: PagerDutyServer) -> None:
    message = await failure(notifier(pagerduty.url), replace(OPENED, target="pagerduty:web-oncall"))
    assert message == "pagerduty: no routing key for 'pagerduty:web-oncall' (configured: dba-oncall, payments-oncall)"
    assert pagerduty.requests == []


def test_pagerduty_notifier_is_a_notifier() -> None:
    target: Notifier = notifier()  # mypy checks the protocol where it is used
    assert target.name == "pagerduty"


# -- failures -------------------------------------------------------------------------------


async def test_pagerduty_notifier_reports_pagerdutys_errors_for_an_invalid_event(pagerduty: PagerDutyServer) -> None:
    # A config that skipped validation (the only way to send PagerDuty a bad key from here).
    broken = PagerDutyNotifierConfig.model_construct(routing_keys={"dba-oncall": SecretStr("k3y-too-short")})
    target = PagerDutyNotifier(broken.model_copy(update={"url": pagerduty.url}), clock=lambda: NOW)
    message = await failure(target)
    assert [request.status for request in pagerduty.requests] == [400]
    assert message == (
        f"PagerDuty http://127.0.0.1:{pagerduty.port} refused the event for pagerduty:dba-oncall "
        "(HTTP 400 Bad Request): Event object is invalid: "
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    )


async def test_pagerduty_notifier_joins_all_of_pagerdutys_errors(pagerduty: PagerDutyServer) -> None:
    answer = {"status": "invalid event", "message": "Event object is invalid", "errors": ["first", "second"]}
    pagerduty.fail_with(400, answer)
    message = await failure(notifier(pagerduty.url))
    assert message.endswith("(HTTP 400 Bad Request): Event object is invalid: first; second")


async def test_pagerduty_notifier_says_when_it_is_rate_limited(pagerduty: PagerDutyServer) -> None:
    pagerduty.fail_with(429)
    message = await failure(notifier(pagerduty.url))
    assert message == (
        f"PagerDuty http://127.0.0.1:{pagerduty.port} is rate-limiting events (HTTP 429 Too Many Requests) "
        "for pagerduty:dba-oncall; it is retried later"
    )


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_pagerduty_notifier_raises_on_a_server_error(pagerduty: PagerDutyServer, status: int) -> None:
    pagerduty.fail_with(status)
    message = await failure(notifier(pagerduty.url))
    assert message.startswith(f"PagerDuty http://127.0.0.1:{pagerduty.port} answered HTTP {status} ")
    assert "for pagerduty:dba-oncall: " in message


async def test_pagerduty_notifier_delivers_again_once_pagerduty_recovers(pagerduty: PagerDutyServer) -> None:
    target = notifier(pagerduty.url)
    pagerduty.fail_with(500)
    with pytest.raises(NotifyError):
        await target.send(OPENED)
    pagerduty.recover()
    await send_all(target, OPENED)  # what the engine's retry does
    assert [request.status for request in pagerduty.requests] == [500, 202]


async def test_pagerduty_notifier_raises_when_pagerduty_does_not_answer_in_time(pagerduty: PagerDutyServer) -> None:
    pagerduty.hang()
    started = time.monotonic()
    message = await failure(notifier(pagerduty.url, timeout=0.3))
    elapsed = time.monotonic() - started
    assert message == (
        f"PagerDuty http://127.0.0.1:{pagerduty.port} did not answer within 0.3s (event for pagerduty:dba-oncall)"
    )
    assert elapsed < 3, "bounded by the 0.3s timeout, not the 10s default"


async def test_pagerduty_notifier_raises_when_the_connection_is_refused() -> None:
    with refused_port() as port:
        message = await failure(notifier(f"http://127.0.0.1:{port}/v2/enqueue"))
    assert message.startswith(f"cannot reach PagerDuty http://127.0.0.1:{port}: ConnectError")


async def test_pagerduty_notifier_raises_on_a_wrong_endpoint(pagerduty: PagerDutyServer) -> None:
    message = await failure(notifier(pagerduty.url.replace("/v2/enqueue", "/v1/enqueue")))
    assert message.startswith(f"PagerDuty http://127.0.0.1:{pagerduty.port} answered HTTP 404 Not Found for ")
    assert len(pagerduty.requests) == 1


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        pytest.param(400, {"status": "invalid event", "errors": [f"routing_key {DBA_KEY} is disabled"]}, id="400"),
        pytest.param(500, {"message": f"upstream failed for {PAYMENTS_KEY} and {DBA_KEY}"}, id="500"),
        pytest.param(503, "x" * 250 + DBA_KEY, id="key-beyond-snippet"),
    ],
)
async def test_pagerduty_notifier_never_shows_a_routing_key(
    pagerduty: PagerDutyServer, status: int, answer: Any
) -> None:
    pagerduty.fail_with(status, answer)  # PagerDuty, or a proxy, echoing keys back
    message = await failure(notifier(pagerduty.url))
    for key in (DBA_KEY, PAYMENTS_KEY, DBA_KEY[:20]):
        assert key not in message
    assert "***" in message


async def test_pagerduty_notifier_errors_do_not_chain_to_unredacted_messages(pagerduty: PagerDutyServer) -> None:
    pagerduty.fail_with(500, {"message": f"echo {DBA_KEY}"})
    with pytest.raises(NotifyError) as caught:
        await send_all(notifier(pagerduty.url), OPENED)
    chain: list[BaseException] = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert all(DBA_KEY not in str(link) for link in chain)


# -- configuration --------------------------------------------------------------------------


def test_pagerduty_config_reads_camel_case_settings() -> None:
    parsed = config(timeout="5s", source="handrail-prod", consoleUrl=CONSOLE)
    assert parsed.timeout == 5.0
    assert (parsed.source, parsed.console_url, parsed.url) == ("handrail-prod", CONSOLE, EVENTS_URL)
    assert parsed.routing_keys["dba-oncall"].get_secret_value() == DBA_KEY
    assert DBA_KEY not in repr(parsed)
    assert DBA_KEY not in str(parsed.model_dump())
    defaults = PagerDutyNotifierConfig.model_validate({"routingKeys": {"dba-oncall": DBA_KEY}})
    assert (defaults.url, defaults.timeout, defaults.source, defaults.console_url) == (
        "https://events.pagerduty.com/v2/enqueue",
        10.0,
        "handrail",
        None,
    )


@pytest.mark.parametrize(
    ("data", "where"),
    [
        pytest.param({"routingKeys": {"dba": DBA_KEY[:31]}}, "32-letter-or-digit", id="key-31"),
        pytest.param({"routingKeys": {"dba": DBA_KEY + "0"}}, "32-letter-or-digit", id="key-33"),
        pytest.param({"routingKeys": {"dba": DBA_KEY[:30] + " x"}}, "32-letter-or-digit", id="key-space"),
        pytest.param({"routingKeys": {}}, "routingKeys", id="no-keys"),
        pytest.param({"routingKeys": {"dba oncall": DBA_KEY}}, "pattern", id="name-space"),
        pytest.param({"routingKeys": {"dba": DBA_KEY}, "url": "ftp://x"}, "url", id="url-scheme"),
        pytest.param({"routingKeys": {"dba": DBA_KEY}, "consoleUrl": "handrail"}, "consoleUrl", id="console"),
        pytest.param({"routingKeys": {"dba": DBA_KEY}, "timeout": 0}, "timeout", id="timeout"),
        pytest.param({"routingKeys": {"dba": DBA_KEY}, "source": ""}, "source", id="source"),
        pytest.param({"routingKeys": {"dba": DBA_KEY}, "serviceKey": DBA_KEY}, "serviceKey", id="unknown-key"),
        pytest.param({"routing_keys": {"dba": DBA_KEY}}, "routing_keys", id="snake-case"),
    ],
)
def test_pagerduty_config_refuses_wrong_values_without_echoing_keys(data: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        PagerDutyNotifierConfig.model_validate(data)
    message = str(caught.value)
    assert where in message
    assert DBA_KEY[:30] not in message


async def test_pagerduty_config_creates_a_working_notifier(pagerduty: PagerDutyServer) -> None:
    created = config(pagerduty.url).create_notifier(transport=httpx.AsyncHTTPTransport())
    assert created.accepts("pagerduty:dba-oncall")
    await send_all(created, OPENED)
    assert pagerduty.events[0]["dedup_key"] == "INC-42"


def test_pagerduty_notifier_refuses_an_unusable_url() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        PagerDutyNotifier(PagerDutyNotifierConfig.model_construct(routing_keys={}, url="mailto:x@example.com"))


# -- the docs -------------------------------------------------------------------------------


def test_docs_table_covers_every_kind_that_is_sent() -> None:
    page = DOCS.read_text()
    for kind, action in EVENT_ACTIONS.items():
        assert f"| `{kind}` | `{action}` |" in page


def test_docs_list_every_setting() -> None:
    page = DOCS.read_text()
    for name, info in PagerDutyNotifierConfig.model_fields.items():
        assert f"| `{info.validation_alias or name}` |" in page


async def test_docs_sample_trigger_is_exactly_what_is_sent(pagerduty: PagerDutyServer) -> None:
    page = DOCS.read_text()
    section = page.split("## A trigger event", 1)[1]
    blocks = re.findall(r"```json\n(.*?)```", section, re.DOTALL)
    sample, resolve = (json.loads(block) for block in blocks[:2])
    docs_config = PagerDutyNotifierConfig.model_validate(
        {"routingKeys": {"dba-oncall": sample["routing_key"]}, "url": pagerduty.url, "consoleUrl": CONSOLE}
    )
    await send_all(PagerDutyNotifier(docs_config, clock=lambda: NOW), OPENED, replace(OPENED, kind="resolved"))
    assert pagerduty.events == [sample, resolve]


def _fields(notification: Notification) -> dict[str, Any]:
    """The notification's fields as keywords (without `details`, which `DetailedNotification` takes)."""
    return {name: getattr(notification, name) for name in Notification.__dataclass_fields__ if name != "details"}
