"""The faults `handrail demo inject` makes happen inside the demo payment service, for real.

- `db-pool-exhaustion`: connections are taken from the service's pool, used once and held idle, until
  the pool is exhausted; requests then wait for a connection and fail. A holder lets go only when its
  session dies (the `kill_idle_connections` remediation terminates it) or the fault is cleared.
- `db-stuck-transactions`: the same, but each held session is inside an open transaction
  (`idle in transaction`), whose termination rolls work back — the runbook asks for approval.
- `error-burst`: a share of payment requests fail with 500 for a while.
- `slow-downstream`: the fraud check the payment service calls answers slowly for a while.
- `cert-expiring`: the service's TLS endpoint starts serving a certificate that expires in two days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["FAULTS", "LEAK_FAULTS", "TIMED_FAULTS", "ConnectionLeak", "FaultState", "LeakedSession"]

logger = logging.getLogger(__name__)

FAULTS: Mapping[str, str] = {
    "db-pool-exhaustion": "idle connections held open until the pool is exhausted",
    "db-stuck-transactions": "connections held idle inside open transactions until the pool is exhausted",
    "error-burst": "half of the payment requests fail with 500 for a while",
    "slow-downstream": "the fraud check answers in 3 s instead of milliseconds for a while",
    "cert-expiring": "the TLS endpoint serves a certificate that expires in 2 days",
}
"""Every fault by name, with what it does."""
LEAK_FAULTS = ("db-pool-exhaustion", "db-stuck-transactions")
"""Faults that hold connections: on while a held session lives."""
TIMED_FAULTS: Mapping[str, float] = {"error-burst": 60.0, "slow-downstream": 60.0}
"""Faults that end by themselves, with their default length in seconds."""

_CHECKOUT_ATTEMPTS = 3
"""A checkout that times out this many times in a row means the pool is exhausted."""


@dataclass(frozen=True, slots=True)
class LeakedSession:
    """One held connection: its PostgreSQL backend pid and what it holds."""

    pid: int
    in_transaction: bool


@dataclass
class ConnectionLeak:
    """Takes connections from the pool and holds them until their sessions die or the leak is cleared."""

    engine: AsyncEngine
    in_transaction: bool
    sessions: dict[int, LeakedSession] = field(default_factory=dict)
    released: int = 0
    """Sessions given back because they died (terminated from outside)."""
    _holders: set[asyncio.Task[None]] = field(default_factory=set)
    _clear: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._leak(), name="connection-leak")

    async def wait_exhausted(self, timeout: float) -> None:
        """Wait until the leak has taken what it can (the pool is exhausted)."""
        if self._task is not None:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)

    async def clear(self) -> None:
        """Give every held connection back (as a fixed bug would)."""
        self._clear.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._holders:
            await asyncio.gather(*self._holders, return_exceptions=True)

    async def _leak(self) -> None:
        misses = 0
        while not self._clear.is_set() and misses < _CHECKOUT_ATTEMPTS:
            try:
                connection = await self.engine.connect()
            except SQLAlchemyError:
                misses += 1  # the pool is exhausted (or the database refused): try a little longer
                continue
            misses = 0
            try:
                pid = await self._hold(connection)
            except SQLAlchemyError:
                await connection.invalidate()
                await connection.close()
                continue
            session = LeakedSession(pid, self.in_transaction)
            self.sessions[pid] = session
            holder = asyncio.create_task(self._keep(connection, session), name=f"leaked-{pid}")
            self._holders.add(holder)
            holder.add_done_callback(self._holders.discard)

    async def _hold(self, connection: AsyncConnection) -> int:
        if not self.in_transaction:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        # a query, then nothing: the session reads `idle` (or `idle in transaction`) from now on
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        return int(pid)

    async def _keep(self, connection: AsyncConnection, session: LeakedSession) -> None:
        """Hold the connection until the server closes it (its backend was terminated) or the leak is cleared."""
        dead = asyncio.Event()
        loop = asyncio.get_running_loop()
        raw = await connection.get_raw_connection()
        socket = raw.driver_connection.pgconn.socket  # type: ignore[union-attr]
        loop.add_reader(socket, dead.set)
        clear = asyncio.create_task(self._clear.wait())
        died = asyncio.create_task(dead.wait())
        try:
            await asyncio.wait({clear, died}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            loop.remove_reader(socket)
            clear.cancel()
            died.cancel()
            if dead.is_set():
                self.released += 1
                self.sessions.pop(session.pid, None)
                await connection.invalidate()  # the pool opens a fresh connection in its place
            elif self.in_transaction:
                with contextlib.suppress(SQLAlchemyError):
                    await connection.rollback()
            with contextlib.suppress(SQLAlchemyError):
                await connection.close()


@dataclass
class FaultState:
    """The faults active in the service right now."""

    until: dict[str, float | None] = field(default_factory=dict)
    """Active fault → when it ends (monotonic seconds), or None when it lasts until cleared."""
    leak: ConnectionLeak | None = None

    def active(self, name: str) -> bool:
        """Whether `name` is on: a timed fault until it ends, a leak while it still holds a session."""
        if name not in self.until:
            return False
        ends = self.until[name]
        over = ends is not None and time.monotonic() >= ends
        if name in LEAK_FAULTS:
            over = self.leak is None or not self.leak.sessions
        if over:
            del self.until[name]
        return not over

    def start(self, name: str, seconds: float | None) -> None:
        self.until[name] = None if seconds is None else time.monotonic() + seconds

    def stop(self, name: str) -> None:
        self.until.pop(name, None)

    def describe(self) -> dict[str, Any]:
        now = time.monotonic()
        left = {name: None if ends is None else round(ends - now, 1) for name, ends in self.until.items()}
        leak = self.leak
        return {
            "active": {name: seconds for name, seconds in left.items() if self.active(name)},
            "leaked": []
            if leak is None
            else [{"pid": s.pid, "inTransaction": s.in_transaction} for s in leak.sessions.values()],
            "released": 0 if leak is None else leak.released,
        }
