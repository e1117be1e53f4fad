"""Workers that share the work through the database: many at once, and one taking over
from another that died."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from ovillo.channels.models import Channel
from ovillo.inbox.models import Message, MessageStatus
from ovillo.server import PlatformServer
from ovillo.worker.leases import acquire_lease
from ovillo.worker.runtime import Worker
from tests.api.sending import Outbox, own_runtime


@pytest.fixture
async def box(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> AsyncIterator[Outbox]:
    async with own_runtime(platform) as runtime:
        yield Outbox(platform, runtime, http, emulator_http)


@pytest.fixture
async def second_worker(box: Outbox) -> AsyncIterator[Worker]:
    """Another worker beside the one `ovillo serve` runs, in the test's loop."""
    worker = Worker(box.runtime, holder="second-worker", pipeline_idle_seconds=0.2)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.stop()
        await task


def _embedded_worker(platform: PlatformServer) -> Worker:
    app = platform.server.config.app
    assert isinstance(app, FastAPI)
    worker = app.state.worker
    assert isinstance(worker, Worker)
    return worker


async def _channel_id(box: Outbox) -> uuid.UUID:
    async with box.session() as session:
        channel_id = await session.scalar(
            select(Channel.id).where(Channel.phone_number_id == box.number["phone_number_id"])
        )
    assert channel_id is not None
    return channel_id


def _postgres_only(platform: PlatformServer) -> None:
    if platform.runtime.engine.dialect.name != "postgresql":
        pytest.skip("many workers share one database on PostgreSQL; SQLite runs one")


async def test_two_workers_send_every_message_once_one_pipeline_per_number(
    platform: PlatformServer, box: Outbox, second_worker: Worker
) -> None:
    _postgres_only(platform)
    embedded = _embedded_worker(platform)
    await box.connect()
    channel_id = await _channel_id(box)
    conversations = [await box.customer_writes(f"1555000{3000 + i}") for i in range(5)]

    overlaps: list[str] = []
    watching = threading.Event()

    async def watch() -> None:
        # Both workers' pipelines, sampled: never the same number in both at once.
        while not watching.is_set():
            if channel_id in embedded.running_pipelines and (
                channel_id in second_worker.running_pipelines
            ):
                overlaps.append("both")
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    ids: list[uuid.UUID] = []
    for round_ in range(6):
        for conversation in conversations:
            ids += await box.enqueue_texts(conversation, f"round {round_}")
        # Let the pipeline wind down between rounds, so either worker may take the next.
        await asyncio.sleep(0.3)
    await box.settled(ids, within=60)
    watching.set()
    await watcher

    sent = await box.emulator_sent()
    counts = Counter(m["biz_opaque_callback_data"] for m in sent)
    assert sorted(counts) == sorted(str(i) for i in ids)
    assert set(counts.values()) == {1}
    assert overlaps == []


async def test_a_dead_workers_number_is_taken_over_when_its_lease_expires(
    platform: PlatformServer, box: Outbox, second_worker: Worker
) -> None:
    await box.connect()
    channel_id = await _channel_id(box)
    conversation = await box.customer_writes("15550004000")
    lease_seconds = platform.settings.worker.lease_seconds
    async with box.session() as session:
        # A worker took the number's lease and died without giving it back.
        assert await acquire_lease(
            session=session,
            name=f"send:{channel_id}",
            holder="dead-worker",
            ttl_seconds=lease_seconds,
            now=box.now(),
        )
    ids = await box.enqueue_texts(conversation, "one", "two", "three")

    # Both live workers look (they wake on the commit) and leave the number alone.
    await asyncio.sleep(2.5)
    assert await box.emulator_sent() == []

    await box.advance(lease_seconds + 1)
    messages = await box.settled(ids, within=20)

    assert all(m.wamid is not None for m in messages)
    sent = await box.emulator_sent()
    assert [m["biz_opaque_callback_data"] for m in sent] == [str(i) for i in ids]


async def test_a_send_left_in_flight_by_a_dead_worker_goes_once_after_the_grace_period(
    platform: PlatformServer, box: Outbox
) -> None:
    await box.connect()
    conversation = await box.customer_writes("15550005000")
    # Held back for now, so we can make it look claimed by a worker that then died.
    [message_id] = await box.enqueue(
        conversation,
        {"type": "text", "text": {"body": "in flight"}},
        not_before=box.now() + timedelta(hours=1),
    )
    async with box.session() as session:
        await session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(status=MessageStatus.SENDING, sending_at=box.now(), attempts=1)
        )
        await session.commit()

    # Within the grace period the send may still be answered by a status: hands off.
    await box.advance(platform.settings.worker.reconcile_after_seconds / 2)
    await asyncio.sleep(2.5)
    assert await box.emulator_sent() == []

    await box.advance(platform.settings.worker.reconcile_after_seconds)
    [message] = await box.settled([message_id], within=20)

    assert message.wamid is not None
    assert message.attempts == 2
    [sent] = await box.emulator_sent()
    assert sent["biz_opaque_callback_data"] == str(message_id)
