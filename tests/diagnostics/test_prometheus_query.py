"""prometheus_query against a real Prometheus that scrapes a local exporter.

The stand-in server only checks what a client sends (auth headers, GET or POST) and how the probe
copes with servers that are slow, closed or broken; every value comes from the real Prometheus.
"""

from __future__ import annotations

import base64
import itertools
import math
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic.alias_generators import to_camel

from handrail.diagnostics.base import HttpConnection, Observation, ProbeContext
from handrail.diagnostics.prometheus_query import PrometheusQueryParams, PrometheusQueryProbe
from handrail.errors import ProbeError
from handrail.runbook.template import render_text
from support.prometheus import JOB, MetricsExporter, PrometheusServer, StandInServer, closed_port

pytestmark = pytest.mark.timeout(60)

POOLS = {"a": 42.0, "b": 10.0, "c": 20.5}
HOSTILE = '"}) or vector(1) #'
TOKEN = "s3cret-bearer-token"


@pytest.fixture(scope="module")
def exporter() -> Iterator[MetricsExporter]:
    with MetricsExporter() as exporter:
        for pool, value in POOLS.items():
            exporter.set("payment_pool_used", value, labels={"pool": pool})
        yield exporter


@pytest.fixture(scope="module")
def prometheus(exporter: MetricsExporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    with PrometheusServer([exporter.address], workdir=tmp_path_factory.mktemp("prometheus")) as server:
        server.wait_for(f"count(payment_pool_used) == {len(POOLS)}")
        yield server


@pytest.fixture
async def probe(prometheus: PrometheusServer) -> AsyncIterator[PrometheusQueryProbe]:
    probe = PrometheusQueryProbe({"default": connection(prometheus.url, bearer_token=TOKEN)})
    yield probe
    await probe.aclose()


def connection(url: str, **fields: Any) -> HttpConnection:
    """An `HttpConnection` from snake_case field names (the model reads camelCase, like handrail.yaml)."""
    return HttpConnection.model_validate({"url": url, **{to_camel(name): value for name, value in fields.items()}})


def params(query: str, **config: Any) -> PrometheusQueryParams:
    return PrometheusQueryParams.model_validate({"query": query, **config})


async def observe(
    probe: PrometheusQueryProbe, query: str, *, labels: dict[str, str] | None = None, timeout: float = 30, **config: Any
) -> Observation:
    """Run `query` and check the result holds exactly the names the configuration provides."""
    configured = params(query, **config)
    context = ProbeContext(template={"labels": labels or {}, "annotations": {}}, timeout=timeout)
    observation = await probe.observe(configured, context)
    assert set(observation.values) == set(configured.provided_names())
    return observation


async def observe_stand_in(
    server: StandInServer, query: str = "up", *, step_timeout: float = 30, url: str | None = None, **fields: Any
) -> Observation:
    """Query the stand-in through a fresh probe; `fields` are `HttpConnection` fields."""
    probe = PrometheusQueryProbe({"default": connection(url or server.url, **fields)})
    try:
        return await observe(probe, query, timeout=step_timeout)
    finally:
        await probe.aclose()


def sent_form(server: StandInServer) -> dict[str, str]:
    """The API parameters of the last request, from its URL (GET) or its form body (POST)."""
    request = server.last
    text = request.body.decode() if request.method == "POST" else urlsplit(request.path).query
    return {key: values[0] for key, values in parse_qs(text).items()}


# -- values from the real Prometheus ------------------------------------------------------


async def test_instant_vector_provides_every_series_in_prometheus_order(
    probe: PrometheusQueryProbe, exporter: MetricsExporter
) -> None:
    observation = await observe(probe, "sort_desc(payment_pool_used)")
    values = observation.values
    assert values["value"] == 42.0
    assert values["values"] == [42.0, 20.5, 10.0]
    assert all(type(value) is float for value in values["values"])
    assert [series["labels"]["pool"] for series in values["series"]] == ["a", "c", "b"]
    assert values["series"][0]["labels"]["job"] == JOB
    assert values["series"][0]["labels"]["instance"] == exporter.address
    assert [series["value"] for series in values["series"]] == [42.0, 20.5, 10.0]
    assert values["count"] == 3
    assert values["sum"] == 72.5
    assert values["min"] == 10.0
    assert values["max"] == 42.0
    assert values["avg"] == pytest.approx(72.5 / 3)
    assert values["empty"] is False
    assert observation.message == "3 series; value 42"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param("scalar(sum(payment_pool_used))", 72.5, id="scalar-of-a-sum"),
        pytest.param("2 * 21", 42.0, id="arithmetic"),
    ],
)
async def test_scalar_result_is_one_series_without_labels(
    probe: PrometheusQueryProbe, query: str, expected: float
) -> None:
    observation = await observe(probe, query)
    assert observation.values["series"] == [{"labels": {}, "value": expected}]
    assert observation.values["value"] == expected
    assert observation.values["count"] == 1
    assert observation.values["sum"] == expected
    assert observation.values["empty"] is False


