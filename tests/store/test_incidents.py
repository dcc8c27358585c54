from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from handrail.redaction import register_secrets, register_urls
from handrail.store import ActionStatus, IncidentState, NewIncident, SqlIncidentStore, create_engine
from handrail.store.async_incidents import AsyncIncidentStore
from handrail.store.incidents import plain_json, write_transaction
from support.engine import postgres_database

RUNBOOK = {"id": "r", "name": "R", "severity": "P2", "service": "svc"}


@pytest.fixture
def store(tmp_path: Path) -> SqlIncidentStore:
    store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 's.db'}"))
    store.migrate()
    return store


def new(incident_id: str, key: str = "k") -> NewIncident:
    return NewIncident(incident_id, RUNBOOK, key, "manual", "tester", {"pod": "a"}, {}, False)


def test_migrations_are_idempotent_and_recorded(store: SqlIncidentStore) -> None:
    store.migrate()
    with store.engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version_num FROM handrail_alembic_version")).scalar_one()
    assert version == "0007"


def test_processes_starting_together_on_an_empty_postgres_database_all_migrate_it() -> None:
    with postgres_database("handrail_migrate") as url:
        stores = [SqlIncidentStore(create_engine(url)) for _ in range(4)]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda store: store.migrate(), stores))
        with stores[0].engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM handrail_alembic_version")).scalar_one()
        for store in stores:
            store.engine.dispose()
    assert version == "0007"


def test_a_database_from_an_older_version_upgrades_in_place(tmp_path: Path) -> None:
    old = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 'old.db'}"))
    old.migrate("0001")
    with old.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO handrail_incidents (id, runbook_id, title, severity, service, runbook, state, is_open,"
                " dedup_key, trigger_type, triggered_by, labels, annotations, dry_run, plan, escalated, created_at,"
                " updated_at, joins) VALUES ('INC-OLD', 'r', 'R', 'P2', 'svc', '{}', 'resolved', 0, 'k', 'manual',"
                " 'me', '{}', '{}', 0, '[]', 0, '2025-01-01 00:00:00', '2025-01-01 00:00:00', 0)"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO handrail_action_runs (key, incident_id, remediation_id, attempt, action_type, description,"
                " status, created_at) VALUES ('INC-OLD:fix:1', 'INC-OLD', 'fix', 1, 'run_script', 'echo', 'succeeded',"
                " '2025-01-01 00:00:00')"
            )
        )
    old.migrate()
    run = old.action_run("INC-OLD:fix:1")
    assert (run.status, run.target, run.approved_by) == (ActionStatus.SUCCEEDED, "", None)
    record = old.get("INC-OLD")
    assert record is not None
    assert record.state is IncidentState.RESOLVED


def test_open_then_join_then_reopen_after_close(store: SqlIncidentStore) -> None:
    first, opened = store.open_or_join(new("INC-1"))
    assert opened
    joined, opened_again = store.open_or_join(new("INC-2"))
    assert (joined.id, opened_again, joined.joins) == ("INC-1", False, 1)
    store.transition("INC-1", IncidentState.RESOLVED, "done")
    reopened, opened_third = store.open_or_join(new("INC-3"))
    assert (reopened.id, opened_third) == ("INC-3", True)
    assert first.created_at.tzinfo is UTC


def test_opening_and_joining_each_take_one_write_transaction(any_store: SqlIncidentStore) -> None:
    # Alertmanager repeats a firing alert every group interval: each repeat is a join (#14)
    commits: list[int] = []
    sa.event.listen(any_store.engine, "commit", lambda connection: commits.append(1))
    any_store.open_or_join(new("INC-1"))
    assert len(commits) == 1
    joined, opened = any_store.open_or_join(new("INC-2"))
    assert (joined.id, opened, joined.joins) == ("INC-1", False, 1)
    assert len(commits) == 2
    assert [e.kind for e in any_store.timeline("INC-1")] == ["triggered", "joined"]


def test_triggers_racing_on_one_key_open_one_incident_and_join_it(any_store: SqlIncidentStore) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: any_store.open_or_join(new(f"INC-{n}")), range(24)))
    opened = [record.id for record, was_opened in results if was_opened]
    assert len(opened) == 1
    assert {record.id for record, _ in results} == set(opened)
    record = any_store.get(opened[0])
    assert record is not None
    assert record.joins == 23
    assert len(any_store.timeline(opened[0])) == 24


