"""`AsyncIncidentStore`: the incident store behind an async interface, for code on an event loop.

`SqlIncidentStore` is synchronous: the DBOS workers call it from their steps, and its transactions
are the unit of the engine's guarantees. Everything on an event loop (the service the API, the
console, Slack and the CLI use) awaits this wrapper instead: each call runs the same method on a
`BlockingPool` thread (handrail/blocking.py), sized to the store's connection pool.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from handrail.blocking import BlockingPool, threads_for
from handrail.store.incidents import SqlIncidentStore
from handrail.store.records import ActionRun, IncidentRecord, IncidentState, NewIncident, TimelineRecord

__all__ = ["AsyncIncidentStore"]


class AsyncIncidentStore:
    """Awaitable reads and writes of incidents; each runs `SqlIncidentStore`'s method on the pool."""

    def __init__(self, store: SqlIncidentStore, *, pool: BlockingPool | None = None) -> None:
        self.sync = store
        """The synchronous store underneath (the DBOS workers' and the composition root's)."""
        self._pool = pool

    @property
    def pool(self) -> BlockingPool:
        """The threads the calls run on: as many as the store's connection pool has connections."""
        if self._pool is None:  # made on first use, so that building a service touches no database
            self._pool = BlockingPool(threads_for(self.sync.engine), name="handrail-store")
        return self._pool

    async def open_or_join(
        self, new: NewIncident, *, on_open: Callable[[sa.Connection], None] | None = None
    ) -> tuple[IncidentRecord, bool]:
        return await self.pool.run(self.sync.open_or_join, new, on_open=on_open)

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
