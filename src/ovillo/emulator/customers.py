"""Simulated customers: who they are, what they send, and how they behave.

A customer is created the first time a business sends to a ``wa_id`` or the customer writes
in (``get_or_create_customer``). It has a business-scoped user id (BSUID, Meta's 2026
identity), a profile name, a persona (delivers? reads? replies? after which delays?) and
the facts the send rules read: when it last wrote to each number (the customer-service
window), its Click-to-WhatsApp entries (the 72-hour free entry point), marketing opt-outs
(131050), blocks and reports (quality), and whether it is on WhatsApp at all (131026).

``deliver_inbound`` builds the inbound ``messages`` webhook exactly as Meta does (2026 shape:
every ``contacts[]`` entry carries ``user_id``), checks it against ``cloudapi.webhooks``'s
models, records it and queues it on the customer's webhook lane. Personas answer delivered
messages on the emulator clock (``on_message_delivered``); ``demo_customers`` gives a demo
number a few customers with varied personas who write in on their own.

The control API (``router``, under ``/_emulator``) lets tests and demos act as customers:
write in with any inbound type, block, report, opt out of marketing, drop off WhatsApp,
change persona, and look customers up.

Errors: ``CustomerInputError`` (a ``ValueError``) when what a customer would send cannot be
built; the control API answers it with 422 naming the field, and with 409 when the customer
cannot send now (not on WhatsApp, or has blocked the number).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import random
import secrets
import weakref
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from typing import Any, Literal

import phonenumbers
import structlog
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ovillo.cloudapi import webhooks as wire
from ovillo.emulator.control import emulator_of
from ovillo.emulator.emulator import Emulator
from ovillo.emulator.ids import new_bsuid, new_wamid
from ovillo.emulator.jobs import job_handler, schedule_job
from ovillo.emulator.media import get_media, store_media, webhook_sha256
from ovillo.emulator.state import (
    Customer,
    EmulatorState,
    FeedbackEvent,
    InboundMessage,
    Persona,
    PhoneNumber,
    ScheduledJob,
    SentMessage,
)
from ovillo.emulator.webhooks import messages_value
from ovillo.rules.phone import InvalidPhoneNumber, bsuid_country, country_of, is_bsuid, normalize

log = structlog.get_logger(__name__)

# A BSUID needs a country; numbers outside any country (+800, +882...) get this one.
FALLBACK_COUNTRY = "US"
MAX_DEMO_CUSTOMERS = 50
# Kinds of scheduled jobs (emulator.jobs): they survive a restart.
REPLY_JOB = "customer_reply"
DEMO_MESSAGE_JOB = "demo_message"


class CustomerInputError(ValueError):
    """What a customer would send cannot be built; the message names the field."""


# --- Who customers are ---------------------------------------------------------------------


# First names, then family names, by the language of the customer's country.
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "es": (
        ("Ana", "Lucía", "Sofía", "Valentina", "Camila", "Diego", "Mateo", "Santiago",
         "Javier", "Carlos", "María José", "Fernanda", "Andrés", "Pablo"),
        ("García", "Rodríguez", "Martínez", "López", "Hernández", "González", "Pérez",
         "Sánchez", "Ramírez", "Torres", "Flores", "Díaz", "Morales", "Castro"),
    ),
    "pt": (
        ("João", "Maria", "Ana", "Pedro", "Lucas", "Gabriel", "Júlia", "Beatriz", "Mariana",
         "Rafael", "Larissa", "Thiago"),
        ("Silva", "Santos", "Oliveira", "Souza", "Lima", "Pereira", "Costa", "Ferreira",
         "Almeida", "Ribeiro"),
    ),
    "en": (
        ("James", "Emma", "Olivia", "Liam", "Noah", "Ava", "Mia", "Ethan", "Grace", "Chloe",
         "Daniel", "Priya", "Wei", "Amara"),
        ("Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Davis", "Clark", "Walker",
         "Patel", "Nguyen", "Okafor"),
    ),
}  # fmt: skip
_SPANISH = frozenset(
    {"AR", "BO", "CL", "CO", "CR", "CU", "DO", "EC", "ES", "GT", "HN", "MX", "NI", "PA", "PE",
     "PR", "PY", "SV", "UY", "VE"}
)  # fmt: skip
_PORTUGUESE = frozenset({"AO", "BR", "MZ", "PT"})


def language_of(country: str | None) -> str:
    """The language simulated customers of ``country`` write in: "es", "pt" or "en"."""
    if country in _SPANISH:
        return "es"
    if country in _PORTUGUESE:
        return "pt"
    return "en"


def _rng(emulator: Emulator, *parts: str) -> random.Random:
    # Seeded per customer: the same seed and number give the same person, run after run.
    return random.Random(f"{emulator.config.seed}:{':'.join(parts)}")


def plausible_name(emulator: Emulator, wa_id: str, country: str | None) -> str:
    """A profile name that fits the customer's country, stable for one seed and ``wa_id``."""
    first_names, last_names = _NAMES[language_of(country)]
    # Two picks from one keyed hash: seeding a `random.Random` from a string (what `_rng`
    # does) cost more than the rest of making a customer, and a campaign makes a thousand a
    # second.
    seed = f"{emulator.config.seed}:name:{wa_id}".encode()
    picks = int.from_bytes(hashlib.blake2b(seed, digest_size=16).digest(), "big")
    first = first_names[(picks >> 64) % len(first_names)]
    return f"{first} {last_names[(picks & 0xFFFFFFFFFFFFFFFF) % len(last_names)]}"


