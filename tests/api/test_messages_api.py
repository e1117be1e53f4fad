"""Sending through POST /messages with the emulator as Meta: every kind of message reaches
it and its status reaches `read`; bad content, bad recipients and the closed window are
answered at once; media are uploaded, sent by id and served back."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ovillo.cloudapi.errors import ERROR_SPECS
from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.factories import auth, make_workspace

GRAPH = "/v23.0"
# The smallest PNG there is: a 1x1 transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001"
    "0d0a2db40000000049454e44ae426082"
)


async def _approved_template(desk: Desk, name: str) -> None:
    """A template on the number's WABA, approved, through the emulator's Graph API."""
    graph_auth = {"Authorization": f"Bearer {desk.number['access_token']}"}
    created = await desk.emulator_http.post(
        f"{GRAPH}/{desk.number['waba_id']}/message_templates",
        headers=graph_auth,
        json={
            "name": name,
            "language": "en_US",
            "category": "UTILITY",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hello {{1}}, your order {{2}} has shipped today.",
                    "example": {"body_text": [["Ana", "A1"]]},
                }
            ],
        },
    )
    assert created.status_code == 200, created.text
    reviewed = await desk.emulator_http.post(
        f"/_emulator/templates/{created.json()['id']}/review", json={"status": "APPROVED"}
    )
    assert reviewed.status_code == 200, reviewed.text


async def _sent_payload(desk: Desk, message: dict[str, Any]) -> dict[str, Any]:
    [sent] = [m for m in await desk.emulator_sent() if m["id"] == message["wamid"]]
    assert sent["biz_opaque_callback_data"] == message["id"]
    payload: dict[str, Any] = sent["payload"]
    return payload


async def test_a_text_reaches_the_customer_and_is_read(desk: Desk) -> None:
    await desk.writes_and_waits("15550020001", "is it in stock?")

    answer = await desk.send(
        {
            "to": "+1 (555) 002-0001",
            "number_id": desk.number["id"],
            "type": "text",
            "text": {"body": "Yes, 3 left.", "preview_url": False},
        }
    )

    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert queued["status"] == "queued"
    assert queued["direction"] == "out"
    assert queued["author"]["type"] == "api"
    assert queued["window"]["open"] is True
    assert queued["warnings"] == []
    conversation = await desk.conversation_with("15550020001")
    assert conversation is not None
    assert queued["conversation_id"] == conversation["id"]
    read = await desk.wait_for_status(queued["id"], "read")
    assert read["wamid"].startswith("wamid.")
    for moment in ("queued_at", "accepted_at", "sent_at", "delivered_at", "read_at"):
        assert read[moment] is not None, moment
    assert read["error"] is None
    assert read["pricing"]["type"] == "free_customer_service"
    payload = await _sent_payload(desk, read)
    assert payload["to"] == "15550020001"
    assert payload["text"] == {"body": "Yes, 3 left.", "preview_url": False}


async def test_an_uploaded_image_is_sent_by_its_media_id(desk: Desk) -> None:
    conversation = await desk.writes_and_waits("15550021001", "send me the photo")

    uploaded = await desk.http.post(
        "/api/v1/media",
        headers=desk.headers,
        data={"number_id": desk.number["id"]},
        files={"file": ("pixel.png", PNG, "image/png")},
    )

    assert uploaded.status_code == 201, uploaded.text
    media = uploaded.json()
    assert media["mime_type"] == "image/png"
    assert media["size"] == len(PNG)
    assert media["state"] == "stored"
    assert media["meta_media_id"]
    assert (await desk.get(f"/media/{media['id']}")).json() == media
    content = await desk.get(f"/media/{media['id']}/content")
    assert content.status_code == 200
    assert content.content == PNG
    assert content.headers["content-type"] == "image/png"
    assert content.headers["x-content-type-options"] == "nosniff"

    answer = await desk.send(
        {
            "conversation_id": conversation["id"],
            "type": "image",
            "image": {"id": media["meta_media_id"], "caption": "Here it is"},
        }
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["media_id"] == media["id"]
    assert answer.json()["text"] == "Here it is"
    read = await desk.wait_for_status(answer.json()["id"], "read")
    payload = await _sent_payload(desk, read)
    assert payload["image"] == {"id": media["meta_media_id"], "caption": "Here it is"}


async def test_a_template_reaches_a_customer_who_never_wrote(desk: Desk) -> None:
    await _approved_template(desk, "order_shipped")
    template = {
        "name": "order_shipped",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-7"}],
            }
        ],
    }

    answer = await desk.send(
        {"to": "15550022001", "number_id": desk.number["id"], "type": "template",
         "template": template}
    )  # fmt: skip

    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert queued["window"]["open"] is False
    assert queued["warnings"] == []  # templates need no window
    assert queued["template"] == {"name": "order_shipped", "language": "en_US", "category": None}
    read = await desk.wait_for_status(queued["id"], "read")
    assert (await _sent_payload(desk, read))["template"] == template


async def test_interactive_buttons_quote_the_customers_message(desk: Desk) -> None:
    conversation = await desk.writes_and_waits("15550023001", "can I change the size?")
    inbound = (await desk.get(f"/conversations/{conversation['id']}/messages")).json()["data"][0]
    interactive = {
        "type": "button",
        "body": {"text": "Which size?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "s", "title": "Small"}},
                {"type": "reply", "reply": {"id": "m", "title": "Medium"}},
            ]
        },
    }

    answer = await desk.send(
        {"contact_id": conversation["contact"]["id"], "number_id": desk.number["id"],
         "type": "interactive", "interactive": interactive, "reply_to": inbound["id"]}
    )  # fmt: skip

    assert answer.status_code == 202, answer.text
    assert answer.json()["reply_to_wamid"] == inbound["wamid"]
    read = await desk.wait_for_status(answer.json()["id"], "read")
    payload = await _sent_payload(desk, read)
    assert payload["interactive"] == interactive
    assert payload["context"] == {"message_id": inbound["wamid"]}


async def test_free_form_outside_the_window_is_warned_then_fails_with_131047(desk: Desk) -> None:
    answer = await desk.send(
        {"to": "15550024001", "number_id": desk.number["id"], "text": {"body": "Hi!"}}
    )

    assert answer.status_code == 202, answer.text
    queued = answer.json()
    assert queued["status"] == "queued"
    assert queued["window"] == {
        "open": False,
        "opened_at": None,
        "closes_at": None,
        "remaining_seconds": 0,
    }
    [warning] = queued["warnings"]
    assert warning["code"] == "outside_customer_service_window"
    assert "outside the 24-hour window: only a template will be delivered" in warning["detail"]
    failed = await desk.wait_for_status(queued["id"], "failed")
    assert failed["error"]["code"] == 131047
    assert failed["error"]["explanation"] == ERROR_SPECS[131047].explanation
    assert failed["error"]["title"]
    assert failed["wamid"] is None


async def test_a_reply_after_closing_stays_inside_the_customers_window(desk: Desk) -> None:
    first = await desk.writes_and_waits("15550025001", "thanks, all good")
    closed = await desk.post(f"/conversations/{first['id']}/close")
    assert closed.status_code == 200

    answer = await desk.send(
        {"to": "15550025001", "number_id": desk.number["id"], "text": {"body": "One more thing"}}
    )

    assert answer.status_code == 202, answer.text
    assert answer.json()["conversation_id"] != first["id"]
    assert answer.json()["window"]["open"] is True
    assert answer.json()["warnings"] == []
    assert (await desk.wait_for_status(answer.json()["id"], "read"))["error"] is None


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"type": "text", "text": {"body": ""}}, "text.body"),
        ({"type": "text"}, "text"),
        ({"type": "image", "image": {"caption": "which one?"}}, "image"),
        ({"type": "template", "template": {"name": "order_shipped"}}, "template.language"),
        ({"type": "interactive", "interactive": {
            "type": "button", "body": {"text": "?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]},
        }}, "interactive.action.buttons.0.reply.title"),
        ({"type": "text", "text": {"body": "hi"}, "image": {"id": "1"}}, "image"),
    ],
)  # fmt: skip
async def test_bad_content_is_refused_naming_the_field(
    desk: Desk, content: dict[str, Any], field: str
) -> None:
    answer = await desk.send({"to": "15550026001", "number_id": desk.number["id"], **content})

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "invalid_message_content"
    assert problem["field"] == field
    assert field in problem["detail"]
    assert await desk.conversations() == []  # nothing was created


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("call me", "letters"),
        ("+1 555 01", "too_short"),
        ("+999 1234 5678", "unknown_country_code"),
    ],
)
async def test_a_bad_recipient_number_is_refused_with_the_reason(
    desk: Desk, to: str, reason: str
) -> None:
    answer = await desk.send({"to": to, "number_id": desk.number["id"], "text": {"body": "hi"}})

    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "invalid_phone_number"
    assert problem["field"] == "to"
    assert problem["reason"] == reason


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        ({"text": {"body": "hi"}}, "invalid_recipient", "to"),
        ({"to": "15550027001", "text": {"body": "hi"}}, "invalid_recipient", "number_id"),
        ({"to": "15550027001", "contact_id": "01a21300-0000-7000-8000-000000000000",
          "text": {"body": "hi"}}, "invalid_recipient", "contact_id"),
    ],
)  # fmt: skip
async def test_the_recipient_must_be_clear(
    desk: Desk, payload: dict[str, Any], code: str, field: str
) -> None:
    answer = await desk.send(payload)

    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code
    assert answer.json()["field"] == field


async def test_unknown_ids_and_fields_are_refused(desk: Desk) -> None:
    unknown = "01a21300-0000-7000-8000-000000000000"
    for payload, status, code in [
        ({"contact_id": unknown, "number_id": desk.number["id"], "text": {"body": "x"}},
         404, "contact_not_found"),
        ({"to": "15550028001", "number_id": unknown, "text": {"body": "x"}},
         404, "channel_not_found"),
        ({"conversation_id": unknown, "text": {"body": "x"}}, 404, "conversation_not_found"),
        ({"to": "15550028001", "number_id": desk.number["id"], "text": {"body": "x"},
          "biz_opaque_callback_data": "mine"}, 422, "validation_failed"),
        ({"to": "15550028001", "number_id": desk.number["id"], "type": "poll"},
         422, "validation_failed"),
        ({"to": "15550028001", "number_id": desk.number["id"], "text": {"body": "x"},
          "reply_to": unknown}, 422, "invalid_reply_to"),
    ]:  # fmt: skip
        answer = await desk.send(payload)
        assert answer.status_code == status, (payload, answer.text)
        assert answer.json()["code"] == code, (payload, answer.text)
    missing = await desk.get(f"/messages/{unknown}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "message_not_found"


async def test_media_whatsapp_would_refuse_is_refused_before_uploading(desk: Desk) -> None:
    page = await desk.http.post(
        "/api/v1/media",
        headers=desk.headers,
        data={"number_id": desk.number["id"]},
        files={"file": ("page.html", b"<script>alert(1)</script>", "text/html")},
    )
    assert page.status_code == 422, page.text
    assert page.json()["code"] == "unsupported_media"
    assert "image/jpeg" in page.json()["accepted"]

    huge = await desk.http.post(
        "/api/v1/media",
        headers=desk.headers,
        data={"number_id": desk.number["id"]},
        files={"file": ("big.png", b"\x89PNG" + b"\0" * (5 * 1024 * 1024), "image/png")},
    )
    assert huge.status_code == 422, huge.text
    assert huge.json()["code"] == "media_too_large"
    assert huge.json()["max_bytes"] == 5 * 1024 * 1024

    missing = await desk.get("/media/01a21300-0000-7000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["code"] == "media_not_found"


async def test_inbound_media_is_served_back_to_its_workspace_only(
    platform: PlatformServer, desk: Desk, http: httpx.AsyncClient
) -> None:
    await desk.customer_writes(
        "15550029001",
        type="image",
        text=None,
        image={"data_base64": "iVBORw0KGgo=", "mime_type": "image/png", "caption": "a pixel"},
    )

    stored: list[dict[str, Any]] = []

    async def downloaded() -> bool:
        conversation = await desk.conversation_with("15550029001")
        if conversation is None:
            return False
        messages = (await desk.get(f"/conversations/{conversation['id']}/messages")).json()
        media_id = messages["data"][0]["media_id"] if messages["data"] else None
        if media_id is None:
            return False
        media = (await desk.get(f"/media/{media_id}")).json()
        if media["state"] == "stored":
            stored.append(media)
            return True
        return False

    await wait_for(downloaded, within=20, interval=0.1, what="inbound image stored")
    media = stored[-1]
    content = await desk.get(f"/media/{media['id']}/content")
    assert content.status_code == 200
    assert len(content.content) == media["size"]

    _, other_key = await make_workspace(platform, name="Other")
    for path in (f"/api/v1/media/{media['id']}", f"/api/v1/media/{media['id']}/content"):
        response = await http.get(path, headers=auth(other_key))
        assert response.status_code == 404, path
