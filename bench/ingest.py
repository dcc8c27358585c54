"""Benchmark alert ingest: Alertmanager webhooks into a real `handrail serve`, and an alert storm.

    .venv/bin/python bench/ingest.py            # prints a Markdown report; exit 1 if the storm lost anything

Every server is a subprocess on a free port (SQLite in a temp dir, tokens by digest in its
settings); every load comes from httpx clients in this process, each on one kept-alive connection.

1. Throughput: single-alert Alertmanager v4 webhooks, WARMUP untimed then REQUESTS timed, into a
   bare FastAPI endpoint (a uvicorn subprocess that parses the body with handrail's own
   `AlertmanagerPayload` and answers 200), into `handrail serve --no-engine` (ingest alone) and into
   `handrail serve` with its engine. Fingerprints cycle over FINGERPRINTS, so the warm-up opens the
   incidents and every timed post joins one: the steady state of an alert storm. Figures: webhooks
   per second and handrail / bare, p50 / p99 latency, CPU per post of the server and of the clients.
   Two more rows place the cost: an alert no runbook matches (HTTP, auth, parsing, matching, no
   write), and joins from a single client (no contention for SQLite's one writer).
2. Storm: STORM_ALERTS single-alert posts over STORM_FINGERPRINTS fingerprints in a seeded shuffled
   order, from STORM_CONCURRENCY clients, into a fresh `handrail serve` with its engine (the
   runbook's remediation needs approval, so every incident stays open and every repeat joins).
   Then the incidents are counted through the API and in the database: exactly STORM_FINGERPRINTS,
   with STORM_ALERTS - STORM_FINGERPRINTS joins between them, or the exit status is 1. Last, up to
   SETTLE_SECONDS for the engine to have assessed every incident (reported, not checked).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from machine import machine

from handrail.api.auth import digest

CONCURRENCY = 16
WARMUP = 300
REQUESTS = 3_000
FINGERPRINTS = 8
SERIAL_REQUESTS = 1_000
STORM_ALERTS = 10_000
STORM_FINGERPRINTS = 100
STORM_CONCURRENCY = 16
SETTLE_SECONDS = 15

# Throwaway tokens for throwaway servers; only their digests go into the settings file.
ALERTMANAGER_TOKEN = "bench-alertmanager-token-0123456789"  # noqa: S105
VIEWER_TOKEN = "bench-viewer-token-0123456789"  # noqa: S105
WEBHOOK = "/api/v1/alerts/alertmanager"

RUNBOOK = """\
id: {id}
name: Checkout Errors ({id})
description: the checkout service answers with errors
severity: P2
service: checkout
triggers:
  - type: alert
    alertName: {alert}
    labels: {{service: checkout, severity: "=~page|critical"}}
diagnostics:
  - id: errors
    name: Error Rate
    description: a stand-in for a Prometheus query
    type: shell_command
    config: {{command: "echo broken"}}
    timeout: 10
    interpret: {{critical: "lines[0] == 'broken'", healthy: "lines[0] == 'ok'"}}
decisionTree:
  - condition: "diagnostics.errors.status == 'critical'"
    then: [rollback]
    description: errors — roll back, once someone approves
  - otherwise: true
    then: [page]
    description: anything else
remediations:
  - id: rollback
    name: Roll Back
    description: stands in for a rollback; needs approval, so the incident stays open
    type: automated
    requiresApproval: true
    action:
      type: run_script
      config: {{command: [/bin/true]}}
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#checkout"
  escalateAfterMinutes: 600
"""

# The bare baseline: the same body, the same pydantic model, the same kind of handler (a plain `def`,
# which FastAPI runs in its thread pool, as it does handrail's), the same uvicorn settings.
BARE_SERVER = """\
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI

from handrail.api.alerts import AlertmanagerPayload

app = FastAPI()


