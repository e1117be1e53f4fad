"""Webhooks Meta POSTs to the platform: the envelope, every ``value`` by ``field``, a parser.

The envelope is ``{"object": "whatsapp_business_account", "entry": [{"id", "time"?,
"changes": [{"field", "value"}]}]}``. A change's ``value`` is parsed by its sibling
``field`` (``MessagesValue`` for ``messages``, ``TemplateStatusUpdateValue`` for
``message_template_status_update``, ...); a field we do not model, or a value that does not
fit its model, becomes ``UnknownChangeValue`` with every key kept. Inside ``messages``
each inbound message is parsed by its ``type`` and falls back to ``UnknownMessage`` the
same way, so one odd message never hides its siblings.

Meta adds fields every quarter, so every model keeps what it does not know
(``WireModel``, ``extra="allow"``) and ``to_wire()`` gives back the JSON that arrived. For
the same reason optional fields default to ``None`` (never ``[]`` or ``False``): a default
that is not ``None`` would be written out and change the payload. Open-ended enumerations
(status, pricing category, template events, ...) are plain ``str``; the ``StrEnum``
classes below name the values known today for comparisons.

``parse_webhook`` raises ``WebhookParseError`` and nothing else, whatever the bytes; only a
broken envelope is an error, never an unknown ``field``, ``type`` or key.

Identity (business-scoped user ids, 2026): a contact may carry ``user_id`` (BSUID, e.g.
``US.13491208655302741918``) and no ``wa_id``; a message then has ``from_user_id`` and no
``from``; a status has ``recipient_user_id`` and maybe no ``recipient_id``. Meta's system
messages carry no ``contacts`` array at all.

Sources: Meta's "messages webhook reference" and its per-type pages (text, media, contacts,
interactive, button, reaction, order, system, unsupported, status), the references of
``message_template_status_update``, ``message_template_quality_update``,
``template_category_update``, ``phone_number_quality_update``,
``phone_number_name_update``, ``account_update``, ``business_capability_update`` and
``user_preferences``, and "Business-scoped user IDs" (2026); compared with how pywa 4.5
reads each shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Literal, Self, TypeAlias

from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from ovillo.cloudapi.wire import WireModel

WHATSAPP_BUSINESS_ACCOUNT_OBJECT: Final = "whatsapp_business_account"

# Meta writes message and status timestamps as strings of Unix seconds, but `entry.time`,
# `tier_update_time` and a few others as JSON numbers; both are kept as they came.
UnixSeconds: TypeAlias = int | str


def unix_seconds_to_datetime(value: UnixSeconds) -> datetime:
    """The aware UTC datetime of a Unix-seconds timestamp as Meta writes it."""
    return datetime.fromtimestamp(int(value), tz=UTC)


def datetime_to_unix_seconds(moment: datetime) -> str:
    """The string of Unix seconds Meta writes for ``moment`` (which must be aware)."""
    if moment.tzinfo is None:
        raise ValueError("a webhook timestamp needs an aware datetime")
    return str(int(moment.timestamp()))


class WebhookParseError(ValueError):
    """The bytes are not a webhook envelope; the message says what is wrong."""


# --- Known values of open-ended enumerations -------------------------------------------------


class WebhookField(StrEnum):
    """The ``field`` of a change: which webhook subscription it comes from."""

    MESSAGES = "messages"
    MESSAGE_TEMPLATE_STATUS_UPDATE = "message_template_status_update"
    MESSAGE_TEMPLATE_QUALITY_UPDATE = "message_template_quality_update"
    TEMPLATE_CATEGORY_UPDATE = "template_category_update"
    PHONE_NUMBER_QUALITY_UPDATE = "phone_number_quality_update"
    PHONE_NUMBER_NAME_UPDATE = "phone_number_name_update"
    ACCOUNT_UPDATE = "account_update"
    BUSINESS_CAPABILITY_UPDATE = "business_capability_update"
    USER_PREFERENCES = "user_preferences"


class MessageStatusKind(StrEnum):
    """Values of ``statuses[].status`` known today; others are kept as they come."""

    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    # Legacy: the user deleted the message.
    DELETED = "deleted"
    # Commerce: an item in a catalog message is unavailable.
    WARNING = "warning"
    # Voice messages: the user played it.
    PLAYED = "played"


class PricingModel(StrEnum):
    """Conversation-based until 2025-06-30, per-message from 2025-07-01."""

    CBP = "CBP"
    PMP = "PMP"


class PricingType(StrEnum):
    """``pricing.type`` under per-message pricing."""

    REGULAR = "regular"
    FREE_CUSTOMER_SERVICE = "free_customer_service"
    FREE_ENTRY_POINT = "free_entry_point"


class PricingCategory(StrEnum):
    """``pricing.category`` and ``conversation.origin.type``."""

    MARKETING = "marketing"
    MARKETING_LITE = "marketing_lite"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international"
    SERVICE = "service"
    REFERRAL_CONVERSION = "referral_conversion"


# --- Shared pieces ---------------------------------------------------------------------------


class WebhookErrorData(WireModel):
    details: str | None = None


class WebhookError(WireModel):
    """An asynchronous error: in a failed status, an unsupported message, or a value."""

    code: int
    title: str | None = None
    message: str | None = None
    error_data: WebhookErrorData | None = None
    href: str | None = None


class Metadata(WireModel):
    """The business phone number a ``messages`` change belongs to."""

    display_phone_number: str
    phone_number_id: str


class ContactProfile(WireModel):
    name: str | None = None
    # Usernames (2026): "@bob"; absent for users without one and in `sent` statuses.
    username: str | None = None


class WebhookContact(WireModel):
    """The user a message came from or a status is about (``value.contacts[]``)."""

    profile: ContactProfile | None = None
    # Absent for username users Meta may not show the phone number of.
    wa_id: str | None = None
    # Business-scoped user id (BSUID), e.g. "US.13491208655302741918".
    user_id: str | None = None
    # Shared by linked portfolios, e.g. "US.ENT.11815799212886844830".
    parent_user_id: str | None = None
    # Only with the identity change check enabled on the number.
    identity_key_hash: str | None = None


# --- Inbound messages --------------------------------------------------------------------------


class ReferredProduct(WireModel):
    catalog_id: str
    product_retailer_id: str


class MessageContext(WireModel):
    """What a message answers or how it was forwarded."""

    # The business number, for a reply to one of its messages.
    from_: str | None = Field(default=None, alias="from")
    id: str | None = None
    forwarded: bool | None = None
    frequently_forwarded: bool | None = None
    referred_product: ReferredProduct | None = None


class ReferralWelcomeMessage(WireModel):
    text: str | None = None


class Referral(WireModel):
    """How the user arrived: a Click-to-WhatsApp ad or a Page post's call to action.

    Answering within 24 hours opens the 72-hour free entry point.
    """

    source_url: str | None = None
    source_id: str | None = None
    source_type: str | None = None  # "ad" or "post"
    headline: str | None = None
    body: str | None = None
    media_type: str | None = None  # "image" or "video"
    image_url: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    ctwa_clid: str | None = None
    welcome_message: ReferralWelcomeMessage | None = None


class InboundMessageBase(WireModel):
    """What every inbound message has, whatever its ``type``."""

    # The user's phone number; absent for username users (use `from_user_id`).
    from_: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    from_parent_user_id: str | None = None
    id: str
    timestamp: str
    type: str
    context: MessageContext | None = None
    referral: Referral | None = None
    errors: list[WebhookError] | None = None

    @property
    def occurred_at(self) -> datetime:
        """When WhatsApp received the message, aware UTC."""
        return unix_seconds_to_datetime(self.timestamp)


class TextBody(WireModel):
    body: str


class TextMessage(InboundMessageBase):
    type: Literal["text"] = "text"
    text: TextBody


class InboundMedia(WireModel):
    """A media object the user sent; download it through ``GET /{id}``."""

    id: str
    mime_type: str | None = None
    sha256: str | None = None
    # Webhooks from v24.0 carry the download URL directly.
    url: str | None = None
    caption: str | None = None


class InboundAudio(InboundMedia):
    # True for a voice note recorded in the chat.
    voice: bool | None = None


class InboundDocument(InboundMedia):
    filename: str | None = None


class InboundSticker(InboundMedia):
    animated: bool | None = None


class ImageMessage(InboundMessageBase):
    type: Literal["image"] = "image"
    image: InboundMedia


class VideoMessage(InboundMessageBase):
    type: Literal["video"] = "video"
    video: InboundMedia


class AudioMessage(InboundMessageBase):
    type: Literal["audio"] = "audio"
    audio: InboundAudio


class DocumentMessage(InboundMessageBase):
    type: Literal["document"] = "document"
    document: InboundDocument


class StickerMessage(InboundMessageBase):
    type: Literal["sticker"] = "sticker"
    sticker: InboundSticker


class Location(WireModel):
    latitude: float | int
    longitude: float | int
    name: str | None = None
    address: str | None = None
    url: str | None = None


class LocationMessage(InboundMessageBase):
    type: Literal["location"] = "location"
    location: Location


class SharedContactName(WireModel):
    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class SharedContactPhone(WireModel):
    phone: str | None = None
    wa_id: str | None = None
    type: str | None = None


class SharedContactEmail(WireModel):
    email: str | None = None
    type: str | None = None


class SharedContactUrl(WireModel):
    url: str | None = None
    type: str | None = None


class SharedContactAddress(WireModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class SharedContactOrg(WireModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class SharedContact(WireModel):
    """A contact card the user shared; any part may be missing."""

    name: SharedContactName | None = None
    phones: list[SharedContactPhone] | None = None
    emails: list[SharedContactEmail] | None = None
    urls: list[SharedContactUrl] | None = None
    addresses: list[SharedContactAddress] | None = None
    org: SharedContactOrg | None = None
    birthday: str | None = None
    vcard: str | None = None


class ContactsMessage(InboundMessageBase):
    type: Literal["contacts"] = "contacts"
    contacts: list[SharedContact]


class ButtonReply(WireModel):
    id: str
    title: str


class ListReply(WireModel):
    id: str
    title: str
    description: str | None = None


class NfmReply(WireModel):
    """A completed WhatsApp Flow (``name`` "flow") or address message."""

    name: str | None = None
    body: str | None = None
    response_json: str

    @property
    def response(self) -> dict[str, Any] | None:
        """``response_json`` decoded, or ``None`` when it is not a JSON object."""
        try:
            decoded = json.loads(self.response_json)
        except (ValueError, RecursionError):
            return None
        return decoded if isinstance(decoded, dict) else None


class InteractiveButtonReply(WireModel):
    type: Literal["button_reply"] = "button_reply"
    button_reply: ButtonReply


class InteractiveListReply(WireModel):
    type: Literal["list_reply"] = "list_reply"
    list_reply: ListReply


class InteractiveNfmReply(WireModel):
    type: Literal["nfm_reply"] = "nfm_reply"
    nfm_reply: NfmReply


class UnknownInteractive(WireModel):
    """An interactive reply we do not model (``call_permission_reply``, ...), kept whole."""

    type: str


class ButtonTap(WireModel):
    """A tap on a template's quick-reply button."""

    payload: str | None = None
    text: str


