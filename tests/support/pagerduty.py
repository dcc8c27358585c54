"""A stand-in PagerDuty Events API v2: `POST /v2/enqueue`, checking each event against the documented format.

PagerDuty cannot run here, so this answers the one endpoint the notifier uses, the way PagerDuty
documents it (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/, and the overview's
"Response Codes" and "Size Limits"):

- the body must be JSON (`Content-Type: application/json`), one object, at most 512 KB;
- `routing_key` (a string of exactly 32 characters) and `event_action` (`trigger`, `acknowledge`,
  `resolve`) are required; `dedup_key` is a string of 1..255 characters, required for
  `acknowledge` and `resolve`;
- a trigger needs `payload` with `summary` (1..1024 characters), `source` (non-empty) and `severity`
  (`critical`, `error`, `warning`, `info`); `timestamp` is ISO 8601; `component`, `group`, `class`
  are strings; `custom_details` is an object;
- `links` are objects with an `href` (and maybe `text`), `images` objects with an `https://` `src`
  (and maybe `href`, `alt`); `client` and `client_url` are strings.

Stricter than PagerDuty in one way: an unknown key in the event or its payload is refused
(PagerDuty ignores it), so a misspelt field is caught here rather than silently lost there.

A valid event gets 202 `{"status": "success", "message": "Event processed", "dedup_key": ...}` (a
generated key for a trigger without one); an invalid one 400 `{"status": "invalid event",
"message": "Event object is invalid", "errors": [...]}`. `fail_with(429)` or `fail_with(500)` makes
every later answer that status (with a PagerDuty-like body, or the test's), `hang()` holds every
later answer until the server stops, `recover()` undoes both. Every request is recorded
(`requests`); `events` are the accepted ones, parsed.

    with PagerDutyServer() as pagerduty:
        ... PagerDutyNotifierConfig(routingKeys=..., url=pagerduty.url) ...
        assert pagerduty.events[0]["event_action"] == "trigger"
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

__all__ = ["ENQUEUE", "PagerDutyRequest", "PagerDutyServer", "check_event"]

ENQUEUE = "/v2/enqueue"
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_BYTES = 512_000
_EVENT_KEYS = {"routing_key", "event_action", "dedup_key", "payload", "images", "links", "client", "client_url"}
_PAYLOAD_KEYS = {"summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details"}
_THREAD_NAME = "pagerduty-stand-in"
_SOCKET_TIMEOUT = 5.0
_FAILURES = {
    # PagerDuty documents these status codes but not their bodies: plausible ones, which the notifier must not need.
    429: {"status": "throttle event", "message": "Requests for this service are arriving too quickly."},
    500: {"status": "error", "message": "Internal Server Error"},
}


@dataclass(frozen=True, slots=True)
class PagerDutyRequest:
    """A request as the stand-in received it, and how it answered."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    status: int
    """What the stand-in answered (0: it hung and never answered)."""
    errors: tuple[str, ...] = ()
    """Why the event was invalid (empty for a valid one, or when it was not checked)."""

    @property
    def event(self) -> Any:
        return json.loads(self.body)


