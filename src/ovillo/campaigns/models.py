"""Tables of the campaigns domain: campaigns and their recipients.

``campaign_recipient`` is the campaign's queue: a row per contact of the audience, written
``pending`` when the campaign is launched, and moved to ``queued`` in the same transaction
that writes its message into the outbox (``campaigns.dispatch``). That transaction is what
makes a recipient sent exactly once: before its commit the row is still ``pending``, after
it the message exists and the send pipeline owns it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ovillo.core.db import Base
from ovillo.core.ids import new_id
from ovillo.core.types import JSONDocument, SequenceKey, UTCDateTime, UUIDKey


class CampaignState(StrEnum):
    """draft -> scheduled -> running -> completed; paused and back; cancelled; stopped
    (by a limit, quality or account error, with ``state_reason``)."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"
    STOPPED = "stopped"


class RecipientState(StrEnum):
    """pending -> queued (its message is in the outbox) -> sent or failed; skipped when the
    campaign was cancelled or stopped before it was queued. ``claimed`` is kept for a
    dispatcher that holds rows across transactions; ours claims and queues in one."""

    PENDING = "pending"
    CLAIMED = "claimed"
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Campaign(Base):
    """An approved template sent from one number to an audience of contacts.

    ``variables`` maps the template's variables to values that may name the contact's
    fields with a fallback (``{{contact.first_name|there}}``, templates.variables).
    ``audience`` is the segment filter (contacts.segments). ``starts_at`` is when it may
    start (UTC; the form takes the workspace's time zone); ``window_start_minute`` /
    ``window_end_minute`` the optional send window in the recipient's local time, minutes
    after midnight. ``waiting_until`` / ``waiting_reason``: a running campaign that waits
    for its messaging limit to free or for recipients' windows to open.
    """

    __tablename__ = "campaign"
    __table_args__ = (Index("ix_campaign_state", "state", "starts_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("template.id", ondelete="CASCADE"))
    template_name: Mapped[str] = mapped_column(String(512))
    template_language: Mapped[str] = mapped_column(String(16))
    variables: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    header_media: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    track_links: Mapped[bool] = mapped_column(Boolean, default=False)
    audience: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    window_start_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    window_end_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    state: Mapped[str] = mapped_column(String(16), default=CampaignState.DRAFT)
    state_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # The Cloud API error that stopped it, if one did.
    stop_error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    waiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    waiting_reason: Mapped[str | None] = mapped_column(String(32), default=None)
    # Launch writes the audience's rows in batches; the last contact id written so far,
    # so a worker that dies mid-way resumes after it.
    audience_cursor: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    audience_done: Mapped[bool] = mapped_column(Boolean, default=False)
    recipient_count: Mapped[int] = mapped_column(Integer, default=0)
    # Sends Meta asked to slow down (130429 throughput, 131056 pair rate).
    throttled_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class CampaignRecipient(Base):
    """One contact of a campaign's audience and what became of its message."""

    __tablename__ = "campaign_recipient"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        # The dispatcher's claim and the counters: a campaign's rows by state, in order.
        Index("ix_campaign_recipient_state", "campaign_id", "state", "not_before", "id"),
        Index("ix_campaign_recipient_message", "message_id"),
    )

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=RecipientState.PENDING)
    # Not before then: when the recipient's send window opens (launch time without one).
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)
    error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error_reason: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
