"""Engine workers and their heartbeats, so a live worker can take over the incidents of a dead one.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handrail_workers",
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


def downgrade() -> None:
    op.drop_table("handrail_workers")
