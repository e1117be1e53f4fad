"""campaign audience: contacts Meta reported as not on WhatsApp, a workspace's opt-out words

``contact.not_on_whatsapp_at`` is set when a send fails with 131026 and cleared when the
contact writes; segments leave such contacts out and count them. ``workspace.opt_out_words``
holds the replies that opt a contact out of marketing (null: the defaults). An index finds
when a contact last wrote without reading all of the workspace's conversations.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25 19:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_contact_inbound", ["contact_id", "last_inbound_at"], unique=False
        )
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("not_on_whatsapp_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "opt_out_words",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("workspace", schema=None) as batch_op:
        batch_op.drop_column("opt_out_words")
    with op.batch_alter_table("contact", schema=None) as batch_op:
        batch_op.drop_column("not_on_whatsapp_at")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_contact_inbound")
