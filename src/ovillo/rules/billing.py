"""What Meta bills an outbound message as: pricing model, category, billable flag and type.

Money (rate cards, volume tiers, currencies) lives elsewhere; this module only decides what a
message *is*, from plain values, so the platform can predict and explain a cost and the
emulator can emit the same ``statuses[].pricing`` and ``statuses[].conversation`` objects Meta
sends. https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing

Pricing models, switched at midnight in the WABA's time zone (pass it as ``waba_timezone``):

- **CBP**, conversation-based, until 2025-06-30. A charge per 24-hour conversation per
  category. A template opens a conversation of its category unless one of that category is
  open; a free-form message (only possible inside the customer-service window) joins any open
  conversation, else opens a ``service`` one. A reply to a Click-to-WhatsApp ad or Page CTA
  within 24 h opens a 72-hour ``referral_conversion`` (free entry point) conversation that
  every message joins. Service conversations: the first 1,000 a month free until 2024-10-31
  (``cbp_free_tier_remaining``), all free from 2024-11-01. Meta's ``billable`` flag stays
  ``true`` for free-tier and free service conversations and is ``false`` only for free entry
  point conversations, so ``charged`` says separately whether a message adds a charge.
- **PMP**, per-message, from 2025-07-01. Each delivered template is charged by category;
  free are non-template messages inside an open customer-service window and utility templates
  inside one (``free_customer_service``) and anything inside a free entry point window
  (``free_entry_point``, category ``referral_conversion``). Charges apply on delivery only.
- **From 2026-10-01** (``PricingCalendar.charged_service_messages_from``): service
  (non-template) messages are charged per message at the market's utility rate, utility
  templates inside the window are charged, the free entry point stays free, and the first
  1,000 service messages per business phone number per month stay free
  (``free_service_messages_remaining``). Meta's own page was not seen; the change is
  corroborated by several independent partners (ChakraHQ, hello-charles, patagon.ai, YCloud's
  API docs, rate datasets listing a service rate from that date). The 1,000 allowance appears
  only in cost calculators, and the webhook shape of an allowance message (assumed here
  ``free_customer_service``, not billable) is unverified. Set the date to ``None`` to switch
  the rule off.

Authentication-international: an authentication template delivered to a market that has that
rate is billed as ``authentication_international`` when the business is eligible (Meta's
750K-messages/30-days test; the caller says so), is based in another country, and the market's
rate has started. https://developers.facebook.com/documentation/business-messaging/whatsapp/pricing/authentication-international-rates/

Dated rule changes other than the PMP switch (service free from 2024-11-01, the 2026-10-01
change, market start dates) are also read in the WABA's time zone; Meta documents the time
zone only for the PMP switch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from ovillo.rules.window import (
    CUSTOMER_SERVICE_WINDOW,
    FREE_ENTRY_POINT_WINDOW,
    FreeEntryPoint,
    WindowState,
    require_aware,
    window_state,
)

__all__ = [
    "AUTHENTICATION_INTERNATIONAL_MARKETS",
    "CBP_CONVERSATION_DURATION",
    "CBP_MONTHLY_FREE_SERVICE_CONVERSATIONS",
    "META_PRICING_CALENDAR",
    "MONTHLY_FREE_SERVICE_MESSAGES",
    "AuthenticationInternationalMarket",
    "BillingCategory",
    "BillingClassification",
    "ConversationDecision",
    "OpenConversation",
    "PricingCalendar",
    "PricingModel",
    "PricingType",
    "TemplateCategory",
    "classify_message",
    "conversation_object",
    "decide_conversation",
    "pricing_model_at",
    "pricing_object",
]

CBP_CONVERSATION_DURATION = CUSTOMER_SERVICE_WINDOW
CBP_MONTHLY_FREE_SERVICE_CONVERSATIONS = 1_000  # per WABA, until 2024-10-31
MONTHLY_FREE_SERVICE_MESSAGES = 1_000  # per business phone number, from 2026-10-01


class PricingModel(StrEnum):
    CBP = "CBP"
    PMP = "PMP"


class TemplateCategory(StrEnum):
    """A template's category as Meta approved it (Meta spells it upper case; both parse)."""

    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"

    @classmethod
    def parse(cls, value: TemplateCategory | str) -> TemplateCategory:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ValueError(
                f"unknown template category {value!r}; expected MARKETING, UTILITY or "
                "AUTHENTICATION"
            ) from None


