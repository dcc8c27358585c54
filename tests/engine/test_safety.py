"""Safety rails with a real worker: cooldowns, the per-service circuit breaker, allow-lists."""

from __future__ import annotations

import asyncio
from pathlib import Path

from handrail.store import ActionStatus
from support.engine import EngineWorld, runbook


def with_safety(text: str, safety: str) -> str:
    return text.replace("escalation:\n", f"safety: {safety}\nescalation:\n")


def make_world(tmp_path: Path, books: dict[str, str], settings: str = "") -> EngineWorld:
    for name in books:
        (tmp_path / f"{name}.state").write_text("broken\n")
    return EngineWorld.create(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks=books, extra_settings=settings)


def starts(world: EngineWorld, name: str) -> list[str]:
    path = world.root / f"{name}.effects"
    return [line for line in path.read_text().splitlines() if line.startswith("start")] if path.exists() else []


def test_cooldown_blocks_the_second_run_on_the_same_target(tmp_path: Path) -> None:
    world = make_world(tmp_path, {"auto": with_safety(runbook("auto", tmp_path), "{cooldownMinutes: 100}")})
    with world.worker():
        first = world.trigger("auto", pod="a")
        world.wait_state(first.id, "resolved")
        (tmp_path / "auto.state").write_text("broken\n")
        second = world.trigger("auto", pod="b")
        record = world.wait_state(second.id, "escalated")
    assert len(starts(world, "auto")) == 1
    runs = world.service.store.action_runs(second.id)
    assert [run.status for run in runs] == [ActionStatus.BLOCKED]
    assert (runs[0].message or "").startswith("cooldown: command:sh was acted on at ")
    assert f"(incident {first.id})" in (runs[0].message or "")
    assert record.escalated


def test_circuit_breaker_opens_after_the_rate_limit_for_a_service(tmp_path: Path) -> None:
    safety = "{cooldownMinutes: 0, rateLimit: {actions: 2, perMinutes: 100}}"
    world = make_world(tmp_path, {"auto": with_safety(runbook("auto", tmp_path), safety)})
    outcomes = []
    with world.worker():
        for pod in ("a", "b", "c"):
            (tmp_path / "auto.state").write_text("broken\n")
            incident = world.trigger("auto", pod=pod)
            record = world.wait(incident.id, lambda r: r.state.value in ("resolved", "escalated"), what="the end")
            outcomes.append((record.state.value, [run.status for run in world.service.store.action_runs(record.id)]))
    assert outcomes == [
        ("resolved", [ActionStatus.SUCCEEDED]),
        ("resolved", [ActionStatus.SUCCEEDED]),
        ("escalated", [ActionStatus.BLOCKED]),
    ]
    assert len(starts(world, "auto")) == 2
    blocked = world.service.store.action_runs(record.id)[0]
    assert "circuit breaker open for service test-service: 2 automated actions" in (blocked.message or "")


def test_allow_list_refuses_what_automation_may_not_touch(tmp_path: Path) -> None:
    settings = "safety:\n  allow:\n    commands: [kubectl]\n"
    world = make_world(tmp_path, {"auto": runbook("auto", tmp_path)}, settings)
    with world.worker():
        incident = world.trigger("auto")
        world.wait_state(incident.id, "escalated")
    assert starts(world, "auto") == []
    run = world.service.store.action_runs(incident.id)[0]
    assert run.status is ActionStatus.BLOCKED
    assert run.message == "command 'sh' is not in the command allow-list (kubectl)"


def test_every_executed_action_records_approver_parameters_output_and_duration(tmp_path: Path) -> None:
    world = make_world(tmp_path, {"gated": runbook("gated", tmp_path, approval=True)})
    with world.worker():
        incident = world.trigger("gated")
        world.wait_state(incident.id, "awaiting_approval")
        asyncio.run(
            world.service.decide(incident.id, "fix", "approve", actor="alice", reason="looked at the dashboard")
        )
        world.wait_state(incident.id, "resolved")
    run = world.service.store.action_runs(incident.id)[0]
    assert run.approved_by == "alice (looked at the dashboard)"
    assert run.params is not None
    assert run.params["command"][0] == "/bin/sh"
    assert run.target == "command:sh"
    assert run.service == "test-service"
    assert run.duration_seconds is not None
    assert run.duration_seconds >= 0
    assert run.message == "exit 0"
