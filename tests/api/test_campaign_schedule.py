"""A scheduled campaign's start time, given without a zone, is read in the workspace's time
zone (not UTC), and the campaign waits for that moment on the shared clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from ovillo.accounts.models import Workspace
from ovillo.core.runtime import Runtime
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    approved_template,
    campaign,
    create_campaign,
    wait_for_campaign,
)
from tests.api.conversing import Desk

pytestmark = pytest.mark.reviewed_by_tests

MEXICO_CITY = ZoneInfo("America/Mexico_City")  # UTC-6, no daylight saving time since 2022


async def test_a_start_without_a_zone_is_the_workspace_s_local_time(
    desk: Desk, platform_runtime: Runtime
) -> None:
    async with platform_runtime.sessionmaker() as session:
        await session.execute(
            update(Workspace)
            .where(Workspace.id == desk.workspace_id)
            .values(timezone="America/Mexico_City")
        )
        await session.commit()
    template = await approved_template(desk)
    await add_contacts(platform_runtime, desk.workspace_id, 3)
    # Two hours ahead on the wall clocks of Mexico City, written as the form sends it.
    local = (platform_runtime.clock.now() + timedelta(hours=2)).astimezone(MEXICO_CITY)
    naive = local.replace(tzinfo=None, microsecond=0)
    campaign_id = await create_campaign(desk, template, "Tonight", starts_at=naive.isoformat())
    launched = await desk.post(f"/campaigns/{campaign_id}/launch")
    assert launched.status_code == 200, launched.text
    assert launched.json()["state"] == "scheduled"
    starts_at = datetime.fromisoformat(launched.json()["starts_at"])
    assert starts_at == naive.replace(tzinfo=MEXICO_CITY).astimezone(UTC)

    # Read as UTC, that time would be four hours ago and the campaign would already run.
    assert (await campaign(desk, campaign_id))["state"] == "scheduled"
    assert not await desk.emulator_sent()

    await desk.advance((starts_at - platform_runtime.clock.now()).total_seconds() + 60)
    done = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="scheduled campaign"
    )
    assert done["state"] == "completed", done
    assert done["counts"]["sent"] == 3
    assert all(
        datetime.fromisoformat(str(m["accepted_at"])) >= starts_at
        for m in await desk.emulator_sent()
    )
