"""Two agents on one conversation, each in their own browser: presence, typing and the
assignment, live (issue 6's collision)."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from ovillo.accounts.models import Role
from ovillo.server import PlatformServer
from tests.e2e.conftest import (
    TIMEOUT_MS,
    Person,
    add_person,
    connect_number,
    customer_writes,
    sign_in,
)


def open_as(browser: Browser, platform: PlatformServer, person: Person, path: str) -> Page:
    context = browser.new_context(base_url=platform.url, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.goto(path)
    # Following the workspace's events before the other one arrives.
    expect(page.locator("body")).to_have_attribute("data-live-connected", "true")
    return page


def test_two_agents_see_each_other_typing_and_taking_the_conversation(
    browser: Browser, e2e_platform: PlatformServer
) -> None:
    ana = add_person(e2e_platform, name="Ana Owner")
    beto = add_person(
        e2e_platform,
        role=Role.AGENT,
        workspace=(ana.workspace_id, ana.api_key),
        name="Beto Agent",
    )
    number = connect_number(e2e_platform, ana)
    customer_writes(e2e_platform, ana, number, "15550002222", "¿Quién me atiende?")

    first = open_as(browser, e2e_platform, ana, "/inbox?view=all")
    first.locator("#conversation-list a").first.click()
    expect(first.locator("#thread")).to_contain_text("¿Quién me atiende?")
    path = first.url.split("?")[0].removeprefix(e2e_platform.url)
    expect(first.locator("body")).to_have_attribute("data-live-connected", "true")
    second = open_as(browser, e2e_platform, beto, path)
    try:
        # Each sees the other, and not themselves.
        expect(second.locator("#presence")).to_have_text("Ana Owner is viewing")
        expect(first.locator("#presence")).to_have_text("Beto Agent is viewing")

        # Ana types: Beto sees it while she does, and no more once she stops.
        first.get_by_label("Message", exact=True).press_sequentially("Hola, ya te")
        expect(second.locator("#presence")).to_have_text("Ana Owner is typing…")
        expect(second.locator("#presence")).to_have_text("Ana Owner is viewing")

        # Beto takes it: Ana's page shows the new assignee without a reload.
        second.get_by_role("button", name="Take").click()
        expect(second.locator("#conversation-meta")).to_contain_text("Assigned to Beto Agent")
        expect(first.locator("#conversation-meta")).to_contain_text("Assigned to Beto Agent")
        expect(first.locator("#thread .system")).to_contain_text(
            "Beto Agent assigned the conversation to Beto Agent"
        )
        # Ana's half-written answer is still there, and Beto is still with her.
        expect(first.get_by_label("Message", exact=True)).to_have_value("Hola, ya te")
        expect(first.locator("#presence")).to_have_text("Beto Agent is viewing")

        # Beto leaves the conversation for the list: he is no longer on it.
        second.goto("/inbox?view=all")
        expect(first.locator("#presence")).to_have_text("")
    finally:
        first.context.close()
        second.context.close()
