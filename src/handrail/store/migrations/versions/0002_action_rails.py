"""Action runs record what they touched, for which service, who approved them, with what parameters.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("handrail_action_runs") as batch:
        batch.add_column(sa.Column("target", sa.String(512), nullable=False, server_default=""))
        batch.add_column(sa.Column("service", sa.String(256), nullable=False, server_default=""))
        batch.add_column(sa.Column("approved_by", sa.String(256)))
        batch.add_column(sa.Column("params", sa.JSON))
    op.create_index("ix_handrail_action_runs_target_started", "handrail_action_runs", ["target", "started_at"])
    op.create_index("ix_handrail_action_runs_service_started", "handrail_action_runs", ["service", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_handrail_action_runs_service_started", "handrail_action_runs")
    op.drop_index("ix_handrail_action_runs_target_started", "handrail_action_runs")
    with op.batch_alter_table("handrail_action_runs") as batch:
        batch.drop_column("params")
        batch.drop_column("approved_by")
        batch.drop_column("service")
        batch.drop_column("target")
