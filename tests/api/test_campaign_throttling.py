"""130429 slows a campaign down: while WhatsApp has sends of it waiting to retry, the
dispatcher keeps only half the usual backlog in the number's outbox.

The test is the only worker (``ovillo serve`` without its embedded one) and takes the turns
itself: a dispatcher round, then the number's send pipeline until it is idle, then a round
again. The shared clock is frozen, so the emulator's throughput bucket (a second's worth,
10 sends) never refills by itself and a retry is never due until the test moves the clock:
how many sends WhatsApp takes, and so how many the dispatcher may add, is exact.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from ovillo.campaigns import dispatch
from ovillo.campaigns.models import CampaignRecipient
from ovillo.contacts.models import Contact
from ovillo.core.clock import ControllableClock, wait_for
from ovillo.core.runtime import Runtime
from ovillo.core.settings import Settings
from ovillo.inbox import ingest, outbox
from ovillo.inbox.models import Message, MessageStatus
from ovillo.rules.throughput import THROUGHPUT_ERROR_CODE
from ovillo.server import PlatformServer
from ovillo.worker.leases import acquire_lease_token
from ovillo.worker.sender import LimitBook, SendPipeline
from tests.api.campaigning import (
    OFFER,
    add_contacts,
    campaign,
    create_campaign,
    fill_pair_bucket,
    number_at,
)
from tests.api.conversing import Desk

pytestmark = pytest.mark.reviewed_by_tests

MPS = 10
# ``dispatch``: the outbox holds BACKLOG_SECONDS of the number's throughput of a campaign.
FULL = int(MPS * dispatch.BACKLOG_SECONDS)
HALF = FULL // 2


@pytest.fixture
def platform_settings(platform_settings: Settings) -> Settings:
    # `ovillo serve` without its embedded worker: the test runs the only one.
    worker = platform_settings.worker.model_copy(update={"embedded": False})
    return platform_settings.model_copy(update={"worker": worker})


async def send_until_idle(runtime: Runtime, channel_id: uuid.UUID) -> None:
    """The number's send pipeline, as the worker runs it, until it has nothing due."""
    async with runtime.sessionmaker() as session:
        token = await acquire_lease_token(
            session=session,
            name=outbox.send_lease_name(channel_id),
            holder="test",
            ttl_seconds=60,
            now=runtime.clock.now(),
        )
    assert token is not None
    pipeline = SendPipeline(
        runtime,
        channel_id=channel_id,
        holder="test",
        fencing_token=token,
        limit_book=LimitBook(),
        global_slots=asyncio.Semaphore(100),
        rng=random.Random(7),
        idle_seconds=0.3,
    )
    await asyncio.wait_for(pipeline.run(), timeout=60)


async def approved(desk: Desk, runtime: Runtime) -> dict[str, Any]:
    """The offer template, approved: the review's webhook applied by the test (no worker)."""
    created = await desk.post("/templates", {"number_id": desk.number["id"], **OFFER})
    assert created.status_code == 201, created.text
    reviewed = await desk.emulator_http.post(
        f"/_emulator/templates/{created.json()['meta_template_id']}/review",
        json={"status": "APPROVED"},
    )
    assert reviewed.status_code == 200, reviewed.text

    async def applied() -> bool:
        await ingest.apply_pending_events(runtime, holder="test")
        response = await desk.get(f"/templates/{created.json()['id']}")
        return bool(response.json()["status"] == "APPROVED")

    await wait_for(applied, within=20, interval=0.05, what="template approved")
    return dict(created.json())


async def outbox_of(runtime: Runtime, campaign_id: str) -> dict[str, Any]:
    """The campaign's recipients by state, and its messages waiting after a 130429."""
    async with runtime.sessionmaker() as session:
        states = dict(
            (
                await session.execute(
                    select(CampaignRecipient.state, func.count())
                    .where(CampaignRecipient.campaign_id == uuid.UUID(campaign_id))
                    .group_by(CampaignRecipient.state)
                )
            ).all()
        )
        throttled = await session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .join(Message, Message.id == CampaignRecipient.message_id)
            .where(
                CampaignRecipient.campaign_id == uuid.UUID(campaign_id),
                Message.status == MessageStatus.QUEUED,
                Message.error_code == THROUGHPUT_ERROR_CODE,
            )
        )
    return {**states, "throttled": throttled}


