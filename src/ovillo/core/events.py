"""The live event bus: what changed in a workspace, told to its open browsers after commit.

A service announces a change inside the transaction that makes it:
``publish_on_commit(session, workspace_id=..., kind="message_created", data={...})``. The
event leaves when the transaction commits and never if it rolls back (zulip's
``send_event_on_commit``): a browser is never told of a row it cannot read yet.

- PostgreSQL: the session's pending events are sent with ``pg_notify`` on the ``events``
  channel of ``core.notify`` just before the commit, in the same transaction, so
  PostgreSQL delivers them on commit (and drops them on rollback) to every process that
  listens: each process holds one ``notify.Waiter`` while it has subscribers, and fans what
  it hears out to them. An event published by ``ovillo worker`` or another ``serve`` replica
  reaches every replica. A notification payload holds at most 8000 bytes: events are
  batched as JSON arrays under that size.
- SQLite: one process writes (design.md), so the session's ``after_commit`` hands the
  events straight to the subscribers of this process.

Subscribers (an SSE stream each) are scoped to one workspace and read from a bounded queue.
Publishing never waits for them: a subscriber that falls behind loses its backlog and is
told to ``resync`` (reload what it shows), as is every subscriber when the PostgreSQL
listening connection was lost and came back. Events are hints to redraw one row: small
JSON, ids and what a row shows, never the source of truth.

    async with subscribe(runtime, workspace_id=w) as subscription:
        async for event in subscription: ...

``sse_stream`` turns a subscription into Server-Sent Events for the API's and the web
pages' routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Self

import structlog
from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ovillo.core.ids import new_id
from ovillo.core.notify import Waiter, channel_name, database_key
from ovillo.core.runtime import Runtime

__all__ = [
    "RESYNC",
    "TOPIC",
    "Event",
    "Subscription",
    "publish_on_commit",
    "sse_stream",
    "subscribe",
]

log = structlog.get_logger(__name__)

TOPIC: Final = "events"
RESYNC: Final = "resync"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; keep a margin.
MAX_PAYLOAD_BYTES: Final = 7500
DEFAULT_QUEUE_SIZE: Final = 1000

_PENDING_KEY = "ovillo_events_pending"
_HOOKED_KEY = "ovillo_events_hooked"


@dataclass(frozen=True, slots=True)
class Event:
    """One change in a workspace: ``kind`` (``message_created``, ...) and its small data."""

    kind: str
    workspace_id: uuid.UUID
    data: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: new_id().hex)

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "workspace_id": str(self.workspace_id),
                "data": dict(self.data)}  # fmt: skip

    @classmethod
    def from_wire(cls, value: Mapping[str, Any]) -> Event:
        return cls(
            kind=str(value["kind"]),
            workspace_id=uuid.UUID(str(value["workspace_id"])),
            data=dict(value.get("data") or {}),
            id=str(value["id"]),
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def publish_on_commit(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    kind: str,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Announce ``kind`` to the workspace's subscribers once the session's transaction
    commits (dropped if it rolls back). ``data`` values are JSON, UUIDs or datetimes; keep
    it to ids and what a page needs to redraw one row. Does no I/O now."""
    event = Event(
        kind=kind,
        workspace_id=workspace_id,
        data={key: _jsonable(value) for key, value in (data or {}).items()},
    )
    sync_session = session.sync_session
    pending: list[Event] = sync_session.info.setdefault(_PENDING_KEY, [])
    pending.append(event)
    if not sync_session.info.get(_HOOKED_KEY):
        sync_session.info[_HOOKED_KEY] = True
        sa_event.listen(sync_session, "before_commit", _send_pending_postgres)
        sa_event.listen(sync_session, "after_commit", _publish_pending_local)
        sa_event.listen(sync_session, "after_soft_rollback", _forget_pending)


def _is_postgres(sync_session: Session) -> bool:
    return sync_session.get_bind().dialect.name == "postgresql"


