"""Benchmark the body limits (#13): memory around a 20 MiB-label alert, and refusing a 100 MB body without a token.

    .venv/bin/python bench/limits.py                        # the handrail this checkout's src holds
    .venv/bin/python bench/limits.py --src /path/to/src     # another one (e.g. the code before #13)

Each server is `handrail serve` (with its engine) in a subprocess on a free port, SQLite in a temp
dir, default `api.limits`, one runbook whose alert trigger matches and whose one diagnostic
(`shell_command: true`) answers at once. The handrail it runs is the one on PYTHONPATH=SRC.

1. Memory: once /readyz answers and 3 s have passed, the server's VmRSS (/proc/PID/status). Then
   one Alertmanager webhook, with the token, whose one firing alert has a `pod` label of 20 MiB;
   10 s later (the engine has picked up whatever was opened) VmRSS again, the peak (VmHWM), the
   answer's status, the database file's growth and the size of the incident's JSON in the API.
2. Refusal: a 100 MB body (`[` repeated, `Content-Length` declared) posted to the webhook with no
   token from a raw socket: the time from the first byte sent to the answer's status line, the
   server's CPU time over the same span (utime + stime from /proc/PID/stat) and the bytes the
   client managed to send before the answer came (the rest stays in the socket buffers or is never
   sent).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from machine import machine

from handrail.api.auth import digest

TOKEN = "bench-alertmanager-token-0123456789"  # noqa: S105
ADMIN = "bench-admin-token-0123456789"
MIB = 1024 * 1024
RUNBOOK = """\
id: bench-limits
name: Bench Limits
description: an alert opens an incident; its one diagnostic answers at once
severity: P3
service: bench
triggers: [{type: alert, alertName: BenchAlert}]
diagnostics:
  - {id: ok, name: Ok, description: d, type: shell_command, config: {command: "true"}, interpret: {healthy: "true"}}
decisionTree:
  - {otherwise: true, then: [page], description: people look}
remediations:
  - {id: page, name: Page, description: page someone, type: escalate}
escalation: {primary: "#bench", escalateAfterMinutes: 30}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _status(pid: int, key: str) -> int:
    """A `kB` figure from /proc/PID/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def _cpu_seconds(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    def __init__(self, root: Path, src: Path) -> None:
        (root / "runbooks").mkdir()
        (root / "runbooks" / "bench.yaml").write_text(RUNBOOK)
        self.database = root / "h.db"
        self.config = root / "handrail.yaml"
        self.config.write_text(
            f"runbooks: runbooks\ndatabase: 'sqlite:///{self.database}'\napi:\n  tokens:\n"
            f"    - {{name: am, role: alertmanager, sha256: {digest(TOKEN)}}}\n"
            f"    - {{name: admin, role: admin, sha256: {digest(ADMIN)}}}\n"
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root / "serve.log"
        self.src = src
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {**os.environ, "PYTHONPATH": str(self.src)}
        args = [sys.executable, "-m", "handrail", "serve", "--port", str(self.port), "--config", str(self.config)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=log, env=env, start_new_session=True)  # noqa: S603
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"handrail serve did not start:\n{self.log.read_text()[-2000:]}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def memory(src: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp), src) as server:
        time.sleep(3)
        before, database_before = _status(server.pid, "VmRSS"), server.database.stat().st_size
        alert = {"status": "firing", "labels": {"alertname": "BenchAlert", "pod": "p" * (20 * MIB)}}
        started = time.monotonic()
        answer = httpx.post(
            f"{server.url}/api/v1/alerts/alertmanager",
            content=json.dumps({"status": "firing", "alerts": [alert]}),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            timeout=300,
        )
        elapsed = time.monotonic() - started
        time.sleep(10)
        incident_json = 0
        opened = answer.json().get("opened", []) if answer.status_code == 200 else []
        if opened:
            detail = httpx.get(
                f"{server.url}/api/v1/incidents/{opened[0]}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=300
            )
            incident_json = len(detail.content)
        return {
            "status": answer.status_code,
            "answer_seconds": elapsed,
            "rss_before": before,
            "rss_after": _status(server.pid, "VmRSS"),
            "rss_peak": _status(server.pid, "VmHWM"),
            "database_growth": server.database.stat().st_size - database_before,
            "incident_json": incident_json,
        }


def refusal(src: Path, size: int = 100_000_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp), src) as server:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=300)
        head = (
            "POST /api/v1/alerts/alertmanager HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n"
        )
        cpu_before = _cpu_seconds(server.pid)
        started = time.monotonic()
        sock.sendall(head.encode())
        chunk, sent, answered = b"[" * MIB, 0, b""
        sock.setblocking(False)
        while sent < size and not answered:
            readable, _, _ = select.select([sock], [sock], [], 300)
            if readable:
                answered = sock.recv(4096)
                break
            try:
                sent += sock.send(chunk[: size - sent])
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        try:
            while b"\r\n" not in answered:
                part = sock.recv(4096)
                if not part:
                    break
                answered += part
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(server.pid) - cpu_before
        sock.close()
        return {"status_line": answered.split(b"\r\n", 1)[0].decode(), "seconds": elapsed, "cpu": cpu, "sent": sent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path(__file__).parents[1] / "src")
    src = parser.parse_args().src.resolve()
    print(f"Machine: {machine()}; handrail from {src}\n")
    mem = memory(src)
    print("| 20 MiB-label alert | answer | RSS before | RSS after | peak RSS | database growth | incident JSON |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| | {mem['status']} in {mem['answer_seconds']:.2f} s | {mem['rss_before'] / MIB:.0f} MiB"
        f" | {mem['rss_after'] / MIB:.0f} MiB | {mem['rss_peak'] / MIB:.0f} MiB"
        f" | {mem['database_growth'] / MIB:.1f} MiB | {mem['incident_json'] / MIB:.1f} MiB |"
    )
    refused = refusal(src)
    print("\n| 100 MB body, no token | answer | time to the answer | server CPU | bytes the client sent |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| | {refused['status_line']} | {refused['seconds']:.3f} s | {refused['cpu']:.2f} s"
        f" | {refused['sent'] / MIB:.1f} MiB |"
    )


if __name__ == "__main__":
    main()
