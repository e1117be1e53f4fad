"""Message search on a workspace with thousands of messages: rare words, several words,
accents and case; on PostgreSQL both ways of finding the newest matches (the walk and the
GIN index, ``inbox.search``) give the same messages, and each query takes the cheaper one."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from ovillo.core.ids import new_id
from ovillo.core.runtime import Runtime
from ovillo.core.search import fold, search_terms, tsquery_text
from ovillo.inbox import search
from ovillo.inbox.models import Message
from tests.api.conversing import Desk

COMMON = ["hola", "pedido", "pago", "envío", "gracias", "talla", "mañana", "precio"]
RARE = "Xilófono"
MESSAGES = search.SAMPLE + 500


async def _seed(desk: Desk, runtime: Runtime) -> dict[int, str]:
    """``MESSAGES`` texts in one conversation (a few with the rare word, most of them old);
    returns every message's text by seq."""
    await desk.writes_and_waits("5215512340001", "hola")
    async with runtime.sessionmaker() as session:
        first = (
            await session.scalars(select(Message).where(Message.workspace_id == desk.workspace_id))
        ).one()
        rng = random.Random(6)
        rows: list[dict[str, Any]] = []
        for i in range(MESSAGES):
            words = [rng.choice(COMMON) for _ in range(rng.randrange(2, 7))]
            if i in (3, 40, 41, MESSAGES - 5):
                words.insert(rng.randrange(len(words)), RARE)
            body = " ".join(words).capitalize()
            rows.append(
                {"workspace_id": desk.workspace_id, "id": new_id(first.created_at),
                 "conversation_id": first.conversation_id, "channel_id": first.channel_id,
                 "contact_id": first.contact_id, "direction": "in", "type": "text",
                 "text": body, "content": {"text": {"body": body}}, "author_type": "contact",
                 "status": "received", "created_at": first.created_at}
            )  # fmt: skip
        await session.execute(insert(Message), rows)
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("ANALYZE message"))
        await session.commit()
        found = await session.execute(
            select(Message.seq, Message.text).where(Message.workspace_id == desk.workspace_id)
        )
        return {seq: body or "" for seq, body in found}


def _matches(texts: dict[int, str], query: str) -> set[int]:
    """The seqs whose text has every word of ``query`` as a prefix of one of its words."""
    terms = search_terms(query)
    return {
        seq
        for seq, body in texts.items()
        if all(any(w.startswith(t) for w in search_terms(body)) for t in terms)
    }


async def test_rare_words_several_words_accents_and_case(
    desk: Desk, platform_runtime: Runtime
) -> None:
    texts = await _seed(desk, platform_runtime)
    rare = _matches(texts, RARE)
    assert len(rare) == 4
    async with platform_runtime.sessionmaker() as session:

        async def seqs(query: str, limit: int = 50, offset: int = 0) -> list[int]:
            found = await search.search_messages(
                session=session, workspace_id=desk.workspace_id, query=query, limit=limit,
                offset=offset,
            )  # fmt: skip
            return [m.seq for m in found]

        # A rare word, whatever its accents and case, or cut short: all its messages.
        for q in ("xilófono", "XILOFONO", "Xilo", fold(RARE)):
            assert set(await seqs(q)) == rare, q
        # With a common word too: the rare messages that also have it.
        both = _matches(texts, f"{RARE} pago")
        assert set(await seqs(f"pago {RARE}")) == both, both
        assert _matches(texts, "xilofono zzz") == set()
        assert await seqs("xilofono zzz") == []
        # Several common words: only messages with every one, the first page of many.
        for q in ("hola pago", "Envio MAÑANA talla", "gra pre"):
            expected = _matches(texts, q)
            assert len(expected) > 50, q
            page = await seqs(q)
            assert len(page) == 50, q
            assert set(page) <= expected, q
            # The next page goes on without repeating.
            assert not set(await seqs(q, offset=50)) & set(page), q


