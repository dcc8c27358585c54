"""`SqlConsoleSessions`: which console sessions are live, so that logging out ends one everywhere.

A session cookie is signed, but a signature alone cannot be taken back: a copy made before logging
out would go on working until it expired. So each session also has a row here, found by the SHA-256
of the random id in its cookie; logging out deletes the row, and a cookie whose row is gone is no
session. The calls are awaited: each runs on the `BlockingPool` it was given (handrail/blocking.py,
the incident service's), never on the event loop.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa

from handrail.blocking import BlockingPool
from handrail.store.incidents import write_transaction
from handrail.store.reconnect import reconnecting
from handrail.store.schema import CONSOLE_SESSIONS

__all__ = ["SqlConsoleSessions"]


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SqlConsoleSessions:
    """Live console sessions in our database, shared by every API process on it."""

    def __init__(self, engine: sa.Engine, *, pool: BlockingPool, reconnect_within: float | None = 15.0) -> None:
        self._engine = engine
        self._pool = pool
        self.reconnect_within = reconnect_within
        """Seconds a call waits for an unreachable database before it fails (None: forever); store/reconnect.py."""

    async def start(self, session_id: str, *, name: str, now: datetime, expires_at: datetime) -> None:
        """Record a new session (and forget the ones that have expired)."""
        await self._pool.run(self._start, session_id, name=name, now=now, expires_at=expires_at)

    async def is_live(self, session_id: str, *, now: datetime) -> bool:
        """Whether the session was started, has not ended and has not expired."""
        return await self._pool.run(self._is_live, session_id, now=now)

    async def end(self, session_id: str) -> None:
        """End the session: every copy of its cookie stops working."""
        await self._pool.run(self._end, session_id)

    @reconnecting
    def _start(self, session_id: str, *, name: str, now: datetime, expires_at: datetime) -> None:
        with write_transaction(self._engine) as connection:
            connection.execute(sa.delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.expires_at < now))
            connection.execute(
                sa.insert(CONSOLE_SESSIONS).values(
                    id_sha256=_key(session_id), name=name, created_at=now, expires_at=expires_at
                )
            )

    @reconnecting
    def _is_live(self, session_id: str, *, now: datetime) -> bool:
        with self._engine.connect() as connection:
            expires_at = connection.execute(
                sa.select(CONSOLE_SESSIONS.c.expires_at).where(CONSOLE_SESSIONS.c.id_sha256 == _key(session_id))
            ).scalar_one_or_none()
        return expires_at is not None and expires_at > now

    @reconnecting
    def _end(self, session_id: str) -> None:
        with write_transaction(self._engine) as connection:
            connection.execute(sa.delete(CONSOLE_SESSIONS).where(CONSOLE_SESSIONS.c.id_sha256 == _key(session_id)))
