"""Outbound message requests: the bodies of ``POST /{phone-number-id}/messages``.

One model per message ``type``, all sharing the envelope (``messaging_product``,
``recipient_type``, ``to`` or ``recipient``, ``context``, ``biz_opaque_callback_data``).
``OutboundMessage`` is the union over ``type`` and ``parse_outbound_message`` parses a JSON
object into it; the emulator uses it to validate what clients send, so the limits Meta
enforces on the request itself (lengths, counts, one of ``id``/``link``) are pydantic
constraints here, each kept as a named constant. Limits that depend on the template being
sent (hydrated length, parameter count) belong to ``rules/``.

Models keep unknown fields (``WireModel``): Meta adds request fields too (``recipient`` came
in 2026), and a platform that refused them could not use them.

Sources: Meta's "Messages API" reference and the per-type pages (text, media, location,
contacts, reaction, interactive reply buttons, list, CTA URL, template messages), 2026.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, TypeAdapter, model_validator

from ovillo.cloudapi.wire import WireModel

# --- Limits Meta enforces on the request ---------------------------------------------------

TEXT_BODY_MAX_CHARS = 4096
MEDIA_CAPTION_MAX_CHARS = 1024
# Meta's reference: "Maximum 512 characters" (the facts file marks it unverified).
BIZ_OPAQUE_CALLBACK_DATA_MAX_CHARS = 512
# Meta fetches `link` media itself and accepts only HTTP(S) URLs.
MEDIA_LINK_PATTERN = r"(?i)^https?://\S+$"

INTERACTIVE_HEADER_TEXT_MAX_CHARS = 60
INTERACTIVE_BODY_MAX_CHARS = 1024
LIST_BODY_MAX_CHARS = 4096
INTERACTIVE_FOOTER_MAX_CHARS = 60

REPLY_BUTTONS_MAX = 3
REPLY_BUTTON_ID_MAX_CHARS = 256
REPLY_BUTTON_TITLE_MAX_CHARS = 20

LIST_BUTTON_TEXT_MAX_CHARS = 20
LIST_SECTIONS_MAX = 10
LIST_ROWS_MAX = 10  # across all sections together
LIST_SECTION_TITLE_MAX_CHARS = 24
LIST_ROW_ID_MAX_CHARS = 200
LIST_ROW_TITLE_MAX_CHARS = 24
LIST_ROW_DESCRIPTION_MAX_CHARS = 72

CTA_URL_DISPLAY_TEXT_MAX_CHARS = 20

# Template button components are addressed by their position among the template's buttons.
TEMPLATE_BUTTON_INDEX_MAX = 9


# --- Envelope --------------------------------------------------------------------------------


class MessageContext(WireModel):
    """What the message replies to: it is shown quoting that message."""

    message_id: str = Field(min_length=1)


class _OutboundEnvelope(WireModel):
    """The fields every send request carries, whatever its ``type``."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    # "group" is Meta's Groups API (2025); everything else here is one person.
    recipient_type: Literal["individual", "group"] = "individual"
    to: str | None = Field(default=None, min_length=1)
    # A business-scoped user id (BSUID, 2026), e.g. "US.13491208655302741918", for users
    # known only by username; Meta takes it instead of `to`.
    recipient: str | None = Field(default=None, min_length=1)
    context: MessageContext | None = None
    # Echoed in this message's status webhooks; we put our own message id here so a send
    # whose HTTP answer was lost is reconciled from its statuses.
    biz_opaque_callback_data: str | None = Field(
        default=None, max_length=BIZ_OPAQUE_CALLBACK_DATA_MAX_CHARS
    )

    @model_validator(mode="after")
    def _one_addressee(self) -> Self:
        if (self.to is None) == (self.recipient is None):
            raise ValueError("give exactly one of `to` (a phone number) or `recipient` (a BSUID)")
        return self


# --- Text, media, location, contacts, reaction ---------------------------------------------


class TextContent(WireModel):
    body: str = Field(min_length=1, max_length=TEXT_BODY_MAX_CHARS)
    # Meta renders a preview of the first URL in `body` only when asked.
    preview_url: bool | None = None


class MediaRef(WireModel):
    """Media by the id of an upload or by a public link: exactly one of the two."""

    id: str | None = Field(default=None, min_length=1)
    link: str | None = Field(default=None, pattern=MEDIA_LINK_PATTERN)

    @model_validator(mode="after")
    def _id_or_link(self) -> Self:
        if (self.id is None) == (self.link is None):
            raise ValueError("give exactly one of `id` (uploaded media) or `link` (a URL)")
        return self


