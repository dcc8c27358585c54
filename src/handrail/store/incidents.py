"""`SqlIncidentStore`: incidents, their timeline and action runs, on SQLite or PostgreSQL."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite

from handrail.redaction import redact
from handrail.store.migration import migration_lock
from handrail.store.reconnect import reconnecting
from handrail.store.records import (
    ActionRun,
    ActionStatus,
    IncidentRecord,
    IncidentState,
    NewIncident,
    TimelineRecord,
    incident_summary,
)
from handrail.store.schema import ACTION_RUNS, INCIDENTS, OPEN_ACTIVE, TIMELINE

__all__ = ["SqlIncidentStore", "create_engine", "history_line", "plain_json", "write_transaction"]

Clock = Callable[[], datetime]
Event = tuple[str, str, Mapping[str, Any] | None]
"""A timeline event written with another change, in its transaction: kind, message, data."""
MAX_OUTPUT_CHARS = 65536


_SQLITE_WRITERS: weakref.WeakKeyDictionary[sa.Engine, threading.RLock] = weakref.WeakKeyDictionary()
"""One lock per SQLite engine: its write transactions take turns in this process (`write_transaction`)."""


def create_engine(url: str) -> sa.Engine:
    """An engine tuned for the store: WAL, a busy timeout and foreign keys on SQLite."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _SQLITE_WRITERS[engine] = threading.RLock()

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sa.create_engine(url, pool_pre_ping=True)


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A write transaction on `engine` (`engine.begin()`); on SQLite, one at a time in this process.

    SQLite has one writer per database. Left to SQLite, threads that want to write at once retry on
    its busy handler, which sleeps between tries (1, 2, 5 … 100 ms): under a burst of Alertmanager
    joins most of a join's time went to those sleeps (#14). Waiting on a lock here instead wakes the
    next writer the moment the last one commits. PostgreSQL writes concurrently: no lock.
    """
    lock = _SQLITE_WRITERS.get(engine)
    with lock if lock is not None else nullcontext(), engine.begin() as connection:
        yield connection


_JOIN = (
    sa.update(INCIDENTS)
    .where(
        INCIDENTS.c.dedup_key == sa.bindparam("join_key", type_=INCIDENTS.c.dedup_key.type),
        INCIDENTS.c.is_open,
        INCIDENTS.c.shadow_of.is_(None),
    )
    .values(joins=INCIDENTS.c.joins + 1, updated_at=sa.bindparam("join_at", type_=INCIDENTS.c.updated_at.type))
    .returning(*INCIDENTS.c)
)
"""A join, built once: statements made per call cost more CPU than the join's SQL (#14, `bench/ingest.py`)."""
_INSERT_EVENT = sa.insert(TIMELINE)


