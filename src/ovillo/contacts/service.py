"""Use cases of the contacts domain: one contact per WhatsApp user of a workspace.

A WhatsApp user is known by ``wa_id`` (their number as WhatsApp writes it) and, since 2026,
by a business-scoped user id (BSUID, ``user_id``); a user who writes by username may come
with the BSUID alone and show their ``wa_id`` later. Both are unique per workspace, and a
contact first seen by one and later with both stays one contact.

Lists page by an opaque cursor over the time-ordered ids, newest first.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

import structlog
from sqlalchemy import (
    ColumnElement,
    String,
    TextClause,
    TextualSelect,
    bindparam,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.contacts.errors import (
    ContactExistsError,
    ContactNotFoundError,
    InvalidCursorError,
    InvalidOptOutCategoryError,
    InvalidPhoneNumberError,
)
from ovillo.contacts.models import Contact
from ovillo.core import events, ids, paging
from ovillo.core.db import insert_for
from ovillo.core.types import UTCDateTime, UUIDKey
from ovillo.rules import phone

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE: Final = 200
DEFAULT_PAGE_SIZE: Final = 50
MAX_TAGS: Final = 50
MAX_TAG_LENGTH: Final = 50
_CURSOR_VERSION: Final = "c1:"
# ``contact.user_id``'s width: a longer "BSUID" is not one.
_USER_ID_LENGTH: Final = 160


class OptOutCategory(StrEnum):
    """What a contact may opt out of, by Meta's message categories."""

    MARKETING = "marketing"
    UTILITY = "utility"
    AUTHENTICATION = "authentication"


# --- Pure helpers ------------------------------------------------------------------------


def encode_cursor(last_id: uuid.UUID) -> str:
    """An opaque cursor that resumes a list after ``last_id``."""
    return paging.encode_cursor(_CURSOR_VERSION + last_id.hex)


