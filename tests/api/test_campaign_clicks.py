"""A campaign whose template has a tracked link: each recipient gets a link of their own, and
the campaign's funnel counts the people who followed it (not clicks, not link previews)."""

from __future__ import annotations

from typing import Any

import pytest

from ovillo.core.runtime import Runtime
from tests.api.campaigning import (
    FINISHED,
    add_contacts,
    all_recipients,
    approved_template,
    create_campaign,
    wait_for_campaign,
)
from tests.api.conversing import Desk
from tests.api.test_templates import BROWSER
from tests.factories import offer_template

pytestmark = pytest.mark.reviewed_by_tests


def with_tracked_button(name: str) -> dict[str, Any]:
    template = offer_template(name)
    template["components"] = [
        *template["components"],
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Shop now",
                    "url": "https://shop.example/spring",
                    "track": True,
                }
            ],
        },
    ]
    return template


async def test_the_funnel_counts_recipients_who_followed_their_link(
    desk: Desk, platform_runtime: Runtime
) -> None:
    template = await approved_template(desk, with_tracked_button("spring_link"))
    await add_contacts(platform_runtime, desk.workspace_id, 3)
    campaign_id = await create_campaign(desk, template, "Links", audience={"tags_any": ["spring"]})
    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    done = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="campaign sent"
    )
    assert done["state"] == "completed", done

    links = []
    for recipient in await all_recipients(desk, campaign_id):
        found = await desk.get("/links", message_id=recipient["message_id"])
        assert found.status_code == 200, found.text
        [link] = found.json()["links"]
        links.append(link)
    assert len({link["code"] for link in links}) == 3

    # The first recipient's link: a preview, then two clicks; the second's: one click.
    first, second = (f"/l/{link['code']}" for link in links[:2])
    await desk.http.get(first, headers={"User-Agent": "WhatsApp/2.24.1 A"})
    for path in (first, first, second):
        clicked = await desk.http.get(path, headers={"User-Agent": BROWSER})
        assert clicked.status_code == 302
    funnel = await desk.get(f"/campaigns/{campaign_id}/funnel")
    assert funnel.status_code == 200, funnel.text
    assert funnel.json()["clicked"] == 2