@app.post("{webhook}")
def alertmanager(payload: AlertmanagerPayload) -> dict[str, Any]:
    return {{"opened": [], "joined": [], "resolved": [], "unknown": len(payload.alerts)}}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", log_config=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """A subprocess that serves HTTP on `port`, in its own process group, stopped on exit."""

    def __init__(self, name: str, args: list[str], *, port: int, log: Path, ready: str) -> None:
        self.name = name
        self.port = port
        self._args = args
        self._log = log
        self._ready = ready
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        with self._log.open("wb") as log:
            # our own argv: this interpreter and a script or `-m handrail`
            self.process = subprocess.Popen(self._args, stdout=log, stderr=log, start_new_session=True)  # noqa: S603
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}\n{self.log()}")
            try:
                if httpx.get(f"{self.url}{self._ready}", timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {self.name}\n{self.log()}")

    def cpu(self) -> float:
        assert self.process is not None
        return cpu_seconds(self.process.pid)

    def log(self) -> str:
        return self._log.read_text(errors="replace")[-4000:] if self._log.exists() else ""

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)  # the whole group: diagnostics run as children
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def handrail_server(root: Path, name: str, *, engine: bool) -> Server:
    """`handrail serve` on a free port with its own SQLite database and a catalog of two runbooks."""
    root.mkdir()
    (root / "runbooks").mkdir()
    for runbook_id, alert in (("bench-ingest", "BenchIngestErrors"), ("bench-storm", "BenchStormErrors")):
        (root / "runbooks" / f"{runbook_id}.yaml").write_text(RUNBOOK.format(id=runbook_id, alert=alert))
    config = root / "handrail.yaml"
    config.write_text(
        f"runbooks: runbooks\ndatabase: 'sqlite:///{root / 'handrail.db'}'\n"
        "api:\n  tokens:\n"
        f"    - {{name: alertmanager, role: alertmanager, sha256: {digest(ALERTMANAGER_TOKEN)}}}\n"
        f"    - {{name: bench-viewer, role: viewer, sha256: {digest(VIEWER_TOKEN)}}}\n"
    )
    port = free_port()
    args = [sys.executable, "-m", "handrail", "serve", "--port", str(port), "--config", str(config)]
    if not engine:
        args.append("--no-engine")
    return Server(name, args, port=port, log=root / "serve.log", ready="/readyz")


def bare_server(root: Path) -> Server:
    script = root / "bare_server.py"
    script.write_text(BARE_SERVER.format(webhook=WEBHOOK))
    port = free_port()
    return Server("bare FastAPI", [sys.executable, str(script), str(port)], port=port, log=root / "bare.log", ready="/")


def fingerprint(index: int) -> str:
    return f"{(index + 1) * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF:016x}"


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def payload(alert: str, index: int) -> dict[str, Any]:
    """An Alertmanager v4 webhook with one firing alert, as Alertmanager 0.27 sends it."""
    instance = f"checkout-{index}.prod.internal:9090"
    labels = {"alertname": alert, "service": "checkout", "severity": "page", "instance": instance, "job": "checkout"}
    annotations = {
        "summary": f"Checkout 5xx rate above 5% on {instance}",
        "description": "More than 5% of checkout requests failed over the last 5 minutes.",
        "runbook_url": "https://runbooks.example.com/checkout-errors",
    }
    group = {"alertname": alert, "service": "checkout"}
    return {
        "receiver": "handrail",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": "2026-11-26T10:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=checkout_5xx_ratio+%3E+0.05",
                "fingerprint": fingerprint(index),
            }
        ],
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alert}", service="checkout"}}',
        "truncatedAlerts": 0,
    }


@dataclass(slots=True)
class Drive:
    """What posting a list of webhooks came to."""

    wall: float
    latencies: list[float]
    failures: list[str]

    def percentile_ms(self, percent: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[percent - 1] * 1000


async def drive(url: str, bodies: list[bytes], *, concurrency: int) -> Drive:
    """Post every body once from `concurrency` clients, each its own httpx client on one connection."""
    queue = iter(bodies)
    result = Drive(0.0, [], [])
    headers = {"Authorization": f"Bearer {ALERTMANAGER_TOKEN}", "Content-Type": "application/json"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            for body in queue:  # shared by the clients: the next free one takes the next body
                started = time.perf_counter()
                try:
                    answer = await http.post(WEBHOOK, content=body)
                except httpx.HTTPError as exc:
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                result.latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    result.failures.append(f"{answer.status_code}: {answer.text[:200]}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.wall = time.perf_counter() - started
    return result


@dataclass(frozen=True, slots=True)
class Case:
    """One throughput measurement: which server, which alert, how many clients."""

    label: str
    server: str
    alert: str
    concurrency: int
    requests: int


CASES = [
    Case("bare FastAPI endpoint, same pydantic model", "bare", "BenchIngestErrors", CONCURRENCY, REQUESTS),
    Case(
        "`handrail serve --no-engine`, alert no runbook matches (no write)",
        "ingest",
        "BenchUnrouted",
        CONCURRENCY,
        REQUESTS,
    ),
    Case("**`handrail serve --no-engine`, joins**", "ingest", "BenchIngestErrors", CONCURRENCY, REQUESTS),
    Case("`handrail serve --no-engine`, joins, 1 client", "ingest", "BenchIngestErrors", 1, SERIAL_REQUESTS),
    Case("**`handrail serve` with the engine, joins**", "engine", "BenchIngestErrors", CONCURRENCY, REQUESTS),
]


async def throughput(server: Server, case: Case) -> dict[str, float]:
    """Warm up (which opens the incidents), then time `case.requests` posts that all join one."""
    bodies = [encode(payload(case.alert, i % FINGERPRINTS)) for i in range(WARMUP + case.requests)]
    warmup = await drive(server.url, bodies[:WARMUP], concurrency=CONCURRENCY)
    server_cpu, client_cpu = server.cpu(), time.process_time()
    timed = await drive(server.url, bodies[WARMUP:], concurrency=case.concurrency)
    server_cpu, client_cpu = server.cpu() - server_cpu, time.process_time() - client_cpu
    failures = warmup.failures + timed.failures
    if failures:
        raise RuntimeError(f"{server.name}: {len(failures)} failed posts, first: {failures[0]}\n{server.log()}")
    return {
        "rate": case.requests / timed.wall,
        "p50_ms": timed.percentile_ms(50),
        "p99_ms": timed.percentile_ms(99),
        "server_cpu_ms": server_cpu / case.requests * 1000,
        "client_cpu_ms": client_cpu / case.requests * 1000,
    }


def api_incidents(server: Server, runbook_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{server.url}/api/v1/incidents",
        params={"runbookId": runbook_id, "limit": 500},
        headers={"Authorization": f"Bearer {VIEWER_TOKEN}"},
        timeout=30,
    )
    answer.raise_for_status()
    return list(answer.json()["incidents"])


def database_counts(database: Path, runbook_id: str) -> tuple[int, int, int]:
    """Incidents, their joins and the `joined` timeline events, straight from SQLite."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
        incidents, joins = connection.execute(
            "SELECT count(*), coalesce(sum(joins), 0) FROM handrail_incidents WHERE runbook_id = ?", (runbook_id,)
        ).fetchone()
        events = connection.execute(
            "SELECT count(*) FROM handrail_timeline t JOIN handrail_incidents i ON t.incident_id = i.id "
            "WHERE i.runbook_id = ? AND t.kind = 'joined'",
            (runbook_id,),
        ).fetchone()[0]
    return incidents, joins, events


