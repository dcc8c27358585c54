"""Benchmark scale-out on PostgreSQL: incidents completed per second with 1, 2 and 4 workers, and takeover time.

    .venv/bin/python bench/scale.py             # prints a Markdown report; exit 1 if an incident is lost
    .venv/bin/python bench/scale.py --rounds 1 --no-takeover   # one round of throughput only (~3 minutes)
    .venv/bin/python bench/scale.py --workers 1,2              # other worker counts (each needs its connections)

Every run gets a fresh database on the PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres; the
test machine's), dropped afterwards. Workers are `handrail worker` subprocesses, each with its own
settings file (its own `engine.executorId`), all on the same machine, so the curve shows how the
engine shares out work, not what more hardware would buy.

1. Throughput: WORKERS_COUNTS workers start and say they are ready; then this process triggers
   INCIDENTS incidents through `IncidentService.trigger` (the call behind the API and the CLI). The
   runbook is the drills' (tests/support/fleet.py): a shell diagnostic that finds this incident's
   thing broken, a run_script action that fixes it and appends to an effects file, a verification
   after VERIFY_AFTER s, so every incident resolves with one action. Figures: incidents per second
   over the whole run (first trigger to last close) and in the steady middle (the 10th to the 90th
   percentile of `closed_at`), the ratio to 1 worker in the same run, and CPU per incident from
   /proc: the workers (with the diagnostics and actions they ran), the PostgreSQL backends serving
   the run's database, and this process's triggering.
2. Takeover: two workers with `engine.takeoverAfterSeconds` = each of TAKEOVER_BOUNDS; TAKEOVER_INCIDENTS
   incidents whose action sleeps ACTION_SLEEP s, so they are in flight; once worker `a` runs some,
   it gets SIGKILL. Figures: from the kill to the first `takeover` timeline event (detection, claim,
   DBOS recovery), and to the moment every incident `a` was running is running on `b` again.
Exit status 1 when an incident never closes, or an action ran twice (the effects file says).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from machine import machine

from handrail.composition import open_service
from handrail.lint import lint_file
from handrail.settings import load_settings
from handrail.store import create_engine

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WORKERS_COUNTS = (1, 2, 4)
ROUNDS = 2
INCIDENTS = 300
VERIFY_AFTER = 0.2
TAKEOVER_BOUNDS = (3.0, 10.0)
TAKEOVER_RUNS = 2
TAKEOVER_INCIDENTS = 40
ACTION_SLEEP = 2.0
QUEUE = "handrail-incidents"

RUNBOOK = """\
id: bench-scale
name: Bench Scale
description: one thing per incident is broken; the action fixes it and counts itself
severity: P2
service: bench
triggers: [{{type: manual}}]
diagnostics:
  - id: state
    name: Thing State
    description: whether this incident's thing is fixed
    type: shell_command
    config: {{command: "test -e {fixed}/{{{{ labels.n }}}} && echo ok || echo broken"}}
    timeout: 60
    interpret: {{critical: "lines[0] == 'broken'", healthy: "lines[0] == 'ok'"}}
decisionTree:
  - condition: "diagnostics.state.status == 'critical'"
    then: [fix]
    description: broken — fix it
  - otherwise: true
    then: [page]
    description: anything else
remediations:
  - id: fix
    name: Fix It
    description: fixes this incident's thing, once
    type: automated
    requiresApproval: false
    action:
      type: run_script
      config:
        shell: "{script}"
        timeout: 120
    verify: {{after: {verify}s}}
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#bench"
  escalateAfterMinutes: 600
