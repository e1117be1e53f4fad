"""Simulated customers: what they send reads as Meta's webhooks, and they behave by persona.

Every webhook a customer causes is parsed twice, by our `cloudapi.webhooks.parse_webhook`
and by pywa 4.5 (a third-party receiver), and both must accept it as the right type.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from pywa import WhatsApp
from pywa import handlers as pywa_handlers
from pywa import types as pywa_types

from ovillo.cloudapi import webhooks as wire
from ovillo.emulator.customers import (
    apply_persona,
    builtin_persona,
    customer_feedback,
    deliver_inbound,
    delivery_due_at,
    first_button_answer,
    get_or_create_customer,
    on_message_delivered,
    read_due_at,
)
from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer
from ovillo.emulator.state import (
    Business,
    Persona,
    PhoneNumber,
    SentMessage,
    Template,
    Waba,
)
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import Received, WebhookReceiver

CUSTOMER = "5215512345678"  # Mexico: the wa_id keeps the mobile "1"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


# --- Two independent readers of every webhook ---------------------------------------------


_PYWA_HANDLERS = (
    pywa_handlers.MessageHandler,
    pywa_handlers.CallbackButtonHandler,
    pywa_handlers.CallbackSelectionHandler,
    pywa_handlers.UserMarketingPreferencesHandler,
    pywa_handlers.PhoneNumberChangeHandler,
    pywa_handlers.IdentityChangeHandler,
)


def pywa_parse(body: bytes) -> Any:
    """The update pywa builds from ``body``, through its public webhook entry point."""
    client = WhatsApp(filter_updates=False)
    built: list[Any] = []
    for handler in _PYWA_HANDLERS:
        client.add_handlers(handler(lambda _, update: built.append(update)))
    assert client.webhook_update_handler(body) == ("ok", 200)
    assert len(built) == 1, "pywa built no typed update from the webhook"
    return built[0]


def ours_parse(body: bytes) -> wire.WebhookPayload:
    payload = wire.parse_webhook(body)
    for change in payload.changes():
        assert not isinstance(change.value, wire.UnknownChangeValue), change.value.parse_problem
    for _, message in payload.iter_messages():
        assert not isinstance(message, wire.UnknownMessage), message
        if isinstance(message, wire.InteractiveMessage):
            assert not isinstance(message.interactive, wire.UnknownInteractive)
    return payload


def only_message(received: Received) -> dict[str, Any]:
    messages: list[dict[str, Any]] = received.value["messages"]
    assert len(messages) == 1
    return messages[0]


async def write_in(
    control: httpx.AsyncClient, number: Number, wa_id: str = CUSTOMER, **message: Any
) -> httpx.Response:
    body = {"phone_number_id": number.phone_number_id, **message}
    return await control.post(f"/_emulator/customers/{wa_id}/messages", json=body)


def arrived(receiver: WebhookReceiver, count: int) -> list[Received]:
    return receiver.wait_for(lambda items: len(items) >= count)


# --- Every inbound type, as Meta shapes it ------------------------------------------------

INBOUND_CASES: list[tuple[str, dict[str, Any], type, Callable[[Any], bool]]] = [
    ("text", {"type": "text", "text": {"body": "hola"}}, pywa_types.Message,
     lambda u: u.text == "hola"),
    ("image", {"type": "image", "image": {"data_base64": PNG, "mime_type": "image/png",
                                          "caption": "look"}},
     pywa_types.Message, lambda u: u.image.mime_type == "image/png" and u.image.caption == "look"),
    ("video", {"type": "video", "video": {"data_base64": PNG, "mime_type": "video/mp4"}},
     pywa_types.Message, lambda u: u.video.mime_type == "video/mp4"),
    ("voice note", {"type": "audio", "audio": {"data_base64": PNG, "mime_type": "audio/ogg",
                                               "voice": True}},
     pywa_types.Message, lambda u: u.audio.mime_type == "audio/ogg"),
    ("document", {"type": "document", "document": {"data_base64": PNG,
                                                   "mime_type": "application/pdf",
                                                   "filename": "invoice.pdf"}},
     pywa_types.Message, lambda u: u.document.filename == "invoice.pdf"),
    ("sticker", {"type": "sticker", "sticker": {"data_base64": PNG, "mime_type": "image/webp"}},
     pywa_types.Message, lambda u: u.sticker.mime_type == "image/webp"),
    ("location", {"type": "location", "location": {"latitude": 19.43, "longitude": -99.13,
                                                   "name": "Zócalo"}},
     pywa_types.Message, lambda u: u.location.name == "Zócalo"),
    ("contacts", {"type": "contacts", "contacts": [
        {"name": {"formatted_name": "Luis Pérez", "first_name": "Luis"},
         "phones": [{"phone": "+52 55 1111 2222", "type": "CELL", "wa_id": "5215511112222"}]}]},
     pywa_types.Message, lambda u: u.contacts[0].name.formatted_name == "Luis Pérez"),
    ("order", {"type": "order", "order": {"catalog_id": "cat1", "text": "please",
                                          "product_items": [{"product_retailer_id": "sku1",
                                                             "quantity": 2, "item_price": 9.5,
                                                             "currency": "MXN"}]}},
     pywa_types.Message, lambda u: u.order.products[0].sku == "sku1"),
    ("unsupported", {"type": "unsupported", "unsupported": {"type": "poll"}},
     pywa_types.Message, lambda u: u.error is not None and u.error.code == 131051),
    ("identity", {"type": "system", "system": {"type": "customer_identity_changed"}},
     pywa_types.IdentityChange, lambda u: u.identity.acknowledged),
    ("ad referral", {"type": "text", "text": {"body": "I saw the ad"},
                     "referral": {"source_url": "https://fb.me/x", "source_id": "120",
                                  "source_type": "ad", "headline": "Sale",
                                  "media_type": "image", "image_url": "https://x/i.jpg"}},
     pywa_types.Message, lambda u: u.referral.source_id == "120" and bool(u.referral.ctwa_clid)),
]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "pywa_class", "pywa_check"),
    [pytest.param(m, c, f, id=name) for name, m, c, f in INBOUND_CASES],
)
async def test_every_inbound_type_reads_as_meta_by_both_parsers(
    control: httpx.AsyncClient,
    wired_number: Number,
    receiver: WebhookReceiver,
    message: dict[str, Any],
    pywa_class: type,
    pywa_check: Callable[[Any], bool],
) -> None:
    response = await write_in(control, wired_number, **message)
    assert response.status_code == 201, response.text
    accepted = response.json()
    assert accepted["webhook_queued"] is True
    assert accepted["id"].startswith("wamid.")

    (received,) = arrived(receiver, 1)
    assert received.field == "messages"
    value = received.value
    assert value["metadata"]["phone_number_id"] == wired_number.phone_number_id
    (contact,) = value["contacts"]
    assert contact["wa_id"] == CUSTOMER
    assert contact["user_id"].startswith("MX.")  # BSUID of the customer's country
    assert contact["profile"]["name"]
    item = only_message(received)
    assert item["id"] == accepted["id"]
    assert item["from"] == CUSTOMER
    assert isinstance(item["timestamp"], str)
    assert item["timestamp"].isdigit()

    (parsed,) = [m for _, m in ours_parse(received.body).iter_messages()]
    assert parsed.id == accepted["id"]
    update = pywa_parse(received.body)
    assert isinstance(update, pywa_class)
    assert pywa_check(update)
    if isinstance(update, pywa_types.Message):
        assert update.from_user.bsuid == contact["user_id"]
        assert update.from_user.wa_id == CUSTOMER


async def test_inline_media_is_downloadable_by_the_business(
    control: httpx.AsyncClient,
    wired_number: Number,
    receiver: WebhookReceiver,
    emulator_server: EmulatorServer,
) -> None:
    data = base64.b64decode(PNG)
    response = await write_in(
        control, wired_number, type="image", image={"data_base64": PNG, "mime_type": "image/png"}
    )
    assert response.status_code == 201
    image = only_message(arrived(receiver, 1)[0])["image"]
    # Inbound webhooks carry the SHA-256 in base64, not hex as GET /{media-id} does.
    assert image["sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    media = emulator_server.emulator.state.media[image["id"]]
    assert media.phone_number_id == wired_number.phone_number_id
    info = await control.get(f"/v23.0/{image['id']}", headers=wired_number.auth)
    assert info.status_code == 200, info.text
    download = await control.get(info.json()["url"], headers=wired_number.auth)
    assert download.content == data
    # A customer may forward the same media again by its id.
    again = await write_in(control, wired_number, type="image", image={"id": image["id"]})
    assert again.status_code == 201
    assert only_message(arrived(receiver, 2)[1])["image"]["id"] == image["id"]


async def test_replies_and_reactions_quote_a_message_of_the_chat(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    first = (await write_in(control, wired_number, type="text", text={"body": "one"})).json()
    reply = await write_in(
        control, wired_number, type="text", text={"body": "two"}, context={"id": first["id"]}
    )
    assert reply.status_code == 201
    reaction = await write_in(
        control, wired_number, type="reaction", reaction={"message_id": first["id"], "emoji": "👍"}
    )
    assert reaction.status_code == 201
    items = arrived(receiver, 3)
    quoted = only_message(items[1])
    # Quoting their own message, the context names the customer as its author.
    assert quoted["context"] == {"from": CUSTOMER, "id": first["id"]}
    assert pywa_parse(items[1].body).reply_to_message.id == first["id"]
    reacted = pywa_parse(items[2].body)
    assert reacted.reaction.emoji == "👍"
    assert reacted.reaction.message_id == first["id"]


async def test_first_contact_creates_a_customer_with_a_bsuid_and_opens_the_window(
    control: httpx.AsyncClient, number: Number
) -> None:
    assert (await control.get(f"/_emulator/customers/{CUSTOMER}")).status_code == 404
    await control.post("/_emulator/clock/advance", json={"seconds": 3 * 86_400})
    now = datetime.fromisoformat((await control.get("/_emulator/clock")).json()["now"])
    response = await write_in(
        control, number, "+52 1 55 1234 5678", type="text", text={"body": "x"}
    )
    assert response.status_code == 201
    assert response.json()["webhook_queued"] is False  # this number has no webhook URL
    customer = (await control.get(f"/_emulator/customers/{CUSTOMER}")).json()
    assert customer["wa_id"] == CUSTOMER
    assert customer["country"] == "MX"
    assert customer["user_id"].startswith("MX.")
    assert customer["persona"]["name"] == "default"
    assert customer["on_whatsapp"] is True
    opened = datetime.fromisoformat(customer["last_inbound_at"][number.phone_number_id])
    # The window opens on the emulator clock, three days ahead of the wall clock.
    assert abs((opened - now).total_seconds()) < 5
    by_bsuid = await control.get(f"/_emulator/customers/{customer['user_id']}")
    assert by_bsuid.json()["wa_id"] == CUSTOMER


async def test_the_webhook_timestamp_is_the_emulator_clock(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await control.post("/_emulator/clock/advance", json={"seconds": 10 * 86_400})
    await write_in(control, wired_number, type="text", text={"body": "later"})
    sent_at = int(only_message(arrived(receiver, 1)[0])["timestamp"])
    assert sent_at - time.time() > 9 * 86_400


async def test_a_referral_records_the_free_entry_point(
    control: httpx.AsyncClient, number: Number
) -> None:
    referral = {"source_url": "https://fb.me/ad", "source_id": "99", "source_type": "ad"}
    response = await write_in(control, number, type="text", text={"body": "hi"}, referral=referral)
    assert response.status_code == 201
    customer = (await control.get(f"/_emulator/customers/{CUSTOMER}")).json()
    entry = customer["referrals"][number.phone_number_id]
    assert entry["referral"]["source_id"] == "99"
    assert entry["referral"]["ctwa_clid"]  # Meta always tags an ad click
    assert entry["at"] == customer["last_inbound_at"][number.phone_number_id]


async def test_name_username_and_user_id_are_taken_on_first_contact(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    response = await write_in(
        control,
        wired_number,
        type="text",
        text={"body": "hi"},
        name="Ana Ruiz",
        username="@ana",
        user_id="MX.4242",
    )
    assert response.status_code == 201
    contact = arrived(receiver, 1)[0].value["contacts"][0]
    assert contact == {
        "profile": {"name": "Ana Ruiz", "username": "@ana"},
        "wa_id": CUSTOMER,
        "user_id": "MX.4242",
    }
    assert pywa_parse(arrived(receiver, 1)[0].body).from_user.username == "@ana"
    clash = await write_in(control, wired_number, type="text", text={"body": "x"}, user_id="MX.1")
    assert clash.status_code == 422
    assert "user_id" in clash.json()["detail"]


async def test_a_number_change_moves_the_customer(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await write_in(control, wired_number, type="text", text={"body": "hi"})
    old = (await control.get(f"/_emulator/customers/{CUSTOMER}")).json()
    response = await write_in(
        control,
        wired_number,
        type="system",
        system={"type": "user_changed_number", "wa_id": "5215599998888"},
    )
    assert response.status_code == 201
    received = arrived(receiver, 2)[1]
    assert "contacts" not in received.value  # Meta sends none with a number change
    change = pywa_parse(received.body)
    assert isinstance(change, pywa_types.PhoneNumberChange)
    assert change.old_wa_id == CUSTOMER
    assert change.new_wa_id == "5215599998888"
    ours_parse(received.body)
    assert (await control.get(f"/_emulator/customers/{CUSTOMER}")).status_code == 404
    moved = (await control.get("/_emulator/customers/5215599998888")).json()
    assert moved["name"] == old["name"]
    assert moved["user_id"] != old["user_id"]  # the BSUID follows the number


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("missing object", {"type": "text"}, "text"),
    ("missing body", {"type": "text", "text": {}}, "text.body"),
    ("other type's object", {"type": "text", "text": {"body": "x"}, "image": {"id": "1"}},
     "image"),
    ("unknown type", {"type": "poll"}, "type"),
    ("unknown field", {"type": "text", "text": {"body": "x"}, "colour": "red"}, "colour"),
    ("bad base64", {"type": "image", "image": {"data_base64": "%%%", "mime_type": "image/png"}},
     "image.data_base64"),
    ("no mime type", {"type": "image", "image": {"data_base64": PNG}}, "image.mime_type"),
    ("wrong mime type", {"type": "image", "image": {"data_base64": PNG,
                                                    "mime_type": "application/pdf"}},
     "image.mime_type"),
    ("unknown media", {"type": "video", "video": {"id": "404"}}, "video.id"),
    ("tap with nothing sent", {"type": "interactive", "interactive": {
        "type": "button_reply", "button_reply": {"id": "b1", "title": "Yes"}}}, "context.id"),
    ("reaction to a stranger", {"type": "reaction",
                                "reaction": {"message_id": "wamid.nope", "emoji": "👍"}},
     "reaction.message_id"),
    ("reply to a stranger", {"type": "text", "text": {"body": "x"},
                             "context": {"id": "wamid.nope"}}, "context.id"),
    ("bad location", {"type": "location", "location": {"latitude": "north"}}, "location"),
    ("bad system type", {"type": "system", "system": {"type": "tea_time"}}, "system.type"),
    ("bad referral", {"type": "text", "text": {"body": "x"},
                      "referral": {"source_type": "billboard"}}, "referral"),
    ("not a BSUID", {"type": "text", "text": {"body": "x"}, "user_id": "12345"}, "user_id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "named"), [pytest.param(m, f, id=name) for name, m, f in BAD_INPUTS]
)
async def test_bad_input_is_422_naming_the_field(
    control: httpx.AsyncClient, number: Number, message: dict[str, Any], named: str
) -> None:
    response = await write_in(control, number, **message)
    assert response.status_code == 422, response.text
    assert named in json.dumps(response.json(), ensure_ascii=False)
    assert (await control.get("/_emulator/stats")).json()["inbound"] == 0


async def test_unknown_number_and_bad_wa_id(control: httpx.AsyncClient, number: Number) -> None:
    unknown = await control.post(
        f"/_emulator/customers/{CUSTOMER}/messages",
        json={"phone_number_id": "1", "type": "text", "text": {"body": "x"}},
    )
    assert unknown.status_code == 404
    assert "phone_number_id" in unknown.json()["detail"]
    bad = await write_in(control, number, "12", type="text", text={"body": "x"})
    assert bad.status_code == 422
    assert "wa_id" in bad.json()["detail"]


# --- Blocks, reports, opt-outs, reachability ----------------------------------------------


async def test_blocks_and_reports_are_counted_for_quality(
    control: httpx.AsyncClient, number: Number, emulator_server: EmulatorServer
) -> None:
    emulator = emulator_server.emulator
    since = emulator.clock.now() - timedelta(seconds=1)
    target = {"phone_number_id": number.phone_number_id}
    blocked = await control.post(f"/_emulator/customers/{CUSTOMER}/block", json=target)
    assert blocked.json()["blocked_numbers"] == [number.phone_number_id]
    refused = await write_in(control, number, type="text", text={"body": "x"})
    assert refused.status_code == 409
    await control.post("/_emulator/customers/5215511110000/report", json=target)
    await control.post("/_emulator/customers/5215511110001/report", json=target)
    unblocked = await control.post(f"/_emulator/customers/{CUSTOMER}/unblock", json=target)
    assert unblocked.json()["blocked_numbers"] == []
    assert (await write_in(control, number, type="text", text={"body": "x"})).status_code == 201
    # The block still counts after the unblock; other numbers are untouched.
    assert customer_feedback(emulator, number.phone_number_id, since) == (1, 2)
    assert customer_feedback(emulator, "other", since) == (0, 0)
    later = emulator.clock.now() + timedelta(seconds=1)
    assert customer_feedback(emulator, number.phone_number_id, later) == (0, 0)


async def test_marketing_opt_out_and_in_send_user_preferences(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    target = {"phone_number_id": wired_number.phone_number_id}
    out = await control.post(f"/_emulator/customers/{CUSTOMER}/opt_out_marketing", json=target)
    assert wired_number.phone_number_id in out.json()["marketing_opt_outs"]
    # Tapping "stop" twice changes nothing and tells nobody twice.
    await control.post(f"/_emulator/customers/{CUSTOMER}/opt_out_marketing", json=target)
    back = await control.post(f"/_emulator/customers/{CUSTOMER}/opt_in_marketing", json=target)
    assert back.json()["marketing_opt_outs"] == {}
    stop, resume = arrived(receiver, 2)
    for received, expected in ((stop, "stop"), (resume, "resume")):
        assert received.field == "user_preferences"
        (preference,) = received.value["user_preferences"]
        assert preference["category"] == "marketing_messages"
        assert preference["value"] == expected
        assert preference["wa_id"] == CUSTOMER
        (change,) = ours_parse(received.body).changes()
        assert isinstance(change.value, wire.UserPreferencesValue)
        update = pywa_parse(received.body)
        assert isinstance(update, pywa_types.UserMarketingPreferences)
        assert update.value == expected
        assert update.from_user.wa_id == CUSTOMER
    assert len(receiver.snapshot()) == 2


async def test_unreachable_customers_cannot_write(
    control: httpx.AsyncClient, number: Number
) -> None:
    gone = await control.post(f"/_emulator/customers/{CUSTOMER}/unreachable")
    assert gone.json()["on_whatsapp"] is False
    refused = await write_in(control, number, type="text", text={"body": "x"})
    assert refused.status_code == 409
    assert "not on WhatsApp" in refused.json()["detail"]
    back = await control.post(f"/_emulator/customers/{CUSTOMER}/reachable")
    assert back.json()["on_whatsapp"] is True
    assert (await write_in(control, number, type="text", text={"body": "x"})).status_code == 201


# --- Personas over the control API --------------------------------------------------------


async def test_personas_are_set_by_name_or_by_fields(control: httpx.AsyncClient) -> None:
    path = f"/_emulator/customers/{CUSTOMER}/persona"
    chatty = (await control.put(path, json={"name": "chatty"})).json()["persona"]
    assert chatty["replies"] is True
    assert chatty["taps_first_button"] is True
    unreachable = (await control.put(path, json={"name": "unreachable"})).json()
    assert unreachable["on_whatsapp"] is False
    custom = (
        await control.put(path, json={"name": "slowpoke", "read_delay": 3600, "replies": True})
    ).json()
    assert custom["persona"]["name"] == "slowpoke"
    assert custom["persona"]["read_delay"] == 3600
    assert custom["on_whatsapp"] is True
    typo = await control.put(path, json={"name": "chaty"})
    assert typo.status_code == 422
    assert "chatty" in typo.json()["detail"]
    negative = await control.put(path, json={"name": "default", "reply_delay": -1})
    assert negative.status_code == 422


async def test_offline_persona_comes_back_after_its_spell(
    control: httpx.AsyncClient, emulator_server: EmulatorServer
) -> None:
    customer = (
        await control.put(f"/_emulator/customers/{CUSTOMER}/persona", json={"name": "offline"})
    ).json()
    back = datetime.fromisoformat(customer["offline_until"])
    created = datetime.fromisoformat(customer["created_at"])
    assert timedelta(hours=5, minutes=59) < back - created < timedelta(hours=6, minutes=1)


async def test_customers_are_listed_per_number(control: httpx.AsyncClient, number: Number) -> None:
    other = await create_number(control, display_phone_number="+1 555-010-0002")
    await write_in(control, number, CUSTOMER, type="text", text={"body": "a"})
    await write_in(control, other, "5215500000001", type="text", text={"body": "b"})
    everyone = (await control.get("/_emulator/customers")).json()
    assert {c["wa_id"] for c in everyone} == {CUSTOMER, "5215500000001"}
    mine = (
        await control.get(
            "/_emulator/customers", params={"phone_number_id": number.phone_number_id}
        )
    ).json()
    assert [c["wa_id"] for c in mine] == [CUSTOMER]


async def test_demo_customers_write_in_on_their_own(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    response = await control.post(
        f"/_emulator/phone_numbers/{wired_number.phone_number_id}/demo_customers",
        json={"count": 7},
    )
    assert response.status_code == 201
    customers = response.json()
    assert len(customers) == 7
    personas = {c["persona"]["name"] for c in customers}
    assert personas == {"chatty", "default", "silent", "offline", "unreachable"}
    # The number is in the US, so are its demo customers.
    assert all(c["user_id"].startswith("US.") for c in customers)
    assert receiver.snapshot() == []
    await control.post("/_emulator/clock/advance", json={"seconds": 7 * 15})
    writers = [c for c in customers if c["on_whatsapp"]]
    items = arrived(receiver, len(writers))
    senders = {only_message(r)["from"] for r in items}
    assert senders == {c["wa_id"] for c in writers}
    assert any("referral" in only_message(r) for r in items)
    for received in items:
        ours_parse(received.body)
        assert isinstance(pywa_parse(received.body), pywa_types.Message)
    # Chatty ones keep writing, a few hours apart.
    chatty = sum(c["persona"]["name"] == "chatty" for c in customers)
    await control.post("/_emulator/clock/advance", json={"seconds": 6 * 3600})
    arrived(receiver, len(writers) + chatty)


# --- Personas in process: answering what the business sent ---------------------------------


@dataclass
class World:
    emulator: Emulator
    number: PhoneNumber
    receiver: WebhookReceiver

    def sent(self, to: str, kind: str, body: dict[str, Any], **extra: Any) -> SentMessage:
        """A message the business sent, as the send handler records it."""
        message = SentMessage(
            id=f"wamid.out{len(self.emulator.state.sent)}",
            phone_number_id=self.number.id,
            to=to,
            user_id=None,
            type=kind,
            payload={"messaging_product": "whatsapp", "to": to, "type": kind, kind: body},
            accepted_at=self.emulator.clock.now(),
            **extra,
        )
        self.emulator.state.sent[message.id] = message
        return message

    async def arrivals(self, count: int, within: float = 10.0) -> list[Received]:
        # The emulator runs in this test's loop: wait without blocking it.
        deadline = time.monotonic() + within
        while len(self.receiver.snapshot()) < count:
            assert time.monotonic() < deadline, f"{len(self.receiver.snapshot())} arrived"
            await asyncio.sleep(0.01)
        return self.receiver.snapshot()


@pytest.fixture
async def world(receiver: WebhookReceiver) -> AsyncIterator[World]:
    emulator = Emulator(config=EmulatorConfig(seed=7))
    await emulator.start()
    state = emulator.state
    business = Business(id=state.ids.next(), name="Tienda", access_token="token")
    waba = Waba(
        id=state.ids.next(),
        business_id=business.id,
        name="Tienda",
        subscribed_apps=[{"whatsapp_business_api_data": {"id": "1", "name": "Ovillo"}}],
    )
    number = PhoneNumber(
        id=state.ids.next(),
        waba_id=waba.id,
        display_phone_number="+52 55 5000 0000",
        verified_name="Tienda",
        webhook_url=receiver.url,
        app_secret=receiver.app_secret,
    )
    state.businesses[business.id] = business
    state.wabas[waba.id] = waba
    state.phone_numbers[number.id] = number
    try:
        yield World(emulator, number, receiver)
    finally:
        await emulator.stop()


def chatty(world: World, wa_id: str = CUSTOMER) -> Any:
    customer = get_or_create_customer(world.emulator, wa_id)
    persona = builtin_persona("chatty")
    assert persona is not None
    apply_persona(world.emulator, customer, persona)
    return customer


async def test_a_chatty_customer_answers_after_its_delay(world: World) -> None:
    customer = chatty(world)
    sent = world.sent(CUSTOMER, "text", {"body": "Hello from the shop"})
    on_message_delivered(world.emulator, world.number, customer, sent)
    await asyncio.sleep(0.05)
    assert world.receiver.snapshot() == []  # 20 s of emulator time have not passed
    await world.emulator.advance(customer.persona.reply_delay)
    (received,) = await world.arrivals(1)
    reply = only_message(received)
    assert reply["text"]["body"] == customer.persona.reply_texts[0]
    assert (
        customer.last_inbound_at[world.number.id]
        == world.emulator.state.inbound[reply["id"]].timestamp
    )
    assert pywa_parse(received.body).text == customer.persona.reply_texts[0]


async def test_a_tap_answers_reply_buttons_with_the_message_as_context(world: World) -> None:
    customer = chatty(world)
    sent = world.sent(
        CUSTOMER,
        "interactive",
        {
            "type": "button",
            "body": {"text": "Confirm?"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "yes-1", "title": "Yes"}},
                    {"type": "reply", "reply": {"id": "no-1", "title": "No"}},
                ]
            },
        },
    )
    on_message_delivered(world.emulator, world.number, customer, sent)
    await world.emulator.advance(customer.persona.reply_delay)
    (received,) = await world.arrivals(1)
    tap = only_message(received)
    assert tap["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "yes-1", "title": "Yes"},
    }
    assert tap["context"] == {"from": "525550000000", "id": sent.id}
    ours_parse(received.body)
    update = pywa_parse(received.body)
    assert isinstance(update, pywa_types.CallbackButton)
    assert update.data == "yes-1"
    assert update.reply_to_message is not None
    assert update.reply_to_message.id == sent.id


async def test_a_tap_on_a_list_picks_its_first_row(world: World) -> None:
    customer = chatty(world)
    sent = world.sent(
        CUSTOMER,
        "interactive",
        {
            "type": "list",
            "body": {"text": "Pick"},
            "action": {
                "button": "Menu",
                "sections": [
                    {"title": "Food", "rows": [{"id": "r1", "title": "Tacos", "description": "3"}]}
                ],
            },
        },
    )
    on_message_delivered(world.emulator, world.number, customer, sent)
    await world.emulator.advance(customer.persona.reply_delay)
    (received,) = await world.arrivals(1)
    ours_parse(received.body)
    update = pywa_parse(received.body)
    assert isinstance(update, pywa_types.CallbackSelection)
    assert (update.data, update.title, update.description) == ("r1", "Tacos", "3")


@pytest.mark.parametrize(
    ("send_payload", "expected_payload"),
    [
        pytest.param("TRACK-A1", "TRACK-A1", id="payload given at send"),
        pytest.param(None, "Track", id="no payload: the button text"),
    ],
)
async def test_a_tap_on_a_template_quick_reply_is_a_button_message(
    world: World, send_payload: str | None, expected_payload: str
) -> None:
    customer = chatty(world)
    world.emulator.state.templates["55"] = Template(
        id="55",
        waba_id=world.number.waba_id,
        name="order_update",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[
            {"type": "BODY", "text": "Your order shipped."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Open", "url": "https://ex.com"},
                    {"type": "QUICK_REPLY", "text": "Track"},
                ],
            },
        ],
    )
    components: list[dict[str, Any]] = []
    if send_payload is not None:
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": "1",
                "parameters": [{"type": "payload", "payload": send_payload}],
            }
        )
    sent = world.sent(
        CUSTOMER,
        "template",
        {"name": "order_update", "language": {"code": "en_US"}, "components": components},
        template_name="order_update",
        template_language="en_US",
    )
    on_message_delivered(world.emulator, world.number, customer, sent)
    await world.emulator.advance(customer.persona.reply_delay)
    (received,) = await world.arrivals(1)
    tap = only_message(received)
    assert tap["type"] == "button"
    assert tap["button"] == {"payload": expected_payload, "text": "Track"}
    assert tap["context"]["id"] == sent.id
    ours_parse(received.body)
    update = pywa_parse(received.body)
    assert isinstance(update, pywa_types.CallbackButton)
    assert update.is_quick_reply
    assert update.data == expected_payload


async def test_messages_without_buttons_have_no_tap(world: World) -> None:
    sent = world.sent(CUSTOMER, "text", {"body": "hi"})
    assert first_button_answer(world.emulator, world.number, sent) is None
    cta = world.sent(CUSTOMER, "interactive", {"type": "cta_url", "action": {"name": "cta_url"}})
    assert first_button_answer(world.emulator, world.number, cta) is None


async def test_quiet_personas_and_reactions_get_no_answer(world: World) -> None:
    pending = world.emulator.scheduler.pending()
    quiet = get_or_create_customer(world.emulator, CUSTOMER)
    on_message_delivered(world.emulator, world.number, quiet, world.sent(CUSTOMER, "text", {}))
    talker = chatty(world, "5215500000002")
    reaction = world.sent(talker.wa_id, "reaction", {"message_id": "wamid.x", "emoji": "👍"})
    on_message_delivered(world.emulator, world.number, talker, reaction)
    assert world.emulator.scheduler.pending() == pending


async def test_a_persona_stops_answering_at_its_daily_limit(world: World) -> None:
    customer = chatty(world)
    customer.persona.max_replies_per_day = 2
    for _ in range(3):
        on_message_delivered(
            world.emulator, world.number, customer, world.sent(CUSTOMER, "text", {"body": "x"})
        )
    await world.emulator.advance(customer.persona.reply_delay)
    await world.arrivals(2)
    assert len(world.emulator.state.inbound) == 2
    await world.emulator.advance(86_400)
    on_message_delivered(
        world.emulator, world.number, customer, world.sent(CUSTOMER, "text", {"body": "x"})
    )
    await world.emulator.advance(customer.persona.reply_delay)
    await world.arrivals(3)


async def test_a_reset_forgets_pending_answers(world: World) -> None:
    customer = chatty(world)
    on_message_delivered(
        world.emulator, world.number, customer, world.sent(CUSTOMER, "text", {"body": "x"})
    )
    await world.emulator.reset()
    await world.emulator.advance(3600)
    assert world.emulator.state.inbound == {}


def test_delivery_and_read_follow_the_persona() -> None:
    emulator = Emulator(config=EmulatorConfig(seed=3))
    customer = get_or_create_customer(emulator, CUSTOMER)
    now = emulator.clock.now()
    assert delivery_due_at(customer, sent_at=now) == now + timedelta(seconds=1)
    assert read_due_at(customer, delivered_at=now) == now + timedelta(seconds=5)
    for name, delivers, reads in (("silent", True, False), ("unreachable", False, False)):
        persona = builtin_persona(name)
        assert persona is not None
        apply_persona(emulator, customer, persona)
        assert (delivery_due_at(customer, sent_at=now) is not None) is delivers
        assert (read_due_at(customer, delivered_at=now) is not None) is reads
    offline = builtin_persona("offline")
    assert offline is not None
    apply_persona(emulator, customer, offline)
    assert customer.on_whatsapp
    assert customer.offline_until is not None
    due = delivery_due_at(customer, sent_at=now)
    assert due == customer.offline_until + timedelta(seconds=offline.delivery_delay)
    later = customer.offline_until + timedelta(hours=1)
    assert delivery_due_at(customer, sent_at=later) == later + timedelta(seconds=1)
    apply_persona(emulator, customer, Persona(name="gone", online=False))
    assert delivery_due_at(customer, sent_at=now) is None  # offline with no end


def test_customers_are_found_by_any_form_of_their_number_or_bsuid() -> None:
    from ovillo.emulator.customers import find_customer
    from ovillo.rules.phone import InvalidPhoneNumber

    emulator = Emulator(config=EmulatorConfig(seed=3))
    customer = get_or_create_customer(emulator, "+52 55 1234 5678")
    assert customer.wa_id == CUSTOMER
    for form in (CUSTOMER, "+52 1 55 1234 5678", "+525512345678", customer.user_id):
        assert find_customer(emulator, form) is customer
        assert get_or_create_customer(emulator, form) is customer
    assert find_customer(emulator, "US.999") is None
    assert find_customer(emulator, "nonsense") is None
    stranger = get_or_create_customer(emulator, "BR.12345")
    assert stranger.user_id == "BR.12345"
    assert stranger.country == "BR"
    assert stranger.wa_id.startswith("55")
    with pytest.raises(InvalidPhoneNumber):
        get_or_create_customer(emulator, "12")
    same_seed = Emulator(config=EmulatorConfig(seed=3))
    assert get_or_create_customer(same_seed, CUSTOMER).name == customer.name


async def test_deliver_inbound_refuses_what_meta_would_not_emit(world: World) -> None:
    from ovillo.emulator.customers import CustomerInputError

    customer = get_or_create_customer(world.emulator, CUSTOMER)
    with pytest.raises(CustomerInputError, match="image"):
        deliver_inbound(world.emulator, world.number, customer, {"type": "image", "image": {}})
    with pytest.raises(CustomerInputError, match=r"interactive\.type"):
        deliver_inbound(
            world.emulator,
            world.number,
            customer,
            {"type": "interactive", "interactive": {"type": "button_reply"}},
        )
    assert world.emulator.state.inbound == {}
    assert customer.last_inbound_at == {}


async def test_a_chatty_customer_taps_a_button_the_business_sent(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await control.put(f"/_emulator/customers/{CUSTOMER}/persona", json={"name": "chatty"})
    await write_in(control, wired_number, type="text", text={"body": "menu?"})  # opens the window
    response = await control.post(
        f"/v23.0/{wired_number.phone_number_id}/messages",
        headers=wired_number.auth,
        json={
            "messaging_product": "whatsapp",
            "to": CUSTOMER,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Pickup or delivery?"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "pickup", "title": "Pickup"}},
                        {"type": "reply", "reply": {"id": "delivery", "title": "Delivery"}},
                    ]
                },
            },
        },
    )
    assert response.status_code == 200, response.text
    wamid = response.json()["messages"][0]["id"]
    await control.post("/_emulator/clock/advance", json={"seconds": 5})  # delivered
    receiver.wait_for(lambda _: any(s["status"] == "delivered" for s in receiver.statuses()))
    await control.post("/_emulator/clock/advance", json={"seconds": 30})  # the tap
    receiver.wait_for(lambda _: len(receiver.messages()) == 2)
    tap_webhook = next(r for r in receiver.snapshot() if "interactive" in str(r.value))
    update = pywa_parse(tap_webhook.body)
    assert isinstance(update, pywa_types.CallbackButton)
    assert update.data == "pickup"
    assert update.reply_to_message is not None
    assert update.reply_to_message.id == wamid