def test_closed_incidents_refuse_transitions(store: SqlIncidentStore) -> None:
    store.open_or_join(new("INC-1"))
    assert store.transition("INC-1", IncidentState.CANCELLED, "stop") is not None
    assert store.transition("INC-1", IncidentState.REMEDIATING, "late") is None
    record = store.get("INC-1")
    assert record is not None
    assert record.state is IncidentState.CANCELLED
    assert record.closed_at is not None


def test_first_acknowledgement_wins(store: SqlIncidentStore) -> None:
    store.open_or_join(new("INC-1"))
    assert store.acknowledge("INC-1", "ann")
    assert store.acknowledge("INC-1", "ben")
    record = store.get("INC-1")
    assert record is not None
    assert record.acknowledged_by == "ann"
    assert [e.message for e in store.timeline("INC-1") if e.kind == "ack"] == [
        "acknowledged by ann",
        "ben acknowledged again",
    ]
    assert not store.acknowledge("INC-404", "ann")


def test_an_action_is_claimed_once(store: SqlIncidentStore) -> None:
    store.open_or_join(new("INC-1"))
    first = store.record_intent(
        "INC-1:fix:1",
        incident_id="INC-1",
        remediation_id="fix",
        attempt=1,
        action_type="run_script",
        description="echo",
    )
    again = store.record_intent(
        "INC-1:fix:1",
        incident_id="INC-1",
        remediation_id="fix",
        attempt=1,
        action_type="run_script",
        description="changed",
    )
    assert first.status is again.status is ActionStatus.PENDING
    assert again.description == "echo"
    rails = {"service": "svc", "cooldown": 0, "rate_window": 60, "rate_limit": 0}
    assert store.claim_with_rails("INC-1:fix:1", **rails) is None
    assert store.claim_with_rails("INC-1:fix:1", **rails) == "already running"
    done = store.finish_action("INC-1:fix:1", ActionStatus.SUCCEEDED, "exit 0", "x" * 100_000)
    assert done.status is ActionStatus.SUCCEEDED
    assert len(done.output or "") == 65536


def test_naive_datetimes_are_refused() -> None:
    store = SqlIncidentStore(create_engine("sqlite://"), clock=lambda: datetime(2026, 1, 1))
    store.migrate()
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.open_or_join(new("INC-1"))


def test_timeline_data_is_plain_json() -> None:
    assert plain_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": datetime(2026, 1, 1, tzinfo=UTC)}) == {
        "a": None,
        "b": [None, 1.5],
        "c": "2026-01-01 00:00:00+00:00",
    }


def test_last_event_id_is_the_newest_timeline_event() -> None:
    store = SqlIncidentStore(create_engine("sqlite://"))
    store.migrate()
    assert store.last_event_id("INC-1") == 0
    store.open_or_join(new("INC-1"))
    store.record("INC-1", "note", "one")
    assert store.last_event_id("INC-1") == store.timeline("INC-1")[-1].id


def test_no_registered_secret_reaches_the_timeline_or_action_runs(store: SqlIncidentStore) -> None:
    secret = "st0re-" + uuid.uuid4().hex
    url = f"https://hooks.example.com/hook/{secret}"
    register_secrets([secret])
    register_urls([url])
    store.open_or_join(new("INC-1"))
    store.record("INC-1", "notification", f"POST {url}: 404 for /hook/{secret}", data={"echo": [secret]})
    store.record_intent(
        "INC-1:tell:1",
        incident_id="INC-1",
        remediation_id="tell",
        attempt=1,
        action_type="notify",
        description=f"notify {secret}",
    )
    store.finish_action("INC-1:tell:1", ActionStatus.FAILED, f"refused {secret}", f"output {secret}")

    event = store.timeline("INC-1")[-1]
    run = store.action_run("INC-1:tell:1")
    assert event.message == "POST https://hooks.example.com: 404 for /hook/***"
    assert event.data == {"echo": ["***"]}
    assert (run.description, run.message, run.output) == ("notify ***", "refused ***", "output ***")
    with store.engine.connect() as connection:
        rows = [
            repr(row)
            for table in ("handrail_timeline", "handrail_action_runs")
            for row in connection.execute(sa.text(f"SELECT * FROM {table}"))
        ]
    assert len(rows) == 3
    assert [row for row in rows if secret in row] == []