class BillingCategory(StrEnum):
    """``pricing.category`` and, under CBP, ``conversation.origin.type``."""

    MARKETING = "marketing"
    MARKETING_LITE = "marketing_lite"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international"
    SERVICE = "service"
    REFERRAL_CONVERSION = "referral_conversion"


class PricingType(StrEnum):
    """``pricing.type``, per-message pricing only."""

    REGULAR = "regular"
    FREE_CUSTOMER_SERVICE = "free_customer_service"
    FREE_ENTRY_POINT = "free_entry_point"


@dataclass(frozen=True, slots=True)
class PricingCalendar:
    """The dates Meta's billing rules changed, as calendar dates in the WABA's time zone.

    ``charged_service_messages_from=None`` keeps service messages and in-window utility
    templates free for ever (the pre-2026-10-01 rules).
    """

    service_conversations_free_from: date = date(2024, 11, 1)
    per_message_pricing_from: date = date(2025, 7, 1)
    charged_service_messages_from: date | None = date(2026, 10, 1)


META_PRICING_CALENDAR = PricingCalendar()


@dataclass(frozen=True, slots=True)
class AuthenticationInternationalMarket:
    country: str  # ISO 3166-1 alpha-2
    calling_code: str
    since: date


def _markets(
    *rows: tuple[str, str, date],
) -> Mapping[str, AuthenticationInternationalMarket]:
    return MappingProxyType(
        {
            country: AuthenticationInternationalMarket(country, calling_code, since)
            for country, calling_code, since in rows
        }
    )


# Indonesia and India: Meta's authentication-international page. The seven of 2025-02-01:
# Meta announced "seven new markets"; the names are as partners listed them. The nine of
# 2026-10-01 come from rate-card datasets citing Meta's pricing page (two sources).
AUTHENTICATION_INTERNATIONAL_MARKETS: Mapping[str, AuthenticationInternationalMarket] = _markets(
    ("ID", "62", date(2024, 6, 1)),
    ("IN", "91", date(2024, 7, 1)),
    ("EG", "20", date(2025, 2, 1)),
    ("MY", "60", date(2025, 2, 1)),
    ("NG", "234", date(2025, 2, 1)),
    ("PK", "92", date(2025, 2, 1)),
    ("SA", "966", date(2025, 2, 1)),
    ("ZA", "27", date(2025, 2, 1)),
    ("AE", "971", date(2025, 2, 1)),
    ("BD", "880", date(2026, 10, 1)),
    ("IQ", "964", date(2026, 10, 1)),
    ("NP", "977", date(2026, 10, 1)),
    ("LK", "94", date(2026, 10, 1)),
    ("KZ", "7", date(2026, 10, 1)),
    ("KW", "965", date(2026, 10, 1)),
    ("MA", "212", date(2026, 10, 1)),
    ("OM", "968", date(2026, 10, 1)),
    ("UA", "380", date(2026, 10, 1)),
)
# +7 is shared by Russia and Kazakhstan; only the number itself (or its ISO country) tells.
_AMBIGUOUS_CALLING_CODES = frozenset({"7"})
_MARKET_BY_CALLING_CODE = {
    market.calling_code: market
    for market in AUTHENTICATION_INTERNATIONAL_MARKETS.values()
    if market.calling_code not in _AMBIGUOUS_CALLING_CODES
}


@dataclass(frozen=True, slots=True)
class OpenConversation:
    """A CBP conversation with the recipient, open over ``[opened_at, expires_at)``."""

    id: str
    category: BillingCategory
    opened_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        # Callers often hold the category as the plain string from a stored webhook.
        object.__setattr__(self, "category", BillingCategory(self.category))
        require_aware(self.opened_at, name="OpenConversation.opened_at")
        require_aware(self.expires_at, name="OpenConversation.expires_at")

    def is_open_at(self, at: datetime) -> bool:
        return self.opened_at <= at < self.expires_at


@dataclass(frozen=True, slots=True)
class ConversationDecision:
    """Under CBP: the conversation a message opens or joins.

    ``conversation_id`` is the joined conversation's id, or ``None`` when the message opens a
    new one (the caller mints its id). ``expires_at`` is the conversation's end: 24 h after it
    opened, or the free entry point window's end for ``referral_conversion``.
    """

    action: Literal["opens_new", "joins"]
    category: BillingCategory
    conversation_id: str | None
    opened_at: datetime
    expires_at: datetime

    @property
    def opens_new(self) -> bool:
        return self.action == "opens_new"


