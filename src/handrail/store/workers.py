"""`SqlWorkerRegistry`: which engine workers are alive, by heartbeat, and who takes over a silent one.

Each worker (one DBOS executor) owns a row keyed by its executor id and beats on it. A worker whose
beat is older than the takeover bound is presumed dead; a live worker claims its row (one UPDATE
whose conditions make exactly one claimant win), has DBOS recover the dead executor's workflows,
and deletes the row. Every time here is the database's clock in milliseconds, so workers on
machines whose clocks disagree still agree on who has gone silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from handrail.store.incidents import write_transaction
from handrail.store.schema import WORKERS

__all__ = ["Registration", "SqlWorkerRegistry", "WorkerRecord"]


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """One worker as its row stands; `silent_ms` is how long ago it last beat; `retired`: it stopped on purpose.

    `version` is the DBOS application version it runs (None until its first beat after DBOS started).
    """

    executor_id: str
    instance: str
    host: str
    pid: int
    silent_ms: int
    retired: bool
    version: str | None
    claimed_by: str | None


@dataclass(frozen=True, slots=True)
class Registration:
    """The outcome of registering: done, or held back by a takeover in progress; and who held the row before."""

    registered: bool
    previous: WorkerRecord | None


class SqlWorkerRegistry:
    """Heartbeats and takeover claims in `handrail_workers`, on SQLite or PostgreSQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def register(self, executor_id: str, *, instance: str, host: str, pid: int, takeover_ms: int) -> Registration:
        """Take the row of `executor_id` for this process, unless a live claim to take it over stands."""
        now = _now_ms(self.engine)
        with write_transaction(self.engine) as connection:
            previous = self._get(connection, executor_id)
            values = {"instance": instance, "host": host, "pid": pid, "started_ms": now, "heartbeat_ms": now}
            if previous is None:
                inserted = connection.execute(
                    _insert_ignore(self.engine, {"executor_id": executor_id, **values})
                ).rowcount
                return Registration(bool(inserted), None)
            taken = connection.execute(
                sa.update(WORKERS)
                .where(WORKERS.c.executor_id == executor_id, _unclaimed(now, takeover_ms))
                .values(**values, claimed_by=None, claimed_ms=None)
            ).rowcount
            return Registration(bool(taken), previous)

    def beat(self, executor_id: str, instance: str, *, version: str | None = None) -> bool:
        """Record that this process is alive; False when the row is gone or another process holds it."""
        values: dict[str, Any] = {"heartbeat_ms": _now_ms(self.engine)}
        if version is not None:
            values["version"] = version
        with write_transaction(self.engine) as connection:
            changed = connection.execute(
                sa.update(WORKERS)
                .where(WORKERS.c.executor_id == executor_id, WORKERS.c.instance == instance)
                .values(**values)
            ).rowcount
            return bool(changed)

    def get(self, executor_id: str) -> WorkerRecord | None:
        with self.engine.connect() as connection:
            return self._get(connection, executor_id)

    def silent(self, takeover_ms: int, *, besides: str, version: str | None = None) -> list[WorkerRecord]:
        """Workers silent for longer than `takeover_ms` that nobody is taking over now (oldest first).

        With `version`, only those that ran it (or never said): a worker can only replay workflows of its own
        application version, so those of another release wait for a worker of that release.
        """
        now = _now_ms(self.engine)
        query = (
            self._select(now)
            .where(WORKERS.c.executor_id != besides, WORKERS.c.heartbeat_ms < now - takeover_ms)
            .where(_unclaimed(now, takeover_ms))
            .order_by(WORKERS.c.heartbeat_ms)
        )
        if version is not None:
            query = query.where(sa.or_(WORKERS.c.version.is_(None), WORKERS.c.version == version))
        with self.engine.connect() as connection:
            return [_record(row) for row in connection.execute(query).mappings()]

    def claim(self, executor_id: str, *, by: str, takeover_ms: int) -> bool:
        """Claim the takeover of a silent worker; True for exactly one claimant while the claim is fresh."""
        now = _now_ms(self.engine)
        with write_transaction(self.engine) as connection:
            changed = connection.execute(
                sa.update(WORKERS)
                .where(
                    WORKERS.c.executor_id == executor_id,
                    WORKERS.c.executor_id != by,
                    WORKERS.c.heartbeat_ms < now - takeover_ms,
                    _unclaimed(now, takeover_ms),
                )
                .values(claimed_by=by, claimed_ms=now)
            ).rowcount
            return bool(changed)

    def release(self, executor_id: str, *, by: str) -> None:
        """The takeover is done: the dead worker's row goes (it registers anew if it comes back)."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                sa.delete(WORKERS).where(WORKERS.c.executor_id == executor_id, WORKERS.c.claimed_by == by)
            )

    def retire(self, executor_id: str, instance: str) -> None:
        """A worker stopping on purpose: mark it silent since ever, so another takes over its incidents at once."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                sa.update(WORKERS)
                .where(WORKERS.c.executor_id == executor_id, WORKERS.c.instance == instance)
                .values(heartbeat_ms=0)
            )

    def _get(self, connection: sa.Connection, executor_id: str) -> WorkerRecord | None:
        now = _now_ms(self.engine)
        row = connection.execute(self._select(now).where(WORKERS.c.executor_id == executor_id)).mappings().first()
        return _record(row) if row is not None else None

    def _select(self, now: Any) -> sa.Select[Any]:
        return sa.select(
            WORKERS.c.executor_id,
            WORKERS.c.instance,
            WORKERS.c.host,
            WORKERS.c.pid,
            (now - WORKERS.c.heartbeat_ms).label("silent_ms"),
            WORKERS.c.heartbeat_ms,
            WORKERS.c.version,
            WORKERS.c.claimed_by,
        )


def _unclaimed(now: Any, takeover_ms: int) -> sa.ColumnElement[bool]:
    """Nobody claimed the row, or the claimant went silent itself before finishing."""
    return sa.or_(WORKERS.c.claimed_by.is_(None), WORKERS.c.claimed_ms < now - takeover_ms)


def _now_ms(engine: sa.Engine) -> Any:
    """The database's clock in epoch milliseconds, as an SQL expression."""
    if engine.dialect.name == "postgresql":
        return sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()) * 1000, sa.BigInteger)
    return sa.cast((sa.func.julianday("now") - 2440587.5) * 86400000.0, sa.BigInteger)


def _insert_ignore(engine: sa.Engine, values: dict[str, Any]) -> Any:
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(WORKERS).values(**values).on_conflict_do_nothing(index_elements=["executor_id"])


def _record(row: Any) -> WorkerRecord:
    return WorkerRecord(
        executor_id=row["executor_id"],
        instance=row["instance"],
        host=row["host"],
        pid=int(row["pid"]),
        silent_ms=int(row["silent_ms"]),
        retired=row["heartbeat_ms"] == 0,
        version=row["version"],
        claimed_by=row["claimed_by"],
    )
