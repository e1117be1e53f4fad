"""The database: async SQLAlchemy engines for SQLite (default) and PostgreSQL, and sessions.

SQLite is tuned for a web app with background work in the same process: WAL (readers never
block the writer), foreign keys on (SQLite leaves them off by default), a busy timeout so a
second writer waits instead of failing at once, and BEGIN IMMEDIATE so a transaction that
will write takes the write lock at its start instead of failing to upgrade it later.

PostgreSQL connections are checked before use only when they sat idle in the pool for
``IDLE_PING_SECONDS`` (a restart or a dropped idle connection is then caught before a
transaction meets it): SQLAlchemy's ``pool_pre_ping`` pings on every checkout, a round
trip per transaction that cost the send pipeline's worker about 8% of its CPU. A connection
that breaks while busy fails its statement once and is replaced (SQLAlchemy invalidates a
disconnected connection); the worker's loops retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Iterable
from typing import Any, Final

from sqlalchemy import ColumnElement, MetaData, all_, any_, bindparam, event
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute
from sqlalchemy.pool import ConnectionPoolEntry

from ovillo.core.settings import DatabaseSettings

# Constraint names are part of the schema: migrations refer to them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The declarative base of every table of the platform."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite")


_write_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def sqlite_write_gate(engine: AsyncEngine) -> contextlib.AbstractAsyncContextManager[Any]:
    """A fair (first come, first served) turn at SQLite's one write lock, per process.

    SQLite lets one transaction write at a time, and a writer that finds the lock taken
    polls it with growing sleeps: against a worker that commits back to back, the webhook
    log's writer could miss every gap for seconds (writer starvation). Taking turns through
    one FIFO lock first avoids that. PostgreSQL locks rows, not the database: no gate there.
    """
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    gates = _write_gates.setdefault(asyncio.get_running_loop(), {})
    key = engine.url.render_as_string(hide_password=True)
    gate = gates.get(key)
    if gate is None:
        gate = gates[key] = asyncio.Lock()
    return gate


def insert_for(session: AsyncSession) -> Any:
    """The session's dialect's ``insert`` construct, the one with ``on_conflict_do_*``:
    PostgreSQL and SQLite spell ``INSERT ... ON CONFLICT`` alike, SQLAlchemy apart."""
    dialect = session.get_bind().dialect.name
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


# A table's column or a mapped class's attribute.
_Column = ColumnElement[Any] | QueryableAttribute[Any]


def is_one_of(session: AsyncSession, column: _Column, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values`` that is one SQL text whatever the number of values.

    On PostgreSQL ``column = ANY(:values)`` with the values as one array parameter: an
    ``IN (...)`` list renders one placeholder per value, so asyncpg prepares (a round trip)
    and caches a new statement for every new length, and SQLAlchemy rewrites the SQL on
    every call; the hot paths of the worker ran dozens of lengths a second. SQLite has no
    arrays: a plain ``IN``.
    """
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, listed, type_=postgresql.ARRAY(column.type)))
    return column.in_(listed)


def is_none_of(
    session: AsyncSession, column: _Column, values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column NOT IN values`` as ``is_one_of`` writes ``IN``: ``<> ALL(:values)`` there."""
    listed = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column != all_(bindparam(None, listed, type_=postgresql.ARRAY(column.type)))
    return column.not_in(listed)


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine for ``settings.url``, with the per-dialect tuning described above."""
    kwargs: dict[str, Any] = {"echo": settings.echo}
    if is_sqlite_url(settings.url):
        _ensure_sqlite_directory(settings.url)
        engine = create_async_engine(settings.url, **kwargs)
        _tune_sqlite(engine.sync_engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        return engine
    kwargs.update(pool_size=settings.pool_size)
    engine = create_async_engine(settings.url, **kwargs)
    _ping_when_idle(engine.sync_engine)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: services return rows after committing; reloading them lazily
    # would need I/O the async ORM cannot do implicitly.
    return async_sessionmaker(engine, expire_on_commit=False)


def _ensure_sqlite_directory(url: str) -> None:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


IDLE_PING_SECONDS: Final = 10.0
_CHECKED_IN_AT: Final = "ovillo_checked_in_at"


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
            return  # new, or used a moment ago
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool drops this connection and checks out another (a fresh one if need be).
            raise DisconnectionError(f"idle connection is gone: {error}") from error


def _tune_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy issue BEGIN itself (below); pysqlite's implicit BEGIN is deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
