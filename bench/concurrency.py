"""Benchmark many incidents at once on one machine: 500 incidents × 10 diagnostics, and memory per open incident.

    .venv/bin/python bench/concurrency.py [INCIDENTS[/CONCURRENCY] ...]  # e.g. 100 500 500/50; exit 1 on a failure

Every server is a subprocess on a free port: a `handrail serve` (its engine included, SQLite in a temp
dir, tokens by digest in its settings) and an endpoint for the diagnostics to call (uvicorn; every
request answers after DELAY_MS, concurrently).

1. Completion: INCIDENTS incidents (optionally with `engine.workerConcurrency` = CONCURRENCY, so at most
   that many run at once and the rest wait in the queue) of a runbook with TEN http_check diagnostics
   (timeout 10 s each) are triggered through the API (`POST /api/v1/incidents`, 16 clients) as fast as
   they are accepted; every incident's diagnostics all run at once, so up to INCIDENTS × 10 requests
   are in flight. The
   runbook then escalates (no action), which ends the incident's workflow. Figures: the time from the
   first trigger to the last incident escalated; each diagnostic's status and duration, read back from
   the API (a diagnostic the engine starved would read `error`, timed out, or take far longer than
   DELAY_MS); the baseline: the same INCIDENTS × 10 requests sent bare, all at once, from one asyncio
   process with httpx.
2. Memory: a fresh server; WARMUP incidents of a runbook whose remediation waits for approval (one
   cheap diagnostic), then INCIDENTS more; every one stays open, its workflow waiting. Figure: the
   server's resident memory (VmRSS) after the warm-up and after the INCIDENTS, divided by INCIDENTS;
   and the SQLite database's growth per incident.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from machine import machine

from handrail.api.auth import digest
from handrail.demo.postgres import free_port

INCIDENTS = 500
DIAGNOSTICS = 10
DELAY_MS = 100
WARMUP = 20
CLIENTS = 16
TIMEOUT = 600.0
ADMIN_TOKEN = "bench-admin-token-0123456789"  # noqa: S105 - a throwaway token for a throwaway server

ENDPOINT = """\
import asyncio, sys
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

async def slow(request):
    await asyncio.sleep(int(request.query_params.get("ms", "0")) / 1000)
    return PlainTextResponse("ok")

