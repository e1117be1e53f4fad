"""contact search rows found by index: a rename no longer scans the search table

On SQLite, ``contact_search`` kept ``contact_id`` UNINDEXED, so the triggers' ``DELETE ...
WHERE contact_id = old.id`` read the whole FTS table for every renamed or deleted contact:
an import of many known numbers, or profile names changing in webhooks, slowed down as the
contact base grew. The column is now indexed and the triggers delete through ``MATCH``
(``contact_id : "<id>"``); searches match in ``body`` only (``contacts.search``), so an id
is never a word a user finds. The table is rebuilt from ``contact``. PostgreSQL is
unchanged (a stored vector with a GIN index, migration ``stored_search_vectors``).

The trigger text is repeated from migration ``search`` on purpose: a migration is a
snapshot of the schema at its revision and must not change when a later one does.

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-25 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("name", "profile_name", "username", "wa_id", "phone_e164")
_CHANGED = " OR ".join(f"old.{column} IS NOT new.{column}" for column in _COLUMNS)


def _body(row: str) -> str:
    return " || ' ' || ".join(f"COALESCE({row}.{column}, '')" for column in _COLUMNS)


def _statements(*, indexed: bool) -> list[str]:
    """The contact search table and its triggers: ``indexed`` is this revision's form,
    otherwise the one of migration ``search``."""
    if indexed:
        column = "contact_id"
        remove = "DELETE FROM contact_search WHERE contact_search MATCH "
        remove += "'contact_id : \"' || old.id || '\"'"
    else:
        column = "contact_id UNINDEXED"
        remove = "DELETE FROM contact_search WHERE contact_id = old.id"
    return [
        "DROP TRIGGER IF EXISTS contact_search_update",
        "DROP TRIGGER IF EXISTS contact_search_delete",
        "DROP TRIGGER IF EXISTS contact_search_insert",
        "DROP TABLE IF EXISTS contact_search",
        f"CREATE VIRTUAL TABLE contact_search USING fts5({column}, body, "
        "tokenize='unicode61 remove_diacritics 2')",
        f"INSERT INTO contact_search(contact_id, body) SELECT id, {_body('contact')} FROM contact",
        "CREATE TRIGGER contact_search_insert AFTER INSERT ON contact BEGIN "
        f"INSERT INTO contact_search(contact_id, body) VALUES (new.id, {_body('new')}); END",
        f"CREATE TRIGGER contact_search_delete AFTER DELETE ON contact BEGIN {remove}; END",
        # Only when a searched column really changed: contacts are touched on every message.
        f"CREATE TRIGGER contact_search_update AFTER UPDATE ON contact WHEN {_CHANGED} BEGIN "
        f"{remove}; "
        f"INSERT INTO contact_search(contact_id, body) VALUES (new.id, {_body('new')}); END",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _statements(indexed=True):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _statements(indexed=False):
            op.execute(statement)
