"""pending template update: template webhooks that outran their template's row

An instant review can send ``message_template_status_update`` before the create call that
stores the template has committed; the update is parked here and applied when the row
appears, instead of waiting for the next sync.

Revision ID: 0015
Revises: 0010
Create Date: 2026-11-25 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_template_update",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("waba_id", sa.String(length=64), nullable=False),
        sa.Column("meta_template_id", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column(
            "value", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_template_update")),
    )
    with op.batch_alter_table("pending_template_update", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pending_template_update_meta", ["waba_id", "meta_template_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pending_template_update_received_at"), ["received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pending_template_update", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_template_update_received_at"))
        batch_op.drop_index("ix_pending_template_update_meta")
    op.drop_table("pending_template_update")
