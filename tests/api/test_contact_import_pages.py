"""The contact pages over HTTP: upload, map the columns over a preview, follow the progress,
download the rejects; admins only, each workspace its own."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pytest

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.api.test_web_pages import PASSWORD, csrf_of, signed_in
from tests.factories import make_user, make_workspace


async def person(platform: PlatformServer, workspace_id: uuid.UUID, role: str) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    await make_user(platform, workspace_id=workspace_id, email=email, password=PASSWORD, role=role)
    return email


# The pages add no SQL of their own to what test_contact_imports.py runs on both databases:
# SQLite alone here keeps the suite lean.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_upload_map_watch_and_download_rejects(platform: PlatformServer) -> None:
    workspace_id, _ = await make_workspace(platform)
    admin = await signed_in(platform, await person(platform, workspace_id, "admin"))
    agent = await signed_in(platform, await person(platform, workspace_id, "agent"))
    other_id, _ = await make_workspace(platform, name="Other")
    stranger = await signed_in(platform, await person(platform, other_id, "owner"))
    try:
        listing = await agent.get("/contacts")
        assert listing.status_code == 200
        assert 'href="/contacts"' in listing.text  # in the nav
        assert "/contacts/import" not in listing.text
        assert (await agent.get("/contacts/import")).status_code == 403

        page = await admin.get("/contacts/import")
        assert page.status_code == 200
        token = csrf_of(page.text)
        data = "Mobile,Nombre,Plan <i>\n5512345678,<script>x</script>,oro\n12,Bea,plata\n"
        uploaded = await admin.post(
            "/contacts/import",
            data={"csrf_token": token, "default_country": "MX"},
            files={"file": ("clientes.csv", data.encode(), "text/csv")},
        )
        assert uploaded.status_code == 303, uploaded.text
        import_page = uploaded.headers["location"]
        mapping = await admin.get(import_page)
        assert mapping.status_code == 200
        # The preview escapes what the file holds; each column has its guessed target.
        assert "&lt;script&gt;x&lt;/script&gt;" in mapping.text
        assert "<script>x" not in mapping.text
        assert re.search(r'<option value="name" selected>', mapping.text)
        assert "Plan &lt;i&gt;" in mapping.text
        assert 'value="plan_i"' in mapping.text  # the attribute key guessed from the header
        assert re.search(r'<option value="phone" selected>', mapping.text)

        # Another workspace cannot see it, a form without the token is refused.
        assert (await stranger.get(import_page)).status_code == 404
        form = {
            "csrf_token": token,
            "target-0": "phone",
            "target-1": "name",
            "target-2": "attribute",
            "attribute-2": "plan",
            "default_country": "MX",
            "tags": "feria, 2026",
        }
        forged = await admin.post(
            f"{import_page}/start", data={k: v for k, v in form.items() if k != "csrf_token"}
        )
        assert forged.status_code == 403

        # A mapping without a phone column is shown again with the reason.
        wrong = await admin.post(f"{import_page}/start", data={**form, "target-0": "skip"})
        assert wrong.status_code == 422
        assert "no column is mapped to phone" in wrong.text

        started = await admin.post(f"{import_page}/start", data=form)
        assert started.status_code == 303, started.text

        async def finished() -> bool:
            fragment = await admin.get(f"{import_page}/progress")
            assert fragment.status_code == 200
            return "hx-trigger" not in fragment.text

        await wait_for(finished, within=60, interval=0.05, what="import finished")
        done = await admin.get(import_page)
        counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', done.text))
        assert counts == {"rows_read": "2", "created": "1", "updated": "0", "rejected": "1"}
        assert "rejects.csv" in done.text

        rejects = await admin.get(f"{import_page}/rejects.csv")
        assert rejects.status_code == 200
        rows = list(csv.reader(io.StringIO(rejects.text)))
        assert rows[1][:4] == ["3", "phone", "12", "invalid_phone"]
        assert (await stranger.get(f"{import_page}/rejects.csv")).status_code == 404
        assert (await agent.get(f"{import_page}/rejects.csv")).status_code == 403

        contacts = await agent.get("/contacts", params={"q": "5512345678"})
        assert "+525512345678" in contacts.text
        assert "feria, 2026" in contacts.text
        assert "&lt;script&gt;" in contacts.text

        spanish = await admin.get(import_page, headers={"Accept-Language": "es"})
        assert "Filas rechazadas" in spanish.text
    finally:
        for client in (admin, agent, stranger):
            await client.aclose()
