"""The pages over HTTP: CSRF on every form, cookies, and one workspace never seeing another's.

Browser behaviour is in tests/e2e; here the pages are driven as a script would, on SQLite
and PostgreSQL, to check what no browser would try.
"""

from __future__ import annotations

import re
import uuid

import httpx

from ovillo.server import PlatformServer
from tests.api.conversing import Desk, open_desk
from tests.factories import make_user

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    match = TOKEN.search(html)
    assert match is not None, "the page has no CSRF token"
    return match.group(1)


async def signed_in(platform: PlatformServer, email: str, **headers: str) -> httpx.AsyncClient:
    """A client holding a browser session of ``email`` (the caller closes it)."""
    client = httpx.AsyncClient(base_url=platform.url, timeout=15)
    page = await client.get("/sign-in")
    answer = await client.post(
        "/sign-in",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
        headers=headers,
    )
    assert answer.status_code == 303, answer.text
    return client


async def desk_with_user(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> tuple[Desk, str]:
    desk = await open_desk(platform, http, emulator_http)
    email = f"agent-{uuid.uuid4().hex[:8]}@example.com"
    await make_user(platform, workspace_id=desk.workspace_id, email=email, password=PASSWORD)
    return desk, email


async def test_forms_without_the_browsers_token_are_refused(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, email = await desk_with_user(platform, http, emulator_http)
    # The live stream is a page's too: no session, no events.
    assert (await http.get("/inbox/events")).status_code == 401
    anonymous = await http.post("/sign-in", data={"email": email, "password": PASSWORD})
    assert anonymous.status_code == 403
    assert "This form has expired" in anonymous.text
    assert "ovillo_session" not in anonymous.headers.get("set-cookie", "")

    client = await signed_in(platform, email)
    try:
        profile = await client.get("/settings/profile")
        token = csrf_of(profile.text)
        forged = await client.post("/settings/profile", data={"locale": "es"})
        assert forged.status_code == 403
        wrong = await client.post(
            "/settings/profile", data={"locale": "es", "csrf_token": "0" * 64}
        )
        assert wrong.status_code == 403
        assert 'lang="en"' in (await client.get("/settings/profile")).text
        # htmx sends the token in a header instead of the form.
        good = await client.post(
            "/settings/profile", data={"locale": "es"}, headers={"X-CSRF-Token": token}
        )
        assert good.status_code == 303
        assert 'lang="es"' in (await client.get("/settings/profile")).text
        # The token belongs to the session: another session's token is refused.
        other = await signed_in(platform, email)
        try:
            stolen = await other.post(
                "/settings/profile", data={"locale": "en", "csrf_token": token}
            )
            assert stolen.status_code == 403
        finally:
            await other.aclose()
    finally:
        await client.aclose()


async def test_the_session_cookie_is_http_only_lax_and_secure_behind_tls(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, email = await desk_with_user(platform, http, emulator_http)

    async def session_cookie(**headers: str) -> str:
        async with httpx.AsyncClient(base_url=platform.url, timeout=15) as client:
            page = await client.get("/sign-in")
            answer = await client.post(
                "/sign-in",
                data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text)},
                headers=headers,
            )
            assert answer.status_code == 303, answer.text
            return answer.headers["set-cookie"].lower()

    plain = await session_cookie()
    assert "ovillo_session=" in plain
    assert "httponly" in plain
    assert "samesite=lax" in plain
    assert "secure" not in plain
    # Behind a TLS-terminating proxy on this host (uvicorn trusts 127.0.0.1's headers).
    assert "; secure" in await session_cookie(**{"X-Forwarded-Proto": "https"})


async def test_no_page_or_form_reaches_another_workspace(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    mine, my_email = await desk_with_user(platform, http, emulator_http)
    theirs, _ = await desk_with_user(platform, http, emulator_http)
    await mine.writes_and_waits("15550003001", "mine: where is my order?")
    their_conversation = await theirs.writes_and_waits("15550003002", "theirs: secret plans")
    their_id = their_conversation["id"]

    client = await signed_in(platform, my_email)
    try:
        listing = await client.get("/inbox", params={"view": "all"})
        assert listing.status_code == 200
        assert "mine: where is my order?" in listing.text
        assert "secret plans" not in listing.text
        for view in ("mine", "unassigned", "closed"):
            assert "secret plans" not in (await client.get(f"/inbox?view={view}")).text

        page = await client.get(f"/inbox/{their_id}")
        assert page.status_code == 404
        assert "secret plans" not in page.text

        token = csrf_of(listing.text)
        me = await client.get("/settings/profile")
        forms = {
            f"/inbox/{their_id}/messages": {"body": "leak"},
            f"/inbox/{their_id}/notes": {"body": "leak"},
            f"/inbox/{their_id}/assignee": {"user_id": ""},
            f"/inbox/{their_id}/status": {"status": "closed"},
        }
        for path, data in forms.items():
            answer = await client.post(path, data={**data, "csrf_token": token})
            assert answer.status_code == 404, (path, answer.status_code)
        assert me.status_code == 200
    finally:
        await client.aclose()

    after = await theirs.get(f"/conversations/{their_id}")
    assert after.json()["status"] == "open"
    messages = await theirs.get(f"/conversations/{their_id}/messages")
    assert [item["direction"] for item in messages.json()["data"]] == ["in"]
    notes = await theirs.get(f"/conversations/{their_id}/notes")
    assert notes.json()["data"] == []


async def test_an_invitation_refused_shows_the_form_again_with_the_reason(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    """What a browser's own checks would stop (no name, a short password) the page refuses
    too: the form again, 422, the reason and the name as typed, the invitation still open."""
    _, email = await desk_with_user(platform, http, emulator_http)
    owner = await signed_in(platform, email)
    try:
        team = await owner.get("/settings/team")
        invited = await owner.post(
            "/settings/team/invitations",
            data={"csrf_token": csrf_of(team.text), "email": "nico@example.com", "role": "agent"},
        )
        assert invited.status_code == 200, invited.text
        link = re.search(r'id="invitation-link"[^>]* value="([^"]+)"', invited.text)
        assert link is not None
        path = "/invitations/" + link.group(1).rsplit("/invitations/", 1)[1]
    finally:
        await owner.aclose()

    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as guest:
        form = await guest.get(path)
        assert form.status_code == 200
        assert "nico@example.com" in form.text
        token = csrf_of(form.text)
        for typed, reason in (
            ({"name": " ", "password": PASSWORD}, "Write your name."),
            ({"name": "Nico", "password": "short"}, "The password needs at least"),
        ):
            refused = await guest.post(path, data={"csrf_token": token, **typed})
            assert refused.status_code == 422, refused.text
            assert reason in refused.text
            assert "nico@example.com" in refused.text
            assert f'value="{typed["name"]}"' in refused.text
        joined = await guest.post(
            path, data={"csrf_token": token, "name": "Nico", "password": PASSWORD}
        )
        assert joined.status_code == 303, joined.text
