"""The conversation page's composer over HTTP: the window's countdown, reading a conversation,
and, once the window is closed, only approved templates with a form for their variables.

The browser's side (the countdown ticking, the preview filling as one types) is in
tests/e2e/test_composer.py; here the pages are driven as a script would, on both databases.
"""

from __future__ import annotations

import html
import re
from typing import Any

import httpx

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.api.test_web_pages import csrf_of, desk_with_user, signed_in

COUNTDOWN = re.compile(r"The 24-hour window closes in (\d+) h (\d+) min\.")


def reminder(name: str = "pickup_reminder") -> dict[str, Any]:
    return {
        "name": name,
        "language": "es",
        "category": "UTILITY",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Pedido {{order}}",
                "example": {
                    "header_text_named_params": [{"param_name": "order", "example": "A-7"}]
                },
            },
            {
                "type": "BODY",
                "text": "Hola {{first_name}}, tu pedido {{order}} está listo para recoger.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"},
                        {"param_name": "order", "example": "A-7"},
                    ]
                },
            },
            {"type": "FOOTER", "text": "Tienda Lucía"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Gracias"}]},
        ],
    }


async def reviewed(desk: Desk, body: dict[str, Any], status: str) -> dict[str, Any]:
    """Created through the REST API; the emulator reviews it once its clock moves on."""
    created = await desk.post("/templates", {"number_id": desk.number["id"], **body})
    assert created.status_code == 201, created.text
    found: list[dict[str, Any]] = []

    async def decided() -> bool:
        await desk.advance(60)
        response = await desk.get(f"/templates/{created.json()['id']}")
        found.append(response.json())
        return bool(found[-1]["status"] == status)

    await wait_for(decided, within=20, interval=0.05, what=f"the template {status}")
    return found[-1]


async def unread(desk: Desk, wa_id: str) -> int:
    conversation = await desk.conversation_with(wa_id, status="open")
    assert conversation is not None
    count: int = conversation["unread_count"]
    return count


