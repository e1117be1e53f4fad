"""Message templates on the emulator: management, Meta's refusals, review and webhooks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pywa.types.templates import TemplateCategoryUpdate, TemplateStatusUpdate

from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import CloudAPIError
from ovillo.cloudapi.webhooks import parse_webhook
from ovillo.emulator.server import EmulatorServer
from ovillo.emulator.templates import review_verdict
from tests.api.emulator.conftest import Number
from tests.api.emulator.receiver import Received, WebhookReceiver

API = "/v23.0"
REVIEW_DELAY = 60.0


def draft(
    name: str = "order_update",
    *,
    body: str = "Hello {{1}}, your order {{2}} has shipped today.",
    category: str = "UTILITY",
    language: str = "en_US",
    **extra: Any,
) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "BODY", "text": body}
    if "{{" in body:
        component["example"] = {"body_text": [["Ana", "A1"][: body.count("{{")]]}
    return {
        "name": name,
        "language": language,
        "category": category,
        "components": [component],
        **extra,
    }


async def create(client: httpx.AsyncClient, number: Number, body: dict[str, Any]) -> str:
    response = await client.post(
        f"{API}/{number.waba_id}/message_templates", json=body, headers=number.auth
    )
    assert response.status_code == 200, response.text
    template_id: str = response.json()["id"]
    return template_id


async def review(client: httpx.AsyncClient, template_id: str, status: str, **extra: Any) -> None:
    response = await client.post(
        f"/_emulator/templates/{template_id}/review", json={"status": status, **extra}
    )
    assert response.status_code == 200, response.text


async def advance(client: httpx.AsyncClient, seconds: float) -> None:
    response = await client.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def get(client: httpx.AsyncClient, number: Number, template_id: str) -> dict[str, Any]:
    response = await client.get(
        f"{API}/{template_id}",
        params={"fields": "name,status,category,rejected_reason,previous_category"},
        headers=number.auth,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def template_updates(
    items: list[Received], field: str = "message_template_status_update"
) -> list[dict[str, Any]]:
    return [r.value for r in items if r.field == field]


# --- Create, get, list, delete -------------------------------------------------------------


async def test_create_get_and_delete(control: httpx.AsyncClient, number: Number) -> None:
    response = await control.post(
        f"{API}/{number.waba_id}/message_templates", json=draft(), headers=number.auth
    )
    assert response.status_code == 200
    created = response.json()
    assert created == {"id": created["id"], "status": "PENDING", "category": "UTILITY"}

    one = await control.get(
        f"{API}/{created['id']}", params={"fields": "name,status"}, headers=number.auth
    )
    assert one.json() == {"name": "order_update", "status": "PENDING", "id": created["id"]}
    full = (await control.get(f"{API}/{created['id']}", headers=number.auth)).json()
    assert full["language"] == "en_US"
    assert full["parameter_format"] == "POSITIONAL"
    assert full["components"] == draft()["components"]

    deleted = await control.delete(
        f"{API}/{number.waba_id}/message_templates",
        params={"name": "order_update"},
        headers=number.auth,
    )
    assert deleted.json() == {"success": True}
    gone = await control.get(f"{API}/{created['id']}", headers=number.auth)
    assert gone.status_code == 400
    assert gone.json()["error"]["error_subcode"] == 33
    again = await control.delete(
        f"{API}/{number.waba_id}/message_templates",
        params={"name": "order_update"},
        headers=number.auth,
    )
    assert again.status_code == 400
    assert again.json()["error"]["code"] == 100
    assert again.json()["error"]["error_user_title"] == "Message template not found"


async def test_delete_by_hsm_id_keeps_other_languages(
    control: httpx.AsyncClient, number: Number
) -> None:
    english = await create(control, number, draft())
    spanish = await create(
        control, number, draft(language="es", body="Hola {{1}}, tu pedido {{2}} ya salió hoy.")
    )
    response = await control.delete(
        f"{API}/{number.waba_id}/message_templates",
        params={"name": "order_update", "hsm_id": spanish},
        headers=number.auth,
    )
    assert response.json() == {"success": True}
    listed = (
        await control.get(f"{API}/{number.waba_id}/message_templates", headers=number.auth)
    ).json()
    assert [t["id"] for t in listed["data"]] == [english]


async def test_disabled_template_cannot_be_deleted(
    control: httpx.AsyncClient, number: Number
) -> None:
    template_id = await create(control, number, draft())
    await review(control, template_id, "DISABLED")
    response = await control.delete(
        f"{API}/{number.waba_id}/message_templates",
        params={"name": "order_update"},
        headers=number.auth,
    )
    assert response.status_code == 400
    assert "disabled" in response.json()["error"]["error_user_msg"]


async def test_paging_through_sixty_templates_with_cursors(
    control: httpx.AsyncClient, number: Number
) -> None:
    ids = [await create(control, number, draft(f"notice_{i:02d}")) for i in range(60)]
    seen: list[str] = []
    url: str | None = f"{API}/{number.waba_id}/message_templates?limit=25&fields=name"
    pages: list[dict[str, Any]] = []
    while url is not None:
        page = (await control.get(url, headers=number.auth)).json()
        pages.append(page)
        seen.extend(t["id"] for t in page["data"])
        url = page["paging"].get("next")
    assert seen == ids
    assert [len(p["data"]) for p in pages] == [25, 25, 10]
    assert "previous" not in pages[0]["paging"]
    # Going back from the second page with its `before` cursor gives the first page again.
    back = await control.get(
        f"{API}/{number.waba_id}/message_templates",
        params={"limit": 25, "before": pages[1]["paging"]["cursors"]["before"]},
        headers=number.auth,
    )
    assert [t["id"] for t in back.json()["data"]] == ids[:25]
    assert pages[1]["paging"]["previous"].startswith("http")


async def test_bad_cursor_is_refused(control: httpx.AsyncClient, number: Number) -> None:
    response = await control.get(
        f"{API}/{number.waba_id}/message_templates",
        params={"after": "not-a-cursor"},
        headers=number.auth,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


async def test_list_filters_and_summary(control: httpx.AsyncClient, number: Number) -> None:
    shipped = await create(control, number, draft("order_shipped"))
    await create(control, number, draft("order_cancelled", category="MARKETING"))
    welcome = await create(control, number, draft("welcome", body="Welcome to our shop, friend."))
    await review(control, shipped, "APPROVED")
    await review(control, welcome, "APPROVED")

    async def names(**params: Any) -> list[str]:
        response = await control.get(
            f"{API}/{number.waba_id}/message_templates",
            params={"fields": "name", **params},
            headers=number.auth,
        )
        assert response.status_code == 200, response.text
        return [t["name"] for t in response.json()["data"]]

    assert await names(name="ORDER") == ["order_shipped", "order_cancelled"]
    assert await names(status="approved") == ["order_shipped", "welcome"]
    assert await names(status="PENDING,REJECTED") == ["order_cancelled"]
    assert await names(category="MARKETING") == ["order_cancelled"]
    assert await names(language="es") == []
    assert await names(content="welcome to") == ["welcome"]
    summary = await control.get(
        f"{API}/{number.waba_id}/message_templates",
        params={"summary": "total_count,message_template_count,message_template_limit"},
        headers=number.auth,
    )
    assert summary.json()["summary"] == {
        "total_count": 3,
        "message_template_count": 3,
        "message_template_limit": 250,
    }


async def test_unknown_field_is_refused(control: httpx.AsyncClient, number: Number) -> None:
    template_id = await create(control, number, draft())
    response = await control.get(
        f"{API}/{template_id}", params={"fields": "name,colour"}, headers=number.auth
    )
    assert response.status_code == 400
    assert "colour" in response.json()["error"]["message"]


# --- Meta's refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "subcode", "field"),
    [
        (draft(name="Bad Name"), None, "name"),
        (draft(language="xx_YY"), None, "language"),
        (draft(body="x" * 1100), 2388040, "components[0].text"),
        (
            {**draft(body="{{1}} is your order number today"), "components": [
                {"type": "BODY", "text": "{{1}} is your order number today",
                 "example": {"body_text": [["A"]]}}]},
            2388299,
            "components[0].text",
        ),
        (
            {**draft(), "components": [
                {"type": "BODY", "text": "Hi {{1}} and {{2}} ok",
                 "example": {"body_text": [["A", "B"]]}}]},
            2388293,
            "components[0].text",
        ),
        (
            {**draft(), "components": [{"type": "BODY", "text": "Hello {{1}}, it shipped today."}]},
            None,
            "components[0].example",
        ),
    ],
)  # fmt: skip
async def test_invalid_templates_get_metas_code_and_field(
    control: httpx.AsyncClient,
    number: Number,
    body: dict[str, Any],
    subcode: int | None,
    field: str,
) -> None:
    response = await control.post(
        f"{API}/{number.waba_id}/message_templates", json=body, headers=number.auth
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 100
    assert error.get("error_subcode") == subcode
    assert error["error_user_msg"]
    assert error["error_data"]["details"].startswith(f"{field}:")


async def test_same_name_and_language_is_2388024(
    control: httpx.AsyncClient, number: Number
) -> None:
    await create(control, number, draft())
    response = await control.post(
        f"{API}/{number.waba_id}/message_templates", json=draft(), headers=number.auth
    )
    error = response.json()["error"]
    assert (error["code"], error["error_subcode"]) == (100, 2388024)
    assert error["error_user_title"] == "Content in This Language Already Exists"
    # Another language of the same name is a translation, not a duplicate.
    await create(control, number, draft(language="en_GB"))


async def test_deleted_approved_name_is_blocked_for_30_days(
    control: httpx.AsyncClient, number: Number
) -> None:
    template_id = await create(control, number, draft())
    await review(control, template_id, "APPROVED")
    await control.delete(
        f"{API}/{number.waba_id}/message_templates",
        params={"name": "order_update"},
        headers=number.auth,
    )
    refused = await control.post(
        f"{API}/{number.waba_id}/message_templates", json=draft(), headers=number.auth
    )
    assert refused.json()["error"]["error_subcode"] == 2388023
    await advance(control, 30 * 86_400 + 60)
    await create(control, number, draft())


async def test_template_cap_is_2388019(control: httpx.AsyncClient, number: Number) -> None:
    for start in range(0, 250, 50):
        await asyncio.gather(
            *(create(control, number, draft(f"bulk_{i:03d}")) for i in range(start, start + 50))
        )
    response = await control.post(
        f"{API}/{number.waba_id}/message_templates", json=draft("one_more"), headers=number.auth
    )
    assert response.json()["error"]["error_subcode"] == 2388019


# --- Review and webhooks ---------------------------------------------------------------------


async def test_auto_approval_after_the_review_delay_sends_the_webhook(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    template_id = await create(control, wired_number, draft())
    await advance(control, REVIEW_DELAY - 10)
    assert (await get(control, wired_number, template_id))["status"] == "PENDING"
    await advance(control, 11)
    assert (await get(control, wired_number, template_id))["status"] == "APPROVED"
    items = receiver.wait_for(lambda got: bool(template_updates(got)))
    received = next(r for r in items if r.field == "message_template_status_update")
    value = received.value
    assert value["event"] == "APPROVED"
    assert str(value["message_template_id"]) == template_id
    assert value["message_template_name"] == "order_update"
    assert value["message_template_language"] == "en_US"
    assert value["reason"] == "NONE"
    assert isinstance(received.json["entry"][0]["time"], int)
    assert received.json["entry"][0]["id"] == wired_number.waba_id
    parsed = parse_webhook(received.body)
    assert parsed.entry[0].changes[0].value.event == "APPROVED"  # type: ignore[union-attr]
    # A third-party receiver (pywa) reads it too.
    update = TemplateStatusUpdate.from_update(client=None, update=received.json)  # type: ignore[arg-type]
    assert (update.template_id, update.new_status.value) == (template_id, "APPROVED")


async def test_manual_reject_with_reason(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    template_id = await create(control, wired_number, draft())
    await review(control, template_id, "REJECTED", reason="INCORRECT_CATEGORY")
    template = await get(control, wired_number, template_id)
    assert (template["status"], template["rejected_reason"]) == ("REJECTED", "INCORRECT_CATEGORY")
    items = receiver.wait_for(lambda got: bool(template_updates(got)))
    assert template_updates(items)[0]["event"] == "REJECTED"
    assert template_updates(items)[0]["reason"] == "INCORRECT_CATEGORY"
    # The automatic review that was due does not overrule the manual decision.
    await advance(control, REVIEW_DELAY + 1)
    assert (await get(control, wired_number, template_id))["status"] == "REJECTED"


async def test_review_rejects_scam_and_recategorises_marketing(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    scam = await create(
        control,
        wired_number,
        draft("prize", body="Congratulations {{1}}, you have won the lottery, claim it today."),
    )
    promo = await create(
        control,
        wired_number,
        draft("promo", body="Hi {{1}}, enjoy 20% off everything this weekend only."),
    )
    await advance(control, REVIEW_DELAY + 1)
    assert (await get(control, wired_number, scam))["rejected_reason"] == "SCAM"
    recategorised = await get(control, wired_number, promo)
    assert (recategorised["status"], recategorised["category"]) == ("APPROVED", "MARKETING")
    assert recategorised["previous_category"] == "UTILITY"
    items = receiver.wait_for(lambda got: bool(template_updates(got, "template_category_update")))
    change = next(r for r in items if r.field == "template_category_update")
    assert change.value["new_category"] == "MARKETING"
    pywa_update = TemplateCategoryUpdate.from_update(client=None, update=change.json)  # type: ignore[arg-type]
    assert pywa_update.new_category.value == "MARKETING"


@pytest.mark.parametrize(
    ("category", "body", "status", "reason", "new_category"),
    [
        ("UTILITY", "Your order has shipped.", "APPROVED", "NONE", None),
        ("UTILITY", "Use promo code SAVE10 today.", "APPROVED", "NONE", "MARKETING"),
        ("MARKETING", "Use promo code SAVE10 today.", "APPROVED", "NONE", None),
        ("UTILITY", "Reply with your PIN to unlock.", "REJECTED", "SCAM", None),
    ],
)
def test_review_verdict_table(
    category: str, body: str, status: str, reason: str, new_category: str | None
) -> None:
    verdict = review_verdict(category=category, components=[{"type": "BODY", "text": body}])
    assert (verdict.status, verdict.reason, verdict.category) == (status, reason, new_category)


async def test_no_auto_review_when_disabled() -> None:
    from ovillo.emulator.emulator import Emulator, EmulatorConfig
    from ovillo.emulator.server import serve_in_thread
    from tests.api.emulator.conftest import create_number

    emulator = Emulator(config=EmulatorConfig(seed=1, auto_approve_templates=False))
    with serve_in_thread(emulator) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            number = await create_number(client)
            template_id = await create(client, number, draft())
            await advance(client, 86_400)
            assert (await get(client, number, template_id))["status"] == "PENDING"


# --- Edits -------------------------------------------------------------------------------------


async def edit(client: httpx.AsyncClient, number: Number, template_id: str, **body: Any) -> Any:
    return await client.post(f"{API}/{template_id}", json=body, headers=number.auth)


NEW_COMPONENTS = [
    {
        "type": "BODY",
        "text": "Hi {{1}}, your order {{2}} is on its way now.",
        "example": {"body_text": [["Ana", "A1"]]},
    }
]


async def test_edit_limits_of_an_approved_template(
    control: httpx.AsyncClient, number: Number
) -> None:
    template_id = await create(control, number, draft())
    pending = await edit(control, number, template_id, components=NEW_COMPONENTS)
    assert pending.status_code == 400  # PENDING templates cannot be edited
    await advance(control, REVIEW_DELAY + 1)

    first = await edit(control, number, template_id, components=NEW_COMPONENTS)
    assert first.json() == {"success": True}
    assert (await get(control, number, template_id))["status"] == "PENDING"
    await advance(control, REVIEW_DELAY + 1)
    assert (await get(control, number, template_id))["status"] == "APPROVED"

    second = await edit(control, number, template_id, components=NEW_COMPONENTS)
    assert second.status_code == 400
    assert second.json()["error"]["error_user_title"] == "Edit limit reached"
    category = await edit(control, number, template_id, category="MARKETING")
    assert "category" in category.json()["error"]["error_user_msg"]
    renamed = await edit(control, number, template_id, name="other", components=NEW_COMPONENTS)
    assert renamed.json()["error"]["error_data"]["details"].startswith("name:")

    await advance(control, 86_400)
    third = await edit(control, number, template_id, components=NEW_COMPONENTS)
    assert third.json() == {"success": True}
    full = (await control.get(f"{API}/{template_id}", headers=number.auth)).json()
    assert full["components"] == NEW_COMPONENTS


async def test_ten_edits_in_thirty_days(control: httpx.AsyncClient, number: Number) -> None:
    template_id = await create(control, number, draft())
    await advance(control, REVIEW_DELAY + 1)
    for _ in range(10):
        assert (await edit(control, number, template_id, components=NEW_COMPONENTS)).json() == {
            "success": True
        }
        await advance(control, 86_400 + 1)
    eleventh = await edit(control, number, template_id, components=NEW_COMPONENTS)
    assert "10 times in 30 days" in eleventh.json()["error"]["error_user_msg"]


async def test_rejected_templates_can_be_edited_any_number_of_times(
    control: httpx.AsyncClient, number: Number
) -> None:
    template_id = await create(control, number, draft())
    for _ in range(3):
        await review(control, template_id, "REJECTED", reason="INVALID_FORMAT")
        response = await edit(
            control, number, template_id, components=NEW_COMPONENTS, category="MARKETING"
        )
        assert response.json() == {"success": True}
    assert (await get(control, number, template_id))["category"] == "MARKETING"


async def test_an_edit_is_validated(control: httpx.AsyncClient, number: Number) -> None:
    template_id = await create(control, number, draft())
    await review(control, template_id, "REJECTED")
    response = await edit(
        control, number, template_id, components=[{"type": "BODY", "text": "y" * 2000}]
    )
    assert response.json()["error"]["error_subcode"] == 2388040


# --- The project's own client ----------------------------------------------------------------


async def test_cloud_api_client_manages_templates(
    emulator_server: EmulatorServer, control: httpx.AsyncClient, number: Number
) -> None:
    async with CloudAPIClient(
        access_token=number.access_token, base_url=emulator_server.url, api_version="v23.0"
    ) as client:
        created = await client.create_template(number.waba_id, draft())
        assert (created.status, created.category) == ("PENDING", "UTILITY")
        for i in range(7):
            await client.create_template(number.waba_id, draft(f"extra_{i}"))
        page = await client.list_templates(number.waba_id, limit=5)
        assert len(page.data) == 5
        assert page.paging is not None
        assert page.paging.next
        everything = [t async for t in client.iter_templates(number.waba_id, page_size=3)]
        assert len(everything) == 8
        assert everything[0].name == "order_update"

        await advance(control, REVIEW_DELAY + 1)
        fetched = await client.get_template(created.id)
        assert (fetched.status, fetched.quality_score and fetched.quality_score.score) == (
            "APPROVED",
            "UNKNOWN",
        )
        edited = await client.edit_template(created.id, {"components": NEW_COMPONENTS})
        assert edited.success

        with pytest.raises(CloudAPIError) as refused:
            await client.create_template(number.waba_id, draft("extra_0"))
        assert refused.value.error is not None
        assert refused.value.error.error_subcode == 2388024

        assert (await client.delete_template(number.waba_id, "order_update")).success
        with pytest.raises(CloudAPIError):
            await client.get_template(created.id)
