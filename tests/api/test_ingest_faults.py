"""Webhooks duplicated, reordered and delayed by the emulator end in the clean run's state."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from ovillo.channels.models import WebhookEvent
from ovillo.contacts.models import Contact
from ovillo.core.clock import wait_for
from ovillo.inbox.models import Conversation, Message
from ovillo.server import PlatformServer
from tests.api.ingesting import Ingestion
from tests.factories import connect_emulator_channel, make_workspace

ROUNDS = 3


async def _customers_write(
    emulator_http: httpx.AsyncClient, number: dict[str, Any], customers: list[str]
) -> int:
    """Each customer writes ``ROUNDS`` texts, two seconds apart, then reacts to its first."""
    first: dict[str, str] = {}
    sent = 0
    for round_number in range(ROUNDS):
        for index, wa_id in enumerate(customers):
            response = await emulator_http.post(
                f"/_emulator/customers/{wa_id}/messages",
                json={
                    "phone_number_id": number["phone_number_id"],
                    "type": "text",
                    "text": {"body": f"customer {index} says {round_number}"},
                },
            )
            assert response.status_code == 201, response.text
            first.setdefault(wa_id, response.json()["id"])
            sent += 1
        await emulator_http.post("/_emulator/clock/advance", json={"seconds": 2})
    for wa_id in customers:
        response = await emulator_http.post(
            f"/_emulator/customers/{wa_id}/messages",
            json={
                "phone_number_id": number["phone_number_id"],
                "type": "reaction",
                "reaction": {"message_id": first[wa_id], "emoji": "❤️"},
            },
        )
        assert response.status_code == 201, response.text
        sent += 1
    return sent


async def _delivered(emulator_http: httpx.AsyncClient) -> None:
    async def drained() -> bool:
        # Delayed webhooks wait on the emulator's clock: keep it moving until all are out.
        await emulator_http.post("/_emulator/clock/advance", json={"seconds": 31})
        stats = (await emulator_http.get("/_emulator/stats")).json()
        return bool(stats["webhook_backlog"] == 0)

    await wait_for(drained, within=20, interval=0.1, what="the emulator's webhooks delivered")


async def _state_of(ingestion: Ingestion, customers: list[str]) -> list[dict[str, Any]]:
    """What the inbox shows of each customer, without ids or absolute times."""
    state = []
    for wa_id in customers:
        contact = await ingestion.scalar(select(Contact).where(Contact.wa_id == wa_id))
        assert contact is not None
        conversation = await ingestion.scalar(
            select(Conversation).where(Conversation.contact_id == contact.id)
        )
        assert conversation is not None
        messages = await ingestion.all(
            select(Message)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.occurred_at, Message.type)
        )
        newest = max(m.occurred_at for m in messages)
        state.append(
            {
                "conversations": await ingestion.count(
                    Conversation, Conversation.contact_id == contact.id
                ),
                "messages": [(m.type, m.text) for m in messages],
                "unread": conversation.unread_count,
                "preview_is_newest": conversation.last_message_preview
                == next(m.text for m in reversed(messages) if m.occurred_at == newest),
                "window_from_newest": conversation.last_inbound_at == newest,
                "activity_is_newest": conversation.last_activity_at == newest,
            }
        )
    return state


async def test_duplicated_reordered_delayed_webhooks_end_as_a_clean_run(
    platform: PlatformServer,
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
    ingestion: Ingestion,
) -> None:
    _, api_key = await make_workspace(platform)
    number = await connect_emulator_channel(http, emulator_http, api_key)

    async def run(customers: list[str]) -> list[dict[str, Any]]:
        expected = await _customers_write(emulator_http, number, customers)
        await _delivered(emulator_http)

        async def applied() -> bool:
            wa_ids = select(Contact.id).where(Contact.wa_id.in_(customers))
            count = await ingestion.count(Message, Message.contact_id.in_(wa_ids))
            pending = await ingestion.count(WebhookEvent, WebhookEvent.state == "pending")
            return count == expected and pending == 0

        await ingestion.settle(applied, within=30, what="every message applied")
        return await _state_of(ingestion, customers)

    clean = await run([f"52155123400{i:02d}" for i in range(4)])
    for fault in (
        {"kind": "webhook_duplicate", "rate": 0.5},
        {"kind": "webhook_reorder", "rate": 0.5},
        {"kind": "webhook_delay", "rate": 0.4, "seconds": 30},
    ):
        response = await emulator_http.post(
            "/_emulator/faults", json={**fault, "phone_number_id": number["phone_number_id"]}
        )
        assert response.status_code == 201, response.text
    faulty = await run([f"52155123401{i:02d}" for i in range(4)])

    struck = {f["kind"]: f["struck"] for f in (await emulator_http.get("/_emulator/faults")).json()}
    assert all(struck.values()), struck  # every fault did happen
    assert faulty == clean
    assert all(
        customer["unread"] == ROUNDS + 1
        and customer["preview_is_newest"]
        and customer["window_from_newest"]
        and customer["conversations"] == 1
        for customer in clean
    ), clean
    events = await ingestion.events()
    assert {event.state for event in events} == {"applied"}
    duplicates = sum(event.summary.get("duplicate_messages", 0) for event in events)
    # Byte-identical redeliveries are refused by the log; none reaches the applier twice.
    assert duplicates == 0