def decode_cursor(cursor: str) -> uuid.UUID:
    """The id a cursor resumes after; ``InvalidCursorError`` for anything we did not issue."""
    position = paging.decode_cursor(cursor, prefix=_CURSOR_VERSION)
    try:
        last_id = uuid.UUID(hex=position or "")
        # Only the id's own spelling: `uuid.UUID` would take braces and hyphens too.
        if last_id.hex != position:
            raise ValueError(cursor)
        return last_id
    except ValueError:
        raise InvalidCursorError(
            "the cursor is not valid: pass `next_cursor` from the previous page as it came"
        ) from None


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags stripped, empty ones dropped, duplicates removed, in their first order."""
    cleaned: list[str] = []
    for tag in tags:
        stripped = tag.strip()[:MAX_TAG_LENGTH]
        if stripped and stripped not in cleaned:
            cleaned.append(stripped)
    return cleaned[:MAX_TAGS]


def merge_attributes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch (RFC 7396) of custom attributes, one level deep: None removes a key."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def opt_out_category(category: str) -> OptOutCategory:
    try:
        return OptOutCategory(category.strip().lower())
    except ValueError:
        known = ", ".join(item.value for item in OptOutCategory)
        raise InvalidOptOutCategoryError(
            f"{category!r} is not an opt-out category (known: {known})", category=category
        ) from None


def is_opted_out(contact: Contact, category: str) -> bool:
    """Whether the contact opted out of messages of ``category`` (marketing, utility...)."""
    return category.strip().lower() in (contact.opt_outs or {})


def normalized_phone(
    value: str, *, field: str, default_region: str | None = None
) -> phone.PhoneNumber:
    """``value`` as a WhatsApp number, or a 422 naming the field, the value and the reason."""
    try:
        return phone.normalize(value, default_region)
    except phone.InvalidPhoneNumber as error:
        raise InvalidPhoneNumberError(
            f"{field}: {error}", field=field, value=value, reason=error.reason.value
        ) from None
    except ValueError as error:  # an unknown default region
        raise InvalidPhoneNumberError(
            f"{field}: {error}", field=field, value=value, reason="unknown_default_region"
        ) from None


def display_name(contact: Contact) -> str:
    """What to call a contact: the name the business gave, their WhatsApp name, or a handle."""
    return (
        contact.name
        or contact.profile_name
        or contact.username
        or contact.phone_e164
        or contact.user_id
        or str(contact.id)
    )


# --- Lookups -----------------------------------------------------------------------------


async def get_contact(
    *, session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact | None:
    return await session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, Contact.id == contact_id)
    )


async def get_contact_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact:
    contact = await get_contact(session=session, workspace_id=workspace_id, contact_id=contact_id)
    if contact is None:
        raise ContactNotFoundError(f"contact {contact_id} does not exist in this workspace")
    return contact


async def get_contact_by_wa_id(
    *, session: AsyncSession, workspace_id: uuid.UUID, wa_id: str
) -> Contact | None:
    return await session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, Contact.wa_id == wa_id)
    )


async def get_contact_by_user_id(
    *, session: AsyncSession, workspace_id: uuid.UUID, user_id: str
) -> Contact | None:
    return await session.scalar(
        select(Contact).where(Contact.workspace_id == workspace_id, Contact.user_id == user_id)
    )


async def _get_by_number(
    session: AsyncSession, workspace_id: uuid.UUID, number: phone.PhoneNumber
) -> Contact | None:
    return await session.scalar(
        select(Contact)
        .where(
            Contact.workspace_id == workspace_id,
            or_(Contact.wa_id == number.wa_id, Contact.phone_e164 == number.e164),
        )
        .order_by(Contact.id)
        .limit(1)
    )


# --- From WhatsApp -----------------------------------------------------------------------


def _fill_identity(contact: Contact, *, wa_id: str | None) -> None:
    if wa_id is None:
        return
    contact.wa_id = wa_id
    try:
        number = phone.normalize(wa_id, rejected_line_types=frozenset())
    except phone.InvalidPhoneNumber:
        return
    contact.phone_e164 = number.e164
    contact.country = number.country or contact.country


@dataclass(frozen=True, slots=True)
class WhatsAppUser:
    """A WhatsApp user as a webhook names them: ``wa_id`` and/or BSUID (``user_id``)."""

    wa_id: str | None
    user_id: str | None = None
    profile_name: str | None = None
    username: str | None = None

    def __post_init__(self) -> None:
        if not self.wa_id and not self.user_id:
            raise ValueError("a WhatsApp user needs a wa_id or a user_id")


def _new_contact_row(workspace_id: uuid.UUID, user: WhatsAppUser, now: datetime) -> dict[str, Any]:
    contact = Contact(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        user_id=user.user_id or None,
        username=user.username,
        profile_name=user.profile_name,
        country=phone.bsuid_country(user.user_id) if user.user_id else None,
        name=None,
        wa_id=None,
        phone_e164=None,
        attributes={},
        tags=[],
        opt_outs={},
        created_at=now,
        updated_at=now,
    )
    _fill_identity(contact, wa_id=user.wa_id or None)
    return {column.key: getattr(contact, column.key) for column in Contact.__table__.columns}


def _refresh_from_whatsapp(
    workspace_id: uuid.UUID,
    user: WhatsAppUser,
    *,
    by_wa: Contact | None,
    by_user: Contact | None,
    now: datetime,
) -> Contact:
    """The contact of ``user`` among the two found, refreshed with what the webhook says."""
    contact = by_wa or by_user
    assert contact is not None
    wa_id, user_id = user.wa_id or None, user.user_id or None
    changed = False
    if wa_id and contact.wa_id != wa_id and by_wa is None:
        _fill_identity(contact, wa_id=wa_id)
        changed = True
    if user_id and contact.user_id != user_id:
        if by_user is None:
            # The BSUID changes when the user changes number: the newest one is theirs.
            contact.user_id = user_id
            contact.country = contact.country or phone.bsuid_country(user_id)
            changed = True
        elif by_user.id != contact.id:
            log.warning(
                "contact_identity_split",
                workspace_id=str(workspace_id),
                contact_id=str(contact.id),
                other_contact_id=str(by_user.id),
            )
    if user.profile_name and contact.profile_name != user.profile_name:
        contact.profile_name = user.profile_name
        changed = True
    if user.username and contact.username != user.username:
        contact.username = user.username
        changed = True
    if changed:
        contact.updated_at = now
    return contact


# Rows per INSERT: a contact row has 15 columns, far below SQLite's 32,766 parameters.
_INSERT_CHUNK: Final = 500


async def _contacts_named(
    session: AsyncSession, workspace_id: uuid.UUID, users: Iterable[WhatsAppUser]
) -> tuple[dict[str, Contact], dict[str, Contact]]:
    """The workspace's contacts of ``users``, by ``wa_id`` and by BSUID: one query a chunk."""
    wa_ids = sorted({u.wa_id for u in users if u.wa_id})
    user_ids = sorted({u.user_id for u in users if u.user_id})
    by_wa: dict[str, Contact] = {}
    by_user: dict[str, Contact] = {}
    for start in range(0, max(len(wa_ids), len(user_ids)), _INSERT_CHUNK):
        wa_chunk = wa_ids[start : start + _INSERT_CHUNK]
        user_chunk = user_ids[start : start + _INSERT_CHUNK]
        matches: list[ColumnElement[bool]] = []
        if wa_chunk:
            matches.append(Contact.wa_id.in_(wa_chunk))
        if user_chunk:
            matches.append(Contact.user_id.in_(user_chunk))
        for contact in await session.scalars(
            select(Contact).where(Contact.workspace_id == workspace_id, or_(*matches))
        ):
            if contact.wa_id is not None:
                by_wa[contact.wa_id] = contact
            if contact.user_id is not None:
                by_user[contact.user_id] = contact
    return by_wa, by_user


