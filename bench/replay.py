"""Benchmark `handrail replay` over 1,000 incidents recorded by the engine itself.

    .venv/bin/python bench/replay.py [INCIDENTS]   # a Markdown report

Recording is honest and slow: one `handrail worker` (SQLite) carries every incident. The runbook
(below) is shaped like the starter database-connection-exhaustion one: three shell_command
diagnostics whose output is the incident's labels (`echo {{ labels.usage }}`: real subprocesses, the
values travel in environment variables), a derive, three decisions and `otherwise`, remediations that
wait for approval or escalate, so no action runs. Labels are drawn at random (seeded), so the
incidents fire every decision. Once every incident has its assessment the worker stops, and a
changed runbook (other thresholds, one approval dropped) is replayed over them:

1. `handrail replay CHANGED --config ...` as a subprocess: wall time, start-up included (reading
   the incidents through `IncidentService` and the replay).
2. The same through an export: `handrail incidents export` and `handrail replay --history FILE`.
3. In process: `scenarios.replay.replay` alone over the incidents already read: wall time and per incident.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine
from scale import Worker

from handrail.composition import open_service
from handrail.engine.service import history_line
from handrail.lint import lint_file
from handrail.scenarios.history import past_incident
from handrail.scenarios.replay import replay
from handrail.settings import load_settings

INCIDENTS = 1000
SEED = 15
TIMEOUT = 900.0

RUNBOOK = """\
id: pool-exhaustion
name: Pool Exhaustion
description: connections fill up (bench/replay.py)
severity: P2
service: db
triggers: [{type: manual}]
diagnostics:
  - id: usage
    name: Connection usage
    description: percent of max_connections in use
    type: shell_command
    config: {command: "echo {{ labels.usage }}"}
    derive: {pct: "json"}
    interpret: {critical: "pct > USAGE_CRITICAL", warning: "pct > 75", healthy: "pct <= 75"}
  - id: idle_tx
    name: Idle in transaction
    description: sessions idle in a transaction
    type: shell_command
    config: {command: "echo {{ labels.idle_tx }}"}
    interpret: {critical: "json > 10", healthy: "json <= 10"}
  - id: idle
    name: Idle sessions
    description: long-idle sessions
    type: shell_command
    config: {command: "echo {{ labels.idle }}"}
    interpret: {warning: "json > 20", healthy: "json <= 20"}
decisionTree:
  - condition: "diagnostics.usage.status == 'critical' && diagnostics.idle_tx.status == 'critical'"
    then: [terminate_idle_in_transaction]
    description: stuck transactions hold the connections
  - condition: "diagnostics.usage.status == 'critical' && diagnostics.idle.status == 'warning'"
    then: [kill_idle_connections]
    description: idle sessions hold the connections
  - condition: "diagnostics.usage.status == 'warning'"
    then: [look]
    description: filling up; a person looks
  - otherwise: true
    then: [escalate_dba]
    description: unclear
remediations:
  - id: terminate_idle_in_transaction
    name: Terminate idle-in-transaction sessions
    description: pg_terminate_backend on them
    type: automated
    requiresApproval: true
    action: {type: run_script, config: {command: [/bin/true]}}
  - id: kill_idle_connections
    name: Kill idle connections
    description: pg_terminate_backend on long-idle sessions
    type: automated
    requiresApproval: KILL_APPROVAL
    action: {type: run_script, config: {command: [/bin/true]}}
  - id: look
    name: Look
    description: a person looks at the dashboard
    type: manual
    instructions: Read the connections dashboard.
  - id: escalate_dba
    name: Page the DBA
    description: page the database on-call
    type: escalate
escalation:
  primary: "#db"
  escalateAfterMinutes: 600
