"""A campaign shares its number: WhatsApp refusing it stops it and says why (a template
Meta pauses for low quality while it sends), and agents' replies go before its backlog;
with the real emulator as Meta."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, or_, select

from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from ovillo.inbox.models import Message
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    approved_template,
    create_campaign,
    number_at,
    wait_for_campaign,
)
from tests.api.conversing import Desk

pytestmark = pytest.mark.reviewed_by_tests


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
    await number_at(desk, platform_runtime, mps=5)
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


async def test_an_agents_reply_overtakes_the_campaign_messages_queued_before_it(
    desk: Desk, platform_runtime: Runtime
) -> None:
    """Agents' replies go first: at 5 mps the outbox holds a few seconds of the campaign, and
    a reply queued behind them leaves before most of them."""
    await number_at(desk, platform_runtime, mps=5)
    template = await approved_template(desk)
    await add_contacts(platform_runtime, desk.workspace_id, 100)
    customer = "15559990001"  # not in the audience: they wrote in and wait for an answer
    conversation = await desk.writes_and_waits(customer, "¿Tienen talla M?")
    campaign_id = await create_campaign(desk, template, "Busy", number_id=desk.number["id"])
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["counts"]["sent"] >= 5, what="first sends"
    )
    sent = await desk.send(
        {"conversation_id": conversation["id"], "type": "text", "text": {"body": "Sí, la M."}}
    )
    assert sent.status_code == 202, sent.text

    async def accepted() -> bool:
        found = await desk.get(f"/messages/{sent.json()['id']}")
        return bool(found.json()["status"] in {"accepted", "sent", "delivered", "read"})

    await wait_for(accepted, within=30, interval=0.1, what="the reply accepted")

    async with platform_runtime.sessionmaker() as session:
        reply = await session.scalar(
            select(Message).where(Message.id == uuid.UUID(sent.json()["id"]))
        )
        assert reply is not None
        assert reply.accepted_at is not None
        # The campaign's messages queued before the reply that had not left when it did.
        overtaken = await session.scalar(
            select(func.count()).where(
                Message.author_type == "campaign",
                Message.author_id == campaign_id,
                Message.seq < reply.seq,
                or_(Message.accepted_at.is_(None), Message.accepted_at > reply.accepted_at),
            )
        )
    # Ahead of it was the campaign's backlog (20 at this pace); it passed all but the few
    # already in flight. First come, first served, it would have passed none.
    assert overtaken is not None
    assert overtaken >= 10, overtaken
    assert (await desk.post(f"/campaigns/{campaign_id}/cancel")).status_code == 200
    await settled(desk, campaign_id)
