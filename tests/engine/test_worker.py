"""The engine in this process: a `Worker` on SQLite, its store watched for calls that block the event loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from handrail.composition import create_runtime
from handrail.engine.worker import Worker
from handrail.store import SqlIncidentStore, create_engine
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
