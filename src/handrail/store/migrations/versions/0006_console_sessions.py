"""Console sessions that are live, so logging out ends a session for every copy of its cookie.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from handrail.store.schema import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handrail_console_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("expires_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_handrail_console_sessions_expires_at", "handrail_console_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_handrail_console_sessions_expires_at", "handrail_console_sessions")
    op.drop_table("handrail_console_sessions")
