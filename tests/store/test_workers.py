"""`SqlWorkerRegistry` on SQLite and PostgreSQL: heartbeats on the database's clock, one claimant per takeover."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from handrail.store import SqlIncidentStore, create_engine
from handrail.store.schema import WORKERS
from handrail.store.workers import SqlWorkerRegistry
from support.engine import postgres_database

BOUND_MS = 3000


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlWorkerRegistry]:
    if request.param == "sqlite":
        yield _registry(f"sqlite:///{tmp_path / 'w.db'}")
        return
    with postgres_database("handrail_workers") as url:
        registry = _registry(url)
        yield registry
        registry.engine.dispose()


def _registry(url: str) -> SqlWorkerRegistry:
    store = SqlIncidentStore(create_engine(url))
    store.migrate()
    return SqlWorkerRegistry(store.engine)


def register(registry: SqlWorkerRegistry, executor_id: str, instance: str = "i1") -> bool:
    return registry.register(executor_id, instance=instance, host="h", pid=1, takeover_ms=BOUND_MS).registered


def go_silent(registry: SqlWorkerRegistry, executor_id: str, seconds: float) -> None:
    """Move a worker's last beat into the past (as if it had stopped beating that long ago)."""
    with registry.engine.begin() as connection:
        connection.execute(
            sa.update(WORKERS)
            .where(WORKERS.c.executor_id == executor_id)
            .values(heartbeat_ms=WORKERS.c.heartbeat_ms - int(seconds * 1000))
        )


def test_a_registered_worker_beats_and_another_instance_cannot(registry: SqlWorkerRegistry) -> None:
    assert register(registry, "a")
    assert registry.beat("a", "i1")
    assert not registry.beat("a", "someone-else")
    assert not registry.beat("nobody", "i1")
    worker = registry.get("a")
    assert worker is not None
    assert 0 <= worker.silent_ms < 1000
    assert not worker.retired


def test_only_workers_silent_beyond_the_bound_are_listed(registry: SqlWorkerRegistry) -> None:
    for name in ("a", "b", "c"):
        assert register(registry, name)
    go_silent(registry, "b", 10)
    go_silent(registry, "c", 2)
    assert [w.executor_id for w in registry.silent(BOUND_MS, besides="a")] == ["b"]
    assert registry.silent(BOUND_MS, besides="b") == []
    (silent,) = registry.silent(BOUND_MS, besides="a")
    assert 10_000 <= silent.silent_ms < 12_000


def test_exactly_one_claimant_wins_a_takeover(registry: SqlWorkerRegistry) -> None:
    for name in ("dead", *(f"live-{n}" for n in range(8))):
        assert register(registry, name)
    go_silent(registry, "dead", 10)
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda n: registry.claim("dead", by=f"live-{n}", takeover_ms=BOUND_MS), range(8)))
    assert wins.count(True) == 1
    assert registry.silent(BOUND_MS, besides="live-0") == [], "a claimed worker is not offered again"
    assert not registry.claim("live-1", by="live-2", takeover_ms=BOUND_MS), "a live worker cannot be claimed"
    winner = f"live-{wins.index(True)}"
    registry.release("dead", by=winner)
    assert registry.get("dead") is None


def test_a_claim_whose_claimant_went_silent_can_be_claimed_again(registry: SqlWorkerRegistry) -> None:
    for name in ("dead", "b", "c"):
        assert register(registry, name)
    go_silent(registry, "dead", 10)
    assert registry.claim("dead", by="b", takeover_ms=BOUND_MS)
    assert not registry.claim("dead", by="c", takeover_ms=BOUND_MS)
    with registry.engine.begin() as connection:
        connection.execute(sa.update(WORKERS).values(claimed_ms=WORKERS.c.claimed_ms - 10_000))
    assert registry.claim("dead", by="c", takeover_ms=BOUND_MS)


def test_a_worker_coming_back_waits_for_the_takeover_of_its_id_to_finish(registry: SqlWorkerRegistry) -> None:
    assert register(registry, "a", "first")
    assert register(registry, "b")
    go_silent(registry, "a", 10)
    assert registry.claim("a", by="b", takeover_ms=BOUND_MS)
    assert not register(registry, "a", "second"), "registered while b was recovering a's workflows"
    registry.release("a", by="b")
    assert register(registry, "a", "second")
    assert registry.beat("a", "second")


def test_a_retired_worker_is_silent_at_once(registry: SqlWorkerRegistry) -> None:
    assert register(registry, "a")
    registry.retire("a", "not-its-instance")
    assert registry.silent(BOUND_MS, besides="b") == []
    registry.retire("a", "i1")
    (retired,) = registry.silent(BOUND_MS, besides="b")
    assert retired.retired


def test_registering_over_a_row_reports_who_held_it(registry: SqlWorkerRegistry) -> None:
    assert register(registry, "a", "first")
    registration = registry.register("a", instance="second", host="h2", pid=2, takeover_ms=BOUND_MS)
    assert registration.registered
    assert registration.previous is not None
    assert registration.previous.instance == "first"
    assert not registry.beat("a", "first")


def test_a_worker_of_another_release_is_left_for_its_own(registry: SqlWorkerRegistry) -> None:
    for name in ("old", "unsaid"):
        assert register(registry, name)
    assert registry.beat("old", "i1", version="v1")
    go_silent(registry, "old", 10)
    go_silent(registry, "unsaid", 10)
    assert [w.executor_id for w in registry.silent(BOUND_MS, besides="new", version="v2")] == ["unsaid"]
    assert sorted(w.executor_id for w in registry.silent(BOUND_MS, besides="new", version="v1")) == ["old", "unsaid"]
    old = registry.get("old")
    assert old is not None
    assert old.version == "v1"
