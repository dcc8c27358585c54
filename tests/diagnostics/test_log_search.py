"""log_search over log files the tests write, and over a stand-in Loki that checks the API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from handrail.diagnostics.base import HttpConnection, ProbeContext
from handrail.diagnostics.log_search import LogSearchParams, LogSearchProbe
from handrail.errors import ProbeError
from support.loki import QUERY_RANGE, LokiServer, LokiStream

pytestmark = pytest.mark.timeout(30)

NOW = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
"""The probe's clock; the window (15m by default) is 13:50:00 to 14:05:00."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ns(stamp: datetime) -> int:
    return (stamp - EPOCH) // timedelta(microseconds=1) * 1000


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, 26, hour, minute, second, tzinfo=UTC)


def params(**config: Any) -> LogSearchParams:
    return LogSearchParams.model_validate(config)


def context(timeout: float = 10.0, **labels: str) -> ProbeContext:
    return ProbeContext(template={"labels": labels, "annotations": {}}, timeout=timeout)


def write_log(path: Path, lines: list[str], *, modified: datetime = NOW) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


async def search(probe_config: dict[str, Any] | None = None, **config: Any) -> Any:
    probe = LogSearchProbe({}, clock=lambda: NOW, **(probe_config or {}))
    try:
        return await probe.observe(params(**config), context())
    finally:
        await probe.aclose()


# -- the file backend -----------------------------------------------------------------------

APP_LOG = [
    "ERROR above a line from before the window, never read",
    "2026-11-26T13:00:00Z ERROR ancient",
    "2026-11-26T13:49:30Z ERROR just before the window",
    "2026-11-26 13:55:00,123 ERROR comma millis",
    "Nov 26 13:58:00 host app[1]: ERROR syslog",
    '{"ts": "2026-11-26T15:01:00+01:00", "msg": "ERROR json with an offset"}',
    '{"time": 1795701720, "level": "error", "msg": "ERROR json epoch seconds"}',
    "    at com.example.Payments.charge(ERROR in a stack trace)",
    "2026-11-26T14:03:00 INFO all good",
    "",
    "[2026-11-26 14:04:00] ERROR bracketed naive\r",
    "2026-11-26T14:10:00Z ERROR from the future",
]


@pytest.fixture
def app_log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "app.log", APP_LOG)


async def test_log_search_counts_matches_within_the_window(app_log: Path) -> None:
    observation = await search(paths=[str(app_log)], pattern="ERROR")
    assert observation.values == {
        "count": 6,
        "samples": [
            "[2026-11-26 14:04:00] ERROR bracketed naive",
            "at com.example.Payments.charge(ERROR in a stack trace)",
            '{"time": 1795701720, "level": "error", "msg": "ERROR json epoch seconds"}',
            '{"ts": "2026-11-26T15:01:00+01:00", "msg": "ERROR json with an offset"}',
            "Nov 26 13:58:00 host app[1]: ERROR syslog",
            "2026-11-26 13:55:00,123 ERROR comma millis",
        ],
        "first_seen": "2026-11-26T13:55:00.123Z",
        "last_seen": "2026-11-26T14:04:00Z",
    }
    assert set(observation.values) == set(LogSearchParams.PROVIDES)
    assert observation.message == "6 matching lines in the last 15m; last at 2026-11-26T14:04:00Z (1 file)"


async def test_log_search_limits_samples_but_not_the_count(app_log: Path) -> None:
    observation = await search(paths=[str(app_log)], pattern="ERROR", limit=2)
    assert observation.values["count"] == 6
    assert observation.values["samples"] == [
        "[2026-11-26 14:04:00] ERROR bracketed naive",
        "at com.example.Payments.charge(ERROR in a stack trace)",
    ]


async def test_log_search_matches_an_re2_regex(app_log: Path) -> None:
    observation = await search(paths=[str(app_log)], regex=r"ERROR (comma|syslog)\b")
    assert observation.values["count"] == 2
    assert observation.values["first_seen"] == "2026-11-26T13:55:00.123Z"
    assert observation.values["last_seen"] == "2026-11-26T13:58:00Z"


