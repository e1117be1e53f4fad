"""A campaign on a deployment (tests/deployment.py): for the crash test and bench/campaign.py.

An approved template, ``recipients`` contacts written straight into the database, a number
at ``mps`` with no messaging limit, and a draft campaign to all of them; launch it with
``launch``. What the emulator accepted is read from its log (``emulator_messages``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from ovillo.contacts.models import Contact
from ovillo.core.clock import wait_for
from tests.deployment import Deployment, Number, connect_number, customer_wa_id, set_throughput
from tests.factories import auth, contact_row, make_workspace, offer_template

TEMPLATE = offer_template("bench_offer")


@dataclass
class CampaignScene:
    api_key: str
    workspace_id: uuid.UUID
    number: Number
    campaign_id: str
    wa_ids: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.api_key)


async def add_contacts(engine: AsyncEngine, workspace_id: uuid.UUID, count: int) -> list[str]:
    now = datetime.now(UTC)
    wa_ids = [customer_wa_id(index) for index in range(count)]
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    async with sessionmaker() as session:
        for start in range(0, count, 5000):
            await session.execute(
                insert(Contact),
                [
                    contact_row(
                        workspace_id=workspace_id,
                        wa_id=wa_id,
                        now=now,
                        name=f"Customer {start + offset}",
                        tags=["bench"],
                    )
                    for offset, wa_id in enumerate(wa_ids[start : start + 5000])
                ],
            )
        await session.commit()
    return wa_ids


async def set_up_campaign(
    deployment: Deployment, engine: AsyncEngine, *, recipients: int, mps: int
) -> CampaignScene:
    """A number at ``mps`` (no messaging limit), ``recipients`` contacts, an approved
    template and a draft campaign to every contact."""
    workspace_id, api_key = await make_workspace(engine)
    headers = auth(api_key)
    async with (
        httpx.AsyncClient(base_url=deployment.url, timeout=60) as http,
        httpx.AsyncClient(base_url=deployment.emulator_url, timeout=60) as emulator_http,
    ):
        number = await connect_number(
            http, emulator_http, api_key, throughput_mps=mps, tier="TIER_UNLIMITED"
        )
        await set_throughput(async_sessionmaker(engine, expire_on_commit=False), [number])
        created = await http.post(
            "/api/v1/templates", headers=headers, json={"number_id": str(number.id), **TEMPLATE}
        )
        assert created.status_code == 201, created.text
        reviewed = await emulator_http.post(
            f"/_emulator/templates/{created.json()['meta_template_id']}/review",
            json={"status": "APPROVED"},
        )
        assert reviewed.status_code == 200, reviewed.text

        async def approved() -> bool:
            found = await http.get(f"/api/v1/templates/{created.json()['id']}", headers=headers)
            return bool(found.json()["status"] == "APPROVED")

        await wait_for(approved, within=60, interval=0.1, what="template approved")
        wa_ids = await add_contacts(engine, workspace_id, recipients)
        campaign = await http.post(
            "/api/v1/campaigns",
            headers=headers,
            json={
                "name": "Bench",
                "number_id": str(number.id),
                "template_id": created.json()["id"],
                "variables": {"first_name": "{{contact.first_name|there}}"},
                "audience": {"tags_any": ["bench"]},
            },
        )
        assert campaign.status_code == 201, campaign.text
    return CampaignScene(api_key, workspace_id, number, campaign.json()["id"], wa_ids)


async def launch(http: httpx.AsyncClient, scene: CampaignScene) -> None:
    response = await http.post(
        f"/api/v1/campaigns/{scene.campaign_id}/launch", headers=scene.headers
    )
    assert response.status_code == 200, response.text


async def campaign_state(http: httpx.AsyncClient, scene: CampaignScene) -> dict[str, Any]:
    response = await http.get(f"/api/v1/campaigns/{scene.campaign_id}", headers=scene.headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found