@dataclass(frozen=True, slots=True)
class BillingClassification:
    """What one outbound message is, for billing.

    ``billable`` is Meta's ``pricing.billable``; ``charged`` is whether the message adds a
    charge once delivered (under CBP only a conversation's opening message can, and free-tier
    or free service conversations do not although Meta reports them billable).
    ``allowed=False`` marks a free-form message outside the customer-service window: Meta fails
    it with 131047, nothing is billed and no pricing or conversation object is due.
    """

    pricing_model: PricingModel
    category: BillingCategory
    billable: bool
    charged: bool
    pricing_type: PricingType | None  # PMP only
    conversation: ConversationDecision | None  # CBP only
    allowed: bool
    sent_at: datetime
    customer_service_window: WindowState
    free_entry_point: FreeEntryPoint | None = None  # only when it covers sent_at


def pricing_model_at(
    sent_at: datetime,
    *,
    waba_timezone: tzinfo = UTC,
    calendar: PricingCalendar = META_PRICING_CALENDAR,
) -> PricingModel:
    """The pricing model for a message sent at ``sent_at`` by a WABA in ``waba_timezone``."""
    local_date = _local_date(sent_at, waba_timezone)
    if local_date >= calendar.per_message_pricing_from:
        return PricingModel.PMP
    return PricingModel.CBP


def decide_conversation(
    *,
    category: BillingCategory,
    is_template: bool,
    sent_at: datetime,
    open_conversations: Sequence[OpenConversation] = (),
    free_entry_point: FreeEntryPoint | None = None,
) -> ConversationDecision:
    """Under CBP, the conversation a message sent at ``sent_at`` opens or joins.

    ``open_conversations`` may include expired ones; only those open at ``sent_at`` count. A
    message never opens a conversation of a category while one of that category is open, and
    joins an open free entry point conversation whatever its own category.
    """
    require_aware(sent_at, name="sent_at")
    open_now = [c for c in open_conversations if c.is_open_at(sent_at)]
    free_entry = [c for c in open_now if c.category is BillingCategory.REFERRAL_CONVERSION]
    if free_entry:
        return _join(_latest(free_entry))
    if free_entry_point is not None and free_entry_point.covers(sent_at):
        return ConversationDecision(
            action="opens_new",
            category=BillingCategory.REFERRAL_CONVERSION,
            conversation_id=None,
            opened_at=sent_at,
            expires_at=free_entry_point.expires_at,
        )
    if not is_template:
        # A free-form reply rides on whatever conversation is open; it opens a service
        # conversation only when none of any category is.
        if open_now:
            return _join(_latest(open_now))
        category = BillingCategory.SERVICE
    else:
        same_category = [c for c in open_now if c.category is category]
        if same_category:
            return _join(_latest(same_category))
    duration = (
        FREE_ENTRY_POINT_WINDOW
        if category is BillingCategory.REFERRAL_CONVERSION
        else CBP_CONVERSATION_DURATION
    )
    return ConversationDecision(
        action="opens_new",
        category=category,
        conversation_id=None,
        opened_at=sent_at,
        expires_at=sent_at + duration,
    )


