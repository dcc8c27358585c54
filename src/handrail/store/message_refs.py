"""`SqlMessageRefs`: which chat message tells each incident's story in each channel."""

from __future__ import annotations

import sqlalchemy as sa

from handrail.blocking import BlockingPool, threads_for
from handrail.store.incidents import write_transaction
from handrail.store.schema import MESSAGE_REFS

__all__ = ["SqlMessageRefs"]


class SqlMessageRefs:
    """Slack's `MessageRefs`, in our database, so every worker updates the same message."""

    def __init__(self, engine: sa.Engine, *, pool: BlockingPool | None = None) -> None:
        self._engine = engine
        self._pool = pool or BlockingPool(threads_for(engine), name="handrail-message-refs")
        """The calls block on the database: they run on this pool, never on the event loop (handrail/blocking.py)."""

    async def get(self, incident_id: str, channel: str) -> str | None:
        return await self._pool.run(self._get, incident_id, channel)

    async def put(self, incident_id: str, channel: str, ref: str) -> None:
        await self._pool.run(self._put, incident_id, channel, ref)

    def _get(self, incident_id: str, channel: str) -> str | None:
        with self._engine.connect() as connection:
            value = connection.execute(
                sa.select(MESSAGE_REFS.c.ref).where(
                    MESSAGE_REFS.c.incident_id == incident_id, MESSAGE_REFS.c.channel == channel
                )
            ).scalar_one_or_none()
            return str(value) if value is not None else None

    def _put(self, incident_id: str, channel: str, ref: str) -> None:
        with write_transaction(self._engine) as connection:
            connection.execute(
                sa.delete(MESSAGE_REFS).where(
                    MESSAGE_REFS.c.incident_id == incident_id, MESSAGE_REFS.c.channel == channel
                )
            )
            connection.execute(sa.insert(MESSAGE_REFS).values(incident_id=incident_id, channel=channel, ref=ref))
