"""End to end: `handrail demo` on real PostgreSQL, Prometheus, Alertmanager and `handrail serve`.

One demo world (the real `handrail demo` command, in its own process) serves every test here, in order:
a leaked pool is remediated automatically; stuck transactions wait for an approval given through the API;
then Ctrl-C stops everything the demo started. Each fault must play out within 90 seconds of injection.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from handrail.demo.world import DemoState, read_state
from support.processes import is_running

ROOT = Path(__file__).parents[2]
WITHIN = 90.0
"""Seconds from injecting a fault to the incident's resolution (issue #8)."""
MOST_OF_THE_POOL = 45
"""The pool holds 54; Handrail's own connections may take a few of the slots the database allows it."""


def terminated(message: str) -> int:
    """N from the run_script outcome `SELECT: N rows; N backends terminated`."""
    found = re.search(r"(\d+) backends terminated", message)
    assert found, message
    return int(found.group(1))


@dataclass
class RunningDemo:
    process: subprocess.Popen[bytes]
    state: DemoState
    state_file: Path
    output: Path

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.state.admin_token}"}
        answer = httpx.request(method, f"{self.state.api_url}/api/v1{path}", headers=headers, timeout=10, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def incidents_since(self, moment: datetime) -> list[dict[str, Any]]:
        found = self.api("GET", "/incidents", params={"limit": 50})["incidents"]
        return [i for i in found if datetime.fromisoformat(i["triggeredAt"]) >= moment]

    def detail(self, incident_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/incidents/{incident_id}"))

    def leaked_pids(self) -> set[int]:
        headers = {"Authorization": f"Bearer {self.state.service_token}"}
        faults = httpx.get(f"{self.state.service_url}/admin/faults", headers=headers, timeout=10).json()
        return {session["pid"] for session in faults["leaked"]}

    def sessions(self) -> dict[int, str]:
        """Every client session of the demo cluster: pid → state, straight from pg_stat_activity."""
        with psycopg.connect(self.state.database_conninfo, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid, state FROM pg_stat_activity WHERE backend_type = 'client backend'"
            ).fetchall()
        return dict(rows)

    def firing_alerts(self) -> list[str]:
        alerts = httpx.get(f"{self.state.prometheus_url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return [a["labels"]["alertname"] for a in alerts if a["state"] == "firing"]

    def inject(self, fault: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "handrail", "demo", "inject", fault, "--state-file", str(self.state_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def log(self) -> str:
        return self.output.read_text(errors="replace")[-6000:]


def wait_for(check: Callable[[], Any], what: str, demo: RunningDemo, *, deadline: float) -> Any:
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}\n--- handrail demo output ---\n{demo.log()}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    folder = tmp_path_factory.mktemp("demo")
    state_file = folder / "state.json"
    output = folder / "demo-output.txt"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "handrail", "demo", "--state-file", str(state_file)],
            cwd=ROOT,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "200"},
        )
    deadline = time.monotonic() + 90
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"handrail demo did not start:\n{output.read_text(errors='replace')}")
        time.sleep(0.2)
    running = RunningDemo(process, read_state(state_file), state_file, output)
    yield running
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _kinds(detail: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in detail["timeline"]]


def _result(detail: dict[str, Any], name: str) -> dict[str, Any]:
    results = [r for r in detail["diagnosticResults"] if r["stepId"] == name]
    assert results, f"no result for {name}: {detail['diagnosticResults']}"
    return dict(results[0])