async def do_upsert_many_from_whatsapp(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    users: Sequence[WhatsAppUser],
    now: datetime,
) -> list[Contact]:
    """The contacts of WhatsApp users named in webhooks, created or refreshed, in order.

    A batch costs one lookup, and for the users not known yet one ``INSERT ... ON CONFLICT
    DO NOTHING`` and a second lookup, whatever its size. Idempotent. Each user is found by
    ``wa_id`` or by BSUID (``user_id``); the one found learns the identifier it lacked,
    and the profile name and username are refreshed. When the two identifiers name two
    different contacts (a number added by hand and a username user seen before), the
    ``wa_id`` contact is used and the BSUID stays where it is (merging contacts is not done
    here). A user named twice in the batch is one contact. A concurrent insert of the same
    user is absorbed: the conflict skips our row and the second lookup reads theirs. Does
    not commit.
    """
    if not users:
        return []
    by_wa, by_user = await _contacts_named(session, workspace_id, users)
    # The users no contact knows yet, one row each (merged when two name one person).
    new_rows: list[dict[str, Any]] = []
    planned_wa: dict[str, dict[str, Any]] = {}
    planned_user: dict[str, dict[str, Any]] = {}
    for user in users:
        if (user.wa_id and user.wa_id in by_wa) or (user.user_id and user.user_id in by_user):
            continue
        row = (planned_wa.get(user.wa_id) if user.wa_id else None) or (
            planned_user.get(user.user_id) if user.user_id else None
        )
        if row is None:
            row = _new_contact_row(workspace_id, user, now)
            new_rows.append(row)
        elif user.user_id and row["user_id"] is None:
            row["user_id"] = user.user_id
            row["country"] = row["country"] or phone.bsuid_country(user.user_id)
        elif user.wa_id and row["wa_id"] is None:
            merged = _new_contact_row(workspace_id, replace(user, user_id=row["user_id"]), now)
            row.update(wa_id=merged["wa_id"], phone_e164=merged["phone_e164"])
            row["country"] = merged["country"] or row["country"]
        if row["wa_id"]:
            planned_wa[row["wa_id"]] = row
        if row["user_id"]:
            planned_user[row["user_id"]] = row
    if new_rows:
        table = Contact.__table__
        statement = insert_for(session)(table).on_conflict_do_nothing()
        for start in range(0, len(new_rows), _INSERT_CHUNK):
            await session.execute(statement, new_rows[start : start + _INSERT_CHUNK])
        by_wa, by_user = await _contacts_named(session, workspace_id, users)
        created = {row["id"] for row in new_rows}
        for contact in {c.id: c for c in [*by_wa.values(), *by_user.values()]}.values():
            if contact.id in created:
                log.info(
                    "contact_created", workspace_id=str(workspace_id), contact_id=str(contact.id)
                )
    contacts: list[Contact] = []
    for user in users:
        found_wa = by_wa.get(user.wa_id) if user.wa_id else None
        found_user = by_user.get(user.user_id) if user.user_id else None
        if found_wa is None and found_user is None:
            raise LookupError(
                f"contact of {user.wa_id or user.user_id} neither inserted nor found"
            )  # a conflicting row deleted between our insert and our lookup: try again
        contacts.append(
            _refresh_from_whatsapp(workspace_id, user, by_wa=found_wa, by_user=found_user, now=now)
        )
    await session.flush()
    return contacts