class ButtonMessage(InboundMessageBase):
    """A template quick-reply tap; ``context.id`` is the template message's wamid."""

    type: Literal["button"] = "button"
    button: ButtonTap


class Reaction(WireModel):
    message_id: str
    # Absent or empty when the user removed the reaction.
    emoji: str | None = None

    @property
    def removed(self) -> bool:
        return not self.emoji


class ReactionMessage(InboundMessageBase):
    type: Literal["reaction"] = "reaction"
    reaction: Reaction


class OrderItem(WireModel):
    product_retailer_id: str
    quantity: int
    item_price: float | int
    currency: str


class Order(WireModel):
    catalog_id: str
    text: str | None = None
    product_items: list[OrderItem]


class OrderMessage(InboundMessageBase):
    type: Literal["order"] = "order"
    order: Order


class SystemEvent(WireModel):
    """A change on the user's side: new number (``user_changed_number``), new BSUID
    (``user_changed_user_id``) or new identity key (``customer_identity_changed``)."""

    body: str | None = None
    type: str | None = None
    # The user's new phone number (`new_wa_id` before Graph v12).
    wa_id: str | None = None
    new_wa_id: str | None = None
    # The user's new BSUID and parent BSUID.
    user_id: str | None = None
    parent_user_id: str | None = None
    customer: str | None = None


