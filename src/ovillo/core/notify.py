"""Wake-ups between processes: "there is new work on topic X", delivered on commit.

A writer calls ``await notify(session, "outbox")`` inside the transaction that created the
work; whoever waits on that topic wakes once the transaction commits (never before: the
work must be visible when the waiter looks), and not at all if it rolls back.

- PostgreSQL: ``SELECT pg_notify('ovillo_' || topic, '')`` in the transaction; PostgreSQL
  delivers it on commit to every connection that ran ``LISTEN`` on the channel, in every
  process on every machine (how Oban, GoodJob and procrastinate wake their workers). A
  `Waiter` holds one dedicated asyncpg connection for its ``LISTEN``.
- SQLite: one process writes (design.md), so the wake-up is an in-process signal, fired by
  the session's ``after_commit`` event. Waiters may live in other threads' event loops (the
  test's loop beside the server's), so they are woken with ``call_soon_threadsafe``.

A wake-up is a hint, never the work itself: waiters look in the database for what to do,
and wait with a timeout so that a lost wake-up (a dropped LISTEN connection, a second
process on SQLite) only delays work, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ovillo.core.runtime import Runtime

__all__ = ["CHANNEL_PREFIX", "Waiter", "channel_name", "database_key", "notify"]

log = structlog.get_logger(__name__)

CHANNEL_PREFIX = "ovillo_"
_PENDING_KEY = "ovillo_notify_pending"
_HOOKED_KEY = "ovillo_notify_hooked"
_SENT_KEY = "ovillo_notify_sent"
_SENT_HOOKED_KEY = "ovillo_notify_sent_hooked"


def channel_name(topic: str) -> str:
    """The PostgreSQL channel of ``topic``."""
    if not topic or not all(c.isalnum() or c == "_" for c in topic):
        raise ValueError(f"a topic is letters, digits and underscores: {topic!r}")
    return CHANNEL_PREFIX + topic


async def notify(session: AsyncSession, topic: str) -> None:
    """Wake the waiters of ``topic`` when the session's current transaction commits."""
    channel = channel_name(topic)
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # Once per channel and transaction: PostgreSQL folds repeats into one wake-up
        # anyway, and a bulk writer would pay a round trip per message for nothing.
        sync_session = session.sync_session
        sent: set[str] = sync_session.info.setdefault(_SENT_KEY, set())
        if channel in sent:
            return
        await session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})
        sent.add(channel)
        if not sync_session.info.get(_SENT_HOOKED_KEY):
            sync_session.info[_SENT_HOOKED_KEY] = True
            # Any end, a savepoint's included: a rolled-back savepoint drops its notify.
            event.listen(sync_session, "after_transaction_end", _forget_sent)
        return
    sync_session = session.sync_session
    pending: set[tuple[str, str]] = sync_session.info.setdefault(_PENDING_KEY, set())
    pending.add((database_key(bind.engine.url), topic))
    if not sync_session.info.get(_HOOKED_KEY):
        sync_session.info[_HOOKED_KEY] = True
        event.listen(sync_session, "after_commit", _publish_pending)
        event.listen(sync_session, "after_soft_rollback", _forget_pending)


def _forget_sent(sync_session: Session, _transaction: Any) -> None:
    sync_session.info.pop(_SENT_KEY, None)


def _publish_pending(sync_session: Session) -> None:
    pending: set[tuple[str, str]] = sync_session.info.pop(_PENDING_KEY, set())
    for database, topic in pending:
        _local_hub.publish(database, topic)


def _forget_pending(sync_session: Session, _previous_transaction: Any) -> None:
    sync_session.info.pop(_PENDING_KEY, None)


def database_key(url: URL) -> str:
    """One name per SQLite file, however its URL spells the path (core.events keys on it too)."""
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        return str(Path(database).expanduser().resolve())
    return database


