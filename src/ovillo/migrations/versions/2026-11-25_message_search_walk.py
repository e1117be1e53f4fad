"""message search walk: a workspace's messages newest first, by index

Search on PostgreSQL reads a common word's newest matches by walking the workspace's
messages newest first, and samples the newest messages to choose between that walk and
the GIN index (``inbox.search``). ``message.seq`` alone orders every workspace's messages
together, so a small workspace's walk would read everyone's; ``(workspace_id, seq)`` reads
its own only. Named under ``ix_message_search``, so ``migrations.HAND_MANAGED`` keeps it
out of autogenerate with the other search structures. Both databases.

Revision ID: 0037
Revises: 0036
Create Date: 2026-11-25 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_message_search_walk", "message", ["workspace_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_message_search_walk", table_name="message")