def check_event(event: Any) -> list[str]:
    """Everything wrong with `event` (a parsed JSON body) by the Events API v2 documentation; empty when valid."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = [f"'{key}' is not an Events API v2 field" for key in sorted(set(event) - _EVENT_KEYS)]
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str):
        errors.append("'routing_key' is missing or not a string")
    elif len(routing_key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append(f"'event_action' is invalid (must be one of {', '.join(ACTIONS)})")
    if "dedup_key" in event:
        dedup_key = event["dedup_key"]
        if not isinstance(dedup_key, str) or not 1 <= len(dedup_key) <= 255:
            errors.append("'dedup_key' must be a string of 1 to 255 characters")
    elif action in ("acknowledge", "resolve"):
        errors.append(f"'dedup_key' is required for event_action '{action}'")
    if action == "trigger" or "payload" in event:
        errors += _check_payload(event.get("payload"))
    errors += _check_list(event, "links", required="href", optional=("text",))
    errors += _check_list(event, "images", required="src", optional=("href", "alt"))
    for name in ("client", "client_url"):
        if name in event and not isinstance(event[name], str):
            errors.append(f"'{name}' must be a string")
    return errors


def _check_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object (a trigger needs one)"]
    errors = [f"'payload.{key}' is not an Events API v2 field" for key in sorted(set(payload) - _PAYLOAD_KEYS)]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        errors.append("'payload.summary' is missing or empty")
    elif len(summary) > 1024:
        errors.append(f"'payload.summary' is {len(summary)} characters (at most 1024)")
    source = payload.get("source")
    if not isinstance(source, str) or not source:
        errors.append("'payload.source' is missing or empty")
    if payload.get("severity") not in SEVERITIES:
        errors.append(f"'payload.severity' is invalid (must be one of {', '.join(SEVERITIES)})")
    if "timestamp" in payload:
        stamp = payload["timestamp"]
        try:
            datetime.fromisoformat(stamp)
        except (TypeError, ValueError):
            errors.append("'payload.timestamp' is not an ISO 8601 timestamp")
    for name in ("component", "group", "class"):
        if name in payload and not isinstance(payload[name], str):
            errors.append(f"'payload.{name}' must be a string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        errors.append("'payload.custom_details' must be an object")
    return errors


def _check_list(event: Mapping[str, Any], name: str, *, required: str, optional: Sequence[str]) -> list[str]:
    if name not in event:
        return []
    items = event[name]
    if not isinstance(items, list):
        return [f"'{name}' must be an array of objects"]
    errors = []
    for index, item in enumerate(items):
        where = f"{name}[{index}]"
        if not isinstance(item, dict):
            errors.append(f"'{where}' must be an object")
            continue
        value = item.get(required)
        if not isinstance(value, str) or not value:
            errors.append(f"'{where}.{required}' is missing or empty")
        elif name == "images" and not value.startswith("https://"):
            errors.append(f"'{where}.src' must be served via HTTPS")
        for key in sorted(set(item) - {required, *optional}):
            errors.append(f"'{where}.{key}' is not an Events API v2 field")
        for key in optional:
            if key in item and not isinstance(item[key], str):
                errors.append(f"'{where}.{key}' must be a string")
    return errors


def _check_request(content_type: str, body: bytes) -> tuple[Any, list[str]]:
    if content_type.partition(";")[0].strip().lower() != "application/json":
        return None, [f"Content-Type must be application/json, not {content_type or 'missing'!r}"]
    if len(body) > MAX_BYTES:
        return None, [f"Event is {len(body)} bytes; the limit is 512 KB"]
    try:
        event = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, ["Event body is not valid UTF-8 JSON"]
    return event, check_event(event)


@dataclass(slots=True)
class _State:
    requests: list[PagerDutyRequest] = field(default_factory=list)
    failure: tuple[int, Any] | None = None
    hanging: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # close() joins the handler threads
    state: _State

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_SOCKET_TIMEOUT)
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: a client that gave up mid-answer (a timeout test) is expected."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with state.lock:
            failure, hanging = state.failure, state.hanging
        status, answer, errors = self._decide(failure, hanging, body)
        with state.lock:
            state.requests.append(
                PagerDutyRequest("POST", self.path, dict(self.headers.items()), body, status, tuple(errors))
            )
        if status == 0:
            state.stopping.wait()  # until the server stops; then drop the connection unanswered
            return
        self._send(status, answer)

    def do_GET(self) -> None:
        self._send(404, {"status": "not found", "message": "only POST /v2/enqueue here"})

    def _decide(self, failure: tuple[int, Any] | None, hanging: bool, body: bytes) -> tuple[int, Any, list[str]]:
        if self.path != ENQUEUE:
            return 404, {"status": "not found", "message": f"no such endpoint {self.path}"}, []
        if hanging:
            return 0, None, []
        if failure is not None:
            return failure[0], failure[1], []
        event, errors = _check_request(self.headers.get("Content-Type", ""), body)
        if errors:
            invalid = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
            return 400, invalid, errors
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}, []

    def _send(self, status: int, answer: Any) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests`, not a log."""


class PagerDutyServer:
    """The stand-in on 127.0.0.1 and a free port, in a thread; a context manager that joins its threads."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, name=_THREAD_NAME
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The enqueue URL, for the notifier's `url`."""
        return f"http://127.0.0.1:{self.port}{ENQUEUE}"

    @property
    def requests(self) -> list[PagerDutyRequest]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events accepted (answered 202), parsed, in order."""
        return [request.event for request in self.requests if request.status == 202]

    def fail_with(self, status: int, answer: Any = None) -> None:
        """Answer every later request with `status` and `answer` (JSON; by default a PagerDuty-like body)."""
        if answer is None:
            answer = _FAILURES.get(status, {"status": "error", "message": "stand-in failure"})
        with self._server.state.lock:
            self._server.state.failure = (status, answer)

    def hang(self) -> None:
        """Never answer later requests (they are dropped when the server stops)."""
        with self._server.state.lock:
            self._server.state.hanging = True

    def recover(self) -> None:
        """Answer normally again."""
        with self._server.state.lock:
            self._server.state.failure = None
            self._server.state.hanging = False

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, release hung requests, and join every thread."""
        self._server.state.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    @staticmethod
    def threads() -> list[threading.Thread]:
        """Threads of any stand-in still alive (the accept loop; handlers are joined by `close`)."""
        return [thread for thread in threading.enumerate() if thread.name == _THREAD_NAME]
