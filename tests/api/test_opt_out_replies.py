"""Opting out from WhatsApp: an opt-out word as the whole reply, Meta's "Stop promotions"
(``user_preferences``), and a send that fails with 131026 (not on WhatsApp)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from ovillo.contacts.models import Contact
from ovillo.inbox.models import ConversationEvent
from tests.api.conversing import Desk
from tests.api.ingesting import (
    Ingestion,
    envelope,
    messages_value,
    post_signed,
    status_item,
    status_payload,
    text_payload,
)

ANA = "5215512340001"
BETO = "5215512340002"


async def _contact(ingestion: Ingestion, wa_id: str) -> Contact | None:
    found: Contact | None = await ingestion.scalar(select(Contact).where(Contact.wa_id == wa_id))
    return found


async def _say(
    http: httpx.AsyncClient,
    ingestion: Ingestion,
    number: dict[str, Any],
    wa_id: str,
    body: str,
    wamid: str,
) -> None:
    payload = text_payload(number, wa_id=wa_id, wamid=wamid, body=body, at=ingestion.now())
    assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200

    async def arrived() -> bool:
        return await ingestion.message(wamid) is not None

    await ingestion.settle(arrived, what=f"{wamid} applied")


async def test_an_opt_out_word_as_the_whole_reply_opts_out_of_marketing(
    http: httpx.AsyncClient, ingestion: Ingestion, desk: Desk
) -> None:
    number, headers = desk.number, desk.headers
    await _say(http, ingestion, number, ANA, "no quiero la baja todavía", "wamid.O1")
    ana = await _contact(ingestion, ANA)
    assert ana is not None
    assert ana.opt_outs == {}

    await _say(http, ingestion, number, ANA, "  ¡BAJA! ", "wamid.O2")
    ana = await _contact(ingestion, ANA)
    assert ana is not None
    assert set(ana.opt_outs) == {"marketing"}
    events = await ingestion.all(
        select(ConversationEvent).where(ConversationEvent.kind == "opted_out")
    )
    assert [(e.actor_id, e.data) for e in events] == [
        (str(ana.id), {"category": "marketing", "word": "baja"})
    ]

    # The words are the workspace's: a custom list replaces the defaults.
    assert (await http.get("/api/v1/workspace/opt-out-words", headers=headers)).json() == {
        "words": ["STOP", "baja", "parar", "cancelar"]
    }
    changed = await http.put(
        "/api/v1/workspace/opt-out-words",
        headers=headers,
        json={"words": [" Darme de baja ", "darme de BAJA", "Salir"]},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"words": ["Darme de baja", "Salir"]}
    refused = await http.put(
        "/api/v1/workspace/opt-out-words", headers=headers, json={"words": ["?!"]}
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "validation_failed"
    await _say(http, ingestion, number, BETO, "stop", "wamid.O3")
    beto = await _contact(ingestion, BETO)
    assert beto is not None
    assert beto.opt_outs == {}
    await _say(http, ingestion, number, BETO, "salir.", "wamid.O4")
    beto = await _contact(ingestion, BETO)
    assert beto is not None
    assert set(beto.opt_outs) == {"marketing"}

    counted = await http.post("/api/v1/contacts/segments/count", headers=headers, json={})
    assert counted.json()["excluded_opted_out"] == 2


async def test_meta_user_preferences_stop_and_resume_marketing(
    http: httpx.AsyncClient, ingestion: Ingestion, desk: Desk
) -> None:
    number = desk.number

    async def preference(value: str, at_seconds: int) -> None:
        item = {
            "wa_id": ANA,
            "detail": "User requested to stop marketing messages",
            "category": "marketing_messages",
            "value": value,
            "timestamp": at_seconds,
        }
        payload = envelope(
            number["waba_id"],
            "user_preferences",
            messages_value(
                number,
                contacts=[{"profile": {"name": "Ana"}, "wa_id": ANA}],
                user_preferences=[item],
            ),
        )
        assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200

    base = int(ingestion.now().timestamp())
    await preference("stop", base)

    async def opted_out() -> bool:
        contact = await _contact(ingestion, ANA)
        return contact is not None and "marketing" in contact.opt_outs

    await ingestion.settle(opted_out, what="marketing stopped")
    await preference("resume", base + 1)

    async def opted_in() -> bool:
        contact = await _contact(ingestion, ANA)
        return contact is not None and contact.opt_outs == {}

    await ingestion.settle(opted_in, what="marketing resumed")


async def test_a_send_failing_with_131026_marks_the_contact_until_they_write(
    http: httpx.AsyncClient, ingestion: Ingestion, desk: Desk
) -> None:
    number, headers = desk.number, desk.headers
    message = await ingestion.outbound_message(number, wa_id=ANA, wamid="wamid.F1")
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "Message Undeliverable."},
    }
    failed = status_payload(
        number, status_item("wamid.F1", "failed", ingestion.now(), recipient=ANA, errors=[error])
    )
    assert (await post_signed(http, failed, secret=number["app_secret"])).status_code == 200

    async def marked() -> bool:
        contact = await _contact(ingestion, ANA)
        return contact is not None and contact.not_on_whatsapp_at is not None

    await ingestion.settle(marked, what="contact marked not on WhatsApp")
    assert message.contact_id == (await _contact(ingestion, ANA)).id  # type: ignore[union-attr]
    counted = await http.post("/api/v1/contacts/segments/count", headers=headers, json={})
    assert counted.json()["excluded_not_on_whatsapp"] == 1

    await _say(http, ingestion, number, ANA, "hola", "wamid.F2")
    ana = await _contact(ingestion, ANA)
    assert ana is not None
    assert ana.not_on_whatsapp_at is None
    counted = await http.post("/api/v1/contacts/segments/count", headers=headers, json={})
    assert counted.json()["matching"] == 1