class SqlIncidentStore:
    """Reads and writes incidents; every change to an incident also writes a timeline event."""

    def __init__(
        self, engine: sa.Engine, *, clock: Clock = lambda: datetime.now(UTC), reconnect_within: float | None = 15.0
    ) -> None:
        self.engine = engine
        self._clock = clock
        self.reconnect_within = reconnect_within
        """Seconds a call waits for an unreachable database before it fails (None: forever); store/reconnect.py."""

    # -- schema -------------------------------------------------------------------------------

    def migrate(self, revision: str = "head", *, alongside: Callable[[], None] | None = None) -> None:
        """Create or upgrade our tables in place (Alembic), then `alongside` (DBOS's), under the migration lock.

        Safe to run on every start, by any number of processes at once: they take turns
        (store/migration.py), and each after the first finds the database already done.
        """
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with migration_lock(self.engine):
            with self.engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
            if alongside is not None:
                alongside()

    # -- incidents ----------------------------------------------------------------------------

    @reconnecting
    def open_or_join(
        self, new: NewIncident, *, on_open: Callable[[sa.Connection], None] | None = None
    ) -> tuple[IncidentRecord, bool]:
        """Open `new`, or join the open incident with the same dedup key; True when opened.

        `on_open` runs in the same transaction as the insert (the engine enqueues the incident's
        workflow there), so an incident never exists without the work that carries it.
        """
        for _ in range(5):
            # One write transaction either way (#14): a join is the common case (Alertmanager repeats an alert
            # every group interval), so it is tried first.
            with write_transaction(self.engine) as connection:
                opened = self._open_or_join(connection, new, on_open)
            if opened is not None:
                return opened
        raise RuntimeError(f"could not open or join an incident for {new.dedup_key!r}")

    @reconnecting
    def open_or_join_many(
        self, items: Sequence[tuple[NewIncident, Callable[[sa.Connection], None] | None]]
    ) -> list[tuple[IncidentRecord, bool] | None]:
        """`open_or_join` for each item, all in one write transaction: a burst of alerts costs one commit.

        An item that met a concurrent close (None in its place) is for the caller to try on its own;
        should the transaction fail, none of it happened.
        """
        with write_transaction(self.engine) as connection:
            return [self._open_or_join(connection, new, on_open) for new, on_open in items]

    def _open_or_join(
        self, connection: sa.Connection, new: NewIncident, on_open: Callable[[sa.Connection], None] | None
    ) -> tuple[IncidentRecord, bool] | None:
        # SQLite holds its write lock from the first statement; on PostgreSQL each statement sees what committed
        # before it, and the insert waits for a concurrent one with the same key, so an open incident found by
        # neither can only have closed: None, try again in a new transaction.
        now = self._clock()
        joined = self._join(connection, new, now)
        if joined is not None:
            return joined, False
        inserted = connection.execute(self._insert_incident(new, now)).first()
        if inserted is not None:
            self._event(connection, new.id, now, "triggered", _trigger_message(new), new.triggered_by)
            if on_open is not None:
                on_open(connection)
            record = self._get(connection, new.id)
            assert record is not None
            return record, True
        joined = self._join(connection, new, now)
        return (joined, False) if joined is not None else None

    def add_shadow(self, connection: sa.Connection, new: NewIncident) -> None:
        """Insert a shadow version's run (`new.shadow_of` set) in the transaction of `open_or_join`'s `on_open`.

        A shadow run takes no part in dedup: it is never joined and never blocks a key (#15).
        """
        if new.shadow_of is None:
            raise ValueError("a shadow run names the incident it rides beside")
        now = self._clock()
        connection.execute(sa.insert(INCIDENTS).values(**self._incident_values(new, now)))
        message = f"shadow of {new.shadow_of}: {_trigger_message(new)}; its plan is recorded, nothing acts"
        self._event(connection, new.id, now, "triggered", message, new.triggered_by, {"shadowOf": new.shadow_of})

    def _insert_incident(self, new: NewIncident, now: datetime) -> Any:
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        return (
            dialect.insert(INCIDENTS)
            .values(**self._incident_values(new, now))
            .on_conflict_do_nothing(index_elements=["dedup_key"], index_where=OPEN_ACTIVE)
            .returning(INCIDENTS.c.id)
        )

    @staticmethod
    def _incident_values(new: NewIncident, now: datetime) -> dict[str, Any]:
        runbook = new.runbook
        return {
            "id": new.id,
            "runbook_id": runbook["id"],
            "title": runbook["name"],
            "severity": runbook["severity"],
            "service": runbook["service"],
            "runbook": dict(runbook),
            "state": IncidentState.TRIGGERED.value,
            "is_open": True,
            "dedup_key": new.dedup_key,
            "trigger_type": new.trigger_type,
            "triggered_by": new.triggered_by,
            "labels": dict(new.labels),
            "annotations": dict(new.annotations),
            "dry_run": new.dry_run,
            "plan": [],
            "escalated": False,
            "created_at": now,
            "updated_at": now,
            "joins": 0,
            "shadow_of": new.shadow_of,
        }

    def _join(self, connection: sa.Connection, new: NewIncident, now: datetime) -> IncidentRecord | None:
        """Count a trigger into the open incident with its dedup key; None when there is none."""
        row = connection.execute(_JOIN, {"join_key": new.dedup_key, "join_at": now}).mappings().first()
        if row is None:
            return None
        message = f"{_trigger_message(new)}; joined the open incident (same dedup key)"
        self._event(connection, row["id"], now, "joined", message, new.triggered_by, {"labels": dict(new.labels)})
        return _incident(row)

    @reconnecting
    def find_open_by_dedup_key(self, dedup_key: str) -> IncidentRecord | None:
        with self.engine.connect() as connection:
            row = (
                connection.execute(
                    sa.select(INCIDENTS).where(
                        INCIDENTS.c.dedup_key == dedup_key, INCIDENTS.c.is_open, INCIDENTS.c.shadow_of.is_(None)
                    )
                )
                .mappings()
                .first()
            )
            return _incident(row) if row is not None else None

    @reconnecting
    def get(self, incident_id: str) -> IncidentRecord | None:
        with self.engine.connect() as connection:
            return self._get(connection, incident_id)

    def _get(self, connection: sa.Connection, incident_id: str) -> IncidentRecord | None:
        row = connection.execute(sa.select(INCIDENTS).where(INCIDENTS.c.id == incident_id)).mappings().first()
        return _incident(row) if row is not None else None

    @reconnecting
    def find(
        self,
        *,
        states: Sequence[str] = (),
        open_only: bool = False,
        runbook_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[IncidentRecord]:
        """Newest first; never a shadow run (`shadows` reads those)."""
        query = sa.select(INCIDENTS).order_by(INCIDENTS.c.created_at.desc(), INCIDENTS.c.id.desc())
        query = query.where(INCIDENTS.c.shadow_of.is_(None))
        if created_after is not None:
            query = query.where(INCIDENTS.c.created_at >= created_after)
        if created_before is not None:
            query = query.where(INCIDENTS.c.created_at < created_before)
        if states:
            query = query.where(INCIDENTS.c.state.in_(list(states)))
        if open_only:
            query = query.where(INCIDENTS.c.is_open)
        if runbook_id:
            query = query.where(INCIDENTS.c.runbook_id == runbook_id)
        with self.engine.connect() as connection:
            rows = connection.execute(query.limit(limit).offset(offset)).mappings()
            return [_incident(row) for row in rows]

    @reconnecting
    def shadows(self, incident_id: str) -> list[IncidentRecord]:
        """The shadow runs beside an incident, by runbook id."""
        query = sa.select(INCIDENTS).where(INCIDENTS.c.shadow_of == incident_id).order_by(INCIDENTS.c.runbook_id)
        with self.engine.connect() as connection:
            return [_incident(row) for row in connection.execute(query).mappings()]

    @reconnecting
    def transition(
        self,
        incident_id: str,
        state: IncidentState,
        message: str,
        *,
        actor: str | None = None,
        waiting_for: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> IncidentRecord | None:
        """Move an open incident to `state` (and record why); None when it is already closed."""
        now = self._clock()
        values: dict[str, Any] = {"state": state.value, "waiting_for": waiting_for, "updated_at": now}
        if state.is_final:
            values.update(is_open=False, closed_at=now, waiting_for=None)
        if state is IncidentState.ESCALATED:
            values.update(escalated=True, escalated_at=sa.func.coalesce(INCIDENTS.c.escalated_at, now))
        if state in (IncidentState.VERIFYING, IncidentState.RESOLVED):
            values["mitigated_at"] = sa.func.coalesce(INCIDENTS.c.mitigated_at, now)
        with write_transaction(self.engine) as connection:
            changed = connection.execute(
                sa.update(INCIDENTS).where(INCIDENTS.c.id == incident_id, INCIDENTS.c.is_open).values(**values)
            ).rowcount
            if not changed:
                return None
            event = {"state": state.value, "waitingFor": waiting_for, **(data or {})}
            self._event(connection, incident_id, now, "state", message, actor, event)
            return self._get(connection, incident_id)

    @reconnecting
    def mark_escalated(self, incident_id: str, message: str, *, data: Mapping[str, Any] | None = None) -> bool:
        """Set the escalated flag without changing the state (a timer or a page, not a plan change)."""
        now = self._clock()
        with write_transaction(self.engine) as connection:
            changed = connection.execute(
                sa.update(INCIDENTS)
                .where(INCIDENTS.c.id == incident_id, INCIDENTS.c.is_open)
                .values(escalated=True, escalated_at=sa.func.coalesce(INCIDENTS.c.escalated_at, now), updated_at=now)
            ).rowcount
            if changed:
                self._event(connection, incident_id, now, "escalation", message, None, data)
            return bool(changed)

    @reconnecting
    def acknowledge(self, incident_id: str, actor: str) -> bool:
        """The first acknowledgement sets the flag; any later one is only recorded. False if unknown."""
        now = self._clock()
        with write_transaction(self.engine) as connection:
            first = connection.execute(
                sa.update(INCIDENTS)
                .where(INCIDENTS.c.id == incident_id, INCIDENTS.c.acknowledged_at.is_(None))
                .values(acknowledged_by=actor, acknowledged_at=now, updated_at=now)
            ).rowcount
            if not first and self._get(connection, incident_id) is None:
                return False
            message = f"acknowledged by {actor}" if first else f"{actor} acknowledged again"
            self._event(connection, incident_id, now, "ack", message, actor)
            return True

    @reconnecting
    def set_assessment(
        self,
        incident_id: str,
        assessment: Mapping[str, Any],
        plan: Sequence[str],
        overall_severity: str,
        *,
        events: Sequence[Event] = (),
    ) -> None:
        """Keep the assessment and the plan, with `events` (its results and decisions), in one transaction."""
        now = self._clock()
        with write_transaction(self.engine) as connection:
            connection.execute(
                sa.update(INCIDENTS)
                .where(INCIDENTS.c.id == incident_id)
                .values(
                    assessment=plain_json(assessment),
                    plan=list(plan),
                    overall_severity=overall_severity,
                    updated_at=now,
                )
            )
            for kind, message, data in events:
                self._event(connection, incident_id, now, kind, message, None, data)

    # -- timeline -----------------------------------------------------------------------------

    @reconnecting
    def record(
        self,
        incident_id: str,
        kind: str,
        message: str,
        *,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Add one event to the incident's timeline."""
        with write_transaction(self.engine) as connection:
            self._event(connection, incident_id, self._clock(), kind, message, actor, data)

    @reconnecting
    def timeline(self, incident_id: str) -> list[TimelineRecord]:
        query = sa.select(TIMELINE).where(TIMELINE.c.incident_id == incident_id).order_by(TIMELINE.c.id)
        with self.engine.connect() as connection:
            return [
                TimelineRecord(r.id, r.incident_id, r.at, r.kind, r.actor, r.message, r.data)
                for r in connection.execute(query)
            ]

    @reconnecting
    def last_event_id(self, incident_id: str) -> int:
        """The id of the incident's newest timeline event (0 with none): a cheap "has anything happened"."""
        query = sa.select(sa.func.max(TIMELINE.c.id)).where(TIMELINE.c.incident_id == incident_id)
        with self.engine.connect() as connection:
            return int(connection.execute(query).scalar_one() or 0)

    def _event(
        self,
        connection: sa.Connection,
        incident_id: str,
        at: datetime,
        kind: str,
        message: str,
        actor: str | None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        values = {"incident_id": incident_id, "at": at, "kind": kind, "actor": actor, "message": message}
        connection.execute(_INSERT_EVENT, {**values, "data": plain_json(data) if data is not None else None})

    # -- action runs --------------------------------------------------------------------------

    @reconnecting
    def record_intent(
        self,
        key: str,
        *,
        incident_id: str,
        remediation_id: str,
        attempt: int,
        action_type: str,
        description: str,
        target: str = "",
        service: str = "",
        approved_by: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> ActionRun:
        """Write down that the action is about to run (once per key); returns the run as it stands."""
        now = self._clock()
        with write_transaction(self.engine) as connection:
            exists = connection.execute(sa.select(ACTION_RUNS.c.key).where(ACTION_RUNS.c.key == key)).first()
            if exists is None:
                connection.execute(
                    sa.insert(ACTION_RUNS).values(
                        key=key,
                        incident_id=incident_id,
                        remediation_id=remediation_id,
                        attempt=attempt,
                        action_type=action_type,
                        description=description,
                        status=ActionStatus.PENDING.value,
                        created_at=now,
                        target=target,
                        service=service,
                        approved_by=approved_by,
                        params=plain_json(params) if params is not None else None,
                    )
                )
            return self._action(connection, key)

    @reconnecting
    def claim_with_rails(
        self,
        key: str,
        *,
        service: str,
        cooldown: float,
        rate_window: float,
        rate_limit: int,
        event: Event | None = None,
    ) -> str | None:
        """Claim a pending run unless a rail blocks it; the reason it is blocked, or None when claimed.

        `event` goes on the run's incident's timeline in the claiming transaction, only when claimed.

        In one transaction that serialises claims for the same service: no other run on the same
        target started within `cooldown` seconds (any incident), and fewer than `rate_limit` runs
        for the same service started within `rate_window` seconds (the circuit breaker).
        """
        now = self._clock()
        started = [
            ActionStatus.RUNNING.value,
            ActionStatus.SUCCEEDED.value,
            ActionStatus.FAILED.value,
            ActionStatus.OUTCOME_UNKNOWN.value,
        ]
        with write_transaction(self.engine) as connection:
            self._serialise(connection, service)
            run = self._action(connection, key)
            if run.status is not ActionStatus.PENDING:
                return f"already {run.status.value}"
            if cooldown > 0 and run.target:
                recent = connection.execute(
                    sa.select(ACTION_RUNS.c.incident_id, ACTION_RUNS.c.started_at)
                    .where(
                        ACTION_RUNS.c.target == run.target,
                        ACTION_RUNS.c.key != key,
                        ACTION_RUNS.c.status.in_(started),
                        ACTION_RUNS.c.started_at >= now - timedelta(seconds=cooldown),
                    )
                    .order_by(ACTION_RUNS.c.started_at.desc())
                ).first()
                if recent is not None:
                    return (
                        f"cooldown: {run.target} was acted on at {recent.started_at:%H:%M:%S} UTC"
                        f" (incident {recent.incident_id}); not again within {cooldown / 60:g} minutes"
                    )
            if rate_limit > 0 and run.service:
                count = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(ACTION_RUNS)
                    .where(
                        ACTION_RUNS.c.service == run.service,
                        ACTION_RUNS.c.status.in_(started),
                        ACTION_RUNS.c.started_at >= now - timedelta(seconds=rate_window),
                    )
                ).scalar_one()
                if count >= rate_limit:
                    return (
                        f"circuit breaker open for service {run.service}: {count} automated actions in the last"
                        f" {rate_window / 60:g} minutes (limit {rate_limit}); automation stops, people take over"
                    )
            connection.execute(
                sa.update(ACTION_RUNS)
                .where(ACTION_RUNS.c.key == key, ACTION_RUNS.c.status == ActionStatus.PENDING.value)
                .values(status=ActionStatus.RUNNING.value, started_at=now)
            )
            if event is not None:
                self._event(connection, run.incident_id, now, event[0], event[1], None, event[2])
        return None

    def _serialise(self, connection: sa.Connection, service: str) -> None:
        """Make rail checks for one service take turns (a write lock on SQLite, an advisory lock on PostgreSQL)."""
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(f"handrail:{service}"))))
        else:
            # the first write takes SQLite's database lock until commit, before anything is read
            connection.execute(sa.update(ACTION_RUNS).where(sa.false()).values(status=ACTION_RUNS.c.status))

    @reconnecting
    def finish_action(
        self, key: str, status: ActionStatus, message: str, output: str = "", *, event: Event | None = None
    ) -> ActionRun:
        """Record how a run ended, with `event` on its incident's timeline in the same transaction."""
        now = self._clock()
        with write_transaction(self.engine) as connection:
            connection.execute(
                sa.update(ACTION_RUNS)
                .where(ACTION_RUNS.c.key == key)
                .values(status=status.value, message=message, output=output[:MAX_OUTPUT_CHARS], finished_at=now)
            )
            run = self._action(connection, key)
            if event is not None:
                self._event(connection, run.incident_id, now, event[0], event[1], None, event[2])
            return run

    @reconnecting
    def action_run(self, key: str) -> ActionRun:
        with self.engine.connect() as connection:
            return self._action(connection, key)

    @reconnecting
    def action_runs(self, incident_id: str) -> list[ActionRun]:
        query = (
            sa.select(ACTION_RUNS).where(ACTION_RUNS.c.incident_id == incident_id).order_by(ACTION_RUNS.c.created_at)
        )
        with self.engine.connect() as connection:
            return [_action_run(row) for row in connection.execute(query).mappings()]

    def _action(self, connection: sa.Connection, key: str) -> ActionRun:
        row = connection.execute(sa.select(ACTION_RUNS).where(ACTION_RUNS.c.key == key)).mappings().one()
        return _action_run(row)


def _trigger_message(new: NewIncident) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(new.labels.items()))
    dry = " (dry run)" if new.dry_run else ""
    return f"{new.trigger_type} trigger by {new.triggered_by}{dry}" + (f" with {labels}" if labels else "")