def test_leaked_pool_is_detected_killed_verified_and_resolved(demo: RunningDemo) -> None:
    time.sleep(3)  # a few scrapes of normal traffic first
    injected_at = datetime.now(UTC)
    deadline = time.monotonic() + WITHIN
    said = demo.inject("db-pool-exhaustion")
    leaked = demo.leaked_pids()
    assert f"({len(leaked)} sessions held open)" in said
    assert len(leaked) >= MOST_OF_THE_POOL
    sessions = demo.sessions()
    assert all(sessions.get(pid) == "idle" for pid in leaked), sessions

    opened = wait_for(lambda: demo.incidents_since(injected_at), "an incident", demo, deadline=deadline)
    incident_id = opened[0]["id"]
    detail = wait_for(
        lambda: (d := demo.detail(incident_id))["state"] in ("resolved", "escalated", "failed") and d,
        "the incident to finish",
        demo,
        deadline=deadline,
    )

    assert [(i["id"], i["runbookId"]) for i in demo.incidents_since(injected_at)] == [
        (incident_id, "database-connection-exhaustion")
    ]
    assert detail["state"] == "resolved", detail["timeline"]
    assert not detail["escalated"]
    # Alertmanager sent the alert: the incident was triggered by its webhook, with Prometheus' labels
    first = detail["timeline"][0]
    assert (first["kind"], first["actor"]) == ("triggered", "alertmanager")
    assert "alertname=PostgresTooManyConnections" in first["message"]
    assert detail["triggeredBy"] == "alertmanager"
    # the pool diagnostics read critical
    assert _result(detail, "connection_usage")["status"] == "critical"
    assert _result(detail, "idle_sessions")["status"] == "critical"
    assert detail["plan"] == ["kill_idle_connections"]
    # kill_idle_connections really terminated the idle sessions
    [action] = detail["actions"]
    assert (action["remediation"], action["status"]) == ("kill_idle_connections", "succeeded")
    assert terminated(action["message"]) >= len(leaked)
    assert leaked.isdisjoint(demo.sessions())
    # verification read healthy, and the timeline holds each step in order
    verification = [e["message"] for e in detail["timeline"] if e["kind"] == "verification"]
    assert len(verification) == 1
    assert verification[0].startswith("verification: healthy")
    kinds = _kinds(detail)
    steps = ["triggered", "diagnostic", "decision", "plan", "action", "verification"]
    assert [kinds.index(step) for step in steps] == sorted(kinds.index(step) for step in steps)
    messages = [e["message"] for e in detail["timeline"]]
    assert "collecting evidence" in messages
    assert "running Kill Idle DB Connections" in messages
    assert "verified healthy after remediation" in messages
    # the terminal showed it as it happened
    wait_for(lambda: "verified healthy after remediation" in demo.log(), "the terminal feed", demo, deadline=deadline)
    assert f"{incident_id}" in demo.log()
    assert re.search(r"PostgresTooManyConnections is (pending|firing)", demo.log())


def test_stuck_transactions_wait_for_approval_then_complete(demo: RunningDemo) -> None:
    deadline = time.monotonic() + WITHIN
    wait_for(lambda: not demo.firing_alerts(), "the previous alert to resolve", demo, deadline=time.monotonic() + 30)
    injected_at = datetime.now(UTC)
    deadline = time.monotonic() + WITHIN
    demo.inject("db-stuck-transactions")
    leaked = demo.leaked_pids()
    assert len(leaked) >= MOST_OF_THE_POOL

    opened = wait_for(lambda: demo.incidents_since(injected_at), "an incident", demo, deadline=deadline)
    incident_id = opened[0]["id"]
    waiting = wait_for(
        lambda: (d := demo.detail(incident_id))["state"] == "awaiting_approval" and d,
        "the approval request",
        demo,
        deadline=deadline,
    )
    assert waiting["runbookId"] == "database-connection-exhaustion"
    assert waiting["waitingFor"] == "approval: terminate_idle_in_transaction"
    assert _result(waiting, "idle_in_transaction")["status"] == "critical"
    assert waiting["actions"] == []
    time.sleep(2)  # it waits: nothing is terminated without the approval
    sessions = demo.sessions()
    assert all(sessions.get(pid) == "idle in transaction" for pid in leaked)
    assert demo.detail(incident_id)["state"] == "awaiting_approval"

    demo.api("POST", f"/incidents/{incident_id}/approve", json={"remediation": "terminate_idle_in_transaction"})
    detail = wait_for(
        lambda: (d := demo.detail(incident_id))["state"] in ("resolved", "escalated", "failed") and d,
        "the incident to finish",
        demo,
        deadline=deadline,
    )
    assert detail["state"] == "resolved", detail["timeline"]
    [action] = detail["actions"]
    assert (action["remediation"], action["status"]) == ("terminate_idle_in_transaction", "succeeded")
    assert terminated(action["message"]) >= len(leaked)
    assert leaked.isdisjoint(demo.sessions())
    approvals = [e for e in detail["timeline"] if e["kind"] == "decision_by_person"]
    assert [(e["actor"], e["message"]) for e in approvals] == [
        ("demo-admin", "terminate_idle_in_transaction approved by demo-admin")
    ]
    kinds = _kinds(detail)
    assert kinds.index("decision_by_person") < kinds.index("action") < kinds.index("verification")
    assert [i["id"] for i in demo.incidents_since(injected_at)] == [incident_id]


def test_ctrl_c_stops_everything_the_demo_started(demo: RunningDemo) -> None:
    root = Path(demo.state.root)
    postmaster = int((Path(demo.state.postgres_data_dir) / "postmaster.pid").read_text().split()[0])
    pids = [*demo.state.processes.values(), postmaster]
    assert all(is_running(pid) for pid in pids)

    demo.process.send_signal(signal.SIGINT)
    assert demo.process.wait(timeout=60) == 0
    assert [pid for pid in pids if is_running(pid)] == []
    assert not root.exists()
    assert not demo.state_file.exists()
    assert "stopped; nothing left running" in demo.log()
