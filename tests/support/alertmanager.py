"""A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`) and a real `handrail serve`, for tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import pytest

from support.prometheus import free_port

__all__ = ["AlertmanagerServer", "ServeProcess", "alertmanager_binary"]


def alertmanager_binary() -> str:
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found is None:
        pytest.fail("prometheus-alertmanager is not installed: run `make test`, which installs it")
    return found


def _wait(check: Any, *, timeout: float, what: str, log: Any = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{log()}")


class ServeProcess:
    """`handrail serve` on a free port, in its own process group."""

    def __init__(self, config: Path, *, engine: bool = True) -> None:
        self.port = free_port()
        self._config = config
        self._engine = engine
        self._log = config.parent / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        args = [sys.executable, "-m", "handrail", "serve", "--port", str(self.port), "--config", str(self._config)]
        if not self._engine:
            args.append("--no-engine")
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        _wait(
            lambda: httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200,
            timeout=30,
            what="handrail serve",
            log=self.log,
        )
        return self

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-4000:] if self._log.exists() else ""

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class AlertmanagerServer:
    """Alertmanager on a free port, routing every alert to one webhook with a bearer token."""

    def __init__(self, workdir: Path, *, webhook: str, token: str) -> None:
        self.port = free_port()
        self._workdir = workdir
        self._log = workdir / "alertmanager.log"
        config = workdir / "alertmanager.yml"
        config.write_text(
            "route:\n"
            "  receiver: handrail\n"
            "  group_by: [alertname, service]\n"
            "  group_wait: 100ms\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 2s\n"
            "receivers:\n"
            "  - name: handrail\n"
            "    webhook_configs:\n"
            f"      - url: '{webhook}'\n"
            "        send_resolved: true\n"
            "        http_config:\n"
            "          authorization:\n"
            "            type: Bearer\n"
            f"            credentials: '{token}'\n"
        )
        self._config = config
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        args = [
            alertmanager_binary(),
            f"--config.file={self._config}",
            f"--storage.path={self._workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
        ]
        with self._log.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        _wait(
            lambda: httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200,
            timeout=30,
            what="alertmanager",
            log=lambda: self._log.read_text(errors="replace")[-3000:],
        )
        return self

    def fire(
        self, labels: dict[str, str], *, resolved: bool = False, annotations: dict[str, str] | None = None
    ) -> None:
        """Post an alert the way Prometheus does (API v2); `resolved` ends it now."""
        now = datetime.now(UTC)
        alert: dict[str, Any] = {
            "labels": labels,
            "annotations": annotations or {},
            "startsAt": (now - timedelta(minutes=1)).isoformat(),
            "endsAt": (now - timedelta(seconds=1) if resolved else now + timedelta(minutes=5)).isoformat(),
            "generatorURL": "http://prometheus.example/graph",
        }
        answer = httpx.post(f"{self.url}/api/v2/alerts", json=[alert], timeout=5)
        answer.raise_for_status()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
