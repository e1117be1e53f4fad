"""Helpers for the ingestion tests: signed webhook POSTs, applying the log, reading rows.

``Ingestion`` runs in the test's own event loop with its own engine on the platform's
database and the platform's clock. ``settle`` applies the log itself (as a worker would,
under the same leases, so it cooperates with a worker running in the platform) until a
condition holds.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels.models import Channel, WebhookEvent
from ovillo.cloudapi.signature import sign
from ovillo.cloudapi.webhooks import datetime_to_unix_seconds
from ovillo.contacts import service as contacts_service
from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from ovillo.inbox import service as inbox_service
from ovillo.inbox.ingest import apply_pending_events
from ovillo.inbox.models import AuthorType, Conversation, Direction, Message, MessageStatus
from ovillo.server import PlatformServer


def envelope(waba_id: str, field: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": waba_id, "changes": [{"field": field, "value": value}]}],
    }


def messages_value(number: dict[str, Any], **parts: Any) -> dict[str, Any]:
    digits = "".join(ch for ch in number["display_phone_number"] if ch.isdigit())
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": digits, "phone_number_id": number["phone_number_id"]},
        **parts,
    }


def status_item(
    wamid: str,
    status: str,
    at: datetime,
    *,
    recipient: str = "15550009999",
    callback: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    pricing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": datetime_to_unix_seconds(at),
        "recipient_id": recipient,
    }
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    if errors is not None:
        item["errors"] = errors
    if pricing is not None:
        item["pricing"] = pricing
    return item


def status_payload(number: dict[str, Any], *statuses: dict[str, Any]) -> dict[str, Any]:
    return envelope(number["waba_id"], "messages", messages_value(number, statuses=list(statuses)))


def text_payload(
    number: dict[str, Any], *, wa_id: str, wamid: str, body: str, at: datetime
) -> dict[str, Any]:
    message = {
        "from": wa_id,
        "id": wamid,
        "timestamp": datetime_to_unix_seconds(at),
        "type": "text",
        "text": {"body": body},
    }
    contact = {"profile": {"name": "Ana"}, "wa_id": wa_id}
    value = messages_value(number, contacts=[contact], messages=[message])
    return envelope(number["waba_id"], "messages", value)


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


async def post_signed(
    http: httpx.AsyncClient,
    body: bytes | dict[str, Any],
    *,
    secret: str | None,
) -> httpx.Response:
    raw = body if isinstance(body, bytes) else encode(body)
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, raw)
    return await http.post("/webhooks/whatsapp", content=raw, headers=headers)


@asynccontextmanager
async def open_ingestion(platform: PlatformServer) -> AsyncIterator[Ingestion]:
    """An ``Ingestion`` on a runtime of its own: the platform's database, clock and
    emulator, closed on the way out."""
    assert platform.emulator is not None
    runtime = Runtime.from_settings(
        platform.settings, clock=platform.clock, emulator_url=platform.emulator.url
    )
    try:
        yield Ingestion(platform, runtime)
    finally:
        await runtime.aclose()


class Ingestion:
    """The test's view of the platform's database and its ingestion."""

    def __init__(self, platform: PlatformServer, runtime: Runtime) -> None:
        self.platform = platform
        self.runtime = runtime

    def now(self) -> datetime:
        return self.runtime.clock.now()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.sessionmaker() as session:
            yield session

    async def scalar(self, query: Select[Any]) -> Any:
        async with self.session() as session:
            return await session.scalar(query)

    async def all(self, query: Select[Any]) -> list[Any]:
        async with self.session() as session:
            return list(await session.scalars(query))

    async def count(self, model: type[Any], *where: Any) -> int:
        async with self.session() as session:
            return int(
                await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
            )

    async def apply(self) -> int:
        return await apply_pending_events(self.runtime, holder="test")

    async def settle(
        self, condition: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = ""
    ) -> None:
        """Apply the log until ``condition`` holds (a worker may be applying it too)."""

        async def applied_and_true() -> bool:
            await self.apply()
            return await condition()

        await wait_for(applied_and_true, within=within, interval=0.05, what=what)

    async def message(self, wamid: str) -> Message | None:
        found: Message | None = await self.scalar(select(Message).where(Message.wamid == wamid))
        return found

    async def conversation(self, message: Message) -> Conversation:
        found: Conversation | None = await self.scalar(
            select(Conversation).where(Conversation.id == message.conversation_id)
        )
        assert found is not None
        return found

    async def platform_channel(self, number: dict[str, Any]) -> Channel:
        found: Channel | None = await self.scalar(
            select(Channel).where(Channel.phone_number_id == number["phone_number_id"])
        )
        assert found is not None
        return found

    async def events(self) -> list[WebhookEvent]:
        return await self.all(select(WebhookEvent).order_by(WebhookEvent.id))

    async def outbound_message(
        self,
        number: dict[str, Any],
        *,
        wa_id: str,
        wamid: str | None,
        status: str = MessageStatus.ACCEPTED,
        accepted_at: datetime | None = None,
    ) -> Message:
        """An outbound message as the send pipeline leaves it (never claimed again: it is
        past ``queued``), in a conversation with the contact ``wa_id``."""
        now = self.now()
        async with self.session() as session:
            channel = await session.scalar(
                select(Channel).where(Channel.phone_number_id == number["phone_number_id"])
            )
            assert channel is not None
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
            message = Message(
                id=uuid.uuid4(),
                workspace_id=channel.workspace_id,
                conversation_id=conversation.id,
                channel_id=channel.id,
                contact_id=contact.id,
                direction=Direction.OUTBOUND,
                type="text",
                text="hello",
                content={"type": "text", "text": {"body": "hello"}},
                author_type=AuthorType.API,
                wamid=wamid,
                status=status,
                created_at=now,
                queued_at=now,
                accepted_at=accepted_at if accepted_at is not None else now,
            )
            session.add(message)
            await session.commit()
            return message


def seconds_later(moment: datetime, seconds: float) -> datetime:
    return (moment + timedelta(seconds=seconds)).astimezone(UTC)