def classify_message(
    *,
    sent_at: datetime,
    template_category: TemplateCategory | str | None,
    last_inbound_at: datetime | None,
    free_entry_point: FreeEntryPoint | None = None,
    open_conversations: Sequence[OpenConversation] = (),
    recipient_country: str | None = None,
    business_country: str | None = None,
    authentication_international_eligible: bool = False,
    via_marketing_messages_api: bool = False,
    cbp_free_tier_remaining: int = 0,
    free_service_messages_remaining: int = 0,
    waba_timezone: tzinfo = UTC,
    calendar: PricingCalendar = META_PRICING_CALENDAR,
) -> BillingClassification:
    """Classify one outbound message sent (or delivered) at ``sent_at``.

    - ``template_category``: the approved template's category, ``None`` for a non-template
      (free-form) message.
    - ``last_inbound_at``: the recipient's latest message to the business (opens the window).
    - ``free_entry_point``: from ``window.free_entry_point``; used if it covers ``sent_at``.
    - ``open_conversations``: CBP only, the recipient's conversations (expired ones ignored).
    - ``recipient_country``: ISO alpha-2 (``"IN"``) or calling code (``"91"``/``"+91"``);
      ``business_country``: ISO alpha-2 of the primary business location;
      ``authentication_international_eligible``: Meta has told the business it is eligible and
      its start times have passed. All three only matter for authentication templates.
    - ``via_marketing_messages_api``: a marketing template sent through the Marketing Messages
      API for WhatsApp (billed as ``marketing_lite``).
    - ``cbp_free_tier_remaining``: CBP before 2024-11-01, free service conversations left this
      month for the WABA. ``free_service_messages_remaining``: from 2026-10-01, free service
      messages left this month for the sending number. Both default to none left.
    """
    require_aware(sent_at, name="sent_at")
    if cbp_free_tier_remaining < 0 or free_service_messages_remaining < 0:
        raise ValueError("free allowances cannot be negative")
    category = _base_category(
        template_category=template_category,
        sent_at=sent_at,
        recipient_country=recipient_country,
        business_country=business_country,
        authentication_international_eligible=authentication_international_eligible,
        via_marketing_messages_api=via_marketing_messages_api,
        waba_timezone=waba_timezone,
    )
    is_template = template_category is not None
    window = window_state(last_inbound_at=last_inbound_at, now=sent_at)
    covering_free_entry_point = (
        free_entry_point
        if free_entry_point is not None and free_entry_point.covers(sent_at)
        else None
    )
    local_date = _local_date(sent_at, waba_timezone)
    model = pricing_model_at(sent_at, waba_timezone=waba_timezone, calendar=calendar)
    allowed = is_template or window.open
    pricing_type: PricingType | None = None
    decision: ConversationDecision | None = None

    if not allowed:
        category, billable, charged = BillingCategory.SERVICE, False, False
    elif model is PricingModel.CBP:
        decision = decide_conversation(
            category=category,
            is_template=is_template,
            sent_at=sent_at,
            open_conversations=open_conversations,
            free_entry_point=covering_free_entry_point,
        )
        category = decision.category
        is_free_entry = category is BillingCategory.REFERRAL_CONVERSION
        service_free = category is BillingCategory.SERVICE and (
            local_date >= calendar.service_conversations_free_from or cbp_free_tier_remaining > 0
        )
        billable = not is_free_entry
        charged = decision.opens_new and not is_free_entry and not service_free
    else:
        service_charged = (
            calendar.charged_service_messages_from is not None
            and local_date >= calendar.charged_service_messages_from
        )
        if covering_free_entry_point is not None:
            category = BillingCategory.REFERRAL_CONVERSION
            pricing_type = PricingType.FREE_ENTRY_POINT
        elif not is_template:
            pricing_type = (
                PricingType.REGULAR
                if service_charged and free_service_messages_remaining == 0
                else PricingType.FREE_CUSTOMER_SERVICE
            )
        elif category is BillingCategory.UTILITY and window.open and not service_charged:
            pricing_type = PricingType.FREE_CUSTOMER_SERVICE
        else:
            pricing_type = PricingType.REGULAR
        billable = charged = pricing_type is PricingType.REGULAR

    return BillingClassification(
        pricing_model=model,
        category=category,
        billable=billable,
        charged=charged,
        pricing_type=pricing_type,
        conversation=decision,
        allowed=allowed,
        sent_at=sent_at,
        customer_service_window=window,
        free_entry_point=covering_free_entry_point,
    )


def pricing_object(classification: BillingClassification) -> dict[str, object]:
    """``statuses[].pricing`` exactly as Meta sends it for this message.

    Precondition: ``classification.allowed`` (a failed message carries no pricing).
    """
    _require_allowed(classification)
    pricing: dict[str, object] = {
        "billable": classification.billable,
        "pricing_model": classification.pricing_model.value,
        "category": classification.category.value,
    }
    if classification.pricing_type is not None:
        pricing["type"] = classification.pricing_type.value
    return pricing


def conversation_object(
    classification: BillingClassification,
    *,
    status: str,
    conversation_id: str | None = None,
) -> dict[str, object] | None:
    """``statuses[].conversation`` for a ``sent``/``delivered``/``read`` status, or ``None``.

    CBP: always present; ``expiration_timestamp`` only on the ``sent`` status of the message
    that opened the conversation. A message that opens one needs ``conversation_id`` (the id
    the caller minted); a joining message uses the joined id.
    PMP: present only inside a free entry point window (origin ``referral_conversion``) or a
    customer-service window (origin ``service``), with the window's end as
    ``expiration_timestamp`` on ``sent`` statuses; ``conversation_id`` names the window. Meta's
    PMP shape is only partly documented (partner examples show the ``service`` origin).
    """
    _require_allowed(classification)
    if status not in {"sent", "delivered", "read"}:
        return None
    decision = classification.conversation
    if decision is not None:
        if decision.conversation_id is not None:
            if conversation_id not in {None, decision.conversation_id}:
                raise ValueError(
                    f"conversation_id {conversation_id!r} contradicts the joined conversation "
                    f"{decision.conversation_id!r}"
                )
            conversation_id = decision.conversation_id
        origin = decision.category
        expires_at: datetime | None = (
            decision.expires_at if status == "sent" and decision.opens_new else None
        )
    elif classification.free_entry_point is not None:
        origin = BillingCategory.REFERRAL_CONVERSION
        expires_at = classification.free_entry_point.expires_at if status == "sent" else None
    elif classification.customer_service_window.open:
        origin = BillingCategory.SERVICE
        closes_at = classification.customer_service_window.closes_at
        expires_at = closes_at if status == "sent" else None
    else:
        return None
    if conversation_id is None:
        raise ValueError("this status carries a conversation object: pass its conversation_id")
    conversation: dict[str, object] = {"id": conversation_id}
    if expires_at is not None:
        conversation["expiration_timestamp"] = str(int(expires_at.timestamp()))
    conversation["origin"] = {"type": origin.value}
    return conversation


