"""Shadow versions (#15) with a real worker: they diagnose and plan beside the incident, and nothing they plan acts.

The active runbook `db` plans `fix`, an action that writes `db.effects`. Its shadow `db-v2` plans a different
remediation, `fix_v2`, an action that would write `db-v2.effects`; its shadow `db-v3` plans an approval-gated action
and a page. A webhook receiver (a real local HTTP server) hears every notification sent.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.engine.incident import SHADOW_WORKFLOW
from handrail.errors import IncidentConflictError
from handrail.store import IncidentRecord
from support.engine import EngineWorld, runbook
from support.servers import HttpServer, Route


def shadow(runbook_id: str, root: Path, *, then: str, approval: bool = False) -> str:
    """The `db` runbook as a new version `runbook_id` (shadowOf: db) whose `fix` is called `fix_v2`."""
    text = runbook(runbook_id, root, approval=approval, remediation=then)
    text = text.replace(f"id: {runbook_id}\n", f"id: {runbook_id}\nshadowOf: db\n", 1)
    return text.replace("  - id: fix\n", "  - id: fix_v2\n", 1)


@pytest.fixture
def webhook() -> Iterator[HttpServer]:
    with HttpServer({"/hook": Route(200, b"ok")}) as server:
        yield server


@pytest.fixture
def world(tmp_path: Path, webhook: HttpServer) -> EngineWorld:
    books = {
        "db": runbook("db", tmp_path),
        "db-v2": shadow("db-v2", tmp_path, then="fix_v2"),
        "db-v3": shadow("db-v3", tmp_path, then="fix_v2, page", approval=True),
    }
    for name in books:
        (tmp_path / f"{name}.state").write_text("broken\n")
    settings = f"  webhook:\n    url: '{webhook.url('/hook')}'\n    timeout: 2s\n"
    return EngineWorld.create(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", runbooks=books, extra_settings=settings)


def shadows_of(world: EngineWorld, incident: IncidentRecord) -> dict[str, IncidentRecord]:
    return {record.runbook_id: record for record in asyncio.run(world.service.shadows(incident.id))}


def test_shadows_record_their_plans_beside_the_incident_and_nothing_they_plan_acts(
    world: EngineWorld, webhook: HttpServer
) -> None:
    with world.worker():
        incident = world.trigger("db", pod="db-0")
        shadows = shadows_of(world, incident)
        assert sorted(shadows) == ["db-v2", "db-v3"]
        for record in shadows.values():
            world.wait_state(record.id, "recorded")
        world.wait_state(incident.id, "resolved")
        workflows = world.service.client.list_workflows(load_input=False, load_output=False)
    shadows = shadows_of(world, incident)
    # the active incident acted as before
    assert (world.root / "db.effects").read_text().splitlines() == [f"start {incident.id}:fix:1", "end"]
    assert list(asyncio.run(world.service.get(incident.id)).plan) == ["fix"]
    # each shadow ran its diagnostics with the same labels, decided, and recorded its own plan
    assert list(shadows["db-v2"].plan) == ["fix_v2"]
    assert list(shadows["db-v3"].plan) == ["fix_v2", "page"]
    for record in shadows.values():
        assert dict(record.labels) == {"pod": "db-0"}
        assert record.assessment is not None
        assert record.overall_severity == "critical"
        assert {"diagnostic", "decision", "plan"} <= {e.kind for e in world.events(record.id)}
        # and nothing it planned was carried out: no action run, no approval, no page, no notification
        assert world.service.store.action_runs(record.id) == []
        assert record.waiting_for is None
        assert not record.escalated
        assert {e.kind for e in world.events(record.id)} <= {"triggered", "state", "diagnostic", "decision", "plan"}
        # the only workflow a shadow ever had is its own (no escalation timer, no delivery, no announcement)
        assert [(w.workflow_id, w.name) for w in workflows if w.workflow_id.startswith(record.id)] == [
            (record.id, SHADOW_WORKFLOW)
        ]
    assert not (world.root / "db-v2.effects").exists()
    assert not (world.root / "db-v3.effects").exists()
    sent_for = {json.loads(r.body)["incidentId"] for r in webhook.requests if r.path == "/hook"}
    assert sent_for == {incident.id}  # the active incident's notifications arrived; no shadow's did


def test_shadows_stay_out_of_lists_and_take_nothing_from_people(world: EngineWorld) -> None:
    with world.worker():
        incident = world.trigger("db")
        shadows = shadows_of(world, incident)
        world.wait_state(shadows["db-v2"].id, "recorded")
        world.wait_state(incident.id, "resolved")
        listed = asyncio.run(world.service.find(limit=100))
        assert [r.id for r in listed] == [incident.id]
        assert asyncio.run(world.service.find(runbook_id="db-v2")) == []
        shadow_id = shadows["db-v3"].id
        for call in (
            world.service.acknowledge(shadow_id, actor="amy"),
            world.service.decide(shadow_id, "fix_v2", "approve", actor="amy"),
            world.service.resolve(shadow_id, actor="amy"),
        ):
            with pytest.raises(IncidentConflictError, match=f"{shadow_id} is a shadow run beside {incident.id}"):
                asyncio.run(call)
        with pytest.raises(IncidentConflictError, match="db-v2 is a shadow of db: it runs only beside"):
            asyncio.run(world.service.trigger(world.runbook("db-v2"), trigger_type="manual", triggered_by="amy"))


def test_agreement_counts_the_runs_whose_plans_match(world: EngineWorld) -> None:
    (world.root / "db-v2.state").write_text("ok\n")  # db-v2 now reads healthy: it plans `page` (otherwise)
    with world.worker():
        first = world.trigger("db", run="1")
        for record in shadows_of(world, first).values():
            world.wait_state(record.id, "recorded")
        world.wait_state(first.id, "resolved")  # `fix` wrote ok into db.state: the next run plans `page` too
        second = world.trigger("db", run="2")
        for record in shadows_of(world, second).values():
            world.wait_state(record.id, "recorded")
        world.wait(second.id, lambda r: r.assessment is not None, what="the second plan")
    assert list(asyncio.run(world.service.get(second.id)).plan) == ["page"]
    tallies = {t.shadow: (t.runs, t.agreements) for t in asyncio.run(world.service.shadow_tallies("db"))}
    assert tallies == {"db-v2": (2, 1), "db-v3": (2, 0)}