async def test_vector_function_result_has_empty_labels(probe: PrometheusQueryProbe) -> None:
    observation = await observe(probe, "vector(7)")
    assert observation.values["series"] == [{"labels": {}, "value": 7.0}]
    assert observation.message == "1 series; value 7"


async def test_empty_result_provides_nulls_a_zero_sum_and_empty(probe: PrometheusQueryProbe) -> None:
    observation = await observe(probe, 'payment_pool_used{pool="no-such-pool"}')
    assert observation.values == {
        "value": None,
        "values": [],
        "series": [],
        "count": 0,
        "sum": 0.0,
        "min": None,
        "max": None,
        "avg": None,
        "empty": True,
    }
    assert observation.message == "no series"


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        pytest.param("0/0", "NaN", id="nan-scalar"),
        pytest.param("vector(0/0)", "NaN", id="nan-vector"),
        pytest.param("1/0", "+Inf", id="plus-inf"),
        pytest.param("-1/0", "-Inf", id="minus-inf"),
    ],
)
async def test_special_values_become_floats(probe: PrometheusQueryProbe, query: str, shown: str) -> None:
    observation = await observe(probe, query)
    value = observation.values["value"]
    assert type(value) is float
    if shown == "NaN":
        assert math.isnan(value)
    else:
        assert value == (math.inf if shown == "+Inf" else -math.inf)
    assert observation.message == f"1 series; value {shown}"


async def test_min_and_max_ignore_nan_while_sum_and_avg_carry_it(probe: PrometheusQueryProbe) -> None:
    query = 'label_replace(vector(0/0), "k", "a", "", "") or label_replace(vector(5), "k", "b", "", "")'
    observation = await observe(probe, query)
    assert observation.values["count"] == 2
    assert observation.values["min"] == 5.0
    assert observation.values["max"] == 5.0
    assert math.isnan(observation.values["sum"])
    assert math.isnan(observation.values["avg"])


async def test_instant_query_of_a_range_selector_takes_each_series_last_sample(probe: PrometheusQueryProbe) -> None:
    observation = await observe(probe, 'payment_pool_used{pool="a"}[10s]')
    assert observation.values["value"] == 42.0
    assert observation.values["count"] == 1
    assert observation.values["series"][0]["labels"]["pool"] == "a"


async def test_range_query_reports_samples_first_last_and_delta(
    probe: PrometheusQueryProbe, prometheus: PrometheusServer, exporter: MetricsExporter
) -> None:
    exporter.set("handrail_queue_depth", 10)
    exporter.wait_for_scrapes(2)
    prometheus.wait_for("handrail_queue_depth == 10")
    exporter.set("handrail_queue_depth", 30)
    exporter.wait_for_scrapes(2)
    prometheus.wait_for("handrail_queue_depth == 30")

    observation = await observe(probe, "handrail_queue_depth", range="1m", step="1s")

    values = observation.values
    samples = values["samples"]
    assert len(samples) >= 2
    assert samples[0]["value"] == 10.0
    assert samples[-1]["value"] == 30.0
    assert [sample["value"] for sample in samples] == sorted(sample["value"] for sample in samples)
    assert {sample["value"] for sample in samples} == {10.0, 30.0}
    assert all(type(sample["time"]) is float for sample in samples)
    assert all(later["time"] > earlier["time"] for earlier, later in itertools.pairwise(samples))
    assert (values["first"], values["last"], values["delta"]) == (10.0, 30.0, 20.0)
    assert (values["value"], values["values"], values["count"]) == (30.0, [30.0], 1)
    assert observation.message == "range 1m: first 10, last 30 (Δ +20)"


