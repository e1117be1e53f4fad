"""search: full-text indexes of messages and contacts, kept by the database

SQLite: FTS5 tables (accents folded by the unicode61 tokenizer) filled by triggers, so
every way a row is written keeps its index current; ``message_search`` is an external-
content table over ``message.text`` (rowid = ``message.seq``, so the text is not stored
twice), ``contact_search`` holds each contact's searchable words by ``contact.id``.
PostgreSQL: ``ovillo_fold`` (lower case, accents off; IMMUTABLE, so an index may use it)
and GIN indexes over ``to_tsvector('simple', ovillo_fold(...))``. The queries repeat these
expressions exactly (``inbox.search``, ``contacts.search``). None of it is in the models:
``migrations.HAND_MANAGED`` keeps autogenerate from dropping it.

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-25 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FOLD = """
CREATE OR REPLACE FUNCTION ovillo_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT translate(lower(value), 'áàâäãåéèêëíìîïóòôöõúùûüñçýÿ',
                                     'aaaaaaeeeeiiiiooooouuuuncyy') $$
"""

_CONTACT_BODY_PG = (
    "COALESCE(name, '') || ' ' || COALESCE(profile_name, '') || ' ' || "
    "COALESCE(username, '') || ' ' || COALESCE(wa_id, '') || ' ' || COALESCE(phone_e164, '')"
)


def _contact_body(row: str) -> str:
    return " || ' ' || ".join(
        f"COALESCE({row}.{column}, '')"
        for column in ("name", "profile_name", "username", "wa_id", "phone_e164")
    )


_SQLITE_UP = [
    "CREATE VIRTUAL TABLE message_search USING fts5(text, content='message', "
    "content_rowid='seq', tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO message_search(message_search) VALUES ('rebuild')",
    "CREATE TRIGGER message_search_insert AFTER INSERT ON message "
    "WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO message_search(rowid, text) VALUES (new.seq, new.text); END",
    "CREATE TRIGGER message_search_delete AFTER DELETE ON message "
    "WHEN old.text IS NOT NULL BEGIN "
    "INSERT INTO message_search(message_search, rowid, text) "
    "VALUES ('delete', old.seq, old.text); END",
    "CREATE TRIGGER message_search_update AFTER UPDATE OF text ON message "
    "WHEN old.text IS NOT new.text BEGIN "
    "INSERT INTO message_search(message_search, rowid, text) "
    "SELECT 'delete', old.seq, old.text WHERE old.text IS NOT NULL; "
    "INSERT INTO message_search(rowid, text) "
    "SELECT new.seq, new.text WHERE new.text IS NOT NULL; END",
    "CREATE VIRTUAL TABLE contact_search USING fts5(contact_id UNINDEXED, body, "
    "tokenize='unicode61 remove_diacritics 2')",
    "INSERT INTO contact_search(contact_id, body) "
    f"SELECT id, {_contact_body('contact')} FROM contact",
    "CREATE TRIGGER contact_search_insert AFTER INSERT ON contact BEGIN "
    f"INSERT INTO contact_search(contact_id, body) VALUES (new.id, {_contact_body('new')}); END",
    "CREATE TRIGGER contact_search_delete AFTER DELETE ON contact BEGIN "
    "DELETE FROM contact_search WHERE contact_id = old.id; END",
    # Only when a searched column really changed: contacts are touched on every message.
    "CREATE TRIGGER contact_search_update AFTER UPDATE ON contact "
    "WHEN old.name IS NOT new.name OR old.profile_name IS NOT new.profile_name "
    "OR old.username IS NOT new.username OR old.wa_id IS NOT new.wa_id "
    "OR old.phone_e164 IS NOT new.phone_e164 BEGIN "
    "DELETE FROM contact_search WHERE contact_id = old.id; "
    f"INSERT INTO contact_search(contact_id, body) VALUES (new.id, {_contact_body('new')}); END",
]

_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS contact_search_update",
    "DROP TRIGGER IF EXISTS contact_search_delete",
    "DROP TRIGGER IF EXISTS contact_search_insert",
    "DROP TABLE IF EXISTS contact_search",
    "DROP TRIGGER IF EXISTS message_search_update",
    "DROP TRIGGER IF EXISTS message_search_delete",
    "DROP TRIGGER IF EXISTS message_search_insert",
    "DROP TABLE IF EXISTS message_search",
]

_POSTGRES_UP = [
    _FOLD,
    "CREATE INDEX ix_message_search ON message USING gin "
    "(to_tsvector('simple'::regconfig, ovillo_fold(COALESCE(text, ''))))",
    "CREATE INDEX ix_contact_search ON contact USING gin "
    f"(to_tsvector('simple'::regconfig, ovillo_fold({_CONTACT_BODY_PG})))",
]

_POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_contact_search",
    "DROP INDEX IF EXISTS ix_message_search",
    "DROP FUNCTION IF EXISTS ovillo_fold(text)",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES_UP if postgres else _SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in _POSTGRES_DOWN if postgres else _SQLITE_DOWN:
        op.execute(statement)
