"""Campaigns through the REST API with the real emulator as Meta: create, launch, follow,
cancel; refused definitions; exactly once, checked against what the emulator received."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from ovillo.channels.models import Channel
from ovillo.core.runtime import Runtime
from ovillo.inbox.models import Message
from ovillo.server import PlatformServer
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    all_recipients,
    approved_template,
    campaign,
    create_campaign,
    wait_for_campaign,
)
from tests.api.conversing import Desk
from tests.api.test_events import LIVE_WITHIN, follow
from tests.factories import connect_emulator_channel

pytestmark = pytest.mark.reviewed_by_tests


async def emulator_log(desk: Desk, number: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What the emulator accepted from the number, oldest first."""
    response = await desk.emulator_http.get(
        "/_emulator/messages",
        params={"phone_number_id": (number or desk.number)["phone_number_id"], "limit": 100_000},
    )
    assert response.status_code == 200, response.text
    sent: list[dict[str, Any]] = response.json()
    return sent


async def test_a_campaign_reaches_its_audience_once_and_reports_it(
    desk: Desk, platform_runtime: Runtime
) -> None:
    template = await approved_template(desk)
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 30)
    await add_contacts(platform_runtime, desk.workspace_id, 5, first=500, tag="other")
    campaign_id = await create_campaign(
        desk,
        template,
        "Spring",
        variables={"first_name": "{{contact.first_name|there}}"},
        audience={"tags_any": ["spring"]},
    )
    assert (await campaign(desk, campaign_id))["state"] == "draft"

    async with follow(desk.http, desk.headers) as live:
        launched = await desk.post(f"/campaigns/{campaign_id}/launch")
        assert launched.status_code == 200, launched.text
        assert launched.json()["state"] == "running"
        again = await desk.post(f"/campaigns/{campaign_id}/launch")
        assert again.status_code == 409
        assert again.json()["code"] == "campaign_state_conflict"

        done = await wait_for_campaign(
            desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="campaign completed"
        )
        # Progress reaches open pages: the launch, then the end.
        await live.next("campaign_updated", LIVE_WITHIN, campaign_id=campaign_id, state="running")
        await live.next("campaign_updated", LIVE_WITHIN, campaign_id=campaign_id, state="completed")
    assert done["state"] == "completed", done
    assert done["counts"]["targeted"] == 30
    assert done["counts"]["sent"] == 30

    recipients = await all_recipients(desk, campaign_id)
    assert Counter(r["state"] for r in recipients) == {"sent": 30}
    received = await emulator_log(desk)
    assert sorted(str(m["to"]) for m in received) == sorted(wa_ids)
    async with platform_runtime.sessionmaker() as session:
        messages = list(
            await session.scalars(select(Message).where(Message.workspace_id == desk.workspace_id))
        )
    assert {(m.author_type, m.author_id, m.priority) for m in messages} == {
        ("campaign", campaign_id, 10)
    }
    bodies = {
        str(m.contact_id): m.content["template"]["components"][0]["parameters"][0]["text"]
        for m in messages
    }
    assert "there" in bodies.values()
    assert "Customer 1" not in bodies.values()  # first names only
    assert "Customer" in bodies.values()


async def test_a_campaign_that_cannot_be_sent_is_refused_with_its_reasons(
    desk: Desk, platform_runtime: Runtime
) -> None:
    template = await approved_template(desk)
    missing = await desk.post(
        "/campaigns",
        {
            "name": "No values",
            "number_id": desk.number["id"],
            "template_id": template["id"],
            "audience": {"tags_any": [""]},
            "send_window": {"start": "20:00", "end": "09:00"},
        },
    )
    assert missing.status_code == 422, missing.text
    problem = missing.json()
    assert problem["code"] == "campaign_invalid"
    fields = {v["field"] for v in problem["violations"]}
    assert {"variables.first_name", "send_window"} <= fields
    assert any(field.startswith("audience") for field in fields)

    unknown = await desk.post(
        "/campaigns",
        {
            "name": "Nowhere",
            "number_id": "00000000-0000-0000-0000-000000000000",
            "template_id": template["id"],
        },
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")

    pending = await desk.post("/templates", {"number_id": desk.number["id"], **{**OFFER_IN_REVIEW}})
    assert pending.status_code == 201, pending.text
    not_approved = await desk.post(
        "/campaigns",
        {
            "name": "Too early",
            "number_id": desk.number["id"],
            "template_id": pending.json()["id"],
            "variables": {"first_name": "there"},
        },
    )
    assert not_approved.status_code == 422
    assert not_approved.json()["code"] == "template_not_sendable"


OFFER_IN_REVIEW = {
    "name": "autumn_offer",
    "language": "en_US",
    "category": "MARKETING",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, autumn prices are here.",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]},
        }
    ],
}


