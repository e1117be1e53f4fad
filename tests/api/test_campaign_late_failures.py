"""A campaign message WhatsApp accepts and fails only later, in its status webhook, counts
failed with Meta's code, not sent; a messaging-limit error reported that way stops the
campaign. With the real emulator as Meta, its status webhooks held back a little so every
recipient is first seen sent, as when Meta's webhook comes after the dispatcher's round.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlalchemy import select

from ovillo.contacts.models import Contact
from ovillo.core.runtime import Runtime
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    all_recipients,
    approved_template,
    create_campaign,
    number_at,
    wait_for_campaign,
)
from tests.api.conversing import Desk

pytestmark = pytest.mark.reviewed_by_tests


async def hold_webhooks(desk: Desk, seconds: float) -> None:
    held = await desk.emulator_http.post(
        "/_emulator/faults", json={"kind": "webhook_delay", "rate": 1.0, "seconds": seconds}
    )
    assert held.status_code == 201, held.text


async def funnel_failures(desk: Desk, campaign_id: str) -> list[tuple[int | None, int]]:
    funnel = (await desk.get(f"/campaigns/{campaign_id}/funnel")).json()
    return [(f["code"], f["count"]) for f in funnel["failures"]]


async def test_recipients_whose_sends_fail_after_acceptance_count_failed_with_the_code(
    desk: Desk, platform_runtime: Runtime
) -> None:
    number = await number_at(desk, platform_runtime, mps=20)
    template = await approved_template(desk)
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 20)
    gone = wa_ids[::4]
    for wa_id in gone:
        marked = await desk.emulator_http.post(f"/_emulator/customers/{wa_id}/unreachable")
        assert marked.status_code == 200, marked.text
    await hold_webhooks(desk, 1.5)
    campaign_id = await create_campaign(desk, template, "Some gone", number_id=number["id"])
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200

    # Every send is accepted: the campaign completes with all of them sent at first...
    await wait_for_campaign(
        desk,
        campaign_id,
        until=lambda c: c["state"] in FINISHED and c["counts"]["queued"] == 0,
        what="campaign completed",
    )
    # ...and the failures that come after, in the status webhooks, are applied to it.
    done = await wait_for_campaign(
        desk,
        campaign_id,
        until=lambda c: c["counts"]["failed"] == len(gone),
        within=30,
        what="late failures applied",
    )
    assert done["state"] == "completed", done
    assert done["counts"]["sent"] == len(wa_ids) - len(gone)
    recipients = await all_recipients(desk, campaign_id)
    failed = [r for r in recipients if r["state"] == "failed"]
    async with platform_runtime.sessionmaker() as session:
        failed_wa_ids = await session.scalars(
            select(Contact.wa_id).where(
                Contact.id.in_([uuid.UUID(r["contact_id"]) for r in failed])
            )
        )
        assert set(failed_wa_ids) == set(gone)
    assert {r["error_code"] for r in failed} == {131026}
    assert all("Undeliverable" in (r["error_reason"] or "") for r in failed)
    assert await funnel_failures(desk, campaign_id) == [(131026, len(gone))]
    received = Counter(str(m["to"]) for m in await desk.emulator_sent(number))
    assert set(received.values()) == {1}
    assert len(received) == len(wa_ids)


async def test_a_messaging_limit_error_in_a_status_webhook_stops_the_campaign(
    desk: Desk, platform_runtime: Runtime
) -> None:
    number = await number_at(desk, platform_runtime, mps=20)
    template = await approved_template(desk)
    # Meta lowered the number's limit behind the platform's back: sends past 50 are
    # accepted, then fail with 131048 in their status webhook.
    lowered = await desk.emulator_http.patch(
        f"/_emulator/phone_numbers/{number['phone_number_id']}", json={"tier": "TIER_50"}
    )
    assert lowered.status_code == 200, lowered.text
    await hold_webhooks(desk, 0.5)
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 300)
    campaign_id = await create_campaign(desk, template, "Over the limit", number_id=number["id"])
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200

    stopped = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="campaign stopped"
    )
    assert stopped["state"] == "stopped", stopped
    assert stopped["stop_error_code"] == 131048
    assert "messaging limit" in stopped["state_reason"]

    # Once every accepted send's webhook is in: only the 50 the limit allowed are sent, the
    # others Meta took are failed with 131048, the rest skipped; nobody got two.
    done = await wait_for_campaign(
        desk,
        campaign_id,
        until=lambda c: c["counts"]["queued"] == 0 and c["counts"]["sent"] == 50,
        within=60,
        what="every webhook in",
    )
    counts = done["counts"]
    assert counts["skipped"] > 100, counts
    assert counts["failed"] > 0, counts
    assert counts["sent"] + counts["failed"] + counts["skipped"] == len(wa_ids)
    received = Counter(str(m["to"]) for m in await desk.emulator_sent(number))
    assert set(received.values()) == {1}
    assert len(received) == counts["sent"] + counts["failed"]
    recipients = await all_recipients(desk, campaign_id)
    assert {r["error_code"] for r in recipients if r["state"] == "failed"} == {131048}
    assert await funnel_failures(desk, campaign_id) == [(131048, counts["failed"])]
