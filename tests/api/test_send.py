"""The send pipeline end to end: outbox -> worker (inside `ovillo serve`) -> the emulator."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

import httpx
import pytest

from ovillo.core.clock import wait_for
from ovillo.core.settings import Settings
from ovillo.server import PlatformServer
from tests.api.sending import Outbox, own_runtime


@pytest.fixture
def platform_settings(platform_settings: Settings) -> Settings:
    # Half of all calls fail in the fault tests: give each message room for bad luck.
    worker = platform_settings.worker.model_copy(update={"max_attempts": 30})
    return platform_settings.model_copy(update={"worker": worker})


@pytest.fixture
async def box(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> AsyncIterator[Outbox]:
    async with own_runtime(platform) as runtime:
        yield Outbox(platform, runtime, http, emulator_http)


def _exactly_once(sent: list[dict[str, object]], ids: Sequence[uuid.UUID]) -> None:
    counts = Counter(m["biz_opaque_callback_data"] for m in sent)
    assert {str(i): counts[str(i)] for i in ids} == {str(i): 1 for i in ids}
    assert sum(counts.values()) == len(ids)


async def test_a_text_reaches_meta_once_and_keeps_its_wamid(box: Outbox) -> None:
    await box.connect()
    conversation = await box.customer_writes("15550001001")
    [message_id] = await box.enqueue_texts(conversation, "Hi Ana, your order shipped.")

    [message] = await box.settled([message_id])

    assert message.status in ("accepted", "sent", "delivered", "read"), message.error_detail
    assert message.attempts == 1
    assert message.wamid is not None
    assert message.accepted_at is not None
    [sent] = await box.emulator_sent()
    assert sent["biz_opaque_callback_data"] == str(message_id)
    assert sent["id"] == message.wamid
    assert sent["to"] == "15550001001"
    assert sent["payload"]["text"] == {"body": "Hi Ana, your order shipped."}


async def test_free_form_outside_the_window_fails_fast_without_calling_meta(box: Outbox) -> None:
    await box.connect()
    conversation = await box.silent_conversation("15550001002")
    [message_id] = await box.enqueue_texts(conversation, "Are you there?")

    [message] = await box.settled([message_id])

    assert message.status == "failed"
    assert message.error_code == 131047
    assert message.error_title == "Re-engagement message"
    assert message.error_detail is not None
    assert "24 hours" in message.error_detail
    assert message.wamid is None
    assert await box.emulator_sent() == []


async def test_messages_to_one_customer_leave_in_order(box: Outbox) -> None:
    await box.connect()
    conversation = await box.customer_writes("15550001003")
    ids = await box.enqueue_texts(conversation, *(f"part {i}" for i in range(10)))

    await box.settled(ids)

    sent = await box.emulator_sent()
    assert [m["biz_opaque_callback_data"] for m in sent] == [str(i) for i in ids]


async def test_pacing_never_exceeds_the_numbers_throughput(box: Outbox) -> None:
    await box.connect(throughput_mps=5)
    customers = [f"1555000{2000 + i}" for i in range(10)]
    conversations = [await box.customer_writes(wa_id) for wa_id in customers]
    ids = []
    for i in range(50):
        ids += await box.enqueue_texts(conversations[i % 10], f"update {i}")

    messages = await box.settled(ids, within=60)

    assert all(m.status != "failed" for m in messages), [m.error_detail for m in messages]
    sent = await box.emulator_sent()
    _exactly_once(sent, ids)
    times = sorted(datetime.fromisoformat(m["accepted_at"]) for m in sent)
    for index, start in enumerate(times):
        in_one_second = [t for t in times[index:] if (t - start).total_seconds() < 1.0]
        assert len(in_one_second) <= 5, (start, in_one_second)


async def test_retriable_faults_still_send_every_message_once(box: Outbox) -> None:
    await box.connect()
    conversation = await box.customer_writes("15550001004")
    await box.add_fault("api_503", rate=0.5)
    ids = await box.enqueue_texts(conversation, *(f"try {i}" for i in range(20)))

    # Retries back off; move the shared clock on so they come due without waiting.
    async def all_left() -> bool:
        await box.advance(30)
        return all(m.status != "queued" and m.status != "sending" for m in await box.messages(ids))

    await wait_for(all_left, within=60, interval=0.3, what="every message left")

    messages = await box.messages(ids)
    assert all(m.wamid is not None for m in messages), [
        (m.status, m.attempts, m.error_detail) for m in messages
    ]
    assert any(m.attempts > 1 for m in messages)
    _exactly_once(await box.emulator_sent(), ids)


async def test_a_lost_answer_is_reconciled_from_the_status_not_sent_twice(box: Outbox) -> None:
    await box.connect()
    conversation = await box.customer_writes("15550001005")
    await box.add_fault("api_lost_answer")
    [message_id] = await box.enqueue_texts(conversation, "did you get this?")

    [message] = await box.settled([message_id], within=30)
    await box.clear_faults()

    [sent] = await box.emulator_sent()
    assert message.wamid == sent["id"]
    assert message.attempts == 1
    # Long past the grace period: still the one send.
    await box.advance(box.platform.settings.worker.reconcile_after_seconds * 3)
    await box.enqueue_texts(conversation, "a later one")
    await wait_for(lambda: _count_sent(box, 2), within=20, interval=0.1, what="the later message")
    sent_ids = [m["biz_opaque_callback_data"] for m in await box.emulator_sent()]
    assert sent_ids.count(str(message_id)) == 1


async def _count_sent(box: Outbox, count: int) -> bool:
    return len(await box.emulator_sent()) >= count
