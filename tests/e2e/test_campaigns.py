"""Campaigns in a browser: build an audience whose count follows the filter, see the
estimate, launch, and watch the funnel move as the emulator takes the messages."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ovillo.core.runtime import Runtime
from ovillo.server import PlatformServer
from tests.api.campaigning import OFFER, add_contacts
from tests.databases import run_coroutine
from tests.e2e.conftest import Person, add_person, connect_number, sign_in
from tests.e2e.test_templates import approve_at_meta


def template_and_audience(platform: PlatformServer, person: Person, number: dict[str, Any]) -> None:
    """An approved marketing template, three contacts tagged ``spring`` and one other."""

    async def prepare() -> None:
        async with httpx.AsyncClient(base_url=platform.url, timeout=15) as http:
            created = await http.post(
                "/api/v1/templates",
                headers={"Authorization": f"Bearer {person.api_key}"},
                json={"number_id": number["id"], **OFFER},
            )
            assert created.status_code == 201, created.text
        runtime = Runtime.from_settings(platform.settings, clock=platform.clock)
        try:
            await add_contacts(runtime, person.workspace_id, 3, first=7000)
            await add_contacts(runtime, person.workspace_id, 1, first=7100, tag="autumn")
        finally:
            await runtime.aclose()

    run_coroutine(prepare())
    approve_at_meta(platform, person, str(OFFER["name"]))


def test_an_owner_builds_launches_and_follows_a_campaign(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    template_and_audience(e2e_platform, person, number)
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.get_by_role("link", name="Campaigns").click()
    expect(page.get_by_text("No campaigns yet.")).to_be_visible()
    page.get_by_role("link", name="New campaign").click()

    page.get_by_label("Name", exact=True).fill("Spring <b>sale</b>")
    page.get_by_label("Template", exact=True).select_option(label="spring_offer (en_US, marketing)")
    page.get_by_label("{{first_name}}").fill("{{contact.first_name|there}}")
    count = page.locator("#audience-count")
    expect(count).to_have_text("4 contacts match")
    page.get_by_label("Any of these tags").fill("spring")
    expect(count).to_have_text("3 contacts match")
    expect(page.locator("#estimate-cost")).to_have_text("0.08 USD")
    page.get_by_label("Any of these tags").fill("nobody")
    expect(count).to_have_text("0 contacts match")
    expect(page.locator("#estimate-warnings")).to_contain_text("Nobody matches")
    page.get_by_label("Any of these tags").fill("spring")
    expect(count).to_have_text("3 contacts match")

    page.get_by_label("Launch once created").check()
    page.get_by_role("button", name="Create campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/[0-9a-f-]{36}$"))
    # The name is shown as text, never as markup.
    expect(page.get_by_role("heading", name="Spring <b>sale</b>")).to_be_visible()
    funnel = page.locator("#funnel")
    expect(funnel.locator("[data-stage=targeted] td")).to_have_text("3")
    # The page polls: the funnel moves as the worker sends, without a reload.
    expect(funnel.locator("[data-stage=sent] td")).to_have_text("3", timeout=60_000)
    expect(page.locator("#campaign-state")).to_have_text("Completed", timeout=60_000)
    expect(page.get_by_role("link", name="Download recipients (CSV)")).to_be_visible()

    page.get_by_role("link", name="Campaigns").first.click()
    row = page.locator("#campaign-list tbody tr").first
    expect(row).to_contain_text("Spring <b>sale</b>")
    expect(row).to_contain_text("3 of 3")
