"""Benchmark what one incident costs the engine against the work it does, on SQLite and on PostgreSQL.

    .venv/bin/python bench/engine.py [INCIDENTS [sqlite|postgresql]]  # a Markdown report; exit 1 if one is lost
    HANDRAIL_PROFILE=/tmp/worker.prof .venv/bin/python bench/engine.py 200 sqlite  # the worker under cProfile

The runbook is bench/scale.py's: a shell diagnostic that finds this incident's thing broken, a
run_script action that fixes it, a verification 10 ms after (the diagnostic again), so every
incident resolves with one action: three subprocesses and a dozen row writes of real work.

1. CPU per incident: one `handrail worker` subprocess (log notifier; fresh SQLite file or fresh
   PostgreSQL database); this process triggers INCIDENTS incidents through `IncidentService.trigger`
   and waits until every one is closed. Figure: the worker's CPU (user + system, its subprocesses
   included, from /proc) over the run, divided by INCIDENTS, less what the worker burns idle over the
   same wall time (measured just before). Baseline, same run, same database kind: one asyncio process
   doing the same work bare: the same three subprocesses through `handrail.process.run_process` and
   the same store writes (open, transitions, assessment, timeline events, action intent, claim,
   finish), its own CPU (children included) divided by INCIDENTS.
2. Recorded → first action: on the idle worker, LATENCY_RUNS incidents one after another (each one
   closed and the worker idle LATENCY_PAUSE s before the next); figure: the median of the action
   run's `started_at` less the incident's `created_at`. Baseline: the same span in the bare run (the
   diagnostic and the writes before the claim). Measured twice: (a) `handrail serve` (the API and
   the engine in one process, as `make run` deploys it), incidents opened by `POST
   /api/v1/incidents`: the engine takes each at once, no queue; (b) the `handrail worker` of part 1,
   incidents opened from this process: they reach the worker through the queue, on its next poll.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from ingest import Server, free_port
from machine import machine
from scale import RUNBOOK, Worker, cpu_seconds, fresh_database

from handrail.api.auth import digest
from handrail.composition import open_service
from handrail.engine.service import IncidentService
from handrail.lint import lint_file
from handrail.process import run_process
from handrail.runbook.model import Runbook
from handrail.settings import load_settings
from handrail.store import ActionStatus, IncidentState, NewIncident, SqlIncidentStore, create_engine

INCIDENTS = 200
LATENCY_RUNS = 20
LATENCY_PAUSE = 1.0
IDLE_SECONDS = 5.0
TIMEOUT = 300.0
RESPONDER_TOKEN = "bench-engine-responder-token-0123456789"  # noqa: S105 - a throwaway server's


class Bench:
    """A runbook folder, a settings file and a service on one database."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        self.database_url = database_url
        (root / "runbooks").mkdir()
        (root / "fixed").mkdir()
        path = root / "runbooks" / "bench-scale.yaml"
        script = f"touch {root / 'fixed'}/{{{{ labels.n }}}}"
        path.write_text(RUNBOOK.format(fixed=root / "fixed", script=script, verify=0.01))
        loaded = lint_file(path).runbook
        assert loaded is not None
        self.runbook: Runbook = loaded
        self.config = root / "handrail.yaml"
        profile = os.environ.get("HANDRAIL_PROFILE")
        self.config.write_text(
            f"runbooks: runbooks\ndatabase: '{database_url}'\n"
            "engine:\n  minuteSeconds: 1\n"
            "safety:\n  cooldownMinutes: 0\n  rateLimit: {actions: 1000000, perMinutes: 1}\n"
            "notifiers:\n  log: true\n"
            f"api:\n  tokens:\n    - {{name: bench, role: responder, sha256: {digest(RESPONDER_TOKEN)}}}\n"
        )
        self.service: IncidentService = open_service(load_settings(self.config, environ={}))
        self.profile = profile
        self.number = 0

    def trigger(self) -> str:
        self.number += 1
        result: Any = self.service.trigger(
            self.runbook, trigger_type="manual", triggered_by="bench", labels={"n": str(self.number)}
        )
        if inspect.isawaitable(result):  # the service may be async (#14's one door)
            result = asyncio.run(_awaited(result))
        record, _ = result
        return str(record.id)

    def store(self) -> SqlIncidentStore:
        return self.service.store

    def wait_closed(self, ids: list[str]) -> None:
        deadline = time.monotonic() + TIMEOUT
        pending = list(ids)
        while pending:
            pending = [i for i in pending if (r := self.store().get(i)) is None or r.is_open]
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} of {len(ids)} incidents never closed")
            time.sleep(0.05)

    def first_action_delay(self, incident_id: str) -> float:
        record = self.store().get(incident_id)
        runs = self.store().action_runs(incident_id)
        assert record is not None, incident_id
        assert runs, incident_id
        assert runs[0].started_at is not None, incident_id
        return (runs[0].started_at - record.created_at).total_seconds()

    def worker(self) -> Worker:
        if self.profile:
            return ProfiledWorker(self.config, self.profile)
        return Worker(self.config)