"""


def runbook_text(*, usage_critical: int, kill_approval: bool) -> str:
    return RUNBOOK.replace("USAGE_CRITICAL", str(usage_critical)).replace(
        "KILL_APPROVAL", "true" if kill_approval else "false"
    )


def record(root: Path, count: int) -> tuple[Path, float]:
    """`count` incidents through the engine; the settings file and the seconds it took."""
    (root / "runbooks").mkdir()
    (root / "runbooks" / "pool.yaml").write_text(runbook_text(usage_critical=90, kill_approval=True))
    config = root / "handrail.yaml"
    config.write_text(
        f"runbooks: runbooks\ndatabase: 'sqlite:///{root / 'h.db'}'\n"
        f"engine:\n  workerConcurrency: {count * 2}\n  queuePollSeconds: 0.05\nnotifiers:\n  log: false\n"
    )
    settings = load_settings(config, environ={})
    linted = lint_file(root / "runbooks" / "pool.yaml")
    assert linted.runbook is not None, [str(p) for p in linted.problems]
    runbook = linted.runbook
    service = open_service(settings)
    draw = random.Random(SEED)  # noqa: S311 - labels for a benchmark, not secrets
    started = time.perf_counter()

    async def trigger_all() -> None:
        for number in range(count):
            labels = {
                "usage": str(draw.randint(40, 100)),
                "idle_tx": str(draw.randint(0, 30)),
                "idle": str(draw.randint(0, 60)),
                "n": str(number),
            }
            await service.trigger(runbook, trigger_type="manual", triggered_by="bench", labels=labels)

    with Worker(config):
        asyncio.run(trigger_all())
        deadline = time.monotonic() + TIMEOUT
        while True:
            assessed = sum(1 for r in service.store.find(limit=count * 2) if r.assessment is not None)
            if assessed >= count:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"only {assessed} of {count} incidents were assessed in {TIMEOUT:g} s")
            time.sleep(1.0)
    service.close()
    return config, time.perf_counter() - started


def handrail(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and `-m handrail`
        [sys.executable, "-m", "handrail", *args], capture_output=True, text=True, check=False, timeout=TIMEOUT
    )
    return time.perf_counter() - started, done


def in_process(config: Path, changed: Path, count: int) -> float:
    """Seconds `replay` alone takes over the incidents, already read and parsed."""
    service = open_service(load_settings(config, environ={}))
    runbook = lint_file(changed).runbook
    assert runbook is not None
    records = service.store.find(runbook_id=runbook.id, limit=count)
    history = [past_incident(history_line(r), where=r.id) for r in records]
    service.close()
    started = time.perf_counter()
    report = asyncio.run(replay(runbook, history))
    elapsed = time.perf_counter() - started
    assert len(report.replays) == count, report.summary()
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else INCIDENTS
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config, recording = record(root, count)
        changed = root / "changed.yaml"
        changed.write_text(runbook_text(usage_critical=85, kill_approval=False))
        wall, result = handrail("replay", str(changed), "--config", str(config), "--since", "1d", "--format", "json")
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        summary = json.loads(result.stdout)["summary"]
        history = root / "history.jsonl"
        export_wall, exported = handrail("incidents", "export", "--config", str(config), "-o", str(history))
        if exported.returncode != 0:
            raise SystemExit(exported.stderr)
        file_wall, from_file = handrail("replay", str(changed), "--history", str(history), "--since", "1d")
        if from_file.returncode != 0:
            raise SystemExit(from_file.stderr)
        assert from_file.stdout.splitlines()[-1] == summary, (from_file.stdout.splitlines()[-1], summary)
        handrail("--version")  # warm the file cache first
        startup, _ = handrail("--version")
        alone = in_process(config, changed, count)
        size = history.stat().st_size
    print(f"# handrail replay over {count} incidents recorded by the engine\n")
    print(f"Machine: {machine()}\n")
    print(f"Recording ({count} incidents through one worker, SQLite): {recording:.1f} s\n")
    print(f"Summary: {summary}\n")
    print("| what | wall time | per incident |")
    print("| --- | --- | --- |")
    print(
        f"| `handrail replay --config` (subprocess, start-up included) | {wall:.2f} s | {wall / count * 1000:.2f} ms |"
    )
    print(
        f"| `handrail incidents export` ({size / 1024 / 1024:.1f} MiB of JSON lines) | {export_wall:.2f} s | "
        f"{export_wall / count * 1000:.2f} ms |"
    )
    print(f"| `handrail replay --history` (subprocess) | {file_wall:.2f} s | {file_wall / count * 1000:.2f} ms |")
    print(f"| `replay()` alone, in process | {alone:.3f} s | {alone / count * 1000:.3f} ms |")
    print(f"| `handrail --version` (start-up alone, for scale) | {startup:.2f} s | |")


if __name__ == "__main__":
    main()
