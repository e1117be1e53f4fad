"""Tables of the channels domain: numbers and the durable log of Meta's webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ovillo.core.db import Base
from ovillo.core.ids import new_id
from ovillo.core.types import JSONDocument, SequenceKey, UTCDateTime, UUIDKey


class Channel(Base):
    """A WhatsApp business number of a workspace on the Cloud API."""

    __tablename__ = "channel"
    __table_args__ = (UniqueConstraint("phone_number_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    phone_number_id: Mapped[str] = mapped_column(String(64))
    waba_id: Mapped[str] = mapped_column(String(64))
    display_phone_number: Mapped[str] = mapped_column(String(32))
    verified_name: Mapped[str] = mapped_column(String(200))
    # Encrypted at rest (core.crypto.SecretBox).
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    app_secret_encrypted: Mapped[str] = mapped_column(Text)
    webhook_verify_token: Mapped[str] = mapped_column(String(128))
    # Where this number's Graph API lives: Meta, or an emulator.
    graph_api_url: Mapped[str] = mapped_column(String(500))
    graph_api_version: Mapped[str] = mapped_column(String(16))
    # Figures read from Meta.
    quality_rating: Mapped[str | None] = mapped_column(String(16), default=None)
    messaging_limit_tier: Mapped[str | None] = mapped_column(String(32), default=None)
    throughput_mps: Mapped[int] = mapped_column(Integer, default=80)
    status: Mapped[str | None] = mapped_column(String(32), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    # Onboarding, as Meta last told it: the display name's review, the ownership code,
    # CLOUD_API once registered, whether our app gets the WABA's webhooks and where Meta
    # sends them (None: not read yet).
    name_status: Mapped[str | None] = mapped_column(String(32), default=None)
    code_verification_status: Mapped[str | None] = mapped_column(String(32), default=None)
    platform_type: Mapped[str | None] = mapped_column(String(32), default=None)
    webhooks_subscribed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    callback_url: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    disconnected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Round robin: a new conversation on this number goes to the next online member of
    # this team in turn (None: off, conversations wait unassigned).
    round_robin_team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("team.id", ondelete="SET NULL"), default=None
    )


class WebhookEventState(StrEnum):
    PENDING = "pending"  # durable, not applied yet
    APPLIED = "applied"
    UNKNOWN = "unknown"  # parsed, but nothing we know how to apply: kept, never dropped
    FAILED = "failed"  # applying raised; kept with the error for a retry or a look


class WebhookEvent(Base):
    """One webhook POST from Meta, stored before we answer 200.

    The log is the queue: the worker applies events in ``id`` order per number, so the
    event and its effects never disagree. Duplicates (Meta delivers at least once) share a
    ``body_sha256`` and are stored once.
    """

    __tablename__ = "webhook_event"
    __table_args__ = (
        UniqueConstraint("body_sha256"),
        Index("ix_webhook_event_pending", "state", "id"),
    )

    id: Mapped[int] = mapped_column(SequenceKey, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), default=None, index=True
    )
    phone_number_id: Mapped[str | None] = mapped_column(String(64), default=None)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_sha256: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=WebhookEventState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A FAILED event is retried from then on; None once it is left for a person to look at.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