@pytest.mark.parametrize(
    ("config", "points", "spacing"),
    [
        pytest.param({"range": "1m"}, 61, 1.0, id="default-step-is-range-over-60"),
        pytest.param({"range": "2m"}, 61, 2.0, id="default-step-2m"),
        pytest.param({"range": "30s"}, 31, 1.0, id="default-step-at-least-1s"),
        pytest.param({"range": "1m", "step": "10s"}, 7, 10.0, id="explicit-step"),
    ],
)
async def test_range_query_steps_over_the_range(
    probe: PrometheusQueryProbe, config: dict[str, str], points: int, spacing: float
) -> None:
    observation = await observe(probe, "vector(1)", **config)
    times = [sample["time"] for sample in observation.values["samples"]]
    assert len(times) == points
    assert [later - earlier for earlier, later in itertools.pairwise(times)] == pytest.approx([spacing] * (points - 1))
    assert observation.values["delta"] == 0.0


async def test_range_query_of_no_series_provides_nulls(probe: PrometheusQueryProbe) -> None:
    observation = await observe(probe, 'payment_pool_used{pool="no-such-pool"}', range="1m")
    assert observation.values["samples"] == []
    assert (observation.values["first"], observation.values["last"], observation.values["delta"]) == (None, None, None)
    assert observation.values["empty"] is True
    assert observation.message == "range 1m: no series"


async def test_long_query_is_posted_and_answered(probe: PrometheusQueryProbe) -> None:
    padding = "|".join(f"unused-pool-{index}" for index in range(200))
    query = f'sum(payment_pool_used{{pool=~"a|b|c|{padding}"}})'
    assert len(query) > 2000
    observation = await observe(probe, query)
    assert observation.values["value"] == 72.5


@pytest.mark.parametrize(
    ("query", "config", "expected"),
    [
        pytest.param("sum(", {}, 'bad_data: invalid parameter "query": 1:5: parse error', id="syntax-error"),
        pytest.param("vector(1)", {"range": "1d", "step": "1s"}, "exceeded maximum resolution", id="too-many-points"),
    ],
)
async def test_prometheus_error_becomes_probe_error_with_its_text(
    probe: PrometheusQueryProbe, query: str, config: dict[str, str], expected: str
) -> None:
    with pytest.raises(ProbeError) as caught:
        await observe(probe, query, **config)
    assert expected in str(caught.value)
    assert "Prometheus 'default' at http://127.0.0.1:" in str(caught.value)
    assert TOKEN not in str(caught.value)


async def test_hostile_label_value_only_changes_the_matched_value(probe: PrometheusQueryProbe) -> None:
    template = 'sum(payment_pool_used{pool="{{ labels.pool }}"})'

    assert (await observe(probe, template, labels={"pool": "a"})).values["value"] == 42.0
    escaped = await observe(probe, template, labels={"pool": HOSTILE})
    assert escaped.values["empty"] is True

    # the same value pasted in as it is turns the rest of the query into a comment and matches
    unescaped = render_text(template, {"labels": {"pool": HOSTILE}})
    assert (await observe(probe, unescaped)).values["value"] == 1.0


async def test_missing_label_in_the_query_becomes_probe_error(probe: PrometheusQueryProbe) -> None:
    with pytest.raises(ProbeError, match=r"labels\.pool .*has no value"):
        await observe(probe, 'payment_pool_used{pool="{{ labels.pool }}"}')


@pytest.mark.parametrize("name", [None, "replica"])
async def test_unknown_connection_becomes_probe_error(name: str | None) -> None:
    probe = PrometheusQueryProbe({"other": connection("http://127.0.0.1:9")})
    with pytest.raises(ProbeError) as caught:
        await observe(probe, "up", connection=name)
    assert str(caught.value) == (
        f"no Prometheus connection '{name or 'default'}' "
        "(configure `prometheus:` in handrail.yaml or set PROMETHEUS_URL)"
    )


# -- what the probe sends -----------------------------------------------------------------