async def storm(server: Server, database: Path) -> dict[str, Any]:
    order = [i % STORM_FINGERPRINTS for i in range(STORM_ALERTS)]
    random.Random(42).shuffle(order)  # noqa: S311 (a repeatable order, not a secret)
    bodies = [encode(payload("BenchStormErrors", i)) for i in order]
    posted = await drive(server.url, bodies, concurrency=STORM_CONCURRENCY)
    listed = api_incidents(server, "bench-storm")
    incidents, joins, events = database_counts(database, "bench-storm")
    states = Counter(i["state"] for i in listed)
    # How far the engine is behind: every incident's assessment should end awaiting approval.
    waited = time.perf_counter()
    settled = api_incidents(server, "bench-storm")
    while any(i["state"] != "awaiting_approval" for i in settled) and time.perf_counter() - waited < SETTLE_SECONDS:
        await asyncio.sleep(0.5)
        settled = api_incidents(server, "bench-storm")
    return {
        "wall": posted.wall,
        "rate": STORM_ALERTS / posted.wall,
        "p50_ms": posted.percentile_ms(50),
        "p99_ms": posted.percentile_ms(99),
        "failures": posted.failures,
        "api_incidents": len(listed),
        "api_joins": sum(i["joins"] for i in listed),
        "api_open": sum(1 for i in listed if i["open"]),
        "api_states": ", ".join(f"{n} {state}" for state, n in sorted(states.items())),
        "settle_seconds": time.perf_counter() - waited,
        "settled_states": Counter(i["state"] for i in settled),
        "db_incidents": incidents,
        "db_joins": joins,
        "db_joined_events": events,
    }


