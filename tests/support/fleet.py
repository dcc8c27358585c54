"""A fleet for scale-out drills: API processes and workers on one PostgreSQL database.

fleet = Fleet.create(tmp_path, database_url, takeover_after=3)
with fleet.api() as api, fleet.worker("a") as a, fleet.worker("b"):
    ids = fleet.trigger(api, range(200))         # 200 incidents through `POST /api/v1/incidents`
    a.kill()                                      # SIGKILL, as a machine failure would
    fleet.wait_closed(ids)

The runbook's diagnostic reads whether this incident's thing is fixed (a file named after the label
`n`); its action appends `start KEY` and `end KEY` (KEY: the action's idempotency key) to one effects
file and makes the fix. The effects file is the side-effect counter: an action that ran twice shows
two `start` lines, whatever the database says.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from handrail.api.auth import digest
from handrail.lint import lint_file
from handrail.store import create_engine
from support.alertmanager import ServeProcess
from support.engine import WorkerProcess

__all__ = ["ALERTMANAGER_TOKEN", "FLEET_TOKEN", "Effects", "Fleet"]

FLEET_TOKEN = "fleet-admin-token-0123456789abcdef"  # a throwaway token for throwaway servers
ALERTMANAGER_TOKEN = "fleet-alertmanager-token-0123456789"

RUNBOOK = """\
id: fleet
name: Fleet
description: one thing per incident is broken; the action fixes it and counts itself
severity: P2
service: fleet
triggers:
  - type: manual
  - type: alert
    alertName: FleetBroken
diagnostics:
  - id: state
    name: Thing State
    description: whether this incident's thing is fixed
    type: shell_command
    config: {{command: "test -e {fixed}/{{{{ labels.n }}}} && echo ok || echo broken"}}
    timeout: 30
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
        timeout: 60
    verify: {{after: {verify}s}}
  - id: page
    name: Page
    description: page someone
    type: escalate
escalation:
  primary: "#fleet"
  escalateAfterMinutes: 600
"""


@dataclass(frozen=True, slots=True)
class Effects:
    """What the action's side effect says: `start` and `end` lines per idempotency key."""

    starts: Counter[str]
    ends: Counter[str]


@dataclass
class Fleet:
    """Settings files (one per worker: each has its own executor id), the runbook, and the effects file."""

    root: Path
    database_url: str
    takeover_after: float
    worker_concurrency: int

    @classmethod
    def create(
        cls,
        root: Path,
        database_url: str,
        *,
        action_delay: float = 0.2,
        verify_after: float = 0.5,
        takeover_after: float = 3.0,
        worker_concurrency: int = 1000,
    ) -> Fleet:
        (root / "runbooks").mkdir(exist_ok=True)
        (root / "fixed").mkdir(exist_ok=True)
        path = root / "runbooks" / "fleet.yaml"
        effects, fixed = root / "effects", root / "fixed"
        script = (
            f"echo start $HANDRAIL_IDEMPOTENCY_KEY >> {effects}; sleep {action_delay};"
            f" echo end $HANDRAIL_IDEMPOTENCY_KEY >> {effects}; touch {fixed}/{{{{ labels.n }}}}"
        )
        path.write_text(RUNBOOK.format(fixed=fixed, script=script, verify=verify_after))
        result = lint_file(path)
        assert result.runbook is not None, [str(p) for p in result.problems]
        fleet = cls(root, database_url, takeover_after, worker_concurrency)
        (root / "handrail.yaml").write_text(fleet.settings())
        return fleet

    def settings(self, executor_id: str | None = None) -> str:
        engine = f"  takeoverAfterSeconds: {self.takeover_after}\n  workerConcurrency: {self.worker_concurrency}\n"
        if executor_id is not None:
            engine += f"  executorId: {executor_id}\n"
        return (
            f"runbooks: runbooks\ndatabase: '{self.database_url}'\n"
            f"engine:\n  minuteSeconds: 0.2\n{engine}"
            # 200 fixes in a minute on one service: the circuit breaker and cooldown would rightly stop that
            "safety:\n  cooldownMinutes: 0\n  rateLimit: {actions: 100000, perMinutes: 1}\n"
            "notifiers:\n  log: true\n"
            "api:\n  tokens:\n"
            f"    - {{name: admin, role: admin, sha256: {digest(FLEET_TOKEN)}}}\n"
            f"    - {{name: alertmanager, role: alertmanager, sha256: {digest(ALERTMANAGER_TOKEN)}}}\n"
        )

    @property
    def config(self) -> Path:
        return self.root / "handrail.yaml"

    def api(self) -> ServeProcess:
        """`handrail serve --no-engine` on a free port."""
        return ServeProcess(self.config, engine=False)

    def worker(self, executor_id: str) -> WorkerProcess:
        """`handrail worker` as executor `executor_id` (not started)."""
        config = self.root / f"worker-{executor_id}.yaml"
        config.write_text(self.settings(executor_id))
        return WorkerProcess(config)

    def trigger(self, api: ServeProcess, numbers: Iterable[int], *, clients: int = 8) -> list[str]:
        """Open one incident per number through the API; their ids, in order."""
        headers = {"Authorization": f"Bearer {FLEET_TOKEN}"}

        def post(client: httpx.Client, n: int) -> str:
            body = {"runbookId": "fleet", "context": {"labels": {"n": str(n)}}}
            answer = client.post(f"{api.url}/api/v1/incidents", json=body, headers=headers, timeout=30)
            assert answer.status_code == 202, answer.text
            return str(answer.json()["incident"]["id"])

        with httpx.Client() as client, ThreadPoolExecutor(clients) as pool:
            return list(pool.map(lambda n: post(client, n), numbers))

    def effects(self) -> Effects:
        path = self.root / "effects"
        lines = path.read_text().splitlines() if path.exists() else []
        starts: Counter[str] = Counter()
        ends: Counter[str] = Counter()
        for line in lines:
            word, _, key = line.partition(" ")
            (starts if word == "start" else ends)[key] += 1
        return Effects(starts, ends)

    def query(self, statement: str, **params: Any) -> list[Any]:
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(sa.text(statement), params))
        finally:
            engine.dispose()

    def states(self, incident_ids: Iterable[str]) -> dict[str, str]:
        rows = self.query("SELECT id, state FROM handrail_incidents WHERE id = ANY(:ids)", ids=list(incident_ids))
        return {row.id: row.state for row in rows}

    def wait_drained(self, *, timeout: float) -> None:
        """Wait until no incident workflow is queued or running (an escalated incident still sends its pages)."""
        deadline = time.monotonic() + timeout
        query = (
            "SELECT count(*) AS n FROM dbos.workflow_status"
            " WHERE queue_name = 'handrail-incidents' AND status IN ('PENDING', 'ENQUEUED')"
        )
        while (left := self.query(query)[0].n) > 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"{left} incident workflows never finished")
            time.sleep(0.2)

    def wait_closed(self, incident_ids: list[str], *, timeout: float, logs: Any = lambda: "") -> dict[str, str]:
        """Wait until every incident is resolved or escalated; their states."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.states(incident_ids)
            waiting = [i for i in incident_ids if states.get(i) not in ("resolved", "escalated")]
            if not waiting:
                return states
            if time.monotonic() > deadline:
                sample = ", ".join(f"{i}: {states.get(i)}" for i in waiting[:10])
                raise AssertionError(f"{len(waiting)} incidents never finished ({sample})\n{logs()}")
            time.sleep(0.5)