async def test_two_thousand_recipients_through_faults_and_two_days_each_sent_once(
    desk: Desk, platform_runtime: Runtime, platform: PlatformServer
) -> None:
    """Tier 1K: two 'days', the clocks moved past the first; 500s, 503s and lost answers
    injected; our pace set above the emulator's cap so it answers 130429 too. Every
    recipient ends sent once (the emulator's log) or failed with a reason."""
    number = await connect_emulator_channel(
        desk.http, desk.emulator_http, desk.api_key, tier="TIER_1K", throughput_mps=50
    )
    desk.number = number  # the template is made on this number's account
    template = await approved_template(desk)
    async with platform_runtime.sessionmaker() as session:
        await session.execute(
            update(Channel).where(Channel.id == uuid.UUID(number["id"])).values(throughput_mps=100)
        )
        await session.commit()
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 2000)
    for kind in ("api_500", "api_503", "api_lost_answer"):
        response = await desk.emulator_http.post(
            "/_emulator/faults",
            json={"kind": kind, "rate": 0.02, "phone_number_id": number["phone_number_id"]},
        )
        assert response.status_code == 201, response.text
    campaign_id = await create_campaign(
        desk,
        template,
        "Proof",
        number_id=number["id"],
        variables={"first_name": "{{contact.first_name|there}}"},
        audience={"tags_any": ["spring"]},
    )
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200

    days = 0
    while True:
        state = await wait_for_campaign(
            desk,
            campaign_id,
            until=lambda c: (
                c["state"] in FINISHED
                or (
                    c["waiting_reason"] == "messaging_limit"
                    and c["counts"]["queued"] == 0
                    # Not the wait the last move of the clock has just ended.
                    and datetime.fromisoformat(c["waiting_until"]) > platform_runtime.clock.now()
                )
            ),
            within=180,
            what="the day's sends settled",
        )
        if state["state"] in FINISHED:
            break
        # The day's 1,000 are out: the rest waits for the moving 24 hours to free slots.
        assert state["counts"]["sent"] + state["counts"]["failed"] <= 1000 * (days + 1)
        waited = datetime.fromisoformat(state["waiting_until"]) - platform_runtime.clock.now()
        response = await desk.emulator_http.post(
            "/_emulator/clock/advance", json={"seconds": waited.total_seconds() + 60}
        )
        assert response.status_code == 200, response.text
        days += 1
    assert state["state"] == "completed", state
    assert days == 1

    recipients = await all_recipients(desk, campaign_id)
    assert len(recipients) == 2000
    outcomes = Counter(r["state"] for r in recipients)
    assert set(outcomes) <= {"sent", "failed"}, outcomes
    assert all(r["error_reason"] for r in recipients if r["state"] == "failed")
    received = [m for m in await emulator_log(desk, number) if m["type"] == "template"]
    counted = Counter(str(m["to"]) for m in received)
    assert max(counted.values()) == 1, "a recipient was sent twice"
    assert set(counted) <= set(wa_ids)
    assert len(counted) == outcomes["sent"]


async def test_pause_resume_and_cancel_leave_unsent_recipients_skipped(
    desk: Desk, platform_runtime: Runtime
) -> None:
    """At 5 mps the number's outbox holds a few seconds of the campaign; cancelling skips
    the pending recipients and withdraws queued messages no pipeline has claimed."""
    number = await connect_emulator_channel(
        desk.http, desk.emulator_http, desk.api_key, tier="TIER_UNLIMITED", throughput_mps=5
    )
    desk.number = number
    template = await approved_template(desk)
    async with platform_runtime.sessionmaker() as session:
        await session.execute(
            update(Channel).where(Channel.id == uuid.UUID(number["id"])).values(throughput_mps=5)
        )
        await session.commit()
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 200)
    campaign_id = await create_campaign(desk, template, "Stopped early", number_id=number["id"])
    assert (await desk.post(f"/campaigns/{campaign_id}/pause")).status_code == 409
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["counts"]["sent"] >= 3, what="first sends"
    )
    paused = await desk.post(f"/campaigns/{campaign_id}/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused"
    resumed = await desk.post(f"/campaigns/{campaign_id}/resume")
    assert resumed.json()["state"] == "running"
    cancelled = await desk.post(f"/campaigns/{campaign_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert (await desk.post(f"/campaigns/{campaign_id}/resume")).status_code == 409

    done = await wait_for_campaign(desk, campaign_id, until=lambda c: c["counts"]["queued"] == 0)
    assert done["state"] == "cancelled"
    counts = done["counts"]
    assert counts["pending"] == 0
    assert counts["skipped"] > 100, counts
    assert counts["sent"] + counts["failed"] + counts["skipped"] == 200
    recipients = await all_recipients(desk, campaign_id)
    skipped = [r for r in recipients if r["state"] == "skipped"]
    assert all(r["message_id"] is None for r in skipped)
    received = Counter(str(m["to"]) for m in await emulator_log(desk, number))
    assert max(received.values()) == 1
    assert len(received) == counts["sent"]
    assert set(received) <= set(wa_ids)


async def test_a_scheduled_campaign_starts_when_the_clock_reaches_its_time(
    desk: Desk, platform_runtime: Runtime
) -> None:
    template = await approved_template(desk)
    await add_contacts(platform_runtime, desk.workspace_id, 5)
    # Without a zone the time is the workspace's (UTC here): two hours ahead.
    starts_at = (platform_runtime.clock.now() + timedelta(hours=2)).replace(tzinfo=None)
    campaign_id = await create_campaign(desk, template, "Later", starts_at=starts_at.isoformat())
    launched = await desk.post(f"/campaigns/{campaign_id}/launch")
    assert launched.json()["state"] == "scheduled"
    assert datetime.fromisoformat(launched.json()["starts_at"]) == starts_at.replace(tzinfo=UTC)
    assert not await emulator_log(desk)

    moved = await desk.emulator_http.post(
        "/_emulator/clock/advance", json={"seconds": 2 * 3600 + 60}
    )
    assert moved.status_code == 200, moved.text
    done = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="scheduled campaign"
    )
    assert done["state"] == "completed"
    assert done["counts"]["sent"] == 5
