"""Contacts as webhooks and sends meet them: by wa_id, by BSUID, by any writing of a number.

Service-level, on SQLite and PostgreSQL (``database_url``), each step in its own session as
the ingestion worker and the API would run them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ovillo.contacts import service as contacts_service
from ovillo.contacts.errors import InvalidPhoneNumberError
from ovillo.contacts.models import Contact
from tests.factories import make_workspace

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


async def _upsert(
    sessions: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID, **fields: str | None
) -> Contact:
    async with sessions() as session:
        contact = await contacts_service.do_upsert_from_whatsapp(
            session=session, workspace_id=workspace_id, now=NOW, **fields
        )
        await session.commit()
        return contact


async def _count(sessions: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.workspace_id == workspace_id)
        )
        return int(count or 0)


async def test_the_same_webhook_twice_is_one_contact(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    fields = {"wa_id": "5215512345678", "user_id": "MX.8815523094477120", "profile_name": "Ana"}
    first = await _upsert(sessions, workspace_id, **fields)
    second = await _upsert(sessions, workspace_id, **fields)
    assert first.id == second.id
    assert second.phone_e164 == "+525512345678"
    assert second.country == "MX"
    assert await _count(sessions, workspace_id) == 1


async def test_a_bsuid_user_who_shows_their_number_stays_one_contact(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    by_username = await _upsert(
        sessions, workspace_id, wa_id=None, user_id="US.13491208655302741918", username="@bob"
    )
    assert by_username.wa_id is None
    assert by_username.country == "US"
    later = await _upsert(
        sessions,
        workspace_id,
        wa_id="12015550123",
        user_id="US.13491208655302741918",
        profile_name="Bob",
    )
    assert later.id == by_username.id
    assert later.wa_id == "12015550123"
    assert later.profile_name == "Bob"
    assert later.username == "@bob"
    assert await _count(sessions, workspace_id) == 1

    renamed = await _upsert(sessions, workspace_id, wa_id="12015550123", profile_name="Robert")
    assert renamed.id == by_username.id
    assert renamed.profile_name == "Robert"


async def test_a_number_added_by_hand_learns_its_bsuid(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    async with sessions() as session:
        added = await contacts_service.create_contact(
            session=session, workspace_id=workspace_id, phone_number="+52 55 1234 5678", now=NOW
        )
    seen = await _upsert(
        sessions, workspace_id, wa_id="5215512345678", user_id="MX.1", profile_name="Ana"
    )
    assert seen.id == added.id
    assert seen.user_id == "MX.1"


@pytest.mark.parametrize("to", ["+52 1 55 1234 5678", "5215512345678", "+525512345678"])
async def test_a_recipient_in_any_writing_finds_the_contact(
    database_url: str, sessions: async_sessionmaker[AsyncSession], to: str
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    known = await _upsert(sessions, workspace_id, wa_id="5215512345678", profile_name="Ana")
    async with sessions() as session:
        found = await contacts_service.get_or_create_for_recipient(
            session=session, workspace_id=workspace_id, to=to, now=NOW
        )
    assert found.id == known.id


async def test_a_new_recipient_is_created_and_a_bad_one_explained(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    async with sessions() as session:
        created = await contacts_service.get_or_create_for_recipient(
            session=session, workspace_id=workspace_id, to="+44 7700 900123", now=NOW
        )
        by_bsuid = await contacts_service.get_or_create_for_recipient(
            session=session, workspace_id=workspace_id, to="GB.998877", now=NOW
        )
        await session.commit()
        assert created.wa_id == "447700900123"
        assert by_bsuid.user_id == "GB.998877"
        with pytest.raises(InvalidPhoneNumberError) as raised:
            await contacts_service.get_or_create_for_recipient(
                session=session, workspace_id=workspace_id, to="+44 12", now=NOW
            )
    problem = raised.value.problem()
    assert problem["field"] == "to"
    assert problem["reason"] == "too_short"
    assert "'+44 12'" in problem["detail"]
    assert await _count(sessions, workspace_id) == 2


async def test_opt_outs_are_kept_per_category(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    contact = await _upsert(sessions, workspace_id, wa_id="447700900123")
    async with sessions() as session:
        loaded = await contacts_service.get_contact_or_raise(
            session=session, workspace_id=workspace_id, contact_id=contact.id
        )
        await contacts_service.do_set_opt_out(
            session=session, contact=loaded, category="Marketing", opted_out=True, now=NOW
        )
        await session.commit()
    async with sessions() as session:
        reloaded = await contacts_service.get_contact_or_raise(
            session=session, workspace_id=workspace_id, contact_id=contact.id
        )
    assert contacts_service.is_opted_out(reloaded, "marketing")
    assert not contacts_service.is_opted_out(reloaded, "utility")