def test_sqlite_write_transactions_take_turns_in_the_process(tmp_path: Path) -> None:
    # left to SQLite, concurrent writers sleep in its busy handler (1 … 100 ms a try): a burst of joins
    # spent most of its time there (#14); in the process they queue on a lock instead
    engine = create_engine(f"sqlite:///{tmp_path / 'turns.db'}")
    first_in, first_may_leave, second_in = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with write_transaction(engine):
            first_in.set()
            first_may_leave.wait(10)

    def second() -> None:
        first_in.wait(10)
        with write_transaction(engine):
            second_in.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_in.wait(10)
    assert not second_in.wait(0.3)  # the second writer waits for the first
    first_may_leave.set()
    assert second_in.wait(10)
    for thread in threads:
        thread.join(10)
    engine.dispose()


def test_concurrent_joins_on_sqlite_all_land_once(tmp_path: Path) -> None:
    store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 'joins.db'}"))
    store.migrate()
    runbook = {"id": "rb", "name": "Rb", "severity": "P2", "service": "svc"}

    def join(n: int) -> bool:
        new = NewIncident(f"INC-{n:012d}", runbook, "one-key", "alert", "am", {"n": str(n)}, {}, False)
        return store.open_or_join(new)[1]

    with ThreadPoolExecutor(8) as pool:
        opened = list(pool.map(join, range(200)))
    assert opened.count(True) == 1
    record = store.find_open_by_dedup_key("one-key")
    assert record is not None
    assert record.joins == 199
    store.engine.dispose()


async def test_opens_and_joins_arriving_together_share_a_transaction(tmp_path: Path) -> None:
    # group commit: a burst of Alertmanager joins costs a commit per batch, not one each (#14)
    store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 'group.db'}"))
    store.migrate()
    commits: list[int] = []
    sa.event.listen(store.engine, "commit", lambda _: commits.append(1))
    runbook = {"id": "rb", "name": "Rb", "severity": "P2", "service": "svc"}
    opened_in_transaction: list[str] = []
    front = AsyncIncidentStore(store)

    def new(n: int, key: str) -> NewIncident:
        return NewIncident(f"INC-{n:012d}", runbook, key, "alert", "am", {"n": str(n)}, {}, False)

    def note(connection: sa.Connection) -> None:
        assert connection.in_transaction()
        opened_in_transaction.append("opened")

    results = await asyncio.gather(*(front.open_or_join(new(n, f"key-{n % 4}"), on_open=note) for n in range(100)))
    assert sum(opened for _, opened in results) == 4  # one per key, whatever the batches
    assert opened_in_transaction == ["opened"] * 4
    assert len(commits) < 100  # shared: fewer commits than calls
    for key in range(4):
        record = store.find_open_by_dedup_key(f"key-{key}")
        assert record is not None
        assert record.joins == 24
    assert {record.id for record, _ in results if record.dedup_key == "key-0"} == {
        store.find_open_by_dedup_key("key-0").id  # type: ignore[union-attr]
    }
    front.pool.close()
    store.engine.dispose()


async def test_a_failing_open_fails_alone_when_it_shared_a_transaction(tmp_path: Path) -> None:
    store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 'fail.db'}"))
    store.migrate()
    runbook = {"id": "rb", "name": "Rb", "severity": "P2", "service": "svc"}
    front = AsyncIncidentStore(store)

    def refuse(_: sa.Connection) -> None:
        raise RuntimeError("the queue refused")

    calls = [
        front.open_or_join(
            NewIncident(f"INC-{n:012d}", runbook, f"key-{n}", "alert", "am", {}, {}, False),
            on_open=refuse if n == 3 else None,
        )
        for n in range(20)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    failed = [n for n, result in enumerate(results) if isinstance(result, Exception)]
    assert failed == [3]
    assert store.find_open_by_dedup_key("key-3") is None  # nothing half-written
    assert all(store.find_open_by_dedup_key(f"key-{n}") is not None for n in range(20) if n != 3)
    front.pool.close()
    store.engine.dispose()
