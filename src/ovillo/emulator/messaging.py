"""The send pipeline: ``POST /{phone-number-id}/messages``, as Meta answers it.

One handler takes both request kinds Meta serves on that edge: mark-as-read (``{"status":
"read", "message_id"}``, optionally with a typing indicator) and sends. A send goes through
Meta's checks in Meta's order, and each check answers the way Meta does, synchronously or
in a ``failed`` status webhook:

1. the request itself (``cloudapi.messages``): code 100 for a missing parameter, an unknown
   ``type`` or a bad envelope, 131009 for a value Meta refuses inside the message;
2. the number (``numbers.ensure_can_send``), and 131021 when it messages itself;
3. injected API faults (500/131000, 503/131016, a hang, a lost answer);
4. throughput per number (130429, HTTP 429) and pair rate per recipient (131056);
5. the template: 132001 (missing or not approved, HTTP 404), 132015 paused, 132016
   disabled, 132000/132012 parameters (``rules.templates``), 132005 hydrated body too long;
6. the recipient, reported *after* a 200 as Meta does: 131026 (not on WhatsApp, or blocked
   the business: Meta does not reveal blocks), 131047 (free-form outside the 24-hour window),
   131050 (marketing opt-out), 131049 (marketing frequency cap), and the messaging limit.

An accepted message gets a ``wamid``, a ``SentMessage`` in the state, its billing from
``rules.billing`` and a life on the emulator clock: ``sent``, ``delivered`` when the
customer's persona gets it, ``read`` if the persona reads (reactions get ``sent`` only, as
Meta documents), or one ``failed`` status. ``emit_status`` builds and queues those webhooks
and is public so other modules can reuse it.

Everything a send consults is indexed (buckets per number and pair, the recipients counted
against each messaging limit, marketing deliveries per customer, open conversations), so a
send costs the same with a million messages in the state as with none.

Sources: Meta's "Messages API" reference and "Send messages" guide, "Mark messages as read",
"Reaction messages" (reactions trigger only a ``sent`` webhook), "Messaging limits",
"Throughput", "Cloud API error codes", "Status messages webhook reference" and
"Business-scoped user IDs" (``recipient_user_id`` and ``contacts[]`` on statuses), 2026.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
import secrets
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import structlog
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ovillo.cloudapi.errors import status_error_object
from ovillo.cloudapi.messages import (
    MarkReadRequest,
    OutboundMessage,
    ReactionMessage,
    TemplateMessage,
    parse_outbound_message,
)
from ovillo.emulator import customers, numbers, templates
from ovillo.emulator.errors import GraphAPIError
from ovillo.emulator.graph import GraphRequest, graph_route
from ovillo.emulator.ids import new_wamid
from ovillo.emulator.state import (
    Customer,
    EmulatorState,
    PhoneNumber,
    SentMessage,
    Template,
)
from ovillo.emulator.webhooks import messages_value
from ovillo.rules import billing, limits, phone, throughput
from ovillo.rules import templates as template_rules
from ovillo.rules import window as windows
from ovillo.rules.phone_prefix import normalize_by_prefix

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

log = structlog.get_logger(__name__)

MESSAGE_TYPES: Final = (
    "audio",
    "contacts",
    "document",
    "image",
    "interactive",
    "location",
    "reaction",
    "sticker",
    "template",
    "text",
    "video",
)
TEMPLATE_BODY_MAX_HYDRATED_CHARS: Final = template_rules.BODY_TEXT_MAX_LENGTH
MARKETING_CAP_WINDOW: Final = timedelta(hours=24)
# Meta says a sent status follows acceptance "almost immediately"; a small spread keeps
# statuses of a burst from all landing in the same instant.
SENT_DELAY_SECONDS: Final = (0.1, 0.5)
FAILED_DELAY_SECONDS: Final = (0.1, 0.5)
# Meta refuses reactions to messages older than this (Reaction messages).
REACTION_MAX_AGE: Final = timedelta(days=30)
# Idle pair-rate buckets are dropped this often (emulator seconds) so memory stays bounded.
PAIR_SWEEP_EVERY_SECONDS: Final = 60.0
PHONE_CACHE_SIZE: Final = 100_000
# Meta's own default "lost answer" drop happens after the status line: the client has a 200
# it cannot read, exactly the case `may_have_reached_meta` exists for.
LOST_ANSWER_DECLARED_LENGTH: Final = 256
DEFAULT_API_TIMEOUT_SECONDS: Final = 30.0

# Status ranks: a status never replaces one of a higher rank ("statuses never go backwards").
_STATUS_RANK: Final = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}

# Meta's wording of each asynchronous failure's details (Cloud API error codes page).
_DETAILS: Final = {
    131026: "Message Undeliverable: the recipient is not a WhatsApp user, has not accepted "
    "WhatsApp's terms, uses an old version of WhatsApp, or cannot receive messages from "
    "this business.",
    131047: "Message failed to send because more than 24 hours have passed since the "
    "customer last replied to this number.",
    131048: "Message failed to send because there are restrictions on how many messages can "
    "be sent from this phone number.",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving "
    "marketing messages on WhatsApp from your business.",
    131009: "Parameter value is not valid",
}
# Meta documents no code of its own for a send over the messaging limit (facts file, and
# the "Messaging limits" page only says the message is not delivered). 131048 is Meta's
# documented code for "restrictions on how many messages can be sent from this phone
# number", the closest meaning, and what partners report for limited sends; it arrives in
# a `failed` status because Meta enforces the limit on delivery, not on the API call.
MESSAGING_LIMIT_ERROR_CODE: Final = 131048


# --- Per-emulator bookkeeping ------------------------------------------------------------


@dataclass
class _Ledger:
    """What the send pipeline remembers between requests, for one ``EmulatorState``."""

    state: EmulatorState
    random: random.Random
    number_buckets: dict[str, throughput.TokenBucket] = field(default_factory=dict)
    pair_buckets: dict[tuple[str, str], throughput.TokenBucket] = field(default_factory=dict)
    pair_swept_at: float = 0.0
    # messaging-limit scope (business or number id) -> recipients counted in the last 24 h.
    counted: dict[str, limits.RecipientWindow] = field(default_factory=dict)
    # customer wa_id -> times marketing templates were accepted for them (all businesses).
    marketing: dict[str, deque[datetime]] = field(default_factory=dict)
    # (number id, wa_id) -> CBP conversations (pruned when they expire).
    conversations: dict[tuple[str, str], list[billing.OpenConversation]] = field(
        default_factory=dict
    )
    # (number id, wa_id) -> (window start, conversation id) for PMP's window-scoped ids.
    window_ids: dict[tuple[str, str], tuple[datetime, str]] = field(default_factory=dict)
    # (number id, wa_id) -> (referral received at, the business's first reply to it).
    entry_point_replies: dict[tuple[str, str], tuple[datetime, datetime]] = field(
        default_factory=dict
    )
    # (number id, "YYYY-MM") -> service (non-template) messages accepted that month, for
    # the 1,000 free ones a month from 2026-10-01 (rules.billing).
    service_messages: dict[tuple[str, str], int] = field(default_factory=dict)
    # display number -> its wa_id, and `to` inputs -> normalised numbers (or the error).
    own_wa_ids: dict[str, str | None] = field(default_factory=dict)
    phones: dict[str, phone.PhoneNumber | phone.InvalidPhoneNumber] = field(default_factory=dict)


_LEDGER_ATTRIBUTE = "_messaging_ledger"


def _ledger(emulator: Emulator) -> _Ledger:
    ledger: _Ledger | None = getattr(emulator, _LEDGER_ATTRIBUTE, None)
    # A reset replaces the state; whatever was remembered about the old one goes with it.
    if ledger is None or ledger.state is not emulator.state:
        ledger = _Ledger(state=emulator.state, random=random.Random(emulator.config.seed))
        setattr(emulator, _LEDGER_ATTRIBUTE, ledger)
    return ledger


# --- Errors shaped as Meta's -----------------------------------------------------------------


def _required(path: str) -> GraphAPIError:
    # Graph's own wording for a missing parameter, e.g. "The parameter text.body is required."
    sentence = f"The parameter {path} is required."
    return GraphAPIError(100, sentence, message=f"(#100) {sentence}")


def _invalid(details: str) -> GraphAPIError:
    return GraphAPIError(100, details, message="(#100) Invalid parameter")


def _not_valid(details: str) -> GraphAPIError:
    return GraphAPIError(131009, details)


def _json_path(loc: Sequence[int | str], body: Mapping[str, Any]) -> str:
    """``loc`` of a pydantic error as the JSON path the client sent, without union tags.

    Pydantic puts discriminator tags (``"text"``, ``"button"``, ...) into ``loc``; walking
    the body tells a real key or index from a tag.
    """
    path = ""
    node: Any = body
    for part in loc:
        if isinstance(part, int) and isinstance(node, list) and 0 <= part < len(node):
            node = node[part]
            path += f"[{part}]"
        elif isinstance(part, str) and isinstance(node, Mapping) and part in node:
            node = node[part]
            path = f"{path}.{part}" if path else part
        elif isinstance(part, str) and isinstance(node, Mapping) and part not in node:
            # A key the body lacks: the missing field itself, if no tag follows it.
            candidate = f"{path}.{part}" if path else part
            if loc[-1] == part:
                return candidate
    return path


def _validation_error(exc: ValidationError, body: Mapping[str, Any]) -> GraphAPIError:
    error = exc.errors(include_url=False)[0]
    path = _json_path(error["loc"], body) or str(body.get("type", "text"))
    kind = error["type"]
    if kind == "missing":
        return _required(path)
    message = str(error["msg"]).removeprefix("Value error, ")
    details = f"Param {path} is not valid: {message}"
    content_type = str(body.get("type", "text"))
    if path.split(".")[0].split("[")[0] == content_type:
        return _not_valid(details)
    return _invalid(details)


# --- The handler -------------------------------------------------------------------------


@graph_route("phone_number", "messages", "POST")
async def post_messages(request: GraphRequest) -> dict[str, Any] | Response:
    """``POST /{phone-number-id}/messages``: a send, or a mark-as-read."""
    emulator = request.emulator
    number = emulator.state.phone_numbers[request.node_id]
    body = await request.json_object()
    if body.get("status") is not None and "type" not in body:
        return await _mark_read(emulator, number, body)
    message = _parse(body)
    numbers.ensure_can_send(emulator, number)
    ledger = _ledger(emulator)
    recipient = _resolve_recipient(emulator, ledger, number, message)
    await _strike_api_faults(emulator, number)
    now = emulator.clock.now()
    _take_throughput(ledger, number, recipient.customer, now)
    template = (
        _check_template(emulator, number, message, body) if message.type == "template" else None
    )
    sent = _accept(emulator, ledger, number, message, body, recipient, template, now)
    answer: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "contacts": [recipient.contact],
        "messages": [{"id": sent.id}],
    }
    if template is not None:
        answer["messages"][0]["message_status"] = "accepted"
    if emulator.faults.strike("api_lost_answer", number.id) is not None:
        log.info("send_answer_lost", phone_number_id=number.id, wamid=sent.id)
        return LostAnswer()
    return answer


def _parse(body: Mapping[str, Any]) -> OutboundMessage:
    product = body.get("messaging_product")
    if product is None:
        raise _required("messaging_product")
    if product != "whatsapp":
        raise _invalid(f'Param messaging_product must be one of {{WHATSAPP}} - got "{product}".')
    if body.get("to") is None and body.get("recipient") is None:
        raise _required("to")
    if body.get("to") is not None and body.get("recipient") is not None:
        raise _invalid("Param to and param recipient cannot be used together; send only one.")
    kind = body.get("type", "text")
    if kind not in MESSAGE_TYPES:
        allowed = ", ".join(name.upper() for name in MESSAGE_TYPES)
        raise _invalid(f'Param type must be one of {{{allowed}}} - got "{kind}".')
    try:
        return parse_outbound_message(body)
    except ValidationError as exc:
        raise _validation_error(exc, body) from None


# --- Mark as read ------------------------------------------------------------------------


async def _mark_read(
    emulator: Emulator, number: PhoneNumber, body: Mapping[str, Any]
) -> dict[str, Any]:
    if body.get("messaging_product") is None:
        raise _required("messaging_product")
    if body.get("message_id") is None:
        raise _required("message_id")
    try:
        request = MarkReadRequest.model_validate(body)
    except ValidationError as exc:
        raise _validation_error(exc, body) from None
    await _strike_api_faults(emulator, number)
    inbound = emulator.state.inbound.get(request.message_id)
    if inbound is None or inbound.phone_number_id != number.id:
        # Meta answers an id it does not know for this number as an invalid parameter.
        raise _invalid(
            f"Invalid message_id: {request.message_id} is not a message this phone number received."
        )
    # Marking one message read marks every earlier one in that chat read too. Mark-as-read
    # is rare next to sends, so a scan of the inbound log is acceptable here.
    for candidate in emulator.state.inbound.values():
        if (
            not candidate.read
            and candidate.phone_number_id == number.id
            and candidate.from_wa_id == inbound.from_wa_id
            and candidate.timestamp <= inbound.timestamp
        ):
            candidate.read = True
    return {"success": True}


# --- Recipients --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Recipient:
    customer: Customer
    contact: dict[str, str]
    by_user_id: bool
    country: str | None


def _normalized(ledger: _Ledger, raw: str) -> phone.PhoneNumber:
    cached = ledger.phones.get(raw)
    if cached is None:
        try:
            # A campaign's recipients share their first digits: parsed by prefix, each new
            # one costs a fraction of a full parse, with the same answer.
            cached = normalize_by_prefix(raw)
        except phone.InvalidPhoneNumber as exc:
            cached = exc
        if len(ledger.phones) >= PHONE_CACHE_SIZE:
            ledger.phones.clear()
        ledger.phones[raw] = cached
    if isinstance(cached, phone.InvalidPhoneNumber):
        raise _invalid(f"Param to is not a valid phone number: {cached}")
    return cached


def _own_wa_id(ledger: _Ledger, number: PhoneNumber) -> str | None:
    display = number.display_phone_number
    if display not in ledger.own_wa_ids:
        try:
            ledger.own_wa_ids[display] = phone.normalize(display).wa_id
        except phone.InvalidPhoneNumber:
            ledger.own_wa_ids[display] = None
    return ledger.own_wa_ids[display]


def _resolve_recipient(
    emulator: Emulator, ledger: _Ledger, number: PhoneNumber, message: OutboundMessage
) -> _Recipient:
    if message.recipient is not None:
        user_id = message.recipient
        if not phone.is_bsuid(user_id):
            raise _invalid(
                f"Param recipient must be a business-scoped user id (like "
                f'"US.13491208655302741918") - got "{user_id}".'
            )
        found = customers.find_customer(emulator, user_id)
        if found is None:
            raise _not_valid(f"Param recipient: no WhatsApp user has the id {user_id}.")
        contact = {"input": user_id, "user_id": found.user_id}
        if found.wa_id:
            contact["wa_id"] = found.wa_id
        return _Recipient(found, contact, True, phone.bsuid_country(user_id))
    to = message.to
    assert to is not None
    # Platforms send the wa_id they got in a webhook: a known customer's wa_id needs no
    # parsing, which is most of the cost of a send otherwise.
    known = emulator.state.customers.get(to) if to.isdigit() else None
    if known is not None and known.wa_id == to:
        wa_id, country = to, known.country
    else:
        normalized = _normalized(ledger, to)
        wa_id, country = normalized.wa_id, normalized.country
    if wa_id == _own_wa_id(ledger, number):
        raise GraphAPIError(
            131021, "The recipient is the sending phone number; send to a customer instead."
        )
    customer = known or customers.get_or_create_customer(emulator, wa_id)
    contact = {"input": to, "wa_id": customer.wa_id}
    return _Recipient(customer, contact, False, customer.country or country)


# --- Faults and rates --------------------------------------------------------------------


async def _strike_api_faults(emulator: Emulator, number: PhoneNumber) -> None:
    faults = emulator.faults
    if faults.strike("api_500", number.id) is not None:
        raise GraphAPIError(131000, "Something went wrong (fault injected).", http_status=500)
    if faults.strike("api_503", number.id) is not None:
        raise GraphAPIError(131016, "Service unavailable (fault injected).", http_status=503)
    hang = faults.strike("api_timeout", number.id)
    if hang is not None:
        # Real seconds: the point is to outlast the client's own timeout.
        await asyncio.sleep(float(hang.options.get("seconds", DEFAULT_API_TIMEOUT_SECONDS)))


def _take_throughput(
    ledger: _Ledger, number: PhoneNumber, customer: Customer, now: datetime
) -> None:
    reading = now.timestamp()
    rate = float(number.throughput_mps)
    bucket = ledger.number_buckets.get(number.id)
    if bucket is None or bucket.rate != rate:
        # One second's worth of burst (rules.throughput: Meta does not publish its burst).
        bucket = throughput.TokenBucket(rate=rate, burst=rate)
    allowed, ledger.number_buckets[number.id] = bucket.try_take(reading)
    if not allowed:
        raise GraphAPIError(
            throughput.THROUGHPUT_ERROR_CODE,
            "Message failed to send because there were too many messages sent from this "
            "phone number in a short period of time.",
        )
    limiter = _PAIR_LIMITER
    key = (number.id, customer.wa_id or customer.user_id)
    allowed, ledger.pair_buckets[key] = limiter.try_take(ledger.pair_buckets, key, reading)
    if reading - ledger.pair_swept_at >= PAIR_SWEEP_EVERY_SECONDS:
        for idle in list(limiter.idle_keys(ledger.pair_buckets, reading)):
            del ledger.pair_buckets[idle]
        ledger.pair_swept_at = reading
    if not allowed:
        raise GraphAPIError(
            throughput.PAIR_RATE_ERROR_CODE,
            "Message failed to send because there were too many messages sent from this "
            "phone number to the same phone number in a short period of time.",
        )


_PAIR_LIMITER: Final = throughput.PairRateLimiter()


# --- Templates ---------------------------------------------------------------------------


_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _parameter_text(parameter: Mapping[str, Any]) -> str:
    kind = str(parameter.get("type", "")).lower()
    if kind == "text":
        return str(parameter.get("text", ""))
    value = parameter.get(kind)
    if isinstance(value, Mapping):
        return str(value.get("fallback_value", ""))
    return ""


def hydrated_body(template: Template, send_components: object) -> str | None:
    """The template's body text with the send's values in place of its variables."""
    body_text = next(
        (
            c.get("text")
            for c in template.components
            if str(c.get("type", "")).upper() == "BODY" and isinstance(c.get("text"), str)
        ),
        None,
    )
    if body_text is None:
        return None
    parameters: list[Mapping[str, Any]] = []
    if isinstance(send_components, list):
        for component in send_components:
            if isinstance(component, Mapping) and str(component.get("type", "")).lower() == "body":
                parameters = [
                    p for p in component.get("parameters") or [] if isinstance(p, Mapping)
                ]
    by_name = {
        str(p["parameter_name"]): _parameter_text(p) for p in parameters if "parameter_name" in p
    }

    def value(name: str) -> str:
        if name.isdigit():
            index = int(name) - 1
            return _parameter_text(parameters[index]) if 0 <= index < len(parameters) else ""
        return by_name.get(name, "")

    pieces = _body_pieces(str(body_text))
    return "".join(text if name is None else text + value(name) for text, name in pieces)


@functools.lru_cache(maxsize=1024)
def _body_pieces(body_text: str) -> tuple[tuple[str, str | None], ...]:
    """The body as (text before a variable, the variable's name) pairs, found once per
    template text rather than at every send; the last pair has no variable."""
    pieces: list[tuple[str, str | None]] = []
    cursor = 0
    for match in _VARIABLE.finditer(body_text):
        pieces.append((body_text[cursor : match.start()], match.group(1)))
        cursor = match.end()
    pieces.append((body_text[cursor:], None))
    return tuple(pieces)


def _check_template(
    emulator: Emulator, number: PhoneNumber, message: OutboundMessage, body: Mapping[str, Any]
) -> Template:
    assert isinstance(message, TemplateMessage)
    name = message.template.name
    language = message.template.language.code
    template = templates.get_template(emulator, number.waba_id, name, language)
    status = template.status if template is not None else None
    if template is None or status not in {"APPROVED", "PAUSED", "DISABLED"}:
        raise GraphAPIError(132001, f"template name ({name}) does not exist in {language}")
    if status == "PAUSED":
        raise GraphAPIError(132015, f"Template {name} ({language}) is paused for low quality.")
    if status == "DISABLED":
        raise GraphAPIError(132016, f"Template {name} ({language}) has been disabled.")
    raw_template = body.get("template")
    send_components = raw_template.get("components") if isinstance(raw_template, Mapping) else None
    problems = template_rules.check_send_parameters(
        template.components, send_components, template.parameter_format
    )
    if problems:
        problem = problems[0]
        raise GraphAPIError(problem.meta_error_code, f"{problem.field}: {problem.message}")
    text = hydrated_body(template, send_components)
    if text is not None and len(text) > TEMPLATE_BODY_MAX_HYDRATED_CHARS:
        raise GraphAPIError(
            132005,
            f"The body of template {name} is {len(text)} characters with its parameters; "
            f"at most {TEMPLATE_BODY_MAX_HYDRATED_CHARS} are allowed.",
        )
    return template


# --- Acceptance --------------------------------------------------------------------------


def _window_key(number: PhoneNumber, customer: Customer) -> tuple[str, str]:
    return (number.id, customer.wa_id or customer.user_id)


def _limit_scope(emulator: Emulator, number: PhoneNumber, now: datetime) -> tuple[str, str]:
    """(scope key, tier name): the portfolio's limit since Oct 2025, the number's before."""
    if limits.limit_scope_at(now) is limits.LimitScope.PORTFOLIO:
        waba = emulator.state.wabas.get(number.waba_id)
        business = emulator.state.businesses.get(waba.business_id) if waba else None
        if business is not None:
            return business.id, business.messaging_limit
    return number.id, number.messaging_limit_tier


def _recipient_window(
    emulator: Emulator, ledger: _Ledger, number: PhoneNumber, now: datetime
) -> tuple[limits.RecipientWindow, str]:
    scope, tier_name = _limit_scope(emulator, number, now)
    recipients = ledger.counted.get(scope)
    if recipients is None:
        recipients = ledger.counted[scope] = limits.RecipientWindow()
    return recipients, tier_name


def _limit_refusal(
    emulator: Emulator, ledger: _Ledger, number: PhoneNumber, recipient: str, now: datetime
) -> str | None:
    """Why a business-initiated send to ``recipient`` breaks the messaging limit, or None."""
    recipients, tier_name = _recipient_window(emulator, ledger, number, now)
    tier = limits.tier_or_none(tier_name)
    if tier is None:
        return None  # TIER_NOT_SET or a value Meta may add: nothing to enforce
    decision = recipients.check(tier=tier, recipient=recipient, now=now)
    if decision.allowed:
        return None
    frees = (
        f" A slot frees at {decision.frees_at:%Y-%m-%d %H:%M:%S} UTC."
        if decision.frees_at is not None
        else ""
    )
    return (
        f"{_DETAILS[MESSAGING_LIMIT_ERROR_CODE]} The messaging limit of {decision.limit} unique "
        f"customers in a moving 24 hours ({tier.value}) is reached.{frees}"
    )


def _count_for_limit(
    emulator: Emulator, ledger: _Ledger, number: PhoneNumber, recipient: str, now: datetime
) -> None:
    recipients, _ = _recipient_window(emulator, ledger, number, now)
    recipients.record(recipient, now)


def _marketing_times(ledger: _Ledger, wa_id: str, now: datetime) -> deque[datetime]:
    times = ledger.marketing.setdefault(wa_id, deque())
    since = now - MARKETING_CAP_WINDOW
    while times and times[0] <= since:
        times.popleft()
    return times


def _failure(
    emulator: Emulator,
    ledger: _Ledger,
    number: PhoneNumber,
    message: OutboundMessage,
    customer: Customer,
    category: str | None,
    window_open: bool,
    now: datetime,
) -> tuple[int, str] | None:
    """The asynchronous failure Meta would report for this send, if any, in Meta's order."""
    if not customer.on_whatsapp:
        return 131026, _DETAILS[131026]
    if number.id in customer.blocked_numbers:
        # Meta does not tell a business it was blocked: the send is just undeliverable.
        return 131026, _DETAILS[131026]
    if category is None and not window_open:
        return 131047, _DETAILS[131047]
    if isinstance(message, ReactionMessage):
        refusal = _reaction_refusal(emulator, number, customer, message, now)
        if refusal is not None:
            return 131009, refusal
    if category == "MARKETING":
        if customers.opted_out_of_marketing(customer, number.id):
            return 131050, _DETAILS[131050]
        cap = emulator.config.marketing_frequency_cap_per_day
        wa_id = customer.wa_id or customer.user_id
        if cap is not None and len(_marketing_times(ledger, wa_id, now)) >= cap:
            return 131049, _DETAILS[131049]
    if category is not None and not window_open:
        refusal = _limit_refusal(emulator, ledger, number, customer.wa_id or customer.user_id, now)
        if refusal is not None:
            return MESSAGING_LIMIT_ERROR_CODE, refusal
    return None


def _reaction_refusal(
    emulator: Emulator,
    number: PhoneNumber,
    customer: Customer,
    message: ReactionMessage,
    now: datetime,
) -> str | None:
    # Reaction messages: a reaction to a message that is unknown, older than 30 days or in
    # another chat is not delivered, and Meta reports 131009.
    target = emulator.state.inbound.get(message.reaction.message_id)
    if target is None or target.phone_number_id != number.id:
        return f"Message {message.reaction.message_id} was not found in this chat."
    if target.from_wa_id != customer.wa_id:
        return f"Message {message.reaction.message_id} is not in the chat with this recipient."
    if now - target.timestamp > REACTION_MAX_AGE:
        return f"Message {message.reaction.message_id} is more than 30 days old."
    return None


def _free_entry_point(
    ledger: _Ledger, number: PhoneNumber, customer: Customer, now: datetime
) -> windows.FreeEntryPoint | None:
    referral = customer.referrals.get(number.id)
    if referral is None:
        return None
    referral_at = referral[0]
    key = _window_key(number, customer)
    known = ledger.entry_point_replies.get(key)
    if known is not None and known[0] == referral_at:
        first_reply_at = known[1]
    else:
        first_reply_at = now
        if referral_at <= now < referral_at + windows.FREE_ENTRY_POINT_REPLY_DEADLINE:
            ledger.entry_point_replies[key] = (referral_at, now)
    return windows.free_entry_point(
        referral_inbound_at=referral_at, first_business_reply_at=first_reply_at, now=now
    )


def _bill(
    ledger: _Ledger,
    number: PhoneNumber,
    customer: Customer,
    category: str | None,
    last_inbound_at: datetime | None,
    country: str | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``pricing`` and the ``sent`` status's ``conversation`` for an accepted message."""
    key = _window_key(number, customer)
    open_conversations = [c for c in ledger.conversations.get(key, ()) if c.expires_at > now]
    free_service_left = 0
    if category is None:
        month = (number.id, f"{now:%Y-%m}")
        used = ledger.service_messages.get(month, 0)
        free_service_left = max(0, billing.MONTHLY_FREE_SERVICE_MESSAGES - used)
        ledger.service_messages[month] = used + 1
    classification = billing.classify_message(
        sent_at=now,
        template_category=category,
        last_inbound_at=last_inbound_at,
        free_entry_point=_free_entry_point(ledger, number, customer, now),
        open_conversations=open_conversations,
        recipient_country=country if country and len(country) == 2 else None,
        free_service_messages_remaining=free_service_left,
    )
    conversation_id: str | None = None
    decision = classification.conversation
    if decision is not None:
        if decision.opens_new:
            conversation_id = secrets.token_hex(16)
            open_conversations.append(
                billing.OpenConversation(
                    id=conversation_id,
                    category=decision.category,
                    opened_at=decision.opened_at,
                    expires_at=decision.expires_at,
                )
            )
        ledger.conversations[key] = open_conversations
    else:
        entry = classification.free_entry_point
        csw = classification.customer_service_window
        started = entry.opens_at if entry is not None else csw.opened_at if csw.open else None
        if started is not None:
            known = ledger.window_ids.get(key)
            if known is None or known[0] != started:
                known = (started, secrets.token_hex(16))
                ledger.window_ids[key] = known
            conversation_id = known[1]
    conversation = billing.conversation_object(
        classification, status="sent", conversation_id=conversation_id
    )
    return dict(billing.pricing_object(classification)), (
        dict(conversation) if conversation is not None else None
    )


def _accept(
    emulator: Emulator,
    ledger: _Ledger,
    number: PhoneNumber,
    message: OutboundMessage,
    body: Mapping[str, Any],
    recipient: _Recipient,
    template: Template | None,
    now: datetime,
) -> SentMessage:
    customer = recipient.customer
    category = template.category.upper() if template is not None else None
    last_inbound_at = customer.last_inbound_at.get(number.id)
    window_open = windows.window_open(last_inbound_at=last_inbound_at, now=now)
    failure = _failure(emulator, ledger, number, message, customer, category, window_open, now)
    wa_id = customer.wa_id or customer.user_id
    sent = SentMessage(
        id=new_wamid(wa_id),
        phone_number_id=number.id,
        to=customer.wa_id,
        user_id=customer.user_id or None,
        type=message.type,
        # The request as the client sent it (already validated): cheaper than re-serialising.
        payload=dict(body),
        accepted_at=now,
        biz_opaque_callback_data=message.biz_opaque_callback_data,
        template_name=template.name if template is not None else None,
        template_language=template.language if template is not None else None,
        category=category,
        recipient_input=recipient.contact["input"],
        addressed_by_user_id=recipient.by_user_id,
    )
    sent.timestamps["accepted"] = now
    emulator.state.sent[sent.id] = sent
    if failure is not None:
        code, details = failure
        sent.errors = [status_error_object(code, details)]
        _schedule(emulator, ledger, FAILED_DELAY_SECONDS, sent, "failed", now)
        return sent
    if category is not None and not window_open:
        _count_for_limit(emulator, ledger, number, wa_id, now)
    if category == "MARKETING":
        _marketing_times(ledger, wa_id, now).append(now)
    sent.pricing, sent.conversation = _bill(
        ledger, number, customer, category, last_inbound_at, recipient.country, now
    )
    _schedule(emulator, ledger, SENT_DELAY_SECONDS, sent, "sent", now)
    return sent


# --- Lifecycle ---------------------------------------------------------------------------


def _schedule(
    emulator: Emulator,
    ledger: _Ledger,
    delay: tuple[float, float] | float,
    sent: SentMessage,
    status: str,
    now: datetime,
) -> None:
    seconds = ledger.random.uniform(*delay) if isinstance(delay, tuple) else delay
    _schedule_at(emulator, now + timedelta(seconds=seconds), sent, status)


def _schedule_at(emulator: Emulator, when: datetime, sent: SentMessage, status: str) -> None:
    state = emulator.state

    # Plain, not async: a coroutine per status to await costs more than the step itself.
    def step() -> None:
        # A reset in between makes a new world; this message is not in it.
        if emulator.state is state:
            _advance_lifecycle(emulator, sent, status)

    emulator.scheduler.at(when, step)


def _advance_lifecycle(emulator: Emulator, sent: SentMessage, status: str) -> None:
    # One reading of the clock for the status and what it schedules next.
    now = emulator.clock.now()
    if not emit_status(emulator, sent, status, now=now) or status == "failed":
        return
    if sent.type == "reaction":
        return  # Meta sends only `sent` for reactions (Reaction messages, "Limitations")
    customer = customers.find_customer(emulator, sent.to)
    number = emulator.state.phone_numbers.get(sent.phone_number_id)
    if customer is None or number is None:
        return
    if status == "sent":
        due = customers.delivery_due_at(customer, sent_at=now)
        if due is not None:
            _schedule_at(emulator, due, sent, "delivered")
    elif status == "delivered":
        customers.on_message_delivered(emulator, number, customer, sent)
        due = customers.read_due_at(customer, delivered_at=now)
        if due is not None:
            _schedule_at(emulator, due, sent, "read")


def emit_status(
    emulator: Emulator,
    sent: SentMessage,
    status: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    now: datetime | None = None,
) -> bool:
    """Move ``sent`` to ``status`` and queue Meta's status webhook; False if it would go back.

    Statuses only move forward (``sent`` < ``delivered`` < ``read``); ``failed`` is final
    and only reachable before delivery. The webhook carries ``conversation`` and ``pricing``
    (not on ``failed``; ``expiration_timestamp`` only on ``sent``), the echoed
    ``biz_opaque_callback_data``, ``errors`` on ``failed``, and the recipient's ``contacts``
    entry (2026: status webhooks carry it, and pywa 4.5 needs it).
    """
    current = _STATUS_RANK.get(sent.status, 0)
    wanted = _STATUS_RANK.get(status)
    if wanted is None:
        raise ValueError(f"unknown message status {status!r}")
    if wanted <= current or (status == "failed" and current >= _STATUS_RANK["delivered"]):
        return False
    now = now or emulator.clock.now()
    sent.status = status
    sent.timestamps[status] = now
    number = emulator.state.phone_numbers.get(sent.phone_number_id)
    if number is None:
        return True
    item: dict[str, Any] = {
        "id": sent.id,
        "status": status,
        "timestamp": str(int(now.timestamp())),
    }
    if not sent.addressed_by_user_id and sent.to:
        item["recipient_id"] = sent.to
    if sent.user_id:
        item["recipient_user_id"] = sent.user_id
    if sent.biz_opaque_callback_data is not None:
        item["biz_opaque_callback_data"] = sent.biz_opaque_callback_data
    if status != "failed":
        if sent.conversation is not None:
            conversation = sent.conversation
            if status != "sent" and "expiration_timestamp" in conversation:
                conversation = {
                    k: v for k, v in conversation.items() if k != "expiration_timestamp"
                }
            item["conversation"] = conversation
        if sent.pricing is not None:
            item["pricing"] = sent.pricing
    failure = errors if errors is not None else (sent.errors if status == "failed" else None)
    if failure:
        item["errors"] = failure
    customer = customers.find_customer(emulator, sent.to)
    contacts = [_contact(customer, sent)]
    value = messages_value(number, contacts=contacts, statuses=[item])
    emulator.webhooks.send(number, "messages", value, lane_key=sent.to or sent.user_id or sent.id)
    return True


def _contact(customer: Customer | None, sent: SentMessage) -> dict[str, Any]:
    if customer is not None:
        return customers.contact_entry(customer)
    contact: dict[str, Any] = {"wa_id": sent.to}
    if sent.user_id:
        contact["user_id"] = sent.user_id
    return contact


# --- A lost answer -----------------------------------------------------------------------


class LostAnswer(Response):
    """An answer that never arrives whole: the status line and headers go out, then the
    connection closes before the body, so the client cannot know what Meta did.

    The server logs "ASGI callable returned without completing response" and closes the
    connection; aiohttp raises ``ClientPayloadError`` (httpx ``RemoteProtocolError``).
    """

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(LOST_ANSWER_DECLARED_LENGTH).encode()),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"messaging_product"', "more_body": True}
        )
