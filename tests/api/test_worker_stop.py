"""Stopping a worker: sends on the wire finish, the rest go back to the queue untouched."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from ovillo.core.clock import wait_for
from ovillo.core.settings import Settings
from ovillo.server import PlatformServer
from ovillo.worker.runtime import Worker
from tests.api.sending import Outbox, own_runtime


@pytest.fixture
def platform_settings(platform_settings: Settings) -> Settings:
    # `ovillo serve` without its embedded worker: the test runs the only one.
    worker = platform_settings.worker.model_copy(update={"embedded": False})
    return platform_settings.model_copy(update={"worker": worker})


@pytest.fixture
async def box(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> AsyncIterator[Outbox]:
    async with own_runtime(platform) as runtime:
        yield Outbox(platform, runtime, http, emulator_http)


async def test_without_a_worker_nothing_leaves(box: Outbox) -> None:
    await box.connect()
    conversation = await box.silent_conversation("15550007000")
    [message_id] = await box.enqueue_texts(conversation, "anyone?")
    await asyncio.sleep(1.0)
    [message] = await box.messages([message_id])
    assert message.status == "queued"


async def test_stopping_gives_back_what_was_not_sent_and_a_restart_sends_it(
    box: Outbox,
) -> None:
    await box.connect(throughput_mps=2)
    worker = Worker(box.runtime, holder="first")
    task = asyncio.create_task(worker.run())
    conversations = [await box.customer_writes(f"1555000{7100 + i}") for i in range(4)]
    ids: list[uuid.UUID] = []
    for conversation in conversations:
        ids += await box.enqueue_texts(conversation, "a", "b")

    async def some_sent() -> bool:
        return len(await box.emulator_sent()) >= 2

    await wait_for(some_sent, within=10, what="a couple of sends")
    await worker.stop()
    await task

    messages = await box.messages(ids)
    sent = {m["biz_opaque_callback_data"] for m in await box.emulator_sent()}
    assert any(m.status == "queued" for m in messages)
    for message in messages:
        if message.status == "queued":
            assert str(message.id) not in sent
            assert message.attempts == 0
        else:
            assert message.wamid is not None
            assert str(message.id) in sent

    restarted = Worker(box.runtime, holder="second")
    task = asyncio.create_task(restarted.run())
    try:
        await box.settled(ids, within=30)
    finally:
        await restarted.stop()
        await task
    sent_ids = [m["biz_opaque_callback_data"] for m in await box.emulator_sent()]
    assert sorted(sent_ids) == sorted(str(i) for i in ids)
