"""`BlockingPool`: calls that block (the database, DBOS's client, files) on a bounded set of threads.

`handrail serve` runs the API, the console, Slack and the engine on one event loop (uvicorn's). A
call that blocks on that loop — a query waiting for a row lock, a slow disk — stalls every request
and every incident with it (#14). So whatever blocks is awaited through a pool: its own threads,
as many as the database's connection pool has connections (`threads_for`), so each thread can
always get a connection and the database never sees more clients than it was sized for. When every
thread is busy, further calls wait in the pool's queue, never on the loop.

The pool is not tied to a loop (each call uses the running one), so the CLI can `asyncio.run` one
call after another through the same service. The caller's context variables travel with each call,
as with `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import sqlalchemy as sa

__all__ = ["BlockingPool", "threads_for"]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_THREADS = 15
"""SQLAlchemy's default connection pool: 5 connections and 10 more on overflow."""


def threads_for(engine: sa.Engine) -> int:
    """As many threads as `engine` can hand out connections at once (its pool's size plus overflow)."""
    pool = engine.pool
    if isinstance(pool, sa.pool.QueuePool):
        overflow = int(getattr(pool, "_max_overflow", 10))
        if overflow >= 0:  # -1: unlimited overflow, which a thread pool cannot follow
            return max(1, pool.size() + overflow)
    return DEFAULT_THREADS


class BlockingPool:
    """Runs blocking callables on `threads` worker threads and awaits them; never blocks the event loop."""

    def __init__(self, threads: int = DEFAULT_THREADS, *, name: str = "handrail-blocking") -> None:
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """`function(*args, **kwargs)` on one of the pool's threads; the loop stays free while it runs."""
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)

    def submit(self, function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        """`function(*args, **kwargs)` on one of the pool's threads, from any thread; its future."""
        return self._executor.submit(function, *args, **kwargs)

    def close(self) -> None:
        """Stop taking calls; the ones running finish on their own."""
        self._executor.shutdown(wait=False, cancel_futures=True)