async def test_log_search_uses_the_window(app_log: Path) -> None:
    observation = await search(paths=[str(app_log)], pattern="ERROR", window="5m")
    # 14:00 to 14:05: the offset (14:01), epoch seconds (14:02), the stack trace (no time), bracketed (14:04)
    assert observation.values["count"] == 4
    assert observation.values["first_seen"] == "2026-11-26T14:01:00Z"


async def test_log_search_reports_no_matches(app_log: Path) -> None:
    observation = await search(paths=[str(app_log)], pattern="PANIC")
    assert observation.values == {"count": 0, "samples": [], "first_seen": None, "last_seen": None}
    assert observation.message == "0 matching lines in the last 15m (1 file)"


async def test_log_search_counts_lines_without_timestamps(tmp_path: Path) -> None:
    log = write_log(tmp_path / "plain.log", ["ERROR one", "fine", "ERROR two"])
    observation = await search(paths=[str(log)], pattern="ERROR")
    assert observation.values == {
        "count": 2,
        "samples": ["ERROR two", "ERROR one"],
        "first_seen": None,
        "last_seen": None,
    }


async def test_log_search_reads_every_file_of_a_glob_and_merges_samples(tmp_path: Path) -> None:
    write_log(tmp_path / "api-1.log", ["2026-11-26T14:01:00Z ERROR api-1 first", "2026-11-26T14:03:00Z ERROR api-1"])
    write_log(tmp_path / "api-2.log", ["2026-11-26T14:02:00Z ERROR api-2", "2026-11-26T14:04:00Z ERROR api-2 last"])
    write_log(tmp_path / "api.txt", ["2026-11-26T14:04:30Z ERROR not a .log file"])
    # rotated before the window: skipped whole, even its lines without a timestamp
    write_log(tmp_path / "api-0.log", ["ERROR rotated away"], modified=NOW - timedelta(hours=2))
    observation = await search(paths=[str(tmp_path / "api-*.log")], pattern="ERROR", limit=3)
    assert observation.values == {
        "count": 4,
        "samples": [
            "2026-11-26T14:04:00Z ERROR api-2 last",
            "2026-11-26T14:03:00Z ERROR api-1",
            "2026-11-26T14:02:00Z ERROR api-2",
        ],
        "first_seen": "2026-11-26T14:01:00Z",
        "last_seen": "2026-11-26T14:04:00Z",
    }
    assert observation.message.endswith("(3 files)")


async def test_log_search_reads_only_the_tail_of_a_big_file(tmp_path: Path) -> None:
    old = "2026-11-26T10:00:00Z ERROR long ago " + "x" * 60
    recent = [f"2026-11-26T14:0{minute}:00Z ERROR recent {minute}" for minute in range(3)]
    log = write_log(tmp_path / "big.log", [old] * 80_000 + recent)  # about 7.5 MB of old lines
    observation = await search({"max_bytes": 1024 * 1024}, paths=[str(log)], pattern="ERROR")
    assert observation.values["count"] == 3
    assert "stopped after reading" not in observation.message


async def test_log_search_stops_at_the_byte_cap(tmp_path: Path) -> None:
    log = write_log(tmp_path / "plain.log", [f"ERROR line {index:04d}" for index in range(1000)])
    observation = await search({"max_bytes": 1024}, paths=[str(log)], pattern="ERROR")
    assert 0 < observation.values["count"] < 100
    assert observation.values["samples"][0] == "ERROR line 0999"
    assert observation.message.endswith("; stopped after reading 1024 bytes")


