"""A send window that closes while recipients still wait their turn: the ones left over are
held for the next day's window, never sent after it closed.

The test is the only worker (``ovillo serve`` without its embedded one) and takes the turns
itself, on the frozen shared clock: a dispatcher round, the number's send pipeline until it
is idle, the clock moved past the window's end, a round again. The number's throughput keeps
the outbox to ``BACKLOG`` recipients, so the rest are still pending when the window closes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from ovillo.campaigns import dispatch
from ovillo.contacts.models import Contact
from ovillo.core.clock import ControllableClock
from ovillo.core.runtime import Runtime
from ovillo.core.settings import Settings
from ovillo.server import PlatformServer
from tests.api.campaigning import FINISHED, campaign, create_campaign, number_at
from tests.api.conversing import Desk
from tests.api.test_campaign_throttling import approved, send_until_idle
from tests.factories import contact_row

pytestmark = pytest.mark.reviewed_by_tests

TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9, no daylight saving time
IN_TOKYO = [f"8190123456{index:02d}" for index in range(1, 41)]
MPS = 10
BACKLOG = int(MPS * dispatch.BACKLOG_SECONDS)


@pytest.fixture
def platform_settings(platform_settings: Settings) -> Settings:
    # `ovillo serve` without its embedded worker: the test runs the only one.
    worker = platform_settings.worker.model_copy(update={"embedded": False})
    return platform_settings.model_copy(update={"worker": worker})


def tokyo_time(moment: datetime) -> time:
    return moment.astimezone(TOKYO).time()


async def test_recipients_left_when_the_window_closes_wait_for_the_next_one(
    desk: Desk, platform: PlatformServer, platform_runtime: Runtime
) -> None:
    runtime = platform_runtime
    # WhatsApp takes whatever comes; our own pace keeps the outbox to BACKLOG recipients.
    number = await number_at(desk, runtime, MPS, meta_mps=1000)
    channel_id = uuid.UUID(number["id"])
    template = await approved(desk, runtime)
    # 11:59 in Tokyo: one minute of the 9:00-12:00 window left.
    now = runtime.clock.now()
    target = now.astimezone(TOKYO).replace(hour=11, minute=59, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    await desk.advance((target - now).total_seconds())
    async with runtime.sessionmaker() as session:
        await session.execute(
            insert(Contact),
            [
                contact_row(
                    workspace_id=desk.workspace_id,
                    wa_id=wa_id,
                    now=runtime.clock.now(),
                    country="JP",
                    tags=["window"],
                )
                for wa_id in IN_TOKYO
            ],
        )
        await session.commit()
    campaign_id = await create_campaign(
        desk,
        template,
        "Before noon",
        number_id=number["id"],
        audience={"tags_any": ["window"]},
        send_window={"start": "09:00", "end": "12:00"},
    )
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    clock = platform.clock
    assert isinstance(clock, ControllableClock)
    clock.freeze()
    try:
        # In the window: the first BACKLOG go; the rest wait their turn.
        await dispatch.run_campaigns(runtime)
        await send_until_idle(runtime, channel_id)
        assert len(await desk.emulator_sent()) == BACKLOG

        # Noon passes before their turn comes: they wait for tomorrow's 9:00.
        await desk.advance(31 * 60)
        for _ in range(3):
            await dispatch.run_campaigns(runtime)
            await send_until_idle(runtime, channel_id)
        waiting = await campaign(desk, campaign_id)
        assert waiting["state"] == "running"
        assert waiting["waiting_reason"] == "send_window", waiting
        opens = datetime.fromisoformat(waiting["waiting_until"])
        assert opens.astimezone(TOKYO).time() == time(9, 0)
        assert timedelta(hours=20) < opens - runtime.clock.now() < timedelta(hours=21)
        counts = waiting["counts"]
        assert (counts["sent"], counts["pending"], counts["queued"]) == (
            BACKLOG,
            len(IN_TOKYO) - BACKLOG,
            0,
        )
        assert len(await desk.emulator_sent()) == BACKLOG

        # Tomorrow's window: the rest go, once each, inside it.
        await desk.advance((opens - runtime.clock.now()).total_seconds() + 60)
        for _ in range(4):
            await dispatch.run_campaigns(runtime)
            await send_until_idle(runtime, channel_id)
        await dispatch.run_campaigns(runtime)
        done = await campaign(desk, campaign_id)
        assert done["state"] in FINISHED
        assert done["state"] == "completed", done
    finally:
        clock.resume()
    received = await desk.emulator_sent()
    assert Counter(str(m["to"]) for m in received) == Counter(IN_TOKYO)
    assert all(
        time(9) <= tokyo_time(datetime.fromisoformat(str(m["accepted_at"]))) < time(12)
        for m in received
    ), sorted({tokyo_time(datetime.fromisoformat(str(m["accepted_at"]))) for m in received})
