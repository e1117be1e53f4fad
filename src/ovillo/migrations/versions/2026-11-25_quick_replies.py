"""quick replies: a workspace's saved answers, typed in the composer as /shortcut

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-25 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "quick_reply",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspace.id"],
            name=op.f("fk_quick_reply_workspace_id_workspace"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quick_reply")),
        sa.UniqueConstraint(
            "workspace_id", "shortcut", name=op.f("uq_quick_reply_workspace_id_shortcut")
        ),
    )
    with op.batch_alter_table("quick_reply", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_quick_reply_workspace_id"), ["workspace_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("quick_reply", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quick_reply_workspace_id"))
    op.drop_table("quick_reply")
