"""A campaign WhatsApp refuses goes no further and says why: with the real emulator as
Meta, a template Meta pauses for low quality while the campaign is sending."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import update

from ovillo.channels.models import Channel
from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    approved_template,
    create_campaign,
    wait_for_campaign,
)
from tests.api.conversing import Desk
from tests.factories import connect_emulator_channel

pytestmark = pytest.mark.reviewed_by_tests


async def slow_number(desk: Desk, runtime: Runtime, mps: int) -> dict[str, Any]:
    """An unlimited number sending at ``mps``, the desk's from now on."""
    number = await connect_emulator_channel(
        desk.http, desk.emulator_http, desk.api_key, tier="TIER_UNLIMITED", throughput_mps=mps
    )
    desk.number = number
    async with runtime.sessionmaker() as session:
        await session.execute(
            update(Channel).where(Channel.id == uuid.UUID(number["id"])).values(throughput_mps=mps)
        )
        await session.commit()
    return number


async def settled(desk: Desk, campaign_id: str) -> dict[str, Any]:
    """The campaign once it finished and no recipient waits on its message any more."""
    return await wait_for_campaign(
        desk,
        campaign_id,
        until=lambda c: c["state"] in FINISHED and c["counts"]["queued"] == 0,
        within=120,
        what="campaign settled",
    )


async def test_a_template_paused_for_quality_stops_the_campaign_saying_so(
    desk: Desk, platform_runtime: Runtime
) -> None:
    await slow_number(desk, platform_runtime, mps=5)
    template = await approved_template(desk)
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 200)
    campaign_id = await create_campaign(desk, template, "Paused", number_id=desk.number["id"])
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["counts"]["sent"] >= 3, what="first sends"
    )
    paused = await desk.emulator_http.post(
        f"/_emulator/templates/{template['meta_template_id']}/review",
        json={"status": "PAUSED", "reason": "LOW_QUALITY"},
    )
    assert paused.status_code == 200, paused.text

    done = await settled(desk, campaign_id)
    assert done["state"] == "stopped", done
    assert done["stop_error_code"] == 132015
    assert "paused" in done["state_reason"].lower()
    counts = done["counts"]
    assert counts["skipped"] > 100, counts
    assert counts["sent"] + counts["failed"] + counts["skipped"] == len(wa_ids)
    received = Counter(str(m["to"]) for m in await desk.emulator_sent(desk.number))
    assert max(received.values()) == 1

    # The template's pause reaches the estimate of the next campaign as a warning.
    async def warned() -> bool:
        estimate = await desk.get(f"/campaigns/{campaign_id}/estimate")
        return any("paus" in str(w).lower() for w in estimate.json()["warnings"])

    await wait_for(warned, within=20, interval=0.1, what="paused template warned")