async def test_bearer_token_and_headers_are_sent() -> None:
    with StandInServer() as server:
        await observe_stand_in(server, bearer_token=TOKEN, headers={"X-Scope-OrgID": "tenant-1"})
    assert server.header("Authorization") == f"Bearer {TOKEN}"
    assert server.header("X-Scope-OrgID") == "tenant-1"


async def test_basic_auth_is_sent() -> None:
    with StandInServer() as server:
        await observe_stand_in(server, username="ops", password="pa55word")
    assert server.header("Authorization") == "Basic " + base64.b64encode(b"ops:pa55word").decode()


async def test_instant_query_is_a_get_of_the_query_endpoint() -> None:
    with StandInServer() as server:
        await observe_stand_in(server, "up == 0", step_timeout=12)
    assert server.last.method == "GET"
    assert urlsplit(server.last.path).path == "/api/v1/query"
    assert sent_form(server) == {"query": "up == 0", "timeout": "12"}


async def test_connection_url_with_a_path_keeps_it() -> None:
    with StandInServer() as server:
        await observe_stand_in(server, url=f"{server.url}/prometheus/")
    assert urlsplit(server.last.path).path == "/prometheus/api/v1/query"


async def test_long_query_is_sent_as_a_form_post() -> None:
    query = "up" + " + 0" * 600
    with StandInServer() as server:
        await observe_stand_in(server, query)
    assert server.last.method == "POST"
    assert server.header("Content-Type") == "application/x-www-form-urlencoded"
    assert sent_form(server)["query"] == query


async def test_range_query_asks_for_the_last_range_from_the_clock() -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    with StandInServer(body=body) as server:
        probe = PrometheusQueryProbe({"default": connection(server.url)}, clock=lambda: 1_700_000_000.25)
        await observe(probe, "up", range="1h")
        await probe.aclose()
    assert urlsplit(server.last.path).path == "/api/v1/query_range"
    assert sent_form(server) == {
        "query": "up",
        "start": "1699996400.25",
        "end": "1700000000.25",
        "step": "60",
        "timeout": "30",
    }


async def test_probe_reuses_one_client_per_connection() -> None:
    with StandInServer() as server:
        probe = PrometheusQueryProbe({"default": connection(server.url)})
        await observe(probe, "up")
        await observe(probe, "up")
        await probe.aclose()
        assert len(server.requests) == 2
        assert server.requests[0].client_port == server.requests[1].client_port
        await observe(probe, "up")  # a closed probe opens a new client when used again
        await probe.aclose()
    assert len(server.requests) == 3


async def test_injected_transport_carries_the_requests() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "scalar", "result": [1, "3"]}})

    probe = PrometheusQueryProbe(
        {"default": connection("http://prometheus.invalid")}, transport=httpx.MockTransport(answer)
    )
    observation = await observe(probe, "up")
    await probe.aclose()
    assert observation.values["value"] == 3.0


# -- servers that fail ---------------------------------------------------------------------


async def test_connection_refused_becomes_probe_error() -> None:
    with closed_port() as port:
        probe = PrometheusQueryProbe({"default": connection(f"http://127.0.0.1:{port}")})
        with pytest.raises(ProbeError, match=rf"cannot reach Prometheus 'default' at http://127.0.0.1:{port}: Connect"):
            await observe(probe, "up")
        await probe.aclose()


