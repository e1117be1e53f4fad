"""The inbox in a browser: the list, a conversation, answering, notes, assignment, closing."""

from __future__ import annotations

import base64
import re
import struct
import time
import zlib

from playwright.sync_api import Page, expect

from ovillo.server import PlatformServer
from tests.e2e.conftest import add_person, connect_number, customer_writes, sign_in

SCRIPT = "<script>document.title='pwned';window.pwned=1</script><b>bold?</b>"
NAME = "<img src=x onerror=window.pwned=2>Eve"


def test_a_customers_script_shows_as_text_and_the_agent_answers(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    customer_writes(e2e_platform, person, number, "15550001111", SCRIPT, name=NAME)

    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    expect(page.get_by_text("No conversations here.")).to_be_visible()  # Mine: none yet
    page.get_by_role("link", name="Unassigned").click()
    row = page.locator("#conversation-list a").first
    expect(row).to_contain_text(SCRIPT[:40])
    expect(row).to_contain_text("Window open")
    row.click()
    conversation_path = page.url.split("?")[0].removeprefix(e2e_platform.url)

    thread = page.locator("#thread")
    expect(thread.locator(".bubble.inbound .body")).to_have_text(SCRIPT)
    assert page.evaluate("window.pwned") is None
    assert page.title() != "pwned"
    expect(thread.locator("b")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text(NAME)
    expect(page.locator("#conversation-list")).to_contain_text(NAME)
    expect(page.locator("img")).to_have_count(0)

    page.get_by_role("button", name="Take").click()
    expect(page.get_by_text("Assigned to Ana Owner")).to_be_visible()
    expect(thread.locator(".system")).to_contain_text(
        "Ana Owner assigned the conversation to Ana Owner"
    )

    page.get_by_label("Message", exact=True).fill("Hola, ¿en qué te ayudo?")
    page.get_by_role("button", name="Send", exact=True).click()
    answer = thread.locator(".bubble.outbound").last
    expect(answer).to_contain_text("Hola, ¿en qué te ayudo?")
    expect(answer.locator(".sender")).to_have_text("Ana Owner")
    # The worker sends it through the emulator; its status webhooks move the ticks, and the
    # page follows them live, without a reload.
    expect(page.locator("body")).to_have_attribute("data-live-connected", "true")
    expect(answer.locator(".ticks")).to_have_attribute(
        "data-status", re.compile(r"delivered|read"), timeout=20_000
    )

    page.get_by_label("Add a tag").fill("vip")
    page.locator("#contact-tags").get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("list", name="Tags")).to_have_text("vip ×")
    page.goto("/inbox?view=all&tag=vip")
    expect(page.locator("#conversation-list a")).to_have_count(1)
    page.goto("/inbox?view=all&tag=other")
    expect(page.get_by_text("No conversations here.")).to_be_visible()
    page.goto(conversation_path)
    page.get_by_role("button", name="Remove the tag vip").click()
    expect(page.locator("#contact-tags .tag")).to_have_count(0)  # the empty list is not shown

    page.get_by_label("Internal note (only your team sees it)").fill("VIP customer")
    page.get_by_role("button", name="Add note").click()
    expect(thread.locator(".bubble.note")).to_contain_text("VIP customer")

    page.get_by_role("button", name="Close", exact=True).click()
    expect(page.get_by_text("Status: closed")).to_be_visible()
    expect(thread.locator(".system").last).to_contain_text("closed the conversation")
    page.get_by_role("link", name="Closed").click()
    page.locator(f'#conversation-list a[href^="{conversation_path}?"]').click()
    page.get_by_role("button", name="Reopen").click()
    expect(page.get_by_text("Status: open")).to_be_visible()


def test_an_empty_answer_is_refused_with_a_message(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    customer_writes(e2e_platform, person, number, "15550002222", "hi")
    sign_in(page, person)
    page.goto("/inbox?view=all")
    page.locator("#conversation-list a").first.click()
    # Bypass the browser's own `required` check, as a script or an old browser would.
    page.locator("#message-body").evaluate("node => node.removeAttribute('required')")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Write a message first.")


def test_a_new_message_appears_live_in_the_open_conversation_and_the_list(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    customer_writes(e2e_platform, person, number, "15550003333", "first message")
    sign_in(page, person)
    page.goto("/inbox?view=all")
    page.locator("#conversation-list a").first.click()
    expect(page.locator("body")).to_have_attribute("data-live-connected", "true")
    page.get_by_label("Message", exact=True).fill("half-written answer")

    customer_writes(e2e_platform, person, number, "15550003333", "second message, live")
    expect(page.locator("#thread .bubble.inbound").last).to_contain_text("second message, live")
    expect(page.locator("#conversation-list")).to_contain_text("second message, live")
    # The composer was left alone.
    expect(page.get_by_label("Message", exact=True)).to_have_value("half-written answer")

    customer_writes(e2e_platform, person, number, "15550004444", "another customer")
    expect(page.locator("#conversation-list a")).to_have_count(2)


def png(width: int, height: int) -> bytes:
    """A real PNG of one colour, so the browser can decode and size it."""
    raw = b"".join(b"\x00" + b"\x0b\x6b\x53" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_a_photo_from_a_customer_shows_in_the_thread(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    image = {"data_base64": base64.b64encode(png(40, 30)).decode(), "mime_type": "image/png",
             "caption": "my receipt"}  # fmt: skip
    customer_writes(
        e2e_platform,
        person,
        number,
        "15550005555",
        "my receipt",
        type="image",
        image=image,
        text=None,
    )
    sign_in(page, person)
    page.goto("/inbox?view=all")
    page.locator("#conversation-list a").first.click()
    photo = page.get_by_role("img", name="my receipt")
    # The worker downloads the file from WhatsApp after the message: wait until it is there.
    deadline = time.monotonic() + 20
    while photo.evaluate("img => img.complete && img.naturalWidth") != 40:
        assert time.monotonic() < deadline, "the photo was not stored within 20 s"
        page.wait_for_timeout(200)
        page.reload()


def test_the_list_filters_by_number(page: Page, e2e_platform: PlatformServer) -> None:
    person = add_person(e2e_platform)
    first = connect_number(e2e_platform, person)
    second = connect_number(e2e_platform, person)
    customer_writes(e2e_platform, person, first, "15550006661", "to the first number")
    customer_writes(e2e_platform, person, second, "15550006662", "to the second number")
    sign_in(page, person)
    page.goto("/inbox?view=all")
    expect(page.locator("#conversation-list a")).to_have_count(2)
    page.get_by_label("Number").select_option(label=second["display_phone_number"])
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#conversation-list a")).to_have_count(1)
    expect(page.locator("#conversation-list")).to_contain_text("to the second number")
