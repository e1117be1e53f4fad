"""The throughput upgrade: a number that qualifies moves from 80 to 1,000 messages/s.

Meta ("Throughput"): an unlimited number at Medium quality or better is upgraded to 1,000
mps; under portfolio limits (from 7 Oct 2025) it must also have messaged 100K unique users
outside a window in a moving 24 hours. The emulator's hourly evaluation applies it
(emulator.quality) with ``phone_number_quality_update`` THROUGHPUT_UPGRADE, and the send
pipeline then enforces the new cap.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from ovillo.core.clock import ControllableClock
from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer, serve_in_thread
from ovillo.emulator.state import SentMessage
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import WebhookReceiver
from tests.api.emulator.sending import API, body_parameters, create_template, send, template

# Before portfolio limits: an unlimited number at good quality qualifies by itself.
PER_NUMBER_ERA = datetime(2025, 9, 1, 12, tzinfo=UTC)


@pytest.fixture
def emulator_server() -> Iterator[EmulatorServer]:
    # Frozen: a burst of sends happens in one instant, so the cap is measured exactly.
    clock = ControllableClock(PER_NUMBER_ERA, frozen=True)
    with serve_in_thread(Emulator(clock=clock, config=EmulatorConfig(seed=5))) as server:
        yield server


@pytest.fixture
async def control(emulator_server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator_server.url, timeout=20) as client:
        yield client


async def burst(control: httpx.AsyncClient, number: Number, first: int, count: int) -> list[int]:
    """``count`` template sends to distinct recipients at one instant: their error codes
    (0 for accepted)."""
    parameters = body_parameters("Ana", "A1")
    answers = await asyncio.gather(
        *(
            send(control, number, template("order_update", f"1555030{first + i:04d}",
                 components=parameters))
            for i in range(count)
        )
    )  # fmt: skip
    return [0 if a.status_code == 200 else int(a.json()["error"]["code"]) for a in answers]


async def evaluate(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await control.post("/_emulator/quality/evaluate")
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def throughput(control: httpx.AsyncClient, number: Number) -> dict[str, Any]:
    answer = await control.get(
        f"{API}/{number.phone_number_id}", params={"fields": "throughput"}, headers=number.auth
    )
    assert answer.status_code == 200, answer.text
    level: dict[str, Any] = answer.json()["throughput"]
    return level


async def test_an_unlimited_number_is_upgraded_to_1000_mps_and_may_use_it(
    control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    number = await create_number(
        control, webhook_url=receiver.url, app_secret=receiver.app_secret, tier="TIER_UNLIMITED"
    )
    await create_template(control, number, "order_update")
    assert (await throughput(control, number))["level"] == "STANDARD"
    # At 80 mps, one second's burst: the 81st send in the same instant is refused.
    codes = await burst(control, number, 0, 100)
    assert codes.count(0) == 80
    assert set(codes) == {0, 130429}

    events = await evaluate(control)
    assert {"kind": "THROUGHPUT_UPGRADE", "subject_id": number.phone_number_id,
            "value": "1000"} in events  # fmt: skip
    update = receiver.wait_for(
        lambda got: any(r.field == "phone_number_quality_update" for r in got)
    )
    value = next(r.value for r in update if r.field == "phone_number_quality_update")
    assert value["event"] == "THROUGHPUT_UPGRADE"
    assert (await throughput(control, number))["level"] == "HIGH"

    # The bucket is one second of the new rate: 200 at once are all accepted now.
    await control.post("/_emulator/clock/advance", json={"seconds": 1})
    assert await burst(control, number, 100, 200) == [0] * 200
    # Upgraded once: the next evaluation leaves it alone.
    assert not [e for e in await evaluate(control) if e["kind"] == "THROUGHPUT_UPGRADE"]


async def test_a_number_below_unlimited_keeps_80_mps(
    control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    number = await create_number(
        control, webhook_url=receiver.url, app_secret=receiver.app_secret, tier="TIER_100K"
    )
    await create_template(control, number, "order_update")
    assert (await burst(control, number, 0, 50)) == [0] * 50
    assert not [e for e in await evaluate(control) if e["kind"] == "THROUGHPUT_UPGRADE"]
    assert (await throughput(control, number))["level"] == "STANDARD"


@pytest.mark.parametrize(("recipients", "upgraded"), [(99_999, False), (100_000, True)])
async def test_under_portfolio_limits_it_takes_100k_recipients_a_day(
    receiver: WebhookReceiver, recipients: int, upgraded: bool
) -> None:
    emulator = Emulator(clock=ControllableClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))
    with serve_in_thread(emulator) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=20) as control:
            number = await create_number(
                control,
                webhook_url=receiver.url,
                app_secret=receiver.app_secret,
                tier="TIER_UNLIMITED",
            )
            # 100K sends over HTTP would take minutes: the day's sends are recorded as the
            # send pipeline records them (accepted templates, outside any window).
            now = emulator.clock.now()
            for i in range(recipients):
                wa_id = f"4477{i:08d}"
                emulator.state.sent[f"wamid.t{i}"] = SentMessage(
                    id=f"wamid.t{i}",
                    phone_number_id=number.phone_number_id,
                    to=wa_id,
                    user_id=None,
                    type="template",
                    payload={},
                    accepted_at=now - timedelta(hours=12, seconds=i % 3600),
                    status="delivered",
                )
            events = await evaluate(control)
            kinds = {e["kind"] for e in events if e["subject_id"] == number.phone_number_id}
            assert ("THROUGHPUT_UPGRADE" in kinds) is upgraded
            level = (await throughput(control, number))["level"]
            assert level == ("HIGH" if upgraded else "STANDARD")
