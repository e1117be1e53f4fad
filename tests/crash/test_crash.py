"""kill -9 the worker while 3,000 messages leave and webhooks arrive: each sent exactly once.

The platform runs as a scaled-out deployment would run it, one OS process per piece
(tests/deployment.py): `ovillo emulator` as Meta, `ovillo serve` with the worker not
embedded (it only answers the API and writes webhooks to the durable log), and `ovillo
worker` (the send pipelines and the ingestion), on a fresh database. 75 customers write
in first, so their windows are open, and keep writing while 3,000 texts to them are queued
through the outbox and sent by the worker; the worker is killed with SIGKILL five times
while it sends, 1-2 s after it started sending again, and a new one started each time.
Then, checked against what the emulator saw:

- every message reached the emulator exactly once (``biz_opaque_callback_data`` is our id)
  and ends ``accepted``/``sent``/``delivered``/``read``, with the emulator's wamid and its
  final status;
- every webhook the emulator delivered is one ``webhook_event`` row, applied; every inbound
  message is stored once, none missing.

SIGKILL is the worst a worker can do: claims left ``sending``, answers lost between the
emulator's 200 and our commit, leases held by a dead process. Leases and the reconcile
grace are short so the test ends in time (``worker_settings`` in conftest.py says why
each is as long as it is).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from ovillo.channels.models import WebhookEvent, WebhookEventState
from ovillo.core.db import create_engine
from ovillo.core.settings import DatabaseSettings
from ovillo.inbox.models import Direction, Message, MessageStatus
from tests.crash.conftest import crash_deployment
from tests.deployment import (
    Deployment,
    Number,
    Service,
    connect_number,
    customer_wa_id,
    customer_writes,
    emulator_messages,
    emulator_stats,
    enqueue_texts,
    gather_limited,
    open_conversations,
    set_persona,
    set_throughput,
)
from tests.factories import make_workspace

pytestmark = pytest.mark.slow

log = structlog.get_logger(__name__)

NUMBERS = 2
# 40 messages each: within the pair rate's burst of 45 (rules.throughput), so the emulator
# refuses none of them.
CUSTOMERS = 75
MESSAGES = 3_000
# The platform's pace per number: slow enough that several kills land mid-send.
MPS = 100
KILLS = 5
# 3,000 messages at 2 x 100 mps leave in ~15 s on a quiet machine; CI shares two cores with
# the other suites (and PostgreSQL), which has taken several times that. A deadline only
# bounds how long a real hang takes to fail.
LEFT_WITHIN = 300
# Where the platform's statuses may stop: the send left and Meta took it.
LEFT = frozenset(
    {MessageStatus.ACCEPTED, MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ}
)


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, within: float, what: str, deployment: Deployment
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s: {what}\n{deployment.logs()}")
        await asyncio.sleep(0.25)


class Chatter:
    """Customers writing in while the messages leave: inbound webhooks beside the statuses."""

    def __init__(self, emulator_http: httpx.AsyncClient, numbers: list[Number]) -> None:
        self.emulator_http = emulator_http
        self.numbers = numbers
        self.wamids: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        rng = random.Random(5)
        while not self._stop.is_set():
            number = rng.choice(self.numbers)
            wa_id = rng.choice(number.customers)
            text = f"still there? {rng.random()}"
            self.wamids.append(await customer_writes(self.emulator_http, wa_id, number, text))
            await asyncio.sleep(0.1)


async def crash_worker_while_sending(
    deployment: Deployment, emulator_http: httpx.AsyncClient, engine: AsyncEngine
) -> list[int]:
    """Kill the worker ``KILLS`` times while it sends, each time 1-2 s after it started
    sending again, and start a new one. How many messages were ``sending`` (claimed, fate
    unknown) right after each kill."""
    rng = random.Random(11)
    left_sending: list[int] = []
    worker: Service = deployment.running_workers()[0]
    for _ in range(KILLS):
        before = (await emulator_stats(emulator_http))["sent"]
        if before >= MESSAGES - 500:
            break

        async def sending_again(before: int = before) -> bool:
            return (await emulator_stats(emulator_http))["sent"] > before + 50

        await eventually(sending_again, within=60, what="the worker sends", deployment=deployment)
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        await deployment.kill(worker)
        left_sending.append(await count(engine, Message.status == MessageStatus.SENDING))
        worker = await deployment.start_worker()
    return left_sending


async def count(engine: AsyncEngine, *where: Any) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(select(func.count()).select_from(Message).where(*where))
    return int(found or 0)


async def test_killed_workers_send_each_message_once_and_apply_each_webhook_once(
    crash_database_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    engine = create_engine(DatabaseSettings(url=crash_database_url))
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        async with crash_deployment(tmp_path, crash_database_url) as (
            deployment,
            http,
            emulator_http,
        ):
            await deployment.start_worker()
            workspace_id, api_key = await make_workspace(engine)
            numbers = [
                await connect_number(
                    http, emulator_http, api_key, throughput_mps=MPS, emulator_throughput_mps=1000
                )
                for _ in range(NUMBERS)
            ]
            await set_throughput(sessionmaker, numbers)
            for index in range(CUSTOMERS):
                numbers[index % NUMBERS].customers.append(customer_wa_id(index))
            # Statuses come quickly. A quarter of the customers read, a quarter only get
            # their messages delivered (receipts off), half never do (phone lost): three,
            # two or one status webhook per message.
            await gather_limited(
                16,
                (
                    set_persona(
                        emulator_http,
                        customer_wa_id(index),
                        delivery_delay=0.3,
                        read_delay=0.5,
                        delivers=index % 4 < 2,
                        reads=index % 4 == 0,
                    )
                    for index in range(CUSTOMERS)
                ),
            )
            inbound = await gather_limited(
                16,
                (
                    customer_writes(emulator_http, wa_id, number, "hi")
                    for number in numbers
                    for wa_id in number.customers
                ),
            )
            conversations = await open_conversations(engine, workspace_id, expected=CUSTOMERS)

            chatter = Chatter(emulator_http, numbers)
            chatter.start()
            log.info("crash_scene_set", seconds=round(time.monotonic() - started, 1))
            # The messages are queued while the worker sends and is killed.
            enqueueing = asyncio.create_task(
                enqueue_texts(
                    sessionmaker,
                    workspace_id,
                    conversations,
                    per_conversation=MESSAGES // CUSTOMERS,
                )
            )
            try:
                left_sending = await crash_worker_while_sending(deployment, emulator_http, engine)
                queued = await enqueueing
            finally:
                enqueueing.cancel()
                await chatter.stop()
            assert len(queued) == MESSAGES
            inbound.extend(chatter.wamids)
            log.info(
                "crash_kills_done",
                seconds=round(time.monotonic() - started, 1),
                left_sending=left_sending,
            )

            async def all_left() -> bool:
                return await count(engine, Message.status.in_(LEFT)) == MESSAGES

            await eventually(
                all_left, within=LEFT_WITHIN, what="every message left", deployment=deployment
            )
            log.info("crash_all_sent", seconds=round(time.monotonic() - started, 1))
            sent, stats, states = await settled(deployment, emulator_http, engine)
            log.info(
                "crash_settled",
                seconds=round(time.monotonic() - started, 1),
                cpu_seconds=deployment.cpu_seconds(),
                **stats,
            )

        # Each message reached Meta exactly once, none missing, none foreign.
        times = Counter(m["biz_opaque_callback_data"] for m in sent)
        twice = {key: n for key, n in times.items() if n > 1}
        assert not twice, f"sent more than once: {len(twice)} messages"
        assert set(times) == {str(i) for i in queued}
        assert len(sent) == MESSAGES

        # ...and ends as Meta says: its wamid, its last status.
        async with sessionmaker() as session:
            ours = {
                str(m.id): m
                for m in await session.scalars(
                    select(Message).where(Message.direction == Direction.OUTBOUND)
                )
            }
        assert len(ours) == MESSAGES
        wrong = [
            (m["biz_opaque_callback_data"], m["id"], m["status"])
            for m in sent
            if (mine := ours[m["biz_opaque_callback_data"]]).wamid != m["id"]
            or mine.status != m["status"]
        ]
        assert not wrong, f"{len(wrong)} messages disagree with the emulator: {wrong[:5]}"
        assert {m.status for m in ours.values()} <= LEFT

        # Every webhook delivered is one event, applied (settled() waits for no less);
        # every inbound message is stored once.
        async with engine.connect() as connection:
            inbound_rows = Counter(
                (
                    await connection.scalars(
                        select(Message.wamid).where(Message.direction == Direction.INBOUND)
                    )
                ).all()
            )
        assert states == {WebhookEventState.APPLIED: stats["webhooks_delivered"]}
        assert stats["webhooks_dropped"] == 0
        assert max(inbound_rows.values()) == 1
        assert set(inbound_rows) == set(inbound)
        # The kills hit the worker mid-flight: claims were left behind to settle.
        assert len(left_sending) >= 3, left_sending
        assert sum(left_sending) > 0, left_sending
    finally:
        await engine.dispose()


async def settled(
    deployment: Deployment, emulator_http: httpx.AsyncClient, engine: AsyncEngine
) -> tuple[list[dict[str, Any]], dict[str, int], dict[WebhookEventState, int]]:
    """Wait for one quiet snapshot: the emulator has no webhook left to deliver, its
    counters do not move while the platform's state is read, the platform holds one
    applied event per webhook delivered, and each message's status is the emulator's.
    What the emulator sent, its counters, and the events' states, all of that snapshot.

    The emulator's counters are read before and after the platform's state: a status
    webhook delivered in between (a customer reading late) would otherwise be counted
    by one side and not the other."""
    found: list[tuple[list[dict[str, Any]], dict[str, int], dict[WebhookEventState, int]]] = []

    async def quiet() -> bool:
        before = await emulator_stats(emulator_http)
        if before["webhook_backlog"]:
            return False
        async with engine.connect() as connection:
            states = dict(
                (
                    await connection.execute(
                        select(WebhookEvent.state, func.count()).group_by(WebhookEvent.state)
                    )
                ).all()
            )
        if states != {WebhookEventState.APPLIED: before["webhooks_delivered"]}:
            return False
        sent = await emulator_messages(emulator_http)
        async with engine.connect() as connection:
            statuses = dict(
                (
                    await connection.execute(
                        select(Message.wamid, Message.status).where(
                            Message.direction == Direction.OUTBOUND
                        )
                    )
                ).all()
            )
        if any(statuses.get(m["id"]) != m["status"] for m in sent):
            return False
        if await emulator_stats(emulator_http) != before:
            return False
        found.append((sent, before, states))
        return True

    await eventually(quiet, within=LEFT_WITHIN, what="statuses settled", deployment=deployment)
    return found[-1]
