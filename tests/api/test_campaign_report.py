"""A campaign's estimate before launch, and after it its funnel, cost, hourly counts and
recipients' CSV, against the real emulator."""

from __future__ import annotations

import csv
import io

import pytest

from ovillo.core.clock import wait_for
from ovillo.core.runtime import Runtime
from tests.api.campaigning import FINISHED, add_contacts, approved_template, wait_for_campaign
from tests.api.conversing import Desk

pytestmark = pytest.mark.reviewed_by_tests


async def test_estimate_then_funnel_cost_and_export(desk: Desk, platform_runtime: Runtime) -> None:
    template = await approved_template(desk)
    wa_ids = await add_contacts(platform_runtime, desk.workspace_id, 12)
    body = {
        "name": "Spring",
        "number_id": desk.number["id"],
        "template_id": template["id"],
        "variables": {"first_name": "{{contact.first_name|there}}"},
        "audience": {"tags_any": ["spring"]},
        "send_window": {"start": "09:00", "end": "09:01"},
    }
    estimated = await desk.post("/campaigns/estimate", body)
    assert estimated.status_code == 200, estimated.text
    before = estimated.json()
    assert before["recipients"] == 12
    assert before["category"] == "MARKETING"
    assert before["by_country"] == [
        {
            "country": "US",
            "market": "North America",
            "recipients": 12,
            "unit_price": "0.0250",
            "cost": "0.3000",
        }
    ]
    assert before["cost"] == "0.3000"
    assert before["tier_days"] == 1
    assert before["warnings"] == []
    refused = await desk.post("/campaigns/estimate", {**body, "audience": {"countries": ["x"]}})
    assert refused.status_code == 422, refused.text

    del body["send_window"]
    created = await desk.post("/campaigns", body)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    stored = await desk.get(f"/campaigns/{campaign_id}/estimate")
    assert stored.status_code == 200, stored.text
    assert stored.json()["recipients"] == 12
    assert (
        await desk.get("/campaigns/00000000-0000-7000-8000-000000000000/estimate")
    ).status_code == 404

    assert (await desk.post(f"/campaigns/{campaign_id}/launch")).status_code == 200
    done = await wait_for_campaign(
        desk, campaign_id, until=lambda c: c["state"] in FINISHED, what="campaign finished"
    )
    assert done["state"] == "completed", done

    # One recipient answers, another opts out by reply.
    await desk.customer_writes(wa_ids[0], "Me interesa")
    await desk.customer_writes(wa_ids[1], "STOP")

    seen: list[dict[str, object]] = []

    async def settled() -> bool:
        await desk.advance(5)  # receipts come due on the shared clock
        response = await desk.get(f"/campaigns/{campaign_id}/funnel")
        assert response.status_code == 200, response.text
        seen.append(response.json())
        funnel = seen[-1]
        counts = funnel["counts"]
        assert isinstance(counts, dict)
        return bool(
            counts["delivered"] == 12 and funnel["replied"] == 2 and funnel["opted_out"] == 1
        )

    await wait_for(settled, within=60, interval=0.2, what="funnel settled")
    funnel = seen[-1]
    assert funnel["counts"]["targeted"] == 12  # type: ignore[index]
    assert funnel["counts"]["sent"] == 12  # type: ignore[index]
    assert funnel["clicked"] == 0
    assert funnel["failures"] == []
    assert funnel["charged_messages"] == 12
    assert funnel["cost"] == "0.3000"
    hours = funnel["hours"]
    assert isinstance(hours, list)
    assert sum(hour["sent"] for hour in hours) == 12

    exported = await desk.http.get(
        f"/api/v1/campaigns/{campaign_id}/recipients.csv", headers=desk.headers
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    disposition = f'attachment; filename="campaign-{campaign_id}.csv"'
    assert exported.headers["content-disposition"] == disposition
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 12
    assert {row["phone"] for row in rows} == {f"+{wa_id}" for wa_id in wa_ids}
    assert {row["state"] for row in rows} == {"sent"}
    assert sorted(row["replied"] for row in rows) == [""] * 10 + ["yes", "yes"]
    other = await desk.http.get(
        f"/api/v1/campaigns/{campaign_id}/recipients.csv",
        headers={"Authorization": "Bearer ovl_wrong"},
    )
    assert other.status_code == 401
