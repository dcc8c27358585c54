from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from handrail.redaction import register_secrets, register_urls
from handrail.store import ActionStatus, IncidentState, NewIncident, SqlIncidentStore, create_engine
from handrail.store.incidents import plain_json
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
