"""PostgreSQL connections are pinged before use only after sitting idle, and a dead idle
one is replaced before a transaction meets it."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ovillo.core import db
from ovillo.core.settings import DatabaseSettings

pytestmark = pytest.mark.postgres


async def test_a_connection_that_died_while_idle_is_replaced_before_use(
    postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(DatabaseSettings(url=postgres_database, pool_size=1))
    try:
        pids = set()
        for _ in range(3):
            async with engine.connect() as connection:
                pids.add(await connection.scalar(text("SELECT pg_backend_pid()")))
        [pooled_pid] = pids  # one connection, reused while busy
        # It dies while idle in the pool (a restart, a firewall dropping idle sockets)...
        killer = db.create_engine(DatabaseSettings(url=postgres_database, pool_size=1))
        try:
            async with killer.connect() as connection:
                await connection.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": pooled_pid}
                )
        finally:
            await killer.dispose()
        # As if it had sat idle long enough (rather than sleeping that long).
        monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
        # ...and the next transaction gets a live connection instead of an error.
        async with engine.connect() as connection:
            pid = await connection.scalar(text("SELECT pg_backend_pid()"))
        assert pid != pooled_pid
    finally:
        await engine.dispose()
