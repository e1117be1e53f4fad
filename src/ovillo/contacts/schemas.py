"""What the contacts API takes and answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ovillo.contacts.models import Contact, ContactImport
from ovillo.contacts.service import display_name
from ovillo.core.paging import Page

Attributes = dict[str, Any]


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(
        default=None,
        max_length=40,
        description="Any common writing: +52 1 55 1234 5678, a wa_id, or a national number "
        "with `default_region`.",
        examples=["+52 55 1234 5678"],
    )
    user_id: str | None = Field(
        default=None,
        max_length=160,
        description="WhatsApp's business-scoped user id (BSUID), for users known only by it.",
        examples=["US.13491208655302741918"],
    )
    default_region: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="ISO country for a number written without +country code.",
        examples=["MX"],
    )
    name: str | None = Field(default=None, max_length=200)
    attributes: Attributes = Field(default_factory=dict, description="Custom attributes.")
    tags: list[str] = Field(default_factory=list, max_length=50)
    opted_out: list[str] = Field(
        default_factory=list,
        description="Categories the contact opted out of: marketing, utility, authentication.",
    )


class ContactUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    default_region: str | None = Field(default=None, min_length=2, max_length=2)
    attributes: Attributes | None = Field(
        default=None, description="Merged into the current ones; a null value removes a key."
    )
    tags: list[str] | None = Field(default=None, max_length=50, description="Replaces the tags.")
    add_tags: list[str] = Field(default_factory=list, max_length=50)
    remove_tags: list[str] = Field(default_factory=list, max_length=50)
    opted_out: dict[str, bool] | None = Field(
        default=None,
        description="Category -> opted out (true) or back in (false).",
        examples=[{"marketing": True}],
    )


class ContactOut(BaseModel):
    id: uuid.UUID
    display_name: str
    name: str | None
    profile_name: str | None = Field(description="The name the user set in WhatsApp.")
    phone: str | None = Field(description="E.164.")
    wa_id: str | None = Field(description="How WhatsApp names the user (digits).")
    user_id: str | None = Field(description="Business-scoped user id (BSUID).")
    username: str | None
    country: str | None
    attributes: Attributes
    tags: list[str]
    opted_out: dict[str, datetime] = Field(description="Category -> when the contact opted out.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls(
            id=contact.id,
            display_name=display_name(contact),
            name=contact.name,
            profile_name=contact.profile_name,
            phone=contact.phone_e164,
            wa_id=contact.wa_id,
            user_id=contact.user_id,
            username=contact.username,
            country=contact.country,
            attributes=dict(contact.attributes or {}),
            tags=list(contact.tags or []),
            opted_out={
                category: datetime.fromisoformat(moment)
                for category, moment in (contact.opt_outs or {}).items()
            },
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )


class ContactPageOut(Page[ContactOut]):
    pass


class SegmentCountOut(BaseModel):
    matching: int = Field(description="Contacts the filter selects that can be sent to.")
    excluded_opted_out: int = Field(description="Selected, but opted out of marketing.")
    excluded_not_on_whatsapp: int = Field(
        description="Selected, but Meta reported them as not on WhatsApp (error 131026)."
    )
    by_country: dict[str, int] = Field(
        description="The matching contacts by ISO country (`unknown` when not known)."
    )


class ImportColumnOut(BaseModel):
    name: str = Field(description="The column's header in the file.")
    target: str = Field(
        description="phone, name, first_name, last_name, country, tags, skip or attribute:KEY."
    )


class ContactImportOut(BaseModel):
    id: uuid.UUID
    status: str = Field(description="pending, running, finished or failed.")
    file_name: str
    file_size: int
    default_country: str | None
    columns: list[ImportColumnOut]
    tags: list[str] = Field(description="Given to every imported contact.")
    rows_read: int = Field(description="Rows read so far (blank rows are not rows).")
    created: int = Field(description="Rows that made a new contact.")
    updated: int = Field(description="Rows merged into a contact (earlier in the file too).")
    rejected: int = Field(description="Rows not imported; see `rejects_url`.")
    error: str | None = Field(description="Why a failed import stopped.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    rejects_url: str = Field(description="The rejected rows as CSV.")

    @classmethod
    def of(cls, contact_import: ContactImport) -> ContactImportOut:
        return cls(
            id=contact_import.id,
            status=contact_import.status,
            file_name=contact_import.file_name,
            file_size=contact_import.file_size,
            default_country=contact_import.default_country,
            columns=[
                ImportColumnOut(name=name, target=target)
                for name, target in zip(
                    contact_import.columns, contact_import.mapping, strict=False
                )
            ],
            tags=list(contact_import.tags),
            rows_read=contact_import.rows_read,
            created=contact_import.created,
            updated=contact_import.updated,
            rejected=contact_import.rejected,
            error=contact_import.error,
            created_at=contact_import.created_at,
            started_at=contact_import.started_at,
            finished_at=contact_import.finished_at,
            rejects_url=f"/api/v1/contacts/imports/{contact_import.id}/rejects",
        )
