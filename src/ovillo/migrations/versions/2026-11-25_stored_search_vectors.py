"""stored search vectors: PostgreSQL keeps each row's tsvector instead of computing it

bench/inbox.py on 1,000,000 messages: ranking and filtering the newest matches computed
``to_tsvector(ovillo_fold(text))`` per row at query time, about a second for a common
word. A generated column stores it once, on write; the GIN indexes move onto it, and
ANALYZE gathers its word statistics, so the planner can tell a rare word (index) from a
common one (newest rows first). SQLite is unchanged (FTS5 keeps its own index).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25 17:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONTACT_BODY = (
    "COALESCE(name, '') || ' ' || COALESCE(profile_name, '') || ' ' || "
    "COALESCE(username, '') || ' ' || COALESCE(wa_id, '') || ' ' || COALESCE(phone_e164, '')"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_message_search")
    op.execute("DROP INDEX IF EXISTS ix_contact_search")
    op.execute(
        "ALTER TABLE message ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
        "(to_tsvector('simple'::regconfig, ovillo_fold(COALESCE(text, '')))) STORED"
    )
    op.execute(
        "ALTER TABLE contact ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
        f"(to_tsvector('simple'::regconfig, ovillo_fold({_CONTACT_BODY}))) STORED"
    )
    op.execute("CREATE INDEX ix_message_search ON message USING gin (search_vector)")
    op.execute("CREATE INDEX ix_contact_search ON contact USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_message_search")
    op.execute("DROP INDEX IF EXISTS ix_contact_search")
    op.execute("ALTER TABLE message DROP COLUMN search_vector")
    op.execute("ALTER TABLE contact DROP COLUMN search_vector")
    op.execute(
        "CREATE INDEX ix_message_search ON message USING gin "
        "(to_tsvector('simple'::regconfig, ovillo_fold(COALESCE(text, ''))))"
    )
    op.execute(
        "CREATE INDEX ix_contact_search ON contact USING gin "
        f"(to_tsvector('simple'::regconfig, ovillo_fold({_CONTACT_BODY})))"
    )