@pytest.mark.timeout(15)
@pytest.mark.parametrize(
    ("connection_timeout", "step_timeout"),
    [pytest.param(0.5, 30, id="connection-timeout"), pytest.param(30, 0.5, id="step-timeout")],
)
async def test_slow_server_times_out_at_the_smaller_timeout(connection_timeout: float, step_timeout: float) -> None:
    with StandInServer(delay=10) as server:
        with pytest.raises(ProbeError, match=r"^Prometheus 'default' at .* did not answer within 0\.5s$"):
            await observe_stand_in(server, step_timeout=step_timeout, timeout=connection_timeout)
        assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(200, "ok, not json", "answered HTTP 200 OK with a body that is not JSON: ok, not json", id="text"),
        pytest.param(200, "[1, 2]", "with JSON that is not a Prometheus API response: [1, 2]", id="json-list"),
        pytest.param(200, '{"result": 1}', "with JSON that is not a Prometheus API response", id="no-status"),
        pytest.param(502, "<html>Bad Gateway</html>", "answered HTTP 502 Bad Gateway: <html>Bad Gateway", id="502"),
        pytest.param(403, '{"message": "denied"}', 'answered HTTP 403 Forbidden: {"message": "denied"}', id="403-json"),
        pytest.param(200, {"status": "success"}, "`data` is not an object", id="no-data"),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": "nope"}},
            "`result` is not a list",
            id="result-not-a-list",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]}},
            '`result[0].value` is not a [time, "value"] pair',
            id="value-not-a-number",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, 2]}]}},
            '`result[0].value` is not a [time, "value"] pair',
            id="value-not-a-string",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "value": [1, "1"]}]}},
            "`result[0].values` is not a list",
            id="matrix-without-values",
        ),
        pytest.param(
            200,
            {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": {"a": 1}, "value": [1, "1"]}]},
            },
            "`result[0].metric` is not a map of label names to strings",
            id="label-not-a-string",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "string", "result": [1, "hello"]}},
            "the query returned a string ([1, 'hello']), not numbers",
            id="string-result",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "table", "result": []}},
            "resultType 'table'",
            id="unknown-result-type",
        ),
        pytest.param(
            200,
            {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "histogram": [1, {}]}]}},
            "result[0] holds native histograms",
            id="native-histogram",
        ),
    ],
)
async def test_broken_response_becomes_probe_error(status: int, body: Any, expected: str) -> None:
    with StandInServer(status=status, body=body) as server, pytest.raises(ProbeError) as caught:
        await observe_stand_in(server)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


async def test_error_status_reports_error_type_text_and_warnings() -> None:
    body = {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation",
            "warnings": ["partial response"]}  # fmt: skip
    with StandInServer(status=503, body=body) as server, pytest.raises(ProbeError) as caught:
        await observe_stand_in(server)
    assert str(caught.value) == (
        f"Prometheus 'default' at {server.url}: timeout: query timed out in expression evaluation; "
        "warnings: partial response"
    )


async def test_warnings_of_a_success_go_into_the_message() -> None:
    body = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {"job": "a"}, "value": [1, "2.5"]}]},
        "warnings": ["remote read of store-2 failed"],
    }
    with StandInServer(body=body) as server:
        observation = await observe_stand_in(server)
    assert observation.message == "1 series; value 2.5; warnings: remote read of store-2 failed"
    assert observation.values["series"] == [{"labels": {"job": "a"}, "value": 2.5}]


@pytest.mark.parametrize(
    ("fields", "secrets"),
    [
        pytest.param({"bearer_token": TOKEN}, [TOKEN], id="bearer"),
        pytest.param(
            {"username": "ops", "password": "pa55word"},
            ["pa55word", base64.b64encode(b"ops:pa55word").decode()],
            id="basic",
        ),
        pytest.param({"headers": {"X-Api-Key": "key-123456"}}, ["key-123456"], id="api-key-header"),
    ],
)
async def test_error_message_never_contains_credentials(fields: dict[str, Any], secrets: list[str]) -> None:
    # a proxy that reflects the request's credentials into its error page
    echo = ["Authorization", "X-Api-Key"]
    server = StandInServer(status=502, body="upstream failed", content_type="text/plain", echo_headers=echo)
    with server, pytest.raises(ProbeError) as caught:
        await observe_stand_in(server, **fields)
    assert any(secret in server.last.headers.get(name, "") for secret in secrets for name in echo)
    assert "HTTP 502" in str(caught.value)
    for secret in secrets:
        assert secret not in str(caught.value)


async def test_error_message_never_contains_url_credentials() -> None:
    with closed_port() as port:
        probe = PrometheusQueryProbe({"default": connection(f"http://ops:hunter2@127.0.0.1:{port}")})
        with pytest.raises(ProbeError) as caught:
            await observe(probe, "up")
        await probe.aclose()
    assert "hunter2" not in str(caught.value)
    assert f"at http://127.0.0.1:{port}" in str(caught.value)


async def test_unreadable_ca_file_becomes_probe_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing-ca.pem"
    probe = PrometheusQueryProbe({"default": connection("https://127.0.0.1:9", ca_file=str(missing))})
    with pytest.raises(ProbeError, match=r"^Prometheus 'default' at https://127\.0\.0\.1:9: cannot set up TLS: "):
        await observe(probe, "up")
    await probe.aclose()
