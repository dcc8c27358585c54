"""Store calls ride out an unreachable database, and only that (the drill with a real restart is
tests/drills/test_postgres_restart.py)."""

from __future__ import annotations

import logging
import socket
import sqlite3

import psycopg
import pytest
import sqlalchemy as sa

from handrail.store import SqlIncidentStore, create_engine
from handrail.store.reconnect import is_disconnect, reconnecting


def wrapped(orig: BaseException, kind: type[sa.exc.DBAPIError] = sa.exc.OperationalError) -> sa.exc.DBAPIError:
    return kind("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        pytest.param(wrapped(psycopg.OperationalError("connection failed: Connection refused")), True, id="refused"),
        pytest.param(wrapped(psycopg.errors.AdminShutdown("terminating connection")), True, id="admin-shutdown"),
        pytest.param(wrapped(psycopg.errors.CannotConnectNow("the database is starting up")), True, id="starting-up"),
        pytest.param(wrapped(psycopg.errors.ConnectionFailure("lost")), True, id="connection-failure"),
        pytest.param(wrapped(psycopg.errors.DeadlockDetected("deadlock")), True, id="deadlock"),
        pytest.param(wrapped(psycopg.errors.QueryCanceled("statement timeout")), False, id="statement-timeout"),
        pytest.param(
            wrapped(psycopg.errors.UniqueViolation("duplicate"), sa.exc.IntegrityError), False, id="constraint"
        ),
        pytest.param(wrapped(psycopg.errors.UndefinedTable("no such table")), False, id="wrong-statement"),
        pytest.param(wrapped(sqlite3.OperationalError("no such table: x")), False, id="sqlite"),
    ],
)
def test_only_connection_failures_count_as_disconnects(error: sa.exc.DBAPIError, retried: bool) -> None:
    assert is_disconnect(error) is retried


class FlakyStore:
    def __init__(self, failures: list[BaseException], reconnect_within: float | None) -> None:
        self.failures = failures
        self.reconnect_within = reconnect_within
        self.calls = 0

    @reconnecting
    def read(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "answer"


def test_a_call_runs_again_until_the_database_answers(caplog: pytest.LogCaptureFixture) -> None:
    refused = wrapped(psycopg.OperationalError("connection failed: Connection refused"))
    store = FlakyStore([refused, refused, refused], reconnect_within=None)
    with caplog.at_level(logging.WARNING, logger="handrail.store.reconnect"):
        assert store.read() == "answer"
    assert store.calls == 4
    assert caplog.text.count("the database is unreachable (OperationalError); waiting for it") == 1


def test_a_wrong_statement_fails_at_once() -> None:
    store = FlakyStore([wrapped(psycopg.errors.UndefinedTable("no such table"))], reconnect_within=None)
    with pytest.raises(sa.exc.OperationalError):
        store.read()
    assert store.calls == 1


def test_a_database_that_stays_away_fails_the_call_after_its_budget(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the socket closes
    store = SqlIncidentStore(create_engine(f"postgresql://postgres@127.0.0.1:{port}/none"), reconnect_within=1.0)
    with caplog.at_level(logging.WARNING, logger="handrail.store.reconnect"), pytest.raises(sa.exc.OperationalError):
        store.get("INC-1")
    assert "the database is unreachable (OperationalError); waiting for it" in caplog.text
