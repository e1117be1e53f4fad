"""Search across the workspace's contacts and messages (the inbox's search box).

Messages are found by their searchable text (``message.text``: a body, a caption, a
button's title) through an index the database keeps itself: on SQLite the external-content
FTS5 table ``message_search`` (rowid = ``message.seq``) filled by triggers, on PostgreSQL
a GIN index over the stored vector of the folded text (migrations ``search`` and
``stored_search_vectors``; terms as in ``core.search``).
Contacts are the contacts domain's (``contacts.search``). Ranked best first (bm25 on
SQLite, ``ts_rank`` on PostgreSQL) among the newest ``CANDIDATES`` matches, newest first
among equals; pages by offset.

On PostgreSQL the newest matches are found one of two ways, whichever reads less for
this query; both give the same rows. A *walk* reads the workspace's messages
newest first (index ``ix_message_search_walk``) until it has them: quick when the words
are common, a whole-table read when they are rare. The *index* way takes the messages with
the rarest word from the GIN index, keeps those with every word, then the newest: quick
when one word is rare, but a common word's whole posting list otherwise. The planner
cannot choose well by itself: its estimate for a prefix (``canc:*``) is a fixed guess
unless the column has hundreds of distinct words, so it walked the whole table for a rare
word and read whole posting lists for two common ones. So the choice is made here, from
how often the query and each of its words match among the newest ``SAMPLE`` messages
(``_pg_choose``).

The walk also stops early when matches are common: it keeps as many candidates as the
newest ``WALK_ROWS`` messages hold (by the sample's density, rounded down to one of
``WALK_CANDIDATES``, at least the first), not ``CANDIDATES``. Two common words together
match one message in twenty or so, and their newest 2,000 matches were 48,000 rows to read
(bench/inbox.py); ranked among the newest 500 instead, the first pages are the same kind
of answer, recent and relevant, for a quarter of the reading. That is a product choice: an
inbox's search is for what was said lately, so for a common query the results to page
through are the recent ones (at least ``WALK_CANDIDATES[0]``), not the best of the whole
history. A query rare enough for the index way still ranks its newest ``CANDIDATES``
matches.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.contacts import search as contacts_search
from ovillo.contacts.models import Contact
from ovillo.core.search import fts5_match, search_terms, tsquery_text
from ovillo.inbox.errors import InvalidCursorError
from ovillo.inbox.models import Message
from ovillo.inbox.service import _decode, _encode

T = TypeVar("T")

SearchKind = Literal["contacts", "messages"]
MAX_OFFSET: Final = 2_000

# PostgreSQL's stored ``to_tsvector('simple', ovillo_fold(text))`` (migration 0009).
PG_DOCUMENT: Final = "search_vector"

# Ranking reads every candidate, so it is bounded: the newest matches, then best first
# among them. A rare word is ranked over all its matches; a word in every other message
# over its latest ones, which is what an inbox's search is for.
CANDIDATES: Final = 2_000
# On PostgreSQL a walk reads about this many of the newest messages for its candidates when
# matches are common, keeping one of these many (literals in the SQL, as ``CANDIDATES``:
# a prepared statement's generic plan would guess a parameter LIMIT at a tenth of the
# table). Measured on bench/inbox.py's database: a walked row costs about a microsecond.
WALK_ROWS: Final = 12_000
WALK_CANDIDATES: Final = (200, 500, 1_000, CANDIDATES)

_SQLITE = text(
    "SELECT seq FROM ("
    " SELECT message.seq AS seq, message_search.rank AS score FROM message_search"
    " JOIN message ON message.seq = message_search.rowid"
    " WHERE message_search MATCH :match AND message.workspace_id = :workspace_id"
    " ORDER BY message_search.rowid DESC LIMIT :candidates"
    ") ORDER BY score, seq DESC LIMIT :limit OFFSET :offset"
)


def _pg_tsquery(parameter: str) -> str:
    """The tsquery of a text parameter, made once per statement (a scalar subquery, run
    as an InitPlan). Written inline, ``to_tsquery`` on a parameter is parsed again for
    every row a filter or ``ts_rank`` reads once PostgreSQL keeps a prepared statement's
    generic plan (asyncpg prepares every statement; after five runs): that tripled a
    walk's time (12,000 rows, 5 ms to 35 ms on bench/inbox.py's database)."""
    return f"(SELECT to_tsquery('simple'::regconfig, :{parameter}))"


_PG_QUERY: Final = _pg_tsquery("query")
# Ranks the newest ``CANDIDATES`` matches of ``{matches}`` (rows with seq and search_vector).
_PG_RANKED: Final = (
    "SELECT seq FROM ("
    f" SELECT seq, ts_rank({PG_DOCUMENT}, {_PG_QUERY}) AS score"
    " FROM (SELECT seq, search_vector FROM {matches} ORDER BY seq DESC LIMIT {candidates})"
    " AS newest"
    ") AS scored ORDER BY score DESC, seq DESC LIMIT :limit OFFSET :offset"
)
# The walk: ``OFFSET 0`` keeps the match out of the subquery, so the planner cannot turn the
# newest-first read into a GIN scan; the outer LIMIT stops it at the last candidate.
_POSTGRES_WALK: Final = {
    candidates: text(
        _PG_RANKED.format(
            candidates=candidates,
            matches="(SELECT seq, search_vector FROM message WHERE workspace_id = :workspace_id"
            " ORDER BY seq DESC OFFSET 0) AS recent"
            f" WHERE {PG_DOCUMENT} @@ {_PG_QUERY}",
        )
    )
    for candidates in WALK_CANDIDATES
}
# The index: the messages with the query's rarest word (``:rarest``), from the GIN index,
# kept apart so no newest-first read is mixed in; then those with every word. Asking the
# index for the common words too would read their whole posting lists (a prefix's are
# gathered in full before they are intersected). Any of the walk's numbers of candidates,
# so both ways can be compared (the search itself takes ``CANDIDATES`` this way).
_POSTGRES_INDEX: Final = {
    candidates: text(
        "WITH hits AS MATERIALIZED ("
        " SELECT seq, search_vector FROM message WHERE workspace_id = :workspace_id"
        f" AND {PG_DOCUMENT} @@ to_tsquery('simple'::regconfig, :rarest)"
        ") "
        + _PG_RANKED.format(
            matches=f"hits WHERE {PG_DOCUMENT} @@ {_PG_QUERY}", candidates=candidates
        )
    )
    for candidates in WALK_CANDIDATES
}

# How many of the newest messages ``_pg_prefers_walk`` looks at, and what it weighs: a row
# walked (read and matched), a GIN posting read for a prefix, a match's row fetched by the
# index way (scattered in the table). Measured on bench/inbox.py's database, roughly.
SAMPLE: Final = 2_000
WALK_ROW_COST: Final = 1.6
POSTING_COST: Final = 0.8
FETCH_COST: Final = 6.0


@dataclass(frozen=True, slots=True)
class _PgWay:
    """How PostgreSQL finds a query's candidates: by walk or by index, how many, and the
    rarest word (the one the index way asks the index for)."""

    walk: bool
    candidates: int
    rarest: str


async def _pg_prefers_walk(
    session: AsyncSession, *, workspace_id: uuid.UUID, terms: list[str]
) -> bool:
    return (await _pg_choose(session, workspace_id=workspace_id, terms=terms)).walk


def walk_candidates(*, hits: int, sampled: int) -> int:
    """How many matches a walk keeps for a query matching ``hits`` of the ``sampled``
    newest messages: as many as the newest ``WALK_ROWS`` hold, rounded down to one of
    ``WALK_CANDIDATES`` (at least the first)."""
    expected = WALK_ROWS * hits / sampled if sampled else float(CANDIDATES)
    return max((n for n in WALK_CANDIDATES if n <= expected), default=WALK_CANDIDATES[0])


async def _pg_choose(session: AsyncSession, *, workspace_id: uuid.UUID, terms: list[str]) -> _PgWay:
    """Whether walking the newest messages reads less than the GIN index for ``terms``:
    the walk reads about ``candidates / density`` rows (all the workspace's if none of the
    newest match), the index every posting of the rarest word in the whole table and a row
    for each. Densities are those among the newest ``SAMPLE`` messages; between words none
    of them has, the longest is taken for the rarest."""
    counts = ", ".join(
        f"count(*) FILTER (WHERE {PG_DOCUMENT} @@ {_pg_tsquery(f'term{i}')})"
        for i in range(len(terms))
    )
    statement = text(
        f"SELECT count(*), count(*) FILTER (WHERE {PG_DOCUMENT} @@ {_PG_QUERY}), {counts},"
        " (SELECT reltuples FROM pg_class WHERE oid = 'message'::regclass)"
        " FROM (SELECT search_vector FROM message WHERE workspace_id = :workspace_id"
        f" ORDER BY seq DESC LIMIT {SAMPLE}) AS recent"
    )
    params: dict[str, object] = {
        "workspace_id": workspace_id, "query": tsquery_text(terms),
    } | {f"term{i}": tsquery_text([term]) for i, term in enumerate(terms)}  # fmt: skip
    row = (await session.execute(statement, params)).one()
    sampled, hits, *per_term, table_rows = row
    rarest_count, _, rarest = min(
        (count, -len(term), term) for count, term in zip(per_term, terms, strict=True)
    )
    if sampled < SAMPLE:
        # The workspace's messages are fewer than the sample: a short walk, ranking all.
        return _PgWay(walk=True, candidates=CANDIDATES, rarest=rarest)
    candidates = walk_candidates(hits=hits, sampled=sampled)
    rows = max(float(table_rows or 0), float(sampled))
    walk = WALK_ROW_COST * (min(candidates * sampled / hits, rows) if hits else rows)
    index = rows / sampled * (POSTING_COST + FETCH_COST) * rarest_count
    if walk <= index:
        return _PgWay(walk=True, candidates=candidates, rarest=rarest)
    return _PgWay(walk=False, candidates=CANDIDATES, rarest=rarest)


@dataclass(frozen=True, slots=True)
class SearchSection(Generic[T]):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class SearchResults:
    contacts: SearchSection[Contact] | None
    messages: SearchSection[Message] | None


def encode_search_cursor(kind: SearchKind, offset: int) -> str:
    return _encode(f"search:{kind}:{offset}")


def decode_search_cursor(cursor: str) -> tuple[SearchKind, int]:
    kind, _, offset = _decode(cursor, prefix="search:").partition(":")
    if kind not in ("contacts", "messages") or not offset.isdigit():
        raise InvalidCursorError(
            "the cursor is not valid: pass `next_cursor` from the previous page as it came"
        )
    return ("contacts" if kind == "contacts" else "messages"), min(int(offset), MAX_OFFSET)


async def search_messages(
    *, session: AsyncSession, workspace_id: uuid.UUID, query: str, limit: int, offset: int = 0
) -> list[Message]:
    """The workspace's messages whose text has every word of ``query`` (as prefixes, accents
    folded), best first; ``limit`` after skipping ``offset``."""
    terms = search_terms(query)
    if not terms:
        return []
    params: dict[str, object] = {"limit": limit, "offset": offset, "candidates": CANDIDATES}
    if session.get_bind().dialect.name == "postgresql":
        params |= {"workspace_id": workspace_id, "query": tsquery_text(terms)}
        way = await _pg_choose(session, workspace_id=workspace_id, terms=terms)
        params["rarest"] = tsquery_text([way.rarest])
        statement = (_POSTGRES_WALK if way.walk else _POSTGRES_INDEX)[way.candidates]
    else:
        params |= {"workspace_id": workspace_id.hex, "match": fts5_match(terms)}
        statement = _SQLITE
    seqs = [row[0] for row in await session.execute(statement, params)]
    if not seqs:
        return []
    found = {m.seq: m for m in await session.scalars(select(Message).where(Message.seq.in_(seqs)))}
    return [found[seq] for seq in seqs if seq in found]


async def search(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    query: str,
    limit: int,
    cursor: str | None = None,
) -> SearchResults:
    """Contacts and messages matching ``query``: the first page of each, or with a
    ``cursor`` (from a section's ``next_cursor``) the next page of that section only."""
    kinds: tuple[SearchKind, ...] = ("contacts", "messages")
    offset = 0
    if cursor:
        kind, offset = decode_search_cursor(cursor)
        kinds = (kind,)
    contacts = messages = None
    if "contacts" in kinds:
        found = await contacts_search.search_contacts(
            session=session, workspace_id=workspace_id, query=query, limit=limit + 1,
            offset=offset,
        )  # fmt: skip
        contacts = _section(found, "contacts", limit=limit, offset=offset)
    if "messages" in kinds:
        hits = await search_messages(
            session=session, workspace_id=workspace_id, query=query, limit=limit + 1,
            offset=offset,
        )  # fmt: skip
        messages = _section(hits, "messages", limit=limit, offset=offset)
    return SearchResults(contacts=contacts, messages=messages)


def _section(found: list[T], kind: SearchKind, *, limit: int, offset: int) -> SearchSection[T]:
    more = len(found) > limit and offset + limit <= MAX_OFFSET
    return SearchSection(
        items=found[:limit],
        next_cursor=encode_search_cursor(kind, offset + limit) if more else None,
    )