"""


@contextmanager
def fresh_database() -> Iterator[str]:
    name = f"handrail_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Worker:
    """`handrail worker` in its own process group; ready when it says so."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def argv(self) -> list[str]:
        """`handrail worker` with this worker's settings, on this interpreter."""
        return [sys.executable, "-m", "handrail", "worker", "--config", str(self.config)]

    def __enter__(self) -> Worker:
        # our own argv: this interpreter and `-m handrail`
        self.process = subprocess.Popen(  # noqa: S603
            self.argv(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()
        stderr = self.process.stderr
        assert stderr is not None

        def read() -> None:
            for line in stderr:
                self.output.append(line)
                if "handrail worker: ready" in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(90):
            self.kill()
            raise RuntimeError("worker did not start:\n" + "".join(self.output[-40:]))
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class Bench:
    """One database, a settings file per worker, the runbook and its effects file."""

    root: Path
    database_url: str
    takeover_after: float = 30.0
    worker_concurrency: int = 1000

    def __post_init__(self) -> None:
        (self.root / "runbooks").mkdir(exist_ok=True)
        (self.root / "fixed").mkdir(exist_ok=True)
        self.effects = self.root / "effects"

    def write_runbook(self, action_sleep: float) -> None:
        script = (
            f"echo start $HANDRAIL_IDEMPOTENCY_KEY >> {self.effects}; sleep {action_sleep};"
            f" touch {self.root / 'fixed'}/{{{{ labels.n }}}}"
        )
        path = self.root / "runbooks" / "bench-scale.yaml"
        path.write_text(RUNBOOK.format(fixed=self.root / "fixed", script=script, verify=VERIFY_AFTER))
        result = lint_file(path)
        assert result.runbook is not None, [str(p) for p in result.problems]

    def config(self, executor_id: str) -> Path:
        path = self.root / f"{executor_id}.yaml"
        path.write_text(
            f"runbooks: runbooks\ndatabase: '{self.database_url}'\n"
            f"engine:\n  minuteSeconds: 1\n  executorId: {executor_id}\n  takeoverAfterSeconds: {self.takeover_after}\n"
            f"  workerConcurrency: {self.worker_concurrency}\n"
            "safety:\n  cooldownMinutes: 0\n  rateLimit: {actions: 1000000, perMinutes: 1}\n"
            "notifiers:\n  log: true\n"
        )
        return path

    def trigger(self, count: int) -> list[str]:
        settings = load_settings(self.config("bench-trigger"), environ={})
        service = open_service(settings)
        runbook = lint_file(self.root / "runbooks" / "bench-scale.yaml").runbook
        assert runbook is not None

        async def triggered() -> list[str]:
            return [
                (await service.trigger(runbook, trigger_type="manual", triggered_by="bench", labels={"n": str(n)}))[
                    0
                ].id
                for n in range(count)
            ]

        try:
            return asyncio.run(triggered())
        finally:
            service.close()

    def query(self, statement: str, **params: Any) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(sa.text(statement), params))
        finally:
            engine.dispose()

    def wait_closed(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query("SELECT count(*) AS n FROM handrail_incidents WHERE is_open AND id = ANY(:ids)", ids=ids)
            if rows[0].n == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{rows[0].n} of {len(ids)} incidents never closed")
            time.sleep(0.2)

    def starts(self) -> Counter[str]:
        lines = self.effects.read_text().splitlines() if self.effects.exists() else []
        return Counter(line.split(" ", 1)[1] for line in lines if line.startswith("start "))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and of its children it has waited for (diagnostics, actions), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(bench: Bench) -> float:
    """CPU of the PostgreSQL backends serving this run's database (those connected at the end)."""
    name = bench.database_url.rsplit("/", 1)[1]
    rows = bench.query("SELECT pid FROM pg_stat_activity WHERE datname = :name", name=name)
    return sum(cpu_seconds(row.pid) for row in rows)


def throughput(workers: int) -> dict[str, Any]:
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="handrail-bench-") as tmp:
        bench = Bench(Path(tmp), url)
        bench.write_runbook(action_sleep=0)
        with ExitStack() as stack:
            running = [stack.enter_context(Worker(bench.config(f"w{n}"))) for n in range(workers)]
            load = os.getloadavg()[0]
            pids = [w.process.pid for w in running if w.process is not None]
            worker_cpu = sum(cpu_seconds(pid) for pid in pids)
            backend_cpu = backend_cpu_seconds(bench)
            own_cpu = time.process_time()
            started = datetime.now(UTC)
            ids = bench.trigger(INCIDENTS)
            bench.wait_closed(ids, timeout=600)
            worker_cpu = sum(cpu_seconds(pid) for pid in pids) - worker_cpu
            backend_cpu = backend_cpu_seconds(bench) - backend_cpu
            own_cpu = time.process_time() - own_cpu
        closed = sorted(
            row.closed_at for row in bench.query("SELECT closed_at FROM handrail_incidents WHERE id = ANY(:i)", i=ids)
        )
        states = Counter(row.state for row in bench.query("SELECT state FROM handrail_incidents"))
        ran_on = Counter(
            row.executor_id
            for row in bench.query("SELECT executor_id FROM dbos.workflow_status WHERE queue_name = :q", q=QUEUE)
        )
        starts = bench.starts()
    low, high = closed[len(closed) // 10], closed[len(closed) * 9 // 10]
    whole = (closed[-1] - started).total_seconds()
    return {
        "workers": workers,
        "wall": whole,
        "rate": INCIDENTS / whole,
        "steady": (len(closed) * 8 // 10) / (high - low).total_seconds(),
        "load": load,
        "worker_ms": worker_cpu / INCIDENTS * 1000,
        "backend_ms": backend_cpu / INCIDENTS * 1000,
        "trigger_ms": own_cpu / INCIDENTS * 1000,
        "states": dict(states),
        "spread": "/".join(str(ran_on[f"w{n}"]) for n in range(workers)),
        "twice": sum(1 for n in starts.values() if n > 1),
        "actions": len(starts),
    }


def takeover(bound: float) -> dict[str, Any]:
    with fresh_database() as url, tempfile.TemporaryDirectory(prefix="handrail-bench-") as tmp:
        # each worker takes at most half, so the one that is killed always has incidents in flight
        bench = Bench(Path(tmp), url, takeover_after=bound, worker_concurrency=TAKEOVER_INCIDENTS // 2)
        bench.write_runbook(action_sleep=ACTION_SLEEP)
        with Worker(bench.config("a")) as a, Worker(bench.config("b")):
            ids = bench.trigger(TAKEOVER_INCIDENTS)
            deadline = time.monotonic() + 60
            while True:
                running = bench.query(
                    "SELECT workflow_uuid FROM dbos.workflow_status"
                    " WHERE queue_name = :q AND status = 'PENDING' AND executor_id = 'a'",
                    q=QUEUE,
                )
                if len(running) >= 5 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            on_a = [row.workflow_uuid for row in running]
            a.kill()
            killed = time.time()
            first_event = resumed = None
            while on_a and (resumed is None or first_event is None) and time.time() - killed < 10 * bound + 60:
                if first_event is None:
                    rows = bench.query("SELECT min(at) AS at FROM handrail_timeline WHERE kind = 'takeover'")
                    if rows[0].at is not None:
                        first_event = rows[0].at.timestamp() - killed
                left = bench.query(
                    "SELECT count(*) AS n FROM dbos.workflow_status WHERE workflow_uuid = ANY(:ids)"
                    " AND executor_id = 'a' AND status IN ('PENDING', 'ENQUEUED')",
                    ids=on_a,
                )
                if resumed is None and left[0].n == 0:
                    resumed = time.time() - killed
                time.sleep(0.05)
            bench.wait_closed(ids, timeout=300)
        starts = bench.starts()
    return {
        "bound": bound,
        "running": len(on_a),
        "first_event": first_event,
        "resumed": resumed,
        "twice": sum(1 for n in starts.values() if n > 1),
    }


def machine_with_postgres() -> str:
    engine = create_engine(ADMIN_URL)
    with engine.connect() as connection:
        version = connection.execute(sa.text("SHOW server_version")).scalar_one()
    engine.dispose()
    return f"{machine()}, PostgreSQL {version}; load average {os.getloadavg()[0]:.2f} at the start"


def main() -> int:
    # a stopped bench stops its workers too (they run in sessions of their own)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(f"Machine: {machine_with_postgres()} — measured {datetime.now(UTC):%Y-%m-%d}.\n")
    failed = False
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS
    takeover_bounds = () if "--no-takeover" in sys.argv else TAKEOVER_BOUNDS
    counts = WORKERS_COUNTS
    if "--workers" in sys.argv:
        counts = tuple(int(n) for n in sys.argv[sys.argv.index("--workers") + 1].split(","))
    print(f"Throughput: {INCIDENTS} incidents, each one diagnosis, one action and one verification.\n")
    print(
        "| round | workers | wall | incidents/s | / 1 worker | steady incidents/s | / 1 worker"
        " | CPU / incident: workers · PostgreSQL · trigger | incidents per CPU-second | incidents per worker"
        " | load at start |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for round_ in range(1, rounds + 1):
        rows = [throughput(n) for n in counts]
        base = rows[0]
        for row in rows:
            failed |= row["states"] != {"resolved": INCIDENTS} or row["twice"] > 0 or row["actions"] != INCIDENTS
            per_cpu = 1000 / (row["worker_ms"] + row["backend_ms"])
            print(
                f"| {round_} | {row['workers']} | {row['wall']:.1f} s | {row['rate']:.1f}"
                f" | {row['rate'] / base['rate']:.2f} | {row['steady']:.1f} | {row['steady'] / base['steady']:.2f}"
                f" | {row['worker_ms']:.0f} · {row['backend_ms']:.0f} · {row['trigger_ms']:.0f} ms | {per_cpu:.1f}"
                f" | {row['spread']} | {row['load']:.1f} |",
                flush=True,
            )
    if not takeover_bounds:
        return 1 if failed else 0
    print("\nTakeover: two workers, worker `a` SIGKILLed while it runs incidents.\n")
    print("| takeoverAfterSeconds | incidents on `a` | kill → first takeover event | kill → all running on `b` |")
    print("| --- | --- | --- | --- |")
    for bound in takeover_bounds:
        runs = [takeover(bound) for _ in range(TAKEOVER_RUNS)]
        for run in runs:
            failed |= run["twice"] > 0 or run["resumed"] is None or run["first_event"] is None
        events = [f"{r['first_event']:.1f} s" if r["first_event"] is not None else "none" for r in runs]
        resumed = [f"{r['resumed']:.1f} s" if r["resumed"] is not None else "never" for r in runs]
        print(
            f"| {bound:g} s | {', '.join(str(r['running']) for r in runs)} | {', '.join(events)}"
            f" | {', '.join(resumed)} |",
            flush=True,
        )
    if failed:
        print("\nFAILED: an incident did not resolve, an action ran twice, or a takeover never came (see above)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
