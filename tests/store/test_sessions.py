"""`SqlConsoleSessions` on SQLite and PostgreSQL: a session is live from its start until it ends or expires."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from handrail.blocking import BlockingPool
from handrail.store import SqlIncidentStore, create_engine
from handrail.store.schema import CONSOLE_SESSIONS
from handrail.store.sessions import SqlConsoleSessions
from support.engine import postgres_database

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        yield _migrated(f"sqlite:///{tmp_path / 's.db'}")
        return
    with postgres_database("handrail_sessions") as url:
        engine = _migrated(url)
        yield engine
        engine.dispose()


def _migrated(url: str) -> sa.Engine:
    store = SqlIncidentStore(create_engine(url))
    store.migrate()
    return store.engine


def test_a_session_is_live_until_it_ends(engine: sa.Engine) -> None:
    sessions = SqlConsoleSessions(engine, pool=BlockingPool(2))
    assert not asyncio.run(sessions.is_live("never-started", now=NOW))
    asyncio.run(sessions.start("one", name="alice", now=NOW, expires_at=NOW + HOUR))
    asyncio.run(sessions.start("two", name="alice", now=NOW, expires_at=NOW + HOUR))
    assert asyncio.run(sessions.is_live("one", now=NOW))
    asyncio.run(sessions.end("one"))
    assert not asyncio.run(sessions.is_live("one", now=NOW))
    assert asyncio.run(sessions.is_live("two", now=NOW))  # ending one session leaves the person's others alone
    asyncio.run(sessions.end("one"))  # ending twice is harmless


def test_a_session_is_not_live_once_it_expires_and_is_forgotten_at_a_later_login(engine: sa.Engine) -> None:
    sessions = SqlConsoleSessions(engine, pool=BlockingPool(2))
    asyncio.run(sessions.start("old", name="alice", now=NOW, expires_at=NOW + HOUR))
    assert not asyncio.run(sessions.is_live("old", now=NOW + HOUR))
    asyncio.run(sessions.start("new", name="bob", now=NOW + 2 * HOUR, expires_at=NOW + 3 * HOUR))
    with engine.connect() as connection:
        names = connection.execute(sa.select(CONSOLE_SESSIONS.c.name)).scalars().all()
    assert names == ["bob"]


def test_the_database_holds_a_digest_of_the_session_id_never_the_id(engine: sa.Engine) -> None:
    asyncio.run(
        SqlConsoleSessions(engine, pool=BlockingPool(2)).start(
            "the-session-id", name="alice", now=NOW, expires_at=NOW + HOUR
        )
    )
    with engine.connect() as connection:
        rows = connection.execute(sa.select(CONSOLE_SESSIONS)).all()
    assert "the-session-id" not in repr(rows)
    assert len(rows[0].id_sha256) == 64
