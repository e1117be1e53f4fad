"""The SQLite engine is tuned as documented: WAL, foreign keys, busy timeout, immediate begin."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ovillo.core.runtime import Runtime


async def test_sqlite_pragmas(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() == 20_000


async def test_foreign_keys_are_enforced(runtime: Runtime) -> None:
    async with runtime.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        await connection.execute(
            text("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent)")
        )
    with pytest.raises(IntegrityError, match="FOREIGN KEY"):
        async with runtime.engine.begin() as connection:
            await connection.execute(text("INSERT INTO child (parent_id) VALUES (42)"))


async def test_concurrent_writers_wait_instead_of_failing(runtime: Runtime) -> None:
    async with runtime.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        await connection.execute(text("INSERT INTO counter VALUES (0)"))

    async def increment() -> None:
        async with runtime.sessionmaker() as session:
            current = (await session.execute(text("SELECT n FROM counter"))).scalar_one()
            await asyncio.sleep(0)  # let the other writers interleave if they could
            await session.execute(text("UPDATE counter SET n = :n"), {"n": current + 1})
            await session.commit()

    await asyncio.gather(*(increment() for _ in range(20)))
    async with runtime.engine.connect() as connection:
        # BEGIN IMMEDIATE serialises read-modify-write transactions: no lost update.
        assert (await connection.execute(text("SELECT n FROM counter"))).scalar() == 20
