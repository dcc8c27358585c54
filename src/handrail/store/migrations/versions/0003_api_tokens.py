"""API tokens, stored as SHA-256 digests only.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from handrail.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handrail_api_tokens",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("handrail_api_tokens")
