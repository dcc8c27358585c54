"""A stand-in Loki: `/loki/api/v1/query_range` over canned streams, checking what clients send.

Loki cannot run here, so this answers the one endpoint log_search uses, the way Loki documents it
(https://grafana.com/docs/loki/latest/reference/loki-http-api/#query-logs-within-a-range-of-time):

- `query` (LogQL) is required and must start with a stream selector `{...}`;
- `start` and `end` must be Unix epoch nanoseconds (integers; Loki also takes seconds and RFC 3339,
  which this stand-in refuses, so a client that sends seconds is caught) with start < end;
- `limit` a positive integer, `direction` `forward` or `backward`.

A bad request gets 400 and plain-text error like Loki's. A good one gets the canned entries with
start <= time < end, the `limit` newest (backward) or oldest (forward) over all streams, as
`{"status": "success", "data": {"resultType": "streams", "result": [...]}}`. Every request is
recorded (`requests`), and `fail_with(status, body)` makes the next answers an error.

    with LokiServer([LokiStream({"app": "payments"}, [(ns, "ERROR boom")])]) as loki:
        ... HttpConnection(url=loki.url) ...
        assert loki.requests[0].params["direction"] == "backward"
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = ["QUERY_RANGE", "LokiRequest", "LokiServer", "LokiStream"]

QUERY_RANGE = "/loki/api/v1/query_range"
_MIN_NANOSECONDS = 10**18
"""Any time after 2001-09-09 in nanoseconds is at least this; seconds or milliseconds are far below."""


@dataclass(frozen=True, slots=True)
class LokiStream:
    """One stream: its labels and its entries as (unix nanoseconds, line)."""

    labels: Mapping[str, str]
    entries: Sequence[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class LokiRequest:
    """A request as the stand-in received it; `params` holds the first value of each parameter."""

    method: str
    path: str
    params: Mapping[str, str]
    headers: Mapping[str, str]


@dataclass(slots=True)
class _State:
    streams: list[LokiStream]
    requests: list[LokiRequest] = field(default_factory=list)
    failure: tuple[int, str] | None = None
    result_type: str = "streams"
    lock: threading.Lock = field(default_factory=threading.Lock)


class _BadRequest(Exception):
    """A request Loki would refuse with 400; the message is the body."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer(urlsplit(self.path).query)

    def do_POST(self) -> None:
        # Loki takes the same parameters form-encoded in a POST body
        length = int(self.headers.get("Content-Length") or 0)
        self._answer(self.rfile.read(length).decode())

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is for the test."""

    def _answer(self, form: str) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        values = parse_qs(form, keep_blank_values=True)
        params = {name: items[0] for name, items in values.items()}
        with state.lock:
            state.requests.append(LokiRequest(self.command, path, params, dict(self.headers.items())))
            failure, result_type, streams = state.failure, state.result_type, list(state.streams)
        if path != QUERY_RANGE:
            self._send(404, "404 page not found\n", "text/plain; charset=utf-8")
            return
        if failure is not None:
            self._send(failure[0], failure[1], "text/plain; charset=utf-8")
            return
        try:
            start, end, limit, direction = _check(params)
        except _BadRequest as exc:
            self._send(400, f"{exc}\n", "text/plain; charset=utf-8")
            return
        body = {
            "status": "success",
            "data": {"resultType": result_type, "result": _select(streams, start, end, limit, direction), "stats": {}},
        }
        self._send(200, json.dumps(body), "application/json")

    def _send(self, status: int, body: str, content_type: str) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _check(params: Mapping[str, str]) -> tuple[int, int, int, str]:
    """The request's (start, end, limit, direction), or `_BadRequest` with Loki's kind of message."""
    query = params.get("query", "")
    if not query.strip():
        raise _BadRequest("parse error : syntax error: unexpected $end")
    if not query.lstrip().startswith("{"):
        raise _BadRequest(f"parse error at line 1, col 1: syntax error: unexpected IDENTIFIER in {query!r}")
    if query.count("{") != query.count("}"):
        raise _BadRequest("parse error : syntax error: unexpected $end, expecting } or ,")
    bounds = []
    for name in ("start", "end"):
        value = params.get(name)
        if value is None:
            raise _BadRequest(f"stand-in: `{name}` is required (log_search always sends it)")
        if not value.isdigit():
            raise _BadRequest(f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp')
        if int(value) < _MIN_NANOSECONDS:
            raise _BadRequest(f'stand-in: "{name}" must be Unix epoch nanoseconds, got {value} (seconds?)')
        bounds.append(int(value))
    start, end = bounds
    if end <= start:
        raise _BadRequest("end timestamp must not be before or equal to start time")
    raw_limit = params.get("limit")
    if raw_limit is None:
        raise _BadRequest("stand-in: `limit` is required (log_search always sends it)")
    try:
        limit = int(raw_limit)
    except ValueError:
        raise _BadRequest(f'strconv.Atoi: parsing "{raw_limit}": invalid syntax') from None
    if limit <= 0:
        raise _BadRequest("limit must be a positive value")
    direction = params.get("direction", "")
    if direction.lower() not in ("forward", "backward"):
        raise _BadRequest(f"invalid direction '{direction}'")
    return start, end, limit, direction.lower()


def _select(streams: Sequence[LokiStream], start: int, end: int, limit: int, direction: str) -> list[dict[str, Any]]:
    """The entries in [start, end), the `limit` first in `direction` over all streams, grouped back."""
    entries = [
        (stamp, line, index)
        for index, stream in enumerate(streams)
        for stamp, line in stream.entries
        if start <= stamp < end
    ]
    entries.sort(key=lambda entry: entry[0], reverse=direction == "backward")
    chosen = entries[:limit]
    result = []
    for index, stream in enumerate(streams):
        values = [[str(stamp), line] for stamp, line, owner in chosen if owner == index]
        if values:
            result.append({"stream": dict(stream.labels), "values": values})
    return result


class LokiServer:
    """The stand-in on 127.0.0.1 and a free port, in a thread; a context manager."""

    def __init__(self, streams: Sequence[LokiStream] = ()) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(list(streams))
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="loki-stand-in", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[LokiRequest]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    def set_streams(self, streams: Sequence[LokiStream]) -> None:
        with self._server.state.lock:
            self._server.state.streams = list(streams)

    def answer_with_result_type(self, result_type: str) -> None:
        """Label the result as another type (like `matrix`, what a LogQL metric query returns)."""
        with self._server.state.lock:
            self._server.state.result_type = result_type

    def fail_with(self, status: int, body: str) -> None:
        """Answer every request with `status` and the plain-text `body` from now on."""
        with self._server.state.lock:
            self._server.state.failure = (status, body)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
