"""`WorkerWatch`: heartbeats, who judges whom and when, and one recovery per dead worker.

The registry is real (SQLite); the recovery is a recording stand-in for DBOS's (the drills in
tests/drills/test_scale_out.py run the real one); the watch's clock is a number the test moves.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from handrail.blocking import BlockingPool
from handrail.engine.takeover import WorkerWatch
from handrail.store import SqlIncidentStore, create_engine
from handrail.store.schema import WORKERS
from handrail.store.workers import SqlWorkerRegistry, WorkerRecord

BOUND = 3.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry(tmp_path: Path) -> SqlWorkerRegistry:
    store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 'w.db'}"))
    store.migrate()
    return SqlWorkerRegistry(store.engine)


class Recoveries:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []
        self.reported: list[tuple[str, list[str]]] = []

    def watch(self, registry: SqlWorkerRegistry, executor_id: str, clock: Clock) -> WorkerWatch:
        def recover(dead: str) -> list[str]:
            self.asked.append((executor_id, dead))
            return [f"INC-OF-{dead}"]

        def taken_over(worker: WorkerRecord, workflow_ids: Sequence[str]) -> None:
            self.reported.append((worker.executor_id, list(workflow_ids)))

        return WorkerWatch(
            registry,
            executor_id=executor_id,
            takeover_after=BOUND,
            recover=recover,
            on_takeover=taken_over,
            clock=clock,
        )


def go_silent(registry: SqlWorkerRegistry, executor_id: str, seconds: float) -> None:
    with registry.engine.begin() as connection:
        connection.execute(
            sa.update(WORKERS)
            .where(WORKERS.c.executor_id == executor_id)
            .values(heartbeat_ms=WORKERS.c.heartbeat_ms - int(seconds * 1000))
        )


async def test_a_silent_worker_is_taken_over_once_after_the_watcher_beat_for_a_whole_bound(
    registry: SqlWorkerRegistry,
) -> None:
    clock, recoveries = Clock(), Recoveries()
    dead = recoveries.watch(registry, "dead", clock)
    live = recoveries.watch(registry, "live", clock)
    await dead.register()
    await live.register()
    go_silent(registry, "dead", 10)
    assert await live.tick() == [], "judged others before beating for a whole bound itself"
    clock.now += BOUND / 3
    assert await live.tick() == []
    clock.now += BOUND
    assert await live.tick() == ["dead"]
    assert recoveries.asked == [("live", "dead")]
    assert recoveries.reported == [("dead", ["INC-OF-dead"])]
    assert registry.get("dead") is None
    clock.now += BOUND / 3
    assert await live.tick() == []
    assert len(recoveries.asked) == 1


async def test_of_two_live_watchers_only_one_recovers_a_dead_worker(registry: SqlWorkerRegistry) -> None:
    clock, recoveries = Clock(), Recoveries()
    watches = [recoveries.watch(registry, name, clock) for name in ("dead", "b", "c")]
    for watch in watches:
        await watch.register()
    for watch in watches[1:]:
        await watch.tick()
    clock.now += BOUND
    go_silent(registry, "dead", 10)
    taken = [await watch.tick() for watch in watches[1:]]
    assert sorted(taken) == [[], ["dead"]]
    assert [dead for _, dead in recoveries.asked] == ["dead"]


async def test_a_watcher_that_stalled_gives_the_others_a_bound_to_beat_first(registry: SqlWorkerRegistry) -> None:
    clock, recoveries = Clock(), Recoveries()
    other = recoveries.watch(registry, "other", clock)
    live = recoveries.watch(registry, "live", clock)
    await other.register()
    await live.register()
    await live.tick()
    clock.now += 10 * BOUND  # this process paused (or the database was away) for longer than the bound
    go_silent(registry, "other", 10)
    assert await live.tick() == []
    clock.now += BOUND
    assert await live.tick() == ["other"]


async def test_a_stopped_worker_is_taken_over_at_once(registry: SqlWorkerRegistry) -> None:
    clock, recoveries = Clock(), Recoveries()
    stopping = recoveries.watch(registry, "stopping", clock)
    live = recoveries.watch(registry, "live", clock)
    await stopping.register()
    await live.register()
    await live.tick()
    clock.now += BOUND
    assert await live.tick() == []
    stopping.retire()
    assert await live.tick() == ["stopping"]


async def test_two_workers_sharing_an_executor_id_are_reported(
    registry: SqlWorkerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    clock, recoveries = Clock(), Recoveries()
    first = recoveries.watch(registry, "same", clock)
    second = recoveries.watch(registry, "same", clock)
    await first.register()
    with caplog.at_level(logging.WARNING, logger="handrail.engine.takeover"):
        await second.register()
        assert "give each worker its own engine.executorId" in caplog.text
        caplog.clear()
        await first.tick()
    assert "runs as executor same too: every worker needs its own engine.executorId" in caplog.text
    holder = registry.get("same")
    assert holder is not None
    assert holder.instance == first.instance


async def test_a_worker_taken_for_dead_says_so_and_registers_again(
    registry: SqlWorkerRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    clock, recoveries = Clock(), Recoveries()
    watch = recoveries.watch(registry, "slow", clock)
    await watch.register()
    with registry.engine.begin() as connection:
        connection.execute(sa.delete(WORKERS))  # what a takeover leaves
    with caplog.at_level(logging.ERROR, logger="handrail.engine.takeover"):
        await watch.tick()
    assert "its incidents were taken over" in caplog.text
    assert registry.beat("slow", watch.instance)


async def test_a_worker_takes_over_only_workers_of_its_own_release(registry: SqlWorkerRegistry) -> None:
    clock, recoveries = Clock(), Recoveries()
    old = recoveries.watch(registry, "old", clock)
    new = recoveries.watch(registry, "new", clock)
    old.version, new.version = "v1", "v2"
    await old.register()
    await new.register()
    await old.tick()
    await new.tick()
    go_silent(registry, "old", 10)
    clock.now += BOUND
    assert await new.tick() == []
    assert recoveries.asked == []
    assert registry.get("old") is not None, "left for a worker of its release"


async def test_the_watch_reaches_the_registry_and_recovery_only_through_its_bounded_pool(
    registry: SqlWorkerRegistry,
) -> None:
    clock, threads = Clock(), set[str]()

    class Watched(SqlWorkerRegistry):
        def beat(self, *args: Any, **kwargs: Any) -> bool:
            threads.add(threading.current_thread().name.split("_")[0])
            return super().beat(*args, **kwargs)

        def silent(self, *args: Any, **kwargs: Any) -> list[WorkerRecord]:
            threads.add(threading.current_thread().name.split("_")[0])
            return super().silent(*args, **kwargs)

        def claim(self, *args: Any, **kwargs: Any) -> bool:
            threads.add(threading.current_thread().name.split("_")[0])
            return super().claim(*args, **kwargs)

    watched = Watched(registry.engine)

    def recover(dead: str) -> list[str]:
        threads.add(threading.current_thread().name.split("_")[0])
        return []

    pool = BlockingPool(2, name="watch-pool")
    dead = WorkerWatch(watched, executor_id="dead", takeover_after=BOUND, recover=recover, clock=clock)
    live = WorkerWatch(watched, executor_id="live", takeover_after=BOUND, recover=recover, clock=clock, pool=pool)
    await dead.register()
    threads.clear()
    await live.register()
    go_silent(registry, "dead", 10)
    await live.tick()
    clock.now += BOUND / 3
    await live.tick()
    clock.now += BOUND
    assert await live.tick() == ["dead"]
    assert threads == {"watch-pool"}
    pool.close()
