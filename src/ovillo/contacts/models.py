"""Tables of the contacts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ovillo.core.db import Base
from ovillo.core.ids import new_id
from ovillo.core.types import JSONDocument, UTCDateTime, UUIDKey


class Contact(Base):
    """One WhatsApp user of a workspace.

    Known by ``wa_id`` (the phone number as WhatsApp writes it) and, since 2026, by a
    business-scoped user id (``user_id``, BSUID); a user who arrives by username may have
    only the latter.
    """

    __tablename__ = "contact"
    __table_args__ = (
        UniqueConstraint("workspace_id", "wa_id"),
        UniqueConstraint("workspace_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    wa_id: Mapped[str | None] = mapped_column(String(32), default=None)
    user_id: Mapped[str | None] = mapped_column(String(160), default=None)
    username: Mapped[str | None] = mapped_column(String(100), default=None)
    phone_e164: Mapped[str | None] = mapped_column(String(20), default=None)
    country: Mapped[str | None] = mapped_column(String(2), default=None)
    profile_name: Mapped[str | None] = mapped_column(String(200), default=None)
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    # category ("marketing", "utility") -> ISO time the contact opted out; absent = opted in.
    opt_outs: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    # When a send to the contact failed with 131026 (not on WhatsApp, or cannot receive):
    # campaigns leave them out until they write to us again, which clears it.
    not_on_whatsapp_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
