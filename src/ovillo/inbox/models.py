"""Tables of the inbox domain.

``message`` is also the outbox: an outgoing message is written ``queued`` in the same
transaction as whatever caused it, and the number's send pipeline claims it from here
(design.md, "How a message travels").
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from ovillo.core.db import Base
from ovillo.core.ids import new_id
from ovillo.core.types import JSONDocument, SequenceKey, UTCDateTime, UUIDKey


class ConversationStatus(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    CLOSED = "closed"


class Direction(StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class MessageStatus(StrEnum):
    """Where a message is. Outgoing: queued -> sending -> accepted -> sent -> delivered -> read,
    or failed. Incoming messages are ``received`` (and ``read`` once an agent marked them)."""

    QUEUED = "queued"
    SENDING = "sending"
    ACCEPTED = "accepted"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    RECEIVED = "received"


class AuthorType(StrEnum):
    CONTACT = "contact"
    USER = "user"
    API = "api"
    FLOW = "flow"
    CAMPAIGN = "campaign"
    SYSTEM = "system"


class Conversation(Base):
    """The thread between one contact and one number, from opening to closing."""

    __tablename__ = "conversation"
    __table_args__ = (
        # The inbox's lists, latest activity first (then id, the cursor's tie-break), read
        # in index order: All/Closed by status, Mine and Unassigned by assignee too.
        Index("ix_conversation_list", "workspace_id", "status", "last_activity_at", "id"),
        Index(
            "ix_conversation_assignee_list",
            "workspace_id",
            "assignee_id",
            "status",
            "last_activity_at",
            "id",
        ),
        Index("ix_conversation_thread", "channel_id", "contact_id", "status"),
        # When a contact last wrote, over all numbers: segments' "last inbound" filter.
        Index("ix_conversation_contact_inbound", "contact_id", "last_inbound_at"),
        # One current (open or snoozed) conversation per contact and number: two webhooks
        # or a send and a webhook that open one at once cannot make two; the loser of the
        # race reads the winner's (``inbox.service.do_get_or_open_conversation``).
        Index(
            "uq_conversation_current",
            "channel_id",
            "contact_id",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.OPEN)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None, index=True
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("team.id", ondelete="SET NULL"), default=None
    )
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    window_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Click-to-WhatsApp ad that started it, and its 72-hour free entry point.
    referral: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    referral_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    free_entry_point_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_preview: Mapped[str | None] = mapped_column(String(200), default=None)
    unread_count: Mapped[int] = mapped_column(Integer, default=0)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Message(Base):
    """A message in a conversation, either direction; outgoing ones are also the outbox."""

    __tablename__ = "message"
    __table_args__ = (
        UniqueConstraint("wamid"),
        Index("ix_message_thread", "conversation_id", "seq"),
        # The send pipeline's claim: a number's queued messages, in order.
        Index("ix_message_outbox", "channel_id", "status", "next_attempt_at", "seq"),
        # A campaign's replies (its funnel's ``replied``, its recipients' CSV): only the few
        # inbound messages attributed to one are in it.
        Index(
            "ix_message_campaign",
            "campaign_id",
            "contact_id",
            sqlite_where=text("campaign_id IS NOT NULL"),
            postgresql_where=text("campaign_id IS NOT NULL"),
        ),
        # A campaign's messages that failed after WhatsApp accepted them (a status webhook
        # after the wamid): few, and swept each round by ``campaigns.dispatch``.
        Index(
            "ix_message_late_failure",
            "author_id",
            sqlite_where=text("status = 'failed' AND accepted_at IS NOT NULL"),
            postgresql_where=text("status = 'failed' AND accepted_at IS NOT NULL"),
        ),
    )

    seq: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, default=new_id, unique=True)
    # Indexed by ``ix_message_search_walk``, (workspace_id, seq): hand-managed with search's
    # structures (migrations 0037, 0038), so not declared here.
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE")
    )
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(32))
    # Searchable text: the body, a caption, a button's title, a template's name.
    text: Mapped[str | None] = mapped_column(Text, default=None)
    # The message as sent to / received from Meta (without the envelope).
    content: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    media_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("media_file.id", ondelete="SET NULL"), default=None
    )
    template_name: Mapped[str | None] = mapped_column(String(512), default=None)
    template_language: Mapped[str | None] = mapped_column(String(16), default=None)
    template_category: Mapped[str | None] = mapped_column(String(32), default=None)
    author_type: Mapped[str] = mapped_column(String(16))
    author_id: Mapped[str | None] = mapped_column(String(64), default=None)
    reply_to_wamid: Mapped[str | None] = mapped_column(String(200), default=None)
    wamid: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(16))
    # Agents' replies go before campaign traffic: lower first.
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sending_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    error_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error_title: Mapped[str | None] = mapped_column(String(300), default=None)
    error_detail: Mapped[str | None] = mapped_column(Text, default=None)
    # From the status webhooks: what Meta charged (or not) and why.
    pricing: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, default=None)
    conversation_origin: Mapped[str | None] = mapped_column(String(48), default=None)
    # When Meta stamped it (inbound: the message's timestamp).
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Inbound only: the campaign this message answers (``rules.attribution``, applied by
    # ``inbox.ingest``). A plain id, not a foreign key, as ``tracked_link.campaign_id``: the
    # inbox's rows do not depend on the campaigns domain's.
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(UUIDKey, default=None)


class PendingStatus(Base):
    """A status webhook for a message we do not know yet (it outran the send's answer).

    Kept until the message is known, then applied in order (issue 5: order-proof).
    """

    __tablename__ = "pending_status"
    __table_args__ = (Index("ix_pending_status_wamid", "wamid"),)

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    wamid: Mapped[str] = mapped_column(String(200))
    status: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MediaFile(Base):
    """A media file we hold: downloaded from Meta, or uploaded to send."""

    __tablename__ = "media_file"
    # The download pass: pending files whose next attempt is due.
    __table_args__ = (Index("ix_media_file_due", "state", "next_attempt_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    channel_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("channel.id", ondelete="SET NULL"), default=None
    )
    meta_media_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    mime_type: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[int | None] = mapped_column(Integer, default=None)
    filename: Mapped[str | None] = mapped_column(String(300), default=None)
    storage_key: Mapped[str | None] = mapped_column(String(300), default=None)
    # pending -> stored, or failed (with the reason) when the download did not work.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # Downloads tried so far, and when the next may start (also a claim: a worker that
    # takes one pushes it forward, so another does not download the same file meanwhile).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Note(Base):
    """An internal note in a conversation: seen by the team, never sent."""

    __tablename__ = "note"

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationEvent(Base):
    """The audit of a conversation: assignment, closing, reopening, by whom and when."""

    __tablename__ = "conversation_event"

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64), default=None)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Presence(Base):
    """Where an agent's inbox page is: a heartbeat every few seconds from each open page.

    One row per user (the latest page to report wins). Fresh rows make the agent "online"
    (round robin) and "viewing" or "typing" in a conversation; stale rows mean nothing and
    are overwritten by the next heartbeat. A table, not process memory, so every ``serve``
    replica sees every agent.
    """

    __tablename__ = "presence"
    __table_args__ = (Index("ix_presence_seen", "workspace_id", "seen_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspace.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversation.id", ondelete="SET NULL"), default=None
    )
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    typing_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Which page wrote the row (a random id each page makes): a page that goes away clears
    # the row only if it is still its own, not a newer page's (the next page of a
    # navigation may report before the old one's goodbye arrives).
    page_id: Mapped[str | None] = mapped_column(String(64), default=None)


class ConversationRead(Base):
    """How far one agent has read a conversation: its own unread count starts after
    ``last_read_seq`` (the conversation's ``unread_count`` is the team's)."""

    __tablename__ = "conversation_read"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversation.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    last_read_seq: Mapped[int] = mapped_column(Integer)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)


class QuickReply(Base):
    """A saved answer of a workspace, typed into the composer as ``/`` + its shortcut."""

    __tablename__ = "quick_reply"
    __table_args__ = (UniqueConstraint("workspace_id", "shortcut"),)

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    # Lower-case letters, digits, "_" and "-": what follows "/" in the composer.
    shortcut: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