async def test_log_search_inserts_a_label_as_a_file_name(tmp_path: Path) -> None:
    write_log(tmp_path / "payments.log", ["2026-11-26T14:01:00Z ERROR card declined for order 1.5"])
    probe = LogSearchProbe({}, clock=lambda: NOW)
    config = params(paths=[f"{tmp_path}/{{{{ labels.app }}}}.log"], regex="order {{ labels.order }}$")
    assert (await probe.observe(config, context(app="payments", order="1.5"))).values["count"] == 1
    # the regex gets the value escaped: `1x5` is not `1.5`
    assert (await probe.observe(config, context(app="payments", order="1x5"))).values["count"] == 0


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("../secret", id="dot-dot"),
        pytest.param("nested/payments", id="slash"),
        pytest.param("..", id="parent"),
    ],
)
async def test_log_search_refuses_a_label_that_would_choose_another_file(tmp_path: Path, value: str) -> None:
    (tmp_path / "logs").mkdir()
    write_log(tmp_path / "secret.log", ["ERROR secret"])
    probe = LogSearchProbe({}, clock=lambda: NOW)
    config = params(paths=[f"{tmp_path}/logs/{{{{ labels.app }}}}.log"], pattern="ERROR")
    with pytest.raises(ProbeError, match="could name another file"):
        await probe.observe(config, context(app=value))


async def test_log_search_takes_a_wildcard_in_a_label_literally(tmp_path: Path) -> None:
    write_log(tmp_path / "payments.log", ["ERROR boom"])
    probe = LogSearchProbe({}, clock=lambda: NOW)
    config = params(paths=[f"{tmp_path}/{{{{ labels.app }}}}.log"], pattern="ERROR")
    with pytest.raises(ProbeError, match="no log file matches"):
        await probe.observe(config, context(app="*"))


async def test_log_search_reports_error_when_no_file_matches(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match=r"no log file matches .*/missing-\*\.log"):
        await search(paths=[str(tmp_path / "missing-*.log")], pattern="ERROR")


async def test_log_search_reports_error_for_an_invalid_regex(app_log: Path) -> None:
    with pytest.raises(ProbeError, match="not a valid RE2 expression"):
        await search(paths=[str(app_log)], regex="(unclosed")


# -- the Loki backend -----------------------------------------------------------------------


@pytest.fixture
def loki() -> Iterator[LokiServer]:
    streams = [
        LokiStream(
            {"app": "payments", "pod": "payments-1"},
            [(ns(at(13, 40)), "too old"), (ns(at(13, 56)), " ERROR first "), (ns(at(14, 2)), "ERROR third")],
        ),
        LokiStream({"app": "payments", "pod": "payments-2"}, [(ns(at(14, 1)), "ERROR second")]),
    ]
    with LokiServer(streams) as server:
        yield server


def loki_probe(url: str, **connection: Any) -> LogSearchProbe:
    return LogSearchProbe({"default": HttpConnection.model_validate({"url": url, **connection})}, clock=lambda: NOW)


async def test_log_search_queries_loki_with_the_documented_parameters(loki: LokiServer) -> None:
    probe = loki_probe(loki.url, bearerToken="t0ken", headers={"X-Scope-OrgID": "team-a"})
    query = '{app="{{ labels.app }}"} |= "ERROR"'
    await probe.observe(params(backend="loki", query=query, limit=50), context(app='pay"ments'))
    await probe.aclose()
    (request,) = loki.requests
    assert request.method == "GET"
    assert request.path == QUERY_RANGE
    assert request.params == {
        "query": '{app="pay\\"ments"} |= "ERROR"',
        "start": str(ns(NOW - timedelta(minutes=15))),
        "end": str(ns(NOW)),
        "limit": "50",
        "direction": "backward",
    }
    assert request.headers["Authorization"] == "Bearer t0ken"
    assert request.headers["X-Scope-OrgID"] == "team-a"


async def test_log_search_reads_loki_streams_newest_first(loki: LokiServer) -> None:
    probe = loki_probe(loki.url)
    observation = await probe.observe(params(backend="loki", query='{app="payments"}'), context())
    await probe.aclose()
    assert observation.values == {
        "count": 3,
        "samples": ["ERROR third", "ERROR second", "ERROR first"],
        "first_seen": "2026-11-26T13:56:00Z",
        "last_seen": "2026-11-26T14:02:00Z",
    }
    assert observation.message == "3 matching lines in the last 15m; last at 2026-11-26T14:02:00Z"


