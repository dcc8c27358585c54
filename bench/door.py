"""Benchmark the incident service's async door: how reads reach the database from an event loop (#14).

    .venv/bin/python bench/door.py      # needs the local PostgreSQL; prints a Markdown report

Three ways to read an incident by id (the API's commonest call), each by TASKS concurrent tasks on
one event loop, CALLS reads each, after a warm-up, on the local PostgreSQL:

- on the loop: `SqlIncidentStore.get` called directly (what `api/slack.py` and the reference
  trigger did before #14) — the loop is blocked for every query;
- the pool: `AsyncIncidentStore.get`, the same method on a `BlockingPool` of 15 threads (the
  connection pool's 5 + 10), what the service does now;
- an async driver: SQLAlchemy's asyncio engine on psycopg's async connection, the same query.

Besides reads per second and the latency of one read, a ticker task that wants to run every
millisecond records the longest the loop kept it waiting: what `/healthz` would have waited.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from machine import machine
from sqlalchemy.ext.asyncio import create_async_engine

from handrail.store import NewIncident, SqlIncidentStore, create_engine
from handrail.store.async_incidents import AsyncIncidentStore
from handrail.store.schema import INCIDENTS

TASKS = 32
CALLS = 100
WARMUP = 200
ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RUNBOOK = {"id": "bench", "name": "Bench", "severity": "P3", "service": "bench"}


async def measure(read: Callable[[str], Awaitable[Any]], incident_ids: list[str]) -> dict[str, float]:
    for n in range(WARMUP):
        await read(incident_ids[n % len(incident_ids)])
    latencies: list[float] = []
    longest_gap = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal longest_gap
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest_gap = max(longest_gap, now - last)
            last = now

    async def task(index: int) -> None:
        for n in range(CALLS):
            started = time.perf_counter()
            await read(incident_ids[(index * CALLS + n) % len(incident_ids)])
            latencies.append(time.perf_counter() - started)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    await asyncio.gather(*(task(i) for i in range(TASKS)))
    wall = time.perf_counter() - started
    stop.set()
    await ticking
    latencies.sort()
    return {
        "per_second": TASKS * CALLS / wall,
        "p50": statistics.median(latencies),
        "p99": latencies[int(len(latencies) * 0.99)],
        "gap": longest_gap,
    }


async def run(url: str) -> list[tuple[str, dict[str, float]]]:
    store = SqlIncidentStore(create_engine(url))
    store.migrate()
    ids = []
    for n in range(100):
        incident_id = f"INC-{n:012X}"
        store.open_or_join(NewIncident(incident_id, RUNBOOK, f"bench|{n}", "manual", "bench", {}, {}, dry_run=False))
        ids.append(incident_id)

    async def on_loop(incident_id: str) -> Any:
        return store.get(incident_id)

    pooled = AsyncIncidentStore(store)
    driver = create_async_engine(url.replace("postgresql://", "postgresql+psycopg://"))

    async def async_driver(incident_id: str) -> Any:
        async with driver.connect() as connection:
            result = await connection.execute(sa.select(INCIDENTS).where(INCIDENTS.c.id == incident_id))
            return result.mappings().first()

    results = [
        ("sync store on the loop (before #14)", await measure(on_loop, ids)),
        (f"**BlockingPool, {pooled.pool.threads} threads (now)**", await measure(pooled.get, ids)),
        ("SQLAlchemy asyncio + psycopg async", await measure(async_driver, ids)),
    ]
    await driver.dispose()
    pooled.pool.close()
    store.engine.dispose()
    return results


def main() -> None:
    name = f"handrail_bench_door_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        results = asyncio.run(run(f"postgresql://postgres@127.0.0.1:5432/{name}"))
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print(f"Machine: {machine()}\n")
    print(f"{TASKS} tasks × {CALLS} reads of one incident by id, PostgreSQL on localhost:\n")
    print("| how | reads/s | p50 | p99 | longest the loop kept a 1 ms ticker waiting |")
    print("| --- | --- | --- | --- | --- |")
    for what, r in results:
        print(
            f"| {what} | {r['per_second']:.0f} | {r['p50'] * 1e3:.2f} ms | {r['p99'] * 1e3:.2f} ms "
            f"| {r['gap'] * 1e3:.1f} ms |"
        )


if __name__ == "__main__":
    main()
