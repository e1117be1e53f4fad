"""Take the README's screenshots of the main pages: `make screenshots`.

Serves the platform for real on a throw-away SQLite database with its emulator, lets a few
simulated customers write in, answers one of them, and photographs the pages with
Playwright driving Debian's chromium, on a desktop and a phone-sized screen.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.databases import migrated_sqlite_template, settings_for, sqlite_copy  # noqa: E402
from tests.e2e.conftest import (  # noqa: E402
    CHROMIUM,
    add_person,
    connect_number,
    customer_writes,
    sign_in,
)
from tests.e2e.test_campaigns import template_and_audience  # noqa: E402
from tests.e2e.test_templates import footer_and_two_buttons  # noqa: E402

from ovillo.accounts.models import Role  # noqa: E402
from ovillo.core.clock import ControllableClock  # noqa: E402
from ovillo.core.settings import EmulatorSettings, ServerSettings  # noqa: E402
from ovillo.emulator.emulator import EmulatorConfig  # noqa: E402
from ovillo.server import PlatformServer, serve_in_thread  # noqa: E402

OUT = Path(__file__).resolve().parent
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        data = Path(directory)
        url = sqlite_copy(migrated_sqlite_template(data), data)
        settings = settings_for(url, data / "var").model_copy(
            update={
                "server": ServerSettings(host="127.0.0.1", port=0),
                "emulator": EmulatorSettings(enabled=True, host="127.0.0.1", port=0),
            }
        )
        server = PlatformServer(
            settings, clock=ControllableClock(), emulator_config=EmulatorConfig(seed=7)
        )
        with serve_in_thread(server) as platform, sync_playwright() as playwright:
            owner = add_person(platform, name="Lucía Ramos", timezone="America/Bogota")
            add_person(
                platform,
                role=Role.AGENT,
                workspace=(owner.workspace_id, owner.api_key),
                name="Mateo Gil",
            )
            number = connect_number(platform, owner)
            for wa_id, body in (
                ("5215512345678", "Hola, ¿tienen la talla M en azul?"),
                ("5491122334455", "Buenas, ¿hacen envíos a Córdoba?"),
                ("573001112233", "Quiero cambiar mi pedido #1042"),
            ):
                customer_writes(platform, owner, number, wa_id, body)

            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            context = browser.new_context(base_url=platform.url, viewport=DESKTOP, locale="es-CO")
            page = context.new_page()
            page.goto("/sign-in")
            page.screenshot(path=OUT / "sign-in.png")
            sign_in_es(page, owner.email, owner.password)
            page.goto("/inbox?view=unassigned")
            page.screenshot(path=OUT / "inbox.png")
            page.locator("#conversation-list a").first.click()
            page.get_by_role("button", name="Tomar").click()
            page.get_by_label("Mensaje", exact=True).fill("¡Hola! Sí, la tenemos. ¿Te la reservo?")
            page.get_by_role("button", name="Enviar", exact=True).click()
            page.get_by_label("Nota interna (solo la ve tu equipo)").fill("Cliente frecuente")
            page.get_by_role("button", name="Añadir nota").click()
            page.wait_for_timeout(1500)  # let the emulator's status webhooks move the ticks
            page.reload()
            page.screenshot(path=OUT / "conversation.png", full_page=True)
            page.goto("/settings/team")
            page.screenshot(path=OUT / "team.png")

            phone = browser.new_context(base_url=platform.url, viewport=PHONE, locale="en-US")
            small = phone.new_page()
            sign_in(small, owner)
            small.goto("/inbox?view=all")
            small.locator("#conversation-list a").first.click()
            small.screenshot(path=OUT / "conversation-phone.png")

            english = browser.new_context(base_url=platform.url, viewport=DESKTOP, locale="en-US")
            desk = english.new_page()
            sign_in(desk, owner)
            author_a_template(desk)
            desk.screenshot(path=OUT / "template-editor.png", full_page=True)
            template_and_audience(platform, owner, number)
            offer = "spring_offer (en_US, marketing)"
            for _ in range(60):  # until Meta's approval webhook has reached the platform
                desk.goto("/campaigns/new")
                if desk.locator("option", has_text=offer).count():
                    break
                desk.wait_for_timeout(500)
            desk.get_by_label("Name", exact=True).fill("Spring sale")
            desk.get_by_label("Template", exact=True).select_option(label=offer)
            desk.get_by_label("{{first_name}}").fill("{{contact.first_name|there}}")
            desk.get_by_label("Any of these tags").fill("spring")
            expect(desk.locator("#audience-count")).to_have_text("3 contacts match")
            desk.screenshot(path=OUT / "campaign-new.png", full_page=True)
            desk.get_by_label("Launch once created").check()
            desk.get_by_role("button", name="Create campaign").click()
            expect(desk.locator("#campaign-state")).to_have_text("Completed", timeout=60_000)
            desk.wait_for_timeout(1500)  # let the statuses reach the funnel
            desk.reload()
            desk.screenshot(path=OUT / "campaign.png", full_page=True)
            desk.goto("/settings/numbers")
            desk.screenshot(path=OUT / "numbers.png", full_page=True)
            browser.close()
    print(f"screenshots written to {OUT}")  # noqa: T201


def author_a_template(page: Page) -> None:
    """The template editor, filled in and checked, before it is submitted to Meta."""
    page.goto("/templates/new")
    page.get_by_label("Name", exact=True).fill("order_ready")
    page.get_by_label("Category").select_option("UTILITY")
    page.get_by_label("Header type").select_option("TEXT")
    page.get_by_label("Header text").fill("Your order")
    page.get_by_label("Body").fill("Hello {{1}}, your order {{2}} is ready to collect today.")
    page.get_by_label("Samples, one per line, in the order of the variables").fill("Ana\nA-17")
    footer_and_two_buttons(page)
    page.wait_for_timeout(800)  # the preview and the checks follow the typing


def sign_in_es(page: Page, email: str, password: str) -> None:
    page.get_by_label("Correo").fill(email)
    page.get_by_label("Contraseña").fill(password)
    page.get_by_role("button", name="Iniciar sesión").click()
    page.wait_for_url("**/inbox")


if __name__ == "__main__":
    main()