async def test_postgres_walk_and_index_find_the_same(desk: Desk, platform_runtime: Runtime) -> None:
    texts = await _seed(desk, platform_runtime)
    async with platform_runtime.sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return  # SQLite has one way, FTS5 (the test above)

        async def both_ways(
            query: str, offset: int, candidates: int
        ) -> tuple[list[int], list[int]]:
            params = {
                "workspace_id": desk.workspace_id, "limit": 30, "offset": offset,
                "query": tsquery_text(search_terms(query)),
                # The index way asks the index for one word, then keeps those with all.
                "rarest": tsquery_text(search_terms(query)[-1:]),
            }  # fmt: skip
            walk = await session.execute(search._POSTGRES_WALK[candidates], params)
            index = await session.execute(search._POSTGRES_INDEX[candidates], params)
            return [row[0] for row in walk], [row[0] for row in index]

        for q in (RARE, "hola", "hola pago", "pago envio talla", "xilofono pago", "zzz"):
            expected = _matches(texts, q)
            for candidates in search.WALK_CANDIDATES:
                newest = set(sorted(expected, reverse=True)[:candidates])
                for offset in (0, 30):
                    walk, index = await both_ways(q, offset, candidates)
                    assert walk == index, (q, candidates)
                    assert set(walk) <= newest, (q, candidates)
                    assert len(walk) == min(30, max(len(newest) - offset, 0)), (q, candidates)

        async def walks(query: str) -> bool:
            terms = search_terms(query)
            return await search._pg_prefers_walk(
                session, workspace_id=desk.workspace_id, terms=terms
            )

        # A rare word (even with a common one) from the index; common words by walking.
        assert not await walks(RARE)
        assert not await walks(f"hola {RARE}")
        assert not await walks("zzz")
        assert await walks("hola")
        assert await walks("hola pago")


async def test_a_small_workspace_walks(desk: Desk, platform_runtime: Runtime) -> None:
    """Fewer messages than the sample: walking them all is the short way."""
    await desk.writes_and_waits("5215512340002", "Hola, un xilófono")
    async with platform_runtime.sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return
        terms = search_terms("xilofono")
        assert await search._pg_prefers_walk(session, workspace_id=desk.workspace_id, terms=terms)
        found = await search.search_messages(
            session=session, workspace_id=desk.workspace_id, query="XILÓFONO", limit=5
        )
        assert [m.text for m in found] == ["Hola, un xilófono"]
        assert uuid.UUID(str(found[0].workspace_id)) == desk.workspace_id


def test_a_walk_keeps_fewer_candidates_when_matches_are_common() -> None:
    """As many as the newest ``WALK_ROWS`` messages hold, rounded down to a step."""
    sampled = search.SAMPLE
    assert search.walk_candidates(hits=sampled, sampled=sampled) == search.CANDIDATES
    one_in_five = search.walk_candidates(hits=sampled // 5, sampled=sampled)
    assert one_in_five == max(n for n in search.WALK_CANDIDATES if n <= search.WALK_ROWS / 5)
    # Two common words together, one message in twenty: fewer than all, more than the least.
    one_in_twenty = search.walk_candidates(hits=sampled // 20, sampled=sampled)
    assert search.WALK_CANDIDATES[0] < one_in_twenty < search.CANDIDATES
    # Rare: never fewer than the first step.
    assert search.walk_candidates(hits=1, sampled=sampled) == search.WALK_CANDIDATES[0]
    assert search.walk_candidates(hits=0, sampled=sampled) == search.WALK_CANDIDATES[0]


async def test_common_words_page_through_their_newest_matches(
    desk: Desk, platform_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a walk for common words ranks only the newest matches it has room for:
    every page together is exactly the newest ``WALK_CANDIDATES[0]`` matches here (the walk's
    room made small, so this workspace's few thousand messages are enough to show it)."""
    texts = await _seed(desk, platform_runtime)
    async with platform_runtime.sessionmaker() as session:
        if session.get_bind().dialect.name != "postgresql":
            return  # SQLite ranks its newest ``CANDIDATES`` matches always (FTS5 is quick)
        monkeypatch.setattr(search, "WALK_ROWS", search.SAMPLE // 4)
        query = "hola pago"
        expected = _matches(texts, query)
        fewest = search.WALK_CANDIDATES[0]
        assert len(expected) > fewest + 50
        way = await search._pg_choose(
            session, workspace_id=desk.workspace_id, terms=search_terms(query)
        )
        assert way.walk
        assert way.candidates == fewest
        found: list[int] = []
        for offset in range(0, fewest + 50, 50):
            page = await search.search_messages(
                session=session, workspace_id=desk.workspace_id, query=query, limit=50,
                offset=offset,
            )  # fmt: skip
            found += [m.seq for m in page]
        assert len(found) == len(set(found)) == fewest
        assert set(found) == set(sorted(expected, reverse=True)[:fewest])
