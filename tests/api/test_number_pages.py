"""Settings → Numbers and the guided connection over HTTP, with the emulator as Meta.

The browser walk through the checklist is in tests/e2e/test_numbers.py.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx

from ovillo.server import PlatformServer
from tests.api.test_web_pages import PASSWORD, csrf_of, signed_in
from tests.factories import create_emulator_number, make_user, make_workspace

SPANISH = {"Accept-Language": "es"}


async def person(platform: PlatformServer, workspace_id: uuid.UUID, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    await make_user(platform, workspace_id=workspace_id, email=email, password=PASSWORD, role=role)
    return email


async def unregistered_number(
    http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> dict[str, Any]:
    """A number on Meta's side as a business has it before Ovillo: not registered for the
    Cloud API, no app subscribed to its WABA, an app secret as Meta makes them."""
    return await create_emulator_number(
        http, emulator_http, app_secret=secrets.token_hex(16), registered=False, subscribed=False
    )


def details(number: dict[str, Any], token: str, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "waba_id": number["waba_id"],
        "phone_number_id": number["phone_number_id"],
        "access_token": number["access_token"],
        "app_secret": number["app_secret"],
        "pin": "123456",
        **changes,
    }


def check_of(html: str, field: str) -> str:
    return html.split(f'id="check-{field}"', 1)[1].split("</p>", 1)[0]


def step_of(html: str, step: str) -> str:
    return html.split(f'data-step="{step}"', 1)[1].split("</li>", 1)[0]


async def emulated(emulator_http: httpx.AsyncClient, phone_number_id: str) -> dict[str, Any]:
    listed = await emulator_http.get("/_emulator/phone_numbers")
    [found] = [n for n in listed.json() if n["phone_number_id"] == phone_number_id]
    return dict(found)


async def test_an_owner_connects_a_number_through_the_checklist(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    workspace_id, _ = await make_workspace(platform)
    owner = await signed_in(platform, await person(platform, workspace_id, "owner"))
    number = await unregistered_number(http, emulator_http)
    try:
        page = await owner.get("/settings/numbers/connect")
        assert page.status_code == 200
        assert "business portfolio" in page.text
        assert "whatsapp_business_management" in page.text
        token = csrf_of(page.text)

        # Each field is checked with Meta as it is typed, and says why it is wrong.
        check = "/settings/numbers/connect/check"
        answer = await owner.post(check, data=details(number, token, access_token="EAAwrong"))
        assert answer.status_code == 200
        assert "does not accept this access token (code 190)" in check_of(
            answer.text, "access_token"
        )
        answer = await owner.post(check, data=details(number, token, phone_number_id="999"))
        assert "code 100" in check_of(answer.text, "phone_number_id")
        answer = await owner.post(check, data=details(number, token, app_secret="not-hex"))
        assert "32 letters and digits" in check_of(answer.text, "app_secret")
        other = await create_emulator_number(http, emulator_http)
        answer = await owner.post(check, data=details(number, token, waba_id=other["waba_id"]))
        assert "✗" in check_of(answer.text, "waba_id")
        answer = await owner.post(check, data=details(number, token))
        for field in ("waba_id", "phone_number_id", "access_token", "app_secret", "pin"):
            assert "✓" in check_of(answer.text, field), (field, answer.text)
        assert number["display_phone_number"] in check_of(answer.text, "phone_number_id")

        # A wrong token is refused with the reason; what was right is kept; nothing stored.
        refused = await owner.post(
            "/settings/numbers/connect", data=details(number, token, access_token="EAAwrong")
        )
        assert refused.status_code == 422
        assert "code 190" in refused.text
        assert f'value="{number["waba_id"]}"' in refused.text
        assert "No number is connected yet." in (await owner.get("/settings/numbers")).text

        # Right details: connected, subscribed, registered with the PIN, webhook to paste.
        connected = await owner.post("/settings/numbers/connect", data=details(number, token))
        assert connected.status_code == 200, connected.text
        for step in ("token", "verified", "subscribed", "registered", "callback", "name"):
            assert 'class="done"' in connected.text.split(f'data-step="{step}"', 1)[0][-40:], step
        assert f"{platform.url}/webhooks/whatsapp" in connected.text
        assert "Everything is in place" in connected.text
        meta = await emulated(emulator_http, number["phone_number_id"])
        assert meta["registered"]
        assert meta["subscribed"]
        assert meta["pin_set"]

        listing = await owner.get("/settings/numbers")
        card = listing.text.split(f'data-number="{number["phone_number_id"]}"', 1)[1]
        assert 'data-quality="GREEN"' in card
        assert "250 customers a day" in card
        assert "80 messages per second" in card
        assert "Registered" in card
        assert "Subscribed" in card

        # Meta's side changes; a refresh reads it.
        changed = await emulator_http.patch(
            f"/_emulator/phone_numbers/{number['phone_number_id']}",
            json={"quality": "RED", "tier": "TIER_10K", "registered": False},
        )
        assert changed.status_code == 200
        channel_id = listing.text.split('action="/settings/numbers/', 1)[1].split("/", 1)[0]
        refreshed = await owner.post(
            f"/settings/numbers/{channel_id}/refresh", data={"csrf_token": token}
        )
        assert refreshed.status_code == 303
        card = (await owner.get("/settings/numbers")).text
        assert 'data-quality="RED"' in card
        assert "10,000 customers a day" in card
        assert "Not registered" in card

        # Registering again with another PIN: Meta's mismatch, in plain words; then the right one.
        checklist = f"/settings/numbers/{channel_id}"
        wrong = await owner.post(
            f"{checklist}/register", data={"csrf_token": token, "pin": "654321"}
        )
        assert wrong.status_code == 422
        refusal = step_of(wrong.text, "registered")
        assert "The PIN does not match" in refusal
        assert "code 133005" in refusal
        right = await owner.post(
            f"{checklist}/register", data={"csrf_token": token, "pin": "123456"}
        )
        assert right.status_code == 303
        assert (
            'class="done"'
            in (await owner.get(checklist)).text.split('data-step="registered"', 1)[0][-40:]
        )

        # In Spanish.
        spanish = await owner.get("/settings/numbers", headers=SPANISH)
        assert "Calidad" in spanish.text
        assert "10.000 clientes al día" in spanish.text
        answer = await owner.post(
            check, data=details(number, token, access_token="EAAwrong"), headers=SPANISH
        )
        assert "código 190" in check_of(answer.text, "access_token")
    finally:
        await owner.aclose()


async def test_agents_only_look_and_no_workspace_sees_anothers_numbers(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    mine, _ = await make_workspace(platform)
    theirs, _ = await make_workspace(platform)
    number = await unregistered_number(http, emulator_http)
    their_owner = await signed_in(platform, await person(platform, theirs, "owner"))
    agent = await signed_in(platform, await person(platform, mine, "agent"))
    admin = await signed_in(platform, await person(platform, mine, "admin"))
    try:
        token = csrf_of((await their_owner.get("/settings/numbers/connect")).text)
        connected = await their_owner.post("/settings/numbers/connect", data=details(number, token))
        assert connected.status_code == 200, connected.text
        their_page = (await their_owner.get("/settings/numbers")).text
        channel_id = their_page.split('action="/settings/numbers/', 1)[1].split("/", 1)[0]

        # An agent sees the figures but no action, and every change is refused.
        listing = await agent.get("/settings/numbers")
        assert listing.status_code == 200
        assert "Only owners and admins connect and change numbers." in listing.text
        assert "Refresh from Meta" not in listing.text
        token = csrf_of(listing.text)
        assert (await agent.get("/settings/numbers/connect")).status_code == 403
        for path, data in {
            "/settings/numbers/connect": details(number, token),
            "/settings/numbers/connect/check": details(number, token),
            f"/settings/numbers/{channel_id}/refresh": {},
            f"/settings/numbers/{channel_id}/register": {"pin": "123456"},
            f"/settings/numbers/{channel_id}/subscribe": {},
        }.items():
            answer = await agent.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 403, (path, answer.status_code)

        # Another workspace's admin: not listed, not found, not changed, not taken.
        listing = await admin.get("/settings/numbers")
        assert number["display_phone_number"] not in listing.text
        token = csrf_of(listing.text)
        page = await admin.get(f"/settings/numbers/{channel_id}")
        assert page.status_code == 404
        assert number["display_phone_number"] not in page.text
        for path, data in {
            f"/settings/numbers/{channel_id}/refresh": {},
            f"/settings/numbers/{channel_id}/register": {"pin": "123456"},
            f"/settings/numbers/{channel_id}/subscribe": {},
        }.items():
            answer = await admin.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 404, (path, answer.status_code)
        taken = await admin.post("/settings/numbers/connect", data=details(number, token))
        assert taken.status_code == 409
        assert "already connected" in taken.text
        assert number["display_phone_number"] in (await their_owner.get("/settings/numbers")).text
    finally:
        for client in (their_owner, agent, admin):
            await client.aclose()