async def test_the_composer_counts_down_then_offers_only_approved_templates(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512340001"
    inbound = await desk.writes_and_waits(wa_id, "¿Está listo mi pedido?", name="Lucía Pérez")
    conversation_id = str(inbound["id"])
    assert await unread(desk, wa_id) == 1
    client = await signed_in(platform, email)
    try:
        page = await client.get(f"/inbox/{conversation_id}")
        assert page.status_code == 200, page.text
        countdown = COUNTDOWN.search(page.text)
        assert countdown is not None, page.text
        hours, minutes = int(countdown.group(1)), int(countdown.group(2))
        assert 23 * 60 <= hours * 60 + minutes < 24 * 60
        assert 'id="message-body"' in page.text
        assert 'action="/inbox/' + conversation_id + '/templates"' not in page.text
        # Opening the conversation read it, for the whole team.
        assert await unread(desk, wa_id) == 0

        template = await reviewed(desk, reminder(), "APPROVED")
        scam = reminder("prize_claim")
        scam["components"][1]["text"] = "Hola {{first_name}}, you have won {{order}} today."
        await reviewed(desk, scam, "REJECTED")
        await desk.advance(25 * 3600)
        await wait_for(
            lambda: _closed(client, conversation_id), within=20, interval=0.05,
            what="the window closed on the page",
        )  # fmt: skip
        page = await client.get(f"/inbox/{conversation_id}")
        assert "The 24-hour window closed" in page.text
        assert 'id="message-body"' not in page.text  # only templates now
        assert "pickup_reminder (es)" in page.text
        assert "prize_claim" not in page.text  # Meta rejected it: only approved ones
        chosen = await client.get(f"/inbox/{conversation_id}", params={"template": template["id"]})
        text = html.unescape(chosen.text)
        assert 'name="var.first_name" value="Lucía"' in text  # from the contact's name
        assert 'name="var.order" value=""' in text
        assert "Tienda Lucía" in text  # the footer and the button, previewed
        assert "Gracias" in text
        token = csrf_of(chosen.text)

        missing = await client.post(
            f"/inbox/{conversation_id}/templates",
            data={
                "csrf_token": token,
                "template_id": template["id"],
                "var.first_name": "Lucía",
                "var.order": " ",
            },
        )
        assert missing.status_code == 422
        text = html.unescape(missing.text)
        assert re.search(r'name="var.order"[^>]*aria-invalid="true"', text), text
        assert "{{order}}: give a value." in text
        assert 'name="var.first_name" value="Lucía"' in text  # nothing valid is lost
        assert [m["direction"] for m in await thread(desk, conversation_id)] == ["in"]

        sent = await client.post(
            f"/inbox/{conversation_id}/templates",
            data={
                "csrf_token": token,
                "template_id": template["id"],
                "var.first_name": "Lucía",
                "var.order": "B-12",
            },
        )
        assert sent.status_code == 303, sent.text
        outgoing = [m for m in await thread(desk, conversation_id) if m["direction"] == "out"]
        assert len(outgoing) == 1
        assert outgoing[0]["type"] == "template"
        assert outgoing[0]["template"]["name"] == "pickup_reminder"
    finally:
        await client.aclose()


async def test_a_template_that_is_not_approved_cannot_be_sent_from_the_page(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512340002"
    inbound = await desk.writes_and_waits(wa_id, "hola")
    conversation_id = str(inbound["id"])
    created = await desk.post("/templates", {"number_id": desk.number["id"], **reminder()})
    assert created.status_code == 201, created.text  # in review: not offered, not sendable
    await desk.advance(2)
    client = await signed_in(platform, email)
    try:
        page = await client.get(f"/inbox/{conversation_id}")
        refused = await client.post(
            f"/inbox/{conversation_id}/templates",
            data={
                "csrf_token": csrf_of(page.text),
                "template_id": created.json()["id"],
                "var.first_name": "Ana",
                "var.order": "A-1",
            },
        )
        assert refused.status_code == 422
        assert "Choose an approved template." in refused.text
    finally:
        await client.aclose()


async def thread(desk: Desk, conversation_id: str) -> list[dict[str, Any]]:
    response = await desk.get(f"/conversations/{conversation_id}/messages")
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()["data"]
    return messages


async def _closed(client: httpx.AsyncClient, conversation_id: str) -> bool:
    page = await client.get(f"/inbox/{conversation_id}")
    return "The 24-hour window closed" in page.text


async def test_buttons_that_need_a_value_get_a_field_named_after_them(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512340003"
    conversation_id = str((await desk.writes_and_waits(wa_id, "hola"))["id"])
    template = await reviewed(
        desk,
        {
            "name": "order_link",
            "language": "es",
            "category": "MARKETING",
            "components": [
                {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW"]}},
                {"type": "BODY", "text": "Tu pedido te espera, con un regalo."},
                {
                    "type": "BUTTONS",
                    "buttons": [
                        {"type": "URL", "text": "Ver pedido",
                         "url": "https://shop.example/o/{{1}}",
                         "example": ["https://shop.example/o/A1"]},
                        {"type": "COPY_CODE", "example": "GIFT10"},
                    ],
                },
            ],
        },
        "APPROVED",
    )  # fmt: skip
    await desk.advance(25 * 3600)
    client = await signed_in(platform, email)
    try:
        chosen = await client.get(f"/inbox/{conversation_id}", params={"template": template["id"]})
        assert chosen.status_code == 200, chosen.text
        text = html.unescape(chosen.text)
        assert "End of the link of the button Ver pedido" in text
        assert "Code to copy" in text
        assert '<span class="badge header">Photo</span>' in text  # the image header, previewed
        answer = await client.post(
            f"/inbox/{conversation_id}/templates",
            data={"csrf_token": csrf_of(chosen.text), "template_id": template["id"]},
        )
        assert answer.status_code == 422
        text = html.unescape(answer.text)
        assert "End of the link of the button Ver pedido: give a value." in text
        assert "Code to copy: give a value." in text
        assert "header_media" in text  # no image stored on the template: said above the form
    finally:
        await client.aclose()