def _invent_wa_id(emulator: Emulator, country: str | None) -> str:
    """An unused, possible mobile ``wa_id`` in ``country`` (for BSUID-only and demo users)."""
    region = country if country in phonenumbers.SUPPORTED_REGIONS else FALLBACK_COUNTRY
    example = phonenumbers.example_number_for_type(
        region, phonenumbers.PhoneNumberType.MOBILE
    ) or phonenumbers.example_number_for_type(FALLBACK_COUNTRY, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None
    national = str(example.national_number)
    keep = max(len(national) - 6, 1)
    for _ in range(1000):
        tail = "".join(str(secrets.randbelow(10)) for _ in range(len(national) - keep))
        candidate = f"+{example.country_code}{national[:keep]}{tail}"
        try:
            wa_id = normalize(candidate).wa_id
        except InvalidPhoneNumber:
            continue
        if wa_id not in emulator.state.customers:
            return wa_id
    raise RuntimeError(f"could not invent an unused wa_id in {region}")


# emulator -> (its state, BSUID -> customer). Customers are stored by wa_id only, and other
# modules add them and change their BSUIDs directly, so a hit is checked and a miss rebuilds
# the index: a known BSUID costs a dict lookup, an unknown one (refused with 131009) a scan.
_BY_USER_ID: weakref.WeakKeyDictionary[Emulator, tuple[EmulatorState, dict[str, Customer]]] = (
    weakref.WeakKeyDictionary()
)


def _find_by_user_id(emulator: Emulator, user_id: str) -> Customer | None:
    state = emulator.state
    known = _BY_USER_ID.get(emulator)
    if known is not None and known[0] is state:
        found = known[1].get(user_id)
        if (
            found is not None
            and found.user_id == user_id
            and state.customers.get(found.wa_id) is found
        ):
            return found
    index: dict[str, Customer] = {}
    for customer in state.customers.values():
        index.setdefault(customer.user_id, customer)  # the oldest, should two share one
    _BY_USER_ID[emulator] = (state, index)
    return index.get(user_id)


def find_customer(emulator: Emulator, recipient: str) -> Customer | None:
    """The customer known by ``recipient``: a ``wa_id``, a phone number or a BSUID.

    Never raises; an unknown or unparsable recipient gives None.
    """
    customers = emulator.state.customers
    found = customers.get(recipient)
    if found is not None:
        return found
    if is_bsuid(recipient):
        return _find_by_user_id(emulator, recipient)
    try:
        wa_id = normalize(recipient).wa_id
    except InvalidPhoneNumber:
        return None
    return customers.get(wa_id)


def get_or_create_customer(
    emulator: Emulator,
    wa_id_or_user_id: str,
    *,
    name: str | None = None,
    country: str | None = None,
) -> Customer:
    """The customer known by ``wa_id_or_user_id``, created on first contact.

    A phone number in any form is normalised to its ``wa_id`` (``rules.phone``); a new
    customer gets a BSUID of its country, a plausible profile name (or ``name``) and the
    default persona, and is on WhatsApp. A BSUID nobody has yet makes a customer with an
    invented ``wa_id`` in the BSUID's country; callers that must refuse unknown BSUIDs, as
    Meta does, call ``find_customer`` first.

    Raises ``rules.phone.InvalidPhoneNumber`` (a ValueError) when the input is neither a
    possible phone number nor a BSUID.
    """
    customers = emulator.state.customers
    existing = customers.get(wa_id_or_user_id)
    if existing is not None:
        return existing
    if is_bsuid(wa_id_or_user_id):
        existing = find_customer(emulator, wa_id_or_user_id)
        if existing is not None:
            return existing
        country = country or bsuid_country(wa_id_or_user_id)
        wa_id = _invent_wa_id(emulator, country)
        user_id = wa_id_or_user_id
    else:
        # Parsed once, here: `find_customer` would parse the same input again.
        parsed = normalize(wa_id_or_user_id)
        existing = customers.get(parsed.wa_id)
        if existing is not None:
            return existing
        wa_id = parsed.wa_id
        country = country or parsed.country
        user_id = new_bsuid(country or FALLBACK_COUNTRY)
    customer = Customer(
        wa_id=wa_id,
        user_id=user_id,
        name=name or plausible_name(emulator, wa_id, country),
        country=country,
        created_at=emulator.clock.now(),
    )
    emulator.state.customers[wa_id] = customer
    emulator.state.touch(customer)
    return customer


def contact_entry(customer: Customer) -> dict[str, Any]:
    """The customer's ``contacts[]`` entry in a webhook (2026: ``user_id`` always present)."""
    profile: dict[str, Any] = {"name": customer.name}
    if customer.username:
        profile["username"] = customer.username
    return {"profile": profile, "wa_id": customer.wa_id, "user_id": customer.user_id}


# --- Personas ------------------------------------------------------------------------------


def _builtin_personas() -> dict[str, Persona]:
    return {
        "default": Persona(),
        # Receipts off, or never opens the chat: delivered, never read.
        "silent": Persona(name="silent", reads=False),
        # Phone off for six hours: messages wait, then deliver and get read.
        "offline": Persona(name="offline", online=False, offline_for=6 * 3600, read_delay=60),
        "chatty": Persona(
            name="chatty",
            read_delay=3,
            replies=True,
            reply_delay=20,
            reply_texts=[
                "Thanks! Can you tell me more?",
                "Great, what are the prices?",
                "Perfect 👍",
                "When can I pick it up?",
            ],
            taps_first_button=True,
        ),
        "unreachable": Persona(name="unreachable", delivers=False, reads=False, on_whatsapp=False),
    }


BUILTIN_PERSONA_NAMES: tuple[str, ...] = tuple(_builtin_personas())


def builtin_persona(name: str) -> Persona | None:
    """A fresh copy of the built-in persona ``name``, or None if there is none."""
    return _builtin_personas().get(name)


def apply_persona(emulator: Emulator, customer: Customer, persona: Persona) -> None:
    """Give ``customer`` ``persona``: its WhatsApp presence and its phone's offline spell."""
    customer.persona = persona
    customer.on_whatsapp = persona.on_whatsapp
    emulator.state.touch(customer)
    if not persona.online and persona.offline_for > 0:
        customer.offline_until = emulator.clock.now() + timedelta(seconds=persona.offline_for)
    else:
        customer.offline_until = None


def delivery_due_at(customer: Customer, *, sent_at: datetime) -> datetime | None:
    """When a message sent at ``sent_at`` reaches the customer's phone; None if it never does.

    Not on WhatsApp or a persona that never delivers: never. An offline persona's messages
    wait until its phone is back (``offline_until``; offline with no end: never).
    """
    persona = customer.persona
    if not customer.on_whatsapp or not persona.delivers:
        return None
    start = sent_at
    if not persona.online:
        if customer.offline_until is None:
            return None
        start = max(start, customer.offline_until)
    return start + timedelta(seconds=persona.delivery_delay)


def read_due_at(customer: Customer, *, delivered_at: datetime) -> datetime | None:
    """When a message delivered at ``delivered_at`` is read; None if the persona never reads."""
    if not customer.persona.reads:
        return None
    return delivered_at + timedelta(seconds=customer.persona.read_delay)


def opted_out_of_marketing(customer: Customer, phone_number_id: str) -> bool:
    """Whether the customer stopped marketing messages from this number (131050 at send)."""
    return phone_number_id in customer.marketing_opt_outs


def customer_feedback(emulator: Emulator, phone_number_id: str, since: datetime) -> tuple[int, int]:
    """(blocks, reports) customers gave ``phone_number_id`` at or after ``since``."""
    blocks = reports = 0
    for customer in emulator.state.customers.values():
        for event in customer.feedback:
            if event.phone_number_id != phone_number_id or event.at < since:
                continue
            if event.kind == "block":
                blocks += 1
            elif event.kind == "report":
                reports += 1
    return blocks, reports


# --- Inbound messages ----------------------------------------------------------------------


_MESSAGE_MODELS: dict[str, type[wire.InboundMessageBase]] = {
    "text": wire.TextMessage,
    "image": wire.ImageMessage,
    "video": wire.VideoMessage,
    "audio": wire.AudioMessage,
    "document": wire.DocumentMessage,
    "sticker": wire.StickerMessage,
    "location": wire.LocationMessage,
    "contacts": wire.ContactsMessage,
    "interactive": wire.InteractiveMessage,
    "button": wire.ButtonMessage,
    "reaction": wire.ReactionMessage,
    "order": wire.OrderMessage,
    "system": wire.SystemMessage,
    "unsupported": wire.UnsupportedMessage,
}
INBOUND_TYPES: tuple[str, ...] = tuple(_MESSAGE_MODELS)
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or '(root)'}: {detail['msg']}"
        for detail in error.errors(include_url=False, include_input=False)[:3]
    )


