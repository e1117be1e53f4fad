"""message late failure index: a campaign's messages failed after acceptance

Meta answers some sends with a wamid and fails them later in a status webhook (131048,
131026, 131050...). ``campaigns.dispatch`` sweeps each round for the campaign's recipients
still counted sent whose message did so; this partial index holds only those messages (few),
keyed by their author (the campaign), so the sweep does not walk the campaign's recipients.
Both databases.

Revision ID: 0039
Revises: 0038
Create Date: 2026-11-26 03:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "status = 'failed' AND accepted_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_message_late_failure",
        "message",
        ["author_id"],
        sqlite_where=sa.text(_WHERE),
        postgresql_where=sa.text(_WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_message_late_failure", table_name="message")
