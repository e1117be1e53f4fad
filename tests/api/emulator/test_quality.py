"""Quality, template pauses and messaging-limit upgrades evolving over emulated time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import Received, WebhookReceiver
from tests.api.emulator.sending import body_parameters, create_template, send, template

HOUR = 3600


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def evaluate(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.post("/_emulator/quality/evaluate")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


def values(items: list[Received], field: str) -> list[dict[str, Any]]:
    return [r.value for r in items if r.field == field]


def template_events(items: list[Received]) -> list[str]:
    return [v["event"] for v in values(items, "message_template_status_update")]


def recipient(i: int) -> str:
    return f"1555020{i:04d}"


async def send_template(control: httpx.AsyncClient, number: Number, to: str) -> httpx.Response:
    return await send(
        control, number, template("order_update", to, components=body_parameters("Ana", "A1"))
    )


async def send_to_all(control: httpx.AsyncClient, number: Number, recipients: list[str]) -> None:
    """Send the template to each recipient, a batch at a time (round trips dominate)."""
    for start in range(0, len(recipients), 50):
        batch = recipients[start : start + 50]
        answers = await asyncio.gather(*(send_template(control, number, to) for to in batch))
        for answer in answers:
            assert answer.status_code == 200, answer.text


async def test_blocks_flag_the_number_and_pause_then_disable_its_template(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    template_id = await create_template(control, wired_number, "order_update")
    for i in range(20):
        response = await send_template(control, wired_number, recipient(i))
        assert response.status_code == 200, response.text
    # No feedback yet: the template is rated GREEN and nothing else happens.
    assert await evaluate(control) == [
        {"kind": "template_quality", "subject_id": template_id, "value": "GREEN"}
    ]
    for i in range(3):
        blocked = await control.post(
            f"/_emulator/customers/{recipient(i)}/block",
            json={"phone_number_id": wired_number.phone_number_id},
        )
        assert blocked.status_code == 200, blocked.text

    events = await evaluate(control)
    assert {"kind": "FLAGGED", "subject_id": wired_number.phone_number_id, "value": "RED"} in events
    items = receiver.wait_for(
        lambda got: (
            bool(values(got, "phone_number_quality_update"))
            and template_events(got) == ["APPROVED", "PAUSED"]
        )
    )
    quality = values(items, "phone_number_quality_update")[0]
    assert quality["event"] == "FLAGGED"
    assert quality["display_phone_number"] == "15550100000"
    assert quality["max_daily_conversations_per_business"] == "TIER_250"
    template_quality = values(items, "message_template_quality_update")[-1]
    assert (template_quality["previous_quality_score"], template_quality["new_quality_score"]) == (
        "GREEN",
        "RED",
    )
    assert str(template_quality["message_template_id"]) == template_id
    pause = values(items, "message_template_status_update")[1]
    assert pause["other_info"]["title"] == "FIRST_PAUSE"
    number = await control.get(
        f"/v23.0/{wired_number.phone_number_id}",
        params={"fields": "quality_rating"},
        headers=wired_number.auth,
    )
    assert number.json()["quality_rating"] == "RED"

    paused_send = await send_template(control, wired_number, recipient(50))
    assert paused_send.json()["error"]["code"] == 132015

    # The first pause lasts 3 hours; still RED, it is paused again (6 hours), then disabled.
    await advance(control, 3 * HOUR + 1)
    await evaluate(control)
    receiver.wait_for(
        lambda got: template_events(got) == ["APPROVED", "PAUSED", "APPROVED", "PAUSED"]
    )
    await advance(control, 6 * HOUR + 1)
    await evaluate(control)
    items = receiver.wait_for(lambda got: template_events(got)[-1:] == ["DISABLED"])
    assert template_events(items) == [
        "APPROVED",
        "PAUSED",
        "APPROVED",
        "PAUSED",
        "APPROVED",
        "DISABLED",
    ]
    second_pause = values(items, "message_template_status_update")[3]
    assert second_pause["other_info"]["title"] == "SECOND_PAUSE"
    disabled = values(items, "message_template_status_update")[5]
    assert "disable_date" in disabled["disable_info"]

    disabled_send = await send_template(control, wired_number, recipient(51))
    assert disabled_send.json()["error"]["code"] == 132016


async def test_reports_without_enough_volume_keep_quality_green(
    control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    # 200 sends in four quick batches: above the default 80 mps, so a number at 1,000.
    wired_number = await create_number(
        control, webhook_url=receiver.url, app_secret=receiver.app_secret, throughput_mps=1000
    )
    await create_template(control, wired_number, "order_update")
    await send_to_all(control, wired_number, [recipient(i) for i in range(200)])
    reported = await control.post(
        f"/_emulator/customers/{recipient(0)}/report",
        json={"phone_number_id": wired_number.phone_number_id},
    )
    assert reported.status_code == 200, reported.text
    # 1 report in 200 recipients is below the 1 % that turns quality YELLOW.
    events = await evaluate(control)
    assert not [e for e in events if e["subject_id"] == wired_number.phone_number_id]
    assert not values(receiver.snapshot(), "phone_number_quality_update")


async def test_tier_upgrades_after_enough_volume_over_emulated_days(
    control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    # A portfolio at 1K scales automatically: half its limit (500 unique recipients of
    # messages outside a service window) in 7 days at good quality earns the next tier.
    number = await create_number(
        control,
        webhook_url=receiver.url,
        app_secret=receiver.app_secret,
        tier="TIER_1K",
        throughput_mps=1000,
    )
    await create_template(control, number, "order_update")
    for day in range(2):
        if day:
            await advance(control, 24 * HOUR)
        await send_to_all(control, number, [recipient(day * 250 + i) for i in range(250)])
    # Evaluated now, at once after the 500th: the clock has not moved past an hourly
    # evaluation since (one would find the upgrade on its own, and its webhook would race
    # the check below).
    await evaluate(control)
    # Meta applies the upgrade "within 6 hours"; the emulator at the latest.
    assert not values(receiver.snapshot(), "phone_number_quality_update")
    await advance(control, 6 * HOUR + 1)
    items = receiver.wait_for(lambda got: bool(values(got, "phone_number_quality_update")))
    upgrade = values(items, "phone_number_quality_update")[0]
    assert upgrade == {
        "display_phone_number": "15550100000",
        "event": "UPGRADE",
        "current_limit": "TIER_2K",
        "old_limit": "TIER_1K",
        "max_daily_conversations_per_business": "TIER_2K",
    }
    assert isinstance(next(r for r in items if r.field == "phone_number_quality_update").json[
        "entry"][0]["time"], int)  # fmt: skip


async def test_no_upgrade_without_volume(
    control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    number = await create_number(
        control, webhook_url=receiver.url, app_secret=receiver.app_secret, tier="TIER_1K"
    )
    await create_template(control, number, "order_update")
    for i in range(40):
        assert (await send_template(control, number, recipient(i))).status_code == 200
    await advance(control, 3 * 24 * HOUR)
    await evaluate(control)
    assert not values(receiver.snapshot(), "phone_number_quality_update")
