"""Message template management on the WABA: create, edit, list and get.

``POST /{waba-id}/message_templates`` takes a ``TemplateCreate`` and answers
``TemplateCreated``; ``GET /{waba-id}/message_templates`` answers a ``TemplateList`` of
``Template``; ``POST /{template-id}`` takes a ``TemplateEdit``; deleting answers
``SuccessResponse``.

Only shapes live here. Meta's authoring rules (name syntax, lengths, variables and their
samples, button counts) are in ``ovillo.rules.templates``, so that a draft that breaks them
can still be parsed, shown and explained.

Meta writes component and button ``type``s in upper case in what it returns and its
creation examples use either case, so both are accepted and kept as sent. Values Meta may
extend (status, category, quality) are enums when known and plain strings otherwise: a new
status must never make a template list unreadable.

Sources: Meta's "Template components", "Authentication templates", "Template management"
and WhatsApp Business Account "message_templates" reference pages, 2026.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from ovillo.cloudapi.responses import Paging
from ovillo.cloudapi.wire import WireModel


class TemplateCategory(StrEnum):
    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


class TemplateStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PAUSED = "PAUSED"
    DISABLED = "DISABLED"
    IN_APPEAL = "IN_APPEAL"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    ARCHIVED = "ARCHIVED"
    # Seen in pywa 4.5 and Meta's status webhook, not in the facts file's list.
    FLAGGED = "FLAGGED"
    REINSTATED = "REINSTATED"
    UNARCHIVED = "UNARCHIVED"
    LOCKED = "LOCKED"


class ParameterFormat(StrEnum):
    """How variables are written: ``{{1}}`` (POSITIONAL, the default) or ``{{first_name}}``."""

    POSITIONAL = "POSITIONAL"
    NAMED = "NAMED"


class QualityScoreValue(StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"


class HeaderFormat(StrEnum):
    TEXT = "TEXT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"
    LOCATION = "LOCATION"


class ButtonType(StrEnum):
    QUICK_REPLY = "QUICK_REPLY"
    URL = "URL"
    PHONE_NUMBER = "PHONE_NUMBER"
    COPY_CODE = "COPY_CODE"
    OTP = "OTP"
    FLOW = "FLOW"
    CATALOG = "CATALOG"
    MPM = "MPM"


class OtpType(StrEnum):
    COPY_CODE = "COPY_CODE"
    ONE_TAP = "ONE_TAP"
    ZERO_TAP = "ZERO_TAP"


# Known values become the enum; unknown ones stay the string Meta sent.
OpenCategory = Annotated[TemplateCategory | str, Field(union_mode="left_to_right")]
OpenStatus = Annotated[TemplateStatus | str, Field(union_mode="left_to_right")]
OpenParameterFormat = Annotated[ParameterFormat | str, Field(union_mode="left_to_right")]
OpenQualityScore = Annotated[QualityScoreValue | str, Field(union_mode="left_to_right")]


def _upper_type_tag(known: frozenset[str]) -> Any:
    def tag(value: Any) -> str:
        kind = value.get("type") if isinstance(value, Mapping) else getattr(value, "type", None)
        upper = kind.upper() if isinstance(kind, str) else ""
        return upper if upper in known else "OTHER"

    return tag


def _type_is(expected: str) -> Any:
    """A ``type`` field that accepts ``expected`` in any case and keeps it as sent."""
    return Field(default=expected, pattern=f"(?i)^{expected}$")


# --- Examples (sample values Meta reviews) ---------------------------------------------------


class NamedParameterExample(WireModel):
    param_name: str = Field(min_length=1)
    example: str


class HeaderExample(WireModel):
    # TEXT header, positional: one sample for its one variable.
    header_text: list[str] | None = None
    header_text_named_params: list[NamedParameterExample] | None = None
    # IMAGE/VIDEO/DOCUMENT header: a handle from the Resumable Upload API ("4::aW...").
    header_handle: list[str] | None = None


class BodyExample(WireModel):
    # Meta nests the samples: one inner list, in variable order ([["Ana", "A1"]]).
    body_text: list[list[str]] | None = None
    body_text_named_params: list[NamedParameterExample] | None = None


# --- Components --------------------------------------------------------------------------------


class HeaderDefinition(WireModel):
    type: str = _type_is("HEADER")
    format: str = Field(pattern=r"(?i)^(TEXT|IMAGE|VIDEO|DOCUMENT|LOCATION|GIF|PRODUCT)$")
    text: str | None = None
    example: HeaderExample | None = None


class BodyDefinition(WireModel):
    type: str = _type_is("BODY")
    # Absent on authentication templates, whose body text Meta writes itself.
    text: str | None = None
    example: BodyExample | None = None
    # Authentication only: appends "For your security, do not share this code."
    add_security_recommendation: bool | None = None


class FooterDefinition(WireModel):
    type: str = _type_is("FOOTER")
    text: str | None = None
    # Authentication only: "This code expires in N minutes."
    code_expiration_minutes: int | None = None


class QuickReplyButton(WireModel):
    type: str = _type_is("QUICK_REPLY")
    text: str


class UrlButton(WireModel):
    type: str = _type_is("URL")
    text: str
    # May end with one variable, "https://ex.com/o/{{1}}"; `example` then gives a full URL.
    url: str
    example: list[str] | None = None


class PhoneNumberButton(WireModel):
    type: str = _type_is("PHONE_NUMBER")
    text: str
    phone_number: str


class CopyCodeButton(WireModel):
    """A marketing "copy offer code" button; ``example`` is a sample code."""

    type: str = _type_is("COPY_CODE")
    example: str | list[str] | None = None


class OtpSupportedApp(WireModel):
    package_name: str
    signature_hash: str


class OtpButton(WireModel):
    """Authentication templates' one-time-password button."""

    type: str = _type_is("OTP")
    otp_type: Annotated[OtpType | str, Field(union_mode="left_to_right")]
    text: str | None = None
    autofill_text: str | None = None
    # ONE_TAP/ZERO_TAP: the Android app that receives the code.
    package_name: str | None = None
    signature_hash: str | None = None
    supported_apps: list[OtpSupportedApp] | None = None
    zero_tap_terms_accepted: bool | None = None


