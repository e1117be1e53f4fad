"""The database: async SQLAlchemy engines for SQLite (default) and PostgreSQL, and sessions.

SQLite is tuned for a web app with background work in the same process: WAL (readers never
block the writer), foreign keys on (SQLite leaves them off by default), a busy timeout so a
second writer waits instead of failing at once, and BEGIN IMMEDIATE so a transaction that
will write takes the write lock at its start instead of failing to upgrade it later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
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


def insert_for(session: AsyncSession) -> Any:
    """The session's dialect's ``insert`` construct, the one with ``on_conflict_do_*``:
    PostgreSQL and SQLite spell ``INSERT ... ON CONFLICT`` alike, SQLAlchemy apart."""
    dialect = session.get_bind().dialect.name
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine for ``settings.url``, with the per-dialect tuning described above."""
    kwargs: dict[str, Any] = {"echo": settings.echo}
    if is_sqlite_url(settings.url):
        _ensure_sqlite_directory(settings.url)
        engine = create_async_engine(settings.url, **kwargs)
        _tune_sqlite(engine.sync_engine, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        return engine
    kwargs.update(pool_size=settings.pool_size, pool_pre_ping=True)
    return create_async_engine(settings.url, **kwargs)


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
