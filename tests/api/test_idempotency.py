"""`Idempotency-Key` on POST /messages: a request sent twice (or fifty times at once) sends
one message, and every copy gets the first answer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.factories import auth, connect_emulator_channel, make_workspace


def _text(desk: Desk, body: str, to: str = "15550030001") -> dict[str, Any]:
    return {"to": to, "number_id": desk.number["id"], "type": "text", "text": {"body": body}}


async def _messages_to(desk: Desk, wa_id: str) -> list[dict[str, Any]]:
    conversation = await desk.conversation_with(wa_id)
    if conversation is None:
        return []
    response = await desk.get(f"/conversations/{conversation['id']}/messages", limit=200)
    page: list[dict[str, Any]] = response.json()["data"]
    return page


async def test_the_same_request_twice_sends_once_and_replays_the_answer(desk: Desk) -> None:
    await desk.writes_and_waits("15550030001", "hi")
    key = str(uuid.uuid4())

    first = await desk.send(_text(desk, "Your code is 1234"), **{"Idempotency-Key": key})
    # The same JSON written another way is the same request.
    again = await desk.http.post(
        "/api/v1/messages",
        headers={**desk.headers, "Idempotency-Key": key, "Content-Type": "application/json"},
        content=(
            '{"text": {"body": "Your code is 1234"}, "type": "text", '
            f'"number_id": "{desk.number["id"]}", "to": "15550030001"}}'
        ),
    )

    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    assert again.status_code == 202, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    outbound = [m for m in await _messages_to(desk, "15550030001") if m["direction"] == "out"]
    assert [m["id"] for m in outbound] == [first.json()["id"]]
    await desk.wait_for_status(first.json()["id"], "read")
    sent = await desk.emulator_sent()
    assert [m["biz_opaque_callback_data"] for m in sent] == [first.json()["id"]]

    # Still the first answer, as it was then, once the message has moved on.
    later = await desk.send(_text(desk, "Your code is 1234"), **{"Idempotency-Key": key})
    assert later.json() == first.json()
    assert later.json()["status"] == "queued"


async def test_the_same_key_for_another_request_is_refused(desk: Desk) -> None:
    key = "order-1001-receipt"
    first = await desk.send(_text(desk, "Receipt for order 1001"), **{"Idempotency-Key": key})
    assert first.status_code == 202, first.text

    other = await desk.send(_text(desk, "Receipt for order 1002"), **{"Idempotency-Key": key})

    assert other.status_code == 422, other.text
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["idempotency_key"] == key
    assert "new key" in other.json()["detail"]
    assert len(await _messages_to(desk, "15550030001")) == 1


async def test_fifty_at_once_with_one_key_send_exactly_one_message(desk: Desk) -> None:
    await desk.writes_and_waits("15550031001", "hello")
    key = str(uuid.uuid4())
    payload = _text(desk, "Only once, please", to="15550031001")

    answers = await asyncio.gather(
        *(desk.send(payload, **{"Idempotency-Key": key}) for _ in range(50))
    )

    assert [a.status_code for a in answers] == [202] * 50, [a.text for a in answers if a.is_error]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 49
    outbound = [m for m in await _messages_to(desk, "15550031001") if m["direction"] == "out"]
    assert len(outbound) == 1
    await desk.wait_for_status(outbound[0]["id"], "read")
    assert len(await desk.emulator_sent()) == 1


async def test_a_refused_request_keeps_no_answer(desk: Desk) -> None:
    key = str(uuid.uuid4())
    bad = await desk.send(_text(desk, ""), **{"Idempotency-Key": key})
    assert bad.status_code == 422

    fixed = await desk.send(_text(desk, "Now with a body"), **{"Idempotency-Key": key})

    assert fixed.status_code == 202, fixed.text
    assert "idempotent-replayed" not in fixed.headers


async def test_a_key_is_honoured_for_24_hours(desk: Desk) -> None:
    key = str(uuid.uuid4())
    first = await desk.send(_text(desk, "Reminder"), **{"Idempotency-Key": key})
    await desk.advance(23 * 3600)
    within = await desk.send(_text(desk, "Reminder"), **{"Idempotency-Key": key})
    assert within.headers.get("idempotent-replayed") == "true"
    assert within.json()["id"] == first.json()["id"]

    await desk.advance(3600)
    after = await desk.send(_text(desk, "Reminder"), **{"Idempotency-Key": key})

    assert after.status_code == 202, after.text
    assert "idempotent-replayed" not in after.headers
    assert after.json()["id"] != first.json()["id"]


async def test_keys_belong_to_a_workspace(
    platform: PlatformServer,
    desk: Desk,
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
) -> None:
    key = "shared-looking-key"
    mine = await desk.send(_text(desk, "From Acme"), **{"Idempotency-Key": key})
    _, other_key = await make_workspace(platform, name="Other")
    other_number = await connect_emulator_channel(http, emulator_http, other_key)

    theirs = await http.post(
        "/api/v1/messages",
        headers={**auth(other_key), "Idempotency-Key": key},
        json={"to": "15550032001", "number_id": other_number["id"], "text": {"body": "Other"}},
    )

    assert theirs.status_code == 202, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]


@pytest.mark.parametrize("key", ["", "k" * 201])
async def test_a_key_we_cannot_keep_is_refused(desk: Desk, key: str) -> None:
    answer = await desk.send(_text(desk, "hi"), **{"Idempotency-Key": key})

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_idempotency_key"
    assert await desk.conversations() == []
