"""Tables of the contacts domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, UniqueConstraint
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


class ContactImport(Base):
    """One spreadsheet of contacts brought in by a business, and how far its import got.

    ``status``: ``pending`` (uploaded, columns not mapped yet), ``running``, ``finished``,
    ``failed`` (``error`` says why; the batches written before it stay). ``columns`` are the
    file's headers and ``mapping`` their targets, in the same order (``importing.py``).
    Counters move after each committed batch: ``rows_read == created + updated + rejected``.
    """

    __tablename__ = "contact_import"

    id: Mapped[uuid.UUID] = mapped_column(UUIDKey, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspace.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(8))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    default_country: Mapped[str | None] = mapped_column(String(2), default=None)
    columns: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    mapping: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    tags: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(1000), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class ContactImportReject(Base):
    """A row of an import that was not taken: where, which value, why, and the row itself
    (so the rejects file can be fixed and imported again)."""

    __tablename__ = "contact_import_reject"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contact_import.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    field: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(1000))
    reason: Mapped[str] = mapped_column(String(40))
    detail: Mapped[str] = mapped_column(String(300))
    cells: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
