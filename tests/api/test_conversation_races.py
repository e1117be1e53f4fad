"""One current conversation per contact and number, and no deadlock between ingestion and
a bulk enqueue that change the same conversations at once."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from structlog.testing import capture_logs

from ovillo.channels import webhooks as webhook_log
from ovillo.channels.models import Channel, WebhookEvent
from ovillo.contacts import service as contacts_service
from ovillo.inbox import outbox
from ovillo.inbox import service as inbox_service
from ovillo.inbox.ingest import apply_pending_events
from ovillo.inbox.models import AuthorType, Conversation, ConversationStatus, Message
from tests.api.ingesting import Ingestion, encode, text_payload


def _postgres_only(ingestion: Ingestion) -> None:
    if ingestion.runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing runs concurrently to race")


async def _contact_and_channel(
    ingestion: Ingestion, number: dict[str, Any], wa_id: str
) -> tuple[Channel, uuid.UUID]:
    channel = await ingestion.platform_channel(number)
    async with ingestion.session() as session:
        contact = await contacts_service.do_upsert_from_whatsapp(
            session=session, workspace_id=channel.workspace_id, wa_id=wa_id, now=ingestion.now()
        )
        await session.commit()
        return channel, contact.id


async def test_a_second_current_conversation_is_refused_and_a_closed_one_is_not(
    number: dict[str, Any], ingestion: Ingestion
) -> None:
    channel, contact_id = await _contact_and_channel(ingestion, number, "5215512340001")
    now = ingestion.now()
    async with ingestion.session() as session:
        first = await inbox_service.do_get_or_open_conversation(
            session=session,
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            contact_id=contact_id,
            now=now,
        )
        await session.commit()
    twin = {
        "workspace_id": channel.workspace_id,
        "channel_id": channel.id,
        "contact_id": contact_id,
        "last_activity_at": now,
        "created_at": now,
    }
    async with ingestion.session() as session:
        session.add(Conversation(status=ConversationStatus.SNOOZED, **twin))
        with pytest.raises(IntegrityError):
            await session.commit()
    async with ingestion.session() as session:
        session.add(Conversation(status=ConversationStatus.CLOSED, closed_at=now, **twin))
        await session.commit()
        again = await inbox_service.do_get_or_open_conversation(
            session=session,
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            contact_id=contact_id,
            now=now,
        )
        assert again.id == first.id


async def test_two_transactions_opening_at_once_share_one_conversation(
    number: dict[str, Any], ingestion: Ingestion
) -> None:
    _postgres_only(ingestion)
    channel, contact_id = await _contact_and_channel(ingestion, number, "5215512340002")
    now = ingestion.now()

    async def open_in(session: Any) -> Conversation:
        return await inbox_service.do_get_or_open_conversation(
            session=session,
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            contact_id=contact_id,
            inherit_window=True,
            now=now,
        )

    async with ingestion.session() as first, ingestion.session() as second:
        opened = await open_in(first)  # inserted, not committed: the second must wait
        racing = asyncio.create_task(open_in(second))
        done, _ = await asyncio.wait({racing}, timeout=0.5)
        assert not done, "the second opening did not wait for the first's row"
        await first.commit()
        shared = await asyncio.wait_for(racing, timeout=10)
        await second.commit()
    assert shared.id == opened.id
    current = await ingestion.count(
        Conversation,
        Conversation.contact_id == contact_id,
        Conversation.status != ConversationStatus.CLOSED,
    )
    assert current == 1


async def _log_texts(
    ingestion: Ingestion, number: dict[str, Any], wa_ids: list[str], tag: str
) -> None:
    """One inbound text from each of ``wa_ids`` into the log in one commit: one batch."""
    channel = await ingestion.platform_channel(number)
    at = ingestion.now().replace(microsecond=0)
    bodies = [
        encode(text_payload(number, wa_id=wa_id, wamid=f"wamid.{tag}.{wa_id}", body=tag, at=at))
        for wa_id in wa_ids
    ]
    events = [
        webhook_log.NewEvent(
            body=body,
            body_sha256=webhook_log.body_sha256(body),
            workspace_id=channel.workspace_id,
            phone_number_id=channel.phone_number_id,
            received_at=ingestion.now(),
        )
        for body in bodies
    ]
    async with ingestion.session() as session:
        await webhook_log.do_append_events(session=session, events=events)
        await session.commit()


async def test_bulk_enqueue_and_ingestion_of_the_same_conversations_never_deadlock(
    number: dict[str, Any], ingestion: Ingestion
) -> None:
    _postgres_only(ingestion)
    rng = random.Random(5)
    wa_ids = [f"52155123{4000 + i}" for i in range(40)]
    channel = await ingestion.platform_channel(number)
    # The customers wrote once already: their conversations exist.
    await _log_texts(ingestion, number, wa_ids, "first")

    async def all_applied() -> bool:
        pending = WebhookEvent.state == "pending"
        return await ingestion.count(WebhookEvent, pending) == 0

    await ingestion.settle(all_applied, what="the first texts applied")
    conversations = await ingestion.all(
        select(Conversation).where(Conversation.channel_id == channel.id)
    )
    assert len(conversations) == len(wa_ids)

    rounds = 6
    for round_ in range(rounds):
        # Ingestion meets the conversations in one order, the bulk enqueue in another.
        order = wa_ids[:]
        rng.shuffle(order)
        await _log_texts(ingestion, number, order, f"r{round_}")

        async def enqueue_all(round_: int = round_) -> None:
            targets = conversations[:]
            rng.shuffle(targets)
            async with ingestion.session() as session:
                fresh = {
                    c.id: c
                    for c in await session.scalars(
                        select(Conversation).where(Conversation.id.in_([c.id for c in targets]))
                    )
                }
                await outbox.do_enqueue_messages(
                    session=session,
                    workspace_id=channel.workspace_id,
                    messages=[
                        outbox.NewMessage(
                            conversation=fresh[c.id],
                            content={"type": "text", "text": {"body": f"bulk {round_}"}},
                            author_type=AuthorType.CAMPAIGN,
                            not_before=ingestion.now() + timedelta(days=1),  # never sent
                        )
                        for c in targets
                    ],
                    now=ingestion.now(),
                )
                await session.commit()

        with capture_logs() as logs:
            await asyncio.gather(
                enqueue_all(), apply_pending_events(ingestion.runtime, holder="race")
            )
        # A deadlock's victim on the ingestion side splits its batch (and says why).
        assert [e for e in logs if e["event"] == "webhook_batch_split"] == []
        await ingestion.settle(all_applied, what=f"round {round_} applied")

    # Every text of every round applied once, every bulk message queued once.
    assert await ingestion.count(WebhookEvent, WebhookEvent.state == "applied") == len(wa_ids) * (
        rounds + 1
    )
    assert await ingestion.count(WebhookEvent, WebhookEvent.error.is_not(None)) == 0
    outbound = await ingestion.scalar(
        select(func.count()).select_from(Message).where(Message.direction == "out")
    )
    assert outbound == len(wa_ids) * rounds


async def test_a_locked_conversation_does_not_block_a_second_update_of_its_message(
    number: dict[str, Any], ingestion: Ingestion
) -> None:
    """The cause of a deadlock the crash test met: an ingestion batch that updates one
    message twice ("sent", then "delivered") makes PostgreSQL check the message's foreign
    key on the second update, which takes FOR KEY SHARE on its conversation. A conversation
    lock (``do_lock_conversations``) must not block that check, or a bulk enqueue holding
    the conversation and the batch holding another wait for each other."""
    _postgres_only(ingestion)
    channel, contact_id = await _contact_and_channel(ingestion, number, "5215512340003")
    async with ingestion.session() as session:
        conversation = await inbox_service.do_get_or_open_conversation(
            session=session,
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            contact_id=contact_id,
            now=ingestion.now(),
        )
        [queued] = await outbox.do_enqueue_messages(
            session=session,
            workspace_id=channel.workspace_id,
            messages=[
                outbox.NewMessage(
                    conversation=conversation,
                    content={"type": "text", "text": {"body": "hola"}},
                    author_type=AuthorType.API,
                    not_before=ingestion.now() + timedelta(days=1),  # never sent
                )
            ],
            now=ingestion.now(),
        )
        await session.commit()

    async with ingestion.session() as holder, ingestion.session() as batch:
        await outbox.do_lock_conversations(session=holder, conversation_ids=[conversation.id])
        await batch.execute(text("SET LOCAL lock_timeout = '5s'"))
        for status in ("sent", "delivered"):
            await batch.execute(
                update(Message).where(Message.id == queued.id).values(status=status)
            )
        await batch.commit()
        await holder.commit()
    stored = await ingestion.all(select(Message.status).where(Message.id == queued.id))
    assert stored == ["delivered"]
