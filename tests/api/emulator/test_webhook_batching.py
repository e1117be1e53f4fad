"""A lane that falls behind batches its status webhooks, as Meta does under load.

One POST may carry several changes (facts file). A lane that keeps up sends one status per
POST (every other test of the suite sees that); one whose backlog reaches
``BATCH_BACKLOG`` sends runs of statuses together, each change exactly as it would have
travelled alone, in order.
"""

from __future__ import annotations

from typing import Any

import httpx

from ovillo.emulator.webhooks import BATCH_BACKLOG, BATCH_MAX
from tests.api.emulator.conftest import Number
from tests.api.emulator.receiver import Received, WebhookReceiver
from tests.api.emulator.sending import CUSTOMER, advance, customer_writes, send, text

RANK = {"sent": 1, "delivered": 2, "read": 3}


def status_changes(items: list[Received]) -> list[list[dict[str, Any]]]:
    """Per POST carrying statuses, its changes' values."""
    posts = []
    for item in items:
        changes = [c for entry in item.json["entry"] for c in entry["changes"]]
        if any("statuses" in change["value"] for change in changes):
            posts.append([change["value"] for change in changes])
    return posts


async def test_a_backlog_of_statuses_is_delivered_in_batches_in_order(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    receiver.fail_with = 503  # the lane stops at the first webhook and retries it later
    await customer_writes(control, wired_number)  # opens the window for free-form sends
    messages = 40  # within the pair rate's burst of 45
    wamids = []
    for index in range(messages):
        answer = await send(control, wired_number, text(body=f"update {index}"))
        assert answer.status_code == 200, answer.text
        wamids.append(answer.json()["messages"][0]["id"])
    await advance(control, 10)  # every message is sent, delivered and read meanwhile
    receiver.fail_with = None
    await advance(control, 15)  # the retry: the lane drains its backlog
    expected = messages * 3
    items = receiver.wait_for(
        lambda got: sum(len(values) for values in status_changes(got)) >= expected, within=30
    )
    posts = status_changes(items)
    assert expected >= BATCH_BACKLOG  # the backlog is deep enough to batch
    assert max(len(values) for values in posts) > 1
    assert max(len(values) for values in posts) <= BATCH_MAX
    assert receiver.bad_signatures == 0
    statuses = []
    for values in posts:
        for value in values:
            # Each change is a whole status webhook: its number, its contact, one status.
            assert value["metadata"]["phone_number_id"] == wired_number.phone_number_id
            assert value["contacts"][0]["wa_id"] == CUSTOMER
            (status,) = value["statuses"]
            statuses.append((status["id"], status["status"], int(status["timestamp"])))
    assert len(statuses) == expected
    assert {wamid for wamid, _, _ in statuses} == set(wamids)
    # In the order they happened: each message's statuses go forward, and time never
    # goes back from one status to the next.
    seen: dict[str, int] = {}
    for wamid, status, _ in statuses:
        assert RANK[status] == seen.get(wamid, 0) + 1, (wamid, status)
        seen[wamid] = RANK[status]
    moments = [moment for _, _, moment in statuses]
    assert moments == sorted(moments)
    log = (
        await control.get(
            "/_emulator/webhooks", params={"phone_number_id": wired_number.phone_number_id}
        )
    ).json()
    delivered = [attempt for attempt in log if attempt["delivered"]]
    changes = sum(len(a["payload"]["entry"][0]["changes"]) for a in delivered)
    assert changes == expected + 1  # + the customer's message
