"""http_check against real local HTTP and HTTPS servers: what each endpoint did becomes data."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from handrail.diagnostics.base import ProbeContext
from handrail.diagnostics.http_check import HttpCheckParams, HttpCheckProbe
from handrail.errors import ProbeError
from support.certificates import CertificateAuthority, self_signed
from support.servers import HttpServer, HttpsServer, Route, refused_port, server_threads, silent_port

FAST = ProbeContext(timeout=5.0)
SHORT = ProbeContext(timeout=1.0)
"""For endpoints that never answer: each request gets 0.9 s of it."""


def _params(*endpoints: dict[str, Any]) -> HttpCheckParams:
    """Params as a runbook file spells them (camelCase)."""
    return HttpCheckParams.model_validate({"urls": list(endpoints)})


def _by_name(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {endpoint["name"]: endpoint for endpoint in values["endpoints"]}


@pytest.fixture(autouse=True)
def _no_leaked_server_threads() -> Iterator[None]:
    yield
    assert server_threads() == []


@pytest.fixture
async def probe() -> AsyncIterator[HttpCheckProbe]:
    probe = HttpCheckProbe()
    yield probe
    await probe.aclose()


@pytest.fixture
def server() -> Iterator[HttpServer]:
    routes = {
        "/health": Route(body='{"status": "up"}'),
        "/broken": Route(status=500, body="internal error"),
        "/unavailable": Route(status=503, body="draining"),
        "/slow": Route(delay=30.0),
    }
    with HttpServer(routes) as server:
        yield server


async def test_http_check_probe_reports_all_healthy_when_every_endpoint_answers_as_expected(
    probe: HttpCheckProbe, server: HttpServer
) -> None:
    params = _params(
        {"name": "payments", "url": server.url("/health")},
        {"name": "fraud", "url": server.url("/health"), "method": "HEAD"},
    )

    observation = await probe.observe(params, FAST)

    values = dict(observation.values)
    assert set(values) == set(HttpCheckParams.PROVIDES)
    assert values["all_healthy"] is True
    assert values["any_unreachable"] is False
    assert (values["healthy_count"], values["total_count"]) == (2, 2)
    assert values["unreachable"] == []
    assert values["tls_days_left"] is None  # no HTTPS endpoint
    assert [endpoint["status"] for endpoint in values["endpoints"]] == [200, 200]
    assert [endpoint["error"] for endpoint in values["endpoints"]] == [None, None]
    assert set(values["endpoints"][0]) == {"name", "url", "status", "latency", "healthy", "error"}
    assert values["max_latency"] == values["any_slow"] == max(e["latency"] for e in values["endpoints"])
    assert isinstance(values["max_latency"], float)
    assert observation.message.startswith("2/2 healthy; slowest ")
    assert sorted((request.method, request.path) for request in server.requests) == [
        ("GET", "/health"),
        ("HEAD", "/health"),
    ]


async def test_http_check_probe_reports_an_unexpected_status_as_unhealthy_but_reachable(
    probe: HttpCheckProbe, server: HttpServer
) -> None:
    params = _params({"name": "ok", "url": server.url("/health")}, {"name": "ledger", "url": server.url("/broken")})

    observation = await probe.observe(params, FAST)

    values = observation.values
    ledger = _by_name(dict(values))["ledger"]
    assert values["all_healthy"] is False
    assert values["any_unreachable"] is False
    assert values["healthy_count"] == 1
    assert (ledger["status"], ledger["healthy"]) == (500, False)
    assert ledger["error"] == "status 500, expected 200"
    assert isinstance(ledger["latency"], float)
    assert "unhealthy: ledger (500)" in observation.message
    assert observation.message.startswith("1/2 healthy")


@pytest.mark.parametrize(
    ("expect_status", "healthy"),
    [
        pytest.param(503, True, id="int"),
        pytest.param([200, 503], True, id="list"),
        pytest.param([200, 204], False, id="not-in-list"),
    ],
)
async def test_http_check_probe_accepts_the_statuses_listed_in_expect_status(
    probe: HttpCheckProbe, server: HttpServer, expect_status: int | list[int], healthy: bool
) -> None:
    params = _params({"name": "draining", "url": server.url("/unavailable"), "expectStatus": expect_status})

    values = (await probe.observe(params, FAST)).values

    assert values["all_healthy"] is healthy
    assert values["endpoints"][0]["status"] == 503


@pytest.mark.parametrize(
    ("check", "healthy", "error"),
    [
        pytest.param({"bodyContains": '"up"'}, True, None, id="contains"),
        pytest.param({"bodyContains": "down"}, False, "body does not contain 'down'", id="contains-missing"),
        pytest.param({"bodyMatches": r'"status":\s*"up"'}, True, None, id="matches"),
        pytest.param({"bodyMatches": r'"status":\s*"down"'}, False, "body does not match", id="matches-missing"),
        pytest.param({"bodyContains": "up", "bodyMatches": "^x"}, False, "body does not match", id="both"),
    ],
)
async def test_http_check_probe_checks_the_body_when_asked(
    probe: HttpCheckProbe, server: HttpServer, check: dict[str, str], healthy: bool, error: str | None
) -> None:
    params = _params({"name": "payments", "url": server.url("/health"), **check})

    endpoint = (await probe.observe(params, FAST)).values["endpoints"][0]

    assert endpoint["healthy"] is healthy
    assert endpoint["status"] == 200
    if error is None:
        assert endpoint["error"] is None
    else:
        assert endpoint["error"].startswith(error)


async def test_http_check_probe_looks_at_the_first_mebibyte_of_the_body_only(probe: HttpCheckProbe) -> None:
    body = b"a" * (1024 * 1024) + b"MARKER"
    with HttpServer({"/big": Route(body=body)}) as server:
        params = _params(
            {"name": "beyond", "url": server.url("/big"), "bodyContains": "MARKER"},
            {"name": "within", "url": server.url("/big"), "bodyMatches": "^a+$"},
        )
        endpoints = _by_name(dict((await probe.observe(params, FAST)).values))

    assert endpoints["beyond"]["healthy"] is False
    assert endpoints["within"]["healthy"] is True


async def test_http_check_probe_reports_a_slow_endpoint_as_unreachable_before_the_step_times_out(
    probe: HttpCheckProbe, server: HttpServer
) -> None:
    params = _params({"name": "ok", "url": server.url("/health")}, {"name": "stuck", "url": server.url("/slow")})

    # the server would take 30 s; the probe must answer within the step's own timeout
    async with asyncio.timeout(SHORT.timeout):
        observation = await probe.observe(params, SHORT)

    values = observation.values
    stuck = _by_name(dict(values))["stuck"]
    assert values["any_unreachable"] is True
    assert values["unreachable"] == ["stuck"]
    assert (stuck["status"], stuck["latency"], stuck["healthy"]) == (None, None, False)
    assert stuck["error"] == "no answer within 900ms"
    assert values["max_latency"] == _by_name(dict(values))["ok"]["latency"]  # only endpoints that answered


async def test_http_check_probe_reports_a_silent_port_as_unreachable(probe: HttpCheckProbe) -> None:
    with silent_port() as port:
        params = _params({"name": "mute", "url": f"http://127.0.0.1:{port}/health"})
        async with asyncio.timeout(SHORT.timeout):
            values = (await probe.observe(params, SHORT)).values

    assert values["unreachable"] == ["mute"]
    assert values["endpoints"][0]["error"] == "no answer within 900ms"


async def test_http_check_probe_reports_a_refused_connection_as_unreachable(probe: HttpCheckProbe) -> None:
    with refused_port() as port:
        params = _params({"name": "fraud-service", "url": f"http://127.0.0.1:{port}/health"})
        observation = await probe.observe(params, FAST)

    values = observation.values
    assert set(values) == set(HttpCheckParams.PROVIDES)
    assert values["all_healthy"] is False
    assert values["any_unreachable"] is True
    assert values["unreachable"] == ["fraud-service"]
    assert values["endpoints"][0]["error"] == "connection refused"
    # nothing answered: no latency, no certificate
    assert (values["max_latency"], values["any_slow"], values["tls_days_left"]) == (None, None, None)
    assert observation.message == "0/1 healthy; unreachable: fraud-service"


async def test_http_check_probe_counts_and_names_a_mix_of_outcomes_in_order(
    probe: HttpCheckProbe, server: HttpServer
) -> None:
    with refused_port() as port:
        params = _params(
            {"name": "payments", "url": server.url("/health")},
            {"name": "fraud-service", "url": f"http://127.0.0.1:{port}/"},
            {"name": "ledger", "url": server.url("/broken")},
            {"name": "stuck", "url": server.url("/slow")},
            {"name": "search", "url": server.url("/health"), "bodyContains": "up"},
        )
        observation = await probe.observe(params, SHORT)

    values = observation.values
    assert [endpoint["name"] for endpoint in values["endpoints"]] == [
        "payments",
        "fraud-service",
        "ledger",
        "stuck",
        "search",
    ]
    assert [endpoint["healthy"] for endpoint in values["endpoints"]] == [True, False, False, False, True]
    assert (values["healthy_count"], values["total_count"]) == (2, 5)
    assert values["unreachable"] == ["fraud-service", "stuck"]
    assert values["all_healthy"] is False
    assert values["any_unreachable"] is True
    assert observation.message.startswith("2/5 healthy; unreachable: fraud-service, stuck; unhealthy: ledger (500)")


async def test_http_check_probe_measures_latency_per_endpoint(probe: HttpCheckProbe) -> None:
    with HttpServer({"/fast": Route(), "/slower": Route(delay=0.3)}) as server:
        params = _params({"name": "fast", "url": server.url("/fast")}, {"name": "slower", "url": server.url("/slower")})
        observation = await probe.observe(params, FAST)

    endpoints = _by_name(dict(observation.values))
    assert 0 < endpoints["fast"]["latency"] < endpoints["slower"]["latency"]
    assert observation.values["max_latency"] == endpoints["slower"]["latency"]
    assert observation.message.endswith("(slower)")


async def test_http_check_probe_checks_endpoints_concurrently(probe: HttpCheckProbe) -> None:
    delay = 0.5
    with HttpServer({"/a": Route(delay=delay), "/b": Route(delay=delay), "/c": Route(delay=delay)}) as server:
        params = _params(*({"name": path, "url": server.url(f"/{path}")} for path in "abc"))
        values = (await probe.observe(params, FAST)).values

    assert values["all_healthy"] is True
    # one after another, the server would never see two requests waiting at the same time
    assert server.max_delayed_at_once == 3
    assert values["max_latency"] < 2 * delay


async def test_http_check_probe_does_not_follow_redirects(probe: HttpCheckProbe) -> None:
    routes = {"/old": Route(status=302, headers={"Location": "/new"}), "/new": Route()}
    with HttpServer(routes) as server:
        params = _params(
            {"name": "moved", "url": server.url("/old")},
            {"name": "moved-expected", "url": server.url("/old"), "expectStatus": [301, 302]},
        )
        endpoints = _by_name(dict((await probe.observe(params, FAST)).values))

    assert (endpoints["moved"]["status"], endpoints["moved"]["healthy"]) == (302, False)
    assert endpoints["moved-expected"]["healthy"] is True
    assert {request.path for request in server.requests} == {"/old"}


async def test_http_check_probe_percent_encodes_label_values_into_one_path_segment(
    probe: HttpCheckProbe,
) -> None:
    hostile = "/files/..%2F..%2Fetc%2Fpasswd"
    with HttpServer({hostile: Route(body="just a file name")}) as server:
        params = _params({"name": "files", "url": server.url("/files/{{ labels.path }}")})
        context = ProbeContext(template={"labels": {"path": "../../etc/passwd"}, "annotations": {}}, timeout=5.0)
        values = (await probe.observe(params, context)).values

    assert [request.target for request in server.requests] == [hostile]
    assert values["endpoints"][0]["url"] == server.url(hostile)
    assert values["all_healthy"] is True


async def test_http_check_probe_renders_header_values_from_labels(probe: HttpCheckProbe, server: HttpServer) -> None:
    params = _params({"name": "tenant", "url": server.url("/health"), "headers": {"X-Tenant": "{{ labels.tenant }}"}})
    context = ProbeContext(template={"labels": {"tenant": "acme ltd"}, "annotations": {}}, timeout=5.0)

    await probe.observe(params, context)

    assert server.requests[0].headers["X-Tenant"] == "acme ltd"


@pytest.mark.parametrize(
    ("endpoint", "labels", "error"),
    [
        pytest.param({"url": "http://127.0.0.1:1/{{ labels.missing }}"}, {}, "has no value", id="missing-label"),
        pytest.param(
            {"url": "http://127.0.0.1:1/", "headers": {"X-Injected": "{{ labels.v }}"}},
            {"v": "a\r\nHost: evil"},
            "line break",
            id="header-injection",
        ),
        pytest.param(
            {"url": "http://{{ labels.host }}:1/"}, {"host": "169.254.169.254"}, "in the URL's host", id="host-label"
        ),
        pytest.param(
            {"url": "http://127.0.0.1:{{ labels.port }}/"}, {"port": "1"}, "in the URL's port", id="port-label"
        ),
        pytest.param(
            {"url": "http://127.0.0.1:1/", "bodyMatches": "(unclosed"}, {}, "not a valid RE2 pattern", id="bad-regex"
        ),
        pytest.param(
            {"url": "http://127.0.0.1:1/", "bodyMatches": "(a)\\1"}, {}, "not a valid RE2 pattern", id="backreference"
        ),
    ],
)
async def test_http_check_probe_raises_probe_error_when_it_cannot_start(
    probe: HttpCheckProbe, endpoint: dict[str, Any], labels: dict[str, str], error: str
) -> None:
    params = _params({"name": "broken-config", **endpoint})
    context = ProbeContext(template={"labels": labels, "annotations": {}}, timeout=5.0)

    with pytest.raises(ProbeError, match=error) as caught:
        await probe.observe(params, context)
    assert "broken-config" in str(caught.value)


async def test_http_check_probe_hides_a_password_in_the_url(probe: HttpCheckProbe, server: HttpServer) -> None:
    url = server.url("/health").replace("http://", "http://monitor:s3cret@")
    values = (await probe.observe(_params({"name": "private", "url": url}), FAST)).values

    assert "s3cret" not in values["endpoints"][0]["url"]
    assert server.requests[0].headers["Authorization"].startswith("Basic ")


# -- HTTPS ---------------------------------------------------------------------------------


async def test_http_check_probe_reports_days_left_on_the_served_certificate(tmp_path: Path) -> None:
    authority = CertificateAuthority.create(tmp_path)
    leaf = authority.issue(tmp_path, days_left=10)
    trusting = ssl.create_default_context(cafile=str(authority.cert_file))
    probe = HttpCheckProbe(transport=httpx.AsyncHTTPTransport(verify=trusting))
    try:
        with HttpsServer(leaf.cert_file, leaf.key_file, {"/health": Route()}) as tls, HttpServer() as plain:
            params = _params(
                {"name": "secure", "url": tls.url("/health")},
                {"name": "plain", "url": plain.url("/")},  # 404, and no certificate to count
            )
            values = (await probe.observe(params, FAST)).values
    finally:
        await probe.aclose()

    assert _by_name(dict(values))["secure"]["healthy"] is True
    assert values["tls_days_left"] == pytest.approx(10, abs=0.1)


async def test_http_check_probe_reads_the_certificate_of_a_self_signed_server_without_verify(
    probe: HttpCheckProbe, tmp_path: Path
) -> None:
    leaf = self_signed(tmp_path, days_left=3.5)
    with HttpsServer(leaf.cert_file, leaf.key_file, {"/health": Route()}) as server:
        params = _params({"name": "internal", "url": server.url("/health"), "verifyTls": False})
        values = (await probe.observe(params, FAST)).values

    assert values["all_healthy"] is True
    assert values["tls_days_left"] == pytest.approx(3.5, abs=0.1)


async def test_http_check_probe_reports_an_untrusted_certificate_as_unreachable(
    probe: HttpCheckProbe, tmp_path: Path
) -> None:
    leaf = self_signed(tmp_path)
    with HttpsServer(leaf.cert_file, leaf.key_file, {"/health": Route()}) as server:
        params = _params(
            {"name": "strict", "url": server.url("/health")},
            {"name": "lenient", "url": server.url("/health"), "verifyTls": False},
        )
        values = (await probe.observe(params, FAST)).values

    endpoints = _by_name(dict(values))
    assert values["unreachable"] == ["strict"]
    assert endpoints["strict"]["error"].startswith("TLS certificate not trusted: self")
    assert endpoints["lenient"]["healthy"] is True
    assert [request.path for request in server.requests] == ["/health"]  # only the lenient one got through


async def test_http_check_probe_can_be_used_again_after_aclose(server: HttpServer) -> None:
    probe = HttpCheckProbe()
    params = _params({"name": "payments", "url": server.url("/health")})
    await probe.observe(params, FAST)
    await probe.aclose()

    values = (await probe.observe(params, FAST)).values
    await probe.aclose()

    assert values["all_healthy"] is True
