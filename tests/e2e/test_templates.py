"""Templates in a browser: author with a live preview, see a rule broken on its field as
you type, submit, and see Meta's approval arrive in the list live; an image header's
sample uploaded with the template, then sent with it."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.api.test_templates import PNG
from tests.databases import run_coroutine
from tests.e2e.conftest import Person, add_person, connect_number, sign_in


def approve_at_meta(platform: PlatformServer, person: Person, name: str) -> None:
    """Meta's reviewer approves ``name`` (the emulator's control API)."""

    async def approve() -> None:
        assert platform.emulator is not None
        async with (
            httpx.AsyncClient(base_url=platform.url, timeout=15) as http,
            httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as emulator_http,
        ):
            listed = await http.get(
                "/api/v1/templates", headers={"Authorization": f"Bearer {person.api_key}"}
            )
            assert listed.status_code == 200, listed.text
            found: list[dict[str, Any]] = [t for t in listed.json()["data"] if t["name"] == name]
            assert len(found) == 1, listed.text
            reviewed = await emulator_http.post(
                f"/_emulator/templates/{found[0]['meta_template_id']}/review",
                json={"status": "APPROVED"},
            )
            assert reviewed.status_code == 200, reviewed.text

    run_coroutine(approve())


def footer_and_two_buttons(page: Page) -> None:
    """The order template's footer, a quick reply and a link with the order as its suffix."""
    page.get_by_label("Footer").fill("Shop Example")
    page.locator("#button_0_type").select_option("QUICK_REPLY")
    page.locator("#button_0_text").fill("Thanks")
    page.locator("#button_1_type").select_option("URL")
    page.locator("#button_1_text").fill("See the order")
    page.locator("#button_1_url").fill("https://shop.example/orders/{{1}}")
    page.locator("#button_1_sample").fill("A-17")


def test_an_owner_authors_a_template_sees_its_errors_and_it_is_approved(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    connect_number(e2e_platform, person)
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.get_by_role("link", name="Templates").click()
    expect(page.get_by_text("No templates yet.")).to_be_visible()
    page.get_by_role("link", name="New template").click()

    page.get_by_label("Name", exact=True).fill("order_ready")
    page.get_by_label("Category").select_option("UTILITY")
    page.get_by_label("Header type").select_option("TEXT")
    page.get_by_label("Header text").fill("Your order")
    # A variable that skips a number: the rule shows on the body before anything is sent.
    page.get_by_label("Body").fill("Hello {{1}}, your order {{3}} is ready to collect today.")
    page.get_by_label("Samples, one per line, in the order of the variables").fill("Ana\nA-17")
    body_error = page.locator("#error-body")
    expect(body_error).to_contain_text("no gaps")
    page.get_by_label("Body").fill("Hello {{1}}, your order {{2}} is ready to collect today.")
    expect(body_error).to_have_text("")
    footer_and_two_buttons(page)
    page.locator("#button_2_type").select_option("PHONE_NUMBER")
    page.locator("#button_2_text").fill("Call us")
    page.locator("#button_2_phone").fill("+15550100")

    preview = page.locator("#preview")
    expect(preview.locator(".wa-header")).to_have_text("Your order")
    expect(preview.locator(".wa-body")).to_have_text(
        "Hello Ana, your order A-17 is ready to collect today."
    )
    expect(preview.locator(".wa-footer")).to_have_text("Shop Example")
    expect(preview.locator(".wa-button")).to_have_text(["Thanks", "See the order", "Call us"])
    expect(page.locator(".field-error:not(:empty)")).to_have_count(0)

    page.get_by_role("button", name="Submit to Meta").click()
    expect(page).to_have_url(re.compile(r"/templates\?number_id="))
    row = page.locator('tr[data-template="order_ready:en_US"]')
    expect(row.locator(".badge")).to_have_text("In review")

    # Meta's status webhook redraws the badge in place: no reload, no sync.
    expect(page.locator("body")).to_have_attribute("data-live-connected", "true")
    duplicate_to = row.get_by_placeholder("es")
    duplicate_to.fill("pt_BR")
    approve_at_meta(e2e_platform, person, "order_ready")
    expect(row.locator(".badge")).to_have_text("Approved")
    expect(duplicate_to).to_have_value("pt_BR")


def send_and_see_it_leave(
    platform: PlatformServer, person: Person, number: dict[str, Any], name: str
) -> dict[str, Any]:
    """Send template ``name`` through the API; what the emulator received for it."""

    async def send() -> dict[str, Any]:
        assert platform.emulator is not None
        async with (
            httpx.AsyncClient(base_url=platform.url, timeout=15) as http,
            httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as emulator_http,
        ):
            answer = await http.post(
                "/api/v1/messages",
                headers={"Authorization": f"Bearer {person.api_key}"},
                json={"to": "15550047001", "number_id": number["id"], "type": "template",
                      "template": {"name": name, "language": "en_US"}},
            )  # fmt: skip
            assert answer.status_code == 202, answer.text
            received: list[dict[str, Any]] = []

            async def left() -> bool:
                listed = await emulator_http.get(
                    "/_emulator/messages", params={"phone_number_id": number["phone_number_id"]}
                )
                received[:] = [m for m in listed.json() if m["payload"].get("type") == "template"]
                return bool(received)

            await wait_for(left, within=30, interval=0.1, what="the template sent")
            return received[0]

    return run_coroutine(send())


def test_an_image_header_is_uploaded_with_its_template_and_sent_with_it(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    number = connect_number(e2e_platform, person)
    sign_in(page, person)
    page.goto(f"{e2e_platform.url}/templates/new")
    page.get_by_label("Name", exact=True).fill("photo_offer")
    page.get_by_label("Category").select_option("MARKETING")
    page.get_by_label("Header type").select_option("IMAGE")
    page.get_by_label("Body").fill("Our new collection is in the shop today, come and see it.")
    # No sample yet: the rule is shown on the header before anything is sent.
    handle_error = page.locator("#error-header_handle")
    expect(handle_error).not_to_have_text("")
    page.locator("#header_file").set_input_files(
        {"name": "offer.png", "mimeType": "image/png", "buffer": PNG}
    )
    expect(handle_error).to_have_text("")
    expect(page.locator("#preview .wa-media")).to_be_visible()

    page.get_by_role("button", name="Submit to Meta").click()
    expect(page).to_have_url(re.compile(r"/templates\?number_id="))
    row = page.locator('tr[data-template="photo_offer:en_US"]')
    expect(row.locator(".badge")).to_have_text("In review")
    approve_at_meta(e2e_platform, person, "photo_offer")
    expect(row.locator(".badge")).to_have_text("Approved")

    sent = send_and_see_it_leave(e2e_platform, person, number, "photo_offer")
    [header] = sent["payload"]["template"]["components"]
    assert header["type"] == "header"
    assert set(header["parameters"][0]["image"]) == {"id"}
