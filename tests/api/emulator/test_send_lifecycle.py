"""What happens after a 200: statuses on the emulator clock, pricing, windows, failures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ovillo.core.clock import ControllableClock
from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.messaging import emit_status
from ovillo.emulator.server import EmulatorServer, serve_in_thread
from ovillo.emulator.state import SentMessage
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import WebhookReceiver
from tests.api.emulator.sending import (
    CUSTOMER,
    advance,
    customer_writes,
    send,
    sent_messages,
    set_persona,
    text,
)

# Per-message pricing, before service messages were charged (2026-10-01).
PMP_DAY = datetime(2025, 9, 1, 12, tzinfo=UTC)
# Conversation-based pricing, after service conversations became free (2024-11-01).
CBP_DAY = datetime(2025, 3, 3, 12, tzinfo=UTC)


@pytest.fixture
def dated_server(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    start: datetime = getattr(request, "param", PMP_DAY)
    emulator = Emulator(clock=ControllableClock(start), config=EmulatorConfig(seed=7))
    with serve_in_thread(emulator) as server:
        yield server


@pytest.fixture
async def dated(dated_server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=dated_server.url, timeout=10) as client:
        yield client


@pytest.fixture
async def dated_number(dated: httpx.AsyncClient, receiver: WebhookReceiver) -> Number:
    return await create_number(dated, webhook_url=receiver.url, app_secret=receiver.app_secret)


def statuses_of(receiver: WebhookReceiver, wamid: str) -> list[dict[str, Any]]:
    return [s for s in receiver.statuses() if s["id"] == wamid]


def status_values(receiver: WebhookReceiver, wamid: str) -> list[dict[str, Any]]:
    return [
        r.value
        for r in receiver.snapshot()
        if any(s["id"] == wamid for s in r.value.get("statuses", []))
    ]


async def test_a_message_goes_sent_delivered_read_with_pmp_pricing(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    response = await send(dated, dated_number, text(biz_opaque_callback_data="crm-42"))
    wamid = response.json()["messages"][0]["id"]

    await advance(dated, 30)
    receiver.wait_for(lambda _: len(statuses_of(receiver, wamid)) == 3)

    statuses = statuses_of(receiver, wamid)
    assert [s["status"] for s in statuses] == ["sent", "delivered", "read"]
    timestamps = [int(s["timestamp"]) for s in statuses]
    assert timestamps == sorted(timestamps)
    assert int(statuses[0]["timestamp"]) >= int(PMP_DAY.timestamp())
    for status in statuses:
        assert status["recipient_id"] == CUSTOMER
        assert status["biz_opaque_callback_data"] == "crm-42"
        assert status["pricing"] == {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
        assert status["conversation"]["origin"] == {"type": "service"}
    # Only the first status of the window carries its end.
    assert "expiration_timestamp" in statuses[0]["conversation"]
    assert "expiration_timestamp" not in statuses[1]["conversation"]
    for value in status_values(receiver, wamid):
        (contact,) = value["contacts"]
        assert contact["wa_id"] == CUSTOMER
        assert contact["user_id"]
        assert contact["profile"]["name"]
        assert value["metadata"]["phone_number_id"] == dated_number.phone_number_id
    stored = {m["id"]: m for m in await sent_messages(dated, dated_number)}[wamid]
    assert stored["status"] == "read"


@pytest.mark.parametrize("dated_server", [CBP_DAY], indirect=True)
async def test_under_cbp_a_reply_opens_one_service_conversation(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    first = (await send(dated, dated_number, text(body="one"))).json()["messages"][0]["id"]
    second = (await send(dated, dated_number, text(body="two"))).json()["messages"][0]["id"]

    await advance(dated, 30)
    receiver.wait_for(lambda _: len(receiver.statuses()) == 6)

    opening, joining = statuses_of(receiver, first)[0], statuses_of(receiver, second)[0]
    assert opening["pricing"] == {"billable": True, "pricing_model": "CBP", "category": "service"}
    assert opening["conversation"]["origin"] == {"type": "service"}
    # 24 hours after it opened; the clock runs at real speed from CBP_DAY, so a loaded
    # machine may have taken a few real seconds to get here.
    opened_after = int(opening["conversation"]["expiration_timestamp"]) - 24 * 3600
    assert 0 <= opened_after - int(CBP_DAY.timestamp()) <= 60
    # The second message joins the first's conversation: same id, no new expiration.
    assert joining["conversation"]["id"] == opening["conversation"]["id"]
    assert "expiration_timestamp" not in joining["conversation"]


async def test_free_form_outside_the_window_fails_with_131047(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    response = await send(dated, dated_number, text())

    # Meta accepts it, then reports the failure in a status webhook.
    assert response.status_code == 200, response.text
    wamid = response.json()["messages"][0]["id"]
    await advance(dated, 5)
    receiver.wait_for(lambda _: len(statuses_of(receiver, wamid)) == 1)
    (failed,) = statuses_of(receiver, wamid)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047
    assert failed["errors"][0]["error_data"]["details"]
    assert "pricing" not in failed


async def test_the_window_opens_when_the_customer_writes_and_closes_after_24_hours(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    inside = (await send(dated, dated_number, text())).json()["messages"][0]["id"]
    await advance(dated, 24 * 3600 + 1)
    outside = (await send(dated, dated_number, text())).json()["messages"][0]["id"]
    await advance(dated, 5)

    receiver.wait_for(lambda _: len(statuses_of(receiver, outside)) == 1)
    assert statuses_of(receiver, inside)[0]["status"] == "sent"
    assert statuses_of(receiver, outside)[0]["errors"][0]["code"] == 131047


async def test_a_customer_without_whatsapp_fails_with_131026(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    assert (await dated.post(f"/_emulator/customers/{CUSTOMER}/unreachable")).status_code == 200

    wamid = (await send(dated, dated_number, text())).json()["messages"][0]["id"]
    await advance(dated, 5)

    receiver.wait_for(lambda _: len(statuses_of(receiver, wamid)) == 1)
    assert statuses_of(receiver, wamid)[0]["errors"][0]["code"] == 131026


async def test_a_block_looks_like_an_undeliverable_message(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    blocked = await dated.post(
        f"/_emulator/customers/{CUSTOMER}/block",
        json={"phone_number_id": dated_number.phone_number_id},
    )
    assert blocked.status_code == 200, blocked.text

    wamid = (await send(dated, dated_number, text())).json()["messages"][0]["id"]
    await advance(dated, 5)

    receiver.wait_for(lambda _: len(statuses_of(receiver, wamid)) == 1)
    assert statuses_of(receiver, wamid)[0]["errors"][0]["code"] == 131026


async def test_a_silent_persona_never_reads(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    await set_persona(dated, CUSTOMER, name="silent")

    wamid = (await send(dated, dated_number, text())).json()["messages"][0]["id"]
    await advance(dated, 3600)

    receiver.wait_for(lambda _: len(statuses_of(receiver, wamid)) == 2)
    assert [s["status"] for s in statuses_of(receiver, wamid)] == ["sent", "delivered"]


async def test_a_reaction_gets_only_a_sent_status(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    inbound = await customer_writes(dated, dated_number)
    reaction = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "reaction",
        "reaction": {"message_id": inbound, "emoji": "👍"},
    }
    wamid = (await send(dated, dated_number, reaction)).json()["messages"][0]["id"]
    marker = (await send(dated, dated_number, text())).json()["messages"][0]["id"]
    await advance(dated, 3600)

    receiver.wait_for(lambda _: len(statuses_of(receiver, marker)) == 3)
    assert [s["status"] for s in statuses_of(receiver, wamid)] == ["sent"]


async def test_a_reaction_to_an_unknown_message_fails_with_131009(
    dated: httpx.AsyncClient, dated_number: Number, receiver: WebhookReceiver
) -> None:
    await customer_writes(dated, dated_number)
    reaction = {
        "messaging_product": "whatsapp",
        "to": CUSTOMER,
        "type": "reaction",
        "reaction": {"message_id": "wamid.unknown", "emoji": "👍"},
    }
    wamid = (await send(dated, dated_number, reaction)).json()["messages"][0]["id"]
    await advance(dated, 5)

    receiver.wait_for(lambda _: len(statuses_of(receiver, wamid)) == 1)
    assert statuses_of(receiver, wamid)[0]["errors"][0]["code"] == 131009


@pytest.mark.parametrize(
    ("steps", "final"),
    [
        (["sent", "read", "delivered"], "read"),
        (["sent", "delivered", "failed"], "delivered"),
        (["sent", "failed", "read"], "failed"),
        (["delivered", "sent"], "delivered"),
    ],
)
def test_statuses_never_go_backwards(steps: list[str], final: str) -> None:
    emulator = Emulator(clock=ControllableClock(PMP_DAY))
    sent = SentMessage(
        id="wamid.x",
        phone_number_id="absent",
        to=CUSTOMER,
        user_id=None,
        type="text",
        payload={},
        accepted_at=PMP_DAY,
    )

    for step in steps:
        emit_status(emulator, sent, step)

    assert sent.status == final
