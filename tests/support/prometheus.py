"""A real Prometheus for tests, the exporter it scrapes, and a small HTTP stand-in.

- `MetricsExporter`: serves `/metrics` in the Prometheus text format from values a test sets.
- `PrometheusServer`: runs `/usr/bin/prometheus` on a free port, scraping targets every second.
- `StandInServer`: answers a canned response and records each request (for headers, methods and
  bodies a client sends, and for slow or broken servers), never for data Prometheus can give.

Fixtures live in the test modules (pytest only finds them there or in conftest.py):

    @pytest.fixture(scope="module")
    def exporter() -> Iterator[MetricsExporter]:
        with MetricsExporter() as exporter:
            yield exporter

    @pytest.fixture(scope="module")
    def prometheus(exporter, tmp_path_factory) -> Iterator[PrometheusServer]:
        with PrometheusServer([exporter.address], workdir=tmp_path_factory.mktemp("prometheus")) as server:
            yield server
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

__all__ = [
    "JOB",
    "MetricsExporter",
    "PrometheusServer",
    "RecordedRequest",
    "StandInServer",
    "closed_port",
    "free_port",
    "prometheus_binary",
]

JOB = "handrail-test"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def closed_port() -> Iterator[int]:
    """A port held bound but not listening: connecting is refused, and nothing else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def prometheus_binary() -> str:
    """The path of `prometheus`, or a failed test that says how to install it."""
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail("`prometheus` is not on PATH: run `make test` (scripts/test-services.sh installs it)")
    return path


