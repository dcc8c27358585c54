"""Our tables: incidents, their timeline, and the record of every action run.

They live in the same database as DBOS's own tables (the `dbos` schema on PostgreSQL, the same
file on SQLite), so an incident and the workflow that carries it are written in one transaction.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from handrail.redaction import redact

__all__ = [
    "ACTION_RUNS",
    "API_TOKENS",
    "CONSOLE_SESSIONS",
    "INCIDENTS",
    "MESSAGE_REFS",
    "METADATA",
    "OPEN_ACTIVE",
    "PERSON",
    "TIMELINE",
    "WORKERS",
    "DedupKey",
    "StoredString",
    "StoredText",
    "UtcDateTime",
]

METADATA = sa.MetaData()


class UtcDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them without a zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _StorableText:
    """Text every backend takes, and no secret: NUL, which PostgreSQL refuses in text, is stored as U+FFFD.

    Alert labels, people and the output of probes and actions all end up here; before this, on
    PostgreSQL one NUL was a 500 from the API and an exception out of the engine's step that wrote it
    (#9 fuzzing, tests/fuzz/test_store_text.py). Every configured secret is redacted on the way in
    (`handrail.redaction`: a server that echoed one into an error must not put it in the timeline).
    Lookups go through the same replacements, so they still find what was stored.
    """

    def _storable(self, value: str | None) -> str | None:
        return redact(value.replace("\x00", "\ufffd")) if value is not None else None


class StoredText(_StorableText, sa.TypeDecorator[str]):
    """`Text` that takes any text (see `_StorableText`)."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return self._storable(value)


class StoredString(_StorableText, sa.TypeDecorator[str]):
    """`String(length)` that takes any text; with `cut`, a longer value is cut to fit (descriptions, names).

    Without `cut` the value is a key that is looked up: cutting it could make it match another one.
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int, *, cut: bool = False) -> None:
        super().__init__(length)
        self.length, self.cut = length, cut

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return self.fit(value) if value is not None else None

    def fit(self, value: str) -> str:
        """`value` as this column stores it."""
        stored = value.replace("\x00", "\ufffd")  # as `_storable`, for a value that is there
        if self.cut and len(stored) > self.length:
            return stored[: self.length - 1] + "…"
        return stored


PERSON = StoredString(256, cut=True)
"""The type of every column that names a person (who triggered, acted, acknowledged, approved); `PERSON.fit(name)`
is the name as stored, which is what four-eyes compares."""


class DedupKey(_StorableText, sa.TypeDecorator[str]):
    """A dedup key in `String(512)`: a longer one (many long labels) is stored as its SHA-256, so it still dedupes."""

    impl = sa.String(512)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        value = self._storable(value)
        if value is not None and len(value) > 512:
            return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
        return value


INCIDENTS = sa.Table(
    "handrail_incidents",
    METADATA,
    sa.Column("id", StoredString(32), primary_key=True),
    sa.Column("runbook_id", StoredString(128), nullable=False, index=True),
    sa.Column("title", StoredString(512, cut=True), nullable=False),
    sa.Column("severity", sa.String(4), nullable=False),
    sa.Column("service", StoredString(256, cut=True), nullable=False),
    sa.Column("runbook", sa.JSON, nullable=False),
    sa.Column("state", StoredString(32), nullable=False, index=True),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("dedup_key", DedupKey(), nullable=False),
    sa.Column("trigger_type", sa.String(32), nullable=False),
    sa.Column("triggered_by", PERSON, nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("waiting_for", StoredString(512, cut=True)),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("assessment", sa.JSON),
    sa.Column("overall_severity", sa.String(16)),
    sa.Column("escalated", sa.Boolean, nullable=False),
    sa.Column("acknowledged_by", PERSON),
    sa.Column("acknowledged_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("mitigated_at", UtcDateTime),
    sa.Column("escalated_at", UtcDateTime),
    sa.Column("closed_at", UtcDateTime),
    sa.Column("joins", sa.Integer, nullable=False),
    sa.Column("shadow_of", StoredString(32), index=True),
    # a shadow version's run beside this incident (#15): never listed, counted, joined or acted on
)
OPEN_ACTIVE = sa.text("is_open AND shadow_of IS NULL")
"""Open and not a shadow run: the records dedup and joins consider. Text, written as the index (migration 0007)
has it: SQLite takes an upsert's conflict target only when its WHERE reads exactly as the partial index's."""
# One open incident per dedup key: a second trigger joins the first instead of opening another (shadows aside).
sa.Index(
    "uq_handrail_incidents_open_dedup",
    INCIDENTS.c.dedup_key,
    unique=True,
    sqlite_where=OPEN_ACTIVE,
    postgresql_where=OPEN_ACTIVE,
)

TIMELINE = sa.Table(
    "handrail_timeline",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", StoredString(32), sa.ForeignKey("handrail_incidents.id"), nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", PERSON),
    sa.Column("message", StoredText(), nullable=False),
    sa.Column("data", sa.JSON),
)

ACTION_RUNS = sa.Table(
    "handrail_action_runs",
    METADATA,
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("incident_id", StoredString(32), sa.ForeignKey("handrail_incidents.id"), nullable=False, index=True),
    sa.Column("remediation_id", sa.String(128), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("action_type", sa.String(32), nullable=False),
    sa.Column("description", StoredText(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("message", StoredText()),
    sa.Column("output", StoredText()),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("target", StoredString(512, cut=True), nullable=False, server_default=""),
    sa.Column("service", StoredString(256, cut=True), nullable=False, server_default=""),
    sa.Column("approved_by", PERSON),
    sa.Column("params", sa.JSON),
)

API_TOKENS = sa.Table(
    "handrail_api_tokens",
    METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# Live console sessions, by the SHA-256 of the random id their cookie carries (never the id itself):
# logging out deletes the row, which ends the session for every copy of the cookie.
CONSOLE_SESSIONS = sa.Table(
    "handrail_console_sessions",
    METADATA,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("name", PERSON, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False, index=True),
)

MESSAGE_REFS = sa.Table(
    "handrail_message_refs",
    METADATA,
    sa.Column("incident_id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(256), primary_key=True),
    sa.Column("ref", sa.String(128), nullable=False),
)

# One row per engine worker (its DBOS executor id). Times are milliseconds on the database's clock,
# so workers on machines whose clocks disagree still agree on who has gone silent.
WORKERS = sa.Table(
    "handrail_workers",
    METADATA,
    sa.Column("executor_id", sa.String(128), primary_key=True),
    sa.Column("instance", sa.String(32), nullable=False),
    sa.Column("host", sa.String(256), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_ms", sa.BigInteger, nullable=False),
    sa.Column("heartbeat_ms", sa.BigInteger, nullable=False),
    sa.Column("version", sa.String(64)),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_ms", sa.BigInteger),
)
