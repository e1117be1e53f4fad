"""webhook and media retries: when a failed webhook event or media download is tried again

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 13:46:53.181395
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media_file", schema=None) as batch_op:
        # Existing rows start at zero attempts; the default is dropped below (the model
        # sets the value on insert, as every other counter of the schema).
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
        batch_op.create_index("ix_media_file_due", ["state", "next_attempt_at"], unique=False)
    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.alter_column("attempts", server_default=None)

    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("webhook_event", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")

    with op.batch_alter_table("media_file", schema=None) as batch_op:
        batch_op.drop_index("ix_media_file_due")
        batch_op.drop_column("next_attempt_at")
        batch_op.drop_column("attempts")