def _check_emitted(message: dict[str, Any], value: dict[str, Any]) -> None:
    """Refuse to emit anything ``cloudapi.webhooks`` would not read as this message type."""
    kind = message.get("type")
    model = _MESSAGE_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise CustomerInputError(f"type: must be one of {', '.join(INBOUND_TYPES)}")
    try:
        model.model_validate(message)
    except ValidationError as error:
        raise CustomerInputError(_describe(error)) from None
    if kind == "interactive" and isinstance(
        wire.InteractiveMessage.model_validate(message).interactive, wire.UnknownInteractive
    ):
        raise CustomerInputError(
            "interactive.type: must be button_reply, list_reply or nfm_reply, with its object"
        )
    parsed = wire.parse_change_value(wire.WebhookField.MESSAGES, value)
    if isinstance(parsed, wire.UnknownChangeValue):
        raise CustomerInputError(f"webhook value: {parsed.parse_problem}")


def _display_digits(number: PhoneNumber) -> str:
    return "".join(ch for ch in number.display_phone_number if ch.isdigit())


def deliver_inbound(
    emulator: Emulator,
    number: PhoneNumber,
    customer: Customer,
    message: dict[str, Any],
    *,
    referral: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> InboundMessage:
    """``customer`` sends ``message`` (``{"type": t, t: {...}}``) to ``number``, as on Meta.

    Builds the ``messages`` webhook value (metadata, the customer's contact with its BSUID,
    the message with a new ``wamid`` and the emulator clock's Unix seconds), records the
    message, opens the customer-service window (any type but ``system``), records a
    Click-to-WhatsApp ``referral`` (free entry point), and queues the webhook on the
    customer's lane. Raises ``CustomerInputError`` when the result would not be a valid
    message of its type.
    """
    now = emulator.clock.now()
    kind = message.get("type")
    item: dict[str, Any] = {}
    if context is not None:
        item["context"] = context
    item.update(
        {
            "from": customer.wa_id,
            "id": new_wamid(customer.wa_id),
            "timestamp": wire.datetime_to_unix_seconds(now),
        }
    )
    item.update(message)
    if referral is not None:
        item["referral"] = referral
    system = message.get("system")
    # Meta sends a number change with no contacts: the old identity is gone.
    number_change = (
        kind == "system"
        and isinstance(system, dict)
        and (system.get("type") == "user_changed_number")
    )
    contacts = None if number_change else [contact_entry(customer)]
    value = messages_value(number, contacts=contacts, messages=[item])
    _check_emitted(item, value)

    if kind != "system":
        customer.last_inbound_at[number.id] = now
    if referral is not None:
        customer.referrals[number.id] = (now, referral)
    emulator.state.touch(customer)
    inbound = InboundMessage(
        id=item["id"],
        phone_number_id=number.id,
        from_wa_id=customer.wa_id,
        type=str(kind),
        payload=item,
        timestamp=now,
    )
    emulator.state.inbound[inbound.id] = inbound
    emulator.webhooks.send(number, "messages", value, lane_key=customer.wa_id)
    log.debug("customer_wrote_in", phone_number_id=number.id, type=kind, wamid=inbound.id)
    return inbound


# --- Personas answering --------------------------------------------------------------------


def _type_object(sent: SentMessage) -> dict[str, Any]:
    # The send handler keeps the request body; tolerate a payload that is only the object.
    inner = sent.payload.get(sent.type)
    return inner if isinstance(inner, dict) else sent.payload


def _template_buttons(emulator: Emulator, number: PhoneNumber, sent: SentMessage) -> list[Any]:
    template_object = _type_object(sent)
    name = sent.template_name or template_object.get("name")
    language = sent.template_language
    if language is None and isinstance(template_object.get("language"), dict):
        language = template_object["language"].get("code")
    for template in emulator.state.templates.values():
        if (template.waba_id, template.name, template.language) != (
            number.waba_id,
            name,
            language,
        ):
            continue
        for component in template.components:
            if str(component.get("type", "")).upper() == "BUTTONS":
                buttons = component.get("buttons")
                return buttons if isinstance(buttons, list) else []
    return []


def _quick_reply_payload(sent: SentMessage, index: int) -> str | None:
    components = _type_object(sent).get("components")
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict) or component.get("type") != "button":
            continue
        if str(component.get("sub_type", "")).lower() != "quick_reply":
            continue
        if str(component.get("index")) != str(index):
            continue
        for parameter in component.get("parameters") or []:
            if isinstance(parameter, dict) and parameter.get("type") == "payload":
                payload = parameter.get("payload")
                return str(payload) if payload is not None else None
    return None


