"""The composer's tools and the contact panel over HTTP: a file (refused with the reason and
the draft kept, or sent with its caption), a reply that quotes, quick replies, and editing
the contact's name and attributes, with the customers' and agents' words escaped.

The browser's side (emoji and quick replies at the caret, the shortcuts) is in
tests/e2e/test_composer_tools.py.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.api.test_composer_pages import thread
from tests.api.test_web_pages import PASSWORD, csrf_of, desk_with_user, signed_in
from tests.factories import make_user

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def sent_to_meta(desk: Desk, count: int) -> list[dict[str, Any]]:
    """The send requests the emulator (Meta) received, once there are ``count``."""
    found: list[list[dict[str, Any]]] = []

    async def arrived() -> bool:
        found.append(await desk.emulator_sent())
        return len(found[-1]) >= count

    await wait_for(arrived, within=30, interval=0.1, what=f"{count} sends reached Meta")
    return found[-1]


async def test_a_file_whatsapp_refuses_loses_nothing_and_replies_quote_the_message(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512341001"
    conversation_id = str((await desk.writes_and_waits(wa_id, "¿Tienen la talla M?"))["id"])
    (asked,) = await thread(desk, conversation_id)
    client = await signed_in(platform, email)
    try:
        page = await client.get(f"/inbox/{conversation_id}", params={"reply_to": asked["id"]})
        assert re.search(r'id="reply-to" value="' + asked["id"], page.text)
        assert "¿Tienen la talla M?</blockquote>" in page.text
        token = csrf_of(page.text)
        form = {"csrf_token": token, "body": "Sí, aquí el catálogo", "reply_to": asked["id"]}

        refused = await client.post(
            f"/inbox/{conversation_id}/messages",
            data=form,
            files={"file": ("setup.exe", b"MZ" + bytes(32), "application/x-msdownload")},
        )
        assert refused.status_code == 422, refused.text
        text = html.unescape(refused.text)
        assert "WhatsApp does not take this kind of file (application/x-msdownload)" in text
        assert ">Sí, aquí el catálogo</textarea>" in text  # the draft, as typed
        assert 'id="reply-to" value="' + asked["id"] in text  # still replying to it
        assert [m["direction"] for m in await thread(desk, conversation_id)] == ["in"]

        too_large = await client.post(
            f"/inbox/{conversation_id}/messages",
            data=form,
            files={"file": ("big.png", PNG + bytes(5 * 1024 * 1024), "image/png")},
        )
        assert too_large.status_code == 422
        assert "up to 5.0 MB for this kind of file and this one has 5.1 MB" in too_large.text

        no_caption = await client.post(
            f"/inbox/{conversation_id}/messages",
            data=form,
            files={"file": ("note.mp3", b"ID3" + bytes(64), "audio/mpeg")},
        )
        assert no_caption.status_code == 422
        assert "no caption on audio" in html.unescape(no_caption.text)

        photo = await client.post(
            f"/inbox/{conversation_id}/messages",
            data=form,
            files={"file": ("catalogo.png", PNG, "image/png")},
        )
        assert photo.status_code == 303, photo.text
        answer = await client.post(
            f"/inbox/{conversation_id}/messages",
            data={"csrf_token": token, "body": "¿Algo más?", "reply_to": asked["id"]},
        )
        assert answer.status_code == 303, answer.text

        image, reply = [sent["payload"] for sent in await sent_to_meta(desk, 2)]
        assert image["type"] == "image"
        assert image["image"]["caption"] == "Sí, aquí el catálogo"
        assert image["context"] == {"message_id": asked["wamid"]}
        assert reply["text"]["body"] == "¿Algo más?"
        assert reply["context"] == {"message_id": asked["wamid"]}
        outgoing = [m for m in await thread(desk, conversation_id) if m["direction"] == "out"]
        assert all(m["reply_to_wamid"] == asked["wamid"] for m in outgoing)
        page = await client.get(f"/inbox/{conversation_id}")
        # Each answer shows the question it quotes; the photo is ours, served from here.
        assert page.text.count("<blockquote>¿Tienen la talla M?</blockquote>") == 2
        image_message = next(m for m in outgoing if m["type"] == "image")
        assert f'src="/inbox/media/{image_message["media_id"]}"' in page.text
    finally:
        await client.aclose()


async def test_quick_replies_are_kept_by_admins_and_inserted_filled_for_the_contact(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512341002"
    conversation_id = str((await desk.writes_and_waits(wa_id, "gracias", name="Lucía Pérez"))["id"])
    agent_email = "agent-qr@example.com"
    await make_user(
        platform, workspace_id=desk.workspace_id, email=agent_email, role="agent",
        password=PASSWORD,
    )  # fmt: skip
    client = await signed_in(platform, email)
    agent = await signed_in(platform, agent_email)
    try:
        assert (await agent.get("/settings/quick-replies")).status_code == 403
        page = await client.get("/settings/quick-replies")
        token = csrf_of(page.text)
        body = "¡Gracias {{contact.first_name}}! Te esperamos."
        created = await client.post(
            "/settings/quick-replies",
            data={"csrf_token": token, "shortcut": "/Thanks", "body": body},
        )
        assert created.status_code == 303, created.text
        again = await client.post(
            "/settings/quick-replies", data={"csrf_token": token, "shortcut": "thanks", "body": "x"}
        )
        assert again.status_code == 409
        assert "/thanks is already a quick reply" in again.text
        bad = await client.post(
            "/settings/quick-replies",
            data={"csrf_token": token, "shortcut": "hasta luego", "body": "Hasta luego"},
        )
        assert bad.status_code == 422
        text = html.unescape(bad.text)
        assert "A shortcut is 1 to 32 letters" in text
        assert ">Hasta luego</textarea>" in text  # what was typed stays
        listing = await client.get("/settings/quick-replies")
        (reply_id,) = re.findall(r'action="/settings/quick-replies/([0-9a-f-]{36})"', listing.text)
        edited = await client.post(
            f"/settings/quick-replies/{reply_id}",
            data={"csrf_token": token, "shortcut": "thanks", "body": body + " 🙏"},
        )
        assert edited.status_code == 303

        # Every agent's composer offers it, filled for this contact.
        conversation = await agent.get(f"/inbox/{conversation_id}")
        found = re.search(r'id="quick-reply-map">(.*?)</script>', conversation.text)
        assert found is not None
        assert json.loads(found.group(1)) == {"thanks": "¡Gracias Lucía! Te esperamos. 🙏"}
        sent = await agent.post(
            f"/inbox/{conversation_id}/messages",
            data={"csrf_token": csrf_of(conversation.text), "body": "/thanks"},
        )
        assert sent.status_code == 303
        (message,) = [sent["payload"] for sent in await sent_to_meta(desk, 1)]
        assert message["text"]["body"] == "¡Gracias Lucía! Te esperamos. 🙏"

        deleted = await client.post(
            f"/settings/quick-replies/{reply_id}/delete", data={"csrf_token": token}
        )
        assert deleted.status_code == 303
        assert "/thanks" not in (await client.get("/settings/quick-replies")).text
    finally:
        await client.aclose()
        await agent.aclose()


async def test_the_contact_panel_edits_name_and_attributes_and_escapes_them(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512341003"
    conversation = await desk.writes_and_waits(wa_id, "hola", name="<script>alert(1)</script>")
    conversation_id, contact_id = str(conversation["id"]), conversation["contact"]["id"]
    client = await signed_in(platform, email)
    try:
        page = await client.get(f"/inbox/{conversation_id}")
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert '<span aria-hidden="true">🇲🇽</span> Mexico' in page.text  # from the number
        assert "Receives marketing messages" in page.text
        token = csrf_of(page.text)

        async def post(path: str, **data: str) -> httpx.Response:
            return await client.post(
                f"/inbox/{conversation_id}/{path}", data={"csrf_token": token, **data}
            )

        assert (await post("attributes", key="city", value="Monterrey")).status_code == 303
        hostile = await post("attributes", key="<b>plan</b>", value="<img src=x onerror=alert(1)>")
        assert hostile.status_code == 303
        assert (await post("attributes", key="city", value="Puebla")).status_code == 303
        empty = await post("attributes", key="vip", value="  ")
        assert empty.status_code == 303
        assert "error=" in empty.headers["location"]  # said on the page, nothing changed
        assert (await post("contact", name="<i>Lucía</i>")).status_code == 303

        contact = (await desk.get(f"/contacts/{contact_id}")).json()
        assert contact["attributes"] == {
            "city": "Puebla",
            "<b>plan</b>": "<img src=x onerror=alert(1)>",
        }
        assert contact["name"] == "<i>Lucía</i>"
        page = await client.get(f"/inbox/{conversation_id}")
        assert "<img src=x" not in page.text
        assert "<b>plan</b>" not in page.text
        assert "<i>Lucía</i>" not in page.text
        assert "&lt;b&gt;plan&lt;/b&gt;" in page.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "&lt;i&gt;Lucía&lt;/i&gt;" in page.text

        spanish = await client.get(f"/inbox/{conversation_id}", headers={"Accept-Language": "es"})
        assert "Atributos" in spanish.text
        assert "Respuestas rápidas" in spanish.text

        removed = await post("attributes", key="<b>plan</b>", remove="1")
        assert removed.status_code == 303
        contact = (await desk.get(f"/contacts/{contact_id}")).json()
        assert contact["attributes"] == {"city": "Puebla"}  # the other one stays
    finally:
        await client.aclose()


async def test_the_panel_shows_the_ad_its_free_window_and_past_conversations(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    wa_id = "5215512341004"
    ad = {"source_url": "https://fb.me/ad123", "source_id": "1202", "source_type": "ad"}
    referral = {**ad, "headline": "<b>Envíos</b>"}
    first = str((await desk.writes_and_waits(wa_id, "Vi su anuncio", referral=referral))["id"])
    client = await signed_in(platform, email)
    try:
        page = await client.get(f"/inbox/{first}")
        token = csrf_of(page.text)
        answered = await client.post(
            f"/inbox/{first}/messages", data={"csrf_token": token, "body": "¡Hola!"}
        )
        assert answered.status_code == 303

        async def free_entry_open() -> bool:
            conversation = (await desk.get(f"/conversations/{first}")).json()
            return conversation["free_entry_point"] is not None

        await wait_for(free_entry_open, within=30, interval=0.1, what="the free entry point")
        page = await client.get(f"/inbox/{first}")
        assert "&lt;b&gt;Envíos&lt;/b&gt;" in page.text  # the ad's headline, escaped
        assert 'href="https://fb.me/ad123"' in page.text
        assert re.search(r"messages are free for 7[12] h \d+ min more", page.text)
        assert "None before this one." in page.text
        closed = await client.post(
            f"/inbox/{first}/status", data={"csrf_token": token, "status": "closed"}
        )
        assert closed.status_code == 303

        hostile = {**ad, "source_url": "javascript:alert(1)", "headline": "Otra vez"}
        second = str((await desk.writes_and_waits(wa_id, "Otra pregunta", referral=hostile))["id"])
        assert second != first
        page = await client.get(f"/inbox/{second}")
        past = re.search(
            r'<ul class="plain past" id="past-conversations"[^>]*>(.*?)</ul>', page.text, re.S
        )
        assert past is not None
        assert f'href="/inbox/{first}"' in past.group(1)
        assert "Closed" in past.group(1)
        assert "Otra vez" in page.text
        assert "javascript:" not in page.text  # a link that is not a web address is not shown
    finally:
        await client.aclose()
