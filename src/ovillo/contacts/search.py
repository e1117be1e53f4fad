"""Finding contacts by name, profile name, username or number: full text, accents folded.

The index is kept by the database itself, so every way a contact is written (the API,
webhooks in bulk) keeps it current: on SQLite the ``contact_search`` FTS5 table filled by
triggers (its ``contact_id`` is indexed too, so a trigger finds a contact's row without a
scan; a query matches in ``body`` only), on PostgreSQL a GIN index over the stored vector of
the folded text (migrations ``search``, ``stored_search_vectors`` and
``contact_search_by_index``; terms as in ``core.search``).
"""

from __future__ import annotations

import uuid
from typing import Final

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.contacts.models import Contact
from ovillo.core.search import fts5_match, search_terms, tsquery_text

# PostgreSQL's stored ``to_tsvector('simple', ovillo_fold(name || profile_name || ...))``
# (migration 0009).
PG_DOCUMENT: Final = "search_vector"

# Ranking reads every candidate, so it is bounded: the newest matches (by insertion), then
# best first among them; a common first name is ranked over its latest contacts.
CANDIDATES: Final = 2_000

_SQLITE = text(
    "SELECT id FROM ("
    " SELECT contact.id AS id, contact_search.rank AS score, contact_search.rowid AS n"
    " FROM contact_search JOIN contact ON contact.id = contact_search.contact_id"
    " WHERE contact_search MATCH :match AND contact.workspace_id = :workspace_id"
    " ORDER BY contact_search.rowid DESC LIMIT :candidates"
    ") ORDER BY score, n DESC LIMIT :limit OFFSET :offset"
)
_POSTGRES = text(
    "SELECT id FROM ("
    f" SELECT id, created_at, ts_rank({PG_DOCUMENT}, to_tsquery('simple'::regconfig, :query))"
    " AS score FROM ("
    "  SELECT id, created_at, search_vector FROM contact"
    f"  WHERE workspace_id = :workspace_id AND {PG_DOCUMENT} @@ to_tsquery('simple'::regconfig,"
    "  :query) ORDER BY created_at DESC LIMIT :candidates"
    " ) AS newest"
    ") AS scored ORDER BY score DESC, created_at DESC, id LIMIT :limit OFFSET :offset"
)


async def search_contacts(
    *, session: AsyncSession, workspace_id: uuid.UUID, query: str, limit: int, offset: int = 0
) -> list[Contact]:
    """The workspace's contacts matching every word of ``query`` (as prefixes), best first;
    ``limit`` of them after skipping ``offset``. An empty query finds nothing."""
    terms = search_terms(query)
    if not terms:
        return []
    params: dict[str, object] = {"limit": limit, "offset": offset, "candidates": CANDIDATES}
    if session.get_bind().dialect.name == "postgresql":
        params |= {"workspace_id": workspace_id, "query": tsquery_text(terms)}
        statement = _POSTGRES
    else:
        # SQLite stores UUIDs as 32 hex digits (SQLAlchemy's Uuid without native support).
        params |= {"workspace_id": workspace_id.hex, "match": fts5_match(terms, column="body")}
        statement = _SQLITE
    # A raw statement returns SQLite's ids as text.
    ids = [
        value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        for (value,) in await session.execute(statement, params)
    ]
    if not ids:
        return []
    found = {c.id: c for c in await session.scalars(select(Contact).where(Contact.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
