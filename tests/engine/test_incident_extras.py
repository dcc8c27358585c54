"""More of the lifecycle: failures that continue, alerts that resolve, and notifications (SQLite)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.store import ActionStatus
from support.engine import EngineWorld, runbook
from support.pagerduty import PagerDutyServer
from support.servers import HttpServer, Route


@pytest.fixture
def webhook() -> Iterator[HttpServer]:
    with HttpServer({"/hook": Route(200, b"ok"), "/down": Route(503, b"maintenance")}) as server:
        yield server


def make_world(tmp_path: Path, webhook: HttpServer, path: str = "/hook") -> EngineWorld:
    failing = runbook(
        "failing",
        tmp_path,
        remediation="fix, page",
        action_block="      type: run_script\n      config: {command: [/bin/sh, -c, 'exit 3']}",
    ).replace(
        "    verify: {after: 0.3s}\n  - id: by_hand",
        "    continueOnFailure: true\n    verify: {after: 0.3s}\n  - id: by_hand",
        1,
    )
    books = {
        "auto": runbook("auto", tmp_path),
        "gated": runbook("gated", tmp_path, approval=True).replace(
            "escalation:\n", "resolveWhenAlertResolves: true\nescalation:\n"
        ),
        "failing": failing,
    }
    for name in books:
        (tmp_path / f"{name}.state").write_text("broken\n")
    settings = f"  webhook:\n    url: '{webhook.url(path)}'\n    timeout: 2s\n"
    return EngineWorld.create(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks=books, extra_settings=settings)


def kinds_sent(webhook: HttpServer) -> list[str]:
    return [json.loads(r.body)["kind"] for r in webhook.requests if r.path == "/hook"]


def test_a_failed_action_with_continue_on_failure_goes_on_with_the_plan(tmp_path: Path, webhook: HttpServer) -> None:
    world = make_world(tmp_path, webhook)
    with world.worker():
        incident = world.trigger("failing")
        record = world.wait_state(incident.id, "escalated")  # `page` ran after the failure; nothing was performed
    runs = world.service.store.action_runs(incident.id)
    assert [run.status for run in runs] == [ActionStatus.FAILED]
    assert runs[0].message == "exit 3"
    messages = [e.message for e in world.events(incident.id)]
    assert "Fix It failed; continuing (continueOnFailure)" in messages
    assert any(m.startswith("Page: paged") for m in messages)
    assert record.escalated


def test_the_alert_resolving_verifies_and_closes_when_the_runbook_asks(tmp_path: Path, webhook: HttpServer) -> None:
    world = make_world(tmp_path, webhook)
    with world.worker():
        record, _ = asyncio.run(
            world.service.trigger(
                world.runbook("gated"), trigger_type="alert", triggered_by="alertmanager", dedup_key="fp-1"
            )
        )
        world.wait_state(record.id, "awaiting_approval")
        (tmp_path / "gated.state").write_text("ok\n")  # it recovered by itself
        assert asyncio.run(world.service.alert_resolved("fp-1", source="alertmanager")) is not None
        world.wait_state(record.id, "resolved")
    assert not (tmp_path / "gated.effects").exists()
    assert "the alert resolved (alertmanager)" in [e.message for e in world.events(record.id)]


def test_the_alert_resolving_while_still_unhealthy_keeps_the_incident_open(tmp_path: Path, webhook: HttpServer) -> None:
    world = make_world(tmp_path, webhook)
    with world.worker():
        record, _ = asyncio.run(
            world.service.trigger(
                world.runbook("gated"), trigger_type="alert", triggered_by="alertmanager", dedup_key="fp-2"
            )
        )
        world.wait_state(record.id, "awaiting_approval")
        asyncio.run(world.service.alert_resolved("fp-2", source="alertmanager"))
        world.wait(
            record.id,
            lambda r: any(e.kind == "alert" and "staying open" in e.message for e in world.events(r.id)),
            what="the verdict",
        )
    assert asyncio.run(world.service.get(record.id)).state.value == "awaiting_approval"


def test_notifications_reach_the_webhook_in_the_documented_format(tmp_path: Path, webhook: HttpServer) -> None:
    world = make_world(tmp_path, webhook)
    with world.worker():
        incident = world.trigger("auto")
        world.wait_state(incident.id, "resolved")
        world.wait(incident.id, lambda r: "resolved" in kinds_sent(webhook), what="the resolved notification")
    assert kinds_sent(webhook)[0] == "opened"
    opened = json.loads(next(r.body for r in webhook.requests if json.loads(r.body)["kind"] == "opened"))
    assert opened["target"] == "#test"
    assert opened["incidentId"] == incident.id
    assert opened["severity"] == "P2"
    assert opened["title"] == "[P2] Auto — incident opened"
    sent = [e.message for e in world.events(incident.id, "notification")]
    assert any(m.startswith("webhook: sent '[P2] Auto — incident opened' to #test") for m in sent)


def test_a_notifier_that_is_down_never_holds_the_incident_up(tmp_path: Path, webhook: HttpServer) -> None:
    world = make_world(tmp_path, webhook, path="/down")
    with world.worker():
        incident = world.trigger("auto")
        world.wait_state(incident.id, "resolved")  # resolves while deliveries are still being retried
    assert len([r for r in webhook.requests if r.path == "/down"]) >= 1


def test_pagerduty_hears_the_escalation_and_the_resolution(tmp_path: Path, webhook: HttpServer) -> None:
    key = "a" * 32
    with PagerDutyServer() as pagerduty:
        book = runbook("paged", tmp_path, approval=True).replace(
            'secondary: "#test-escalation"', 'secondary: "pagerduty:sre"'
        )
        (tmp_path / "paged.state").write_text("broken\n")
        settings = f"  pagerduty:\n    routingKeys: {{sre: '{key}'}}\n    url: '{pagerduty.url}'\n"
        world = EngineWorld.create(
            tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks={"paged": book}, extra_settings=settings
        )
        with world.worker():
            incident = world.trigger("paged")
            world.wait_state(incident.id, "awaiting_approval")
            asyncio.run(world.service.decide(incident.id, "fix", "reject", actor="ops", reason="not now"))
            world.wait_state(incident.id, "escalated")  # a rejection leaves nothing done: people take over
            world.wait(
                incident.id,
                lambda r: any(e["event_action"] == "trigger" for e in pagerduty.events),
                what="the PagerDuty trigger",
            )
            asyncio.run(world.service.resolve(incident.id, actor="ops"))
            world.wait(
                incident.id,
                lambda r: any(e["event_action"] == "resolve" for e in pagerduty.events),
                what="the PagerDuty resolve",
            )
    actions = [(e["event_action"], e["dedup_key"]) for e in pagerduty.events]
    assert ("trigger", incident.id) in actions
    assert ("resolve", incident.id) in actions
    trigger = next(e for e in pagerduty.events if e["event_action"] == "trigger")
    assert trigger["payload"]["severity"] == "error"  # P2
    assert trigger["payload"]["component"] == "test-service"
    assert trigger["payload"]["custom_details"]["details"]["diagnostics"][0]["status"] == "critical"