def first_button_answer(
    emulator: Emulator, number: PhoneNumber, sent: SentMessage
) -> dict[str, Any] | None:
    """The message a customer sends by tapping the first choice of ``sent``, if it has one.

    Reply buttons give an ``interactive`` ``button_reply``, a list its first row's
    ``list_reply``, a template's first QUICK_REPLY button a ``button`` message whose
    ``payload`` is the one the send gave that button (Meta falls back to the button's text
    when none was given; unverified).
    """
    if sent.type == "interactive":
        interactive = _type_object(sent)
        action = interactive.get("action") if isinstance(interactive.get("action"), dict) else {}
        assert isinstance(action, dict)
        if interactive.get("type") == "button":
            for button in action.get("buttons") or []:
                reply = button.get("reply") if isinstance(button, dict) else None
                if isinstance(reply, dict) and "id" in reply and "title" in reply:
                    answer = {"id": str(reply["id"]), "title": str(reply["title"])}
                    return {
                        "type": "interactive",
                        "interactive": {"type": "button_reply", "button_reply": answer},
                    }
        if interactive.get("type") == "list":
            for section in action.get("sections") or []:
                rows = section.get("rows") if isinstance(section, dict) else None
                for row in rows or []:
                    if isinstance(row, dict) and "id" in row and "title" in row:
                        chosen = {"id": str(row["id"]), "title": str(row["title"])}
                        if row.get("description"):
                            chosen["description"] = str(row["description"])
                        return {
                            "type": "interactive",
                            "interactive": {"type": "list_reply", "list_reply": chosen},
                        }
        return None
    if sent.type == "template":
        for index, button in enumerate(_template_buttons(emulator, number, sent)):
            if isinstance(button, dict) and str(button.get("type", "")).upper() == "QUICK_REPLY":
                text = str(button.get("text", ""))
                payload = _quick_reply_payload(sent, index)
                return {"type": "button", "button": {"payload": payload or text, "text": text}}
    return None


def on_message_delivered(
    emulator: Emulator, number: PhoneNumber, customer: Customer, sent: SentMessage
) -> None:
    """A business message reached ``customer``: a replying persona answers it later.

    Called by the send pipeline when ``sent`` becomes ``delivered``. The answer, after the
    persona's ``reply_delay``, taps the first button when the persona does and the message
    has one (``context.id`` = the message's wamid), else is the next of ``reply_texts``.
    Reactions get no answer; a persona answers at most ``max_replies_per_day`` times a day.
    """
    persona = customer.persona
    if not persona.replies or sent.type == "reaction" or not customer.on_whatsapp:
        return
    if number.id in customer.blocked_numbers:
        return
    now = emulator.clock.now()
    customer.persona_replies[:] = [
        at for at in customer.persona_replies if now - at < timedelta(days=1)
    ]
    if len(customer.persona_replies) >= persona.max_replies_per_day:
        return
    answer = first_button_answer(emulator, number, sent) if persona.taps_first_button else None
    context: dict[str, Any] | None = None
    if answer is not None:
        context = {"from": _display_digits(number), "id": sent.id}
    elif persona.reply_texts:
        body = persona.reply_texts[len(customer.persona_replies) % len(persona.reply_texts)]
        answer = {"type": "text", "text": {"body": body}}
    else:
        return
    customer.persona_replies.append(now)
    emulator.state.touch(customer)
    # A job (emulator.jobs): a reply due when the emulator stops comes after it restarts.
    schedule_job(
        emulator,
        REPLY_JOB,
        now + timedelta(seconds=persona.reply_delay),
        {
            "phone_number_id": number.id,
            "wa_id": customer.wa_id,
            "message": answer,
            "context": context,
        },
    )


@job_handler(REPLY_JOB)
def _reply(emulator: Emulator, job: ScheduledJob) -> None:
    found = _job_parties(emulator, job)
    if found is None:
        return
    number, customer = found
    if number.id in customer.blocked_numbers or not customer.on_whatsapp:
        return
    deliver_inbound(
        emulator, number, customer, job.payload["message"], context=job.payload["context"]
    )


def _job_parties(emulator: Emulator, job: ScheduledJob) -> tuple[PhoneNumber, Customer] | None:
    """The number and customer a customer's job is about, unless either is gone."""
    number = emulator.state.phone_numbers.get(job.payload["phone_number_id"])
    customer = emulator.state.customers.get(job.payload["wa_id"])
    if number is None or customer is None:
        return None
    return number, customer


# --- Marketing preferences, blocks, reports ------------------------------------------------


def set_marketing_preference(
    emulator: Emulator, number: PhoneNumber, customer: Customer, *, stop: bool
) -> bool:
    """The customer taps "Stop promotions" (``stop``) or resumes them on ``number``'s chat.

    Sends Meta's ``user_preferences`` webhook when the preference changes (its shape is
    Meta's reference of May 2026; ``user_id`` added as on every 2026 contact). Returns
    whether it changed.
    """
    now = emulator.clock.now()
    if stop == (number.id in customer.marketing_opt_outs):
        return False
    if stop:
        customer.marketing_opt_outs[number.id] = now
    else:
        del customer.marketing_opt_outs[number.id]
    customer.opted_out_marketing = bool(customer.marketing_opt_outs)
    emulator.state.touch(customer)
    preference = {
        "wa_id": customer.wa_id,
        "user_id": customer.user_id,
        "detail": (
            "User requested to stop marketing messages"
            if stop
            else "User requested to resume marketing messages"
        ),
        "category": "marketing_messages",
        "value": "stop" if stop else "resume",
        "timestamp": int(now.timestamp()),
    }
    value = messages_value(number, contacts=[contact_entry(customer)])
    value["user_preferences"] = [preference]
    wire.UserPreferencesValue.model_validate(value)
    emulator.webhooks.send(number, "user_preferences", value, lane_key=customer.wa_id)
    return True


