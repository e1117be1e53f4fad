"""Replies to a campaign land in the inbox attributed to it (``rules.attribution``): a
customer who quotes the campaign's message, or writes within 24 hours of it with nothing sent
since; shown on the message (REST API and inbox page) and counted in the funnel."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from ovillo.server import PlatformServer
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    approved_template,
    create_campaign,
    wait_for_campaign,
)
from tests.api.conversing import Desk
from tests.api.test_template_pages import person
from tests.api.test_web_pages import signed_in

pytestmark = pytest.mark.reviewed_by_tests


async def thread(desk: Desk, wa_id: str) -> tuple[str, list[dict[str, Any]]]:
    """The customer's open conversation and its messages, oldest first."""
    conversation = await desk.conversation_with(wa_id, status="open")
    assert conversation is not None
    response = await desk.get(
        f"/conversations/{conversation['id']}/messages", order="asc", limit=100
    )
    assert response.status_code == 200, response.text
    return conversation["id"], response.json()["data"]


async def says(desk: Desk, wa_id: str, body: str, **extra: Any) -> dict[str, Any]:
    """The customer writes ``body``; the message as the REST API shows it once applied."""
    await desk.customer_writes(wa_id, body, **extra)
    found: list[dict[str, Any]] = []

    async def applied() -> bool:
        conversation = await desk.conversation_with(wa_id, status="open")
        if conversation is None:
            return False
        _, messages = await thread(desk, wa_id)
        found.extend(m for m in messages if m["direction"] == "in" and m["text"] == body)
        return bool(found)

    await wait_for(applied, within=20, interval=0.05, what=f"{wa_id} wrote {body!r}")
    return found[0]


async def campaign_wamid(desk: Desk, wa_id: str) -> str:
    _, messages = await thread(desk, wa_id)
    [sent] = [m for m in messages if m["author"]["type"] == "campaign"]
    assert sent["wamid"], sent
    return str(sent["wamid"])


async def test_replies_are_attributed_by_quote_or_within_a_day(
    desk: Desk, platform_runtime: Runtime, platform: PlatformServer
) -> None:
    template = await approved_template(desk)
    ana, beto, carla, dario = await add_contacts(platform_runtime, desk.workspace_id, 4)
    campaign_id = await create_campaign(
        desk, template, "Spring offer", audience={"tags_any": ["spring"]}
    )
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    done = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="campaign sent"
    )
    assert done["state"] == "completed", done

    # Ana answers without quoting: the campaign's message is the latest we sent her.
    answer = await says(desk, ana, "Me interesa")
    assert answer["campaign_id"] == campaign_id
    fetched = await desk.get(f"/messages/{answer['id']}")
    assert fetched.json()["campaign_id"] == campaign_id

    # Beto answers, an agent replies, Beto writes again: that one answers the agent...
    assert (await says(desk, beto, "hola"))["campaign_id"] == campaign_id
    conversation_id, _ = await thread(desk, beto)
    sent = await desk.send(
        {"conversation_id": conversation_id, "type": "text", "text": {"body": "¿Qué talla?"}}
    )
    assert sent.status_code == 202, sent.text
    assert (await says(desk, beto, "la M"))["campaign_id"] is None
    # ...unless he quotes the campaign's message: a quote always wins.
    quoted = await says(
        desk, beto, "y este precio?", context={"id": await campaign_wamid(desk, beto)}
    )
    assert quoted["reply_to_wamid"] == await campaign_wamid(desk, beto)
    assert quoted["campaign_id"] == campaign_id

    # A day later a message without a quote is no answer to the campaign; a quote still is.
    await desk.advance(24 * 3600 + 60)
    assert (await says(desk, carla, "hola, ¿quién es?"))["campaign_id"] is None
    late = await says(
        desk, dario, "¿sigue en pie?", context={"id": await campaign_wamid(desk, dario)}
    )
    assert late["campaign_id"] == campaign_id

    funnel = await desk.get(f"/campaigns/{campaign_id}/funnel")
    assert funnel.status_code == 200, funnel.text
    assert funnel.json()["replied"] == 3  # Ana, Beto, Dario: each counted once
    exported = await desk.http.get(
        f"/api/v1/campaigns/{campaign_id}/recipients.csv", headers=desk.headers
    )
    replied = {row["phone"]: row["replied"] for row in csv.DictReader(io.StringIO(exported.text))}
    assert replied == {f"+{ana}": "yes", f"+{beto}": "yes", f"+{carla}": "", f"+{dario}": "yes"}

    # The inbox shows the attribution on the message, with a link to the campaign.
    agent = await signed_in(platform, await person(platform, desk, "agent"))
    try:
        ana_conversation, _ = await thread(desk, ana)
        page = await agent.get(f"/inbox/{ana_conversation}")
        assert page.status_code == 200, page.text
        assert f'<a href="/campaigns/{campaign_id}">Reply to campaign Spring offer</a>' in page.text
        carla_conversation, _ = await thread(desk, carla)
        page = await agent.get(f"/inbox/{carla_conversation}")
        assert page.status_code == 200, page.text
        assert "Reply to campaign" not in page.text
    finally:
        await agent.aclose()
