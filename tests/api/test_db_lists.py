"""``core.db.is_one_of`` / ``is_none_of``: ``IN`` lists as one SQL text on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ovillo.channels.models import WebhookEvent
from ovillo.core.db import is_none_of, is_one_of
from ovillo.inbox.models import Message


async def test_lists_of_any_length_match_as_in_and_not_in(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        now = datetime.now(UTC)
        rows = [WebhookEvent(received_at=now, body=b"{}", body_sha256=f"sha-{i}") for i in range(3)]
        session.add_all(rows)
        await session.commit()
        ids = [row.id for row in rows]
        # A bigint column and a string one, with lists of 0, 1 and 2 values.
        for column, values in (
            (WebhookEvent.id, [ids[0], ids[2]]),
            (WebhookEvent.body_sha256, ["sha-0", "sha-2"]),
        ):
            for wanted in ([], values[:1], values):
                chosen = set(
                    await session.scalars(
                        select(WebhookEvent.id).where(is_one_of(session, column, wanted))
                    )
                )
                others = set(
                    await session.scalars(
                        select(WebhookEvent.id).where(is_none_of(session, column, wanted))
                    )
                )
                expected = {ids[0], ids[2]} if len(wanted) == 2 else set(ids[: len(wanted)])
                assert chosen == expected
                assert others == set(ids) - expected


async def test_one_sql_text_whatever_the_length_on_postgresql(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        dialect = session.get_bind().dialect
        texts = {
            str(
                select(Message.seq)
                .where(is_one_of(session, Message.seq, range(count)))
                .compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            )
            for count in (1, 2, 5)
        }
    # SQLite renders one placeholder per value; PostgreSQL one array.
    assert len(texts) == (1 if dialect.name == "postgresql" else 3)
