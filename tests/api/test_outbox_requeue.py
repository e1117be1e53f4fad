"""A send left unanswered is not sent again while its status may wait in our webhook log.

``do_requeue_unanswered`` puts a message stuck in ``sending`` back in the queue once the
reconcile grace has passed without a status naming it. The grace covers Meta's delay; a
status that arrived in time but waits in the webhook log to be applied (ingestion behind,
a worker restarting after a crash) must still win, or the message leaves twice. The crash
test (tests/crash/) found exactly that on a loaded machine.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ovillo.accounts import service as accounts_service
from ovillo.channels.models import Channel, WebhookEvent, WebhookEventState
from ovillo.contacts import service as contacts_service
from ovillo.core.db import create_engine
from ovillo.core.settings import DatabaseSettings
from ovillo.inbox import outbox
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import AuthorType, Message, MessageStatus
from tests.factories import stub_channel

GRACE = timedelta(seconds=120)
CLAIMED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Past the grace: with nothing in the log, the message is stale.
CHECKED_AT = CLAIMED_AT + GRACE + timedelta(seconds=30)


@dataclass
class Stuck:
    sessionmaker: async_sessionmaker[AsyncSession]
    channel: Channel
    message_id: uuid.UUID

    async def log_event(self, *, received_at: datetime, state: WebhookEventState) -> int:
        """A webhook event of the number; a FAILED one is due for a retry in a day."""
        async with self.sessionmaker() as session:
            event = WebhookEvent(
                received_at=received_at,
                workspace_id=self.channel.workspace_id,
                phone_number_id=self.channel.phone_number_id,
                body=uuid.uuid4().bytes,
                body_sha256=uuid.uuid4().hex,
                state=state,
                next_attempt_at=(
                    received_at + timedelta(days=1) if state is WebhookEventState.FAILED else None
                ),
            )
            session.add(event)
            await session.commit()
            return event.id

    async def mark_applied(self, event_id: int) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                update(WebhookEvent)
                .where(WebhookEvent.id == event_id)
                .values(state=WebhookEventState.APPLIED, next_attempt_at=None)
            )
            await session.commit()

    async def requeue(self) -> int:
        async with self.sessionmaker() as session:
            requeued = await outbox.do_requeue_unanswered(
                session=session,
                now=CHECKED_AT,
                grace=GRACE,
                max_attempts=8,
                channel_id=self.channel.id,
            )
            await session.commit()
        return requeued

    async def status(self) -> str:
        async with self.sessionmaker() as session:
            status = await session.scalar(
                select(Message.status).where(Message.id == self.message_id)
            )
            assert status is not None
            return status


@pytest.fixture
async def stuck(database_url: str) -> AsyncIterator[Stuck]:
    """A message claimed at CLAIMED_AT whose send got no answer: ``sending``, no wamid."""
    engine = create_engine(DatabaseSettings(url=database_url))
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    now = CLAIMED_AT - timedelta(minutes=5)
    async with sessionmaker() as session:
        workspace = await accounts_service.create_workspace(session=session, name="A", now=now)
        channel = stub_channel(
            workspace_id=workspace.id, now=now, phone_number_id="1000001", waba_id="2000001"
        )
        session.add(channel)
        await session.flush()
        contact = await contacts_service.get_or_create_for_recipient(
            session=session, workspace_id=workspace.id, to="15550001001", now=now
        )
        conversation = await inbox_service.do_get_or_open_conversation(
            session=session,
            workspace_id=workspace.id,
            channel_id=channel.id,
            contact_id=contact.id,
            now=now,
        )
        message = await outbox.do_enqueue_message(
            session=session,
            workspace_id=workspace.id,
            conversation=conversation,
            content={"type": "text", "text": {"body": "hi"}},
            author_type=AuthorType.API,
            now=now,
        )
        await session.commit()
    async with sessionmaker() as session:
        claimed = await outbox.claim_due_messages(
            session=session, channel_id=channel.id, now=CLAIMED_AT, limit=1
        )
        await session.commit()
    assert [m.id for m in claimed] == [message.id]
    try:
        yield Stuck(sessionmaker, channel, message.id)
    finally:
        await engine.dispose()


async def test_an_unanswered_send_goes_back_to_the_queue_after_the_grace(stuck: Stuck) -> None:
    assert await stuck.requeue() == 1
    assert await stuck.status() == MessageStatus.QUEUED


@pytest.mark.parametrize(
    "state", [WebhookEventState.PENDING, WebhookEventState.FAILED], ids=lambda s: s.value
)
async def test_it_waits_while_a_webhook_of_its_grace_is_not_applied(
    stuck: Stuck, state: WebhookEventState
) -> None:
    """A status received within the grace may name the message: apply the log first."""
    event_id = await stuck.log_event(received_at=CLAIMED_AT + timedelta(seconds=1), state=state)
    assert await stuck.requeue() == 0
    assert await stuck.status() == MessageStatus.SENDING

    await stuck.mark_applied(event_id)
    assert await stuck.requeue() == 1
    assert await stuck.status() == MessageStatus.QUEUED


async def test_webhooks_received_after_its_grace_do_not_hold_it(stuck: Stuck) -> None:
    """Only the log up to the end of the message's grace matters: a busy number's newest
    events, still being applied, do not keep its stale sends waiting forever."""
    await stuck.log_event(
        received_at=CLAIMED_AT + GRACE + timedelta(seconds=1), state=WebhookEventState.PENDING
    )
    assert await stuck.requeue() == 1


async def test_another_numbers_log_does_not_hold_it(stuck: Stuck) -> None:
    async with stuck.sessionmaker() as session:
        session.add(
            WebhookEvent(
                received_at=CLAIMED_AT + timedelta(seconds=1),
                phone_number_id="9999999",
                body=b"{}",
                body_sha256=uuid.uuid4().hex,
                state=WebhookEventState.PENDING,
            )
        )
        await session.commit()
    assert await stuck.requeue() == 1
