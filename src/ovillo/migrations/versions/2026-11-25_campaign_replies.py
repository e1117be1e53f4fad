"""campaign replies: an inbound message names the campaign it answers

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-25 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ATTRIBUTED = "campaign_id IS NOT NULL"


def upgrade() -> None:
    # Nullable, no default: adding it rewrites no row. Replies received before stay
    # unattributed (the funnel counted them by time until now).
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            "ix_message_campaign",
            ["campaign_id", "contact_id"],
            unique=False,
            sqlite_where=sa.text(ATTRIBUTED),
            postgresql_where=sa.text(ATTRIBUTED),
        )


def downgrade() -> None:
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_message_campaign",
            sqlite_where=sa.text(ATTRIBUTED),
            postgresql_where=sa.text(ATTRIBUTED),
        )
        batch_op.drop_column("campaign_id")