class FlowButton(WireModel):
    type: str = _type_is("FLOW")
    text: str
    flow_id: str | None = None
    flow_name: str | None = None
    flow_json: str | None = None
    flow_action: str | None = None  # "navigate" | "data_exchange"
    navigate_screen: str | None = None
    icon: str | None = None


class CatalogButton(WireModel):
    type: str = _type_is("CATALOG")
    text: str


class MpmButton(WireModel):
    """Multi-product message button."""

    type: str = _type_is("MPM")
    text: str


class OtherButton(WireModel):
    """VOICE_CALL, SPM, CALL_PERMISSION_REQUEST and later additions, kept as they come."""

    type: str = Field(min_length=1)
    text: str | None = None


_BUTTON_TYPES = frozenset(ButtonType)

TemplateButton = Annotated[
    Annotated[QuickReplyButton, Tag("QUICK_REPLY")]
    | Annotated[UrlButton, Tag("URL")]
    | Annotated[PhoneNumberButton, Tag("PHONE_NUMBER")]
    | Annotated[CopyCodeButton, Tag("COPY_CODE")]
    | Annotated[OtpButton, Tag("OTP")]
    | Annotated[FlowButton, Tag("FLOW")]
    | Annotated[CatalogButton, Tag("CATALOG")]
    | Annotated[MpmButton, Tag("MPM")]
    | Annotated[OtherButton, Tag("OTHER")],
    Discriminator(_upper_type_tag(_BUTTON_TYPES)),
]


class ButtonsDefinition(WireModel):
    type: str = _type_is("BUTTONS")
    buttons: list[TemplateButton] = Field(min_length=1)


class OtherDefinition(WireModel):
    """CAROUSEL, LIMITED_TIME_OFFER and later component types, kept as they come."""

    type: str = Field(min_length=1)


_COMPONENT_TYPES = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})

TemplateComponentDefinition = Annotated[
    Annotated[HeaderDefinition, Tag("HEADER")]
    | Annotated[BodyDefinition, Tag("BODY")]
    | Annotated[FooterDefinition, Tag("FOOTER")]
    | Annotated[ButtonsDefinition, Tag("BUTTONS")]
    | Annotated[OtherDefinition, Tag("OTHER")],
    Discriminator(_upper_type_tag(_COMPONENT_TYPES)),
]


# --- Requests ----------------------------------------------------------------------------------


class TemplateCreate(WireModel):
    """Body of ``POST /{waba-id}/message_templates``."""

    name: str = Field(min_length=1)
    language: str = Field(min_length=2)
    category: TemplateCategory
    parameter_format: ParameterFormat | None = None
    components: list[TemplateComponentDefinition] = Field(min_length=1)
    # Meta ignores it since April 2025 and recategorises on its own (facts file, unverified).
    allow_category_change: bool | None = None
    # How long Meta keeps trying to deliver; unset means Meta's default per category.
    message_send_ttl_seconds: int | None = None


class TemplateEdit(WireModel):
    """Body of ``POST /{template-id}``: name and language cannot change."""

    category: TemplateCategory | None = None
    components: list[TemplateComponentDefinition] | None = Field(default=None, min_length=1)
    parameter_format: ParameterFormat | None = None
    message_send_ttl_seconds: int | None = None


# --- Responses ---------------------------------------------------------------------------------


class TemplateCreated(WireModel):
    id: str = Field(min_length=1)
    status: OpenStatus
    category: OpenCategory


class QualityScore(WireModel):
    score: OpenQualityScore
    # Unix seconds of the last change; Meta omits it for new templates.
    date: int | None = None
    reasons: list[str] | None = None


class Template(WireModel):
    """A template as ``GET`` returns it. Only ``id`` is always there: the other fields
    appear when asked for with ``fields=``."""

    id: str = Field(min_length=1)
    name: str | None = None
    language: str | None = None
    status: OpenStatus | None = None
    category: OpenCategory | None = None
    sub_category: str | None = None
    previous_category: OpenCategory | None = None
    correct_category: OpenCategory | None = None
    components: list[TemplateComponentDefinition] | None = None
    parameter_format: OpenParameterFormat | None = None
    quality_score: QualityScore | None = None
    rejected_reason: str | None = None
    message_send_ttl_seconds: int | None = None
    library_template_name: str | None = None


class TemplateList(WireModel):
    data: list[Template]
    paging: Paging | None = None


class UploadSession(WireModel):
    """A Resumable Upload API session: ``{"id": "upload:..."}``, and on ``GET`` (or a chunk
    short of the whole file) where it stands, ``file_offset``."""

    id: str = Field(min_length=1)
    file_offset: int | None = None


class UploadedFile(WireModel):
    """The answer to a Resumable Upload API chunk: the file's handle ``h`` once the whole
    file is in (for ``example.header_handle``), else the session's ``file_offset``."""

    h: str | None = None
    id: str | None = None
    file_offset: int | None = None
