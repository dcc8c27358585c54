"""Which Slack message tells each incident's story in each channel (so later events update it).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handrail_message_refs",
        sa.Column("incident_id", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(256), primary_key=True),
        sa.Column("ref", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("handrail_message_refs")