def payload_chunks(events: list[Event]) -> list[str]:
    """The events as JSON arrays, each under PostgreSQL's payload limit (an event too big on
    its own is cut down to a ``resync`` of its workspace: nobody misses that it happened)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 2
    for item in events:
        encoded = json.dumps(item.to_wire(), separators=(",", ":"), ensure_ascii=False)
        if len(encoded.encode()) + 2 > MAX_PAYLOAD_BYTES:
            encoded = json.dumps(
                Event(kind=RESYNC, workspace_id=item.workspace_id, id=item.id).to_wire(),
                separators=(",", ":"),
            )
        length = len(encoded.encode()) + 1
        if current and size + length > MAX_PAYLOAD_BYTES:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(encoded)
        size += length
    if current:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


def _send_pending_postgres(sync_session: Session) -> None:
    # Runs inside the commit, in the session's greenlet: SQL issued here belongs to the
    # transaction being committed, so PostgreSQL delivers it exactly when that commits.
    if not sync_session.info.get(_PENDING_KEY) or not _is_postgres(sync_session):
        return
    events: list[Event] = sync_session.info.pop(_PENDING_KEY)
    chunks = payload_chunks(events)
    channel = channel_name(TOPIC)
    for start in range(0, len(chunks), 50):
        batch = chunks[start : start + 50]
        calls = ", ".join(f"pg_notify(:channel, :p{i})" for i in range(len(batch)))
        params: dict[str, str] = {"channel": channel}
        params.update({f"p{i}": chunk for i, chunk in enumerate(batch)})
        sync_session.connection().execute(text(f"SELECT {calls}"), params)


def _publish_pending_local(sync_session: Session) -> None:
    events: list[Event] = sync_session.info.pop(_PENDING_KEY, [])
    if events:
        _hub.publish(database_key(sync_session.get_bind().engine.url), events)


def _forget_pending(sync_session: Session, previous_transaction: Any) -> None:
    # A savepoint rolled back (a concurrent insert absorbed) leaves the transaction going:
    # what it announced so far still commits with it.
    if getattr(previous_transaction, "nested", False):
        return
    sync_session.info.pop(_PENDING_KEY, None)


# --- Subscribers -------------------------------------------------------------------------


class Subscription:
    """One workspace's events for one reader, from a bounded queue in the reader's loop.

    Iterating yields events; after an overflow (the reader fell behind) or a lost listening
    connection it yields one ``resync`` event instead of what was lost.
    """

    def __init__(self, *, database: str, workspace_id: uuid.UUID, max_pending: int) -> None:
        self.database = database
        self.workspace_id = workspace_id
        self.max_pending = max_pending
        self.loop = asyncio.get_running_loop()
        self._queue: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._resync = False
        self.lost = 0

    # Called from any thread: hop into the reader's loop.
    def deliver_threadsafe(self, events: list[Event]) -> None:
        mine = [e for e in events if e.workspace_id == self.workspace_id]
        if mine:
            with contextlib.suppress(RuntimeError):  # the reader's loop has stopped
                self.loop.call_soon_threadsafe(self._put, mine)

    def resync_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._put, [])

    def _put(self, events: list[Event]) -> None:
        if not events or len(self._queue) + len(events) > self.max_pending:
            # Too far behind (or something was lost upstream): drop the backlog, ask for a
            # reload. The publisher never waits for a slow reader.
            self.lost += len(self._queue) + len(events)
            self._queue.clear()
            self._resync = True
        else:
            self._queue.extend(events)
        self._ready.set()

    async def get(self, within: float | None = None) -> Event | None:
        """The next event, or None after ``within`` seconds without one."""
        while not self._queue and not self._resync:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), within)
            except TimeoutError:
                return None
        if self._resync:
            self._resync = False
            return Event(kind=RESYNC, workspace_id=self.workspace_id)
        return self._queue.popleft()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        event = await self.get()
        assert event is not None  # no timeout: waits for one
        return event


class _Hub:
    """This process's subscribers, by database (threads: the worker's loop may publish)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> int:
        with self._lock:
            subscribers = self._subscribers.setdefault(subscription.database, set())
            subscribers.add(subscription)
            return len(subscribers)

    def remove(self, subscription: Subscription) -> int:
        with self._lock:
            subscribers = self._subscribers.get(subscription.database, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscribers.pop(subscription.database, None)
            return len(subscribers)

    def publish(self, database: str, events: list[Event]) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(database, ()))
        for subscription in subscribers:
            subscription.deliver_threadsafe(events)

    def resync(self, database: str) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(database, ()))
        for subscription in subscribers:
            subscription.resync_threadsafe()

    def subscriber_count(self, database: str) -> int:
        with self._lock:
            return len(self._subscribers.get(database, ()))


