"""Tables of the templates domain: templates, their history, tracked links and clicks."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ovillo.core.db import Base
from ovillo.core.ids import new_id
from ovillo.core.types import JSONDocument, SequenceKey, UTCDateTime, UUIDKey


class Template(Base):
    """A message template of a WhatsApp Business Account (WABA), as Meta knows it.

    One row per name x language (Meta's own identity of a template). ``channel_id`` is the
    number whose access token submits and syncs it; ``components`` are exactly what Meta
    reviewed. ``tracked_buttons`` maps a URL button's index to the destination its tracked
    short link redirects to (the button's URL at Meta is our ``/l/{{1}}``).
    """

    __tablename__ = "template"
    __table_args__ = (
        UniqueConstraint("workspace_id", "waba_id", "name", "language"),
        Index("ix_template_meta_template_id", "meta_template_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    waba_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    previous_category: Mapped[str | None] = mapped_column(String(32), default=None)
    parameter_format: Mapped[str] = mapped_column(String(16))
    components: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    # Meta's id ("hsm id") once submitted; None for a template Meta never accepted.
    meta_template_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Meta's status in its own spelling: PENDING, APPROVED, REJECTED, PAUSED, DISABLED...
    status: Mapped[str] = mapped_column(String(32))
    # Meta's reason for the last status (REJECTED: INVALID_FORMAT, SCAM...; NONE otherwise).
    status_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    status_detail: Mapped[str | None] = mapped_column(Text, default=None)
    quality_score: Mapped[str | None] = mapped_column(String(16), default=None)
    # Our additions, never sent to Meta: the default media header (Meta media id, uploaded
    # once through POST /media and reused), tracked URL buttons and their UTM parameters.
    header_media_id: Mapped[str | None] = mapped_column(String(128), default=None)
    tracked_buttons: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    utm: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class TemplateEventKind(StrEnum):
    STATUS = "status"
    QUALITY = "quality"
    CATEGORY = "category"


class TemplateEvent(Base):
    """One change of a template's status, quality score or category, and where it came from."""

    __tablename__ = "template_event"

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("template.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str | None] = mapped_column(String(32), default=None)
    value: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    # submit, webhook or sync
    source: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TemplateSync(Base):
    """When a number's WABA templates were last pulled from the Graph API."""

    __tablename__ = "template_sync"

    channel_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("channel.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class TrackedLink(Base):
    """A short link ``/l/{code}`` that redirects to exactly ``url`` and counts clicks.

    Made per recipient at send time; ``code`` is unguessable (``secrets.token_urlsafe``).
    ``message_id`` / ``contact_id`` / ``campaign_id`` are plain ids, not foreign keys: the
    link outlives nothing it names, and campaigns do not exist yet.
    """

    __tablename__ = "tracked_link"
    __table_args__ = (UniqueConstraint("code"),)

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("template.id", ondelete="SET NULL"), default=None, index=True
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None, index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LinkClick(Base):
    """One click on a tracked link by a person (bot pre-fetches are not recorded)."""

    __tablename__ = "link_click"

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    link_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tracked_link.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(UUIDKey)
    template_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None, index=True)
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    user_agent: Mapped[str | None] = mapped_column(String(300), default=None)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingTemplateUpdate(Base):
    """A template webhook for a Meta template id we do not store yet.

    An instant review can answer before the template's row is committed (the create call
    is still waiting on Meta's answer); the update waits here and is applied when the row
    appears (at once, or by the timers' sweep), instead of being lost until the next sync.
    """

    __tablename__ = "pending_template_update"
    __table_args__ = (Index("ix_pending_template_update_meta", "waba_id", "meta_template_id"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    waba_id: Mapped[str] = mapped_column(String(64))
    meta_template_id: Mapped[str] = mapped_column(String(64))
    # The webhook's field (which of Meta's three template webhooks) and its value.
    field: Mapped[str] = mapped_column(String(64))
    value: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
