"""Riding out a database restart: a store call that lost its connection waits for the database and runs again.

PostgreSQL restarted (or failed over) ends every session: a statement in flight fails, and new
connections are refused until the server is back. Each store method is one or a few transactions,
each rolled back when its connection dies, so running the method again is safe. DBOS does the same
for its own tables (and waits forever); a store waits `reconnect_within` seconds (None: forever).

The one case a client cannot tell apart: the connection dies after the server committed but before
it answered. The method then runs again over its own committed write: at worst a timeline event is
written twice, or an action claim is found taken and the action is not run (the safe side).

Only connection-level failures are retried: refused or dropped connections, the server shutting down
or starting up (SQLSTATE classes 08 and 57, except 57014, a cancelled statement) and deadlocks. A
wrong statement or a constraint violation fails at once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar

import sqlalchemy as sa

__all__ = ["is_disconnect", "reconnecting"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
_FIRST_PAUSE = 0.1
_LONGEST_PAUSE = 2.0


class _Reconnecting(Protocol):
    reconnect_within: float | None


def is_disconnect(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached, not that the statement was wrong."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return False
    sqlstate: str | None = getattr(exc.orig, "sqlstate", None)
    if sqlstate is None:
        # no SQLSTATE: the driver never reached a server (refused, reset, timed out); SQLite's errors
        # carry none either, and are never about a connection
        return exc.orig.__class__.__module__.startswith("psycopg")
    return sqlstate.startswith("08") or (sqlstate.startswith("57") and sqlstate != "57014") or sqlstate == "40P01"


def reconnecting(method: Callable[P, R]) -> Callable[P, R]:
    """Run a store method again, with growing pauses, while the database is unreachable."""

    @functools.wraps(method)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        store: _Reconnecting = args[0]  # type: ignore[assignment]
        started = time.monotonic()
        pause = _FIRST_PAUSE
        while True:
            try:
                return method(*args, **kwargs)
            except sa.exc.DBAPIError as exc:
                budget = store.reconnect_within
                waited = time.monotonic() - started
                if not is_disconnect(exc) or (budget is not None and waited + pause > budget):
                    raise
                if pause == _FIRST_PAUSE:
                    logger.warning("the database is unreachable (%s); waiting for it", _reason(exc))
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)

    return run


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's error class and SQLSTATE: never its message, which may quote a connection string."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return type(exc.orig).__name__ + (f", SQLSTATE {sqlstate}" if sqlstate else "")
