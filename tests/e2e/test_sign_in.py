"""Signing in and out, the throttle, invitations and roles, in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from ovillo.accounts.models import Role
from ovillo.core.clock import ControllableClock
from ovillo.server import PlatformServer
from tests.e2e.conftest import add_person, sign_in


def test_sign_in_lands_in_the_inbox_with_a_safe_session_cookie(
    page: Page, context: BrowserContext, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    expect(page.get_by_role("banner")).to_contain_text(person.name)
    cookie = next(c for c in context.cookies() if c["name"] == "ovillo_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # served over plain HTTP here


def test_a_wrong_password_is_refused_and_the_email_kept(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    sign_in(page, person, password="not the password")
    expect(page.get_by_role("alert")).to_have_text("The email or the password is not right.")
    expect(page.get_by_label("Email")).to_have_value(person.email)
    page.goto("/inbox")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=/inbox"))


def test_repeated_failures_throttle_the_email_until_the_window_passes(
    page: Page, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    for _ in range(5):
        sign_in(page, person, password="wrong password")
        expect(page.get_by_role("alert")).to_contain_text("not right")
    # Even the right password is refused while the email is throttled.
    sign_in(page, person)
    expect(page.get_by_role("alert")).to_contain_text("Too many failed attempts")
    assert isinstance(e2e_platform.clock, ControllableClock)
    e2e_platform.clock.advance(timedelta(minutes=16))
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))


def test_sign_out_ends_the_session(page: Page, e2e_platform: PlatformServer) -> None:
    person = add_person(e2e_platform)
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto("/settings/profile")
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))


def test_an_invited_teammate_joins_by_link_with_the_role_given(
    page: Page, context: BrowserContext, e2e_platform: PlatformServer
) -> None:
    owner = add_person(e2e_platform)
    sign_in(page, owner)
    page.goto("/settings/team")
    page.get_by_label("Email").fill("new.agent@example.com")
    page.get_by_label("Role").select_option("agent")
    page.get_by_role("button", name="Create invitation link").click()
    link = page.get_by_label("Invitation link").input_value()
    assert "/invitations/" in link

    invitee = context.browser.new_context(base_url=e2e_platform.url, locale="en-US")  # type: ignore[union-attr]
    try:
        other = invitee.new_page()
        other.goto(link)
        expect(other.get_by_role("heading", level=1)).to_contain_text("Join")
        expect(other.get_by_text("new.agent@example.com")).to_be_visible()
        other.get_by_label("Your name").fill("Nico Agent")
        other.get_by_label("Password").fill("a good long password")
        other.get_by_role("button", name="Join the workspace").click()
        expect(other).to_have_url(re.compile(r"/inbox"))
        expect(other.get_by_role("banner")).to_contain_text("Nico Agent")
        # An agent sees no Team link, and the page itself refuses them.
        expect(other.get_by_role("link", name="Team", exact=True)).to_have_count(0)
        response = other.goto("/settings/team")
        assert response is not None
        assert response.status == 403
        expect(other.get_by_role("alert")).to_contain_text("Your role does not allow")
        # The link works once.
        used = other.goto(link)
        assert used is not None
        assert used.status == 404
    finally:
        invitee.close()

    page.reload()
    expect(page.get_by_role("table")).to_contain_text("Nico Agent")


def test_an_agent_is_refused_the_admin_pages(page: Page, e2e_platform: PlatformServer) -> None:
    owner = add_person(e2e_platform)
    agent = add_person(
        e2e_platform,
        role=Role.AGENT,
        workspace=(owner.workspace_id, owner.api_key),
        name="Eva Agent",
    )
    sign_in(page, agent)
    expect(page).to_have_url(re.compile(r"/inbox"))
    expect(page.get_by_role("link", name="API keys")).to_have_count(0)
    for path in ("/settings/team", "/settings/api-keys"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 403, path
    # Forms too, not only pages: an agent's POST is refused and creates nothing.
    page.goto("/settings/profile")
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    answer = page.request.post(
        "/settings/api-keys", form={"name": "sneaky", "csrf_token": token or ""}
    )
    assert answer.status == 403


def test_an_owner_creates_shows_once_and_revokes_an_api_key(
    page: Page, e2e_platform: PlatformServer
) -> None:
    owner = add_person(e2e_platform)
    sign_in(page, owner)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("CRM sync")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_label("New API key").input_value()
    assert key.startswith("ovk_")
    headers = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{e2e_platform.url}/api/v1/conversations", headers=headers).status_code == 200
    page.goto("/settings/api-keys")
    expect(page.get_by_label("New API key")).to_have_count(0)
    page.get_by_role("button", name="Revoke CRM sync").click()
    expect(page.get_by_role("table")).to_contain_text("Revoked")
    assert httpx.get(f"{e2e_platform.url}/api/v1/conversations", headers=headers).status_code == 401


def test_pages_follow_the_browser_language_then_the_profile_choice(
    browser: Browser, e2e_platform: PlatformServer
) -> None:
    person = add_person(e2e_platform)
    spanish = browser.new_context(base_url=e2e_platform.url, locale="es-CO")
    try:
        page = spanish.new_page()
        page.goto("/sign-in")
        expect(page.get_by_role("heading", level=1)).to_have_text("Inicia sesión en Ovillo")
        page.get_by_label("Correo").fill(person.email)
        page.get_by_label("Contraseña").fill(person.password)
        page.get_by_role("button", name="Iniciar sesión").click()
        expect(page.get_by_role("link", name="Bandeja")).to_be_visible()
        page.goto("/settings/profile")
        page.get_by_label("Idioma").select_option("en")
        page.get_by_role("button", name="Guardar").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        spanish.close()


def test_an_unknown_address_is_a_page_and_the_api_stays_json(
    page: Page, e2e_platform: PlatformServer
) -> None:
    response = page.goto("/no/such/page")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    api = httpx.get(f"{e2e_platform.url}/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")