def plain_json(value: Any) -> Any:
    """`value` as JSON can hold it: NaN and infinities become null, anything unknown its text; no secret in it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return redact(str(value))


def history_line(record: IncidentRecord) -> dict[str, Any]:
    """The incident as `handrail incidents export` writes it and `handrail replay` reads it (docs/replay.md).

    The API's incident with what a replay needs: annotations, the plan, the assessment as recorded
    (raw values, statuses, decisions) and the runbook snapshot; every configured secret redacted, wherever
    it stands (labels and the snapshot are stored as they came).
    """
    line = {
        **incident_summary(record),
        "annotations": dict(record.annotations),
        "plan": list(record.plan),
        "assessment": dict(record.assessment) if record.assessment is not None else None,
        "runbook": dict(record.runbook),
    }
    redacted: dict[str, Any] = plain_json(line)
    return redacted


def _incident(row: Any) -> IncidentRecord:
    return IncidentRecord(
        id=row["id"],
        runbook_id=row["runbook_id"],
        title=row["title"],
        severity=row["severity"],
        service=row["service"],
        runbook=row["runbook"],
        state=IncidentState(row["state"]),
        is_open=bool(row["is_open"]),
        dedup_key=row["dedup_key"],
        trigger_type=row["trigger_type"],
        triggered_by=row["triggered_by"],
        labels=row["labels"],
        annotations=row["annotations"],
        dry_run=bool(row["dry_run"]),
        waiting_for=row["waiting_for"],
        plan=row["plan"] or [],
        assessment=row["assessment"],
        overall_severity=row["overall_severity"],
        escalated=bool(row["escalated"]),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        mitigated_at=row["mitigated_at"],
        escalated_at=row["escalated_at"],
        closed_at=row["closed_at"],
        joins=row["joins"],
        shadow_of=row["shadow_of"],
    )


def _action_run(row: Any) -> ActionRun:
    return ActionRun(
        key=row["key"],
        incident_id=row["incident_id"],
        remediation_id=row["remediation_id"],
        attempt=row["attempt"],
        action_type=row["action_type"],
        description=row["description"],
        status=ActionStatus(row["status"]),
        message=row["message"],
        output=row["output"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        target=row["target"],
        service=row["service"],
        approved_by=row["approved_by"],
        params=row["params"],
    )
