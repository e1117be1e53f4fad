"""The composer's tools and the contact panel in a browser: keyboard shortcuts, an emoji at
the caret, a photo sent as a reply (through the emulator, quoting the customer), and an
attribute added and changed."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from ovillo.server import PlatformServer
from tests.api.test_composer_tools import PNG, sent_to_meta
from tests.e2e.conftest import add_person, connect_number, customer_writes, sign_in
from tests.e2e.test_composer import on_desk


def test_an_agent_answers_with_a_photo_quoting_the_customer_and_edits_the_contact(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    customer_writes(
        e2e_platform, person, number, "5215512345555", "¿Tienen la talla M?", name="Lucía Pérez"
    )
    sign_in(page, person)
    page.get_by_role("link", name="Unassigned").click()
    page.locator("#conversation-list a").first.click()
    expect(page.locator("#conversation-title")).to_have_text("Lucía Pérez")

    # The shortcuts: "?" shows them, "a" takes the conversation, "r" goes to the composer.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.keyboard.press("a")
    expect(page.locator("#conversation-meta")).to_contain_text(f"Assigned to {person.name}")
    page.keyboard.press("r")
    body = page.get_by_label("Message", exact=True)
    expect(body).to_be_focused()
    page.keyboard.type("a")  # typed into the field, not taken as "assign"
    expect(body).to_have_value("a")
    page.keyboard.press("Escape")
    expect(body).not_to_be_focused()

    # Reply to the customer's message with a photo, its caption ending in an emoji.
    page.locator("#thread .bubble.inbound").get_by_role("link", name="Reply").click()
    expect(page.locator("#replying-to")).to_contain_text("¿Tienen la talla M?")
    body.fill("Sí, mira ")
    page.locator("summary", has_text="Emoji").click()
    page.get_by_role("button", name="Thumbs up").click()
    expect(body).to_have_value("Sí, mira 👍")
    page.get_by_label("Attach a file").set_input_files(
        {"name": "talla-m.png", "mimeType": "image/png", "buffer": PNG}
    )
    body.press("Control+Enter")

    sent = page.locator("#thread .bubble.outbound").last
    expect(sent.locator("blockquote")).to_have_text("¿Tienen la talla M?")
    expect(sent.locator("img.media")).to_have_attribute("alt", "Sí, mira 👍")
    expect(sent.locator(".ticks")).to_have_attribute(
        "data-status", re.compile(r"delivered|read"), timeout=20_000
    )

    async def request_to_meta(desk: Any) -> dict[str, Any]:
        (sent,) = await sent_to_meta(desk, 1)
        payload: dict[str, Any] = sent["payload"]
        return payload

    payload = on_desk(e2e_platform, person, number, request_to_meta)
    assert payload["type"] == "image"
    assert payload["image"]["caption"] == "Sí, mira 👍"
    assert payload["context"]["message_id"].startswith("wamid.")

    # The contact panel: an attribute added, then changed.
    panel = page.locator("#contact-panel")
    panel.get_by_label("New attribute").fill("talla")
    panel.get_by_label("Value").fill("M")
    panel.locator("#add-attribute").get_by_role("button", name="Add").click()
    expect(panel.get_by_label("talla", exact=True)).to_have_value("M")
    panel.get_by_label("talla", exact=True).fill("L")
    panel.locator("#contact-attributes li", has_text="talla").get_by_role(
        "button", name="Save"
    ).click()
    expect(page.locator("#contact-panel").get_by_label("talla", exact=True)).to_have_value("L")

    # A teammate (here the REST API) changes the contact: the panel follows, live.
    async def change_contact(desk: Any) -> None:
        conversation = await desk.conversation_with("5215512345555")
        answer = await desk.http.patch(
            f"/api/v1/contacts/{conversation['contact']['id']}",
            headers=desk.headers,
            json={"attributes": {"talla": "XL", "canal": "anuncio"}},
        )
        assert answer.status_code == 200, answer.text

    page.evaluate("window.notReloaded = true")
    on_desk(e2e_platform, person, number, change_contact)
    expect(panel.get_by_label("canal", exact=True)).to_have_value("anuncio")
    expect(panel.get_by_label("talla", exact=True)).to_have_value("XL")
    assert page.evaluate("window.notReloaded") is True

    # A quick reply: saved in the settings, then offered as "/" is typed, filled for Lucía.
    conversation_url = page.url
    page.goto("/settings/quick-replies")
    page.get_by_label("Shortcut").fill("gracias")
    page.get_by_label("Text").fill("¡Gracias {{contact.first_name}}! 🙌")
    page.get_by_role("button", name="Add the quick reply").click()
    expect(page.get_by_label("Text of /gracias")).to_have_value(
        "¡Gracias {{contact.first_name}}! 🙌"
    )
    page.goto(conversation_url)
    body = page.get_by_label("Message", exact=True)
    body.press_sequentially("Listo. /gr")
    page.locator("#quick-reply-suggestions").get_by_role("button", name="/gracias").click()
    expect(body).to_have_value("Listo. ¡Gracias Lucía! 🙌")

    # j / k: the next and previous conversations of the list (the newest is first).
    customer_writes(e2e_platform, person, number, "5215512345556", "Otra clienta")
    page.goto(conversation_url)
    page.keyboard.press("k")
    expect(page.locator("#conversation-title")).not_to_have_text("Lucía Pérez")
    page.keyboard.press("j")
    expect(page).to_have_url(conversation_url.split("?")[0] + "?view=all")
