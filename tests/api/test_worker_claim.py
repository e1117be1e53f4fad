"""The outbox's claim on a real database (SQLite and PostgreSQL): order, due time, fencing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from ovillo.accounts.models import Workspace
from ovillo.contacts.models import Contact
from ovillo.core.runtime import Runtime
from ovillo.inbox import outbox
from ovillo.inbox.models import AuthorType, Conversation, Message, MessageStatus
from ovillo.worker.leases import acquire_lease_token
from tests.databases import settings_for
from tests.factories import stub_channel

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(settings_for(database_url, tmp_path / "var"))
    try:
        yield runtime
    finally:
        await runtime.aclose()


async def _conversation(runtime: Runtime) -> Conversation:
    async with runtime.sessionmaker() as session:
        workspace = Workspace(name="Acme", created_at=T0)
        session.add(workspace)
        await session.flush()
        channel = stub_channel(workspace_id=workspace.id, now=T0)
        contact = Contact(
            workspace_id=workspace.id, wa_id="15550100999", created_at=T0, updated_at=T0
        )
        session.add_all([channel, contact])
        await session.flush()
        conversation = Conversation(
            workspace_id=workspace.id,
            channel_id=channel.id,
            contact_id=contact.id,
            last_activity_at=T0,
            created_at=T0,
        )
        session.add(conversation)
        await session.commit()
        return conversation


async def _enqueue(
    runtime: Runtime, conversation: Conversation, plan: list[tuple[int, int]]
) -> list[Message]:
    """Messages with (priority, minutes until due), in this order."""
    async with runtime.sessionmaker() as session:
        fresh = await session.get(Conversation, conversation.id)
        assert fresh is not None
        messages = [
            await outbox.do_enqueue_message(
                session=session,
                workspace_id=conversation.workspace_id,
                conversation=fresh,
                content={"type": "text", "text": {"body": f"m{index}"}},
                author_type=AuthorType.API,
                priority=priority,
                not_before=T0 + timedelta(minutes=due_in),
                now=T0,
            )
            for index, (priority, due_in) in enumerate(plan)
        ]
        await session.commit()
        return messages


plans = st.lists(
    st.tuples(st.integers(min_value=-2, max_value=2), st.integers(min_value=0, max_value=3)),
    min_size=0,
    max_size=12,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(plan=plans, limit=st.integers(min_value=1, max_value=15), at=st.integers(0, 3))
async def test_the_claim_takes_the_due_messages_by_priority_then_age(
    db: Runtime, plan: list[tuple[int, int]], limit: int, at: int
) -> None:
    conversation = await _conversation(db)
    try:
        messages = await _enqueue(db, conversation, plan)
        now = T0 + timedelta(minutes=at)
        async with db.sessionmaker() as session:
            claimed = await outbox.claim_due_messages(
                session=session, channel_id=conversation.channel_id, now=now, limit=limit
            )
            await session.commit()

        due = [m for m, (_, due_in) in zip(messages, plan, strict=True) if due_in <= at]
        expected = sorted(due, key=lambda m: (m.priority, m.seq))[:limit]
        assert [m.id for m in claimed] == [m.id for m in expected]
        assert all(m.status == MessageStatus.SENDING for m in claimed)
        assert all(m.attempts == 1 and m.sending_at == now for m in claimed)
    finally:
        async with db.sessionmaker() as session:
            await session.execute(
                delete(Workspace).where(Workspace.id == conversation.workspace_id)
            )
            await session.commit()


async def test_concurrent_claims_never_take_a_message_twice(db: Runtime) -> None:
    conversation = await _conversation(db)
    messages = await _enqueue(db, conversation, [(0, 0)] * 60)

    async def claim() -> list[uuid.UUID]:
        async with db.sessionmaker() as session:
            claimed = await outbox.claim_due_messages(
                session=session, channel_id=conversation.channel_id, now=T0, limit=7
            )
            await session.commit()
            return [m.id for m in claimed]

    rounds = await asyncio.gather(*(claim() for _ in range(12)))
    taken = [message_id for batch in rounds for message_id in batch]
    assert len(taken) == len(set(taken)) == len(messages)


async def test_a_claim_fenced_by_a_lost_lease_takes_nothing(db: Runtime) -> None:
    conversation = await _conversation(db)
    await _enqueue(db, conversation, [(0, 0)] * 3)
    name = outbox.send_lease_name(conversation.channel_id)
    async with db.sessionmaker() as session:
        mine = await acquire_lease_token(
            session=session, name=name, holder="a", ttl_seconds=10, now=T0
        )
        theirs = await acquire_lease_token(
            session=session, name=name, holder="b", ttl_seconds=10, now=T0 + timedelta(seconds=11)
        )
    assert mine is not None
    assert theirs is not None

    async with db.sessionmaker() as session:
        stale = await outbox.claim_due_messages(
            session=session,
            channel_id=conversation.channel_id,
            now=T0 + timedelta(seconds=12),
            limit=10,
            lease_holder="a",
            fencing_token=mine,
        )
        current = await outbox.claim_due_messages(
            session=session,
            channel_id=conversation.channel_id,
            now=T0 + timedelta(seconds=12),
            limit=10,
            lease_holder="b",
            fencing_token=theirs,
        )
        await session.commit()
    assert stale == []
    assert len(current) == 3
