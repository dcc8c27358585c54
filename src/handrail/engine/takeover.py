"""A worker's heartbeat, and the takeover of the incidents of a worker that fell silent.

DBOS tags every workflow with the executor that runs it and, without its Conductor service, only
recovers an executor's pending workflows when a process with the same executor id starts again.
So each worker beats on its row in `handrail_workers` every third of `engine.takeoverAfterSeconds`,
and looks for rows silent for longer than that. It claims such a row (one conditional UPDATE: one
claimant wins), asks DBOS to recover that executor's pending workflows — DBOS puts them back on
their queue, where any live worker dequeues them and replays them from their last checkpoint — and
deletes the row. A step that had completed is not run again; an action that had started is never
started again (its run is found `running` and becomes `outcome_unknown`, see engine/incident.py).

A worker only judges others after it has itself beaten without a gap for a whole bound: after a
database outage, or a pause of its own, every worker gets a chance to beat again first. It only
takes over workers of its own DBOS application version (its release): DBOS replays only those.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from handrail.blocking import BlockingPool
from handrail.store.workers import SqlWorkerRegistry, WorkerRecord

__all__ = ["WorkerWatch"]

logger = logging.getLogger(__name__)

Recover = Callable[[str], Sequence[str]]
"""Recover the pending workflows of a dead executor; the ids of the workflows it found."""
TakenOver = Callable[[WorkerRecord, Sequence[str]], None]


class WorkerWatch:
    """Registers this worker, beats for it, and takes over silent workers until cancelled."""

    def __init__(
        self,
        registry: SqlWorkerRegistry,
        *,
        executor_id: str,
        takeover_after: float,
        recover: Recover,
        on_takeover: TakenOver = lambda worker, workflow_ids: None,
        clock: Callable[[], float] = time.monotonic,
        pool: BlockingPool | None = None,
    ) -> None:
        self.registry = registry
        # its own bounded threads, not the loop's default pool: DBOS's shutdown closes that one (#14)
        self._own_pool = pool is None
        self._pool = pool or BlockingPool(2, name="handrail-watch")
        self.executor_id = executor_id
        self.instance = uuid.uuid4().hex
        self.takeover_after = takeover_after
        self.interval = takeover_after / 3
        self._takeover_ms = int(takeover_after * 1000)
        self._recover = recover
        self._on_takeover = on_takeover
        self._clock = clock
        self.version: str | None = None
        """The DBOS application version this worker runs, once DBOS has started; it takes over only its own."""
        self._healthy_since: float | None = None
        self._last_beat: float | None = None

    async def register(self) -> None:
        """Hold this executor's row before DBOS starts (waits while another worker is taking it over)."""
        deadline = self._clock() + 3 * self.takeover_after
        while True:
            registration = await self._pool.run(
                self.registry.register,
                self.executor_id,
                instance=self.instance,
                host=socket.gethostname(),
                pid=os.getpid(),
                takeover_ms=self._takeover_ms,
            )
            if registration.registered:
                previous = registration.previous
                if previous is not None and previous.silent_ms < self._takeover_ms:
                    logger.warning(
                        "executor %s beat %.1f s ago from %s (pid %d): if that worker is still running, give each"
                        " worker its own engine.executorId",
                        self.executor_id,
                        previous.silent_ms / 1000,
                        previous.host,
                        previous.pid,
                    )
                return
            if self._clock() > deadline:
                raise RuntimeError(f"executor {self.executor_id} is being taken over by another worker; try again")
            await asyncio.sleep(0.2)

    async def run(self) -> None:
        """Beat, and take over silent workers, every `interval` seconds until cancelled."""
        while True:
            try:
                await self.tick()
            except sa.exc.SQLAlchemyError as exc:
                self._healthy_since = None
                logger.warning("worker heartbeat failed (the database?): %s", type(exc).__name__)
            except Exception:  # the heartbeat must outlive any one failure, or live workers get taken over
                self._healthy_since = None
                logger.exception("worker heartbeat failed")
            await asyncio.sleep(self.interval)

    async def tick(self) -> list[str]:
        """One beat, then the takeover of every worker silent too long; the executor ids taken over."""
        alive = await self._pool.run(self.registry.beat, self.executor_id, self.instance, version=self.version)
        now = self._clock()
        stalled = self._last_beat is not None and now - self._last_beat > self.takeover_after
        if self._healthy_since is None or stalled:
            self._healthy_since = now
        self._last_beat = now
        if not alive:
            await self._lost()
            return []
        if now - self._healthy_since < self.takeover_after:
            return []
        taken: list[str] = []
        silent = await self._pool.run(
            self.registry.silent, self._takeover_ms, besides=self.executor_id, version=self.version
        )
        for worker in silent:
            if await self._take_over(worker):
                taken.append(worker.executor_id)
        return taken

    def retire(self) -> None:
        """Stopping on purpose: let another worker take over this one's incidents now, not after the bound.

        Synchronous: it runs after DBOS has stopped, and DBOS's shutdown takes the event loop's thread pool.
        """
        try:
            self.registry.retire(self.executor_id, self.instance)
        except sa.exc.SQLAlchemyError as exc:
            logger.warning("could not hand over on stop (the database?): %s", type(exc).__name__)
        if self._own_pool:
            self._pool.close()

    async def _take_over(self, worker: WorkerRecord) -> bool:
        claimed = await self._pool.run(
            self.registry.claim, worker.executor_id, by=self.executor_id, takeover_ms=self._takeover_ms
        )
        if not claimed:
            return False  # another worker was quicker, or the silent one came back
        workflow_ids = await self._pool.run(self._recover, worker.executor_id)
        await self._pool.run(self.registry.release, worker.executor_id, by=self.executor_id)
        logger.warning(
            "worker %s (%s, pid %d) %s: %s took over its %d pending workflows",
            worker.executor_id,
            worker.host,
            worker.pid,
            "stopped" if worker.retired else f"was silent for {worker.silent_ms / 1000:.1f} s",
            self.executor_id,
            len(workflow_ids),
        )
        await self._pool.run(self._on_takeover, worker, workflow_ids)
        return True

    async def _lost(self) -> None:
        """Our row is gone (we were presumed dead and taken over) or another process holds it (a shared id)."""
        holder = await self._pool.run(self.registry.get, self.executor_id)
        if holder is None:
            logger.error(
                "this worker (%s) was silent too long and its incidents were taken over; it carries on, and DBOS"
                " stops any workflow it was still running at its next checkpoint",
                self.executor_id,
            )
        else:
            logger.error(
                "another worker (%s, pid %d) runs as executor %s too: every worker needs its own engine.executorId",
                holder.host,
                holder.pid,
                self.executor_id,
            )
        self._healthy_since = None
        await self.register()
