"""Meta's webhooks in: handshake, signatures, the durable log, and what applying it does."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from ovillo.channels.models import WebhookEvent, WebhookEventState
from ovillo.contacts.models import Contact
from ovillo.inbox.ingest import do_apply_pending_statuses
from ovillo.inbox.models import Conversation, MediaFile, Message, MessageStatus, PendingStatus
from ovillo.server import PlatformServer
from tests.api.ingesting import (
    Ingestion,
    encode,
    envelope,
    post_signed,
    status_item,
    status_payload,
    text_payload,
)

CUSTOMER = "5215512345678"


async def _metrics(http: httpx.AsyncClient) -> dict[str, int]:
    response = await http.get("/webhooks/whatsapp/metrics")
    assert response.status_code == 200
    metrics: dict[str, int] = response.json()
    return metrics


# --- Handshake -----------------------------------------------------------------------------


async def test_handshake_echoes_the_challenge_for_a_channel_verify_token(
    http: httpx.AsyncClient, number: dict[str, Any]
) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": number["webhook_verify_token"],
        "hub.challenge": "1158201444",
    }
    response = await http.get("/webhooks/whatsapp", params=params)
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")
    scoped = await http.get(
        "/webhooks/whatsapp", params={**params, "channel": number["phone_number_id"]}
    )
    assert scoped.status_code == 200
    assert scoped.text == "1158201444"


@pytest.mark.parametrize(
    "change",
    [
        {"hub.verify_token": "not-a-token-of-ours"},
        {"hub.mode": "unsubscribe"},
        {"hub.verify_token": ""},
        {"channel": "999999"},
    ],
)
async def test_handshake_refuses_anything_else(
    http: httpx.AsyncClient, number: dict[str, Any], change: dict[str, str]
) -> None:
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": number["webhook_verify_token"],
        "hub.challenge": "42",
        **change,
    }
    response = await http.get("/webhooks/whatsapp", params=params)
    assert response.status_code == 403
    assert "42" not in response.text


# --- Refusals ------------------------------------------------------------------------------


async def test_missing_or_bad_signature_and_unknown_number_are_refused_and_stored_nowhere(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    body = encode(
        text_payload(number, wa_id=CUSTOMER, wamid="wamid.X1", body="hi", at=ingestion.now())
    )
    before = await _metrics(http)
    missing = await post_signed(http, body, secret=None)
    forged = await post_signed(http, body, secret="not-the-app-secret")
    tampered = await http.post(
        "/webhooks/whatsapp",
        content=body.replace(b"hi", b"ho"),
        headers={"X-Hub-Signature-256": (await _signature(number, body))},
    )
    stranger = {**number, "phone_number_id": "100000000000001", "waba_id": "100000000000002"}
    unknown = await post_signed(
        http,
        text_payload(stranger, wa_id=CUSTOMER, wamid="wamid.X2", body="hi", at=ingestion.now()),
        secret=number["app_secret"],
    )
    assert [r.status_code for r in (missing, forged, tampered, unknown)] == [401] * 4
    assert await ingestion.count(WebhookEvent) == 0
    after = await _metrics(http)
    assert after["rejected_missing_signature"] - before["rejected_missing_signature"] == 1
    assert after["rejected_bad_signature"] - before["rejected_bad_signature"] == 2
    assert after["rejected_unknown_number"] - before["rejected_unknown_number"] == 1
    assert after["accepted"] == before["accepted"]


async def _signature(number: dict[str, Any], body: bytes) -> str:
    from ovillo.cloudapi.signature import sign

    return sign(number["app_secret"], body)


async def test_a_body_over_the_limit_is_refused_unread(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    body = b"{" + b" " * (3 * 1024 * 1024) + b"}"
    response = await post_signed(http, body, secret=number["app_secret"])
    assert response.status_code == 413
    assert await ingestion.count(WebhookEvent) == 0


# --- A customer writes in ------------------------------------------------------------------


async def test_a_customer_message_becomes_contact_conversation_and_message(
    emulator_http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    sent = await emulator_http.post(
        f"/_emulator/customers/{CUSTOMER}/messages",
        json={
            "phone_number_id": number["phone_number_id"],
            "type": "text",
            "text": {"body": "¿Tienen envíos a Puebla?"},
            "name": "Ana López",
        },
    )
    assert sent.status_code == 201, sent.text
    wamid = sent.json()["id"]

    async def stored() -> bool:
        return await ingestion.message(wamid) is not None

    await ingestion.settle(stored, what="the message")
    message = await ingestion.message(wamid)
    assert message is not None
    assert message.direction == "in"
    assert message.status == MessageStatus.RECEIVED
    assert message.type == "text"
    assert message.text == "¿Tienen envíos a Puebla?"
    assert message.content["text"] == {"body": "¿Tienen envíos a Puebla?"}
    assert message.occurred_at is not None
    contact = await ingestion.scalar(select(Contact).where(Contact.id == message.contact_id))
    assert contact is not None
    assert contact.wa_id == CUSTOMER
    assert contact.profile_name == "Ana López"
    assert contact.user_id  # the emulator sends a BSUID with every contact
    assert message.author_id == str(contact.id)
    conversation = await ingestion.scalar(
        select(Conversation).where(Conversation.id == message.conversation_id)
    )
    assert conversation is not None
    assert conversation.last_inbound_at == message.occurred_at
    assert conversation.window_closes_at == message.occurred_at + timedelta(hours=24)
    assert conversation.last_activity_at == message.occurred_at
    assert conversation.last_message_preview == "¿Tienen envíos a Puebla?"
    assert conversation.unread_count == 1
    [event] = await ingestion.events()
    assert event.state == WebhookEventState.APPLIED
    assert event.summary["messages"] == 1
    assert event.phone_number_id == number["phone_number_id"]


async def test_the_same_webhook_twice_is_stored_once_and_applied_once(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    at = ingestion.now()
    payload = text_payload(number, wa_id=CUSTOMER, wamid="wamid.DUP", body="hola", at=at)
    before = await _metrics(http)
    first = await post_signed(http, payload, secret=number["app_secret"])
    second = await post_signed(http, payload, secret=number["app_secret"])
    assert (first.status_code, second.status_code) == (200, 200)
    assert await ingestion.count(WebhookEvent) == 1
    assert (await _metrics(http))["duplicates"] - before["duplicates"] == 1
    # Meta may also resend one message inside a different batch: other bytes, same wamid.
    rebatched = {**payload, "entry": [{**payload["entry"][0], "time": 1}]}
    assert (await post_signed(http, rebatched, secret=number["app_secret"])).status_code == 200
    assert await ingestion.count(WebhookEvent) == 2

    async def all_applied() -> bool:
        return await ingestion.count(WebhookEvent, WebhookEvent.state == "pending") == 0

    await ingestion.settle(all_applied)
    assert await ingestion.count(Message, Message.wamid == "wamid.DUP") == 1
    message = await ingestion.message("wamid.DUP")
    assert message is not None
    conversation = await ingestion.scalar(
        select(Conversation).where(Conversation.id == message.conversation_id)
    )
    assert conversation is not None
    assert conversation.unread_count == 1
    summaries = [event.summary for event in await ingestion.events()]
    assert summaries == [{"messages": 1}, {"duplicate_messages": 1}]


async def test_an_unknown_field_is_kept_and_marked_unknown(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    payload = envelope(number["waba_id"], "calls_of_the_future", {"anything": [1, 2, 3]})
    response = await post_signed(http, payload, secret=number["app_secret"])
    assert response.status_code == 200

    async def decided() -> bool:
        return await ingestion.count(WebhookEvent, WebhookEvent.state == "pending") == 0

    await ingestion.settle(decided)
    [event] = await ingestion.events()
    assert event.state == WebhookEventState.UNKNOWN
    assert event.body == encode(payload)
    assert event.summary == {"unknown": [{"field": "calls_of_the_future"}]}


async def test_account_level_updates_are_applied_or_recorded(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    digits = "".join(ch for ch in number["display_phone_number"] if ch.isdigit())
    quality = envelope(
        number["waba_id"],
        "phone_number_quality_update",
        {"display_phone_number": digits, "event": "FLAGGED", "current_limit": "TIER_1K"},
    )
    template = envelope(
        number["waba_id"],
        "message_template_status_update",
        {
            "event": "APPROVED",
            "message_template_id": 123,
            "message_template_name": "order_update",
            "message_template_language": "en_US",
            "reason": "NONE",
        },
    )
    for payload in (quality, template):
        assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200

    async def decided() -> bool:
        return await ingestion.count(WebhookEvent, WebhookEvent.state == "pending") == 0

    await ingestion.settle(decided)
    events = await ingestion.events()
    assert [e.state for e in events] == [WebhookEventState.APPLIED] * 2
    assert events[0].summary == {"quality_updates": 1}
    assert events[1].summary == {"noop_fields": ["message_template_status_update"]}
    channel = await ingestion.platform_channel(number)
    assert (channel.quality_rating, channel.status, channel.messaging_limit_tier) == (
        "RED",
        "FLAGGED",
        "TIER_1K",
    )


# --- Statuses ------------------------------------------------------------------------------


async def _apply_all(ingestion: Ingestion) -> None:
    async def nothing_pending() -> bool:
        return await ingestion.count(WebhookEvent, WebhookEvent.state == "pending") == 0

    await ingestion.settle(nothing_pending)


async def test_statuses_out_of_order_end_in_read_with_every_timestamp(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    await ingestion.outbound_message(number, wa_id=CUSTOMER, wamid="wamid.OUT1")
    t0 = ingestion.now().replace(microsecond=0)
    pricing = {
        "billable": False,
        "pricing_model": "PMP",
        "category": "service",
        "type": "free_customer_service",
    }
    for status, offset in (("read", 20), ("delivered", 10), ("sent", 5), ("delivered", 10)):
        payload = status_payload(
            number,
            status_item("wamid.OUT1", status, t0 + timedelta(seconds=offset), pricing=pricing),
        )
        assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200
        await _apply_all(ingestion)
    message = await ingestion.message("wamid.OUT1")
    assert message is not None
    assert message.status == MessageStatus.READ
    assert message.sent_at == t0 + timedelta(seconds=5)
    assert message.delivered_at == t0 + timedelta(seconds=10)
    assert message.read_at == t0 + timedelta(seconds=20)
    assert message.pricing == pricing
    assert message.error_code is None


async def test_failed_keeps_its_error_against_a_late_sent(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    await ingestion.outbound_message(number, wa_id=CUSTOMER, wamid="wamid.OUT2")
    t0 = ingestion.now().replace(microsecond=0)
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "The recipient is not on WhatsApp."},
    }
    for item in (
        status_item("wamid.OUT2", "failed", t0 + timedelta(seconds=3), errors=[error]),
        status_item("wamid.OUT2", "sent", t0 + timedelta(seconds=1)),
    ):
        payload = status_payload(number, item)
        assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200
    await _apply_all(ingestion)
    message = await ingestion.message("wamid.OUT2")
    assert message is not None
    assert message.status == MessageStatus.FAILED
    assert message.failed_at == t0 + timedelta(seconds=3)
    assert message.sent_at == t0 + timedelta(seconds=1)
    assert (message.error_code, message.error_title, message.error_detail) == (
        131026,
        "Message undeliverable",
        "The recipient is not on WhatsApp.",
    )


async def test_a_status_before_its_message_waits_and_is_applied_when_the_wamid_is_stored(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    outbound = await ingestion.outbound_message(
        number, wa_id=CUSTOMER, wamid=None, status=MessageStatus.SENDING
    )
    t0 = ingestion.now().replace(microsecond=0)
    payload = status_payload(
        number, status_item("wamid.EARLY", "delivered", t0 + timedelta(seconds=2))
    )
    assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200
    await _apply_all(ingestion)
    [event] = await ingestion.events()
    assert event.summary == {"pending_statuses": 1}
    assert await ingestion.count(PendingStatus, PendingStatus.wamid == "wamid.EARLY") == 1

    # The send's answer arrives: the sender stores the wamid and applies what waited.
    async with ingestion.session() as session:
        message = await session.get(Message, outbound.seq)
        assert message is not None
        message.wamid = "wamid.EARLY"
        message.status = MessageStatus.ACCEPTED
        await session.flush()
        assert await do_apply_pending_statuses(session=session, wamid="wamid.EARLY") == 1
        await session.commit()
    stored = await ingestion.message("wamid.EARLY")
    assert stored is not None
    assert stored.status == MessageStatus.DELIVERED
    assert stored.delivered_at == t0 + timedelta(seconds=2)
    assert await ingestion.count(PendingStatus) == 0


async def test_a_pending_status_is_swept_when_the_wamid_appears_without_being_told(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    outbound = await ingestion.outbound_message(
        number, wa_id=CUSTOMER, wamid=None, status=MessageStatus.SENDING
    )
    t0 = ingestion.now().replace(microsecond=0)
    payload = status_payload(number, status_item("wamid.CROSSED", "read", t0))
    assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200
    await _apply_all(ingestion)
    async with ingestion.session() as session:
        message = await session.get(Message, outbound.seq)
        assert message is not None
        message.wamid = "wamid.CROSSED"
        message.status = MessageStatus.ACCEPTED
        await session.commit()

    async def swept() -> bool:
        found = await ingestion.message("wamid.CROSSED")
        return found is not None and found.status == MessageStatus.READ

    await ingestion.settle(swept, what="the pending status applied")
    assert await ingestion.count(PendingStatus) == 0


async def test_a_status_names_the_wamid_of_a_send_whose_answer_was_lost(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    outbound = await ingestion.outbound_message(
        number, wa_id=CUSTOMER, wamid=None, status=MessageStatus.SENDING
    )
    t0 = ingestion.now().replace(microsecond=0)
    payload = status_payload(
        number, status_item("wamid.LOST", "sent", t0, callback=str(outbound.id))
    )
    assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200
    await _apply_all(ingestion)
    message = await ingestion.message("wamid.LOST")
    assert message is not None
    assert message.id == outbound.id
    assert message.status == MessageStatus.SENT
    assert message.sent_at == t0
    [event] = await ingestion.events()
    assert event.summary == {"reconciled": 1, "statuses": 1}


# --- Media and referrals -------------------------------------------------------------------


async def test_inbound_media_is_downloaded_into_storage(
    emulator_http: httpx.AsyncClient,
    number: dict[str, Any],
    ingestion: Ingestion,
    platform: PlatformServer,
) -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    sent = await emulator_http.post(
        f"/_emulator/customers/{CUSTOMER}/messages",
        json={
            "phone_number_id": number["phone_number_id"],
            "type": "image",
            "image": {
                "data_base64": base64.b64encode(data).decode(),
                "mime_type": "image/png",
                "caption": "la factura",
            },
        },
    )
    assert sent.status_code == 201, sent.text
    wamid = sent.json()["id"]

    async def downloaded() -> bool:
        message = await ingestion.message(wamid)
        if message is None or message.media_id is None:
            return False
        media = await ingestion.scalar(select(MediaFile).where(MediaFile.id == message.media_id))
        return media is not None and media.state == "stored"

    await ingestion.settle(downloaded, what="the media stored")
    message = await ingestion.message(wamid)
    assert message is not None
    assert message.text == "la factura"
    media = await ingestion.scalar(select(MediaFile).where(MediaFile.id == message.media_id))
    assert media is not None
    assert media.sha256 == hashlib.sha256(data).hexdigest()
    assert media.size == len(data)
    assert media.mime_type == "image/png"
    assert media.storage_key is not None
    assert media.storage_key.startswith(f"{media.workspace_id}/")
    assert media.storage_key.endswith(".png")
    assert (platform.settings.media_dir / media.storage_key).read_bytes() == data


async def test_a_failed_download_is_recorded_and_retried(
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
    number: dict[str, Any],
    ingestion: Ingestion,
) -> None:
    at = ingestion.now()
    message = {
        "from": CUSTOMER,
        "id": "wamid.NOMEDIA",
        "timestamp": str(int(at.timestamp())),
        "type": "image",
        "image": {"id": "987654321", "mime_type": "image/jpeg", "sha256": "x"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": number["phone_number_id"]},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": CUSTOMER}],
        "messages": [message],
    }
    payload = envelope(number["waba_id"], "messages", value)
    assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200

    async def tried() -> bool:
        media = await ingestion.scalar(select(MediaFile))
        return media is not None and media.attempts >= 1

    await ingestion.settle(tried)
    media = await ingestion.scalar(select(MediaFile))
    assert media is not None
    assert media.state == "pending"
    assert media.error is not None
    # What Meta answers for a media id it does not know.
    assert media.error.startswith("InvalidParameterError: (#100)")
    assert media.next_attempt_at is not None
    assert media.next_attempt_at > ingestion.now()

    advanced = await emulator_http.post("/_emulator/clock/advance", json={"seconds": 11})
    assert advanced.status_code == 200

    async def tried_again() -> bool:
        media = await ingestion.scalar(select(MediaFile))
        return media is not None and media.attempts >= 2

    await ingestion.settle(tried_again)


REFERRAL = {
    "source_url": "https://fb.me/ad123",
    "source_id": "120210000000001",
    "source_type": "ad",
    "headline": "Envíos gratis",
    "body": "Solo esta semana",
    "media_type": "image",
    "image_url": "https://example.com/ad.jpg",
}


async def test_an_ad_referral_is_recorded_on_the_conversation(
    emulator_http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    sent = await emulator_http.post(
        f"/_emulator/customers/{CUSTOMER}/messages",
        json={
            "phone_number_id": number["phone_number_id"],
            "type": "text",
            "text": {"body": "Quiero info del anuncio"},
            "referral": REFERRAL,
        },
    )
    assert sent.status_code == 201, sent.text
    wamid = sent.json()["id"]

    async def stored() -> bool:
        return await ingestion.message(wamid) is not None

    await ingestion.settle(stored)
    message = await ingestion.message(wamid)
    assert message is not None
    conversation = await ingestion.conversation(message)
    assert conversation.referral is not None
    assert conversation.referral["source_id"] == "120210000000001"
    assert conversation.referral["headline"] == "Envíos gratis"
    assert conversation.referral["ctwa_clid"]
    assert conversation.referral_at == message.occurred_at
    # Nobody answered yet: no free entry point.
    assert conversation.free_entry_point_expires_at is None


@pytest.mark.parametrize(
    ("reply_after", "opens"),
    [
        (timedelta(minutes=5), True),
        (timedelta(hours=23, minutes=59), True),
        (timedelta(hours=24), False),
    ],
)
async def test_a_reply_within_24_hours_of_a_late_referral_opens_the_free_entry_point(
    http: httpx.AsyncClient,
    number: dict[str, Any],
    ingestion: Ingestion,
    reply_after: timedelta,
    opens: bool,
) -> None:
    referral_at = (ingestion.now() - timedelta(hours=30)).replace(microsecond=0)
    reply = await ingestion.outbound_message(
        number, wa_id=CUSTOMER, wamid="wamid.REPLY", accepted_at=referral_at + reply_after
    )
    payload = text_payload(
        number, wa_id=CUSTOMER, wamid="wamid.AD", body="Vi su anuncio", at=referral_at
    )
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["referral"] = REFERRAL
    assert (await post_signed(http, payload, secret=number["app_secret"])).status_code == 200
    await _apply_all(ingestion)
    message = await ingestion.message("wamid.AD")
    assert message is not None
    conversation = await ingestion.conversation(message)
    assert conversation.id == reply.conversation_id
    assert conversation.referral_at == referral_at
    expected = referral_at + reply_after + timedelta(hours=72) if opens else None
    assert conversation.free_entry_point_expires_at == expected