app = Starlette(routes=[Route("/slow", slow)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", backlog=8192, limit_concurrency=None)
"""

FANOUT = """\
id: bench-fanout
name: Ten Checks
description: ten http_check diagnostics against one slow endpoint, then a person
severity: P3
service: bench
triggers: [{{type: manual}}]
diagnostics:
{diagnostics}
decisionTree:
  - otherwise: true
    then: [page]
    description: always a person
remediations:
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#bench"
  escalateAfterMinutes: 600
"""

DIAGNOSTIC = """\
  - id: check_{index}
    name: Check {index}
    description: one request to the slow endpoint
    type: http_check
    config:
      urls: [{{name: slow, url: "{url}/slow?ms={delay}"}}]
    timeout: 10
    interpret: {{healthy: all_healthy, critical: "!all_healthy"}}
"""

HOLDING = """\
id: bench-holding
name: Waits for a Person
description: one cheap diagnostic, then an action that waits for approval, so the incident stays open
severity: P3
service: bench
triggers: [{type: manual}]
diagnostics:
  - id: one
    name: One Line
    description: a cheap local probe
    type: shell_command
    config: {command: "echo ok"}
    timeout: 10
    interpret: {healthy: "lines[0] == 'ok'", critical: "lines[0] != 'ok'"}
decisionTree:
  - otherwise: true
    then: [fix]
    description: always the fix, after approval
remediations:
  - id: fix
    name: Fix
    description: waits for approval
    type: automated
    requiresApproval: true
    action:
      type: run_script
      config: {command: [/bin/true]}
escalation:
  primary: "#bench"
  escalateAfterMinutes: 600
"""


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")


@contextmanager
def started(args: list[str], *, port: int, log: Path, ready: str) -> Iterator[Process]:
    with log.open("wb") as output:
        process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}{ready}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{args[:4]} did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Process(process, url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(root: Path, name: str, *, worker_concurrency: int | None = None) -> Any:
    folder = root / name
    folder.mkdir()
    config = folder / "handrail.yaml"
    engine = "" if worker_concurrency is None else f"engine: {{workerConcurrency: {worker_concurrency}}}\n"
    config.write_text(
        f"runbooks: '{root / 'runbooks'}'\n"
        f"database: 'sqlite:///{folder / 'handrail.db'}'\n"
        f"{engine}"
        "api:\n  tokens:\n"
        f"    - {{name: bench, role: admin, sha256: {digest(ADMIN_TOKEN)}}}\n"
    )
    port = free_port()
    args = [sys.executable, "-m", "handrail", "serve", "--config", str(config), "--port", str(port)]
    return started(args, port=port, log=folder / "serve.log", ready="/readyz")


async def trigger(url: str, runbook: str, count: int, prefix: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            while not queue.empty():
                index = queue.get_nowait()
                body = {"runbookId": runbook, "context": {"dedupKey": f"{prefix}-{index}"}}
                answer = await http.post("/api/v1/incidents", json=body)
                answer.raise_for_status()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))


def incidents(url: str, runbook: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    found: list[dict[str, Any]] = []
    while True:
        page = httpx.get(
            f"{url}/api/v1/incidents",
            params={"runbookId": runbook, "limit": 500, "offset": len(found)},
            headers=headers,
            timeout=60,
        ).json()["incidents"]
        found += page
        if len(page) < 500:
            return found


API_STALLS: list[float] = []
"""How long each poll of the API took that did not answer within a minute (the server was too busy)."""


def wait_states(url: str, runbook: str, count: int, states: tuple[str, ...]) -> float:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        asked = time.monotonic()
        try:
            found = incidents(url, runbook)
        except httpx.TimeoutException:
            API_STALLS.append(time.monotonic() - asked)
            continue
        if len(found) >= count and all(i["state"] in states for i in found):
            return time.time()
        time.sleep(0.5)
    raise SystemExit(f"{runbook}: not every incident reached {states} within {TIMEOUT:g} s")


async def bare(url: str, requests: int) -> float:
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        started_at = time.perf_counter()
        answers = await asyncio.gather(*(http.get(f"{url}/slow?ms={DELAY_MS}") for _ in range(requests)))
        elapsed = time.perf_counter() - started_at
    assert all(a.status_code == 200 for a in answers)
    return elapsed


@dataclass
class Completion:
    count: int
    worker_concurrency: int | None
    seconds: float
    statuses: Counter[str]
    durations_ms: list[float]
    bare_seconds: float
    server_cpu: float
    endpoint_cpu: float


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def completion(root: Path, endpoint: Process, count: int, worker_concurrency: int | None) -> Completion:
    name = f"completion-{count}-{worker_concurrency or 'default'}"
    with serve(root, name, worker_concurrency=worker_concurrency) as server:
        server_cpu, endpoint_cpu = cpu_seconds(server.process.pid), cpu_seconds(endpoint.process.pid)
        started_at = time.time()
        asyncio.run(trigger(server.url, "bench-fanout", count, "fanout"))
        finished = wait_states(server.url, "bench-fanout", count, ("escalated",))
        server_cpu = cpu_seconds(server.process.pid) - server_cpu
        endpoint_cpu = cpu_seconds(endpoint.process.pid) - endpoint_cpu
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        statuses: Counter[str] = Counter()
        durations: list[float] = []
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            for summary in incidents(server.url, "bench-fanout"):
                detail = http.get(f"/api/v1/incidents/{summary['id']}").json()
                for result in detail["diagnosticResults"]:
                    statuses[result["status"]] += 1
                    durations.append(float(result["durationMs"]))
    bare_seconds = asyncio.run(bare(endpoint.url, count * DIAGNOSTICS))
    return Completion(
        count, worker_concurrency, finished - started_at, statuses, durations, bare_seconds, server_cpu, endpoint_cpu
    )


@dataclass
class Memory:
    before_mib: float
    after_mib: float
    database_bytes_before: int
    database_bytes_after: int


def memory(root: Path, count: int) -> Memory:
    database = root / "memory" / "handrail.db"
    with serve(root, "memory") as server:
        asyncio.run(trigger(server.url, "bench-holding", WARMUP, "warmup"))
        wait_states(server.url, "bench-holding", WARMUP, ("awaiting_approval",))
        time.sleep(2)
        before, size_before = server.rss_mib(), _size(database)
        asyncio.run(trigger(server.url, "bench-holding", count, "open"))
        wait_states(server.url, "bench-holding", WARMUP + count, ("awaiting_approval",))
        time.sleep(2)
        return Memory(before, server.rss_mib(), size_before, _size(database))


def _size(database: Path) -> int:
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*"))


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def report(runs: list[Completion], held: Memory, started: str, load: float) -> str:
    count = runs[-1].count
    per_incident = (held.after_mib - held.before_mib) / count
    lines = [
        f"Machine: {machine()} — measured {started} (load average {load:.2f} at the start); SQLite.",
        "",
        f"Incidents × {DIAGNOSTICS} http_check diagnostics (endpoint answers in {DELAY_MS} ms; timeout 10 s), all"
        " triggered at once; the bare baseline sends the same requests at once from one asyncio process.",
        "",
        "| incidents | `workerConcurrency` | requests | first trigger → last escalated | bare baseline | / baseline |"
        " server CPU | endpoint CPU | statuses | duration median / p99 / max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(run.statuses.items()))
        lines.append(
            f"| {run.count} | {run.worker_concurrency or '1000 (default)'} | {run.count * DIAGNOSTICS} |"
            f" {run.seconds:.1f} s ({run.count / run.seconds:.1f}/s) | {run.bare_seconds:.2f} s |"
            f" {run.seconds / run.bare_seconds:.1f} | {run.server_cpu:.1f} s |"
            f" {run.endpoint_cpu:.1f} s | {statuses} | {statistics.median(run.durations_ms):.0f} /"
            f" {_percentile(run.durations_ms, 99):.0f} / {max(run.durations_ms):.0f} ms |"
        )
    if API_STALLS:
        lines += ["", f"The API did not answer a poll within 60 s {len(API_STALLS)} times while incidents ran."]
    lines += [
        "",
        "| memory | value |",
        "| --- | --- |",
        f"| server RSS with {WARMUP} open incidents → with {WARMUP + count} | "
        f"{held.before_mib:.0f} → {held.after_mib:.0f} MiB |",
        f"| **per open incident** (waiting for approval) | **{per_incident * 1024:.0f} KiB** |",
        f"| SQLite database growth per open incident | "
        f"{(held.database_bytes_after - held.database_bytes_before) / count / 1024:.0f} KiB |",
    ]
    return "\n".join(lines)


def main() -> None:
    # arguments: INCIDENTS or INCIDENTS/WORKER_CONCURRENCY, e.g. `100 500 500/50`
    plans = [(int(a.split("/")[0]), int(a.split("/")[1]) if "/" in a else None) for a in sys.argv[1:]]
    plans = plans or [(INCIDENTS, None)]
    started = datetime.now(UTC).strftime("%Y-%m-%d")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="handrail-bench-") as folder:
        root = Path(folder)
        port = free_port()
        with started_endpoint(root, port) as endpoint:
            (root / "runbooks").mkdir()
            diagnostics = "".join(
                DIAGNOSTIC.format(index=i, url=endpoint.url, delay=DELAY_MS) for i in range(DIAGNOSTICS)
            )
            (root / "runbooks" / "fanout.yaml").write_text(FANOUT.format(diagnostics=diagnostics))
            (root / "runbooks" / "holding.yaml").write_text(HOLDING)
            runs = []
            for count, worker_concurrency in plans:
                runs.append(completion(root, endpoint, count, worker_concurrency))
                print(f"{count} incidents: {runs[-1].seconds:.1f} s", file=sys.stderr)
            held = memory(root, max(count for count, _ in plans))
    print(report(runs, held, started, load))
    if any(set(run.statuses) != {"healthy"} for run in runs):
        sys.exit(1)


@contextmanager
def started_endpoint(root: Path, port: int) -> Iterator[Process]:
    script = root / "endpoint.py"
    script.write_text(ENDPOINT)
    with started([sys.executable, str(script), str(port)], port=port, log=root / "endpoint.log", ready="/slow") as p:
        yield p


if __name__ == "__main__":
    main()
