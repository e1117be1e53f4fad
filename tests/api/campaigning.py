"""Helpers for the campaign tests: an approved template, an audience written straight into
the database (thousands of contacts in one statement), a campaign run to its end."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert, update

from ovillo.channels.models import Channel
from ovillo.contacts.models import Contact
from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from ovillo.rules.throughput import PAIR_BURST
from tests.api.conversing import Desk
from tests.factories import connect_emulator_channel, contact_row, offer_template

OFFER = offer_template("spring_offer")
FINISHED = frozenset({"completed", "cancelled", "stopped"})


async def number_at(
    desk: Desk, runtime: Runtime, mps: int, *, meta_mps: int | None = None
) -> dict[str, Any]:
    """An unlimited number the platform sends on at ``mps``, the desk's from now on.

    WhatsApp (the emulator) takes ``meta_mps`` a second, ``mps`` unless said: more keeps
    130429 out of a test, as much lets the test meet it."""
    number = await connect_emulator_channel(
        desk.http,
        desk.emulator_http,
        desk.api_key,
        tier="TIER_UNLIMITED",
        throughput_mps=meta_mps or mps,
    )
    desk.number = number
    async with runtime.sessionmaker() as session:
        await session.execute(
            update(Channel).where(Channel.id == uuid.UUID(number["id"])).values(throughput_mps=mps)
        )
        await session.commit()
    return number


async def approved_template(desk: Desk, body: dict[str, Any] = OFFER) -> dict[str, Any]:
    created = await desk.post("/templates", {"number_id": desk.number["id"], **body})
    assert created.status_code == 201, created.text
    reviewed = await desk.emulator_http.post(
        f"/_emulator/templates/{created.json()['meta_template_id']}/review",
        json={"status": "APPROVED"},
    )
    assert reviewed.status_code == 200, reviewed.text
    found: list[dict[str, Any]] = []

    async def approved() -> bool:
        response = await desk.get(f"/templates/{created.json()['id']}")
        found.append(response.json())
        return bool(found[-1]["status"] == "APPROVED")

    await wait_for(approved, within=20, interval=0.05, what="template approved")
    return found[-1]


async def add_contacts(
    runtime: Runtime, workspace_id: uuid.UUID, count: int, *, first: int = 0, tag: str = "spring"
) -> list[str]:
    """``count`` contacts with numbers the emulator accepts; their wa_ids."""
    now = runtime.clock.now()
    wa_ids = [f"1555{first + index:07d}" for index in range(count)]
    rows = [
        contact_row(
            workspace_id=workspace_id,
            wa_id=wa_id,
            now=now,
            name=f"Customer {index}" if index % 3 else None,
            tags=[tag],
        )
        for index, wa_id in enumerate(wa_ids)
    ]
    async with runtime.sessionmaker() as session:
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Contact), rows[start : start + 1000])
        await session.commit()
    return wa_ids


async def create_campaign(desk: Desk, template: dict[str, Any], name: str, **fields: Any) -> str:
    """A draft campaign of ``template`` on the desk's number, ``{{first_name}}`` = "there",
    with ``fields`` (audience, send window...) as the API takes them; its id."""
    created = await desk.post(
        "/campaigns",
        {
            "name": name,
            "number_id": desk.number["id"],
            "template_id": template["id"],
            "variables": {"first_name": "there"},
            **fields,
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def campaign(desk: Desk, campaign_id: str) -> dict[str, Any]:
    response = await desk.get(f"/campaigns/{campaign_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def wait_for_campaign(
    desk: Desk, campaign_id: str, *, until: Any, within: float = 120, what: str = "campaign"
) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def reached() -> bool:
        seen.append(await campaign(desk, campaign_id))
        return bool(until(seen[-1]))

    await wait_for(reached, within=within, interval=0.1, what=what)
    return seen[-1]


async def all_recipients(desk: Desk, campaign_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        response = await desk.get(f"/campaigns/{campaign_id}/recipients", **params)
        assert response.status_code == 200, response.text
        page = response.json()
        rows.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


async def fill_pair_bucket(desk: Desk, wa_id: str) -> None:
    """Another system on the desk's number (a bot of the business's own, behind the
    platform's back) sends ``wa_id`` Meta's whole pair burst, straight to the emulator: the
    number's next message to them is refused with 131056 until the pair rate frees."""
    number = desk.number
    for index in range(int(PAIR_BURST)):
        sent = await desk.emulator_http.post(
            f"/v23.0/{number['phone_number_id']}/messages",
            headers={"Authorization": f"Bearer {number['access_token']}"},
            json={
                "messaging_product": "whatsapp",
                "to": wa_id,
                "type": "text",
                "text": {"body": f"bot {index}"},
            },
        )
        assert sent.status_code == 200, sent.text
