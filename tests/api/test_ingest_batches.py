"""Applying the log many events per transaction ends as applying them one by one would."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from ovillo.channels import webhooks as webhook_log
from ovillo.channels.models import WebhookEvent, WebhookEventState
from ovillo.inbox.ingest import event_retry_delay
from ovillo.inbox.models import Message, MessageStatus, PendingStatus
from tests.api.ingesting import (
    Ingestion,
    encode,
    envelope,
    messages_value,
    status_item,
    status_payload,
    text_payload,
)

CUSTOMER = "5215512345678"


async def _log_at_once(
    ingestion: Ingestion, number: dict[str, Any], payloads: list[dict[str, Any]]
) -> None:
    """Append ``payloads`` to the log in one commit, so that one pass finds them all and
    applies them together (the embedded worker or the test, whichever looks first)."""
    channel = await ingestion.platform_channel(number)
    events = [
        webhook_log.NewEvent(
            body=encode(payload),
            body_sha256=webhook_log.body_sha256(encode(payload)),
            workspace_id=channel.workspace_id,
            phone_number_id=channel.phone_number_id,
            received_at=ingestion.now(),
        )
        for payload in payloads
    ]
    async with ingestion.session() as session:
        stored = await webhook_log.do_append_events(session=session, events=events)
        await session.commit()
    assert len(stored) == len(payloads)


async def _nothing_pending(ingestion: Ingestion) -> bool:
    return await ingestion.count(WebhookEvent, WebhookEvent.state == "pending") == 0


def _poison(number: dict[str, Any], wamid: str, at: Any) -> dict[str, Any]:
    """A text from nobody: no ``from`` and no contact, so no contact can be made for it."""
    payload = text_payload(number, wa_id=CUSTOMER, wamid=wamid, body="?", at=at)
    value = payload["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    del value["contacts"]
    return payload


async def test_a_failing_event_fails_alone_and_its_batch_is_applied(
    emulator_http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    await ingestion.outbound_message(number, wa_id=CUSTOMER, wamid="wamid.B1")
    t0 = ingestion.now().replace(microsecond=0)
    await _log_at_once(
        ingestion,
        number,
        [
            text_payload(number, wa_id=CUSTOMER, wamid="wamid.IN1", body="uno", at=t0),
            status_payload(number, status_item("wamid.B1", "sent", t0)),
            _poison(number, "wamid.POISON", t0),
            text_payload(number, wa_id=CUSTOMER, wamid="wamid.IN2", body="dos", at=t0),
            status_payload(number, status_item("wamid.B1", "delivered", t0)),
        ],
    )
    await ingestion.settle(lambda: _nothing_pending(ingestion), what="the batch decided")
    events = await ingestion.events()
    assert [event.state for event in events] == [
        WebhookEventState.APPLIED,
        WebhookEventState.APPLIED,
        WebhookEventState.FAILED,
        WebhookEventState.APPLIED,
        WebhookEventState.APPLIED,
    ]
    failed = events[2]
    # One attempt counted, whatever the batch it was first tried in did.
    assert failed.attempts == 1
    assert failed.error is not None
    assert failed.error.startswith("ValueError: ")
    assert failed.next_attempt_at is not None
    assert await ingestion.count(Message, Message.wamid.in_(["wamid.IN1", "wamid.IN2"])) == 2
    assert await ingestion.count(Message, Message.wamid == "wamid.POISON") == 0
    sent = await ingestion.message("wamid.B1")
    assert sent is not None
    assert sent.status == MessageStatus.DELIVERED

    delay = event_retry_delay(1)
    assert delay is not None
    advanced = await emulator_http.post(
        "/_emulator/clock/advance", json={"seconds": delay.total_seconds() + 1}
    )
    assert advanced.status_code == 200

    async def tried_again() -> bool:
        event = await ingestion.scalar(select(WebhookEvent).where(WebhookEvent.id == failed.id))
        return event is not None and event.attempts == 2

    await ingestion.settle(tried_again, what="the failed event tried again")
    assert await ingestion.count(WebhookEvent, WebhookEvent.state == "applied") == 4


async def test_one_batch_of_reordered_and_repeated_webhooks_ends_as_one_by_one(
    number: dict[str, Any], ingestion: Ingestion
) -> None:
    await ingestion.outbound_message(number, wa_id=CUSTOMER, wamid="wamid.R1")
    lost = await ingestion.outbound_message(
        number, wa_id=CUSTOMER, wamid=None, status=MessageStatus.SENDING
    )
    t0 = ingestion.now().replace(microsecond=0)

    def at(seconds: int) -> Any:
        return t0 + timedelta(seconds=seconds)

    text = text_payload(number, wa_id=CUSTOMER, wamid="wamid.T1", body="hola", at=at(1))
    # The same message in a batch of its own: other bytes, the same wamid.
    rebatched = {**text, "entry": [{**text["entry"][0], "time": 1}]}
    error = {"code": 131026, "title": "Message undeliverable", "message": "undeliverable"}
    await _log_at_once(
        ingestion,
        number,
        [
            status_payload(number, status_item("wamid.R1", "read", at(20))),
            status_payload(number, status_item("wamid.R1", "failed", at(3), errors=[error])),
            text,
            status_payload(number, status_item("wamid.R1", "sent", at(5))),
            # The lost answer's wamid, learnt from the callback data, then used at once.
            status_payload(number, status_item("wamid.L1", "sent", at(2), callback=str(lost.id))),
            status_payload(number, status_item("wamid.L1", "delivered", at(4))),
            rebatched,
            status_payload(number, status_item("wamid.R1", "delivered", at(10))),
            status_payload(number, status_item("wamid.NOBODY", "delivered", at(4))),
            envelope(
                number["waba_id"],
                "messages",
                messages_value(number, statuses=[status_item("wamid.R1", "delivered", at(12))]),
            ),
        ],
    )
    await ingestion.settle(lambda: _nothing_pending(ingestion), what="the batch applied")
    summaries = [event.summary for event in await ingestion.events()]
    assert summaries == [
        {"statuses": 1},
        {"statuses": 1},
        {"messages": 1},
        {"statuses": 1},
        {"reconciled": 1, "statuses": 1},
        {"statuses": 1},
        {"duplicate_messages": 1},
        {"statuses": 1},
        {"pending_statuses": 1},
        {"statuses": 1},
    ]
    read = await ingestion.message("wamid.R1")
    assert read is not None
    assert (read.status, read.sent_at, read.delivered_at, read.read_at) == (
        MessageStatus.READ,
        at(5),
        at(10),
        at(20),
    )
    assert (read.failed_at, read.error_code) == (at(3), 131026)
    reconciled = await ingestion.message("wamid.L1")
    assert reconciled is not None
    assert reconciled.id == lost.id
    assert (reconciled.status, reconciled.sent_at, reconciled.delivered_at) == (
        MessageStatus.DELIVERED,
        at(2),
        at(4),
    )
    assert await ingestion.count(Message, Message.wamid == "wamid.T1") == 1
    assert await ingestion.count(PendingStatus, PendingStatus.wamid == "wamid.NOBODY") == 1
