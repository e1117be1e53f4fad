"""The worker's timers: snoozed conversations wake when their time comes, not before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ovillo.contacts import service as contacts_service
from ovillo.core.runtime import Runtime
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import Conversation, ConversationStatus
from ovillo.server import PlatformServer
from ovillo.worker import timers
from tests.api.ingesting import Ingestion
from tests.factories import connect_emulator_channel, make_workspace


@pytest.fixture
async def ingestion(platform: PlatformServer) -> AsyncIterator[Ingestion]:
    assert platform.emulator is not None
    runtime = Runtime.from_settings(
        platform.settings, clock=platform.clock, emulator_url=platform.emulator.url
    )
    try:
        yield Ingestion(platform, runtime)
    finally:
        await runtime.aclose()


@pytest.fixture
async def number(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> dict[str, Any]:
    _, api_key = await make_workspace(platform)
    return await connect_emulator_channel(http, emulator_http, api_key)


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
