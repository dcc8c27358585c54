"""`AsyncIncidentStore`: the incident store behind an async interface, for code on an event loop.

`SqlIncidentStore` is synchronous: the DBOS workers call it from their steps, and its transactions
are the unit of the engine's guarantees. Everything on an event loop (the service the API, the
console, Slack and the CLI use) awaits this wrapper instead: each call runs the same method on a
`BlockingPool` thread (handrail/blocking.py), sized to the store's connection pool.

Opens and joins arriving together share one write transaction (`_GroupCommit`): during an alert
storm every Alertmanager webhook is a join, and each used to wait for its own commit in turn.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from handrail.blocking import BlockingPool, threads_for
from handrail.store.incidents import SqlIncidentStore
from handrail.store.records import ActionRun, IncidentRecord, IncidentState, NewIncident, TimelineRecord

__all__ = ["GROUP_COMMIT_LIMIT", "AsyncIncidentStore"]

GROUP_COMMIT_LIMIT = 64
"""The most opens and joins one transaction carries."""

OpenOrJoin = tuple[NewIncident, Callable[[sa.Connection], None] | None]
Opened = tuple[IncidentRecord, bool]


class _GroupCommit:
    """Opens and joins that arrive while one transaction runs go together in the next (group commit).

    One drainer at a time, on a pool thread, takes whatever waits (up to GROUP_COMMIT_LIMIT) into
    `open_or_join_many`; an item that must be tried again, or a batch that failed, goes through
    `open_or_join` on its own, so each caller sees exactly what a call of its own would have given.
    Thread-safe: services are shared by event loops in several threads (the CLI, tests).
    """

    def __init__(self, store: SqlIncidentStore, pool: Callable[[], BlockingPool]) -> None:
        self._store = store
        self._pool = pool
        self._lock = threading.Lock()
        self._waiting: list[tuple[OpenOrJoin, Future[Opened]]] = []
        self._draining = False

    def submit(self, item: OpenOrJoin) -> Future[Opened]:
        future: Future[Opened] = Future()
        with self._lock:
            self._waiting.append((item, future))
            start, self._draining = not self._draining, True
        if start:
            try:
                self._pool().submit(self._drain)
            except RuntimeError as exc:  # the pool was closed: nothing waiting will be drained
                with self._lock:
                    stranded, self._waiting, self._draining = self._waiting, [], False
                for _, waiting in stranded:
                    _settle(waiting, exc)
        return future

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch, self._waiting = self._waiting[:GROUP_COMMIT_LIMIT], self._waiting[GROUP_COMMIT_LIMIT:]
                if not batch:
                    self._draining = False
                    return
            results: list[Opened | None]
            try:
                results = self._store.open_or_join_many([item for item, _ in batch])
            except Exception:
                results = [None] * len(batch)  # none of it happened: each on its own, with its own error
            for (item, future), result in zip(batch, results, strict=True):
                try:
                    _settle(
                        future, result if result is not None else self._store.open_or_join(item[0], on_open=item[1])
                    )
                except Exception as exc:
                    _settle(future, exc)


def _settle(future: Future[Opened], outcome: Opened | BaseException) -> None:
    try:
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    except InvalidStateError:  # the caller stopped waiting; what was written stays written
        pass


class AsyncIncidentStore:
    """Awaitable reads and writes of incidents; each runs `SqlIncidentStore`'s method on the pool."""

    def __init__(self, store: SqlIncidentStore, *, pool: BlockingPool | None = None) -> None:
        self.sync = store
        """The synchronous store underneath (the DBOS workers' and the composition root's)."""
        self._pool = pool
        self._group = _GroupCommit(store, lambda: self.pool)

    @property
    def pool(self) -> BlockingPool:
        """The threads the calls run on: as many as the store's connection pool has connections."""
        if self._pool is None:  # made on first use, so that building a service touches no database
            self._pool = BlockingPool(threads_for(self.sync.engine), name="handrail-store")
        return self._pool

    async def open_or_join(
        self, new: NewIncident, *, on_open: Callable[[sa.Connection], None] | None = None
    ) -> tuple[IncidentRecord, bool]:
        """Open `new` or join the open incident with its dedup key, in a transaction shared with any that arrive
        at the same time (`SqlIncidentStore.open_or_join_many`)."""
        return await asyncio.wrap_future(self._group.submit((new, on_open)))

    async def find_open_by_dedup_key(self, dedup_key: str) -> IncidentRecord | None:
        return await self.pool.run(self.sync.find_open_by_dedup_key, dedup_key)

    async def get(self, incident_id: str) -> IncidentRecord | None:
        return await self.pool.run(self.sync.get, incident_id)

    async def find(
        self,
        *,
        states: Sequence[str] = (),
        open_only: bool = False,
        runbook_id: str | None = None,
        created_after: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[IncidentRecord]:
        return await self.pool.run(
            self.sync.find,
            states=states,
            open_only=open_only,
            runbook_id=runbook_id,
            created_after=created_after,
            limit=limit,
            offset=offset,
        )

    async def transition(
        self, incident_id: str, state: IncidentState, message: str, *, actor: str | None = None
    ) -> IncidentRecord | None:
        return await self.pool.run(self.sync.transition, incident_id, state, message, actor=actor)

    async def acknowledge(self, incident_id: str, actor: str) -> bool:
        return await self.pool.run(self.sync.acknowledge, incident_id, actor)

    async def record(
        self,
        incident_id: str,
        kind: str,
        message: str,
        *,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        await self.pool.run(self.sync.record, incident_id, kind, message, actor=actor, data=data)

    async def timeline(self, incident_id: str) -> list[TimelineRecord]:
        return await self.pool.run(self.sync.timeline, incident_id)

    async def last_event_id(self, incident_id: str) -> int:
        return await self.pool.run(self.sync.last_event_id, incident_id)

    async def action_runs(self, incident_id: str) -> list[ActionRun]:
        return await self.pool.run(self.sync.action_runs, incident_id)

    async def story(self, incident_id: str) -> tuple[IncidentRecord, list[TimelineRecord], list[ActionRun]] | None:
        """The record, its timeline and its action runs in one trip to the pool (None: no such incident)."""
        return await self.pool.run(self._story, incident_id)

    def _story(self, incident_id: str) -> tuple[IncidentRecord, list[TimelineRecord], list[ActionRun]] | None:
        record = self.sync.get(incident_id)
        if record is None:
            return None
        return record, self.sync.timeline(incident_id), self.sync.action_runs(incident_id)

    async def ping(self) -> None:
        """One `SELECT 1`: the database answers (raises SQLAlchemy's error when it does not)."""
        await self.pool.run(self._ping)

    def _ping(self) -> None:
        with self.sync.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
