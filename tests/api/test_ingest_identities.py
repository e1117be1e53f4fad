"""Who a webhook names: a number change, a new BSUID, a user known by BSUID alone, and a
batch of many new customers at once."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event, select

from ovillo.channels import webhooks as webhook_log
from ovillo.channels.models import WebhookEvent
from ovillo.cloudapi.webhooks import datetime_to_unix_seconds
from ovillo.contacts.models import Contact
from ovillo.inbox.models import Conversation, Message
from ovillo.rules import phone
from ovillo.server import PlatformServer
from tests.api.ingesting import (
    Ingestion,
    encode,
    envelope,
    messages_value,
    post_signed,
    status_item,
    status_payload,
    text_payload,
)

OLD_NUMBER = "5215512349001"
NEW_NUMBER = "5215512349002"
BSUID = "MX.7730194420118834"


def e164(wa_id: str) -> str:
    return phone.normalize(wa_id).e164


async def _customer_writes(
    emulator_http: httpx.AsyncClient, number: dict[str, Any], wa_id: str, **message: Any
) -> str:
    sent = await emulator_http.post(
        f"/_emulator/customers/{wa_id}/messages",
        json={"phone_number_id": number["phone_number_id"], **message},
    )
    assert sent.status_code == 201, sent.text
    wamid: str = sent.json()["id"]
    return wamid


async def _stored(ingestion: Ingestion, *wamids: str) -> None:
    async def all_there() -> bool:
        return await ingestion.count(Message, Message.wamid.in_(wamids)) == len(wamids)

    await ingestion.settle(all_there, what=f"messages {wamids}")


async def test_a_number_change_moves_the_contact_and_keeps_its_conversation(
    emulator_http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    first = await _customer_writes(
        emulator_http, number, OLD_NUMBER, type="text", text={"body": "hola"}, name="Ana"
    )
    await _stored(ingestion, first)
    [before] = await ingestion.all(select(Contact))
    assert (before.wa_id, before.phone_e164) == (OLD_NUMBER, e164(OLD_NUMBER))
    old_bsuid = before.user_id
    assert old_bsuid

    notice = await _customer_writes(
        emulator_http,
        number,
        OLD_NUMBER,
        type="system",
        system={"type": "user_changed_number", "wa_id": NEW_NUMBER},
    )
    await _stored(ingestion, notice)
    [moved] = await ingestion.all(select(Contact))
    assert moved.id == before.id
    assert (moved.wa_id, moved.phone_e164, moved.country) == (NEW_NUMBER, e164(NEW_NUMBER), "MX")

    # The emulator, as Meta, gave the user a new BSUID with the number: their next message
    # names it, and the contact learns it.
    later = await _customer_writes(
        emulator_http, number, NEW_NUMBER, type="text", text={"body": "soy yo"}
    )
    await _stored(ingestion, later)
    customer = (await emulator_http.get(f"/_emulator/customers/{NEW_NUMBER}")).json()
    [after] = await ingestion.all(select(Contact))
    assert after.id == before.id
    assert after.user_id == customer["user_id"] != old_bsuid
    messages = await ingestion.all(select(Message).order_by(Message.seq))
    assert [m.wamid for m in messages] == [first, notice, later]
    assert {m.contact_id for m in messages} == {before.id}
    assert len({m.conversation_id for m in messages}) == 1
    summaries = [e.summary for e in await ingestion.events()]
    assert summaries[1] == {"identity_changes": 1, "messages": 1}


async def test_a_number_change_to_a_number_another_contact_has_moves_nothing(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    at = ingestion.now().replace(microsecond=0)
    await post_signed(
        http,
        text_payload(number, wa_id=OLD_NUMBER, wamid="wamid.A", body="a", at=at),
        secret=number["app_secret"],
    )
    await post_signed(
        http,
        text_payload(number, wa_id=NEW_NUMBER, wamid="wamid.B", body="b", at=at),
        secret=number["app_secret"],
    )
    change = {
        "from": OLD_NUMBER,
        "id": "wamid.CHANGE",
        "timestamp": datetime_to_unix_seconds(at),
        "type": "system",
        "system": {"body": "changed", "type": "user_changed_number", "wa_id": NEW_NUMBER},
    }
    await post_signed(
        http,
        envelope(number["waba_id"], "messages", messages_value(number, messages=[change])),
        secret=number["app_secret"],
    )
    await _stored(ingestion, "wamid.A", "wamid.B", "wamid.CHANGE")
    contacts = await ingestion.all(select(Contact).order_by(Contact.wa_id))
    assert [c.wa_id for c in contacts] == [OLD_NUMBER, NEW_NUMBER]


async def test_a_user_known_by_bsuid_alone_is_one_contact_when_the_number_shows(
    http: httpx.AsyncClient, number: dict[str, Any], ingestion: Ingestion
) -> None:
    """2026 shapes: ``from_user_id`` and a contact with ``user_id`` and no ``wa_id``, a
    status with ``recipient_user_id``; later the same user with both identifiers."""
    at = ingestion.now().replace(microsecond=0)
    by_username = messages_value(
        number,
        contacts=[{"profile": {"name": "Bob", "username": "@bob"}, "user_id": BSUID}],
        messages=[
            {
                "from_user_id": BSUID,
                "id": "wamid.U1",
                "timestamp": datetime_to_unix_seconds(at),
                "type": "text",
                "text": {"body": "hi by username"},
            }
        ],
    )
    answer = await post_signed(
        http, envelope(number["waba_id"], "messages", by_username), secret=number["app_secret"]
    )
    assert answer.status_code == 200, answer.text
    await _stored(ingestion, "wamid.U1")
    [contact] = await ingestion.all(select(Contact))
    assert (contact.wa_id, contact.user_id, contact.username) == (None, BSUID, "@bob")
    assert contact.country == "MX"

    await ingestion.outbound_message(number, wa_id=NEW_NUMBER, wamid="wamid.OUT")
    status = status_item("wamid.OUT", "delivered", at)
    del status["recipient_id"]
    status["recipient_user_id"] = BSUID
    await post_signed(http, status_payload(number, status), secret=number["app_secret"])

    both = text_payload(
        number, wa_id=OLD_NUMBER, wamid="wamid.U2", body="now with my number", at=at
    )
    value = both["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["user_id"] = BSUID
    value["messages"][0]["from_user_id"] = BSUID
    await post_signed(http, both, secret=number["app_secret"])
    await _stored(ingestion, "wamid.U2")

    async def delivered() -> bool:
        found = await ingestion.message("wamid.OUT")
        return found is not None and found.status == "delivered"

    await ingestion.settle(delivered, what="the status by BSUID")
    contacts = await ingestion.all(select(Contact).where(Contact.user_id == BSUID))
    assert [(c.id, c.wa_id, c.phone_e164) for c in contacts] == [
        (contact.id, OLD_NUMBER, e164(OLD_NUMBER))
    ]


async def test_a_batch_of_new_customers_inserts_their_contacts_in_one_statement(
    platform: PlatformServer, number: dict[str, Any], ingestion: Ingestion
) -> None:
    channel = await ingestion.platform_channel(number)
    at = ingestion.now().replace(microsecond=0)
    wa_ids = [f"52155123{5000 + i}" for i in range(30)]
    payloads = [
        text_payload(number, wa_id=wa_id, wamid=f"wamid.N{i}", body="hola", at=at)
        for i, wa_id in enumerate(wa_ids)
    ]
    # The same customer twice in the batch, the second time with a BSUID as well.
    twice = text_payload(number, wa_id=wa_ids[0], wamid="wamid.N-again", body="otra", at=at)
    twice["entry"][0]["changes"][0]["value"]["contacts"][0]["user_id"] = BSUID
    payloads.append(twice)
    events = [
        webhook_log.NewEvent(
            body=encode(payload),
            body_sha256=webhook_log.body_sha256(encode(payload)),
            workspace_id=channel.workspace_id,
            phone_number_id=channel.phone_number_id,
            received_at=ingestion.now(),
        )
        for payload in payloads
    ]
    async with ingestion.session() as session:
        await webhook_log.do_append_events(session=session, events=events)
        await session.commit()

    inserts: list[str] = []

    def count_inserts(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if (
            statement.lstrip()
            .upper()
            .startswith(("INSERT INTO CONTACT", "INSERT INTO CONVERSATION"))
        ):
            inserts.append(statement.split("(")[0].split()[-1].lower())

    # Ours and the embedded worker's: whichever applies the batch.
    engines = [r.engine.sync_engine for r in (ingestion.runtime, platform.runtime)]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count_inserts)
    try:

        async def applied() -> bool:
            pending = WebhookEvent.state == "pending"
            return await ingestion.count(WebhookEvent, pending) == 0

        await ingestion.settle(applied, what="the batch applied")
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count_inserts)
    contacts = await ingestion.all(select(Contact))
    assert sorted(c.wa_id for c in contacts) == sorted(wa_ids)
    assert [c.user_id for c in contacts if c.wa_id == wa_ids[0]] == [BSUID]
    assert await ingestion.count(Conversation) == len(wa_ids)
    assert await ingestion.count(Message) == len(payloads)
    # Logged in one commit, applied in one batch: one INSERT of each for 30 customers.
    assert inserts.count("contact") == 1
    assert inserts.count("conversation") == 1
