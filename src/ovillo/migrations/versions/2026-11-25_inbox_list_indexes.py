"""inbox list indexes: the conversation lists read in index order, cursor included

``ix_conversation_list`` gains ``id`` (the cursor's tie-break after ``last_activity_at``),
and ``ix_conversation_assignee_list`` serves Mine and Unassigned, so a page of any view,
however deep, reads about a page of index entries instead of sorting the view
(bench/inbox.py, EXPLAIN).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 17:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_list")
        batch_op.create_index(
            "ix_conversation_list",
            ["workspace_id", "status", "last_activity_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_conversation_assignee_list",
            ["workspace_id", "assignee_id", "status", "last_activity_at", "id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_assignee_list")
        batch_op.drop_index("ix_conversation_list")
        batch_op.create_index(
            "ix_conversation_list", ["workspace_id", "status", "last_activity_at"], unique=False
        )
