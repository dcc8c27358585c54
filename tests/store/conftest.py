"""What the store's tests share: a migrated store on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handrail.store import SqlIncidentStore, create_engine
from support.engine import postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlIncidentStore]:
    """A migrated store on a throwaway SQLite file, then on a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        store = SqlIncidentStore(create_engine(f"sqlite:///{tmp_path / 's.db'}"))
        store.migrate()
        yield store
        store.engine.dispose()
        return
    with postgres_database("handrail_store") as url:
        store = SqlIncidentStore(create_engine(url))
        store.migrate()
        yield store
        store.engine.dispose()
