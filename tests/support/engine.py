"""A real engine for tests: settings on a throwaway database, a worker process to start and kill.

world = EngineWorld.create(tmp_path, database_url, runbooks={"name": yaml_text})
with world.worker() as worker:      # `handrail worker` as a subprocess
    incident = asyncio.run(world.service.trigger(world.runbook("name"), trigger_type="manual", triggered_by="t"))
    world.wait(incident.id, lambda r: r.state.value == "resolved")
    worker.kill()                   # SIGKILL, as a crash would
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from handrail.composition import open_service
from handrail.engine.service import IncidentService
from handrail.lint import lint_file
from handrail.runbook.model import Runbook
from handrail.settings import Settings, load_settings
from handrail.store import IncidentRecord, TimelineRecord

__all__ = ["EngineWorld", "WorkerProcess", "postgres_database", "runbook"]

ROOT = Path(__file__).parents[2]

# A runbook whose diagnostic reads a state file and whose action fixes it, appending one line per run
# to an effects file: the side-effect counter that proves every action ran exactly once.
RUNBOOK = """\
id: {id}
name: {name}
description: test runbook
severity: P2
service: test-service
triggers: [{{type: manual}}]
diagnostics:
  - id: state
    name: Service State
    description: reads the state file
    type: shell_command
    config: {{command: "{diag}"}}
    timeout: 20
    interpret: {{critical: "lines[0] == 'broken'", healthy: "lines[0] == 'ok'"}}
decisionTree:
  - condition: "diagnostics.state.status == 'critical'"
    then: [{remediation}]
    description: broken — fix it
  - otherwise: true
    then: [page]
    description: anything else
remediations:
  - id: fix
    name: Fix It
    description: writes ok into the state file
    type: automated
    requiresApproval: {approval}
    action:
{action}
    verify: {{after: 0.3s}}
  - id: by_hand
    name: Fix By Hand
    description: a person fixes it
    type: manual
    instructions: "echo ok > state"
    verify: {{after: 0.3s}}
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#test"
  secondary: "#test-escalation"
  escalateAfterMinutes: {escalate_after}
"""


def runbook(
    runbook_id: str,
    root: Path,
    *,
    approval: bool = False,
    remediation: str = "fix",
    diag_delay: float = 0,
    action_delay: float = 0,
    escalate_after: float = 30,
    action_block: str | None = None,
) -> str:
    state, effects = root / f"{runbook_id}.state", root / f"{runbook_id}.effects"
    diag = f"sleep {diag_delay}; cat {state}" if diag_delay else f"cat {state}"
    action = (
        f"echo start $HANDRAIL_IDEMPOTENCY_KEY >> {effects}; sleep {action_delay}; "
        f"echo end >> {effects}; echo ok > {state}"
    )
    return RUNBOOK.format(
        id=runbook_id,
        name=runbook_id.replace("-", " ").title(),
        diag=diag,
        action=action_block or f'      type: run_script\n      config:\n        command: [/bin/sh, -c, "{action}"]',
        approval="true" if approval else "false",
        remediation=remediation,
        escalate_after=escalate_after,
    )


@contextmanager
def postgres_database(prefix: str = "handrail_test") -> Iterator[str]:
    """A fresh PostgreSQL database for one test module, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class WorkerProcess:
    """`handrail worker` in its own process group, with its output kept for failure messages."""

    def __init__(self, config: Path, *, env: Mapping[str, str] | None = None) -> None:
        self._config = config
        self._env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, *, timeout: float = 30) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handrail", "worker", "--config", str(self._config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=self._env,
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
        deadline = time.monotonic() + timeout
        while not ready.wait(0.1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("worker did not start:\n" + "".join(self.output))
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group, as a machine failure would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return "".join(self.output[-60:])

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class EngineWorld:
    """A settings file, a catalog of test runbooks and a service on one throwaway database."""

    root: Path
    config: Path
    settings: Settings
    service: IncidentService
    runbooks: dict[str, Runbook] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        root: Path,
        database_url: str,
        *,
        runbooks: Mapping[str, str],
        minute_seconds: float = 0.2,
        extra_settings: str = "",
    ) -> EngineWorld:
        (root / "runbooks").mkdir(exist_ok=True)
        loaded = {}
        for name, text in runbooks.items():
            path = root / "runbooks" / f"{name}.yaml"
            path.write_text(text)
            result = lint_file(path)
            assert result.runbook is not None, [str(p) for p in result.problems]
            loaded[result.runbook.id] = result.runbook
        config = root / "handrail.yaml"
        config.write_text(
            f"runbooks: runbooks\ndatabase: '{database_url}'\n"
            f"engine:\n  minuteSeconds: {minute_seconds}\nnotifiers:\n  log: true\n{extra_settings}"
        )
        settings = load_settings(config, environ={})
        return cls(root, config, settings, open_service(settings), loaded)

    def runbook(self, runbook_id: str) -> Runbook:
        return self.runbooks[runbook_id]

    def worker(self) -> WorkerProcess:
        return WorkerProcess(self.config)

    def trigger(self, runbook_id: str, **labels: str) -> IncidentRecord:
        record, _ = asyncio.run(
            self.service.trigger(self.runbook(runbook_id), trigger_type="manual", triggered_by="test", labels=labels)
        )
        return record

    def wait(
        self, incident_id: str, condition: Callable[[IncidentRecord], bool], *, timeout: float = 30, what: str = ""
    ) -> IncidentRecord:
        deadline = time.monotonic() + timeout
        record = asyncio.run(self.service.get(incident_id))
        while not condition(record):
            if time.monotonic() > deadline:
                events = "\n".join(f"  {e.kind}: {e.message}" for e in self.events(incident_id))
                raise AssertionError(f"timed out waiting for {what or 'condition'}; state {record.state}\n{events}")
            time.sleep(0.1)
            record = asyncio.run(self.service.get(incident_id))
        return record

    def wait_state(self, incident_id: str, state: str, *, timeout: float = 30) -> IncidentRecord:
        return self.wait(incident_id, lambda r: r.state.value == state, timeout=timeout, what=f"state {state}")

    def events(self, incident_id: str, kind: str | None = None) -> list[TimelineRecord]:
        return [e for e in self.service.store.timeline(incident_id) if kind is None or e.kind == kind]
