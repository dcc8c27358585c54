"""The engine in this process: a `Worker` on SQLite, its store watched for calls that block the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dbos import DBOS

from handrail.composition import create_runtime
from handrail.engine.incident import INCIDENT_QUEUE
from handrail.engine.service import new_incident_id
from handrail.engine.worker import STRAY_GRACE_SECONDS, Worker
from handrail.store import NewIncident, SqlIncidentStore, create_engine
from support.engine import EngineWorld, runbook


class LoopWatchingStore(SqlIncidentStore):
    """The real store, noting every public call made on a thread that runs an event loop."""

    on_loop: list[str]

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if name.startswith("_") or not callable(value):
            return value
        calls: list[str] = super().__getattribute__("on_loop")

        def watched(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                pass  # a worker thread: where blocking calls belong
            else:
                calls.append(name)
            return value(*args, **kwargs)

        return watched


async def test_the_engine_never_calls_the_store_on_its_event_loop(tmp_path: Path) -> None:
    # a store call on the loop stalls every incident, timer and delivery of the process while SQL runs (#14)
    url = f"sqlite:///{tmp_path / 'handrail.db'}"
    world = EngineWorld.create(
        tmp_path, url, runbooks={"auto": runbook("auto", tmp_path), "page": runbook("page", tmp_path)}
    )
    (tmp_path / "auto.state").write_text("broken\n")
    (tmp_path / "page.state").write_text("unknown\n")  # the decision tree's `otherwise`: an escalate step
    store = LoopWatchingStore(create_engine(url))
    store.on_loop = []
    async with Worker(create_runtime(world.settings, store), database_url=url, executor_id="loop-test"):
        fixed = (await asyncio.to_thread(world.trigger, "auto")).id
        paged = (await asyncio.to_thread(world.trigger, "page")).id
        deadline = time.monotonic() + 30
        while not (
            (await world.service.get(fixed)).state.value == "resolved" and (await world.service.get(paged)).escalated
        ):
            assert time.monotonic() < deadline, [e.message for e in world.events(fixed) + world.events(paged)]
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # the notifications' deliveries record themselves too
    assert store.on_loop == []
    assert {"action", "verification", "notification"} <= {e.kind for e in world.events(fixed)}


async def _until(condition: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_an_incident_opened_beside_the_engine_starts_on_it_without_the_queue(tmp_path: Path) -> None:
    # `handrail serve`: the API's service hands a new incident to the engine of its own process (#14); the queue
    # is polled every 60 s here, so only a direct start gets the incident resolved within the wait
    url = f"sqlite:///{tmp_path / 'handrail.db'}"
    world = EngineWorld.create(tmp_path, url, runbooks={"auto": runbook("auto", tmp_path)})
    (tmp_path / "auto.state").write_text("broken\n")
    runtime = create_runtime(world.settings, world.service.store)
    async with Worker(runtime, database_url=url, executor_id="here", polling_interval=60.0) as worker:
        world.service.local_engine = worker
        assert worker.has_room()
        record, opened = await world.service.trigger(
            world.runbook("auto"), trigger_type="manual", triggered_by="test", labels={}
        )
        assert opened

        async def resolved() -> bool:
            return (await world.service.get(record.id)).state.value == "resolved"

        await _until(resolved, "the incident to resolve")
        status = await DBOS.get_workflow_status_async(record.id)
        assert status is not None
        assert status.queue_name is None  # started directly, never queued
        assert status.executor_id == "here"
        # a second alert for the same thing joins: nothing more is started
        again, opened = await world.service.trigger(
            world.runbook("auto"), trigger_type="manual", triggered_by="test", labels={}, dedup_key=record.dedup_key
        )
        assert not opened or again.id != record.id


async def test_a_full_engine_or_another_loop_leaves_the_incident_to_the_queue(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handrail.db'}"
    world = EngineWorld.create(tmp_path, url, runbooks={"auto": runbook("auto", tmp_path)})
    (tmp_path / "auto.state").write_text("broken\n")
    runtime = create_runtime(world.settings, world.service.store)
    async with Worker(runtime, database_url=url, executor_id="full", worker_concurrency=1) as worker:
        assert not await asyncio.to_thread(worker.has_room)  # a thread without the engine's loop
        world.service.local_engine = worker
        runtime.load.running = 1  # as if one incident were running: no room under a concurrency of 1
        try:
            assert not worker.has_room()
            record, _ = await world.service.trigger(
                world.runbook("auto"), trigger_type="manual", triggered_by="test", labels={}
            )
            status = await DBOS.get_workflow_status_async(record.id)
            assert status is not None
            assert status.queue_name == INCIDENT_QUEUE
        finally:
            runtime.load.running = 0
    assert not worker.has_room()  # stopped: nothing starts here any more


async def test_an_incident_whose_recorder_died_before_its_workflow_started_is_queued_by_a_worker(
    tmp_path: Path,
) -> None:
    # the crash window of a direct start: the incident committed, its workflow never recorded
    url = f"sqlite:///{tmp_path / 'handrail.db'}"
    world = EngineWorld.create(tmp_path, url, runbooks={"auto": runbook("auto", tmp_path)})
    (tmp_path / "auto.state").write_text("broken\n")
    store = world.service.store
    long_ago = datetime.now(UTC) - timedelta(seconds=STRAY_GRACE_SECONDS + 5)
    store._clock = lambda: long_ago  # recorded before the grace period
    stray = NewIncident(
        id=new_incident_id(),
        runbook=world.runbook("auto").model_dump(mode="json", by_alias=True, exclude_none=True),
        dedup_key="stray",
        trigger_type="manual",
        triggered_by="test",
        labels={},
        annotations={},
        dry_run=False,
    )
    recorded, opened = store.open_or_join(stray)  # no workflow: as if the process died here
    assert opened
    fresh = dataclasses.replace(stray, id=new_incident_id(), dedup_key="fresh")
    store._clock = lambda: datetime.now(UTC)
    store.open_or_join(fresh)  # within the grace period: its recorder may still be starting it
    runtime = create_runtime(world.settings, SqlIncidentStore(create_engine(url)))
    async with Worker(runtime, database_url=url, executor_id="sweeper") as worker:

        async def resolved() -> bool:
            return (await world.service.get(recorded.id)).state.value == "resolved"

        await _until(resolved, "the stray to be queued and resolve")  # the sweep at start found it
        assert await worker.enqueue_strays() == []  # known to DBOS now: never queued twice
        assert (await world.service.get(fresh.id)).state.value == "triggered"
    assert len([e for e in world.events(recorded.id) if e.kind == "action"]) == 2  # running, succeeded: once
