"""Benchmark what live console sessions cost: the session lookup every console request now makes.

    .venv/bin/python bench/console_sessions.py      # prints a Markdown report

Logging out ends a session for every copy of its cookie because each request looks its session up
in the database (store/sessions.py, docs/security.md). This measures that lookup alone
(`SqlConsoleSessions.is_live`, LOOKUPS timed after WARMUP, on SQLite in a temp dir and on the local
PostgreSQL when one answers), and the console request it is part of most often: the open incident
page's poll, `GET /incidents/{id}/version`, POLLS timed in process (FastAPI's TestClient, SQLite),
with a logged-in session cookie.
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from machine import machine

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from handrail.blocking import BlockingPool
from handrail.store import SqlIncidentStore, create_engine
from handrail.store.sessions import SqlConsoleSessions
from support.api import TOKENS, api_client

WARMUP = 200
LOOKUPS = 5_000
POLLS = 1_000
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def timed(call: Callable[[], object], count: int) -> list[float]:
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def row(what: str, times: list[float]) -> str:
    ordered = sorted(times)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    mean = statistics.mean(times)
    return f"| {what} | {len(times)} | {mean * 1e6:.0f} µs | {p50 * 1e6:.0f} µs | {p99 * 1e6:.0f} µs |"


def lookups(url: str) -> list[float]:
    store = SqlIncidentStore(create_engine(url))
    store.migrate()
    sessions = SqlConsoleSessions(store.engine, pool=BlockingPool(1))
    now = datetime.now(UTC)
    for i in range(1_000):  # a table with other people's sessions in it
        sessions._start(f"other-{i}", name=f"person-{i}", now=now, expires_at=now + timedelta(hours=12))
    sessions._start("mine", name="alice", now=now, expires_at=now + timedelta(hours=12))
    try:  # the lookup itself, as the pool's thread runs it (bench/door.py measures the pool)
        return timed(lambda: sessions._is_live("mine", now=now), LOOKUPS)
    finally:
        store.engine.dispose()


def postgres() -> list[float] | None:
    name = f"handrail_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES.format(name="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        return None
    try:
        return lookups(POSTGRES.format(name=name))
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def polls(root: Path) -> list[float]:
    examples = Path(__file__).parents[1] / "examples" / "runbooks"
    with api_client(root, runbooks=examples) as client:
        body = {"runbookId": "bad-deploy", "context": {"labels": {}}}
        headers = {"Authorization": f"Bearer {TOKENS['responder']}"}
        incident_id = client.post("/api/v1/incidents", json=body, headers=headers).json()["incident"]["id"]
        client.post("/login", data={"token": TOKENS["viewer"]}, follow_redirects=False)
        assert re.search(r"csrf-token", client.get("/").text)
        path = f"/incidents/{incident_id}/version"
        return timed(lambda: client.get(path).raise_for_status(), POLLS)


def main() -> None:
    print(f"Machine: {machine()}\n")
    print("| what | timed | mean | p50 | p99 |\n| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        print(row("session lookup, SQLite (1,001 live sessions)", lookups(f"sqlite:///{folder}/s.db")))
        found = postgres()
        if found is not None:
            print(row("session lookup, PostgreSQL (1,001 live sessions)", found))
        print(row("`GET /incidents/{id}/version` with a session, in process, SQLite", polls(Path(folder))))


if __name__ == "__main__":
    main()