def record_feedback(
    emulator: Emulator, number: PhoneNumber, customer: Customer, kind: Literal["block", "report"]
) -> None:
    """The customer blocks or reports ``number``; Meta's quality rating counts it."""
    if kind == "block":
        customer.blocked_numbers.add(number.id)
    else:
        customer.reported_numbers.add(number.id)
    customer.feedback.append(
        FeedbackEvent(at=emulator.clock.now(), phone_number_id=number.id, kind=kind)
    )
    emulator.state.touch(customer)


# --- Demo customers ------------------------------------------------------------------------


_DEMO_PERSONAS = ("chatty", "default", "silent", "chatty", "offline", "default", "unreachable")
_OPENERS = {
    "es": ("Hola, ¿tienen envío a domicilio?", "Buenas, quiero información de precios",
           "Hola! Vi su anuncio, ¿sigue disponible?", "¿A qué hora abren mañana?"),
    "pt": ("Olá, vocês fazem entrega?", "Oi! Quero saber os preços",
           "Vi o anúncio, ainda está disponível?", "Que horas vocês abrem amanhã?"),
    "en": ("Hi, do you deliver?", "Hello! Could you send me your prices?",
           "Saw your ad, is it still available?", "What time do you open tomorrow?"),
}  # fmt: skip
_DEMO_FOLLOW_UP_EVERY = timedelta(hours=6)


def _demo_referral(number: PhoneNumber, index: int) -> dict[str, Any]:
    ad_id = str(120_200_000_000_000 + index)
    return {
        "source_url": f"https://fb.me/{secrets.token_hex(4)}",
        "source_id": ad_id,
        "source_type": "ad",
        "headline": f"{number.verified_name}: this week's offers",
        "body": "Message us on WhatsApp",
        "media_type": "image",
        "image_url": "https://scontent.example/ad.jpg",
        "ctwa_clid": secrets.token_urlsafe(48),
    }


def demo_customers(emulator: Emulator, number: PhoneNumber, count: int) -> list[Customer]:
    """``count`` new customers of ``number``'s country with varied personas who write in.

    Personas cycle through chatty, default, silent, offline and unreachable. Everyone on
    WhatsApp writes an opening message, a few seconds apart on the emulator clock, one in
    three arriving from a Click-to-WhatsApp ad; chatty ones write again every few hours.
    """
    country = country_of("".join(ch for ch in number.display_phone_number if ch.isdigit()))
    texts = _OPENERS[language_of(country)]
    created: list[Customer] = []
    for index in range(count):
        customer = get_or_create_customer(emulator, _invent_wa_id(emulator, country))
        persona = builtin_persona(_DEMO_PERSONAS[index % len(_DEMO_PERSONAS)])
        assert persona is not None
        apply_persona(emulator, customer, persona)
        created.append(customer)
        if not customer.on_whatsapp:
            continue
        referral = _demo_referral(number, index) if index % 3 == 0 else None
        opener = {"type": "text", "text": {"body": texts[index % len(texts)]}}
        _schedule_demo_message(
            emulator, number, customer, opener, 15.0 * (index + 1), referral=referral
        )
    return created


def _schedule_demo_message(
    emulator: Emulator,
    number: PhoneNumber,
    customer: Customer,
    message: dict[str, Any],
    delay: float,
    *,
    referral: dict[str, Any] | None = None,
) -> None:
    # A job (emulator.jobs): a demo customer keeps writing across restarts.
    schedule_job(
        emulator,
        DEMO_MESSAGE_JOB,
        emulator.clock.now() + timedelta(seconds=delay),
        {
            "phone_number_id": number.id,
            "wa_id": customer.wa_id,
            "message": message,
            "referral": referral,
        },
    )


@job_handler(DEMO_MESSAGE_JOB)
def _demo_message(emulator: Emulator, job: ScheduledJob) -> None:
    found = _job_parties(emulator, job)
    if found is None:
        return
    number, customer = found
    if customer.on_whatsapp and number.id not in customer.blocked_numbers:
        deliver_inbound(
            emulator, number, customer, job.payload["message"], referral=job.payload["referral"]
        )
    if customer.persona.replies:
        texts = customer.persona.reply_texts or ["Hi again!"]
        pick = _rng(emulator, "follow-up", customer.wa_id, str(emulator.clock.now()))
        follow_up = {"type": "text", "text": {"body": pick.choice(texts)}}
        _schedule_demo_message(
            emulator, number, customer, follow_up, _DEMO_FOLLOW_UP_EVERY.total_seconds()
        )


# --- Control API ---------------------------------------------------------------------------

