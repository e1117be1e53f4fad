"""one current conversation: at most one open or snoozed conversation per contact and number

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CURRENT = "status != 'closed'"


def upgrade() -> None:
    # Two current conversations may exist from before (the race this index closes): keep
    # the newest current one of each contact and number, close the others.
    op.execute(
        sa.text(
            "UPDATE conversation SET status = 'closed', closed_at = last_activity_at "
            "WHERE status != 'closed' AND EXISTS ("
            " SELECT 1 FROM conversation AS newer"
            " WHERE newer.channel_id = conversation.channel_id"
            " AND newer.contact_id = conversation.contact_id"
            " AND newer.status != 'closed'"
            " AND (newer.created_at > conversation.created_at"
            "  OR (newer.created_at = conversation.created_at AND newer.id > conversation.id)))"
        )
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "uq_conversation_current",
            ["channel_id", "contact_id"],
            unique=True,
            sqlite_where=sa.text(CURRENT),
            postgresql_where=sa.text(CURRENT),
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_conversation_current",
            sqlite_where=sa.text(CURRENT),
            postgresql_where=sa.text(CURRENT),
        )