class ProfiledWorker(Worker):
    """The worker under cProfile; the profile is written when it stops (SIGTERM)."""

    def __init__(self, config: Path, output: str) -> None:
        super().__init__(config)
        self.profile_output = output

    def argv(self) -> list[str]:
        script = (
            "import cProfile, sys; from handrail.cli import main; sys.argv = ['handrail', 'worker', '--config',"
            f" {str(self.config)!r}]; cProfile.run('main()', {self.profile_output!r})"
        )
        return [sys.executable, "-c", script]


async def _awaited(value: Any) -> Any:
    return await value


def serve_latencies(bench: Bench) -> list[float]:
    """Recorded → first action with `handrail serve`: incidents opened through its API start on its engine."""
    port = free_port()
    argv = [sys.executable, "-m", "handrail", "serve", "--port", str(port), "--config", str(bench.config)]
    latencies = []
    with Server("handrail serve", argv, port=port, log=bench.root / "serve.log", ready="/readyz") as server:
        time.sleep(1.0)  # settle after start (recovery, schedules)
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {RESPONDER_TOKEN}"}) as client:
            for _ in range(LATENCY_RUNS):
                bench.number += 1
                body = {"runbookId": bench.runbook.id, "context": {"labels": {"n": str(bench.number)}}}
                answer = client.post("/api/v1/incidents", json=body)
                answer.raise_for_status()
                incident_id = answer.json()["incident"]["id"]
                bench.wait_closed([incident_id])
                latencies.append(bench.first_action_delay(incident_id))
                time.sleep(LATENCY_PAUSE)
    return latencies


def engine_run(bench: Bench, count: int) -> dict[str, Any]:
    served = serve_latencies(bench)
    with bench.worker() as worker:
        assert worker.process is not None
        pid = worker.process.pid
        time.sleep(1.0)  # settle after start (recovery, schedules)
        before, started = cpu_seconds(pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle_rate = (cpu_seconds(pid) - before) / (time.monotonic() - started)
        latencies = []
        for _ in range(LATENCY_RUNS):
            incident_id = bench.trigger()
            bench.wait_closed([incident_id])
            latencies.append(bench.first_action_delay(incident_id))
            time.sleep(LATENCY_PAUSE)
        before, started = cpu_seconds(pid), time.monotonic()
        ids = [bench.trigger() for _ in range(count)]
        bench.wait_closed(ids)
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pid) - before
        states = [bench.store().get(i) for i in ids]
        runs = [run for i in ids for run in bench.store().action_runs(i)]
    resolved = sum(1 for r in states if r is not None and r.state is IncidentState.RESOLVED)
    return {
        "cpu": (cpu - idle_rate * elapsed) / count,
        "cpu_gross": cpu / count,
        "idle": idle_rate,
        "rate": count / elapsed,
        "latency": statistics.median(served),
        "latency_max": max(served),
        "latency_queued": statistics.median(latencies),
        "latency_queued_max": max(latencies),
        "resolved": resolved,
        "runs": len(runs),
        "succeeded": sum(1 for r in runs if r.status is ActionStatus.SUCCEEDED),
    }


async def bare_incident(store: SqlIncidentStore, runbook: dict[str, Any], root: Path, n: int) -> float:
    """The same work as one incident, from one asyncio process: three subprocesses and the row writes."""
    incident_id = f"BARE-{uuid.uuid4().hex[:12]}"
    thing = root / "fixed" / f"bare-{n}"
    check = ["/bin/sh", "-c", f"test -e {thing} && echo ok || echo broken"]
    new = NewIncident(incident_id, runbook, f"bare|{n}", "manual", "bench", {"n": str(n)}, {}, False)
    record, _ = store.open_or_join(new)
    store.transition(incident_id, IncidentState.DIAGNOSING, "collecting evidence")
    result = await run_process(check, timeout=60)
    data = {"name": "state", "status": "critical", "output": result.stdout.text}
    store.set_assessment(incident_id, {"results": [data]}, ["fix"], "critical")
    store.record(incident_id, "diagnostic", "state: critical", data=data)
    store.record(incident_id, "decision", "decision: broken — fix it", data={"then": ["fix"]})
    store.record(incident_id, "plan", "overall critical; plan: fix", data={"plan": ["fix"]})
    store.transition(incident_id, IncidentState.REMEDIATING, "running fix")
    key = f"{incident_id}:fix:1"
    store.record_intent(
        key, incident_id=incident_id, remediation_id="fix", attempt=1, action_type="run_script", description="touch"
    )
    assert store.claim_with_rails(key, service="bench", cooldown=0, rate_window=60, rate_limit=1_000_000) is None
    started = datetime.now(UTC)
    store.record(incident_id, "action", "fix: running", data={"key": key})
    await run_process(["/bin/sh", "-c", f"touch {thing}"], timeout=60)
    store.finish_action(key, ActionStatus.SUCCEEDED, "exit 0")
    store.record(incident_id, "action", "fix: succeeded", data={"key": key})
    store.transition(incident_id, IncidentState.VERIFYING, "verifying")
    await run_process(check, timeout=60)
    store.record(incident_id, "verification", "verification: healthy", data={"healthy": True})
    store.transition(incident_id, IncidentState.RESOLVED, "verified healthy after remediation")
    return (started - record.created_at).total_seconds()


