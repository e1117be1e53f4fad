"""message workspace index: drop the one on workspace_id alone

``ix_message_search_walk`` (0037) indexes ``(workspace_id, seq)``, so it serves every read
and foreign-key check by ``workspace_id`` alone as well; ``ix_message_workspace_id`` only
cost a write per message. Both databases.

Revision ID: 0038
Revises: 0037
Create Date: 2026-11-26 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_message_workspace_id", table_name="message")


def downgrade() -> None:
    op.create_index("ix_message_workspace_id", "message", ["workspace_id"])