async def do_upsert_from_whatsapp(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    wa_id: str | None,
    user_id: str | None = None,
    profile_name: str | None = None,
    username: str | None = None,
    now: datetime,
) -> Contact:
    """The contact of one WhatsApp user named in a webhook, created or refreshed
    (``do_upsert_many_from_whatsapp`` of one). Does not commit."""
    user = WhatsAppUser(
        wa_id=wa_id or None,
        user_id=user_id or None,
        profile_name=profile_name,
        username=username,
    )
    (contact,) = await do_upsert_many_from_whatsapp(
        session=session, workspace_id=workspace_id, users=[user], now=now
    )
    return contact


async def do_change_identity(
    *,
    session: AsyncSession,
    contact: Contact,
    wa_id: str | None = None,
    user_id: str | None = None,
    now: datetime,
) -> bool:
    """Move the contact to the identity Meta says its user now has; whether it moved.

    For Meta's system messages: ``user_changed_number`` (a new ``wa_id``, and with it a new
    BSUID, which the user's next message names; the old one is kept until then) and
    ``user_changed_user_id`` (a new BSUID). A new number that is not a phone number, or an
    identifier another contact of the workspace already holds (a number added by hand, a
    user seen before), moves nothing and is logged: merging contacts is not done here.
    Does not commit.
    """
    changed = False
    if wa_id and wa_id != contact.wa_id:
        try:
            number = phone.normalize(wa_id, rejected_line_types=frozenset())
        except phone.InvalidPhoneNumber as error:
            log.warning(
                "contact_number_change_unreadable",
                contact_id=str(contact.id),
                reason=error.reason.value,
            )
            number = None
        holder = (
            await get_contact_by_wa_id(
                session=session, workspace_id=contact.workspace_id, wa_id=number.wa_id
            )
            if number is not None
            else None
        )
        if holder is not None and holder.id != contact.id:
            log.warning(
                "contact_identity_split",
                workspace_id=str(contact.workspace_id),
                contact_id=str(contact.id),
                other_contact_id=str(holder.id),
            )
        elif number is not None:
            _fill_identity(contact, wa_id=number.wa_id)
            changed = True
    if user_id and user_id != contact.user_id and len(user_id) <= _USER_ID_LENGTH:
        holder = await get_contact_by_user_id(
            session=session, workspace_id=contact.workspace_id, user_id=user_id
        )
        if holder is not None and holder.id != contact.id:
            log.warning(
                "contact_identity_split",
                workspace_id=str(contact.workspace_id),
                contact_id=str(contact.id),
                other_contact_id=str(holder.id),
            )
        else:
            contact.user_id = user_id
            contact.country = contact.country or phone.bsuid_country(user_id)
            changed = True
    if changed:
        contact.updated_at = now
        await session.flush()
        log.info("contact_identity_changed", contact_id=str(contact.id))
    return changed


async def get_or_create_for_recipient(
    *, session: AsyncSession, workspace_id: uuid.UUID, to: str, now: datetime
) -> Contact:
    """The contact to send to: a phone number in any common writing, or a BSUID.

    A phone number is normalised with ``rules.phone`` (Mexico's "1" and the rest), and
    matched by ``wa_id`` or E.164; a bad one raises ``InvalidPhoneNumberError`` (422)
    naming the number and why. Does not commit (the caller's send commits).
    """
    text = to.strip()
    if phone.is_bsuid(text):
        return await do_upsert_from_whatsapp(
            session=session, workspace_id=workspace_id, wa_id=None, user_id=text, now=now
        )
    number = normalized_phone(text, field="to")
    existing = await _get_by_number(session, workspace_id, number)
    if existing is not None:
        return existing
    return await do_upsert_from_whatsapp(
        session=session, workspace_id=workspace_id, wa_id=number.wa_id, now=now
    )


# --- CRUD --------------------------------------------------------------------------------