def filesystem_of(path: Path) -> str:
    """The file system SQLite writes to (its fsync on commit is part of every write)."""
    found, mount = "unknown", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, point, kind = line.split()[:3]
        if str(path).startswith(point) and len(point) > len(mount):
            found, mount = kind, point
    return found


def checks(counts: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(what, counted, expected) for everything the storm must get exactly right."""
    joins = STORM_ALERTS - STORM_FINGERPRINTS
    return [
        ("failed posts (not 200)", len(counts["failures"]), 0),
        (
            "incidents via `GET /api/v1/incidents?runbookId=bench-storm&limit=500`",
            counts["api_incidents"],
            STORM_FINGERPRINTS,
        ),
        ("of them open", counts["api_open"], STORM_FINGERPRINTS),
        ("joins, summed over the API's incidents", counts["api_joins"], joins),
        ("incidents in the database", counts["db_incidents"], STORM_FINGERPRINTS),
        ("joins in the database", counts["db_joins"], joins),
        ("`joined` timeline events in the database", counts["db_joined_events"], joins),
    ]


def report(
    rates: dict[Case, dict[str, float]], counts: dict[str, Any], *, filesystem: str, load: float, elapsed: float
) -> None:
    bare = next(r for c, r in rates.items() if c.server == "bare")
    print(f"Machine: {machine()}; SQLite in a temp dir on {filesystem}; load average at the start {load:.2f}\n")
    print(
        f"Throughput: single-alert Alertmanager v4 webhooks, {WARMUP} warm-up posts, then the timed ones; "
        f"fingerprints cycle over {FINGERPRINTS}, so the warm-up opens the incidents and every timed post joins one.\n"
    )
    print("| target | clients | posts | webhooks/s | / bare | p50 | p99 | server CPU / post | client CPU / post |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for case, r in rates.items():
        print(
            f"| {case.label} | {case.concurrency} | {case.requests} | {r['rate']:.0f} "
            f"| {r['rate'] / bare['rate']:.2f} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms "
            f"| {r['server_cpu_ms']:.2f} ms | {r['client_cpu_ms']:.2f} ms |"
        )
    print(
        f"\nStorm: {STORM_ALERTS} single-alert webhooks over {STORM_FINGERPRINTS} fingerprints in a seeded shuffled "
        f"order from {STORM_CONCURRENCY} clients, into a fresh `handrail serve` with its engine; "
        f"{counts['wall']:.1f} s, {counts['rate']:.0f} webhooks/s, p50 / p99 {counts['p50_ms']:.1f} / "
        f"{counts['p99_ms']:.1f} ms. States at the last post: {counts['api_states']}.\n"
    )
    print("| count | value | expected |")
    print("| --- | --- | --- |")
    for name, value, expected in checks(counts):
        print(f"| {name} | {value} | {expected} |")
    settled = counts["settled_states"]
    if set(settled) == {"awaiting_approval"}:
        print(f"\nThe engine had assessed every incident {counts['settle_seconds']:.1f} s after the last post.")
    else:
        late = ", ".join(f"{n} {state}" for state, n in sorted(settled.items()))
        print(f"\nThe engine had not assessed every incident {SETTLE_SECONDS} s after the last post: {late}.")
    print(f"\nRun time: {elapsed:.0f} s")


@contextmanager
def workspace() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="handrail-bench-ingest-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def main() -> int:
    began, load = time.perf_counter(), os.getloadavg()[0]  # others' work on the machine skews every figure
    rates: dict[Case, dict[str, float]] = {}
    with workspace() as root:
        starts = {
            "bare": lambda: bare_server(root),
            "ingest": lambda: handrail_server(root / "ingest", "handrail serve --no-engine", engine=False),
            "engine": lambda: handrail_server(root / "engine", "handrail serve", engine=True),
        }
        for name, start in starts.items():
            with start() as server:
                for case in (c for c in CASES if c.server == name):
                    rates[case] = await throughput(server, case)
        with handrail_server(root / "storm", "handrail serve (storm)", engine=True) as server:
            counts = await storm(server, root / "storm" / "handrail.db")
        filesystem = filesystem_of(root)
    elapsed = time.perf_counter() - began
    report(rates, counts, filesystem=filesystem, load=load, elapsed=elapsed)
    wrong = [name for name, value, expected in checks(counts) if value != expected]
    if wrong:
        print(f"\nFAILED: wrong counts: {', '.join(wrong)}", file=sys.stderr)
        for failure in counts["failures"][:5]:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
