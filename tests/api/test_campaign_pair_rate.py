"""131056, the pair rate: a customer who just got a burst of messages from the number gets no
more for a while (about one per 6 seconds, ``rules.throughput``), through the running platform.

The shared clock is frozen once the customer has written in, so the emulator's pair bucket
never refills by itself: a send to the busy customer is refused until the test moves the
clock, and everything that still goes meanwhile went without waiting for them.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from ovillo.core.clock import ControllableClock, wait_for
from ovillo.core.runtime import Runtime
from ovillo.rules.throughput import PAIR_BURST, PAIR_RATE_ERROR_CODE, PAIR_RATE_PER_SECOND
from ovillo.server import PlatformServer
from tests.api.campaigning import (
    add_contacts,
    all_recipients,
    approved_template,
    create_campaign,
    fill_pair_bucket,
    wait_for_campaign,
)
from tests.api.conversing import Desk

pytestmark = pytest.mark.reviewed_by_tests

BURST = int(PAIR_BURST)
# The pair rate gives one message back every 6 seconds.
PAIR_FREES = timedelta(seconds=1 / PAIR_RATE_PER_SECOND)
LEFT = frozenset({"accepted", "sent", "delivered", "read"})


def frozen(platform: PlatformServer) -> ControllableClock:
    clock = platform.clock
    assert isinstance(clock, ControllableClock)
    clock.freeze()
    return clock


async def message(desk: Desk, message_id: str) -> dict[str, Any]:
    response = await desk.get(f"/messages/{message_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def wait_for_message(
    desk: Desk, message_id: str, until: Any, *, what: str, within: float = 60
) -> dict[str, Any]:
    """GET /messages/{id} until ``until(message)``, without moving the clock."""
    seen: list[dict[str, Any]] = []

    async def reached() -> bool:
        seen.append(await message(desk, message_id))
        return bool(until(seen[-1]))

    await wait_for(reached, within=within, interval=0.1, what=what)
    return seen[-1]


def waiting_for_pair_rate(found: dict[str, Any]) -> bool:
    error = found["error"] or {}
    return bool(found["status"] == "queued" and error.get("code") == PAIR_RATE_ERROR_CODE)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_campaign_retries_a_busy_customer_after_the_pair_rate_frees_and_sends_the_rest(
    desk: Desk, platform: PlatformServer, platform_runtime: Runtime
) -> None:
    template = await approved_template(desk)
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 40)
    busy = wa_ids[17]
    conversation = await desk.writes_and_waits(busy, "hola")
    clock = frozen(platform)
    try:
        # Agents answer the busy customer with Meta's whole pair burst in one instant.
        answers = []
        for index in range(BURST):
            sent = await desk.send(
                {
                    "conversation_id": conversation["id"],
                    "type": "text",
                    "text": {"body": f"answer {index}"},
                }
            )
            assert sent.status_code == 202, sent.text
            answers.append(sent.json()["id"])

        async def answered() -> bool:
            statuses = [(await message(desk, i))["status"] for i in answers]
            return all(status in LEFT for status in statuses)

        await wait_for(answered, within=60, interval=0.2, what="the agents' burst accepted")
        # A second later the number may send at its full rate again; the customer has only
        # a sixth of a message back.
        await desk.advance(1)
        refused_at = clock.now()
        campaign_id = await create_campaign(
            desk, template, "Pair rate", audience={"tags_any": ["spring"]}
        )
        launched = await desk.post(f"/campaigns/{campaign_id}/launch")
        assert launched.status_code == 200, launched.text

        # Everyone else is sent while the busy customer's message waits (the clock stands
        # still, so their retry cannot come due): nobody waited for them.
        running = await wait_for_campaign(
            desk,
            campaign_id,
            until=lambda c: c["counts"]["sent"] == 39 and c["throttled"] == 1,
            what="all but the busy customer sent",
        )
        assert running["state"] == "running"
        assert running["counts"]["queued"] == 1
        assert running["counts"]["failed"] == 0
        rows = {row["contact_id"]: row for row in await all_recipients(desk, campaign_id)}
        row = rows[conversation["contact"]["id"]]
        assert (row["state"], row["error_code"]) == ("queued", PAIR_RATE_ERROR_CODE)
        waiting = await message(desk, row["message_id"])
        assert waiting_for_pair_rate(waiting), waiting
        assert waiting["attempts"] == 1
        # Retried no sooner than the pair rate gives a message back.
        assert at(waiting["next_attempt_at"]) >= refused_at + PAIR_FREES
        templates = [m for m in await desk.emulator_sent() if m["type"] == "template"]
        assert sorted(m["to"] for m in templates) == sorted(set(wa_ids) - {busy})

        await desk.advance(PAIR_FREES.total_seconds())
        done = await wait_for_campaign(
            desk, campaign_id, until=lambda c: c["state"] == "completed", what="completed"
        )
    finally:
        clock.resume()

    assert done["counts"]["sent"] == 40
    assert done["counts"]["failed"] == 0
    assert done["throttled"] == 1  # counted once, not again when it went
    retried = await message(desk, row["message_id"])
    assert retried["attempts"] == 2
    assert retried["status"] in LEFT
    # WhatsApp got every recipient's message exactly once, the busy customer's after the
    # pair rate freed, and the agents' burst untouched.
    received = await desk.emulator_sent()
    templates = [m for m in received if m["type"] == "template"]
    assert Counter(m["to"] for m in templates) == dict.fromkeys(wa_ids, 1)
    assert sorted(m["biz_opaque_callback_data"] for m in templates) == sorted(
        r["message_id"] for r in rows.values()
    )
    late = next(m for m in templates if m["to"] == busy)
    assert at(late["accepted_at"]) >= refused_at + PAIR_FREES
    assert sum(1 for m in received if m["type"] == "text" and m["to"] == busy) == BURST


async def test_an_agents_reply_over_the_pair_rate_is_retried_not_failed(
    desk: Desk, platform: PlatformServer
) -> None:
    customer = "15550100777"
    conversation = await desk.writes_and_waits(customer, "hola")
    clock = frozen(platform)
    try:
        await fill_pair_bucket(desk, customer)
        refused_at = clock.now()
        sent = await desk.send(
            {"conversation_id": conversation["id"], "type": "text", "text": {"body": "Hi!"}}
        )
        assert sent.status_code == 202, sent.text
        reply_id = sent.json()["id"]

        # WhatsApp answers 131056: the reply waits to be tried again, it does not fail.
        waiting = await wait_for_message(
            desk, reply_id, waiting_for_pair_rate, what="the reply refused for the pair rate"
        )
        assert waiting["attempts"] == 1
        assert at(waiting["next_attempt_at"]) >= refused_at + PAIR_FREES
        assert reply_id not in {m["biz_opaque_callback_data"] for m in await desk.emulator_sent()}

        await desk.advance(PAIR_FREES.total_seconds())
        accepted = await wait_for_message(
            desk, reply_id, lambda m: m["status"] in LEFT, what="the reply accepted"
        )
    finally:
        clock.resume()

    assert accepted["attempts"] == 2
    assert accepted["error"] is None
    ours = [m for m in await desk.emulator_sent() if m["biz_opaque_callback_data"] == reply_id]
    assert len(ours) == 1
    assert at(ours[0]["accepted_at"]) >= refused_at + PAIR_FREES