def _wait(condition: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class _Server:
    """A `ThreadingHTTPServer` on 127.0.0.1:<free port> in a daemon thread; a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self.closing = threading.Event()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        """`127.0.0.1:port`, as a scrape target."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()  # wakes handlers that are sleeping on purpose
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the exporter -------------------------------------------------------------------------


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label(value: str) -> str:
    # the text format escapes \, " and newline in label values
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _ExporterHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        exporter: MetricsExporter = self.server.owner  # type: ignore[attr-defined]
        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        body = exporter.scrape().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class MetricsExporter(_Server):
    """Serves `/metrics` from gauges a test sets; counts the scrapes so a test can wait for them."""

    def __init__(self) -> None:
        super().__init__(_ExporterHandler)
        self._lock = threading.Lock()
        self._values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._scrapes = 0

    def set(self, name: str, value: float, *, labels: Mapping[str, str] | None = None) -> None:
        """Set gauge `name{labels}` to `value` from the next scrape on."""
        with self._lock:
            self._values[(name, tuple(sorted((labels or {}).items())))] = value

    def remove(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """Stop exposing `name{labels}`."""
        with self._lock:
            self._values.pop((name, tuple(sorted((labels or {}).items()))), None)

    @property
    def scrapes(self) -> int:
        """How many times `/metrics` has been read."""
        with self._lock:
            return self._scrapes

    def wait_for_scrapes(self, count: int, *, timeout: float = 15) -> None:
        """Block until `count` more scrapes have read the values as they are now."""
        target = self.scrapes + count
        _wait(lambda: self.scrapes >= target, timeout=timeout, what=f"{count} scrapes of {self.url}/metrics")

    def scrape(self) -> str:
        """The exposition text, as a scrape sees it (and counts it)."""
        with self._lock:
            self._scrapes += 1
            lines: list[str] = []
            for name in sorted({name for name, _ in self._values}):
                lines.append(f"# TYPE {name} gauge")
                for (series, labels), value in sorted(self._values.items()):
                    if series == name:
                        text = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels)
                        lines.append(
                            f"{name}{{{text}}} {_format_value(value)}" if text else f"{name} {_format_value(value)}"
                        )
            return "\n".join(lines) + "\n"


# -- Prometheus ---------------------------------------------------------------------------


class PrometheusServer:
    """A real Prometheus on 127.0.0.1:<free port> scraping `targets` every second; a context manager."""

    def __init__(
        self,
        targets: Sequence[str],
        *,
        workdir: Path,
        job: str = JOB,
        startup_timeout: float = 30,
        rules: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.targets = list(targets)
        self.rules = list(rules)
        """Alerting (and recording) rules of one group, as in a rules file (`alert`, `expr`, `labels`, ...)."""
        self.workdir = workdir
        self.job = job
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log = workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        binary = prometheus_binary()
        config = self.workdir / "prometheus.yml"
        settings: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "900ms", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": self.job, "static_configs": [{"targets": self.targets}]}],
        }
        if self.rules:
            rules = self.workdir / "rules.yml"
            rules.write_text(json.dumps({"groups": [{"name": "handrail-test", "rules": self.rules}]}))
            settings["rule_files"] = [str(rules)]
        config.write_text(json.dumps(settings))  # JSON is YAML
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port = free_port()
            with self._log.open("ab") as log:
                self._process = subprocess.Popen(
                    [
                        binary,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={self.workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{self.port}",
                        "--log.level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            try:
                self._wait_ready()
            except _Exited:
                if "address already in use" in self._log.read_text(errors="replace"):
                    continue
                raise RuntimeError(f"prometheus exited on start:\n{self.log_tail()}") from None
            except BaseException:
                self.stop()
                raise
            return self
        raise RuntimeError(f"prometheus found no free port:\n{self.log_tail()}")

    def _wait_ready(self) -> None:
        def ready() -> bool:
            assert self._process is not None
            if self._process.poll() is not None:
                raise _Exited
            try:
                return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait(ready, timeout=self.startup_timeout, what=f"prometheus on {self.url} to be ready")
        self.wait_for(f'count(up{{job="{self.job}"}} == 1) == {len(self.targets)}', what="the first scrapes")

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The `result` of an instant query (raises on an API error)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def wait_for(self, promql: str, *, timeout: float = 15, what: str | None = None) -> None:
        """Block until the instant query `promql` returns at least one series."""
        _wait(lambda: bool(self.query(promql)), timeout=timeout, what=what or promql)

    def stop(self) -> None:
        """Terminate Prometheus (kill it if it takes more than 10 s) and reap it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


class _Exited(Exception):
    """Prometheus exited while starting."""


# -- the stand-in -------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class _Answer:
    status: int = 200
    body: bytes = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
    content_type: str = "application/json"
    delay: float = 0.0
    echo_headers: Sequence[str] = ()


class _StandInHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a test can see a client reuse its connection

    def _answer(self) -> None:
        stand_in: StandInServer = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        request = RecordedRequest(
            self.command, self.path, dict(self.headers.items()), self.rfile.read(length), self.client_address[1]
        )
        stand_in.requests.append(request)
        answer = stand_in.answer
        if answer.delay and stand_in.closing.wait(answer.delay):
            return
        body = answer.body
        for name in answer.echo_headers:  # like a debugging proxy that reflects the request into its error page
            body += f"\n{name}: {self.headers.get(name, '')}".encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class StandInServer(_Server):
    """Answers every request with `answer` (after `answer.delay` seconds) and records it in `requests`."""

    def __init__(
        self,
        *,
        status: int = 200,
        body: bytes | str | Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
        echo_headers: Sequence[str] = (),
    ) -> None:
        super().__init__(_StandInHandler)
        self.requests: list[RecordedRequest] = []
        self.answer = _Answer(status=status, content_type=content_type, delay=delay, echo_headers=echo_headers)
        if body is not None:
            self.answer.body = _encode(body)

    @property
    def last(self) -> RecordedRequest:
        """The most recent request."""
        assert self.requests, "the stand-in received no request"
        return self.requests[-1]

    def header(self, name: str) -> str | None:
        """Header `name` (any case) of the most recent request, or None."""
        return next((value for key, value in self.last.headers.items() if key.lower() == name.lower()), None)


def _encode(body: bytes | str | Mapping[str, Any]) -> bytes:
    if isinstance(body, bytes):
        return body
    return body.encode() if isinstance(body, str) else json.dumps(body).encode()
