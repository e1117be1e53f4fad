"""Templates through the REST API with the real emulator as Meta: author, check, submit,
review, webhooks, sync, send outside the window, tracked links."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from ovillo.core.clock import wait_for
from ovillo.templates.models import PendingTemplateUpdate, Template
from tests.api.conversing import Desk
from tests.api.ingesting import Ingestion, envelope, post_signed

pytestmark = pytest.mark.reviewed_by_tests

GRAPH = "/v23.0"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)
BROWSER = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36"


def every_component(
    media_id: str | None = None, *, name: str = "spring_sale", handle: str = "4::aW1hZ2U="
) -> dict[str, Any]:
    return {
        "name": name,
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "utm": {"source": "whatsapp", "medium": "message", "campaign": "spring"},
        "header_media_id": media_id,
        "components": [
            {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [handle]}},
            {
                "type": "BODY",
                "text": "Hi {{first_name}}, our spring sale starts today in {{city}}. "
                "See the catalogue here: {{catalogue}} and enjoy!",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "first_name", "example": "Ana"},
                        {"param_name": "city", "example": "Lima"},
                        {"param_name": "catalogue", "example": "https://shop.example/c"},
                    ]
                },
            },
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "QUICK_REPLY", "text": "Not now"},
                    {"type": "URL", "text": "Shop now", "url": "https://shop.example/spring",
                     "track": True},
                    {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550100"},
                    {"type": "COPY_CODE", "example": "SPRING10"},
                ],
            },
        ],
    }  # fmt: skip


def order_update(name: str = "order_update", language: str = "en_US") -> dict[str, Any]:
    return {
        "name": name,
        "language": language,
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Hello {{1}}, your order {{2}} has shipped today.",
                "example": {"body_text": [["Ana", "A1"]]},
            }
        ],
    }


def short_link_base(desk: Desk) -> str:
    return str(desk.http.base_url).rstrip("/") + "/l/"


async def create(desk: Desk, body: dict[str, Any]) -> httpx.Response:
    return await desk.post("/templates", {"number_id": desk.number["id"], **body})


async def review(desk: Desk, meta_id: str, status: str, reason: str | None = None) -> None:
    response = await desk.emulator_http.post(
        f"/_emulator/templates/{meta_id}/review", json={"status": status, "reason": reason}
    )
    assert response.status_code == 200, response.text


async def wait_for_template(desk: Desk, template_id: str, status: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    async def reached() -> bool:
        response = await desk.get(f"/templates/{template_id}")
        assert response.status_code == 200, response.text
        found.append(response.json())
        return bool(found[-1]["status"] == status)

    await wait_for(reached, within=20, interval=0.05, what=f"template {status}")
    return found[-1]


async def emulator_templates(desk: Desk) -> list[dict[str, Any]]:
    response = await desk.emulator_http.get(
        "/_emulator/templates", params={"waba_id": desk.number["waba_id"]}
    )
    assert response.status_code == 200, response.text
    templates: list[dict[str, Any]] = response.json()
    return templates


async def upload_png(desk: Desk) -> dict[str, Any]:
    uploaded = await desk.http.post(
        "/api/v1/media",
        headers=desk.headers,
        data={"number_id": desk.number["id"]},
        files={"file": ("header.png", PNG, "image/png")},
    )
    assert uploaded.status_code == 201, uploaded.text
    media: dict[str, Any] = uploaded.json()
    return media


async def upload_header_sample(
    desk: Desk, name: str = "header.png", data: bytes = PNG, mime: str = "image/png"
) -> httpx.Response:
    return await desk.http.post(
        "/api/v1/templates/header-samples",
        headers=desk.headers,
        data={"number_id": desk.number["id"]},
        files={"file": (name, data, mime)},
    )


async def approved(desk: Desk, body: dict[str, Any]) -> dict[str, Any]:
    created = await create(desk, body)
    assert created.status_code == 201, created.text
    await review(desk, created.json()["meta_template_id"], "APPROVED")
    return await wait_for_template(desk, created.json()["id"], "APPROVED")


# --- Authoring and review -------------------------------------------------------------------


async def test_a_template_with_every_component_is_submitted_and_approved(desk: Desk) -> None:
    media = await upload_png(desk)

    created = await create(desk, every_component(media["meta_media_id"]))

    assert created.status_code == 201, created.text
    template = created.json()
    assert template["status"] == "PENDING"
    assert template["badge"] == {"label": "In review", "tone": "pending"}
    assert template["tracked_buttons"] == {"1": "https://shop.example/spring"}
    [at_meta] = await emulator_templates(desk)
    assert at_meta["id"] == template["meta_template_id"]
    assert at_meta["parameter_format"] == "NAMED"
    # Meta reviews our short link; the destination stays ours.
    assert at_meta["components"][3]["buttons"][1]["url"] == short_link_base(desk) + "{{1}}"

    await review(desk, template["meta_template_id"], "APPROVED")
    approved_template = await wait_for_template(desk, template["id"], "APPROVED")

    assert approved_template["badge"]["tone"] == "success"
    assert [(e["kind"], e["value"], e["source"]) for e in approved_template["history"]] == [
        ("status", "PENDING", "submit"),
        ("status", "APPROVED", "webhook"),
    ]
    listed = (await desk.get("/templates", status="APPROVED")).json()
    assert [t["name"] for t in listed["data"]] == ["spring_sale"]
    assert listed["counts"] == {"APPROVED": 1}


async def test_a_rejected_template_shows_the_reason_and_cannot_be_sent(desk: Desk) -> None:
    created = await create(desk, order_update("prize_notice"))
    assert created.status_code == 201, created.text

    await review(desk, created.json()["meta_template_id"], "REJECTED", "SCAM")
    rejected = await wait_for_template(desk, created.json()["id"], "REJECTED")

    assert rejected["status_reason"] == "SCAM"
    assert rejected["badge"] == {"label": "Rejected", "tone": "danger"}
    answer = await desk.send(
        {"to": "15550030001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "prize_notice", "language": "en_US",
                      "variables": {"1": "Ana", "2": "A1"}}}
    )  # fmt: skip
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "template_not_sendable"
    assert problem["template_status"] == "REJECTED"
    assert problem["reason"] == "SCAM"
    assert "Meta rejected it" in problem["detail"]
    assert await desk.emulator_sent() == []


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        (
            {"components": [{"type": "BODY", "text": "Hello {{1}}, order {{3}} shipped today.",
                             "example": {"body_text": [["Ana", "A1"]]}}]},
            "components[0].text",
            "variables_not_sequential",
        ),
        (
            {"components": [{"type": "BODY", "text": "Long " * 300}]},
            "components[0].text",
            "body_text_too_long",
        ),
        (
            {"components": [
                {"type": "BODY", "text": "Pick one of our shops below."},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": f"Shop {i}", "url": f"https://s{i}.example"}
                    for i in range(3)
                ]},
            ]},
            "components[1].buttons",
            "button_type_too_many",
        ),
    ],
    ids=["bad-variable", "too-long", "button-count"],
)  # fmt: skip
async def test_a_bad_template_is_refused_with_the_field_named_before_meta_sees_it(
    desk: Desk, change: dict[str, Any], field: str, code: str
) -> None:
    answer = await create(desk, {**order_update(), **change})

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "template_invalid"
    assert (field, code) in [(v["field"], v["code"]) for v in problem["violations"]]
    assert field in problem["detail"]
    assert await emulator_templates(desk) == []
    assert (await desk.get("/templates")).json()["data"] == []


async def test_a_name_is_taken_once_per_language_and_duplicates_to_another(desk: Desk) -> None:
    original = await approved(desk, order_update())

    again = await create(desk, order_update())
    spanish = await desk.post(
        f"/templates/{original['id']}/duplicate",
        {"language": "es", "components": [
            {"type": "BODY", "text": "Hola {{1}}, tu pedido {{2}} salió hoy mismo.",
             "example": {"body_text": [["Ana", "A1"]]}}
        ]},
    )  # fmt: skip

    assert again.status_code == 409, again.text
    assert again.json()["code"] == "template_already_exists"
    assert spanish.status_code == 201, spanish.text
    assert (spanish.json()["name"], spanish.json()["language"]) == ("order_update", "es")
    assert spanish.json()["status"] == "PENDING"
    assert {(t["name"], t["language"]) for t in await emulator_templates(desk)} == {
        ("order_update", "en_US"),
        ("order_update", "es"),
    }


async def test_the_list_filters_and_a_delete_reaches_meta(desk: Desk) -> None:
    await approved(desk, order_update())
    pending = await create(desk, {**order_update("shipping_delay"), "category": "MARKETING"})
    assert pending.status_code == 201, pending.text

    by_category = (await desk.get("/templates", category="marketing")).json()
    by_name = (await desk.get("/templates", name="DELAY", number_id=desk.number["id"])).json()
    by_status = (await desk.get("/templates", status="pending,rejected")).json()
    deleted = await desk.http.delete(
        f"/api/v1/templates/{pending.json()['id']}", headers=desk.headers
    )
    gone = await desk.get(f"/templates/{pending.json()['id']}")

    assert [t["name"] for t in by_category["data"]] == ["shipping_delay"]
    assert by_category["counts"] == {"PENDING": 1}
    assert by_status["counts"] == {"APPROVED": 1, "PENDING": 1}
    assert [t["name"] for t in by_status["data"]] == ["shipping_delay"]
    assert [t["name"] for t in by_name["data"]] == ["shipping_delay"]
    assert deleted.status_code == 204, deleted.text
    assert gone.status_code == 404
    assert gone.json()["code"] == "template_not_found"
    assert [t["name"] for t in await emulator_templates(desk)] == ["order_update"]


async def test_deleted_templates_free_their_place_in_the_wabas_quota(
    desk: Desk, ingestion: Ingestion
) -> None:
    channel_id = uuid.UUID(desk.number["id"])
    now = ingestion.now()
    async with ingestion.session() as session:
        session.add_all(
            Template(
                workspace_id=desk.workspace_id,
                channel_id=channel_id,
                waba_id=desk.number["waba_id"],
                name=f"old_{n:03}",
                language="en_US",
                category="UTILITY",
                parameter_format="POSITIONAL",
                components=[],
                status="DELETED",
                created_at=now,
                updated_at=now,
                status_changed_at=now,
            )
            for n in range(250)
        )
        await session.commit()

    fits = await create(desk, order_update())
    async with ingestion.session() as session:
        for template in await session.scalars(select(Template).where(Template.name < "old_249")):
            template.status = "APPROVED"
        await session.commit()
    full = await create(desk, order_update("one_too_many"))

    assert fits.status_code == 201, fits.text
    assert full.status_code == 422, full.text
    assert [v["code"] for v in full.json()["violations"]] == ["template_quota_reached"]


async def test_an_approval_that_outruns_the_templates_row_is_applied(
    desk: Desk, ingestion: Ingestion
) -> None:
    graph_auth = {"Authorization": f"Bearer {desk.number['access_token']}"}
    first = await desk.emulator_http.post(
        f"{GRAPH}/{desk.number['waba_id']}/message_templates",
        headers=graph_auth,
        json=order_update("made_first"),
    )
    assert first.status_code == 200, first.text
    # The emulator numbers its ids in order: the next template made there gets this one.
    next_id = str(int(first.json()["id"]) + 1)
    early = envelope(
        desk.number["waba_id"], "message_template_status_update",
        {"event": "APPROVED", "message_template_id": int(next_id),
         "message_template_name": "order_update", "message_template_language": "en_US",
         "reason": "NONE"},
    )  # fmt: skip
    posted = await post_signed(desk.http, early, secret=desk.number["app_secret"])
    assert posted.status_code == 200, posted.text

    async def parked() -> bool:
        return await ingestion.count(PendingTemplateUpdate) == 1

    await ingestion.settle(parked, what="the early approval parked")
    created = await create(desk, order_update())

    assert created.status_code == 201, created.text
    template = created.json()
    assert template["meta_template_id"] == next_id
    assert template["status"] == "APPROVED"
    history = (await desk.get(f"/templates/{template['id']}")).json()["history"]
    assert [(e["value"], e["source"]) for e in history] == [
        ("PENDING", "submit"),
        ("APPROVED", "webhook"),
    ]
    assert await ingestion.count(PendingTemplateUpdate) == 0


async def test_a_parked_approval_the_create_missed_is_swept_in(
    desk: Desk, ingestion: Ingestion
) -> None:
    created = await create(desk, order_update())
    assert created.status_code == 201, created.text
    template = created.json()
    # As if the webhook's transaction and the create's each looked before the other committed.
    async with ingestion.session() as session:
        session.add(
            PendingTemplateUpdate(
                waba_id=desk.number["waba_id"], meta_template_id=template["meta_template_id"],
                field="message_template_status_update",
                value={"event": "APPROVED", "message_template_id": template["meta_template_id"],
                       "message_template_name": "order_update",
                       "message_template_language": "en_US", "reason": "NONE"},
                received_at=ingestion.now(),
            )
        )  # fmt: skip
        await session.commit()

    swept = await wait_for_template(desk, template["id"], "APPROVED")

    assert [e["source"] for e in swept["history"]] == ["submit", "webhook"]
    assert await ingestion.count(PendingTemplateUpdate) == 0


async def test_sync_picks_up_what_changed_on_metas_side(desk: Desk) -> None:
    ours = await approved(desk, order_update())
    graph_auth = {"Authorization": f"Bearer {desk.number['access_token']}"}
    made_at_meta = await desk.emulator_http.post(
        f"{GRAPH}/{desk.number['waba_id']}/message_templates",
        headers=graph_auth,
        json=order_update("made_in_business_manager"),
    )
    assert made_at_meta.status_code == 200, made_at_meta.text
    deleted = await desk.emulator_http.delete(
        f"{GRAPH}/{desk.number['waba_id']}/message_templates",
        headers=graph_auth,
        params={"name": "order_update", "hsm_id": ours["meta_template_id"]},
    )
    assert deleted.status_code == 200, deleted.text

    synced = await desk.post(f"/templates/sync?number_id={desk.number['id']}")

    assert synced.status_code == 200, synced.text
    result = synced.json()
    assert (result["created"], result["deleted"]) == (1, 1)
    by_name = {t["name"]: t for t in result["data"]}
    assert by_name["made_in_business_manager"]["status"] == "PENDING"
    assert by_name["made_in_business_manager"]["meta_template_id"] == made_at_meta.json()["id"]
    assert by_name["order_update"]["status"] == "DELETED"
    history = (await desk.get(f"/templates/{ours['id']}")).json()["history"]
    assert [(e["value"], e["source"]) for e in history][-1] == ("DELETED", "sync")


async def test_quality_and_category_webhooks_are_kept_in_the_history(desk: Desk) -> None:
    template = await approved(desk, order_update())
    about = {
        "message_template_id": int(template["meta_template_id"]),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
    }
    quality = envelope(
        desk.number["waba_id"], "message_template_quality_update",
        {**about, "previous_quality_score": "UNKNOWN", "new_quality_score": "YELLOW"},
    )  # fmt: skip
    category = envelope(
        desk.number["waba_id"], "template_category_update",
        {**about, "previous_category": "UTILITY", "new_category": "MARKETING"},
    )  # fmt: skip
    for payload in (quality, category):
        posted = await post_signed(desk.http, payload, secret=desk.number["app_secret"])
        assert posted.status_code == 200, posted.text

    async def recategorised() -> bool:
        found = (await desk.get(f"/templates/{template['id']}")).json()
        return bool(found["category"] == "MARKETING" and found["quality_score"] == "YELLOW")

    await wait_for(recategorised, within=20, interval=0.05, what="quality and category applied")
    changed = (await desk.get(f"/templates/{template['id']}")).json()
    assert changed["previous_category"] == "UTILITY"
    assert [(e["kind"], e["previous"], e["value"]) for e in changed["history"][2:]] == [
        ("quality", None, "YELLOW"),
        ("category", "UTILITY", "MARKETING"),
    ]


async def test_a_flagged_template_still_sends_and_a_reinstated_one_is_approved(
    desk: Desk,
) -> None:
    template = await approved(desk, order_update())

    async def status_event(event: str) -> None:
        payload = envelope(
            desk.number["waba_id"],
            "message_template_status_update",
            {
                "event": event,
                "message_template_id": int(template["meta_template_id"]),
                "message_template_name": "order_update",
                "message_template_language": "en_US",
                "reason": "NONE",
            },
        )
        posted = await post_signed(desk.http, payload, secret=desk.number["app_secret"])
        assert posted.status_code == 200, posted.text

    await status_event("FLAGGED")
    await wait_for_template(desk, template["id"], "FLAGGED")
    answer = await desk.send(
        {"to": "15550034001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "order_update", "language": "en_US",
                      "variables": {"1": "Ana", "2": "A-1"}}}
    )  # fmt: skip
    await status_event("PAUSED")
    await wait_for_template(desk, template["id"], "PAUSED")
    await status_event("REINSTATED")
    reinstated = await wait_for_template(desk, template["id"], "APPROVED")

    assert answer.status_code == 202, answer.text
    assert reinstated["status_detail"] == "REINSTATED"
    assert [e["value"] for e in reinstated["history"]] == [
        "PENDING",
        "APPROVED",
        "FLAGGED",
        "PAUSED",
        "APPROVED",
    ]


async def test_the_worker_syncs_templates_made_at_meta_on_its_own(desk: Desk) -> None:
    graph_auth = {"Authorization": f"Bearer {desk.number['access_token']}"}
    made_at_meta = await desk.emulator_http.post(
        f"{GRAPH}/{desk.number['waba_id']}/message_templates",
        headers=graph_auth,
        json=order_update("made_elsewhere"),
    )
    assert made_at_meta.status_code == 200, made_at_meta.text
    assert (await desk.get("/templates")).json()["data"] == []

    await desk.advance(16 * 60)

    async def synced() -> bool:
        names = [t["name"] for t in (await desk.get("/templates")).json()["data"]]
        return names == ["made_elsewhere"]

    await wait_for(synced, within=30, interval=0.1, what="the periodic template sync")


async def test_a_paused_template_is_refused_with_metas_reason(desk: Desk) -> None:
    template = await approved(desk, order_update())

    await review(desk, template["meta_template_id"], "PAUSED", "LOW_QUALITY")
    paused = await wait_for_template(desk, template["id"], "PAUSED")
    answer = await desk.send(
        {"to": "15550031001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "order_update", "language": {"code": "en_US"},
                      "variables": {"1": "Ana", "2": "A1"}}}
    )  # fmt: skip

    assert paused["status_detail"] == "PAUSED Paused through the emulator's control API."
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "template_not_sendable"
    assert "paused" in answer.json()["detail"]


# --- Sending ------------------------------------------------------------------------------


async def test_a_header_sample_meta_cannot_review_is_refused(desk: Desk) -> None:
    text = await upload_header_sample(desk, "notes.txt", b"not a picture", "text/plain")
    # WhatsApp sends WebP stickers, but a template's header sample is JPEG, PNG, MP4 or PDF.
    webp = await upload_header_sample(
        desk, "sticker.webp", b"RIFF\x1a\x00\x00\x00WEBPVP8 " + b"x" * 18, "image/webp"
    )

    assert text.status_code == 422, text.text
    assert webp.status_code == 422, webp.text
    assert webp.json()["code"] == "template_refused"
    assert "file_type" in webp.json()["detail"]


async def test_variables_by_name_reach_a_customer_whose_window_is_closed(desk: Desk) -> None:
    uploaded = await upload_header_sample(desk)
    assert uploaded.status_code == 201, uploaded.text
    sample = uploaded.json()
    assert sample["header_handle"].startswith("4::")
    template = await approved(
        desk, every_component(sample["header_media_id"], handle=sample["header_handle"])
    )
    [at_meta] = await emulator_templates(desk)
    assert at_meta["components"][0]["example"]["header_handle"] == [sample["header_handle"]]
    contact = await desk.post(
        "/contacts", {"phone": "+1 555 004 0001", "name": "Ana López", "attributes": {}}
    )
    assert contact.status_code == 201, contact.text
    send = {
        "contact_id": contact.json()["id"],
        "number_id": desk.number["id"],
        "type": "template",
        "template": {
            "name": "spring_sale",
            "language": "en_US",
            "track_links": True,
            "variables": {
                "first_name": "{{contact.first_name|there}}",
                "city": "{{contact.city|your city}}",
                "catalogue": "https://shop.example/catalogue?lang=en",
                "button.3": "SPRING10",
            },
        },
    }

    first = await desk.send(send)
    second = await desk.send(send)

    assert first.status_code == 202, first.text
    queued = first.json()
    assert queued["window"]["open"] is False
    assert queued["warnings"] == []
    assert queued["template"] == {"name": "spring_sale", "language": "en_US",
                                  "category": "MARKETING"}  # fmt: skip
    delivered = await desk.wait_for_status(queued["id"], "delivered", "read")
    [sent] = [m for m in await desk.emulator_sent() if m["id"] == delivered["wamid"]]
    components = sent["payload"]["template"]["components"]
    header, body, url_button, code_button = components
    # The media header was uploaded once and is reused by every send.
    image = {"id": sample["header_media_id"]}
    assert header == {"type": "header", "parameters": [{"type": "image", "image": image}]}
    assert [p["text"] for p in body["parameters"][:2]] == ["Ana", "your city"]
    assert body["parameters"][2]["text"].startswith(short_link_base(desk))
    assert url_button["index"] == "1"
    assert code_button["parameters"] == [{"type": "coupon_code", "coupon_code": "SPRING10"}]
    assert second.status_code == 202, second.text
    other = (await desk.get("/links", message_id=second.json()["id"])).json()["links"]
    assert len(other) == 2
    mine = (await desk.get("/links", message_id=queued["id"])).json()["links"]
    assert {link["code"] for link in mine}.isdisjoint({link["code"] for link in other})
    assert (await desk.get(f"/templates/{template['id']}/clicks")).json()["clicks"] == 0


async def test_a_header_media_is_uploaded_again_before_metas_30_days_end(desk: Desk) -> None:
    uploaded = await upload_header_sample(desk)
    assert uploaded.status_code == 201, uploaded.text
    sample = uploaded.json()
    template = await approved(desk, {**order_update(), "header_media_id": sample["header_media_id"],
        "components": [
            {"type": "HEADER", "format": "IMAGE",
             "example": {"header_handle": [sample["header_handle"]]}},
            *order_update()["components"],
        ]})  # fmt: skip
    await desk.advance(29 * 86_400 + 60)
    found: list[dict[str, Any]] = []

    async def refreshed() -> bool:
        found.append((await desk.get(f"/templates/{template['id']}")).json())
        return bool(found[-1]["header_media_id"] != sample["header_media_id"])

    await wait_for(refreshed, within=30, interval=0.1, what="the header media uploaded again")
    answer = await desk.send(
        {"to": "15550036001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "order_update", "language": "en_US",
                      "variables": {"1": "Ana", "2": "A-1"}}}
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    header = (await wait_sent(desk, answer.json()["id"]))[0]
    assert header["parameters"] == [
        {"type": "image", "image": {"id": found[-1]["header_media_id"]}}
    ]


async def test_a_tracked_link_counts_people_not_bots_and_lands_in_the_funnel(desk: Desk) -> None:
    await approved(desk, every_component())
    answer = await desk.send(
        {"to": "15550032001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "spring_sale", "language": "en_US",
                      "header_media": {"link": "https://cdn.example/spring.png"},
                      "variables": {"first_name": "Ana", "city": "Lima",
                                    "catalogue": "https://shop.example/c", "button.3": "S10"}}}
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    message_id = answer.json()["id"]
    [link] = (await desk.get("/links", message_id=message_id)).json()["links"]
    url_button = next(c for c in await wait_sent(desk, message_id) if c["type"] == "button")
    assert url_button["parameters"] == [{"type": "text", "text": link["code"]}]
    short = f"/l/{link['code']}"

    preview = await desk.http.get(short, headers={"User-Agent": "WhatsApp/2.24.1 A"})
    crawler = await desk.http.get(short, headers={"User-Agent": "facebookexternalhit/1.1"})
    probe = await desk.http.head(short)
    click = await desk.http.get(short, headers={"User-Agent": BROWSER})
    again = await desk.http.get(short, headers={"User-Agent": BROWSER})

    for response in (preview, crawler, probe, click, again):
        assert response.status_code == 302
        assert response.headers["location"] == link["url"]
    landing = urlsplit(click.headers["location"])
    assert (landing.netloc, landing.path) == ("shop.example", "/spring")
    assert parse_qs(landing.query) == {
        "utm_source": ["whatsapp"], "utm_medium": ["message"], "utm_campaign": ["spring"],
    }  # fmt: skip
    stats = (await desk.get("/links", message_id=message_id)).json()
    assert (stats["clicks"], stats["unique_contacts"]) == (2, 1)
    assert stats["links"][0]["clicks"] == 2
    template_id = link["template_id"]
    assert (await desk.get(f"/templates/{template_id}/clicks")).json()["clicks"] == 2
    unknown = await desk.http.get("/l/notacodeofours12345", headers={"User-Agent": BROWSER})
    assert unknown.status_code == 404
    assert "location" not in unknown.headers

    # The template's funnel: its message clicked once, then read and answered.
    clicked = (await desk.get(f"/templates/{template_id}")).json()["funnel"]
    assert (clicked["clicked"], clicked["replied"]) == (1, 0)
    await desk.wait_for_status(message_id, "read")
    await desk.customer_writes("15550032001", "Is it on in Lima too?")
    funnels: list[dict[str, Any]] = []

    async def answered() -> bool:
        funnels.append((await desk.get(f"/templates/{template_id}")).json()["funnel"])
        return bool(funnels[-1]["replied"] == 1)

    await wait_for(answered, within=20, interval=0.05, what="the reply counted")
    assert funnels[-1] == {"sent": 1, "delivered": 1, "read": 1, "clicked": 1, "replied": 1}


async def test_an_authentication_code_fills_the_body_and_the_autofill_button(desk: Desk) -> None:
    one_tap = {
        "name": "login_code",
        "language": "en_US",
        "category": "AUTHENTICATION",
        "components": [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {"type": "BUTTONS", "buttons": [
                {"type": "OTP", "otp_type": "ONE_TAP", "text": "Copy code",
                 "autofill_text": "Autofill", "supported_apps": [
                     {"package_name": "com.example.shop", "signature_hash": "K8a/AINcGX7"}]},
            ]},
        ],
    }  # fmt: skip
    await approved(desk, one_tap)
    without_code = await desk.send(
        {"to": "15550035001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "login_code", "language": "en_US", "variables": {}}}
    )  # fmt: skip
    answer = await desk.send(
        {"to": "15550035001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "login_code", "language": "en_US",
                      "variables": {"code": "482913"}}}
    )  # fmt: skip

    assert without_code.status_code == 422, without_code.text
    assert [v["field"] for v in without_code.json()["violations"]] == ["template.variables.code"]
    assert answer.status_code == 202, answer.text
    body, button = await wait_sent(desk, answer.json()["id"])
    assert body == {"type": "body", "parameters": [{"type": "text", "text": "482913"}]}
    assert button == {"type": "button", "sub_type": "url", "index": "0",
                      "parameters": [{"type": "text", "text": "482913"}]}  # fmt: skip


async def test_values_that_do_not_fit_the_template_are_refused_naming_each(desk: Desk) -> None:
    await approved(desk, order_update())

    answer = await desk.send(
        {"to": "15550033001", "number_id": desk.number["id"], "type": "template",
         "template": {"name": "order_update", "language": "en_US",
                      "variables": {"1": "{{contact.first_name}}"}}}
    )  # fmt: skip

    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "template_parameters_invalid"
    assert [v["field"] for v in problem["violations"]] == [
        "template.variables.1",
        "template.variables.2",
    ]
    assert await desk.emulator_sent() == []


async def wait_sent(desk: Desk, message_id: str) -> list[dict[str, Any]]:
    message = await desk.wait_for_status(message_id, "accepted", "sent", "delivered", "read")
    [sent] = [m for m in await desk.emulator_sent() if m["id"] == message["wamid"]]
    components: list[dict[str, Any]] = sent["payload"]["template"]["components"]
    return components
