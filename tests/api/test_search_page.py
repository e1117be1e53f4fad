"""The search page: a signed-in agent finds contacts and messages of their own workspace,
accents folded, each leading to its conversation, and customer text shown as text."""

from __future__ import annotations

import httpx

from ovillo.server import PlatformServer
from tests.api.test_web_pages import desk_with_user, signed_in


async def test_search_finds_this_workspaces_contacts_and_messages_only(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk, email = await desk_with_user(platform, http, emulator_http)
    other, _ = await desk_with_user(platform, http, emulator_http)
    mine = await desk.writes_and_waits("5215512340001", "¿Tienen la canción <b>Cielito</b>?")
    theirs = await other.writes_and_waits("5215512340002", "Busco la canción de cuna")

    client = await signed_in(platform, email)
    try:
        found = await client.get("/inbox/search", params={"q": "cancion"})
        assert found.status_code == 200
        page = found.text
        assert f'href="/inbox/{mine["id"]}"' in page
        assert "&lt;b&gt;Cielito&lt;/b&gt;" in page
        assert "<b>Cielito</b>" not in page
        assert theirs["id"] not in page
        assert "de cuna" not in page

        # A contact by number, leading to their latest conversation.
        by_number = await client.get("/inbox/search", params={"q": "5215512340001"})
        assert 'id="search-contacts"' in by_number.text
        assert f'href="/inbox/{mine["id"]}"' in by_number.text

        nothing = await client.get("/inbox/search", params={"q": "zapatos"})
        assert "No contact matches." in nothing.text
        assert "No message matches." in nothing.text
        assert 'href="/inbox/search"' in nothing.text  # the navigation leads here
    finally:
        await client.aclose()
