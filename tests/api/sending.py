"""Helpers for the send tests: a number with customers who wrote in, and the outbox's rows.

``Outbox`` works in the test's own event loop with its own engine on the platform's
database and the platform's clock; it enqueues as a service would (outbox + commit) and
reads what the pipeline did.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels.models import Channel
from ovillo.contacts import service as contacts_service
from ovillo.contacts.models import Contact
from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from ovillo.inbox import outbox
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import AuthorType, Conversation, Message
from ovillo.server import PlatformServer
from tests.factories import connect_emulator_channel, make_workspace

FINAL = frozenset({"accepted", "sent", "delivered", "read", "failed"})


@asynccontextmanager
async def own_runtime(platform: PlatformServer) -> AsyncIterator[Runtime]:
    """A runtime of the test's loop on the platform's database and clock."""
    runtime = Runtime.from_settings(platform.settings, clock=platform.clock)
    try:
        yield runtime
    finally:
        await runtime.aclose()


class Outbox:
    def __init__(
        self,
        platform: PlatformServer,
        runtime: Runtime,
        http: httpx.AsyncClient,
        emulator_http: httpx.AsyncClient,
    ) -> None:
        self.platform = platform
        self.runtime = runtime
        self.http = http
        self.emulator_http = emulator_http
        self.workspace_id: uuid.UUID | None = None
        self.number: dict[str, Any] = {}

    def now(self) -> datetime:
        return self.runtime.clock.now()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.runtime.sessionmaker() as session:
            yield session

    async def connect(self, **emulator_fields: Any) -> dict[str, Any]:
        """A workspace and a number connected through the API, with the emulator as Meta."""
        self.workspace_id, api_key = await make_workspace(self.platform)
        self.number = await connect_emulator_channel(
            self.http, self.emulator_http, api_key, **emulator_fields
        )
        mps = emulator_fields.get("throughput_mps")
        if mps is not None:
            # Meta reports a level (80 or 1,000 mps), not a figure: set ours to the number's.
            async with self.session() as session:
                await session.execute(
                    update(Channel)
                    .where(Channel.phone_number_id == self.number["phone_number_id"])
                    .values(throughput_mps=mps)
                )
                await session.commit()
        return self.number

    async def customer_writes(self, wa_id: str, body: str = "hello") -> Conversation:
        """The customer writes in (through the emulator and the webhook); their conversation."""
        response = await self.emulator_http.post(
            f"/_emulator/customers/{wa_id}/messages",
            json={
                "phone_number_id": self.number["phone_number_id"],
                "type": "text",
                "text": {"body": body},
            },
        )
        assert response.status_code == 201, response.text
        found: list[Conversation] = []

        async def conversation_open() -> bool:
            conversation = await self.conversation_with(wa_id)
            if conversation is not None and conversation.last_inbound_at is not None:
                found.append(conversation)
                return True
            return False

        await wait_for(conversation_open, within=15, interval=0.05, what=f"{wa_id} wrote in")
        return found[-1]

    async def conversation_with(self, wa_id: str) -> Conversation | None:
        async with self.session() as session:
            return await session.scalar(
                select(Conversation)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Contact.wa_id == wa_id, Conversation.workspace_id == self.workspace_id)
            )

    async def silent_conversation(self, wa_id: str) -> Conversation:
        """A conversation with a contact who never wrote: no window open."""
        assert self.workspace_id is not None
        async with self.session() as session:
            channel = await session.scalar(
                select(Channel).where(Channel.phone_number_id == self.number["phone_number_id"])
            )
            assert channel is not None
            contact = await contacts_service.get_or_create_for_recipient(
                session=session, workspace_id=self.workspace_id, to=wa_id, now=self.now()
            )
            conversation = await inbox_service.do_get_or_open_conversation(
                session=session,
                workspace_id=self.workspace_id,
                channel_id=channel.id,
                contact_id=contact.id,
                now=self.now(),
            )
            await session.commit()
            return conversation

    async def enqueue(
        self,
        conversation: Conversation,
        *contents: dict[str, Any],
        priority: int = 0,
        template_category: str | None = None,
        not_before: datetime | None = None,
    ) -> list[uuid.UUID]:
        """Queue messages as a service does: outbox + one commit."""
        assert self.workspace_id is not None
        ids = []
        async with self.session() as session:
            fresh = await session.get(Conversation, conversation.id)
            assert fresh is not None
            for content in contents:
                message = await outbox.do_enqueue_message(
                    session=session,
                    workspace_id=self.workspace_id,
                    conversation=fresh,
                    content=content,
                    author_type=AuthorType.API,
                    priority=priority,
                    template_category=template_category,
                    not_before=not_before,
                    now=self.now(),
                )
                ids.append(message.id)
            await session.commit()
        return ids

    async def enqueue_texts(self, conversation: Conversation, *bodies: str) -> list[uuid.UUID]:
        return await self.enqueue(
            conversation, *({"type": "text", "text": {"body": body}} for body in bodies)
        )

    async def messages(self, ids: list[uuid.UUID]) -> list[Message]:
        async with self.session() as session:
            rows = {
                m.id: m for m in await session.scalars(select(Message).where(Message.id.in_(ids)))
            }
        return [rows[i] for i in ids]

    async def settled(self, ids: list[uuid.UUID], *, within: float = 20.0) -> list[Message]:
        """Wait until every message has left the outbox (accepted or beyond, or failed)."""

        async def all_final() -> bool:
            return all(m.status in FINAL for m in await self.messages(ids))

        await wait_for(all_final, within=within, interval=0.05, what="messages settled")
        return await self.messages(ids)

    async def emulator_sent(self) -> list[dict[str, Any]]:
        """What the emulator accepted from this number, oldest first."""
        response = await self.emulator_http.get(
            "/_emulator/messages",
            params={"phone_number_id": self.number["phone_number_id"], "limit": 100_000},
        )
        assert response.status_code == 200, response.text
        sent: list[dict[str, Any]] = response.json()
        return sent

    async def add_fault(self, kind: str, rate: float = 1.0) -> None:
        response = await self.emulator_http.post(
            "/_emulator/faults",
            json={"kind": kind, "rate": rate, "phone_number_id": self.number["phone_number_id"]},
        )
        assert response.status_code == 201, response.text

    async def clear_faults(self) -> None:
        response = await self.emulator_http.delete("/_emulator/faults")
        assert response.status_code == 204, response.text

    async def advance(self, seconds: float) -> None:
        response = await self.emulator_http.post(
            "/_emulator/clock/advance", json={"seconds": seconds}
        )
        assert response.status_code == 200, response.text
