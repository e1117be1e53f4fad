"""The template pages over HTTP: roles, workspace scoping, the as-you-type check, submit.

The browser flow (preview, errors on fields, approval) is in tests/e2e/test_templates.py.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.api.conversing import Desk, open_desk
from tests.api.ingesting import envelope, post_signed
from tests.api.test_templates import approved, order_update, review
from tests.api.test_web_pages import PASSWORD, csrf_of, signed_in
from tests.factories import make_user

pytestmark = pytest.mark.reviewed_by_tests


async def person(platform: PlatformServer, desk: Desk, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    await make_user(
        platform, workspace_id=desk.workspace_id, email=email, password=PASSWORD, role=role
    )
    return email


def editor_form(desk: Desk, token: str, **changes: str) -> dict[str, str]:
    form = {
        "csrf_token": token,
        "number_id": str(desk.number["id"]),
        "name": "order_ready",
        "language": "en_US",
        "category": "UTILITY",
        "header_format": "TEXT",
        "header_text": "Your order",
        "body": "Hello {{1}}, your order {{2}} is ready to collect at the shop.",
        "body_samples": "Ana\nA-17",
        "footer": "Shop Example",
        "button_0_type": "QUICK_REPLY",
        "button_0_text": "Thanks",
        "button_1_type": "URL",
        "button_1_text": "See the order",
        "button_1_url": "https://shop.example/orders/{{1}}",
        "button_1_sample": "A-17",
        "button_2_type": "PHONE_NUMBER",
        "button_2_text": "Call us",
        "button_2_phone": "+15550100",
    }
    return {**form, **changes}


async def test_agents_see_and_check_templates_but_only_admins_submit(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    created = await desk.post("/templates", {"number_id": desk.number["id"], **order_update()})
    assert created.status_code == 201, created.text
    agent = await signed_in(platform, await person(platform, desk, "agent"))
    admin = await signed_in(platform, await person(platform, desk, "admin"))
    try:
        listing = await agent.get("/templates")
        assert listing.status_code == 200
        assert "order_update" in listing.text
        assert "In review" in listing.text
        assert "Sync with Meta" not in listing.text
        editor = await agent.get("/templates/new")
        assert editor.status_code == 200
        assert "Submit to Meta" not in editor.text
        token = csrf_of(editor.text)

        # The check names the field: a variable that skips a number, on the body.
        bad = editor_form(
            desk, token, body="Hello {{1}}, your order {{3}} is ready to collect at the shop."
        )
        checked = await agent.post("/templates/check", data=bad, headers={"HX-Request": "true"})
        assert checked.status_code == 200
        body_error = checked.text.split('id="error-body"', 1)[1].split("</p>", 1)[0]
        assert "{{3}}" in body_error or "sequential" in body_error.lower(), checked.text
        assert 'id="error-name" hx-swap-oob="true"></p>' in checked.text
        good = await agent.post("/templates/check", data=editor_form(desk, token))
        assert "Hello Ana, your order A-17 is ready to collect at the shop." in good.text
        assert re.search(r'id="error-[\w]+" hx-swap-oob="true">[^<]', good.text) is None

        # Agents may not submit, sync or duplicate.
        for path, data in {
            "/templates/new": editor_form(desk, token),
            "/templates/sync": {"csrf_token": token, "number_id": desk.number["id"]},
            f"/templates/{created.json()['id']}/duplicate": {"csrf_token": token, "language": "es"},
        }.items():
            answer = await agent.post(path, data=data)
            assert answer.status_code == 403, (path, answer.status_code)
        assert len((await desk.get("/templates")).json()["data"]) == 1

        # An admin submits; a bad form comes back with the error on its field, kept as typed.
        token = csrf_of((await admin.get("/templates/new")).text)
        refused = await admin.post("/templates/new", data=editor_form(desk, token, name="Bad Name"))
        assert refused.status_code == 422
        name_error = refused.text.split('id="error-name"', 1)[1].split("</p>", 1)[0]
        assert name_error.strip(">").strip(), refused.text
        assert 'value="Bad Name"' in refused.text
        submitted = await admin.post("/templates/new", data=editor_form(desk, token))
        assert submitted.status_code == 303, submitted.text
        duplicated = await admin.post(
            f"/templates/{created.json()['id']}/duplicate",
            data={"csrf_token": token, "language": "es"},
        )
        assert duplicated.status_code == 303, duplicated.text
        synced = await admin.post(
            "/templates/sync", data={"csrf_token": token, "number_id": desk.number["id"]}
        )
        assert synced.status_code == 303, synced.text
        # Meta rejects one: after a sync its badge says so, with Meta's reason.
        await review(desk, created.json()["meta_template_id"], "REJECTED", "INVALID_FORMAT")
        synced = await admin.post(
            "/templates/sync", data={"csrf_token": token, "number_id": desk.number["id"]}
        )
        assert synced.status_code == 303, synced.text
        listing = await agent.get("/templates")
        row = listing.text.split('data-template="order_update:en_US"', 1)[1].split("</tr>", 1)[0]
        assert "Rejected" in row
        assert "INVALID_FORMAT" in row
        names = {(t["name"], t["language"]) for t in (await desk.get("/templates")).json()["data"]}
        assert names == {
            ("order_update", "en_US"),
            ("order_update", "es"),
            ("order_ready", "en_US"),
        }
    finally:
        await agent.aclose()
        await admin.aclose()


async def test_no_template_page_reaches_another_workspace(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    mine = await open_desk(platform, http, emulator_http)
    theirs = await open_desk(platform, http, emulator_http)
    secret = await theirs.post(
        "/templates", {"number_id": theirs.number["id"], **order_update("their_secret")}
    )
    assert secret.status_code == 201, secret.text
    client = await signed_in(platform, await person(platform, mine, "owner"))
    try:
        listing = await client.get("/templates")
        assert listing.status_code == 200
        assert "their_secret" not in listing.text
        other_number = await client.get("/templates", params={"number_id": theirs.number["id"]})
        assert other_number.status_code == 404
        assert "their_secret" not in other_number.text
        token = csrf_of(listing.text)
        duplicate = await client.post(
            f"/templates/{secret.json()['id']}/duplicate",
            data={"csrf_token": token, "language": "es"},
        )
        assert duplicate.status_code == 404
        into_theirs = await client.post(
            "/templates/new", data=editor_form(theirs, token, name="planted")
        )
        assert into_theirs.status_code == 404
        sync = await client.post(
            "/templates/sync", data={"csrf_token": token, "number_id": theirs.number["id"]}
        )
        assert sync.status_code == 404
        page = await client.get(f"/templates/{secret.json()['id']}")
        assert page.status_code == 404
        assert "their_secret" not in page.text
    finally:
        await client.aclose()
    names = {t["name"] for t in (await theirs.get("/templates")).json()["data"]}
    assert names == {"their_secret"}


async def test_a_templates_page_shows_its_status_history_and_funnel(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    created = await desk.post("/templates", {"number_id": desk.number["id"], **order_update()})
    assert created.status_code == 201, created.text
    template = created.json()
    await review(desk, template["meta_template_id"], "REJECTED", "INVALID_FORMAT")
    agent = await signed_in(platform, await person(platform, desk, "agent"))
    try:

        async def rejected() -> bool:
            return bool((await desk.get(f"/templates/{template['id']}")).json()["status"]
                        == "REJECTED")  # fmt: skip

        await wait_for(rejected, within=20, interval=0.05, what="the rejection applied")
        listing = await agent.get("/templates")
        page = await agent.get(f"/templates/{template['id']}")
        spanish = await agent.get(f"/templates/{template['id']}", headers={"Accept-Language": "es"})
    finally:
        await agent.aclose()

    assert f'href="/templates/{template["id"]}"' in listing.text
    assert page.status_code == 200
    status = page.text.split(f'id="template-status-{template["id"]}"', 1)[1].split("</dd>")[0]
    assert "Rejected" in status
    assert "INVALID_FORMAT" in status
    history = page.text.split('id="template-history"', 1)[1].split("</table>")[0]
    assert history.count("<tr>") == 3  # the head, submitted PENDING, then REJECTED
    assert "Submitted here" in history
    assert "Meta&#39;s notice" in history
    funnel = page.text.split('id="template-funnel"', 1)[1].split("</table>")[0]
    for stage in ("sent", "delivered", "read", "clicked", "replied"):
        assert f'<td data-stage="{stage}">0</td>' in funnel
    assert spanish.status_code == 200
    assert "Cómo les fue a sus mensajes" in spanish.text
    assert "Rechazada" in spanish.text
    # The history names each status in the page's language, at the workspace's local time.
    spanish_history = spanish.text.split('id="template-history"', 1)[1].split("</table>")[0]
    assert "<td>En revisión</td>" in spanish_history
    assert "<td>Rechazada (INVALID_FORMAT)</td>" in spanish_history
    assert "PENDING" not in spanish_history
    assert not re.search(r">\d{4}-\d\d-\d\d ", spanish_history)  # not an ISO date in UTC


async def test_a_templates_quality_is_said_in_words_in_the_page_s_language(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    template = await approved(desk, order_update())
    quality = envelope(
        desk.number["waba_id"],
        "message_template_quality_update",
        {
            "message_template_id": int(template["meta_template_id"]),
            "message_template_name": "order_update",
            "message_template_language": "en_US",
            "previous_quality_score": "UNKNOWN",
            "new_quality_score": "YELLOW",
        },
    )
    posted = await post_signed(desk.http, quality, secret=desk.number["app_secret"])
    assert posted.status_code == 200, posted.text

    async def rated() -> bool:
        found = (await desk.get(f"/templates/{template['id']}")).json()
        return bool(found["quality_score"] == "YELLOW")

    await wait_for(rated, within=20, interval=0.05, what="the quality applied")
    agent = await signed_in(platform, await person(platform, desk, "agent"))
    try:
        listing = await agent.get("/templates")
        spanish = await agent.get(f"/templates/{template['id']}", headers={"Accept-Language": "es"})
    finally:
        await agent.aclose()

    marker = f'id="template-quality-{template["id"]}" data-live-region>'
    assert listing.text.split(marker, 1)[1].startswith("Medium<")
    assert spanish.text.split(marker, 1)[1].startswith("Media<")
    history = spanish.text.split('id="template-history"', 1)[1].split("</table>")[0]
    assert "<td>Media</td>" in history
    assert "YELLOW" not in history


async def test_the_editor_adds_moves_and_removes_buttons_up_to_metas_ten(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    admin = await signed_in(platform, await person(platform, desk, "admin"))
    try:
        editor = await admin.get("/templates/new")
        token = csrf_of(editor.text)
        form = editor_form(desk, token)  # Thanks (quick reply), See the order (link), Call us
        moved = await admin.post("/templates/new/buttons", data={**form, "arrange": "up:2"})
        removed = await admin.post("/templates/new/buttons", data={**form, "arrange": "remove:0"})
        added = await admin.post("/templates/new/buttons", data={**form, "arrange": "add"})
        five = editor_form(
            desk, token,
            button_1_type="QUICK_REPLY", button_1_text="Later", button_1_url="",
            button_2_type="QUICK_REPLY", button_2_text="Stop", button_2_phone="",
            button_3_type="URL", button_3_text="See the order",
            button_3_url="https://shop.example/orders/{{1}}", button_3_sample="A-17",
            button_4_type="PHONE_NUMBER", button_4_text="Call us", button_4_phone="+15550100",
        )  # fmt: skip
        checked = await admin.post("/templates/check", data=five)
    finally:
        await admin.aclose()

    def value(page: httpx.Response, name: str) -> str:
        found = re.search(rf'id="{name}" name="{name}" value="([^"]*)"', page.text)
        return found.group(1) if found else ""

    assert editor.text.count('name="arrange" value="remove:') == 4
    assert moved.status_code == 200, moved.text
    assert (value(moved, "button_1_text"), value(moved, "button_2_text")) == (
        "Call us", "See the order",
    )  # fmt: skip
    assert value(moved, "button_1_phone") == "+15550100"
    assert value(moved, "button_2_url") == "https://shop.example/orders/{{1}}"
    assert [value(removed, f"button_{n}_text") for n in range(3)] == [
        "See the order", "Call us", "",
    ]  # fmt: skip
    assert 'id="button_4_type"' in added.text
    assert 'id="button_5_type"' not in added.text
    assert re.search(r'id="error-[\w]+" hx-swap-oob="true">[^<]', checked.text) is None
    assert checked.text.count('class="wa-button"') == 5


async def test_the_editor_writes_an_authentication_template_with_its_code_button(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    admin = await signed_in(platform, await person(platform, desk, "admin"))
    try:
        token = csrf_of((await admin.get("/templates/new")).text)
        auth = {
            "csrf_token": token, "number_id": str(desk.number["id"]), "name": "login_code",
            "language": "en_US", "category": "AUTHENTICATION", "header_format": "NONE",
            "auth_security": "1", "auth_expiration": "10", "auth_otp_type": "ONE_TAP",
            "auth_autofill_text": "Autofill", "auth_package": "com.example.shop",
            "auth_signature": "K8a/AINcGX7",
        }  # fmt: skip
        without_app = await admin.post(
            "/templates/check", data={**auth, "auth_package": "", "auth_signature": ""}
        )
        too_long = await admin.post("/templates/check", data={**auth, "auth_expiration": "95"})
        checked = await admin.post("/templates/check", data=auth)
        submitted = await admin.post("/templates/new", data=auth)
    finally:
        await admin.aclose()

    def error(page: httpx.Response, name: str) -> str:
        tag = page.text.split(f'id="error-{name}"', 1)[1].split("</p>", 1)[0]
        return tag.split(">", 1)[1]

    assert "package name" in error(without_app, "auth_package")
    assert "minutes from 1 to 90" in error(too_long, "auth_expiration")
    assert re.search(r'id="error-[\w]+" hx-swap-oob="true">[^<]', checked.text) is None
    assert "123456 is your verification code." in checked.text
    assert "This code expires in 10 minutes." in checked.text
    assert submitted.status_code == 303, submitted.text
    [made] = (await desk.get("/templates")).json()["data"]
    assert (made["name"], made["category"]) == ("login_code", "AUTHENTICATION")
    button = made["components"][-1]["buttons"][0]
    assert (button["otp_type"], button["supported_apps"][0]["package_name"]) == (
        "ONE_TAP", "com.example.shop",
    )  # fmt: skip


async def test_a_violation_shows_on_its_field_in_the_users_language(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    agent = await signed_in(platform, await person(platform, desk, "agent"))
    try:
        token = csrf_of((await agent.get("/templates/new")).text)
        bad = editor_form(desk, token, footer="f" * 70)
        shown = {}
        for language in ("en", "es"):
            checked = await agent.post(
                "/templates/check", data=bad, headers={"Accept-Language": language}
            )
            assert checked.status_code == 200
            shown[language] = checked.text.split('id="error-footer"', 1)[1].split("</p>", 1)[0]
    finally:
        await agent.aclose()

    assert "The footer has 70 characters; shorten it to at most 60." in shown["en"]
    assert "El pie tiene 70 caracteres; acórtalo a 60 como máximo." in shown["es"]
