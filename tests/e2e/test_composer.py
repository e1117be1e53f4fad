"""The composer in a browser: the window's countdown, then, past 24 hours, a template only,
and free text again once the customer writes."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.api.test_composer_pages import reminder, reviewed
from tests.databases import run_coroutine
from tests.e2e.conftest import Person, add_person, connect_number, customer_writes, sign_in


def on_desk(platform: PlatformServer, person: Person, number: dict[str, Any], work: Any) -> Any:
    """Run ``work(desk)`` against the platform's REST API and the emulator's control API."""

    async def run() -> Any:
        assert platform.emulator is not None
        async with (
            httpx.AsyncClient(base_url=platform.url, timeout=15) as http,
            httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as emulator_http,
        ):
            desk = Desk(http, emulator_http, person.workspace_id, person.api_key, number)
            return await work(desk)

    return run_coroutine(run())


def test_past_the_window_the_composer_sends_an_approved_template_and_it_is_delivered(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    customer_writes(e2e_platform, person, number, "5215512349999", "¿Ya salió?", name="Lucía Pérez")
    template = on_desk(
        e2e_platform, person, number, lambda desk: reviewed(desk, reminder(), "APPROVED")
    )

    sign_in(page, person)
    page.get_by_role("link", name="Unassigned").click()
    page.locator("#conversation-list a").first.click()
    countdown = page.locator("#window-countdown")
    expect(countdown).to_have_attribute("data-ticked", "true")  # the script keeps it current
    expect(countdown).to_have_text(re.compile(r"The 24-hour window closes in 2[23] h \d+ min\."))
    expect(page.get_by_label("Message", exact=True)).to_be_visible()

    # A day passes on the shared clock (the platform's and the emulator's).
    on_desk(e2e_platform, person, number, lambda desk: desk.advance(25 * 3600))
    page.reload()
    expect(page.locator("#window-closed")).to_contain_text("The 24-hour window closed")
    expect(page.get_by_label("Message", exact=True)).to_have_count(0)
    page.get_by_label("Template").select_option(label="pickup_reminder (es)")
    expect(page).to_have_url(re.compile(rf"template={template['id']}"))

    first_name = page.get_by_label("{{first_name}}")
    expect(first_name).to_have_value("Lucía")  # from the contact's name
    preview = page.locator("#template-preview")
    expect(preview).to_contain_text("Hola Lucía, tu pedido {{order}} está listo")
    expect(preview).to_contain_text("Tienda Lucía")
    expect(preview).to_contain_text("Gracias")

    page.get_by_role("button", name="Send template").click()
    order = page.get_by_label("{{order}}")
    expect(order).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("{{order}}: give a value.")).to_be_visible()
    expect(page.get_by_label("{{first_name}}")).to_have_value("Lucía")

    order.fill("B-12")
    expect(preview).to_contain_text("Hola Lucía, tu pedido B-12 está listo")
    expect(preview.locator(".header")).to_have_text("Pedido B-12")
    page.get_by_role("button", name="Send template").click()

    sent = page.locator("#thread .bubble.outbound").last
    expect(sent).to_contain_text("Template")
    expect(sent.locator(".sender")).to_have_text(person.name)
    expect(sent.locator(".ticks")).to_have_attribute(
        "data-status", re.compile(r"delivered|read"), timeout=20_000
    )

    # The customer answers: the window opens again and the composer follows, live.
    page.evaluate("window.notReloaded = true")
    customer_writes(e2e_platform, person, number, "5215512349999", "¡Gracias!")
    expect(page.locator("#window-countdown")).to_have_attribute("data-ticked", "true")
    expect(page.locator("#window-countdown")).to_contain_text(re.compile(r"closes in 23 h \d+ min"))
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
