"""Durable incidents with a real worker process, on SQLite and on PostgreSQL.

The runbooks below read a state file with shell_command diagnostics and fix it with run_script
actions that also append one line per run to an effects file: the side-effect counter that proves
every action ran exactly once, whatever the crash.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.errors import IncidentError
from handrail.store import ActionStatus
from support.engine import EngineWorld, postgres_database, runbook


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'handrail.db'}"
    else:
        with postgres_database() as url:
            yield url


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> EngineWorld:
    books = {
        "auto": runbook("auto", tmp_path),
        "gated": runbook("gated", tmp_path, approval=True),
        "manual": runbook("manual", tmp_path, remediation="by_hand", escalate_after=10),
        "slow-diagnosis": runbook("slow-diagnosis", tmp_path, diag_delay=3),
        "slow-action": runbook("slow-action", tmp_path, action_delay=6),
        "kubernetes": runbook(
            "kubernetes", tmp_path, action_block="      type: restart_service\n      config: {deployment: web}"
        ),
    }
    for name in books:
        (tmp_path / f"{name}.state").write_text("broken\n")
    return EngineWorld.create(tmp_path, database_url, runbooks=books)


def effects(world: EngineWorld, runbook_id: str) -> list[str]:
    path = world.root / f"{runbook_id}.effects"
    return path.read_text().splitlines() if path.exists() else []


def states(world: EngineWorld, incident_id: str) -> list[str]:
    return [e.data["state"] for e in world.events(incident_id, "state") if e.data]


def test_automated_remediation_runs_once_is_verified_and_resolves(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("auto")
        record = world.wait_state(incident.id, "resolved")
    assert states(world, incident.id) == ["diagnosing", "remediating", "verifying", "resolved"]
    assert effects(world, "auto") == [f"start {incident.id}:fix:1", "end"]
    assert [run.status for run in world.service.store.action_runs(incident.id)] == [ActionStatus.SUCCEEDED]
    assert record.mitigated_at is not None
    kinds = [e.kind for e in world.events(incident.id)]
    assert kinds[0] == "triggered"
    assert {"diagnostic", "decision", "plan", "action", "verification"} <= set(kinds)


def test_approval_gated_remediation_never_runs_without_approval(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("gated")
        record = world.wait_state(incident.id, "awaiting_approval")
        assert record.waiting_for == "approval: fix"
        time.sleep(1.0)
        assert effects(world, "gated") == []
        asyncio.run(world.service.decide(incident.id, "fix", "approve", actor="alice", reason="checked the graphs"))
        world.wait_state(incident.id, "resolved")
    assert len([line for line in effects(world, "gated") if line.startswith("start")]) == 1
    approval = world.events(incident.id, "decision_by_person")
    assert [(e.actor, e.message) for e in approval] == [("alice", "fix approved by alice: checked the graphs")]


def test_rejection_is_respected_and_escalates(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("gated")
        world.wait_state(incident.id, "awaiting_approval")
        asyncio.run(world.service.decide(incident.id, "fix", "reject", actor="bob", reason="not during the sale"))
        record = world.wait_state(incident.id, "escalated")
    assert effects(world, "gated") == []
    assert record.escalated
    assert "fix rejected by bob: not during the sale" in [e.message for e in world.events(incident.id)]
    with pytest.raises(IncidentError, match="already rejected by bob"):
        asyncio.run(world.service.decide(incident.id, "fix", "approve", actor="carol"))


def test_manual_remediation_waits_for_a_person_then_verifies(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("manual")
        record = world.wait_state(incident.id, "remediating")
        assert record.waiting_for == "done or skip: by_hand"
        (world.root / "manual.state").write_text("ok\n")
        asyncio.run(world.service.decide(incident.id, "by_hand", "done", actor="dana"))
        world.wait_state(incident.id, "resolved")


def test_an_action_that_cannot_reach_its_system_fails_and_escalates(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("kubernetes")
        record = world.wait_state(incident.id, "escalated")
    runs = world.service.store.action_runs(incident.id)
    assert [run.status for run in runs] == [ActionStatus.FAILED]
    assert "no Kubernetes cluster is configured" in (runs[0].message or "")
    assert record.escalated


def test_wrong_decisions_are_refused_with_reasons(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("gated")
        world.wait_state(incident.id, "awaiting_approval")
        with pytest.raises(IncidentError, match="only manual remediations"):
            asyncio.run(world.service.decide(incident.id, "fix", "done", actor="x"))
        with pytest.raises(IncidentError, match="no remediation nope"):
            asyncio.run(world.service.decide(incident.id, "nope", "approve", actor="x"))
        with pytest.raises(IncidentError, match="no incident INC-0"):
            asyncio.run(world.service.decide("INC-0", "fix", "approve", actor="x"))
        asyncio.run(world.service.cancel(incident.id, actor="x"))
        with pytest.raises(IncidentError, match="takes no more decisions"):
            asyncio.run(world.service.decide(incident.id, "fix", "approve", actor="x"))


def test_resolve_by_a_person_stops_the_plan(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("gated")
        world.wait_state(incident.id, "awaiting_approval")
        asyncio.run(world.service.resolve(incident.id, actor="erin", reason="fixed upstream"))
        time.sleep(1.0)
        record = asyncio.run(world.service.get(incident.id))
    assert record.state.value == "resolved"
    assert not record.is_open
    assert effects(world, "gated") == []


def test_dry_run_does_everything_but_the_side_effect(world: EngineWorld) -> None:
    with world.worker():
        record, _ = asyncio.run(
            world.service.trigger(world.runbook("auto"), trigger_type="manual", triggered_by="t", dry_run=True)
        )
        record = world.wait_state(record.id, "escalated")  # verification finds it still broken
    assert effects(world, "auto") == []
    runs = world.service.store.action_runs(record.id)
    assert [run.status for run in runs] == [ActionStatus.DRY_RUN]
    assert "would run" in (runs[0].message or "")


def test_same_trigger_fifty_times_concurrently_opens_one_incident(world: EngineWorld) -> None:
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()

    def trigger() -> None:
        record, opened = asyncio.run(
            world.service.trigger(
                world.runbook("gated"), trigger_type="manual", triggered_by="storm", labels={"pod": "a"}
            )
        )
        with lock:
            results.append((record.id, opened))

    threads = [threading.Thread(target=trigger) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({incident_id for incident_id, _ in results}) == 1
    assert sorted(opened for _, opened in results) == [False] * 49 + [True]
    incident_id = results[0][0]
    assert len(world.events(incident_id, "joined")) == 49
    assert asyncio.run(world.service.get(incident_id)).joins == 49


def test_escalation_fires_after_the_configured_minutes(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("manual")  # escalateAfterMinutes 10 × minuteSeconds 0.2 = 2 s
        record = world.wait(incident.id, lambda r: r.escalated, timeout=20, what="escalation")
    assert record.escalated_at is not None
    elapsed = (record.escalated_at - record.created_at).total_seconds()
    assert elapsed >= 2.0
    assert "not acknowledged within 10 minutes" in [e.message for e in world.events(incident.id, "escalation")]


def test_acknowledged_incident_is_not_escalated_by_the_timer(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("manual")
        asyncio.run(world.service.acknowledge(incident.id, actor="frank"))
        time.sleep(3.0)
        record = asyncio.run(world.service.get(incident.id))
    assert not record.escalated
    assert record.acknowledged_by == "frank"


# -- crash drills: SIGKILL the worker, start it again --------------------------------------------


def test_crash_while_diagnostics_run(world: EngineWorld) -> None:
    worker = world.worker().start()
    incident = world.trigger("slow-diagnosis")
    world.wait_state(incident.id, "diagnosing")
    time.sleep(0.5)
    worker.kill()
    with world.worker():
        world.wait_state(incident.id, "resolved", timeout=40)
    assert [line for line in effects(world, "slow-diagnosis") if line.startswith("start")] == [
        f"start {incident.id}:fix:1"
    ]


def test_crash_while_waiting_for_approval(world: EngineWorld) -> None:
    worker = world.worker().start()
    incident = world.trigger("gated")
    world.wait_state(incident.id, "awaiting_approval")
    worker.kill()
    asyncio.run(world.service.decide(incident.id, "fix", "approve", actor="gina"))  # while no engine runs at all
    with world.worker():
        world.wait_state(incident.id, "resolved", timeout=40)
    assert [line for line in effects(world, "gated") if line.startswith("start")] == [f"start {incident.id}:fix:1"]


def test_crash_during_the_escalation_wait_still_escalates_on_time(world: EngineWorld) -> None:
    worker = world.worker().start()
    incident = world.trigger("manual")  # escalates 2 s after it opened
    world.wait_state(incident.id, "remediating")
    worker.kill()
    time.sleep(0.5)
    with world.worker():
        record = world.wait(incident.id, lambda r: r.escalated, timeout=30, what="escalation")
    assert record.escalated_at is not None
    assert (record.escalated_at - record.created_at).total_seconds() >= 2.0
    assert len(world.events(incident.id, "escalation")) == 1


def test_crash_while_an_action_runs_is_never_run_again(world: EngineWorld) -> None:
    worker = world.worker().start()
    incident = world.trigger("slow-action")
    world.wait(incident.id, lambda r: bool(effects(world, "slow-action")), what="the action to start")
    worker.kill()  # the worker dies; the action's own process group may still finish its one run
    with world.worker():
        record = world.wait_state(incident.id, "escalated", timeout=40)
    starts = [line for line in effects(world, "slow-action") if line.startswith("start")]
    assert starts == [f"start {incident.id}:fix:1"]  # started once, never again
    runs = world.service.store.action_runs(incident.id)
    assert [run.status for run in runs] == [ActionStatus.OUTCOME_UNKNOWN]
    assert record.escalated
    messages = [e.message for e in world.events(incident.id)]
    assert any("outcome unknown" in m for m in messages)
    assert any("a person confirms" in m for m in messages)
