"""Our tables: incidents, their timeline, and the record of every action run.

They live in the same database as DBOS's own tables (the `dbos` schema on PostgreSQL, the same
file on SQLite), so an incident and the workflow that carries it are written in one transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = ["ACTION_RUNS", "API_TOKENS", "INCIDENTS", "MESSAGE_REFS", "METADATA", "TIMELINE", "UtcDateTime"]

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


INCIDENTS = sa.Table(
    "handrail_incidents",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("runbook_id", sa.String(128), nullable=False, index=True),
    sa.Column("title", sa.String(512), nullable=False),
    sa.Column("severity", sa.String(4), nullable=False),
    sa.Column("service", sa.String(256), nullable=False),
    sa.Column("runbook", sa.JSON, nullable=False),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("dedup_key", sa.String(512), nullable=False),
    sa.Column("trigger_type", sa.String(32), nullable=False),
    sa.Column("triggered_by", sa.String(256), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("annotations", sa.JSON, nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("waiting_for", sa.String(512)),
    sa.Column("plan", sa.JSON, nullable=False),
    sa.Column("assessment", sa.JSON),
    sa.Column("overall_severity", sa.String(16)),
    sa.Column("escalated", sa.Boolean, nullable=False),
    sa.Column("acknowledged_by", sa.String(256)),
    sa.Column("acknowledged_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("mitigated_at", UtcDateTime),
    sa.Column("escalated_at", UtcDateTime),
    sa.Column("closed_at", UtcDateTime),
    sa.Column("joins", sa.Integer, nullable=False),
)
# One open incident per dedup key: a second trigger joins the first instead of opening another.
sa.Index(
    "uq_handrail_incidents_open_dedup",
    INCIDENTS.c.dedup_key,
    unique=True,
    sqlite_where=INCIDENTS.c.is_open,
    postgresql_where=INCIDENTS.c.is_open,
)

TIMELINE = sa.Table(
    "handrail_timeline",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.String(32), sa.ForeignKey("handrail_incidents.id"), nullable=False, index=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(256)),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", sa.JSON),
)

ACTION_RUNS = sa.Table(
    "handrail_action_runs",
    METADATA,
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("incident_id", sa.String(32), sa.ForeignKey("handrail_incidents.id"), nullable=False, index=True),
    sa.Column("remediation_id", sa.String(128), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("action_type", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("message", sa.Text),
    sa.Column("output", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    sa.Column("target", sa.String(512), nullable=False, server_default=""),
    sa.Column("service", sa.String(256), nullable=False, server_default=""),
    sa.Column("approved_by", sa.String(256)),
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

MESSAGE_REFS = sa.Table(
    "handrail_message_refs",
    METADATA,
    sa.Column("incident_id", sa.String(32), primary_key=True),
    sa.Column("channel", sa.String(256), primary_key=True),
    sa.Column("ref", sa.String(128), nullable=False),
)
