"""The campaign pages over HTTP: roles, workspace scoping, the live count, refusals, steering.

The browser flow (build, launch, watch the funnel) is in tests/e2e/test_campaigns.py.
"""

from __future__ import annotations

import httpx

from ovillo.core.runtime import Runtime
from ovillo.server import PlatformServer
from tests.api.campaigning import add_contacts, approved_template, create_campaign
from tests.api.conversing import open_desk
from tests.api.test_template_pages import person
from tests.api.test_web_pages import csrf_of, signed_in
from tests.factories import offer_template


async def test_campaign_pages_by_role_and_workspace(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    template = await approved_template(desk)
    await approved_template(desk, {**offer_template("order_ready"), "category": "UTILITY"})
    runtime = Runtime.from_settings(platform.settings, clock=platform.clock)
    try:
        await add_contacts(runtime, desk.workspace_id, 3)
    finally:
        await runtime.aclose()
    campaign_id = await create_campaign(
        desk, template, "Spring <script>", audience={"tags_any": ["spring"]}
    )

    admin = await signed_in(platform, await person(platform, desk, "admin"), **{})
    agent = await signed_in(platform, await person(platform, desk, "agent"))
    other_desk = await open_desk(platform, http, emulator_http)
    stranger = await signed_in(platform, await person(platform, other_desk, "admin"))
    try:
        listed = await agent.get("/campaigns")
        assert listed.status_code == 200
        assert "Spring &lt;script&gt;" in listed.text
        assert "<script>" not in listed.text.split("<main", 1)[1]
        assert (await agent.get("/campaigns/new")).status_code == 403
        token = csrf_of(listed.text)
        paused = await agent.post(f"/campaigns/{campaign_id}/cancel", data={"csrf_token": token})
        assert paused.status_code == 403

        assert (await stranger.get(f"/campaigns/{campaign_id}")).status_code == 404
        assert "Spring" not in (await stranger.get("/campaigns")).text

        spanish = await admin.get(f"/campaigns/{campaign_id}", headers={"Accept-Language": "es"})
        assert spanish.status_code == 200
        assert "Embudo" in spanish.text
        assert "Lanzar" in spanish.text
        # The template picker names each category in the page's language.
        new_in_spanish = await admin.get("/campaigns/new", headers={"Accept-Language": "es"})
        assert "order_ready (en_US, utilidad)" in new_in_spanish.text
        assert "spring_offer (en_US, marketing)" in new_in_spanish.text

        form = await admin.get("/campaigns/new")
        assert form.status_code == 200
        token = csrf_of(form.text)
        counted = await admin.post(
            "/campaigns/new/estimate",
            data={
                "csrf_token": token,
                "tags_any": "spring",
                "number_id": str(desk.number["id"]),
                "template_id": template["id"],
                "var_first_name": "there",
            },
            headers={"HX-Request": "true"},
        )
        assert counted.status_code == 200, counted.text
        assert "3 contacts match" in counted.text
        assert "0.08 USD" in counted.text
        bad_filter = await admin.post(
            "/campaigns/new/estimate",
            data={"csrf_token": token, "countries": "Mexico"},
            headers={"HX-Request": "true"},
        )
        assert 'role="alert"' in bad_filter.text

        refused = await admin.post(
            "/campaigns/new",
            data={"csrf_token": token, "name": "No template", "number_id": desk.number["id"]},
        )
        assert refused.status_code == 422
        assert 'id="form-errors"' in refused.text

        cancelled = await admin.post(f"/campaigns/{campaign_id}/cancel", data={"csrf_token": token})
        assert cancelled.status_code == 303
        assert (await desk.get(f"/campaigns/{campaign_id}")).json()["state"] == "cancelled"
        exported = await admin.get(f"/campaigns/{campaign_id}/recipients.csv")
        assert exported.status_code == 200
        assert exported.text.startswith("contact_id,phone,name,country,state")
    finally:
        for client in (admin, agent, stranger):
            await client.aclose()
