"""What the engine's workflows run with: `off_loop`, the way their store calls leave the event loop."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from handrail.engine.runtime import STORE_THREADS, off_loop


async def test_a_storm_of_store_calls_runs_on_a_bounded_pool_even_where_the_default_is_unbounded() -> None:
    # DBOS makes the loop's default executor unbounded: a thread per waiting call, more than the store's connections
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=1000))
    loop_thread = threading.get_ident()

    def store_call(number: int) -> tuple[int, int]:
        time.sleep(0.01)
        return number, threading.get_ident()

    results = await asyncio.gather(*(off_loop(store_call, n) for n in range(100)))
    assert [number for number, _ in results] == list(range(100))
    threads = {thread for _, thread in results}
    assert loop_thread not in threads
    assert len(threads) <= STORE_THREADS
