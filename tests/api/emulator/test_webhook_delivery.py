"""Webhook delivery: signed as Meta signs, retried on the emulator clock, faults observable.

Customers writing in (the control API) cause the webhooks; a real HTTP receiver takes
them. Time only moves through ``/_emulator/clock/advance``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from ovillo.cloudapi.signature import verify
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import WebhookReceiver

CUSTOMER = "5215512345678"


async def write_in(
    control: httpx.AsyncClient, number: Number, body: str, wa_id: str = CUSTOMER
) -> str:
    response = await control.post(
        f"/_emulator/customers/{wa_id}/messages",
        json={"phone_number_id": number.phone_number_id, "type": "text", "text": {"body": body}},
    )
    assert response.status_code == 201, response.text
    wamid: str = response.json()["id"]
    return wamid


async def advance(control: httpx.AsyncClient, seconds: float) -> None:
    response = await control.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200


async def attempts(control: httpx.AsyncClient, number: Number) -> list[dict[str, Any]]:
    response = await control.get(
        "/_emulator/webhooks", params={"phone_number_id": number.phone_number_id}
    )
    log: list[dict[str, Any]] = response.json()
    return log


async def stats(control: httpx.AsyncClient) -> dict[str, Any]:
    result: dict[str, Any] = (await control.get("/_emulator/stats")).json()
    return result


async def until(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Wait (real time, polling the emulator over HTTP) until ``check`` holds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the emulator did not get there in time"
        await asyncio.sleep(0.01)


async def attempts_reach(control: httpx.AsyncClient, number: Number, count: int) -> list[Any]:
    async def reached() -> bool:
        return len(await attempts(control, number)) >= count

    await until(reached)
    return await attempts(control, number)


def bodies(receiver: WebhookReceiver) -> list[str]:
    return [m["text"]["body"] for m in receiver.messages()]


def at(attempt: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(attempt["at"])


async def test_webhooks_are_signed_with_the_app_secret(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await write_in(control, wired_number, "hola")
    (received,) = receiver.wait_for(lambda items: len(items) == 1)
    assert receiver.bad_signatures == 0
    headers = received.headers
    assert verify(wired_number.app_secret, received.body, headers["x-hub-signature-256"])
    assert not verify("another-secret", received.body, headers["x-hub-signature-256"])
    legacy = hmac.new(wired_number.app_secret.encode(), received.body, hashlib.sha1).hexdigest()
    assert headers["x-hub-signature"] == f"sha1={legacy}"
    assert headers["content-type"] == "application/json"


async def test_a_failing_receiver_gets_retries_with_backoff(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    receiver.fail_with = 500
    await write_in(control, wired_number, "are you there?")
    (first,) = await attempts_reach(control, wired_number, 1)
    assert (first["attempt"], first["status_code"], first["delivered"]) == (1, 500, False)

    await advance(control, 10)  # the first retry waits 15 s
    assert len(await attempts(control, wired_number)) == 1
    await advance(control, 5)
    second = (await attempts_reach(control, wired_number, 2))[1]
    assert (second["attempt"], second["status_code"]) == (2, 500)
    assert at(second) - at(first) >= timedelta(seconds=15)

    await advance(control, 60)
    third = (await attempts_reach(control, wired_number, 3))[2]
    assert at(third) - at(second) >= timedelta(seconds=60)

    receiver.fail_with = None
    await advance(control, 300)
    fourth = (await attempts_reach(control, wired_number, 4))[3]
    assert (fourth["attempt"], fourth["status_code"], fourth["delivered"]) == (4, 200, True)
    assert fourth["payload"] == first["payload"]  # the same webhook, retried
    assert bodies(receiver) == ["are you there?"]
    counters = await stats(control)
    assert counters["webhook_attempts_failed"] == 3
    assert counters["webhooks_delivered"] == 1


async def test_a_webhook_is_dropped_after_seven_days_of_failures(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    receiver.fail_with = 503
    await write_in(control, wired_number, "lost")
    log = await attempts_reach(control, wired_number, 1)
    while (await stats(control))["webhooks_dropped"] == 0:
        assert len(log) < 100, "still retrying after 100 attempts"
        await advance(control, 12 * 3600)  # longer than any single backoff
        log = await attempts_reach(control, wired_number, len(log) + 1)
    assert not any(attempt["delivered"] for attempt in log)
    span = at(log[-1]) - at(log[0])
    assert timedelta(days=6) < span <= timedelta(days=7, minutes=1)

    receiver.fail_with = None
    await advance(control, 86_400)
    assert len(await attempts(control, wired_number)) == len(log)  # given up for good
    assert receiver.snapshot() == []
    assert (await stats(control))["webhook_backlog"] == 0


async def test_fault_duplicate_delivers_twice(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    fault = {"kind": "webhook_duplicate", "phone_number_id": wired_number.phone_number_id}
    assert (await control.post("/_emulator/faults", json=fault)).status_code == 201
    wamid = await write_in(control, wired_number, "once")
    first, second = receiver.wait_for(lambda items: len(items) == 2)
    assert first.body == second.body
    assert [m["id"] for m in receiver.messages()] == [wamid, wamid]
    assert receiver.bad_signatures == 0


async def test_fault_reorder_swaps_two_webhooks_of_one_lane(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    # A failing first webhook holds the lane, so the next two wait in it together.
    receiver.fail_with = 500
    await write_in(control, wired_number, "first")
    await attempts_reach(control, wired_number, 1)
    await write_in(control, wired_number, "second")
    await write_in(control, wired_number, "third")
    fault = {"kind": "webhook_reorder", "phone_number_id": wired_number.phone_number_id}
    await control.post("/_emulator/faults", json=fault)
    receiver.fail_with = None
    await advance(control, 15)
    receiver.wait_for(lambda items: len(items) == 3)
    assert bodies(receiver) == ["first", "third", "second"]


async def test_fault_delay_holds_a_webhook_on_the_emulator_clock(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    fault = {
        "kind": "webhook_delay",
        "seconds": 600,
        "phone_number_id": wired_number.phone_number_id,
    }
    await control.post("/_emulator/faults", json=fault)
    await write_in(control, wired_number, "slow")

    async def struck() -> bool:
        return bool((await control.get("/_emulator/faults")).json()[0]["struck"])

    await until(struck)
    assert await attempts(control, wired_number) == []
    await advance(control, 300)
    assert await attempts(control, wired_number) == []
    assert receiver.snapshot() == []
    await control.delete("/_emulator/faults")
    await advance(control, 300)
    receiver.wait_for(lambda items: len(items) == 1)
    assert bodies(receiver) == ["slow"]


async def test_fault_fail_fails_attempts_until_cleared(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    fault = {"kind": "webhook_fail", "phone_number_id": wired_number.phone_number_id}
    await control.post("/_emulator/faults", json=fault)
    await write_in(control, wired_number, "flaky")
    (failed,) = await attempts_reach(control, wired_number, 1)
    assert failed["delivered"] is False
    assert failed["status_code"] is None
    assert "fault" in failed["error"]
    assert receiver.attempts == 0  # the receiver never saw it
    await control.delete("/_emulator/faults")
    await advance(control, 15)
    retried = (await attempts_reach(control, wired_number, 2))[1]
    assert (retried["attempt"], retried["delivered"]) == (2, True)
    assert bodies(receiver) == ["flaky"]


async def test_a_waba_with_no_subscribed_app_gets_nothing(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    unsubscribed = await create_number(
        control,
        display_phone_number="+1 555-010-0009",
        webhook_url=receiver.url,
        app_secret=receiver.app_secret,
        subscribed=False,
    )
    response = await control.post(
        f"/_emulator/customers/{CUSTOMER}/messages",
        json={
            "phone_number_id": unsubscribed.phone_number_id,
            "type": "text",
            "text": {"body": "into the void"},
        },
    )
    assert response.status_code == 201
    assert response.json()["webhook_queued"] is False
    target = {"phone_number_id": unsubscribed.phone_number_id}
    await control.post(f"/_emulator/customers/{CUSTOMER}/opt_out_marketing", json=target)
    assert await attempts(control, unsubscribed) == []
    assert (await stats(control))["webhook_backlog"] == 0
    # The subscribed number's webhook, sent after, arrives alone.
    await write_in(control, wired_number, "heard")
    receiver.wait_for(lambda items: len(items) == 1)
    assert bodies(receiver) == ["heard"]
    assert all(r.value["metadata"]["phone_number_id"] != unsubscribed.phone_number_id
               for r in receiver.snapshot())  # fmt: skip


async def test_each_customer_s_webhooks_keep_their_order(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    # The receiver is down while they write, so everything queues up; once it is back,
    # the lanes drain in parallel and only per-customer lanes keep each one's order.
    receiver.fail_with = 503
    customers = ["5215500000001", "5215500000002", "5491112345678", "14155550123"]
    rounds = 15
    for index in range(rounds):
        for customer in customers:
            await write_in(control, wired_number, f"{customer}-{index}", customer)
    await attempts_reach(control, wired_number, len(customers))
    receiver.fail_with = None
    await advance(control, 15)
    total = rounds * len(customers)
    receiver.wait_for(lambda items: len(items) == total, within=30)
    by_customer: dict[str, list[str]] = {}
    for message in receiver.messages():
        by_customer.setdefault(message["from"], []).append(message["text"]["body"])
    assert by_customer == {c: [f"{c}-{i}" for i in range(rounds)] for c in customers}
