"""Segments: which contacts a filter selects, who is left out and why, on SQLite and
PostgreSQL; and the count through the REST API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ovillo.contacts import segments
from ovillo.contacts import service as contacts_service
from ovillo.contacts.models import Contact
from ovillo.inbox.models import Conversation, ConversationStatus
from ovillo.server import PlatformServer
from tests.factories import auth, make_workspace, stub_channel

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


async def _people(sessions: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID) -> None:
    """Six contacts (by name) in MX, ES and US, and one of another workspace."""
    people: list[dict[str, Any]] = [
        {"name": "ana", "phone": "+5215512340001", "tags": ["vip", "mx"], "plan": "Gold"},
        {"name": "beto", "phone": "+5215512340002", "tags": ["mx"], "plan": "silver"},
        {"name": "carla", "phone": "+34612340003", "tags": ["vip"], "plan": "gold", "n": 5},
        {"name": "dani", "phone": "+34612340004", "tags": [], "out": True},
        {"name": "eva", "phone": "+14155550105", "tags": ["vip"], "off": True},
        {"name": "fede", "phone": "+14155550106", "tags": ["vip"], "out": True, "off": True},
    ]
    async with sessions() as session:
        for person in people:
            attributes = {k: person[k] for k in ("plan", "n") if k in person}
            contact = await contacts_service.create_contact(
                session=session,
                workspace_id=workspace_id,
                phone_number=person["phone"],
                name=person["name"],
                tags=person["tags"],
                attributes=attributes,
                opt_outs=["marketing"] if person.get("out") else [],
                now=NOW,
            )
            if person.get("off"):
                await session.execute(
                    update(Contact).where(Contact.id == contact.id).values(not_on_whatsapp_at=NOW)
                )
                await session.commit()
        channel = stub_channel(workspace_id=workspace_id, now=NOW)
        session.add(channel)
        await session.flush()
        by_name = {
            contact.name: contact.id
            for contact in await session.scalars(
                select(Contact).where(Contact.workspace_id == workspace_id)
            )
        }
        # Ana wrote yesterday (an old closed conversation and a current one), Beto 40 days
        # ago, Carla never.
        for name, wrote, status in [
            ("ana", NOW - timedelta(days=90), ConversationStatus.CLOSED),
            ("ana", NOW - timedelta(days=1), ConversationStatus.OPEN),
            ("beto", NOW - timedelta(days=40), ConversationStatus.OPEN),
            ("carla", None, ConversationStatus.OPEN),
        ]:
            session.add(
                Conversation(
                    workspace_id=workspace_id,
                    channel_id=channel.id,
                    contact_id=by_name[name],
                    status=status,
                    last_inbound_at=wrote,
                    last_activity_at=wrote or NOW,
                    created_at=wrote or NOW,
                    closed_at=NOW if status == ConversationStatus.CLOSED else None,
                )
            )
        await session.commit()


async def _count(
    sessions: async_sessionmaker[AsyncSession], workspace_id: uuid.UUID, **spec: Any
) -> segments.SegmentCount:
    async with sessions() as session:
        return await segments.count_segment(
            session=session,
            workspace_id=workspace_id,
            spec=segments.SegmentFilter.model_validate(spec),
            now=NOW,
        )


async def _names(
    sessions: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    batch_size: int = 1000,
    **spec: Any,
) -> list[str]:
    names: list[str] = []
    async with sessions() as session:
        async for page in segments.iter_matching_contacts(
            session=session,
            workspace_id=workspace_id,
            spec=segments.SegmentFilter.model_validate(spec),
            now=NOW,
            batch_size=batch_size,
        ):
            assert len(page) <= batch_size
            names += [contact.name or "" for contact in page]
    return sorted(names)


async def test_filters_select_and_exclusions_are_counted_apart(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    workspace_id, _ = await make_workspace(database_url)
    other_id, _ = await make_workspace(database_url, name="Other")
    await _people(sessions, workspace_id)
    await _people(sessions, other_id)

    everyone = await _count(sessions, workspace_id)
    # Dani and Fede opted out (Fede is also off WhatsApp: counted once, as opted out).
    assert (everyone.matching, everyone.excluded_opted_out) == (3, 2)
    assert everyone.excluded_not_on_whatsapp == 1
    assert everyone.by_country == {"MX": 2, "ES": 1}
    assert everyone.targeted == 6
    assert await _names(sessions, workspace_id, batch_size=2) == ["ana", "beto", "carla"]

    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"tags_any": ["vip", "nobody"]}, ["ana", "carla"]),
        ({"tags_all": ["vip", "mx"]}, ["ana"]),
        ({"tags_none": ["vip"]}, ["beto"]),
        ({"attributes": [{"key": "plan", "op": "equals", "value": "GOLD"}]}, ["ana", "carla"]),
        ({"attributes": [{"key": "plan", "op": "contains", "value": "ilv"}]}, ["beto"]),
        ({"attributes": [{"key": "n", "op": "equals", "value": 5}]}, ["carla"]),
        ({"attributes": [{"key": "n", "op": "exists"}]}, ["carla"]),
        ({"attributes": [{"key": "n", "op": "missing"}]}, ["ana", "beto"]),
        ({"attributes": [{"key": 'it\'s "odd"', "op": "exists"}]}, []),
        ({"last_inbound_within_days": 7}, ["ana"]),
        ({"last_inbound_within_days": 60}, ["ana", "beto"]),
        ({"last_inbound_before": NOW - timedelta(days=7)}, ["beto"]),
        ({"last_inbound_after": NOW - timedelta(days=100)}, ["ana", "beto"]),
        ({"countries": ["es", "US"]}, ["carla"]),
        ({"marketing": "opted_in", "tags_any": ["vip"]}, ["ana", "carla"]),
        ({"marketing": "opted_out"}, []),
    ]
    for spec, names in cases:
        assert await _names(sessions, workspace_id, **spec) == names, spec
        assert (await _count(sessions, workspace_id, **spec)).matching == len(names), spec

    opted_out = await _count(sessions, workspace_id, marketing="opted_out")
    assert (opted_out.matching, opted_out.excluded_opted_out) == (0, 2)
    us = await _count(sessions, workspace_id, countries=["US"])
    assert (us.matching, us.excluded_opted_out, us.excluded_not_on_whatsapp) == (0, 1, 1)
    assert us.by_country == {}


@pytest.mark.parametrize(
    "spec",
    [
        {"tags_any": [""]},
        {"attributes": [{"key": "plan", "op": "equals"}]},
        {"attributes": [{"key": "plan", "op": "like", "value": "x"}]},
        {"last_inbound_within_days": 0},
        {"last_inbound_after": "2026-05-01T00:00:00"},
        {
            "last_inbound_after": "2026-05-02T00:00:00Z",
            "last_inbound_before": "2026-05-01T00:00:00Z",
        },
        {"countries": ["Mexico"]},
        {"marketing": "maybe"},
        {"segment": "all"},
    ],
)
def test_a_bad_filter_is_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        segments.SegmentFilter.model_validate(spec)


async def test_count_through_the_api(platform: PlatformServer, http: httpx.AsyncClient) -> None:
    _, api_key = await make_workspace(platform)
    headers = auth(api_key)
    for phone, tags in [("+5215512340001", ["vip"]), ("+34612340003", ["vip"])]:
        created = await http.post(
            "/api/v1/contacts", headers=headers, json={"phone": phone, "tags": tags}
        )
        assert created.status_code == 201, created.text
    await http.post(
        "/api/v1/contacts",
        headers=headers,
        json={"phone": "+34612340004", "tags": ["vip"], "opted_out": ["marketing"]},
    )
    counted = await http.post(
        "/api/v1/contacts/segments/count", headers=headers, json={"tags_any": ["vip"]}
    )
    assert counted.status_code == 200, counted.text
    assert counted.json() == {
        "matching": 2,
        "excluded_opted_out": 1,
        "excluded_not_on_whatsapp": 0,
        "by_country": {"ES": 1, "MX": 1},
    }
    refused = await http.post(
        "/api/v1/contacts/segments/count", headers=headers, json={"countries": ["Mexico"]}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
