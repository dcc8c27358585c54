"""Local servers for network tests, each on 127.0.0.1 and a free port, each stopped cleanly.

- `HttpServer`: answers each path the way the test says (`Route`: status, body, headers, delay),
  records every request as it arrived (the raw request target, so percent-encoding shows), and
  counts how many delayed requests were waiting at once (`max_delayed_at_once`: concurrency).
- `HttpsServer`: the same behind TLS, with a certificate and key the test chose
  (tests/support/certificates.py makes them).
- `silent_port()`: a port that takes TCP connections and never says a word (for timeouts).
- `refused_port()`: a port where nothing listens, so connecting is refused.

Use them as context managers; leaving the block stops the server and joins every thread it
started (a delayed answer is cut short rather than waited for). `server_threads()` lists the
threads still running, so a test can show none leaked.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn

from support.prometheus import free_port

__all__ = [
    "HttpServer",
    "HttpsServer",
    "Route",
    "SeenRequest",
    "refused_port",
    "server_threads",
    "serving",
    "silent_port",
]

_THREAD_PREFIX = "handrail-test-server"
_SOCKET_TIMEOUT = 5.0
"""Seconds a handler waits on a silent client before giving up, so shutdown is never stuck on one."""


@dataclass(frozen=True, slots=True)
class Route:
    """How the server answers one path."""

    status: int = 200
    body: bytes | str = b"ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds to wait before answering (cut short when the server stops)."""
    echo_target: bool = False
    """Append the request target to the body, as many servers' error pages do (secrets in the URL included)."""


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """A request as the server received it."""

    method: str
    target: str
    """The request target exactly as sent, e.g. `/files/..%2Fetc?x=1`."""
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


NOT_FOUND = Route(status=404, body=b"not found")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _SOCKET_TIMEOUT

    def do_GET(self) -> None:
        self._answer()

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def do_POST(self) -> None:
        self._answer()

    def do_PUT(self) -> None:
        self._answer()

    def do_OPTIONS(self) -> None:
        self._answer()

    def _answer(self, *, with_body: bool = True) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.server.owner
        owner._record(SeenRequest(self.command, self.path, dict(self.headers.items()), body))
        route = owner.routes.get(self.path.partition("?")[0], owner.default)
        if route.delay:
            with owner._in_flight():
                if owner._stopping.wait(route.delay):
                    return  # the server is stopping: drop the connection instead of answering
        body = route.body.encode() if isinstance(route.body, str) else route.body
        if route.echo_target:
            body += f" (for {self.path})".encode()
        self.send_response(route.status)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name in route.headers):
            self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests`, not a log."""


class _Server(ThreadingHTTPServer):
    """A threading HTTP server that joins its handler threads on close and can speak TLS."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, owner: HttpServer, tls: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        threading.current_thread().name = f"{_THREAD_PREFIX}-handler"  # for `server_threads()`
        super().process_request_thread(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(_SOCKET_TIMEOUT)
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in the handler's thread, so a slow client never blocks accept().
        try:
            wrapped = self.tls.wrap_socket(request, server_side=True)
        except OSError as exc:  # ssl.SSLError included: the client rejected our certificate, or left
            self.owner._record_error(exc)
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that leaves mid-answer (a probe timing out) is expected here; keep it, quietly.
        exc = sys.exc_info()[1]
        if exc is not None:
            self.owner._record_error(exc)


class HttpServer:
    """An HTTP server on 127.0.0.1 whose answer per path the test sets; records what it was sent."""

    scheme = "http"

    def __init__(self, routes: Mapping[str, Route] | None = None, *, default: Route = NOT_FOUND) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.default = default
        self.errors: list[BaseException] = []
        self.max_delayed_at_once = 0
        """The most requests that were waiting out a `Route.delay` at the same time (shows concurrency)."""
        self._delayed_now = 0
        self._requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(self, self._tls_context())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{_THREAD_PREFIX}-accept"
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def requests(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._requests)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def route(self, path: str, route: Route) -> None:
        self.routes[path] = route

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, cut delayed answers short, and join every thread."""
        self._stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()  # joins the handler threads (block_on_close)

    def _tls_context(self) -> ssl.SSLContext | None:
        return None

    def _record(self, request: SeenRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _record_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    @contextmanager
    def _in_flight(self) -> Iterator[None]:
        with self._lock:
            self._delayed_now += 1
            self.max_delayed_at_once = max(self.max_delayed_at_once, self._delayed_now)
        try:
            yield
        finally:
            with self._lock:
                self._delayed_now -= 1


class HttpsServer(HttpServer):
    """`HttpServer` behind TLS, serving the given certificate (chain) and key."""

    scheme = "https"

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        routes: Mapping[str, Route] | None = None,
        *,
        default: Route = NOT_FOUND,
    ) -> None:
        self._cert_file = cert_file
        self._key_file = key_file
        super().__init__(routes, default=default)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self._cert_file, self._key_file)
        return context


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose kernel completes TCP handshakes that nobody ever answers (no thread needed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # never accept(): connections wait in the backlog, unanswered
        yield listener.getsockname()[1]


@contextmanager
def refused_port() -> Iterator[int]:
    """A port where nothing listens: bound (so no one else takes it) but not listening, so refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        yield placeholder.getsockname()[1]


def server_threads() -> list[threading.Thread]:
    """Threads started by these servers that are still alive."""
    return [thread for thread in threading.enumerate() if thread.name.startswith(_THREAD_PREFIX)]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """An ASGI `app` on uvicorn in a thread (its own event loop, as in `handrail serve`), on a free port; its URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, name="test-uvicorn")
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
