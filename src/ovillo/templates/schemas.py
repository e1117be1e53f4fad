"""Request and response bodies of ``/templates`` and tracked links."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ovillo.templates.models import Template, TemplateEvent, TrackedLink

if TYPE_CHECKING:
    from ovillo.templates.service import TemplateFunnel

_META_TEMPLATE_DOCS = (
    "https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates"
)

# Status -> (label, tone) for the list's badges.
_BADGES: dict[str, tuple[str, str]] = {
    "APPROVED": ("Approved", "success"),
    "PENDING": ("In review", "pending"),
    "IN_APPEAL": ("In appeal", "pending"),
    "REJECTED": ("Rejected", "danger"),
    "PAUSED": ("Paused", "warning"),
    "DISABLED": ("Disabled", "danger"),
    "FLAGGED": ("Flagged", "warning"),
    "DELETED": ("Deleted", "muted"),
    "PENDING_DELETION": ("Being deleted", "muted"),
    "ARCHIVED": ("Archived", "muted"),
    "LIMIT_EXCEEDED": ("Limit exceeded", "danger"),
}


class Utm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(default=None, max_length=200, examples=["whatsapp"])
    medium: str | None = Field(default=None, max_length=200, examples=["message"])
    campaign: str | None = Field(default=None, max_length=200, examples=["spring_sale"])
    content: str | None = Field(default=None, max_length=200)

    def given(self) -> dict[str, str]:
        return {key: value for key, value in self.model_dump().items() if value}


class TemplateCreate(BaseModel):
    """A template as Meta's ``POST /{waba-id}/message_templates`` takes it, plus our options.

    `name`, `language`, `category`, `parameter_format` and `components` are Meta's; every
    rule Meta applies is checked before anything is sent, and each violation is named on
    its field. A URL button with `"track": true` gets a tracked short link: its `url` is
    where clicks land (the `utm` parameters added), and Meta sees our `/l/{{1}}` instead.
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"externalDocs": {"url": _META_TEMPLATE_DOCS}}
    )

    number_id: uuid.UUID = Field(description="The number whose WABA gets the template.")
    name: str | None = Field(default=None, examples=["order_update"])
    language: str | None = Field(default=None, examples=["en_US"])
    category: str | None = Field(default=None, examples=["UTILITY"])
    parameter_format: str | None = Field(default=None, examples=["NAMED"])
    components: Any = Field(
        default=None,
        examples=[[{"type": "BODY", "text": "Hi {{1}}!", "example": {"body_text": [["Ana"]]}}]],
    )
    message_send_ttl_seconds: int | None = None
    utm: Utm | None = None
    header_media_id: str | None = Field(
        default=None,
        max_length=128,
        description="For a media header: the `meta_media_id` of a file uploaded once with "
        "POST /media, reused by every send that gives no header of its own.",
    )


class TemplateDuplicate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str = Field(min_length=2, max_length=16, examples=["es"])
    components: Any = Field(
        default=None, description="The translated components; the original's when left out."
    )
    name: str | None = Field(default=None, description="A new name; the same name by default.")


class BadgeOut(BaseModel):
    label: str
    tone: str = Field(description="success, pending, warning, danger or muted.")


class TemplateEventOut(BaseModel):
    kind: str = Field(description="status, quality or category.")
    previous: str | None
    value: str
    reason: str | None
    detail: str | None
    source: str = Field(description="submit, webhook or sync.")
    occurred_at: datetime

    @classmethod
    def of(cls, event: TemplateEvent) -> TemplateEventOut:
        return cls(
            kind=event.kind,
            previous=event.previous,
            value=event.value,
            reason=event.reason,
            detail=event.detail,
            source=event.source,
            occurred_at=event.occurred_at,
        )


class TemplateFunnelOut(BaseModel):
    """Messages sent with the template, and how many got to each stage."""

    sent: int
    delivered: int
    read: int
    clicked: int = Field(description="Messages whose tracked link was followed at least once.")
    replied: int = Field(description="Messages the customer wrote after.")


class TemplateOut(BaseModel):
    id: uuid.UUID
    number_id: uuid.UUID
    waba_id: str
    name: str
    language: str
    category: str
    previous_category: str | None
    parameter_format: str
    components: list[dict[str, Any]]
    meta_template_id: str | None
    status: str = Field(description="Meta's: PENDING, APPROVED, REJECTED, PAUSED, DISABLED...")
    status_reason: str | None = Field(description="Meta's reason, e.g. INVALID_FORMAT, SCAM.")
    status_detail: str | None
    badge: BadgeOut
    quality_score: str | None
    header_media_id: str | None
    tracked_buttons: dict[str, str] = Field(description="Button index -> destination URL.")
    utm: dict[str, str]
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    synced_at: datetime | None
    history: list[TemplateEventOut] | None = Field(
        default=None, description="Every status, quality and category change (get only)."
    )
    funnel: TemplateFunnelOut | None = Field(
        default=None, description="How far its messages got (get only)."
    )

    @classmethod
    def of(
        cls,
        template: Template,
        history: list[TemplateEvent] | None = None,
        funnel: TemplateFunnel | None = None,
    ) -> TemplateOut:
        label, tone = _BADGES.get(template.status, (template.status.title(), "muted"))
        return cls(
            id=template.id,
            number_id=template.channel_id,
            waba_id=template.waba_id,
            name=template.name,
            language=template.language,
            category=template.category,
            previous_category=template.previous_category,
            parameter_format=template.parameter_format,
            components=template.components,
            meta_template_id=template.meta_template_id,
            status=template.status,
            status_reason=template.status_reason,
            status_detail=template.status_detail,
            badge=BadgeOut(label=label, tone=tone),
            quality_score=template.quality_score,
            header_media_id=template.header_media_id,
            tracked_buttons=template.tracked_buttons,
            utm=template.utm,
            created_at=template.created_at,
            updated_at=template.updated_at,
            status_changed_at=template.status_changed_at,
            synced_at=template.synced_at,
            history=None if history is None else [TemplateEventOut.of(e) for e in history],
            funnel=None if funnel is None else TemplateFunnelOut(**asdict(funnel)),
        )


class TemplateList(BaseModel):
    data: list[TemplateOut]
    counts: dict[str, int] = Field(description="Templates per status, for the list's filters.")


class TemplateSyncOut(BaseModel):
    created: int
    updated: int
    deleted: int
    data: list[TemplateOut]


class LinkOut(BaseModel):
    id: uuid.UUID
    code: str
    short_url: str | None
    url: str
    template_id: uuid.UUID | None
    message_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    clicks: int
    created_at: datetime

    @classmethod
    def of(cls, link: TrackedLink, *, clicks: int, short_url: str | None) -> LinkOut:
        return cls(
            id=link.id,
            code=link.code,
            short_url=short_url,
            url=link.url,
            template_id=link.template_id,
            message_id=link.message_id,
            contact_id=link.contact_id,
            campaign_id=link.campaign_id,
            clicks=clicks,
            created_at=link.created_at,
        )


class ClickStatsOut(BaseModel):
    clicks: int = Field(description="Clicks by people (bot previews are not counted).")
    unique_contacts: int
    links: list[LinkOut]


class HeaderSampleOut(BaseModel):
    """Give ``header_handle`` as the media header's ``example.header_handle`` and
    ``header_media_id`` as the template's ``header_media_id`` (the media every send reuses)."""

    header_handle: str
    header_media_id: str
    media_id: uuid.UUID = Field(description="Ovillo's copy (GET /api/v1/media/{id}).")
    mime_type: str
