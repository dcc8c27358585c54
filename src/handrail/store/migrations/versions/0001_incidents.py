"""Incidents, their timeline, and action runs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from handrail.store.schema import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handrail_incidents",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("runbook_id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(512), nullable=False),
        sa.Column("severity", sa.String(4), nullable=False),
        sa.Column("service", sa.String(256), nullable=False),
        sa.Column("runbook", sa.JSON, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
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
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("mitigated_at", UtcDateTime),
        sa.Column("escalated_at", UtcDateTime),
        sa.Column("closed_at", UtcDateTime),
        sa.Column("joins", sa.Integer, nullable=False),
    )
    op.create_index("ix_handrail_incidents_runbook_id", "handrail_incidents", ["runbook_id"])
    op.create_index("ix_handrail_incidents_state", "handrail_incidents", ["state"])
    op.create_index("ix_handrail_incidents_created_at", "handrail_incidents", ["created_at"])
    op.create_index(
        "uq_handrail_incidents_open_dedup",
        "handrail_incidents",
        ["dedup_key"],
        unique=True,
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )
    op.create_table(
        "handrail_timeline",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("handrail_incidents.id"), nullable=False),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(256)),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("data", sa.JSON),
    )
    op.create_index("ix_handrail_timeline_incident_id", "handrail_timeline", ["incident_id"])
    op.create_table(
        "handrail_action_runs",
        sa.Column("key", sa.String(256), primary_key=True),
        sa.Column("incident_id", sa.String(32), sa.ForeignKey("handrail_incidents.id"), nullable=False),
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
    )
    op.create_index("ix_handrail_action_runs_incident_id", "handrail_action_runs", ["incident_id"])


def downgrade() -> None:
    op.drop_table("handrail_action_runs")
    op.drop_table("handrail_timeline")
    op.drop_table("handrail_incidents")
