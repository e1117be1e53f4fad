"""A campaign's send window through the running platform: recipients outside 9:00-12:00 of
their own local time wait (neither sent nor failed) and go once their window opens, when
the shared test clock gets there."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from ovillo.campaigns import audience
from ovillo.contacts.models import Contact
from ovillo.core.runtime import Runtime
from tests.api.campaigning import (
    FINISHED,
    all_recipients,
    approved_template,
    create_campaign,
    wait_for_campaign,
)
from tests.api.conversing import Desk
from tests.factories import contact_row

pytestmark = pytest.mark.reviewed_by_tests

TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9, no daylight saving time
BOGOTA = ZoneInfo("America/Bogota")  # UTC-5, no daylight saving time
# Mobile numbers of each country (their zone comes from the number, ``campaigns.audience``).
IN_TOKYO = [f"8190123456{index:02d}" for index in range(1, 4)]
IN_BOGOTA = [f"5730012345{index:02d}" for index in range(1, 5)]


async def add_people(runtime: Runtime, workspace_id: uuid.UUID) -> None:
    now = runtime.clock.now()
    async with runtime.sessionmaker() as session:
        await session.execute(
            insert(Contact),
            [
                contact_row(
                    workspace_id=workspace_id,
                    wa_id=wa_id,
                    now=now,
                    country="JP" if wa_id in IN_TOKYO else "CO",
                    tags=["window"],
                )
                for wa_id in IN_TOKYO + IN_BOGOTA
            ],
        )
        await session.commit()


def local(moment: datetime, zone: ZoneInfo) -> time:
    return moment.astimezone(zone).time()


async def test_recipients_outside_their_window_wait_for_it_to_open(
    desk: Desk, platform_runtime: Runtime
) -> None:
    assert {audience.recipient_zone(n) for n in IN_TOKYO} == {TOKYO}
    assert {audience.recipient_zone(n) for n in IN_BOGOTA} == {BOGOTA}
    # Move the shared clock to 10:05 in Tokyo: 20:05 the evening before in Bogota.
    now = platform_runtime.clock.now()
    target = now.astimezone(TOKYO).replace(hour=10, minute=5, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    await desk.advance((target - now).total_seconds())
    template = await approved_template(desk)
    await add_people(platform_runtime, desk.workspace_id)
    campaign_id = await create_campaign(
        desk,
        template,
        "Mornings",
        audience={"tags_any": ["window"]},
        send_window={"start": "09:00", "end": "12:00"},
    )
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200

    # Tokyo is in its window and is sent; Bogota waits for its 9:00 (14:00 UTC).
    waiting = await wait_for_campaign(
        desk,
        campaign_id,
        until=lambda c: (
            c["counts"]["sent"] == len(IN_TOKYO) and c["waiting_reason"] == "send_window"
        ),
        what="Tokyo sent, Bogota waiting",
    )
    assert waiting["state"] == "running"
    opens = datetime.fromisoformat(waiting["waiting_until"])
    assert opens.astimezone(BOGOTA).time() == time(9, 0)
    assert opens - platform_runtime.clock.now() > timedelta(hours=12)
    counts: dict[str, Any] = waiting["counts"]
    assert (counts["pending"], counts["queued"], counts["failed"]) == (len(IN_BOGOTA), 0, 0)
    received = await desk.emulator_sent()
    assert sorted(str(m["to"]) for m in received) == sorted(IN_TOKYO)
    assert all(
        time(9) <= local(datetime.fromisoformat(str(m["accepted_at"])), TOKYO) < time(12)
        for m in received
    )

    # The clock reaches Bogota's morning: the rest go, in their window.
    await desk.advance((opens - platform_runtime.clock.now()).total_seconds() + 60)
    done = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="Bogota sent"
    )
    assert done["state"] == "completed", done
    assert done["counts"]["sent"] == len(IN_TOKYO) + len(IN_BOGOTA)
    assert Counter(r["state"] for r in await all_recipients(desk, campaign_id)) == {
        "sent": len(IN_TOKYO) + len(IN_BOGOTA)
    }
    received = await desk.emulator_sent()
    by_number = Counter(str(m["to"]) for m in received)
    assert set(by_number) == set(IN_TOKYO + IN_BOGOTA)
    assert max(by_number.values()) == 1
    for message in received:
        if str(message["to"]) in IN_BOGOTA:
            at = datetime.fromisoformat(str(message["accepted_at"])).astimezone(UTC)
            assert at >= opens
            assert time(9) <= local(at, BOGOTA) < time(12)