class _NoCaption(MediaRef):
    """Audio and stickers: WhatsApp shows no caption, and Meta refuses one."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_caption(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "caption" in data:
            raise ValueError("`caption` is not allowed on audio or sticker media")
        return data


class ImageContent(MediaRef):
    caption: str | None = Field(default=None, max_length=MEDIA_CAPTION_MAX_CHARS)


class VideoContent(MediaRef):
    caption: str | None = Field(default=None, max_length=MEDIA_CAPTION_MAX_CHARS)


class DocumentContent(MediaRef):
    caption: str | None = Field(default=None, max_length=MEDIA_CAPTION_MAX_CHARS)
    # The name the recipient sees; Meta derives its extension from the MIME type otherwise.
    filename: str | None = None


class AudioContent(_NoCaption):
    pass


class StickerContent(_NoCaption):
    pass


class DocumentRef(MediaRef):
    """A document in a header or template parameter: no caption, an optional filename."""

    filename: str | None = None


class LocationContent(WireModel):
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = None
    address: str | None = None


class ContactName(WireModel):
    formatted_name: str = Field(min_length=1)
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class ContactPhone(WireModel):
    phone: str | None = None
    # Meta's examples: CELL, MAIN, IPHONE, HOME, WORK; free text in practice.
    type: str | None = None
    # Makes WhatsApp show "Message" for this number in the card.
    wa_id: str | None = None


class ContactEmail(WireModel):
    email: str | None = None
    type: str | None = None


class ContactUrl(WireModel):
    url: str | None = None
    type: str | None = None


class ContactAddress(WireModel):
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(WireModel):
    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactCard(WireModel):
    """One contact card; the same shape arrives in inbound ``contacts`` messages."""

    name: ContactName
    phones: list[ContactPhone] | None = None
    emails: list[ContactEmail] | None = None
    urls: list[ContactUrl] | None = None
    addresses: list[ContactAddress] | None = None
    org: ContactOrg | None = None
    birthday: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class ReactionContent(WireModel):
    message_id: str = Field(min_length=1)
    # An empty string removes an earlier reaction, so it is allowed on purpose.
    emoji: str


# --- Interactive -------------------------------------------------------------------------------


class InteractiveTextHeader(WireModel):
    type: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=INTERACTIVE_HEADER_TEXT_MAX_CHARS)


class InteractiveImageHeader(WireModel):
    type: Literal["image"] = "image"
    image: MediaRef


class InteractiveVideoHeader(WireModel):
    type: Literal["video"] = "video"
    video: MediaRef


class InteractiveDocumentHeader(WireModel):
    type: Literal["document"] = "document"
    document: DocumentRef


InteractiveHeader = Annotated[
    InteractiveTextHeader
    | InteractiveImageHeader
    | InteractiveVideoHeader
    | InteractiveDocumentHeader,
    Field(discriminator="type"),
]


class InteractiveBody(WireModel):
    text: str = Field(min_length=1, max_length=INTERACTIVE_BODY_MAX_CHARS)


class ListBody(WireModel):
    text: str = Field(min_length=1, max_length=LIST_BODY_MAX_CHARS)


class InteractiveFooter(WireModel):
    text: str = Field(min_length=1, max_length=INTERACTIVE_FOOTER_MAX_CHARS)


class ReplyButtonReply(WireModel):
    id: str = Field(min_length=1, max_length=REPLY_BUTTON_ID_MAX_CHARS)
    title: str = Field(min_length=1, max_length=REPLY_BUTTON_TITLE_MAX_CHARS)


class ReplyButton(WireModel):
    type: Literal["reply"] = "reply"
    reply: ReplyButtonReply


class ReplyButtonsAction(WireModel):
    buttons: list[ReplyButton] = Field(min_length=1, max_length=REPLY_BUTTONS_MAX)

    @model_validator(mode="after")
    def _unique_buttons(self) -> Self:
        # The user's tap comes back as the button's id (and title): duplicates are ambiguous.
        titles = [button.reply.title for button in self.buttons]
        ids = [button.reply.id for button in self.buttons]
        if len(set(titles)) != len(titles):
            raise ValueError("reply button `title`s must be unique")
        if len(set(ids)) != len(ids):
            raise ValueError("reply button `id`s must be unique")
        return self


class ListRow(WireModel):
    id: str = Field(min_length=1, max_length=LIST_ROW_ID_MAX_CHARS)
    title: str = Field(min_length=1, max_length=LIST_ROW_TITLE_MAX_CHARS)
    description: str | None = Field(default=None, max_length=LIST_ROW_DESCRIPTION_MAX_CHARS)


class ListSection(WireModel):
    title: str | None = Field(default=None, min_length=1, max_length=LIST_SECTION_TITLE_MAX_CHARS)
    rows: list[ListRow] = Field(min_length=1, max_length=LIST_ROWS_MAX)


class ListAction(WireModel):
    button: str = Field(min_length=1, max_length=LIST_BUTTON_TEXT_MAX_CHARS)
    sections: list[ListSection] = Field(min_length=1, max_length=LIST_SECTIONS_MAX)

    @model_validator(mode="after")
    def _rows_and_titles(self) -> Self:
        rows = [row for section in self.sections for row in section.rows]
        if len(rows) > LIST_ROWS_MAX:
            raise ValueError(f"`sections` hold {len(rows)} rows; at most {LIST_ROWS_MAX} in all")
        row_ids = [row.id for row in rows]
        if len(set(row_ids)) != len(row_ids):
            raise ValueError("row `id`s must be unique across `sections`")
        if len(self.sections) > 1 and any(section.title is None for section in self.sections):
            raise ValueError("every section needs a `title` when there is more than one")
        return self


class CtaUrlParameters(WireModel):
    display_text: str = Field(min_length=1, max_length=CTA_URL_DISPLAY_TEXT_MAX_CHARS)
    url: str = Field(pattern=MEDIA_LINK_PATTERN)


class CtaUrlAction(WireModel):
    name: Literal["cta_url"] = "cta_url"
    parameters: CtaUrlParameters


class InteractiveButtons(WireModel):
    """Up to three quick-reply buttons."""

    type: Literal["button"] = "button"
    header: InteractiveHeader | None = None
    body: InteractiveBody
    footer: InteractiveFooter | None = None
    action: ReplyButtonsAction


class InteractiveList(WireModel):
    """A menu of rows in sections, opened by one button."""

    type: Literal["list"] = "list"
    # Meta allows only a text header on list messages.
    header: InteractiveTextHeader | None = None
    body: ListBody
    footer: InteractiveFooter | None = None
    action: ListAction


class InteractiveCtaUrl(WireModel):
    """One button that opens a URL."""

    type: Literal["cta_url"] = "cta_url"
    header: InteractiveHeader | None = None
    body: InteractiveBody
    footer: InteractiveFooter | None = None
    action: CtaUrlAction


class InteractiveOther(WireModel):
    """Flow, product, product_list, catalog_message, location_request_message,
    address_message and whatever Meta adds next: kept as they come, checked by Meta."""

    type: str = Field(min_length=1)
    header: InteractiveHeader | None = None
    body: InteractiveBody | None = None
    footer: InteractiveFooter | None = None
    action: dict[str, Any] | None = None


INTERACTIVE_TYPES_MODELLED = frozenset({"button", "list", "cta_url"})
# Known to Meta and passed through `InteractiveOther`.
INTERACTIVE_TYPES_GENERIC = frozenset(
    {
        "flow",
        "product",
        "product_list",
        "catalog_message",
        "location_request_message",
        "address_message",
    }
)


def _interactive_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
    # A list or an object as `type` is unhashable: it is just not a type we model.
    return kind if isinstance(kind, str) and kind in INTERACTIVE_TYPES_MODELLED else "other"


Interactive = Annotated[
    Annotated[InteractiveButtons, Tag("button")]
    | Annotated[InteractiveList, Tag("list")]
    | Annotated[InteractiveCtaUrl, Tag("cta_url")]
    | Annotated[InteractiveOther, Tag("other")],
    Discriminator(_interactive_tag),
]


# --- Template ------------------------------------------------------------------------------


class TemplateLanguage(WireModel):
    code: str = Field(min_length=2)
    # Meta's only value; older clients still send it.
    policy: Literal["deterministic"] | None = None


def _type_is(expected: str) -> Any:
    """A ``type`` field that takes ``expected`` in any case and keeps it as sent: Meta's
    docs write template component types in lower case, pywa 4.5 sends "HEADER", "BODY" and
    sub_type "QUICK_REPLY", and Meta accepts both."""
    return Field(default=expected, pattern=f"(?i)^{expected}$")


def _lower_type_tag(known: frozenset[str]) -> Callable[[Any], str]:
    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
        lower = kind.lower() if isinstance(kind, str) else ""
        return lower if lower in known else "other"

    return tag


class _NamedParameter(WireModel):
    # Only for templates created with `parameter_format: "NAMED"`: which `{{name}}` it fills.
    parameter_name: str | None = Field(default=None, min_length=1)


class TextParameter(_NamedParameter):
    type: str = _type_is("text")
    text: str


class Currency(WireModel):
    fallback_value: str
    code: str = Field(pattern=r"^[A-Z]{3}$")  # ISO 4217
    # The amount times 1000: USD 10.50 is 10500.
    amount_1000: int


class CurrencyParameter(_NamedParameter):
    type: str = _type_is("currency")
    currency: Currency


class DateTime(WireModel):
    # Meta no longer localises date_time parameters: the fallback is what the user sees.
    fallback_value: str


class DateTimeParameter(_NamedParameter):
    type: str = _type_is("date_time")
    date_time: DateTime


class ImageParameter(WireModel):
    type: str = _type_is("image")
    image: MediaRef


class VideoParameter(WireModel):
    type: str = _type_is("video")
    video: MediaRef


class DocumentParameter(WireModel):
    type: str = _type_is("document")
    document: DocumentRef


class LocationParameter(WireModel):
    type: str = _type_is("location")
    location: LocationContent


class PayloadParameter(WireModel):
    """What a quick-reply button sends back in the inbound ``button`` message."""

    type: str = _type_is("payload")
    payload: str


class CouponCodeParameter(WireModel):
    type: str = _type_is("coupon_code")
    coupon_code: str = Field(min_length=1)


class ActionParameter(WireModel):
    """Flow and catalog buttons: ``{"flow_token", "flow_action_data"}`` and the like."""

    type: str = _type_is("action")
    action: dict[str, Any]


class OtherParameter(WireModel):
    """A parameter type this module does not model (product, gif, limited_time_offer...)."""

    type: str = Field(min_length=1)


_PARAMETER_TYPES_MODELLED = frozenset(
    {
        "text",
        "currency",
        "date_time",
        "image",
        "video",
        "document",
        "location",
        "payload",
        "coupon_code",
        "action",
    }
)

TemplateParameter = Annotated[
    Annotated[TextParameter, Tag("text")]
    | Annotated[CurrencyParameter, Tag("currency")]
    | Annotated[DateTimeParameter, Tag("date_time")]
    | Annotated[ImageParameter, Tag("image")]
    | Annotated[VideoParameter, Tag("video")]
    | Annotated[DocumentParameter, Tag("document")]
    | Annotated[LocationParameter, Tag("location")]
    | Annotated[PayloadParameter, Tag("payload")]
    | Annotated[CouponCodeParameter, Tag("coupon_code")]
    | Annotated[ActionParameter, Tag("action")]
    | Annotated[OtherParameter, Tag("other")],
    Discriminator(_lower_type_tag(_PARAMETER_TYPES_MODELLED)),
]

# Body variables are text; currency and date_time are legacy forms Meta still accepts.
BODY_PARAMETER_TYPES = frozenset({"text", "currency", "date_time"})
# A header holds at most one variable or one media item.
HEADER_PARAMETERS_MAX = 1


class HeaderComponent(WireModel):
    type: str = _type_is("header")
    parameters: list[TemplateParameter] = Field(min_length=1, max_length=HEADER_PARAMETERS_MAX)


class BodyComponent(WireModel):
    type: str = _type_is("body")
    parameters: list[TemplateParameter] = Field(min_length=1)

    @model_validator(mode="after")
    def _body_parameter_types(self) -> Self:
        wrong = [p.type for p in self.parameters if p.type.lower() not in BODY_PARAMETER_TYPES]
        if wrong:
            raise ValueError(
                f"body `parameters` must be of type {sorted(BODY_PARAMETER_TYPES)}, not {wrong}"
            )
        return self


# Which parameter types each button sub_type takes; sub_types not listed are not checked.
BUTTON_PARAMETER_TYPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "quick_reply": frozenset({"payload"}),
        "url": frozenset({"text"}),
        "copy_code": frozenset({"coupon_code"}),
        "flow": frozenset({"action"}),
        "catalog": frozenset({"action"}),
        "mpm": frozenset({"action"}),
    }
)


class ButtonComponent(WireModel):
    type: str = _type_is("button")
    # quick_reply, url, copy_code, flow, catalog, mpm, voice_call, ... (Meta adds more).
    sub_type: str = Field(min_length=1)
    # Meta documents a string ("0"); pywa sends a number. Both are kept as sent.
    index: int | str
    parameters: list[TemplateParameter] = Field(default_factory=list)

    @model_validator(mode="after")
    def _index_and_parameters(self) -> Self:
        try:
            position = int(self.index)
        except ValueError:
            raise ValueError(f"`index` must be a button position, not {self.index!r}") from None
        if not 0 <= position <= TEMPLATE_BUTTON_INDEX_MAX:
            raise ValueError(f"`index` must be 0..{TEMPLATE_BUTTON_INDEX_MAX}, not {position}")
        allowed = BUTTON_PARAMETER_TYPES.get(self.sub_type.lower())
        if allowed is not None:
            wrong = [p.type for p in self.parameters if p.type.lower() not in allowed]
            if wrong:
                raise ValueError(
                    f"a `{self.sub_type}` button takes `parameters` of type "
                    f"{sorted(allowed)}, not {wrong}"
                )
        return self


class OtherComponent(WireModel):
    """carousel, limited_time_offer, order_status and later additions, kept as sent."""

    type: str = Field(min_length=1)


TemplateComponent = Annotated[
    Annotated[HeaderComponent, Tag("header")]
    | Annotated[BodyComponent, Tag("body")]
    | Annotated[ButtonComponent, Tag("button")]
    | Annotated[OtherComponent, Tag("other")],
    Discriminator(_lower_type_tag(frozenset({"header", "body", "button"}))),
]


class TemplateContent(WireModel):
    name: str = Field(min_length=1)
    language: TemplateLanguage
    components: list[TemplateComponent] | None = None


# --- The messages --------------------------------------------------------------------------


class TextMessage(_OutboundEnvelope):
    type: Literal["text"] = "text"
    text: TextContent


class ImageMessage(_OutboundEnvelope):
    type: Literal["image"] = "image"
    image: ImageContent


class VideoMessage(_OutboundEnvelope):
    type: Literal["video"] = "video"
    video: VideoContent


class DocumentMessage(_OutboundEnvelope):
    type: Literal["document"] = "document"
    document: DocumentContent


class AudioMessage(_OutboundEnvelope):
    type: Literal["audio"] = "audio"
    audio: AudioContent


class StickerMessage(_OutboundEnvelope):
    type: Literal["sticker"] = "sticker"
    sticker: StickerContent


class LocationMessage(_OutboundEnvelope):
    type: Literal["location"] = "location"
    location: LocationContent


class ContactsMessage(_OutboundEnvelope):
    type: Literal["contacts"] = "contacts"
    contacts: list[ContactCard] = Field(min_length=1)


class ReactionMessage(_OutboundEnvelope):
    type: Literal["reaction"] = "reaction"
    reaction: ReactionContent


class InteractiveMessage(_OutboundEnvelope):
    type: Literal["interactive"] = "interactive"
    interactive: Interactive


class TemplateMessage(_OutboundEnvelope):
    type: Literal["template"] = "template"
    template: TemplateContent


OutboundMessage = Annotated[
    TextMessage
    | ImageMessage
    | VideoMessage
    | DocumentMessage
    | AudioMessage
    | StickerMessage
    | LocationMessage
    | ContactsMessage
    | ReactionMessage
    | InteractiveMessage
    | TemplateMessage,
    Field(discriminator="type"),
]

_OUTBOUND_MESSAGE: TypeAdapter[OutboundMessage] = TypeAdapter(OutboundMessage)


def parse_outbound_message(data: Mapping[str, Any]) -> OutboundMessage:
    """Parse a send request body; raise ``pydantic.ValidationError`` naming what is wrong.

    Meta treats a body without ``type`` as a text message, and so does this.
    """
    if "type" not in data:
        data = {**data, "type": "text"}
    return _OUTBOUND_MESSAGE.validate_python(data)


# --- Mark as read ----------------------------------------------------------------------------


class TypingIndicator(WireModel):
    type: Literal["text"] = "text"


class MarkReadRequest(WireModel):
    """Marks ``message_id`` (and every earlier inbound message) read; optionally shows
    "typing…" until the reply or about 25 seconds."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    status: Literal["read"] = "read"
    message_id: str = Field(min_length=1)
    typing_indicator: TypingIndicator | None = None
