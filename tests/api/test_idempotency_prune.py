"""Idempotency answers are forgotten after 24 hours, by the worker's timer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ovillo.accounts.models import IdempotencyRecord
from ovillo.core import idempotency
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import DatabaseSettings
from tests.factories import make_workspace

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


async def test_records_older_than_a_day_are_pruned(database_url: str) -> None:
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        workspace_id, _ = await make_workspace(engine, now=NOW)
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            for key, age in (
                ("old", timedelta(hours=24, seconds=1)),
                ("fresh", timedelta(hours=23)),
            ):
                session.add(
                    IdempotencyRecord(
                        workspace_id=workspace_id,
                        key=key,
                        request_hash="0" * 64,
                        status_code=202,
                        response={},
                        created_at=NOW - age,
                    )
                )
            await session.commit()
        async with sessions() as session:
            assert await idempotency.do_prune_records(session=session, now=NOW) == 1
            await session.commit()
        async with sessions() as session:
            kept = (await session.scalars(select(IdempotencyRecord.key))).all()
        assert kept == ["fresh"]
    finally:
        await engine.dispose()