router = APIRouter(prefix="/_emulator", tags=["customers"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MediaIn(_Strict):
    """Media a customer sends: an uploaded media ``id``, or the bytes inline."""

    id: str | None = None
    data_base64: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    caption: str | None = None
    voice: bool | None = Field(default=None, description="Audio only: a voice note.")
    animated: bool | None = Field(default=None, description="Sticker only.")


class ContextIn(_Strict):
    id: str | None = Field(default=None, description="The wamid the customer replies to.")
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None


class ReferralIn(_Strict):
    """A Click-to-WhatsApp ad or Page post the customer came from."""

    source_url: str
    source_id: str
    source_type: Literal["ad", "post"]
    headline: str | None = None
    body: str | None = None
    media_type: Literal["image", "video"] | None = None
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None


class CustomerMessageIn(_Strict):
    """What a customer sends, in Meta's inbound shapes (plus inline media)."""

    phone_number_id: str
    type: Literal[
        "text", "image", "video", "audio", "document", "sticker", "location", "contacts",
        "interactive", "button", "reaction", "order", "system", "unsupported",
    ]  # fmt: skip
    text: dict[str, Any] | None = None
    image: MediaIn | None = None
    video: MediaIn | None = None
    audio: MediaIn | None = None
    document: MediaIn | None = None
    sticker: MediaIn | None = None
    location: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    interactive: dict[str, Any] | None = None
    button: dict[str, Any] | None = None
    reaction: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    system: dict[str, Any] | None = None
    unsupported: dict[str, Any] | None = None
    referral: ReferralIn | None = None
    context: ContextIn | None = None
    name: str | None = Field(default=None, description="The customer's profile name.")
    user_id: str | None = Field(default=None, description="The customer's BSUID (new only).")
    username: str | None = None


class MessageAccepted(BaseModel):
    id: str
    webhook_queued: bool


class NumberIn(_Strict):
    phone_number_id: str


class PersonaIn(_Strict):
    """A built-in persona by ``name``, or any persona: given fields override the base."""

    name: str = "default"
    delivers: bool | None = None
    delivery_delay: float | None = Field(default=None, ge=0)
    reads: bool | None = None
    read_delay: float | None = Field(default=None, ge=0)
    online: bool | None = None
    offline_for: float | None = Field(default=None, ge=0)
    replies: bool | None = None
    reply_delay: float | None = Field(default=None, ge=0)
    reply_texts: list[str] | None = None
    taps_first_button: bool | None = None
    on_whatsapp: bool | None = None
    max_replies_per_day: int | None = Field(default=None, ge=0)


class PersonaOut(BaseModel):
    name: str
    delivers: bool
    delivery_delay: float
    reads: bool
    read_delay: float
    online: bool
    offline_for: float
    replies: bool
    reply_delay: float
    reply_texts: list[str]
    taps_first_button: bool
    on_whatsapp: bool
    max_replies_per_day: int


class ReferralEntry(BaseModel):
    at: datetime
    referral: dict[str, Any]


class FeedbackOut(BaseModel):
    at: datetime
    phone_number_id: str
    kind: str


class CustomerOut(BaseModel):
    wa_id: str
    user_id: str
    name: str
    username: str | None
    country: str | None
    persona: PersonaOut
    on_whatsapp: bool
    offline_until: datetime | None
    blocked_numbers: list[str]
    reported_numbers: list[str]
    marketing_opt_outs: dict[str, datetime]
    last_inbound_at: dict[str, datetime]
    referrals: dict[str, ReferralEntry]
    feedback: list[FeedbackOut]
    created_at: datetime | None

    @classmethod
    def of(cls, customer: Customer) -> CustomerOut:
        return cls(
            wa_id=customer.wa_id,
            user_id=customer.user_id,
            name=customer.name,
            username=customer.username,
            country=customer.country,
            persona=PersonaOut(**asdict(customer.persona)),
            on_whatsapp=customer.on_whatsapp,
            offline_until=customer.offline_until,
            blocked_numbers=sorted(customer.blocked_numbers),
            reported_numbers=sorted(customer.reported_numbers),
            marketing_opt_outs=dict(customer.marketing_opt_outs),
            last_inbound_at=dict(customer.last_inbound_at),
            referrals={
                number_id: ReferralEntry(at=at, referral=referral)
                for number_id, (at, referral) in customer.referrals.items()
            },
            feedback=[
                FeedbackOut(at=e.at, phone_number_id=e.phone_number_id, kind=e.kind)
                for e in customer.feedback
            ],
            created_at=customer.created_at,
        )


class DemoCustomersIn(_Strict):
    count: int = Field(default=5, ge=1, le=MAX_DEMO_CUSTOMERS)


def _number(emulator: Emulator, phone_number_id: str) -> PhoneNumber:
    number = emulator.state.phone_numbers.get(phone_number_id)
    if number is None:
        raise HTTPException(404, f"phone_number_id: no phone number {phone_number_id}")
    return number


def _customer_for_action(emulator: Emulator, wa_id: str) -> Customer:
    try:
        return get_or_create_customer(emulator, wa_id)
    except InvalidPhoneNumber as error:
        raise HTTPException(422, f"wa_id: {error}") from None


def _known_customer(emulator: Emulator, wa_id: str) -> Customer:
    customer = find_customer(emulator, wa_id)
    if customer is None:
        raise HTTPException(404, f"wa_id: no customer {wa_id}")
    return customer


def _reply_context(
    emulator: Emulator, number: PhoneNumber, customer: Customer, body: CustomerMessageIn
) -> dict[str, Any] | None:
    """Meta's ``context`` of a reply: ``from`` is whoever wrote the quoted message."""
    given = body.context
    needs_reply = body.type in ("interactive", "button")
    if given is None and not needs_reply:
        return None
    quoted = given.id if given is not None else None
    if quoted is None and needs_reply:
        # A tap always answers a business message: default to the latest one it got.
        latest = [
            m
            for m in emulator.state.sent.values()
            if m.phone_number_id == number.id and m.to == customer.wa_id
        ]
        if not latest:
            raise CustomerInputError(
                f"context.id: a {body.type} answer needs the wamid of the message it taps, "
                f"and {number.id} sent {customer.wa_id} nothing yet"
            )
        quoted = latest[-1].id
    context: dict[str, Any] = {}
    if quoted is not None:
        context["from"] = _author_of(emulator, number, quoted)
        context["id"] = quoted
    if given is not None:
        context.update(given.model_dump(exclude_none=True, exclude={"id"}))
    return context


def _author_of(
    emulator: Emulator, number: PhoneNumber, wamid: str, *, field: str = "context.id"
) -> str:
    sent = emulator.state.sent.get(wamid)
    if sent is not None and sent.phone_number_id == number.id:
        return _display_digits(number)
    inbound = emulator.state.inbound.get(wamid)
    if inbound is not None and inbound.phone_number_id == number.id:
        return inbound.from_wa_id
    raise CustomerInputError(f"{field}: no message {wamid} in a chat with {number.id}")


def _media_object(
    emulator: Emulator, number: PhoneNumber, kind: str, given: MediaIn
) -> dict[str, Any]:
    if (given.id is None) == (given.data_base64 is None):
        raise CustomerInputError(f"{kind}: give either id or data_base64 (with mime_type)")
    if given.id is not None:
        media = get_media(emulator, given.id)
        if media is None:
            raise CustomerInputError(f"{kind}.id: no media {given.id}")
    else:
        if not given.mime_type:
            raise CustomerInputError(f"{kind}.mime_type: required with data_base64")
        try:
            data = base64.b64decode(given.data_base64 or "", validate=True)
        except (binascii.Error, ValueError):
            raise CustomerInputError(f"{kind}.data_base64: not valid base64") from None
        if not data:
            raise CustomerInputError(f"{kind}.data_base64: empty")
        media = store_media(emulator, number.id, data, given.mime_type, given.filename)
    expected = "image/webp" if kind == "sticker" else f"{kind}/"
    if kind != "document" and not media.mime_type.startswith(expected):
        raise CustomerInputError(f"{kind}.mime_type: {media.mime_type} is not a {kind} type")
    shaped: dict[str, Any] = {
        "mime_type": media.mime_type,
        "sha256": webhook_sha256(media),
        "id": media.id,
    }
    if kind in ("image", "video", "document") and given.caption is not None:
        shaped["caption"] = given.caption
    if kind == "document":
        shaped["filename"] = given.filename or media.filename or "document"
    if kind == "audio" and given.voice is not None:
        shaped["voice"] = given.voice
    if kind == "sticker":
        shaped["animated"] = bool(given.animated)
    return shaped


def _system_object(customer: Customer, given: dict[str, Any]) -> dict[str, Any]:
    kind = given.get("type")
    if kind == "user_changed_number":
        new = given.get("wa_id") or given.get("new_wa_id")
        if not isinstance(new, str):
            raise CustomerInputError("system.wa_id: the customer's new number is required")
        try:
            new_wa_id = normalize(new).wa_id
        except InvalidPhoneNumber as error:
            raise CustomerInputError(f"system.wa_id: {error}") from None
        body = given.get("body") or (
            f"User {customer.name} changed from {customer.wa_id} to {new_wa_id}"
        )
        return {"body": body, "wa_id": new_wa_id, "type": "user_changed_number"}
    if kind == "customer_identity_changed":
        body = given.get("body") or f"{customer.name}'s security code changed."
        return {"body": body, "type": kind, "customer": customer.wa_id}
    raise CustomerInputError(
        "system.type: must be user_changed_number or customer_identity_changed"
    )


def _inbound_message(
    emulator: Emulator, number: PhoneNumber, customer: Customer, body: CustomerMessageIn
) -> dict[str, Any]:
    """The message object (``type`` and its object) for what the control API was given."""
    for other in INBOUND_TYPES:
        if other != body.type and getattr(body, other) is not None:
            raise CustomerInputError(f"{other}: given, but type is {body.type!r}")
    given = getattr(body, body.type)
    message: dict[str, Any] = {"type": body.type}
    if body.type == "unsupported":
        detail = given if isinstance(given, dict) else {"type": "poll"}
        message["unsupported"] = detail
        message["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
        return message
    if given is None:
        raise CustomerInputError(f"{body.type}: required for a {body.type!r} message")
    if body.type in MEDIA_TYPES:
        assert isinstance(given, MediaIn)
        message[body.type] = _media_object(emulator, number, body.type, given)
    elif body.type == "system":
        message["system"] = _system_object(customer, given)
        if message["system"]["type"] == "customer_identity_changed":
            created = int(emulator.clock.now().timestamp())
            message["identity"] = {
                "acknowledged": True,
                "created_timestamp": created,
                "hash": secrets.token_urlsafe(8),
            }
    elif body.type == "reaction":
        target = given.get("message_id")
        if not isinstance(target, str):
            raise CustomerInputError("reaction.message_id: required")
        _author_of(emulator, number, target, field="reaction.message_id")
        message["reaction"] = given
    else:
        message[body.type] = given
    return message


def _after_number_change(emulator: Emulator, customer: Customer, message: dict[str, Any]) -> None:
    system = message.get("system") or {}
    if system.get("type") != "user_changed_number":
        return
    customers = emulator.state.customers
    emulator.state.touch(customer)  # the store then drops the old number's row
    customers.pop(customer.wa_id, None)
    customer.wa_id = system["wa_id"]
    # The BSUID changes with the number (Meta, "Business-scoped user IDs").
    customer.user_id = new_bsuid(customer.country or FALLBACK_COUNTRY)
    customers[customer.wa_id] = customer
    emulator.state.touch(customer)


def _queued(emulator: Emulator, action: Any) -> tuple[Any, bool]:
    # `send` enqueues synchronously, so the backlog grows by one exactly when it queued.
    before = emulator.webhooks.backlog()
    result = action()
    return result, emulator.webhooks.backlog() > before


@router.post("/customers/{wa_id}/messages", status_code=201)
async def customer_sends(wa_id: str, body: CustomerMessageIn, request: Request) -> MessageAccepted:
    """The customer writes to a business number; its ``messages`` webhook is queued."""
    emulator = emulator_of(request)
    number = _number(emulator, body.phone_number_id)
    if body.user_id is not None and not is_bsuid(body.user_id):
        raise HTTPException(422, "user_id: not a BSUID (country, '.', letters and digits)")
    customer = find_customer(emulator, wa_id)
    if customer is None:
        if is_bsuid(wa_id):
            raise HTTPException(404, f"wa_id: no customer {wa_id}")
        customer = _customer_for_action(emulator, wa_id)
        if body.user_id is not None:
            customer.user_id = body.user_id
    elif body.user_id is not None and body.user_id != customer.user_id:
        raise HTTPException(
            422, f"user_id: {customer.wa_id} already has the BSUID {customer.user_id}"
        )
    if body.name is not None:
        customer.name = body.name
    if body.username is not None:
        customer.username = body.username
    emulator.state.touch(customer)
    if not customer.on_whatsapp:
        raise HTTPException(409, f"{customer.wa_id} is not on WhatsApp; POST /reachable first")
    if number.id in customer.blocked_numbers:
        raise HTTPException(409, f"{customer.wa_id} blocked {number.id}; POST /unblock first")
    try:
        message = _inbound_message(emulator, number, customer, body)
        context = _reply_context(emulator, number, customer, body)
        referral = None
        if body.referral is not None:
            referral = body.referral.model_dump(exclude_none=True)
            referral.setdefault("ctwa_clid", secrets.token_urlsafe(48))
        inbound, queued = _queued(
            emulator,
            lambda: deliver_inbound(
                emulator, number, customer, message, referral=referral, context=context
            ),
        )
    except CustomerInputError as error:
        raise HTTPException(422, str(error)) from None
    _after_number_change(emulator, customer, message)
    assert isinstance(inbound, InboundMessage)
    return MessageAccepted(id=inbound.id, webhook_queued=queued)


@router.post("/customers/{wa_id}/block")
async def block(wa_id: str, body: NumberIn, request: Request) -> CustomerOut:
    """The customer blocks the number: sends to it fail, quality counts it."""
    emulator = emulator_of(request)
    number = _number(emulator, body.phone_number_id)
    customer = _customer_for_action(emulator, wa_id)
    record_feedback(emulator, number, customer, "block")
    return CustomerOut.of(customer)


@router.post("/customers/{wa_id}/unblock")
async def unblock(wa_id: str, body: NumberIn, request: Request) -> CustomerOut:
    """The customer unblocks the number (the block still counted for quality)."""
    emulator = emulator_of(request)
    number = _number(emulator, body.phone_number_id)
    customer = _customer_for_action(emulator, wa_id)
    customer.blocked_numbers.discard(number.id)
    emulator.state.touch(customer)
    return CustomerOut.of(customer)


@router.post("/customers/{wa_id}/report")
async def report(wa_id: str, body: NumberIn, request: Request) -> CustomerOut:
    """The customer reports the number as spam; quality counts it."""
    emulator = emulator_of(request)
    number = _number(emulator, body.phone_number_id)
    customer = _customer_for_action(emulator, wa_id)
    record_feedback(emulator, number, customer, "report")
    return CustomerOut.of(customer)


@router.post("/customers/{wa_id}/opt_out_marketing")
async def opt_out_marketing(wa_id: str, body: NumberIn, request: Request) -> CustomerOut:
    """The customer stops marketing from the number (131050); ``user_preferences`` sent."""
    emulator = emulator_of(request)
    number = _number(emulator, body.phone_number_id)
    customer = _customer_for_action(emulator, wa_id)
    set_marketing_preference(emulator, number, customer, stop=True)
    return CustomerOut.of(customer)


@router.post("/customers/{wa_id}/opt_in_marketing")
async def opt_in_marketing(wa_id: str, body: NumberIn, request: Request) -> CustomerOut:
    """The customer resumes marketing from the number; ``user_preferences`` sent."""
    emulator = emulator_of(request)
    number = _number(emulator, body.phone_number_id)
    customer = _customer_for_action(emulator, wa_id)
    set_marketing_preference(emulator, number, customer, stop=False)
    return CustomerOut.of(customer)


@router.post("/customers/{wa_id}/unreachable")
async def unreachable(wa_id: str, request: Request) -> CustomerOut:
    """The number has no WhatsApp account (sends fail with 131026)."""
    emulator = emulator_of(request)
    customer = _customer_for_action(emulator, wa_id)
    customer.on_whatsapp = False
    emulator.state.touch(customer)
    return CustomerOut.of(customer)


@router.post("/customers/{wa_id}/reachable")
async def reachable(wa_id: str, request: Request) -> CustomerOut:
    emulator = emulator_of(request)
    customer = _customer_for_action(emulator, wa_id)
    customer.on_whatsapp = True
    emulator.state.touch(customer)
    return CustomerOut.of(customer)


@router.put("/customers/{wa_id}/persona")
async def set_persona(wa_id: str, body: PersonaIn, request: Request) -> CustomerOut:
    """Set how the customer behaves: a built-in persona by name, and/or its fields."""
    emulator = emulator_of(request)
    customer = _customer_for_action(emulator, wa_id)
    overrides = body.model_dump(exclude_none=True, exclude={"name"})
    base = builtin_persona(body.name)
    if base is None:
        if not overrides:
            raise HTTPException(
                422,
                f"name: no built-in persona {body.name!r} (built in: "
                f"{', '.join(BUILTIN_PERSONA_NAMES)}); give its fields to define one",
            )
        base = Persona(name=body.name)
    known = {f.name for f in fields(Persona)}
    persona = Persona(**{**asdict(base), **{k: v for k, v in overrides.items() if k in known}})
    apply_persona(emulator, customer, persona)
    return CustomerOut.of(customer)


@router.get("/customers")
async def list_customers(request: Request, phone_number_id: str | None = None) -> list[CustomerOut]:
    """Every simulated customer; with ``phone_number_id``, those who wrote to that number."""
    customers = emulator_of(request).state.customers.values()
    return [
        CustomerOut.of(c)
        for c in customers
        if phone_number_id is None or phone_number_id in c.last_inbound_at
    ]


@router.get("/customers/{wa_id}")
async def get_customer(wa_id: str, request: Request) -> CustomerOut:
    return CustomerOut.of(_known_customer(emulator_of(request), wa_id))


@router.post("/phone_numbers/{phone_number_id}/demo_customers", status_code=201)
async def create_demo_customers(
    phone_number_id: str, body: DemoCustomersIn, request: Request
) -> list[CustomerOut]:
    """A few customers with varied personas who write to the number on their own."""
    emulator = emulator_of(request)
    number = _number(emulator, phone_number_id)
    return [CustomerOut.of(c) for c in demo_customers(emulator, number, body.count)]