async def test_log_search_says_when_loki_stops_at_the_limit(loki: LokiServer) -> None:
    probe = loki_probe(loki.url)
    observation = await probe.observe(params(backend="loki", query='{app="payments"}', limit=2), context())
    await probe.aclose()
    assert observation.values["count"] == 2
    assert observation.values["samples"] == ["ERROR third", "ERROR second"]
    assert "stops at limit 2; there may be more" in observation.message


async def test_log_search_reports_the_loki_error_body(loki: LokiServer) -> None:
    probe = loki_probe(loki.url)
    with pytest.raises(ProbeError, match=r"answered HTTP 400 Bad Request: parse error at line 1, col 1"):
        await probe.observe(params(backend="loki", query='rate(app="payments")'), context())
    await probe.aclose()


async def test_log_search_reports_a_failing_loki(loki: LokiServer) -> None:
    loki.fail_with(500, "too many outstanding requests")
    probe = loki_probe(loki.url)
    with pytest.raises(ProbeError, match="HTTP 500 Internal Server Error: too many outstanding requests"):
        await probe.observe(params(backend="loki", query='{app="payments"}'), context())
    await probe.aclose()


async def test_log_search_refuses_a_metric_query_result(loki: LokiServer) -> None:
    loki.answer_with_result_type("matrix")
    probe = loki_probe(loki.url)
    with pytest.raises(ProbeError, match="returned 'matrix', not log lines"):
        await probe.observe(params(backend="loki", query='{app="payments"}'), context())
    await probe.aclose()


async def test_log_search_reports_a_refused_loki_connection() -> None:
    with LokiServer() as server:
        url = server.url
    probe = loki_probe(url)
    with pytest.raises(ProbeError, match="cannot reach Loki 'default'"):
        await probe.observe(params(backend="loki", query='{app="payments"}'), context())
    await probe.aclose()


async def test_log_search_reports_an_unknown_loki_connection() -> None:
    probe = loki_probe("http://127.0.0.1:9")
    with pytest.raises(ProbeError, match="no Loki connection 'logs'"):
        await probe.observe(params(backend="loki", query="{app=~'.+'}", connection="logs"), context())


async def test_log_search_hides_loki_credentials_in_errors(loki: LokiServer) -> None:
    loki.fail_with(401, "bad password hunter2 for user admin")
    probe = loki_probe(loki.url, username="admin", password="hunter2")
    with pytest.raises(ProbeError) as caught:
        await probe.observe(params(backend="loki", query='{app="payments"}'), context())
    await probe.aclose()
    assert "hunter2" not in str(caught.value)
    assert "HTTP 401" in str(caught.value)


# -- the stand-in itself refuses what Loki would ------------------------------------------


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"query": ""}, "syntax error", id="no-query"),
        pytest.param({"start": "1795701600"}, "nanoseconds", id="seconds"),
        pytest.param({"start": "2026-11-26T14:00:00Z"}, "valid timestamp", id="rfc3339"),
        pytest.param({"start": str(ns(NOW))}, "before or equal to start", id="empty-range"),
        pytest.param({"limit": "0"}, "limit must be a positive value", id="zero-limit"),
        pytest.param({"limit": "ten"}, "invalid syntax", id="text-limit"),
        pytest.param({"direction": "sideways"}, "invalid direction 'sideways'", id="direction"),
    ],
)
def test_loki_stand_in_refuses_bad_parameters(loki: LokiServer, changes: dict[str, str], error: str) -> None:
    good = {
        "query": '{app="payments"}',
        "start": str(ns(NOW - timedelta(minutes=15))),
        "end": str(ns(NOW)),
        "limit": "10",
        "direction": "backward",
    }
    assert httpx.get(loki.url + QUERY_RANGE, params=good).status_code == 200
    response = httpx.get(loki.url + QUERY_RANGE, params=good | changes)
    assert response.status_code == 400
    assert error in response.text
