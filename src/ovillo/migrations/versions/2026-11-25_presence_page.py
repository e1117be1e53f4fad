"""presence page: which page wrote an agent's presence, so an old page's goodbye spares a new one

A form's post reloads the conversation: the new page may report before the old page's
``leave`` arrives, which then hid the agent until the next heartbeat.

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-25 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page_id", sa.String(length=64)))


def downgrade() -> None:
    with op.batch_alter_table("presence", schema=None) as batch_op:
        batch_op.drop_column("page_id")
