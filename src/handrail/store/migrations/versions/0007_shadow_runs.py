"""Shadow runs (#15): an incident record may be a shadow version's run beside another incident.

A shadow's record names the incident it rides beside (`shadow_of`); it takes no part in dedup, so the
one-open-incident-per-key index now covers only the records that are not shadows.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_DEDUP = "uq_handrail_incidents_open_dedup"


def upgrade() -> None:
    op.add_column("handrail_incidents", sa.Column("shadow_of", sa.String(32), nullable=True))
    op.create_index("ix_handrail_incidents_shadow_of", "handrail_incidents", ["shadow_of"])
    _dedup_index("is_open AND shadow_of IS NULL")


def downgrade() -> None:
    shadows = "SELECT id FROM handrail_incidents WHERE shadow_of IS NOT NULL"
    op.execute(f"DELETE FROM handrail_timeline WHERE incident_id IN ({shadows})")  # noqa: S608 - no input in it
    op.execute("DELETE FROM handrail_incidents WHERE shadow_of IS NOT NULL")
    _dedup_index("is_open")
    op.drop_index("ix_handrail_incidents_shadow_of", "handrail_incidents")
    with op.batch_alter_table("handrail_incidents") as batch:
        batch.drop_column("shadow_of")


def _dedup_index(where: str) -> None:
    """One open incident per dedup key among the records `where` holds for (as written in store/schema.py)."""
    op.drop_index(_DEDUP, "handrail_incidents")
    clause = sa.text(where)
    op.create_index(
        _DEDUP, "handrail_incidents", ["dedup_key"], unique=True, sqlite_where=clause, postgresql_where=clause
    )
