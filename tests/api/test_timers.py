"""The worker's timers: snoozed conversations wake when their time comes, not before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from ovillo.contacts import service as contacts_service
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import Conversation, ConversationStatus
from ovillo.worker import timers
from tests.api.ingesting import Ingestion


async def test_snoozed_conversations_wake_when_due(
    number: dict[str, Any], ingestion: Ingestion
) -> None:
    channel = await ingestion.platform_channel(number)
    now = ingestion.now()
    snoozes = {"5215512346001": -1, "5215512346002": 0, "5215512346003": 60}
    async with ingestion.session() as session:
        for wa_id, seconds in snoozes.items():
            contact = await contacts_service.do_upsert_from_whatsapp(
                session=session, workspace_id=channel.workspace_id, wa_id=wa_id, now=now
            )
            conversation = await inbox_service.do_get_or_open_conversation(
                session=session,
                workspace_id=channel.workspace_id,
                channel_id=channel.id,
                contact_id=contact.id,
                now=now,
            )
            conversation.status = ConversationStatus.SNOOZED
            conversation.snoozed_until = now + timedelta(seconds=seconds)
        await session.commit()
    async with ingestion.session() as session:
        woken = await timers.do_wake_snoozed_conversations(session=session, now=now)
        await session.commit()
    assert woken == 2
    rows = await ingestion.all(select(Conversation))
    assert sorted((c.status, c.snoozed_until is None) for c in rows) == [
        (ConversationStatus.OPEN, True),
        (ConversationStatus.OPEN, True),
        (ConversationStatus.SNOOZED, False),
    ]
    async with ingestion.session() as session:
        assert await timers.do_wake_snoozed_conversations(session=session, now=now) == 0
