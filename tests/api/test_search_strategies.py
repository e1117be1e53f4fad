"""Message search on a workspace with thousands of messages: rare words, several words,
accents and case; on PostgreSQL both ways of finding the newest matches (the walk and the
GIN index, ``inbox.search``) give the same messages, and each query takes the cheaper one."""

from __future__ import annotations

import random
import uuid
from typing import Any

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
        await session.execute(insert(Message.__table__), rows)
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("ANALYZE message"))
        await session.commit()
        found = await session.execute(
            select(Message.seq, Message.text).where(Message.workspace_id == desk.workspace_id)
        )
        return {seq: body for seq, body in found}


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

        async def both_ways(query: str, offset: int) -> tuple[list[int], list[int]]:
            params = {
                "workspace_id": desk.workspace_id, "limit": 30, "offset": offset,
                "query": tsquery_text(search_terms(query)),
                # The index way asks the index for one word, then keeps those with all.
                "rarest": tsquery_text(search_terms(query)[-1:]),
            }  # fmt: skip
            walk = await session.execute(search._POSTGRES_WALK, params)
            index = await session.execute(search._POSTGRES_INDEX, params)
            return [row[0] for row in walk], [row[0] for row in index]

        for q in (RARE, "hola", "hola pago", "pago envio talla", "xilofono pago", "zzz"):
            expected = _matches(texts, q)
            for offset in (0, 30):
                walk, index = await both_ways(q, offset)
                assert walk == index, q
                assert set(walk) <= expected, q
                assert len(walk) == min(30, max(len(expected) - offset, 0)), q

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