async def create_contact(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    phone_number: str | None = None,
    user_id: str | None = None,
    default_region: str | None = None,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    opt_outs: Iterable[str] = (),
    now: datetime,
) -> Contact:
    """A contact added by the business, by phone number and/or BSUID; 409 if it exists."""
    if phone_number is None and user_id is None:
        raise InvalidPhoneNumberError(
            "phone: a contact needs a phone number (or a WhatsApp user id)",
            field="phone",
            reason="empty",
        )
    number = (
        normalized_phone(phone_number, field="phone", default_region=default_region)
        if phone_number is not None
        else None
    )
    if user_id is not None and not phone.is_bsuid(user_id):
        raise InvalidPhoneNumberError(
            f"user_id: {user_id!r} is not a business-scoped user id (like US.1349120865530274)",
            field="user_id",
            value=user_id,
            reason="not_a_bsuid",
        )
    categories = [opt_out_category(category) for category in opt_outs]
    existing = await _existing(session, workspace_id, number=number, user_id=user_id)
    if existing is not None:
        raise ContactExistsError(
            f"contact {existing.id} already has this number", contact_id=str(existing.id)
        )
    contact = Contact(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        user_id=user_id,
        name=name,
        country=phone.bsuid_country(user_id) if user_id else None,
        attributes=dict(attributes or {}),
        tags=clean_tags(tags),
        opt_outs={category.value: now.isoformat() for category in categories},
        created_at=now,
        updated_at=now,
    )
    if number is not None:
        contact.wa_id = number.wa_id
        contact.phone_e164 = number.e164
        contact.country = number.country
    session.add(contact)
    await _commit_or_conflict(session, workspace_id, number=number, user_id=user_id)
    log.info("contact_created", workspace_id=str(workspace_id), contact_id=str(contact.id))
    return contact


async def _existing(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    number: phone.PhoneNumber | None,
    user_id: str | None,
    other_than: uuid.UUID | None = None,
) -> Contact | None:
    matches: list[ColumnElement[bool]] = []
    if number is not None:
        matches += [Contact.wa_id == number.wa_id, Contact.phone_e164 == number.e164]
    if user_id is not None:
        matches.append(Contact.user_id == user_id)
    if not matches:
        return None
    query = select(Contact).where(Contact.workspace_id == workspace_id, or_(*matches))
    if other_than is not None:
        query = query.where(Contact.id != other_than)
    return await session.scalar(query.limit(1))


async def _commit_or_conflict(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    number: phone.PhoneNumber | None,
    user_id: str | None,
) -> None:
    try:
        await session.commit()
    except IntegrityError as error:
        await session.rollback()
        existing = await _existing(session, workspace_id, number=number, user_id=user_id)
        raise ContactExistsError(
            "a contact with this number was added at the same time",
            contact_id=str(existing.id) if existing is not None else None,
        ) from error


@dataclass(frozen=True, slots=True)
class ContactPage:
    items: list[Contact]
    next_cursor: str | None


def has_tag(dialect: str, tag: str) -> ColumnElement[bool]:
    """The contact has ``tag``, on the database named by ``dialect`` (its SQLAlchemy name)."""
    # JSON arrays are searched differently: JSONB containment on PostgreSQL, json_each on
    # SQLite.
    if dialect == "postgresql":
        return type_coerce(Contact.tags, JSONB).contains([tag])
    elements = func.json_each(Contact.tags).table_valued("value").alias("tag")
    return exists(select(literal(1)).select_from(elements).where(column("value") == tag))


