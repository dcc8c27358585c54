"""The API's event loop never waits on the database: a request stuck behind a row lock holds up nothing else (#14).

`handrail serve` runs every route, the console and the engine on uvicorn's one loop. Here a
second PostgreSQL connection holds `SELECT ... FOR UPDATE` on one incident's row while a request
that must write that row (the reference API's trigger, joining it) waits; the health check, the
incident list, another incident's acknowledgement and another runbook's diagnostics must all be
answered while the lock is still held. With a blocking store call on the loop, none of them is
answered until the lock goes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from support.api_app import api_app, bearer
from support.engine import postgres_database, runbook
from support.servers import serving

HOLD = 10.0
"""The longest the lock is held: the other requests have this long to be answered."""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    for name in ("locked", "other"):
        (runbooks / f"{name}.yaml").write_text(runbook(name, tmp_path))
        (tmp_path / f"{name}.state").write_text("ok\n")
    return runbooks


def _waiting_on_a_lock(url: str) -> bool:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            query = (
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return bool(connection.execute(sa.text(query)).scalar_one())
    finally:
        engine.dispose()


def test_a_request_waiting_on_a_locked_incident_holds_up_no_other_request(tmp_path: Path, folder: Path) -> None:
    with (
        postgres_database("handrail_loop") as url,
        api_app(tmp_path, runbooks=folder, database=url) as (app, state),
        serving(app) as base,
        httpx.Client(base_url=base, timeout=3 * HOLD, headers=bearer("admin")) as client,
    ):
        locked = client.post("/api/v1/incidents", json={"runbookId": "locked"}).json()["incident"]["id"]
        other = client.post("/api/v1/incidents", json={"runbookId": "other"}).json()["incident"]["id"]
        state.service.store.set_assessment(locked, {"diagnosticResults": [], "recommendedActions": []}, [], "healthy")

        finished: list[str] = []
        answers: dict[str, int] = {}
        done = threading.Condition()

        def send(name: str, call: Callable[[], httpx.Response]) -> threading.Thread:
            def run() -> None:
                status = call().status_code
                with done:
                    answers[name] = status
                    finished.append(name)
                    done.notify_all()

            thread = threading.Thread(target=run, name=name)
            thread.start()
            return thread

        holder = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with holder.connect() as lock:
            lock.execute(sa.text("SELECT id FROM handrail_incidents WHERE id = :id FOR UPDATE"), {"id": locked})
            # joins the locked incident: its UPDATE waits for the lock
            threads = [send("locked", lambda: client.post("/api/v1/incidents/trigger", json={"runbookId": "locked"}))]
            deadline = time.monotonic() + HOLD
            while not _waiting_on_a_lock(url):
                assert time.monotonic() < deadline, "the request never reached the lock"
                time.sleep(0.05)
            others = {
                "healthz": lambda: client.get("/healthz"),
                "list": lambda: client.get("/api/v1/incidents"),
                "ack other": lambda: client.post(f"/api/v1/incidents/{other}/ack"),
                "run other": lambda: client.post("/api/v1/runbooks/other/run", json={}),
            }
            threads += [send(name, call) for name, call in others.items()]
            with done:
                done.wait_for(lambda: set(others) <= set(finished), timeout=HOLD)
                answered_under_lock = [name for name in finished if name != "locked"]
            lock.rollback()  # the lock goes
        for thread in threads:
            thread.join(timeout=3 * HOLD)
        holder.dispose()

    assert sorted(answered_under_lock) == sorted(others)
    assert answers == {"locked": 200, "healthz": 200, "list": 200, "ack other": 200, "run other": 200}
    assert finished[-1] == "locked"  # it was waiting all along, and was answered once the lock went