_hub = _Hub()


class _Listener:
    """One LISTEN on the events channel for this process's subscribers of one database."""

    _numbers = itertools.count()

    def __init__(self, runtime: Runtime, database: str) -> None:
        self.database = database
        self.users = 0
        self.ready = asyncio.Event()
        self._runtime = runtime
        self._task = asyncio.create_task(self._run(), name=f"events-listener-{next(self._numbers)}")

    def _on_notify(self, _channel: str, payload: str) -> None:
        try:
            events = [Event.from_wire(item) for item in json.loads(payload)]
        except (ValueError, KeyError, TypeError):
            log.warning("live_event_unreadable", size=len(payload))
            return
        _hub.publish(self.database, events)

    async def _run(self) -> None:
        async with Waiter(self._runtime, TOPIC, on_notify=self._on_notify) as waiter:
            was_listening = waiter.listening
            if was_listening:
                self.ready.set()
            while True:
                await waiter.wait(within=5.0)
                listening = waiter.listening
                if listening and not was_listening:
                    # (Re)connected: whatever was published meanwhile never reached us.
                    if self.ready.is_set():
                        _hub.resync(self.database)
                    self.ready.set()
                was_listening = listening

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


_listeners: dict[str, _Listener] = {}


@contextlib.asynccontextmanager
async def subscribe(
    runtime: Runtime, *, workspace_id: uuid.UUID, max_pending: int = DEFAULT_QUEUE_SIZE
) -> AsyncIterator[Subscription]:
    """``async with subscribe(runtime, workspace_id=...) as subscription`` (see module).

    On PostgreSQL, returns once this process listens (or after 5 s trying): what commits
    afterwards reaches the subscription.
    """
    database = database_key(runtime.engine.url)
    subscription = Subscription(
        database=database, workspace_id=workspace_id, max_pending=max_pending
    )
    _hub.add(subscription)
    listener: _Listener | None = None
    try:
        if runtime.engine.dialect.name == "postgresql":
            listener = _listeners.get(database)
            if listener is None:
                listener = _listeners[database] = _Listener(runtime, database)
            listener.users += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(listener.ready.wait(), 5.0)
        yield subscription
    finally:
        _hub.remove(subscription)
        if listener is not None:
            listener.users -= 1
            if listener.users == 0:
                if _listeners.get(database) is listener:
                    del _listeners[database]
                await listener.stop()


# --- Server-Sent Events ------------------------------------------------------------------


def sse_message(event: Event) -> str:
    """One event as an SSE message: ``id``, ``event`` (the kind) and one ``data`` line."""
    data = json.dumps(event.to_wire(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.id}\nevent: {event.kind}\ndata: {data}\n\n"


async def sse_stream(
    runtime: Runtime,
    *,
    workspace_id: uuid.UUID,
    last_event_id: str | None = None,
    heartbeat_seconds: float = 15.0,
    is_disconnected: Callable[[], Awaitable[bool]] | None = None,
    max_pending: int = DEFAULT_QUEUE_SIZE,
) -> AsyncIterator[str]:
    """The workspace's live events as SSE text, for a ``StreamingResponse``
    (``text/event-stream``); the caller has authenticated the reader for ``workspace_id``.

    Opens with a ``retry`` hint and a comment once listening; a comment every
    ``heartbeat_seconds`` keeps proxies from closing an idle stream. Events are not kept,
    so a reconnecting reader (``Last-Event-ID``) gets a ``resync`` first: reload, then
    follow. Ends when ``is_disconnected()`` says the reader left.
    """
    async with subscribe(runtime, workspace_id=workspace_id, max_pending=max_pending) as sub:
        yield "retry: 2000\n: listening\n\n"
        if last_event_id:
            yield sse_message(Event(kind=RESYNC, workspace_id=workspace_id))
        while True:
            event = await sub.get(within=heartbeat_seconds)
            if event is None:
                if is_disconnected is not None and await is_disconnected():
                    return
                yield ": heartbeat\n\n"
                continue
            yield sse_message(event)