def _require_allowed(classification: BillingClassification) -> None:
    if not classification.allowed:
        raise ValueError(
            "a free-form message outside the customer-service window fails with 131047 and "
            "carries no pricing or conversation object"
        )


def _join(conversation: OpenConversation) -> ConversationDecision:
    return ConversationDecision(
        action="joins",
        category=conversation.category,
        conversation_id=conversation.id,
        opened_at=conversation.opened_at,
        expires_at=conversation.expires_at,
    )


def _latest(conversations: Sequence[OpenConversation]) -> OpenConversation:
    # Meta does not say which conversation a free-form message joins when several are open;
    # the most recently opened one is a stable, explainable choice.
    return max(conversations, key=lambda conversation: (conversation.opened_at, conversation.id))


def _local_date(at: datetime, zone: tzinfo) -> date:
    return require_aware(at, name="sent_at").astimezone(zone).date()


def _base_category(
    *,
    template_category: TemplateCategory | str | None,
    sent_at: datetime,
    recipient_country: str | None,
    business_country: str | None,
    authentication_international_eligible: bool,
    via_marketing_messages_api: bool,
    waba_timezone: tzinfo,
) -> BillingCategory:
    recipient = None if recipient_country is None else _normalize_recipient(recipient_country)
    business = None if business_country is None else _normalize_alpha2(business_country)
    if template_category is None:
        if via_marketing_messages_api:
            raise ValueError("the Marketing Messages API sends marketing templates only")
        return BillingCategory.SERVICE
    parsed = TemplateCategory.parse(template_category)
    if via_marketing_messages_api and parsed is not TemplateCategory.MARKETING:
        raise ValueError("the Marketing Messages API sends marketing templates only")
    if parsed is TemplateCategory.MARKETING:
        return (
            BillingCategory.MARKETING_LITE
            if via_marketing_messages_api
            else BillingCategory.MARKETING
        )
    if parsed is TemplateCategory.UTILITY:
        return BillingCategory.UTILITY
    if (
        authentication_international_eligible
        and recipient is not None
        and business is not None
        and _authentication_international_applies(
            recipient=recipient,
            business=business,
            local_date=_local_date(sent_at, waba_timezone),
        )
    ):
        return BillingCategory.AUTHENTICATION_INTERNATIONAL
    return BillingCategory.AUTHENTICATION


def _authentication_international_applies(
    *, recipient: str, business: str, local_date: date
) -> bool:
    if recipient.isdigit():
        if recipient in _AMBIGUOUS_CALLING_CODES:
            raise ValueError(
                f"calling code +{recipient} is shared by several countries; pass the "
                "recipient's ISO alpha-2 country instead"
            )
        market = _MARKET_BY_CALLING_CODE.get(recipient)
    else:
        market = AUTHENTICATION_INTERNATIONAL_MARKETS.get(recipient)
    return market is not None and market.country != business and local_date >= market.since


def _normalize_recipient(value: str) -> str:
    stripped = value.strip().removeprefix("+")
    if stripped.isascii() and stripped.isdigit() and 1 <= len(stripped) <= 3:
        return stripped
    if len(stripped) == 2 and stripped.isascii() and stripped.isalpha():
        return stripped.upper()
    raise ValueError(
        f"recipient_country must be an ISO 3166-1 alpha-2 code ('IN') or a country calling "
        f"code ('91' or '+91'), got {value!r}"
    )


def _normalize_alpha2(value: str) -> str:
    stripped = value.strip()
    if len(stripped) == 2 and stripped.isascii() and stripped.isalpha():
        return stripped.upper()
    raise ValueError(f"business_country must be an ISO 3166-1 alpha-2 code ('BR'), got {value!r}")
