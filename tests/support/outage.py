"""An outage in front of a stand-in: a TCP proxy that forwards, answers 503, or refuses connections.

The stand-ins for Slack and PagerDuty (tests/support/slack.py, pagerduty.py) check payloads; this
makes them unreachable for a while without touching them, the way an outage looks from our side:

    with SlackServer() as slack, OutageProxy(slack_port) as proxy:
        ... point the notifier at proxy.url("/api/") ...
        proxy.down("503")     # every request is answered `503 Service Unavailable`, nothing forwarded
        proxy.down("refuse")  # nothing listens on the port: connecting is refused
        proxy.up()            # forwarding again

Going down also closes every connection already open through the proxy, so a client cannot slip
past the outage on a kept-alive connection. `answered_503` counts the requests turned away.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Literal, Self

__all__ = ["OutageProxy"]

_THREAD_PREFIX = "handrail-test-server-outage"
"""Starts like tests/support/servers.py's names, so `server_threads()` sees these threads too."""
_CHUNK = 65536
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n"
    b"Connection: close\r\n\r\nservice unavailable\n"
)


class OutageProxy:
    """Forwards 127.0.0.1:<port> to an upstream port until told to go down, then until told to come up."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream = ("127.0.0.1", upstream_port)
        self._lock = threading.Lock()
        self._mode: Literal["up", "503", "refuse"] = "up"
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.answered_503 = 0
        self._listener: socket.socket | None = None
        self.port = self._listen(0)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def mode(self) -> str:
        return self._mode

    def down(self, how: Literal["503", "refuse"]) -> None:
        """Start the outage: answer 503 to every request, or refuse every connection."""
        with self._lock:
            self._mode = how
            connections, self._open = list(self._open), set()
            listener = self._listener if how == "refuse" else None
            if listener is not None:
                self._listener = None
        for connection in connections:
            _close(connection)
        if listener is not None:
            _close(listener)  # the accept loop sees it closed and ends

    def up(self) -> None:
        """End the outage: forward again (listening again on the same port after `refuse`)."""
        with self._lock:
            was, self._mode = self._mode, "up"
        if was == "refuse":
            self._listen(self.port)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening, close every connection, and join every thread."""
        self._stopping.set()
        with self._lock:
            sockets = [*self._open, *([self._listener] if self._listener else [])]
            self._open, self._listener = set(), None
        for sock in sockets:
            _close(sock)
        for thread in list(self._threads):
            thread.join(timeout=10)

    # -- inside -------------------------------------------------------------------------------

    def _listen(self, port: int) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        self._start(self._accept, listener)
        return int(listener.getsockname()[1])

    def _start(self, target: Callable[[socket.socket], None], sock: socket.socket) -> None:
        thread = threading.Thread(target=target, args=(sock,), name=f"{_THREAD_PREFIX}-{len(self._threads)}")
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                readable, _, _ = select.select([listener], [], [], 0.05)
                if not readable:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed by down("refuse") or close()
                return
            with self._lock:
                mode = self._mode
                if mode == "up":
                    self._open.add(client)
            if mode == "503":
                self._start(self._unavailable, client)
            elif mode == "up":
                self._start(self._forward, client)
            else:
                _close(client)

    def _unavailable(self, client: socket.socket) -> None:
        """Read one request (headers, then Content-Length bytes of body) and answer 503."""
        try:
            client.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = client.recv(_CHUNK)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            lengths = [line.split(b":", 1)[1] for line in lines if line.lower().startswith(b"content-length:")]
            length = int(lengths[0]) if lengths else 0
            while len(body) < length:
                chunk = client.recv(_CHUNK)
                if not chunk:
                    return
                body += chunk
            client.sendall(_UNAVAILABLE)
            with self._lock:
                self.answered_503 += 1
        except OSError:
            return
        finally:
            _close(client)

    def _forward(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream, timeout=5)
        except OSError:
            _close(client)
            return
        with self._lock:
            if self._mode != "up" or self._stopping.is_set():
                _close(upstream)
                _close(client)
                return
            self._open.add(upstream)
        pair = {client: upstream, upstream: client}
        try:
            while not self._stopping.is_set():
                readable, _, _ = select.select(list(pair), [], [], 0.05)
                for sock in readable:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):  # closed by down() or close()
            return
        finally:
            with self._lock:
                self._open.discard(client)
                self._open.discard(upstream)
            _close(client)
            _close(upstream)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