async def test_130429_halves_what_the_dispatcher_keeps_queued(
    desk: Desk, platform: PlatformServer, platform_runtime: Runtime
) -> None:
    runtime = platform_runtime
    number = await number_at(desk, runtime, MPS)
    channel_id = uuid.UUID(number["id"])
    template = await approved(desk, runtime)
    await add_contacts(runtime, desk.workspace_id, 100)
    campaign_id = await create_campaign(desk, template, "Throttled")
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    clock = platform.clock
    assert isinstance(clock, ControllableClock)
    clock.freeze()
    try:
        # Nothing throttled yet: the full backlog.
        await dispatch.run_campaigns(runtime)
        assert await outbox_of(runtime, campaign_id) == {
            "queued": FULL, "pending": 100 - FULL, "throttled": 0,
        }  # fmt: skip

        # WhatsApp takes its bucket's 10 and answers 130429 to the other 20: they wait.
        await send_until_idle(runtime, channel_id)
        await dispatch.run_campaigns(runtime)
        state = await outbox_of(runtime, campaign_id)
        assert state == {"sent": MPS, "queued": FULL - MPS, "pending": 100 - FULL, "throttled": 20}
        # 20 still queued is more than half a backlog: nothing added (a full one would have
        # taken 10 more, to go and be refused the same way).
        assert (await campaign(desk, campaign_id))["throttled"] == 20
        await dispatch.run_campaigns(runtime)
        assert await outbox_of(runtime, campaign_id) == state

        # A while later the bucket has 10 again and the retries are due: 10 go, 10 wait.
        await desk.advance(400)
        await send_until_idle(runtime, channel_id)
        await dispatch.run_campaigns(runtime)
        # 10 waiting: topped up to half a backlog only.
        assert await outbox_of(runtime, campaign_id) == {
            "sent": 2 * MPS,
            "queued": HALF,
            "pending": 100 - 2 * MPS - HALF,
            "throttled": 10,
        }
        # And so on while the bucket takes fewer than are due: 15 due, 10 taken, 5 wait,
        # and the dispatcher tops up to half a backlog again (a full one: 25 queued).
        await desk.advance(400)
        await send_until_idle(runtime, channel_id)
        await dispatch.run_campaigns(runtime)
        state = await outbox_of(runtime, campaign_id)
        assert state["throttled"] == 5, state
        assert state["queued"] == HALF, state
    finally:
        clock.resume()


async def test_131056_does_not_halve_what_the_dispatcher_keeps_queued(
    desk: Desk, platform: PlatformServer, platform_runtime: Runtime
) -> None:
    """A pair-rate refusal is one customer's limit, not the number's: the others go on."""
    runtime = platform_runtime
    # WhatsApp would take a thousand a second; the platform sends 10: no 130429 here.
    number = await number_at(desk, runtime, MPS, meta_mps=1000)
    channel_id = uuid.UUID(number["id"])
    template = await approved(desk, runtime)
    await add_contacts(runtime, desk.workspace_id, 100)
    campaign_id = await create_campaign(desk, template, "Pair rate")
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    clock = platform.clock
    assert isinstance(clock, ControllableClock)
    clock.freeze()
    try:
        await dispatch.run_campaigns(runtime)
        assert await outbox_of(runtime, campaign_id) == {
            "queued": FULL, "pending": 100 - FULL, "throttled": 0,
        }  # fmt: skip
        # One of them writes in and another system on the number answers them with Meta's
        # whole pair burst: the campaign's message to them is one too many.
        async with runtime.sessionmaker() as session:
            busy = await session.scalar(
                select(Contact.wa_id)
                .join(CampaignRecipient, CampaignRecipient.contact_id == Contact.id)
                .where(
                    CampaignRecipient.campaign_id == uuid.UUID(campaign_id),
                    CampaignRecipient.state == "queued",
                )
                .limit(1)
            )
        assert busy is not None
        await desk.customer_writes(busy, "hola")
        await fill_pair_bucket(desk, busy)

        await send_until_idle(runtime, channel_id)
        await dispatch.run_campaigns(runtime)
        # One waits for the pair rate and counts as throttled; the dispatcher still keeps
        # the number's full backlog (half would only starve the number, not help them).
        assert (await campaign(desk, campaign_id))["throttled"] == 1
        assert await outbox_of(runtime, campaign_id) == {
            "sent": FULL - 1, "queued": FULL, "pending": 100 - 2 * FULL + 1, "throttled": 0,
        }  # fmt: skip
    finally:
        clock.resume()
