"""Leases and wake-ups on a real database: SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ovillo.core.notify import Waiter, notify
from ovillo.core.runtime import Runtime
from ovillo.worker.leases import (
    acquire_lease,
    acquire_lease_token,
    lease_is_held,
    release_lease,
)
from ovillo.worker.models import Lease
from tests.databases import settings_for

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(settings_for(database_url, tmp_path / "var"))
    try:
        yield runtime
    finally:
        await runtime.aclose()


async def _acquire(runtime: Runtime, holder: str, now: datetime, ttl: float = 10) -> int | None:
    async with runtime.sessionmaker() as session:
        return await acquire_lease_token(
            session=session, name="send:x", holder=holder, ttl_seconds=ttl, now=now
        )


async def test_a_free_lease_is_taken_and_then_refused_to_others(db: Runtime) -> None:
    assert await _acquire(db, "a", T0) == 1
    assert await _acquire(db, "b", T0 + timedelta(seconds=5)) is None


async def test_renewal_keeps_the_token_and_pushes_expiry(db: Runtime) -> None:
    assert await _acquire(db, "a", T0) == 1
    assert await _acquire(db, "a", T0 + timedelta(seconds=8)) == 1
    # Would have expired at T0 + 10 without the renewal.
    assert await _acquire(db, "b", T0 + timedelta(seconds=12)) is None
    async with db.sessionmaker() as session:
        lease = await session.scalar(select(Lease).where(Lease.name == "send:x"))
    assert lease is not None
    assert lease.expires_at == T0 + timedelta(seconds=18)


async def test_an_expired_lease_changes_hands_with_a_new_token(db: Runtime) -> None:
    assert await _acquire(db, "a", T0) == 1
    assert await _acquire(db, "b", T0 + timedelta(seconds=10, microseconds=1)) == 2
    # The old holder cannot renew what it lost.
    assert await _acquire(db, "a", T0 + timedelta(seconds=11)) is None


async def test_release_frees_the_lease_at_once_and_keeps_the_token_growing(db: Runtime) -> None:
    assert await _acquire(db, "a", T0) == 1
    async with db.sessionmaker() as session:
        assert not await release_lease(session=session, name="send:x", holder="b")
        assert await release_lease(session=session, name="send:x", holder="a")
    assert await _acquire(db, "b", T0 + timedelta(seconds=1)) == 2


async def test_acquire_lease_answers_a_plain_yes_or_no(db: Runtime) -> None:
    async with db.sessionmaker() as session:
        assert await acquire_lease(
            session=session, name="ingest", holder="a", ttl_seconds=5, now=T0
        )
        assert not await acquire_lease(
            session=session, name="ingest", holder="b", ttl_seconds=5, now=T0
        )


async def test_only_one_of_many_concurrent_takers_wins(db: Runtime) -> None:
    results = await asyncio.gather(*(_acquire(db, f"w{i}", T0) for i in range(8)))
    assert [r for r in results if r is not None] == [1]


async def test_a_write_fenced_by_the_lease_does_nothing_after_a_takeover(db: Runtime) -> None:
    token = await _acquire(db, "a", T0)
    assert token is not None
    assert await _acquire(db, "b", T0 + timedelta(seconds=11)) == token + 1
    async with db.sessionmaker() as session:
        result = await session.execute(
            update(Lease)
            .where(
                Lease.name == "send:x",
                lease_is_held(name="send:x", holder="a", fencing_token=token),
            )
            .values(holder="a")
            .returning(Lease.name)
        )
        assert result.first() is None
        await session.rollback()


async def test_a_notification_wakes_the_waiter_only_after_commit(db: Runtime) -> None:
    async with Waiter(db, "outbox") as waiter:
        await waiter.wait(0.2)  # drain the wake-up that follows LISTEN
        async with db.sessionmaker() as session:
            await notify(session, "outbox")
            assert not await waiter.wait(0.3)
            await session.commit()
        assert await waiter.wait(5)


async def test_a_rolled_back_notification_wakes_nobody(db: Runtime) -> None:
    async with Waiter(db, "outbox", "webhook") as waiter:
        await waiter.wait(0.2)
        async with db.sessionmaker() as session:
            await notify(session, "outbox")
            await session.rollback()
        async with db.sessionmaker() as session:
            await notify(session, "other")
            await session.commit()
        assert not await waiter.wait(0.5)
        async with db.sessionmaker() as session:
            await notify(session, "webhook")
            await session.commit()
        assert await waiter.wait(5)


async def test_a_waiter_times_out_when_nothing_happens(db: Runtime) -> None:
    async with Waiter(db, "outbox") as waiter:
        await waiter.wait(0.2)
        assert not await waiter.wait(0.1)
