"""Connecting a number in a browser: the checklist checks each detail as it is typed, then
connects, subscribes and registers the number and shows what to paste into Meta's dashboard."""

from __future__ import annotations

import re
import secrets
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from ovillo.server import PlatformServer
from tests.databases import run_coroutine
from tests.e2e.conftest import add_person, sign_in
from tests.factories import create_emulator_number


def number_at_meta(platform: PlatformServer) -> dict[str, Any]:
    """A number as a business has it before Ovillo: unregistered, no app subscribed."""

    async def create() -> dict[str, Any]:
        assert platform.emulator is not None
        async with (
            httpx.AsyncClient(base_url=platform.url, timeout=15) as http,
            httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as emulator_http,
        ):
            return await create_emulator_number(
                http, emulator_http, app_secret=secrets.token_hex(16), registered=False,
                subscribed=False,
            )  # fmt: skip

    return run_coroutine(create())


def test_an_owner_walks_the_checklist_and_the_number_is_ready(
    page: Page, context: BrowserContext, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = number_at_meta(e2e_platform)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.get_by_role("link", name="Numbers").click()
    expect(page.get_by_text("No number is connected yet.")).to_be_visible()
    page.get_by_role("link", name="Connect a number").click()
    expect(page.get_by_text("A business portfolio.")).to_be_visible()

    page.get_by_label("WhatsApp Business Account id").fill(number["waba_id"])
    page.get_by_label("Phone number id").fill(number["phone_number_id"])
    page.get_by_label("Access token").fill("EAA-not-the-token")
    token_check = page.locator("#check-access_token")
    expect(token_check).to_contain_text("does not accept this access token (code 190)")
    page.get_by_label("Access token").fill(number["access_token"])
    expect(token_check).to_contain_text("Meta accepts the token.")
    expect(page.locator("#check-phone_number_id")).to_contain_text(number["display_phone_number"])
    expect(page.locator("#check-waba_id")).to_contain_text("belongs to this account")
    page.get_by_label("App secret").fill("not-a-secret")
    expect(page.locator("#check-app_secret")).to_contain_text("32 letters and digits")
    page.get_by_label("App secret").fill(number["app_secret"])
    page.get_by_label("Two-step verification PIN").fill("246810")
    expect(page.locator("#check-summary")).to_have_text(
        "Every detail checks out: connect the number."
    )

    page.get_by_role("button", name="Connect and register").click()
    expect(page.get_by_role("status").first).to_have_text(
        "Everything is in place: this number sends and receives."
    )
    for step in ("token", "verified", "subscribed", "registered", "callback", "name"):
        expect(page.locator(f'li[data-step="{step}"]')).to_have_class("done")
    url = page.get_by_label("Callback URL")
    expect(url).to_have_value(f"{e2e_platform.url}/webhooks/whatsapp")
    page.get_by_role("button", name="Copy").first.click()
    expect(page.locator("#copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == url.input_value()

    page.get_by_role("link", name="All numbers").click()
    card = page.locator(f'article[data-number="{number["phone_number_id"]}"]')
    expect(card.locator("[data-quality]")).to_have_text("High")
    expect(card).to_contain_text("250 customers a day")
    expect(card).to_contain_text("80 messages per second")