def like_pattern(text: str) -> str:
    """A LIKE pattern (escape ``\\``) for text containing ``text`` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_contacts(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    tag: str | None = None,
    search: str | None = None,
) -> ContactPage:
    """One page of the workspace's contacts, newest first.

    ``tag`` keeps contacts with that tag; ``search`` matches names (the business's, the
    WhatsApp profile's and the username, case-insensitive) and, when it has no letters, phone
    numbers by its digits.
    """
    page_size = max(1, min(limit, MAX_PAGE_SIZE))
    query = select(Contact).where(Contact.workspace_id == workspace_id)
    if cursor:
        query = query.where(Contact.id < decode_cursor(cursor))
    if tag:
        query = query.where(has_tag(session.get_bind().dialect.name, tag.strip()))
    if search and search.strip():
        text = search.strip()
        pattern = like_pattern(text.lower())
        matches: list[ColumnElement[bool]] = [
            func.lower(Contact.name).like(pattern, escape="\\"),
            func.lower(Contact.profile_name).like(pattern, escape="\\"),
            func.lower(Contact.username).like(pattern, escape="\\"),
        ]
        digits = "".join(character for character in text if character.isdigit())
        # "+52 55 1234" is a number; "Suite 100" is a name that happens to hold digits.
        if digits and not any(character.isalpha() for character in text):
            matches += [
                Contact.phone_e164.like(f"%{digits}%"),
                Contact.wa_id.like(f"%{digits}%"),
            ]
        query = query.where(or_(*matches))
    rows = list(await session.scalars(query.order_by(Contact.id.desc()).limit(page_size + 1)))
    items = rows[:page_size]
    next_cursor = encode_cursor(items[-1].id) if len(rows) > page_size else None
    return ContactPage(items=items, next_cursor=next_cursor)


_UNSET: Any = object()


async def update_contact(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime,
    name: str | None = _UNSET,
    phone_number: str | None = _UNSET,
    default_region: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    opt_outs: Mapping[str, bool] | None = None,
) -> Contact:
    """Change what the business keeps about a contact; omitted arguments stay as they are.

    ``attributes`` is merged (a None value removes its key), ``tags`` replaces the tags,
    ``add_tags``/``remove_tags`` edit them, ``opt_outs`` maps a category to opted out or not.
    """
    contact = await get_contact_or_raise(
        session=session, workspace_id=workspace_id, contact_id=contact_id
    )
    number: phone.PhoneNumber | None = None
    if phone_number is not _UNSET and phone_number is not None:
        number = normalized_phone(phone_number, field="phone", default_region=default_region)
        if number.wa_id != contact.wa_id:
            clash = await _existing(
                session, workspace_id, number=number, user_id=None, other_than=contact.id
            )
            if clash is not None:
                raise ContactExistsError(
                    f"contact {clash.id} already has this number", contact_id=str(clash.id)
                )
            contact.wa_id = number.wa_id
            contact.phone_e164 = number.e164
            contact.country = number.country
    if name is not _UNSET:
        contact.name = name
    if attributes is not None:
        contact.attributes = merge_attributes(contact.attributes or {}, attributes)
    if tags is not None or add_tags or remove_tags:
        current = clean_tags(tags) if tags is not None else list(contact.tags or [])
        removed = set(clean_tags(remove_tags))
        contact.tags = clean_tags([*(t for t in current if t not in removed), *add_tags])
    for category, opted_out in (opt_outs or {}).items():
        await do_set_opt_out(
            session=session, contact=contact, category=category, opted_out=opted_out, now=now
        )
    contact.updated_at = now
    # Open pages redraw the contact's conversation rows (name, tags) after commit.
    events.publish_on_commit(
        session,
        workspace_id=workspace_id,
        kind="contact_updated",
        data={"contact_id": contact.id, "name": contact.name, "tags": list(contact.tags or [])},
    )
    await _commit_or_conflict(session, workspace_id, number=number, user_id=None)
    log.info("contact_updated", workspace_id=str(workspace_id), contact_id=str(contact.id))
    return contact


async def do_set_opt_out(
    *, session: AsyncSession, contact: Contact, category: str, opted_out: bool, now: datetime
) -> Contact:
    """Record that the contact opted out of (or back into) a category. Does not commit.

    Opting out again keeps the first time; the time is what a dispute needs.
    """
    key = opt_out_category(category).value
    current = dict(contact.opt_outs or {})
    if opted_out:
        current.setdefault(key, now.isoformat())
    else:
        current.pop(key, None)
    # A new dict, so the ORM sees the JSON column change.
    contact.opt_outs = current
    contact.updated_at = now
    await session.flush()
    return contact


async def do_set_not_on_whatsapp(
    *, session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID, now: datetime
) -> None:
    """Meta said the contact cannot receive WhatsApp messages (a send failed with 131026);
    the first time is kept. Does not commit."""
    await session.execute(
        update(Contact)
        .where(
            Contact.workspace_id == workspace_id,
            Contact.id == contact_id,
            Contact.not_on_whatsapp_at.is_(None),
        )
        .values(not_on_whatsapp_at=now, updated_at=now)
    )
    log.info("contact_not_on_whatsapp", contact_id=str(contact_id))


async def do_set_on_whatsapp(*, session: AsyncSession, contact: Contact, now: datetime) -> None:
    """The contact wrote: they are on WhatsApp after all. Does not commit."""
    contact.not_on_whatsapp_at = None
    contact.updated_at = now


async def delete_contact(
    *, session: AsyncSession, workspace_id: uuid.UUID, contact_id: uuid.UUID
) -> None:
    """Erase the contact and, with it, its conversations and messages (right to erasure)."""
    contact = await get_contact_or_raise(
        session=session, workspace_id=workspace_id, contact_id=contact_id
    )
    await session.delete(contact)
    await session.commit()
    log.info("contact_deleted", workspace_id=str(workspace_id), contact_id=str(contact_id))


# --- Imports -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportedContact:
    """A contact as a row of an imported file gives it (``importing.read_row``)."""

    wa_id: str
    e164: str
    country: str | None
    name: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def merge_imported(
    *,
    name: str | None,
    attributes: Mapping[str, Any],
    tags: Sequence[str],
    incoming: ImportedContact,
) -> tuple[str | None, dict[str, Any], list[str]]:
    """What a contact keeps once a row of a file about it is merged in: the row's name when
    it has one, its attributes over the current ones (an empty cell erases nothing), the tags
    of both."""
    return (
        incoming.name or name,
        {**attributes, **incoming.attributes},
        clean_tags([*tags, *incoming.tags]),
    )


async def do_merge_imported(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contacts: Sequence[ImportedContact],
    now: datetime,
) -> tuple[int, int]:
    """Write a batch of imported contacts; ``(created, updated)`` counts rows of the batch.

    One contact per number: rows naming the same ``wa_id`` (in the batch, or a contact the
    workspace already has) are merged (``merge_imported``), so ``created + updated ==
    len(contacts)``. Three statements whatever the batch's size: one ``INSERT ... ON
    CONFLICT DO NOTHING RETURNING`` of every number, one lookup of those it did not insert
    (the workspace has them, or someone inserted them meanwhile) and one ``UPDATE`` merging
    the row into them, the rows travelling as one JSON document (a statement of thousands
    of parameters costs more to build than to run). Does not commit.
    """
    merged: dict[str, ImportedContact] = {}
    for contact in contacts:
        earlier = merged.get(contact.wa_id)
        if earlier is not None:
            name, attributes, tags = merge_imported(
                name=earlier.name,
                attributes=earlier.attributes,
                tags=earlier.tags,
                incoming=contact,
            )
            contact = replace(contact, name=name, attributes=attributes, tags=tuple(tags))
        merged[contact.wa_id] = contact
    if not merged:
        return 0, len(contacts)
    sql = _ImportSQL.for_session(session)
    # Insert them all: the numbers the workspace already has are the ones not inserted,
    # found by the unique index the insert probes anyway (a lookup of the whole batch first
    # read thousands of index and table pages for the few that exist).
    new_ids = ids.new_ids(now, len(merged))
    rows = [sql.new_row(i, contact) for i, contact in zip(new_ids, merged.values(), strict=True)]
    inserted = set(
        await session.scalars(
            sql.insert, {"rows": json.dumps(rows), "workspace_id": workspace_id, "now": now}
        )
    )
    existing = [wa_id for wa_id in merged if wa_id not in inserted]
    if existing:
        known = await _known_contacts(session, workspace_id, existing)
        if len(known) != len(existing):
            # Deleted between our insert and this lookup: the caller's batch is retried.
            raise LookupError("an imported contact was neither inserted nor found")
        changes = [
            sql.changed_row(contact_id, *merge_imported(
                name=name, attributes=attributes or {}, tags=tags or [], incoming=merged[wa_id]
            ))
            for wa_id, (contact_id, name, attributes, tags) in known.items()
        ]  # fmt: skip
        await session.execute(sql.update, {"rows": json.dumps(changes), "now": now})
    created = len(inserted)
    return created, len(contacts) - created


async def _known_contacts(
    session: AsyncSession, workspace_id: uuid.UUID, wa_ids: Sequence[str]
) -> dict[str, tuple[uuid.UUID, str | None, dict[str, Any] | None, list[str] | None]]:
    """The workspace's contacts among ``wa_ids``: id, name, attributes, tags by number."""
    found = await session.execute(
        select(Contact.wa_id, Contact.id, Contact.name, Contact.attributes, Contact.tags).where(
            Contact.workspace_id == workspace_id, Contact.wa_id.in_(wa_ids)
        )
    )
    return {
        wa_id: (contact_id, name, attributes, tags)
        for wa_id, contact_id, name, attributes, tags in found
        if wa_id is not None
    }


_CONTACT_COLUMNS: Final = (
    "id, workspace_id, wa_id, phone_e164, country, name, attributes, tags, opt_outs, "
    "created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class _ImportSQL:
    """An import batch's insert and update, per dialect: the rows come as one JSON array
    (``:rows``), read by ``json_each`` on SQLite and ``jsonb_to_recordset`` on PostgreSQL.

    Values are written as SQLAlchemy writes them: on SQLite, ids as 32 hex digits and JSON
    columns as ``json.dumps`` text (so the rows carry them already serialised); on
    PostgreSQL, ids as ``uuid`` and JSON columns as ``jsonb``."""

    insert: TextualSelect
    update: TextClause
    sqlite: bool

    @classmethod
    def for_session(cls, session: AsyncSession) -> _ImportSQL:
        return _SQLITE_IMPORT if session.get_bind().dialect.name == "sqlite" else _POSTGRES_IMPORT

    def new_row(self, contact_id: uuid.UUID, contact: ImportedContact) -> Any:
        attributes, tags = dict(contact.attributes), clean_tags(contact.tags)
        if self.sqlite:
            return [
                contact_id.hex, contact.wa_id, contact.e164, contact.country, contact.name,
                json.dumps(attributes), json.dumps(tags),
            ]  # fmt: skip
        return {
            "id": str(contact_id), "wa_id": contact.wa_id, "phone_e164": contact.e164,
            "country": contact.country, "name": contact.name, "attributes": attributes,
            "tags": tags,
        }  # fmt: skip

    def changed_row(
        self,
        contact_id: uuid.UUID,
        name: str | None,
        attributes: dict[str, Any],
        tags: list[str],
    ) -> Any:
        if self.sqlite:
            return [contact_id.hex, name, json.dumps(attributes), json.dumps(tags)]
        return {"id": str(contact_id), "name": name, "attributes": attributes, "tags": tags}


def _import_sql(*, sqlite: bool, insert: str, update: str) -> _ImportSQL:
    params = (
        bindparam("rows", type_=String()),
        bindparam("workspace_id", type_=UUIDKey),
        bindparam("now", type_=UTCDateTime()),
    )
    return _ImportSQL(
        insert=text(insert).bindparams(*params).columns(column("wa_id", String())),
        update=text(update).bindparams(params[0], params[2]),
        sqlite=sqlite,
    )


_SQLITE_IMPORT: Final = _import_sql(
    sqlite=True,
    # ``WHERE true``: SQLite reads an ``ON`` after ``FROM`` as a join's unless told.
    insert=f"""
        INSERT INTO contact ({_CONTACT_COLUMNS})
        SELECT json_extract(r.value, '$[0]'), :workspace_id, json_extract(r.value, '$[1]'),
               json_extract(r.value, '$[2]'), json_extract(r.value, '$[3]'),
               json_extract(r.value, '$[4]'), json_extract(r.value, '$[5]'),
               json_extract(r.value, '$[6]'), '{{}}', :now, :now
        FROM json_each(:rows) AS r WHERE true
        ON CONFLICT DO NOTHING RETURNING wa_id
    """,
    update="""
        UPDATE contact
        SET name = json_extract(r.value, '$[1]'), attributes = json_extract(r.value, '$[2]'),
            tags = json_extract(r.value, '$[3]'), updated_at = :now
        FROM json_each(:rows) AS r
        WHERE contact.id = json_extract(r.value, '$[0]')
    """,
)
_POSTGRES_IMPORT: Final = _import_sql(
    sqlite=False,
    insert=f"""
        INSERT INTO contact ({_CONTACT_COLUMNS})
        SELECT r.id, :workspace_id, r.wa_id, r.phone_e164, r.country, r.name, r.attributes,
               r.tags, '{{}}'::jsonb, :now, :now
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, wa_id text, phone_e164 text, country text, name text, attributes jsonb,
            tags jsonb
        )
        ON CONFLICT DO NOTHING RETURNING wa_id
    """,
    update="""
        UPDATE contact AS c
        SET name = r.name, attributes = r.attributes, tags = r.tags, updated_at = :now
        FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
            id uuid, name text, attributes jsonb, tags jsonb
        )
        WHERE c.id = r.id
    """,
)