class _LocalHub:
    """The in-process wake-ups of SQLite: (database, topic) -> waiting events and loops."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[tuple[str, str], set[_Subscription]] = {}

    def subscribe(self, key: tuple[str, str], subscription: _Subscription) -> None:
        with self._lock:
            self._subscribers.setdefault(key, set()).add(subscription)

    def unsubscribe(self, key: tuple[str, str], subscription: _Subscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(key)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[key]

    def publish(self, database: str, topic: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get((database, topic), ()))
        for subscription in subscribers:
            subscription.wake_threadsafe()


class _Subscription:
    def __init__(self, loop: asyncio.AbstractEventLoop, wake_event: asyncio.Event) -> None:
        self.loop = loop
        self.event = wake_event

    def wake_threadsafe(self) -> None:
        # The loop may have stopped (a test's loop torn down): nobody is waiting then.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.event.set)


_local_hub = _LocalHub()


class Waiter:
    """Waits for wake-ups on some topics, or a timeout, whichever comes first.

    ``async with Waiter(runtime, "outbox") as waiter: woken = await waiter.wait(within=5.0)``.
    A wake-up that arrives while nobody is waiting is kept, so the next ``wait`` returns at
    once: work announced during a busy spell is never slept through.

    ``on_notify(channel, payload)`` is called, in the waiter's loop, with each PostgreSQL
    notification as it arrives (core.events carries live updates in the payloads).
    """

    def __init__(
        self,
        runtime: Runtime,
        *topics: str,
        on_notify: Callable[[str, str], None] | None = None,
    ) -> None:
        if not topics:
            raise ValueError("a waiter needs at least one topic")
        self._runtime = runtime
        self._topics = tuple(dict.fromkeys(topics))
        self._channels = tuple(channel_name(topic) for topic in self._topics)
        self._event = asyncio.Event()
        self._postgres = runtime.engine.dialect.name == "postgresql"
        self._connection: Any = None  # asyncpg.Connection; asyncpg ships no type hints
        self._subscription: _Subscription | None = None
        self._keys: tuple[tuple[str, str], ...] = ()
        self._closed = False
        self._on_notify = on_notify

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def listening(self) -> bool:
        """Whether wake-ups from other transactions reach this waiter right now."""
        if self._postgres:
            return self._connection is not None and not self._connection.is_closed()
        return self._subscription is not None

    async def start(self) -> None:
        """Start listening. On PostgreSQL a failed connection is retried on each `wait`."""
        if self._postgres:
            await self._listen()
            return
        if self._subscription is None:
            self._subscription = _Subscription(asyncio.get_running_loop(), self._event)
            database = database_key(self._runtime.engine.url)
            self._keys = tuple((database, topic) for topic in self._topics)
            for key in self._keys:
                _local_hub.subscribe(key, self._subscription)

    async def _listen(self) -> None:
        # asyncpg ships no type hints; the connection is kept as Any.
        import asyncpg  # type: ignore[import-untyped]

        dsn = self._runtime.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("notify_listen_failed", reason=str(exc) or type(exc).__name__)
            return
        try:
            for channel in self._channels:
                await connection.add_listener(channel, self._on_notification)
        except BaseException:
            await connection.close()
            raise
        connection.add_termination_listener(self._on_termination)
        self._connection = connection
        # Anything announced before LISTEN took effect was missed: look once.
        self._event.set()

    def _on_notification(self, _connection: Any, _pid: int, channel: str, payload: str) -> None:
        if self._on_notify is not None:
            self._on_notify(channel, payload)
        self._event.set()

    def _on_termination(self, _connection: Any) -> None:
        self._connection = None
        # Wake up to look, and to reconnect on the next wait.
        self._event.set()

    def wake(self) -> None:
        """Make the current or next `wait` return at once (from the waiter's own loop)."""
        self._event.set()

    async def wait(self, within: float) -> bool:
        """Wait up to ``within`` seconds for a wake-up; True if woken, False on timeout."""
        if self._closed:
            raise RuntimeError("this waiter is closed")
        if self._postgres and self._connection is None:
            await self._listen()
        try:
            await asyncio.wait_for(self._event.wait(), within)
        except TimeoutError:
            return False
        finally:
            self._event.clear()
        return True

    async def close(self) -> None:
        self._closed = True
        if self._subscription is not None:
            for key in self._keys:
                _local_hub.unsubscribe(key, self._subscription)
            self._subscription = None
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            with contextlib.suppress(Exception):
                await connection.close(timeout=5)