def bare_run(bench: Bench, count: int) -> dict[str, Any]:
    store = SqlIncidentStore(create_engine(bench.database_url))
    runbook = bench.runbook.model_dump(mode="json", by_alias=True, exclude_none=True)

    async def run() -> tuple[float, list[float]]:
        for n in range(3):  # warm up: imports, connections
            await bare_incident(store, runbook, bench.root, -n - 1)
        latencies = [await bare_incident(store, runbook, bench.root, 10_000 + n) for n in range(LATENCY_RUNS)]
        before = _own_cpu()
        for n in range(count):
            await bare_incident(store, runbook, bench.root, n)
        return _own_cpu() - before, latencies

    cpu, latencies = asyncio.run(run())
    store.engine.dispose()
    return {"cpu": cpu / count, "latency": statistics.median(latencies)}


def _own_cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def database(kind: str) -> Iterator[tuple[Path, str]]:
    with tempfile.TemporaryDirectory(prefix="handrail-bench-engine-") as tmp:
        if kind == "sqlite":
            yield Path(tmp), f"sqlite:///{tmp}/handrail.db"
        else:
            with fresh_database() as url:
                yield Path(tmp), url


def report(results: dict[str, tuple[dict[str, Any], dict[str, Any]]], count: int, load: float) -> str:
    lines = [
        f"Machine: {machine()}; load average before the run {load:.2f} (a shared machine: the ratios",
        "against a baseline measured in the same run are the figures that count).",
        "",
        f"{count} incidents per database (one shell diagnostic, one run_script action, verification);",
        f"recorded → first action: median of {LATENCY_RUNS} on an idle worker.",
        "",
        "| figure | SQLite | × bare | PostgreSQL | × bare |",
        "| --- | --- | --- | --- | --- |",
    ]

    def cells(key: str, scale: float, unit: str) -> str:
        out = []
        for kind in ("sqlite", "postgresql"):
            if kind not in results:
                out += ["–", "–"]
                continue
            engine, bare = results[kind]
            baseline = bare[key.removesuffix("_queued")]
            out += [
                f"{engine[key] * scale:.1f} {unit} (bare {baseline * scale:.1f})",
                f"{engine[key] / baseline:.1f}×",
            ]
        return " | ".join(out)

    lines.append(f"| worker CPU per incident (less idle) | {cells('cpu', 1000, 'ms')} |")
    lines.append(f"| recorded → first action started, `handrail serve` | {cells('latency', 1000, 'ms')} |")
    lines.append(f"| … the same, a separate `handrail worker` (queue) | {cells('latency_queued', 1000, 'ms')} |")
    for kind, (engine, _) in results.items():
        lines.append(
            f"\n{kind}: gross CPU per incident {engine['cpu_gross'] * 1000:.1f} ms, idle worker"
            f" {engine['idle'] * 1000:.1f} ms CPU per second, {engine['rate']:.1f} incidents/s,"
            f" slowest first action {engine['latency_max'] * 1000:.0f} ms with serve,"
            f" {engine['latency_queued_max'] * 1000:.0f} ms queued; {engine['resolved']} of {count}"
            f" resolved, {engine['succeeded']} of {engine['runs']} action runs succeeded"
        )
    return "\n".join(lines)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else INCIDENTS
    load = os.getloadavg()[0]
    results: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    kinds = sys.argv[2:] or ["sqlite", "postgresql"]
    for kind in kinds:
        with database(kind) as (root, url):
            bench = Bench(root, url)
            try:
                results[kind] = (engine_run(bench, count), bare_run(bench, count))
            finally:
                bench.store().engine.dispose()
    print(report(results, count, load))
    lost = [k for k, (engine, _) in results.items() if engine["resolved"] != count or engine["succeeded"] != count]
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