class IdentityInfo(WireModel):
    acknowledged: bool | None = None
    created_timestamp: UnixSeconds | None = None
    hash: str | None = None


class SystemMessage(InboundMessageBase):
    type: Literal["system"] = "system"
    system: SystemEvent
    identity: IdentityInfo | None = None


class UnsupportedDetail(WireModel):
    # What the user sent that Cloud API cannot deliver: "poll", "edit", ...
    type: str | None = None


class UnsupportedMessage(InboundMessageBase):
    """A message Cloud API cannot show (error 131051 in ``errors``)."""

    type: Literal["unsupported", "unknown"] = "unsupported"
    unsupported: UnsupportedDetail | None = None


class RequestWelcomeMessage(InboundMessageBase):
    """The user opened a chat with the business for the first time."""

    type: Literal["request_welcome"] = "request_welcome"


class UnknownMessage(InboundMessageBase):
    """A message of a type we do not model, or that does not fit its model; kept whole."""


_FALLBACK_TAG = "*"


def _tag_of(value: Any, *, known: frozenset[str], unknown_class: type[WireModel]) -> str:
    if isinstance(value, unknown_class):
        return _FALLBACK_TAG
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in known else _FALLBACK_TAG


_INTERACTIVE_TAGS = frozenset({"button_reply", "list_reply", "nfm_reply"})


def _interactive_tag(value: Any) -> str:
    return _tag_of(value, known=_INTERACTIVE_TAGS, unknown_class=UnknownInteractive)


def _interactive_or_unknown(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        if isinstance(value, dict):
            return UnknownInteractive.model_validate(value)
        raise


InteractiveReply: TypeAlias = Annotated[
    Annotated[
        Annotated[InteractiveButtonReply, Tag("button_reply")]
        | Annotated[InteractiveListReply, Tag("list_reply")]
        | Annotated[InteractiveNfmReply, Tag("nfm_reply")]
        | Annotated[UnknownInteractive, Tag(_FALLBACK_TAG)],
        Discriminator(_interactive_tag),
    ],
    WrapValidator(_interactive_or_unknown),
]


class InteractiveMessage(InboundMessageBase):
    """A reply to an interactive message: a button, a list row, or a completed Flow."""

    type: Literal["interactive"] = "interactive"
    interactive: InteractiveReply


_MESSAGE_TAGS = frozenset(
    {
        "text",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "button",
        "reaction",
        "order",
        "system",
        "unsupported",
        "unknown",
        "request_welcome",
    }
)


def _message_tag(value: Any) -> str:
    return _tag_of(value, known=_MESSAGE_TAGS, unknown_class=UnknownMessage)


def _message_or_unknown(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        if isinstance(value, dict):
            return UnknownMessage.model_validate(value)
        raise


InboundMessage: TypeAlias = Annotated[
    Annotated[
        Annotated[TextMessage, Tag("text")]
        | Annotated[ImageMessage, Tag("image")]
        | Annotated[VideoMessage, Tag("video")]
        | Annotated[AudioMessage, Tag("audio")]
        | Annotated[DocumentMessage, Tag("document")]
        | Annotated[StickerMessage, Tag("sticker")]
        | Annotated[LocationMessage, Tag("location")]
        | Annotated[ContactsMessage, Tag("contacts")]
        | Annotated[InteractiveMessage, Tag("interactive")]
        | Annotated[ButtonMessage, Tag("button")]
        | Annotated[ReactionMessage, Tag("reaction")]
        | Annotated[OrderMessage, Tag("order")]
        | Annotated[SystemMessage, Tag("system")]
        | Annotated[UnsupportedMessage, Tag("unsupported")]
        | Annotated[UnsupportedMessage, Tag("unknown")]
        | Annotated[RequestWelcomeMessage, Tag("request_welcome")]
        | Annotated[UnknownMessage, Tag(_FALLBACK_TAG)],
        Discriminator(_message_tag),
    ],
    WrapValidator(_message_or_unknown),
]


# --- Statuses --------------------------------------------------------------------------------


class ConversationOrigin(WireModel):
    type: str


class Conversation(WireModel):
    """The 24-hour conversation a message opened or joined (conversation-based pricing)."""

    id: str | None = None
    # Only on the status that opened the conversation.
    expiration_timestamp: UnixSeconds | None = None
    origin: ConversationOrigin | None = None


class Pricing(WireModel):
    # Deprecated under per-message pricing in favour of `type`, still sent.
    billable: bool | None = None
    pricing_model: str | None = None
    category: str | None = None
    type: str | None = None


class MessageStatus(WireModel):
    """A step in the life of a message the business sent (``value.statuses[]``)."""

    id: str
    status: str
    timestamp: str
    # The phone number (or group id) the message went to; absent when sent to a BSUID.
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    recipient_type: str | None = None
    biz_opaque_callback_data: str | None = None
    conversation: Conversation | None = None
    pricing: Pricing | None = None
    errors: list[WebhookError] | None = None

    @property
    def occurred_at(self) -> datetime:
        """When the message reached this status, aware UTC."""
        return unix_seconds_to_datetime(self.timestamp)


# --- Change values, one per field ----------------------------------------------------------


class MessagesValue(WireModel):
    """``field`` "messages": inbound messages, or statuses of sent ones, or errors."""

    FIELD: ClassVar[str] = WebhookField.MESSAGES

    messaging_product: str | None = None
    metadata: Metadata
    contacts: list[WebhookContact] | None = None
    messages: list[InboundMessage] | None = None
    statuses: list[MessageStatus] | None = None
    errors: list[WebhookError] | None = None

    def contact_of(self, message: InboundMessageBase) -> WebhookContact | None:
        """The ``contacts[]`` entry of the user who sent ``message``, if present."""
        for contact in self.contacts or ():
            if message.from_user_id is not None and contact.user_id == message.from_user_id:
                return contact
            if message.from_ is not None and contact.wa_id == message.from_:
                return contact
        return None


class TemplateOtherInfo(WireModel):
    title: str | None = None
    description: str | None = None


class TemplateDisableInfo(WireModel):
    disable_date: UnixSeconds | None = None


class TemplateRejectionInfo(WireModel):
    reason: str | None = None
    recommendation: str | None = None


class TemplateStatusUpdateValue(WireModel):
    """``message_template_status_update``: a template was approved, rejected, paused, ..."""

    FIELD: ClassVar[str] = WebhookField.MESSAGE_TEMPLATE_STATUS_UPDATE

    event: str
    # Meta writes the id as a JSON number in some payloads and a string in others.
    message_template_id: int | str
    message_template_name: str
    message_template_language: str
    message_template_category: str | None = None
    reason: str | None = None
    other_info: TemplateOtherInfo | None = None
    disable_info: TemplateDisableInfo | None = None
    rejection_info: TemplateRejectionInfo | None = None


class TemplateQualityUpdateValue(WireModel):
    """``message_template_quality_update``: GREEN, YELLOW, RED or UNKNOWN."""

    FIELD: ClassVar[str] = WebhookField.MESSAGE_TEMPLATE_QUALITY_UPDATE

    previous_quality_score: str
    new_quality_score: str
    message_template_id: int | str
    message_template_name: str
    message_template_language: str


class TemplateCategoryUpdateValue(WireModel):
    """``template_category_update``: Meta recategorised a template (or will)."""

    FIELD: ClassVar[str] = WebhookField.TEMPLATE_CATEGORY_UPDATE

    message_template_id: int | str
    message_template_name: str
    message_template_language: str
    previous_category: str | None = None
    new_category: str | None = None
    # The advance-notice variant names the category Meta will apply.
    correct_category: str | None = None


class PhoneNumberQualityUpdateValue(WireModel):
    """``phone_number_quality_update``: a number's limit or throughput changed."""

    FIELD: ClassVar[str] = WebhookField.PHONE_NUMBER_QUALITY_UPDATE

    display_phone_number: str
    event: str
    # Slated for removal (Feb 2026) in favour of the portfolio-wide limit below.
    current_limit: str | None = None
    old_limit: str | None = None
    max_daily_conversations_per_business: int | str | None = None


class PhoneNumberNameUpdateValue(WireModel):
    """``phone_number_name_update``: the display name review decided."""

    FIELD: ClassVar[str] = WebhookField.PHONE_NUMBER_NAME_UPDATE

    display_phone_number: str
    decision: str
    requested_verified_name: str | None = None
    rejection_reason: str | None = None


class VolumeTierInfo(WireModel):
    """The volume pricing tier a portfolio reached in a market (from October 2025)."""

    effective_month: str  # "2025-11"
    pricing_category: str
    region: str
    tier: str  # "25000001:50000000"
    tier_update_time: UnixSeconds

    @property
    def tier_bounds(self) -> tuple[int, int] | None:
        """The tier's first and last message counts, ``None`` if Meta changed the format."""
        low, separator, high = self.tier.partition(":")
        if not separator or not low.isdigit() or not high.isdigit():
            return None
        return int(low), int(high)


class BanInfo(WireModel):
    waba_ban_state: str | None = None
    waba_ban_date: str | None = None


class ViolationInfo(WireModel):
    violation_type: str | None = None


class RestrictionInfo(WireModel):
    restriction_type: str | None = None
    expiration: UnixSeconds | None = None


class AccountUpdateValue(WireModel):
    """``account_update``: verification, bans, restrictions, partners, pricing tiers."""

    FIELD: ClassVar[str] = WebhookField.ACCOUNT_UPDATE

    event: str
    phone_number: str | None = None
    ban_info: BanInfo | None = None
    violation_info: ViolationInfo | None = None
    restriction_info: list[RestrictionInfo] | None = None
    volume_tier_info: VolumeTierInfo | None = None


class BusinessCapabilityUpdateValue(WireModel):
    """``business_capability_update``: limits of the WABA or business portfolio."""

    FIELD: ClassVar[str] = WebhookField.BUSINESS_CAPABILITY_UPDATE

    max_daily_conversation_per_phone: int | None = None
    max_phone_numbers_per_business: int | None = None
    # The portfolio-wide messaging limit since October 2025.
    max_daily_conversations_per_business: int | str | None = None


class UserPreference(WireModel):
    """A user stopped or resumed marketing messages."""

    wa_id: str | None = None
    user_id: str | None = None
    detail: str | None = None
    category: str  # "marketing_messages"
    value: str  # "stop", "resume"
    timestamp: UnixSeconds

    @property
    def occurred_at(self) -> datetime:
        return unix_seconds_to_datetime(self.timestamp)


class UserPreferencesValue(WireModel):
    """``user_preferences``: marketing opt-outs and opt-ins."""

    FIELD: ClassVar[str] = WebhookField.USER_PREFERENCES

    messaging_product: str | None = None
    metadata: Metadata | None = None
    contacts: list[WebhookContact] | None = None
    user_preferences: list[UserPreference]


class UnknownChangeValue(WireModel):
    """The value of a field we do not model, or that does not fit its model; kept whole."""

    _parse_problem: str | None = PrivateAttr(default=None)

    @property
    def parse_problem(self) -> str | None:
        """Why the value's own model refused it, when its field is one we model."""
        return self._parse_problem


ChangeValue: TypeAlias = (
    MessagesValue
    | TemplateStatusUpdateValue
    | TemplateQualityUpdateValue
    | TemplateCategoryUpdateValue
    | PhoneNumberQualityUpdateValue
    | PhoneNumberNameUpdateValue
    | AccountUpdateValue
    | BusinessCapabilityUpdateValue
    | UserPreferencesValue
    | UnknownChangeValue
)

_VALUE_MODELS: dict[str, type[WireModel]] = {
    model.FIELD: model
    for model in (
        MessagesValue,
        TemplateStatusUpdateValue,
        TemplateQualityUpdateValue,
        TemplateCategoryUpdateValue,
        PhoneNumberQualityUpdateValue,
        PhoneNumberNameUpdateValue,
        AccountUpdateValue,
        BusinessCapabilityUpdateValue,
        UserPreferencesValue,
    )
}


def parse_change_value(field: str, value: dict[str, Any]) -> ChangeValue:
    """The typed value of a change with this ``field``; ``UnknownChangeValue`` if none fits."""
    model = _VALUE_MODELS.get(field)
    if model is None:
        return UnknownChangeValue.model_validate(value)
    try:
        parsed: ChangeValue = model.model_validate(value)  # type: ignore[assignment]
    except ValidationError as error:
        unknown = UnknownChangeValue.model_validate(value)
        unknown._parse_problem = _describe(error)
        return unknown
    return parsed


# --- Envelope --------------------------------------------------------------------------------


class WebhookChange(WireModel):
    """One change of an entry: its ``field`` decides the model of its ``value``."""

    field: str
    value: ChangeValue

    @model_validator(mode="before")
    @classmethod
    def _parse_value_by_field(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "value" not in data:
            return data
        field, value = data.get("field"), data["value"]
        if isinstance(value, WireModel):
            return data
        if not isinstance(value, dict):
            raise ValueError("a change's value must be a JSON object")
        if not isinstance(field, str):
            return data  # the `field` check reports it
        return {**data, "value": parse_change_value(field, value)}


class WebhookEntry(WireModel):
    """The changes of one WhatsApp Business Account (or portfolio, for account_update)."""

    id: str
    time: UnixSeconds | None = None
    changes: list[WebhookChange]


class WebhookPayload(WireModel):
    """The body of one webhook POST; it may batch several entries, changes and items."""

    object: Literal["whatsapp_business_account"] = WHATSAPP_BUSINESS_ACCOUNT_OBJECT
    entry: list[WebhookEntry]

    @classmethod
    def wrap(
        cls,
        value: ChangeValue,
        *,
        waba_id: str,
        field: str | None = None,
        time: UnixSeconds | None = None,
    ) -> Self:
        """A payload of one entry with one change carrying ``value``.

        ``field`` defaults to the one ``value``'s model belongs to; an
        ``UnknownChangeValue`` needs it given.
        """
        field = field or getattr(value, "FIELD", None)
        if field is None:
            raise ValueError("an UnknownChangeValue needs its field named")
        change = WebhookChange(field=field, value=value)
        return cls(entry=[WebhookEntry(id=waba_id, time=time, changes=[change])])

    def changes(self) -> Iterator[WebhookChange]:
        """Every change of every entry, in order."""
        for entry in self.entry:
            yield from entry.changes

    def messages_values(self) -> Iterator[MessagesValue]:
        """Every ``messages`` value, in order."""
        for change in self.changes():
            if isinstance(change.value, MessagesValue):
                yield change.value

    def iter_messages(self) -> Iterator[tuple[str, InboundMessage]]:
        """``(phone_number_id, message)`` for every inbound message in the POST."""
        for value in self.messages_values():
            for message in value.messages or ():
                yield value.metadata.phone_number_id, message

    def iter_statuses(self) -> Iterator[tuple[str, MessageStatus]]:
        """``(phone_number_id, status)`` for every status in the POST."""
        for value in self.messages_values():
            for status in value.statuses or ():
                yield value.metadata.phone_number_id, status


# --- Parsing -------------------------------------------------------------------------------


def _describe(error: ValidationError, *, limit: int = 3) -> str:
    problems = [
        f"{'.'.join(str(part) for part in detail['loc']) or '(root)'}: {detail['msg']}"
        for detail in error.errors(include_url=False, include_input=False)[:limit]
    ]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


# Meta's payloads nest about ten levels deep. Anything far deeper is not from Meta, and
# pydantic cannot serialise past a few hundred levels, so it is refused up front: what the
# parser accepts, `to_wire()` can always write back.
MAX_JSON_DEPTH = 64


def _nested_deeper_than(data: Any, limit: int) -> bool:
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return False


def parse_webhook(raw: bytes) -> WebhookPayload:
    """The webhook payload in ``raw``, a POST body from Meta.

    Raises ``WebhookParseError`` (and nothing else) when ``raw`` is not JSON or not a
    webhook envelope. Unknown fields, message types and keys parse and are kept.
    Check the signature over ``raw`` before calling this.
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        # ValueError covers bad JSON, bad UTF-8 and integers past Python's digit limit.
        raise WebhookParseError(f"webhook body is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise WebhookParseError(f"webhook body is a JSON {type(data).__name__}, not an object")
    if _nested_deeper_than(data, MAX_JSON_DEPTH):
        raise WebhookParseError(f"webhook body is nested deeper than {MAX_JSON_DEPTH} levels")
    if data.get("object") != WHATSAPP_BUSINESS_ACCOUNT_OBJECT:
        raise WebhookParseError(
            f"webhook object is {data.get('object')!r}, not {WHATSAPP_BUSINESS_ACCOUNT_OBJECT!r}"
        )
    if not isinstance(data.get("entry"), list):
        raise WebhookParseError("webhook has no entry list")
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as error:
        raise WebhookParseError(f"invalid webhook envelope: {_describe(error)}") from None
