"""Meta's webhooks in: the subscription handshake and the durable log of every POST.

``GET /webhooks/whatsapp`` answers Meta's verification handshake. ``POST
/webhooks/whatsapp`` is the hot path of the platform, kept to one INSERT and one commit:

1. read the raw body, at most ``MAX_BODY_BYTES`` (Meta's payloads stay under 3 MB) -> 413;
2. find the number(s) the payload names with a bare ``json.loads`` (nothing in it is trusted
   yet): ``entry[].changes[].value.metadata.phone_number_id``, or for account-level fields
   that name no number (``phone_number_quality_update``, template updates...) the WABA id in
   ``entry[].id`` -> the channels of that WABA. No known number -> 401;
3. check ``X-Hub-Signature-256`` over the raw bytes with that channel's app secret; a bad
   or missing signature -> 401. Refusals are stored nowhere, counted (``GET
   /webhooks/whatsapp/metrics``) and logged without the body;
4. append the raw body to ``webhook_event`` (``INSERT ... ON CONFLICT (body_sha256) DO
   NOTHING``: Meta delivers at least once and redelivers the same bytes, so a duplicate POST
   is answered 200 and stored once), wake the ingestion worker in the same transaction, and
   commit. Only then answer 200: an event Meta saw accepted is on disk. Concurrent POSTs
   share their INSERT and commit (``EventLogWriter``, a group commit): one commit answers
   every POST that arrived while the previous one was being written. On PostgreSQL the
   INSERT, the wake-up and the commit are one autocommit statement: one round trip.

The channel lookup and the decrypted app secret are cached per process for
``CHANNEL_CACHE_SECONDS`` (unknown numbers for ``UNKNOWN_CHANNEL_CACHE_SECONDS``), so a
POST costs no query but its share of an INSERT, and opens no session of its own
(``SessionOnDemand``). ``forget_cached_channels`` drops the cache of a process
at once (call it when a number is connected, disconnected or its secret changes); other
processes see the change when their entries expire. A signature that fails against a
cached secret re-reads the channel once if the entry is more than a few seconds old, so a
rotated app secret is picked up quickly everywhere.

The log is applied later, by the worker, in ``ovillo.inbox.ingest.apply_pending_events``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Table, and_, bindparam, func, or_, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from ovillo.channels.models import Channel, WebhookEvent, WebhookEventState
from ovillo.cloudapi import signature
from ovillo.core.db import is_one_of, sqlite_write_gate
from ovillo.core.notify import channel_name, notify
from ovillo.core.runtime import Runtime

log = structlog.get_logger(__name__)

WEBHOOK_PATH: Final = "/webhooks/whatsapp"
# Meta documents no limit; its payloads batch up to ~1,000 updates and stay far below this.
MAX_BODY_BYTES: Final = 3 * 1024 * 1024
CHANNEL_CACHE_SECONDS: Final = 30.0
UNKNOWN_CHANNEL_CACHE_SECONDS: Final = 5.0
# A failed signature re-reads a cached channel older than this (its secret may have changed).
REFRESH_ON_BAD_SIGNATURE_AFTER_SECONDS: Final = 5.0
# Random ids in forged POSTs must not grow the cache without bound.
MAX_CACHED_KEYS: Final = 10_000
INGEST_TOPIC: Final = "ingest"

router = APIRouter(tags=["webhooks"])


# --- What the payload names ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamedNumbers:
    """The numbers and WABAs a (not yet trusted) payload names, in order of appearance."""

    phone_number_ids: tuple[str, ...]
    # (WABA id, display number digits or "") of changes that name no phone number id.
    waba_changes: tuple[tuple[str, str], ...]


def _digits(value: object) -> str:
    return "".join(ch for ch in value if ch.isdigit()) if isinstance(value, str) else ""


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield item


def named_numbers(data: object) -> NamedNumbers:
    """Which numbers a decoded webhook body names. Never raises, whatever the JSON."""
    numbers: dict[str, None] = {}
    wabas: dict[tuple[str, str], None] = {}
    if isinstance(data, dict):
        for entry in _dicts(data.get("entry")):
            waba_id = entry.get("id")
            for change in _dicts(entry.get("changes")):
                value = change.get("value")
                if not isinstance(value, dict):
                    continue
                metadata = value.get("metadata")
                number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
                if isinstance(number, str) and number:
                    numbers[number] = None
                elif isinstance(waba_id, str) and waba_id:
                    wabas[(waba_id, _digits(value.get("display_phone_number")))] = None
    return NamedNumbers(phone_number_ids=tuple(numbers), waba_changes=tuple(wabas))


# --- Channels, cached --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownChannel:
    """What the receiver needs of a connected channel."""

    channel_id: uuid.UUID
    workspace_id: uuid.UUID
    phone_number_id: str
    waba_id: str
    display_digits: str
    app_secret: str = field(repr=False)


@dataclass(slots=True)
class WebhookCounters:
    """What this process's receiver did since it started (``GET /webhooks/whatsapp/metrics``)."""

    accepted: int = 0
    duplicates: int = 0
    rejected_missing_signature: int = 0
    rejected_bad_signature: int = 0
    rejected_unknown_number: int = 0
    rejected_malformed: int = 0
    rejected_too_large: int = 0
    verifications_accepted: int = 0
    verifications_refused: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class SessionOnDemand:
    """A session opened only when a lookup misses the cache: most POSTs need none, and
    making and closing an unused ``AsyncSession`` costs a POST as much as its signature."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None

    def get(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessionmaker()
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


class ChannelDirectory:
    """Connected channels by phone number id and by WABA id, cached for a short while."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._by_number: dict[str, tuple[float, KnownChannel | None]] = {}
        self._by_waba: dict[str, tuple[float, tuple[KnownChannel, ...]]] = {}

    def forget(self) -> None:
        self._by_number.clear()
        self._by_waba.clear()

    def _known(self, channel: Channel) -> KnownChannel:
        return KnownChannel(
            channel_id=channel.id,
            workspace_id=channel.workspace_id,
            phone_number_id=channel.phone_number_id,
            waba_id=channel.waba_id,
            display_digits=_digits(channel.display_phone_number),
            app_secret=self._runtime.secrets.decrypt(channel.app_secret_encrypted),
        )

    @staticmethod
    def _fresh(stored_at: float, ttl: float) -> bool:
        return time.monotonic() - stored_at < ttl

    def _remember_number(self, phone_number_id: str, known: KnownChannel | None) -> None:
        if len(self._by_number) >= MAX_CACHED_KEYS:
            self._by_number.clear()
        self._by_number[phone_number_id] = (time.monotonic(), known)

    async def by_phone_number_id(
        self, sessions: SessionOnDemand, phone_number_id: str, *, max_age: float | None = None
    ) -> KnownChannel | None:
        cached = self._by_number.get(phone_number_id)
        if cached is not None:
            stored_at, known = cached
            ttl = CHANNEL_CACHE_SECONDS if known is not None else UNKNOWN_CHANNEL_CACHE_SECONDS
            if max_age is not None:
                ttl = min(ttl, max_age)
            if self._fresh(stored_at, ttl):
                return known
        channel = await sessions.get().scalar(
            select(Channel).where(
                Channel.phone_number_id == phone_number_id, Channel.disconnected_at.is_(None)
            )
        )
        known = self._known(channel) if channel is not None else None
        self._remember_number(phone_number_id, known)
        return known

    async def by_waba_id(
        self, sessions: SessionOnDemand, waba_id: str, *, max_age: float | None = None
    ) -> tuple[KnownChannel, ...]:
        cached = self._by_waba.get(waba_id)
        if cached is not None:
            stored_at, channels = cached
            ttl = CHANNEL_CACHE_SECONDS if channels else UNKNOWN_CHANNEL_CACHE_SECONDS
            if max_age is not None:
                ttl = min(ttl, max_age)
            if self._fresh(stored_at, ttl):
                return channels
        rows = await sessions.get().scalars(
            select(Channel)
            .where(Channel.waba_id == waba_id, Channel.disconnected_at.is_(None))
            .order_by(Channel.phone_number_id)
        )
        found = tuple(self._known(channel) for channel in rows)
        if len(self._by_waba) >= MAX_CACHED_KEYS:
            self._by_waba.clear()
        self._by_waba[waba_id] = (time.monotonic(), found)
        return found

    async def resolve(
        self, sessions: SessionOnDemand, named: NamedNumbers, *, max_age: float | None = None
    ) -> list[KnownChannel]:
        """The channels ``named`` designates, the one whose log the event joins first."""
        found: dict[uuid.UUID, KnownChannel] = {}
        for number in named.phone_number_ids:
            known = await self.by_phone_number_id(sessions, number, max_age=max_age)
            if known is not None:
                found.setdefault(known.channel_id, known)
        for waba_id, display_digits in named.waba_changes:
            channels = await self.by_waba_id(sessions, waba_id, max_age=max_age)
            # A number-level update (quality, name) names its number by display digits.
            matching = [
                c for c in channels if display_digits and c.display_digits == display_digits
            ]
            for known in matching or channels:
                found.setdefault(known.channel_id, known)
        return list(found.values())


class WebhookReceiver:
    """One per runtime: the channel cache and the counters of this process."""

    def __init__(self, runtime: Runtime) -> None:
        self.channels = ChannelDirectory(runtime)
        self.counters = WebhookCounters()
        self.log = EventLogWriter(runtime)


_receivers: dict[int, WebhookReceiver] = {}


def receiver_of(runtime: Runtime) -> WebhookReceiver:
    """The receiver state of ``runtime``'s process (made on first use)."""
    key = id(runtime)
    receiver = _receivers.get(key)
    if receiver is None:
        receiver = WebhookReceiver(runtime)
        _receivers[key] = receiver
        weakref.finalize(runtime, _receivers.pop, key, None)
    return receiver


def forget_cached_channels(runtime: Runtime) -> None:
    """Drop this process's cached channels and secrets (a number or its secret changed)."""
    receiver = _receivers.get(id(runtime))
    if receiver is not None:
        receiver.channels.forget()


def webhook_counters(runtime: Runtime) -> WebhookCounters:
    return receiver_of(runtime).counters


# --- The durable log ---------------------------------------------------------------------------


def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class NewEvent:
    """A verified webhook body, about to join the log."""

    body: bytes
    body_sha256: str
    workspace_id: uuid.UUID
    phone_number_id: str
    received_at: datetime


async def do_append_events(*, session: AsyncSession, events: Sequence[NewEvent]) -> set[str]:
    """Append verified webhook bodies to the log in one INSERT; the ``body_sha256`` of the
    ones stored (a body already there is skipped: Meta redelivers the same bytes).

    Does not commit; wakes the ingestion worker when the caller's transaction commits.
    """
    rows = _event_rows(events)
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = WebhookEvent.__table__
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.body_sha256])
        .returning(table.c.body_sha256)
    )
    # One statement whatever the batch size (SQLAlchemy's "insertmanyvalues"), so its
    # compiled form is cached.
    stored = set((await session.scalars(statement, rows)).all())
    if stored:
        await notify(session, INGEST_TOPIC)
    return stored


def _event_rows(events: Sequence[NewEvent]) -> list[dict[str, Any]]:
    """The ``webhook_event`` rows of ``events``, one per distinct body."""
    unique = {event.body_sha256: event for event in events}.values()
    return [
        {
            "received_at": event.received_at,
            "workspace_id": event.workspace_id,
            "phone_number_id": event.phone_number_id,
            "body": event.body,
            "body_sha256": event.body_sha256,
            "state": WebhookEventState.PENDING.value,
            "attempts": 0,
            "summary": {},
        }
        for event in unique
    ]


async def do_append_events_committed(
    *, connection: AsyncConnection, events: Sequence[NewEvent]
) -> set[str]:
    """``do_append_events`` and its commit in one statement, on PostgreSQL: the
    ``body_sha256`` of the bodies stored, committed, with the ingestion worker woken.

    ``connection`` is in autocommit mode: the lone ``INSERT ... ON CONFLICT DO NOTHING
    RETURNING`` is its own transaction (no ``BEGIN``, no ``COMMIT``), and its ``pg_notify``
    (once per stored row, which PostgreSQL folds into one wake-up per transaction) is
    delivered when it commits, as ``core.notify.notify`` does. One round trip instead of
    four (BEGIN, INSERT, NOTIFY, COMMIT): most of the cost of a webhook POST in ``serve``.
    A batch too large for one statement is written in several, each committed: a failure
    half-way answers every POST of the batch with an error, Meta redelivers them, and the
    bodies already stored are deduplicated by ``body_sha256``.
    """
    rows = _event_rows(events)
    if not rows:
        return set()
    table: Table = WebhookEvent.__table__  # type: ignore[assignment]  # mapped to a Table
    statement = (
        postgresql_insert(table)
        .on_conflict_do_nothing(index_elements=[table.c.body_sha256])
        .returning(table.c.body_sha256, func.pg_notify(channel_name(INGEST_TOPIC), ""))
    )
    result = await connection.execute(statement, rows)
    return {body_sha for body_sha, _ in result}


class EventLogWriter:
    """Appends the POSTs of one process to the log in group commits.

    Concurrent requests queue their event and wait; one writer task takes everything
    queued (up to ``MAX_BATCH``), writes it with one INSERT and one commit, then answers
    each request: stored, duplicate, or the error (the request answers 500 and Meta
    retries). Under light load a batch is one event and costs what a lone INSERT would;
    under heavy load one commit (one fsync on PostgreSQL, one write lock on SQLite) serves
    hundreds of POSTs, and the writers of one process never contend for SQLite's lock.
    """

    MAX_BATCH: Final = 500

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._queue: list[tuple[NewEvent, asyncio.Future[bool]]] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # PostgreSQL: the batch's INSERT commits alone (``do_append_events_committed``).
        self._autocommit: AsyncEngine | None = (
            runtime.engine.execution_options(isolation_level="AUTOCOMMIT")
            if runtime.engine.dialect.name == "postgresql"
            else None
        )

    async def append(self, event: NewEvent) -> bool:
        """Wait until ``event`` is committed to the log; False if it was there already."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            self._loop = loop
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="webhook-log-writer")
        assert self._wakeup is not None
        future: asyncio.Future[bool] = loop.create_future()
        self._queue.append((event, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        assert self._wakeup is not None
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    batch = self._queue[: self.MAX_BATCH]
                    del self._queue[: self.MAX_BATCH]
                    await self._write(batch)
        finally:
            # Stopping (the loop closes): nobody may wait forever on an unwritten event.
            pending, self._queue = self._queue, []
            for _, future in pending:
                if not future.done():
                    future.set_exception(RuntimeError("the webhook log writer stopped"))

    async def _write(self, batch: list[tuple[NewEvent, asyncio.Future[bool]]]) -> None:
        events = [event for event, _ in batch]
        try:
            if self._autocommit is not None:
                async with self._autocommit.connect() as connection:
                    stored = await do_append_events_committed(connection=connection, events=events)
            else:
                async with (
                    sqlite_write_gate(self._runtime.engine),
                    self._runtime.sessionmaker() as session,
                ):
                    stored = await do_append_events(session=session, events=events)
                    await session.commit()
        except Exception as error:
            log.exception("webhook_log_write_failed", events=len(batch))
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for event, future in batch:
            # The first of two identical bodies in one batch is the stored one.
            first = event.body_sha256 in stored
            stored.discard(event.body_sha256)
            if not future.done():
                future.set_result(first)


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: int
    attempts: int


async def list_numbers_with_due_events(
    *, session: AsyncSession, now: datetime, limit: int = 1000
) -> list[str]:
    """Phone number ids with events to apply (pending, or failed and due for a retry),
    the number with the oldest such event first."""
    due = or_(
        WebhookEvent.state == WebhookEventState.PENDING,
        and_(
            WebhookEvent.state == WebhookEventState.FAILED,
            WebhookEvent.next_attempt_at.is_not(None),
            WebhookEvent.next_attempt_at <= now,
        ),
    )
    rows = await session.execute(
        select(WebhookEvent.phone_number_id, func.min(WebhookEvent.id).label("first_id"))
        .where(due, WebhookEvent.phone_number_id.is_not(None))
        .group_by(WebhookEvent.phone_number_id)
        .order_by(text("first_id"))
        .limit(limit)
    )
    return [str(number) for number, _ in rows]


async def list_due_events(
    *, session: AsyncSession, phone_number_id: str, now: datetime, limit: int
) -> list[PendingEvent]:
    """The number's events to apply, in log order."""
    due = or_(
        WebhookEvent.state == WebhookEventState.PENDING,
        and_(
            WebhookEvent.state == WebhookEventState.FAILED,
            WebhookEvent.next_attempt_at.is_not(None),
            WebhookEvent.next_attempt_at <= now,
        ),
    )
    rows = await session.execute(
        select(WebhookEvent.id, WebhookEvent.attempts)
        .where(WebhookEvent.phone_number_id == phone_number_id, due)
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    return [PendingEvent(id=int(event_id), attempts=int(attempts)) for event_id, attempts in rows]


async def get_event_bodies(*, session: AsyncSession, event_ids: Sequence[int]) -> dict[int, bytes]:
    """The bodies of these events, by id (read before a batch claims them, to parse them
    outside its transaction; a body never changes)."""
    if not event_ids:
        return {}
    rows = await session.execute(
        select(WebhookEvent.id, WebhookEvent.body).where(
            is_one_of(session, WebhookEvent.id, event_ids)
        )
    )
    return {int(event_id): bytes(body) for event_id, body in rows}


async def do_claim_event(*, session: AsyncSession, event: PendingEvent) -> bytes | None:
    """Start applying ``event``: its body, or None if someone else applied or claimed it.

    Counts the attempt with a conditional UPDATE, the first statement of the applying
    transaction: two appliers racing for one event (a lease that expired mid-batch) are
    serialised by the row lock (PostgreSQL) or the write lock (SQLite), and the second
    matches nothing once the first committed. Does not commit.
    """
    result = await session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event.id,
            WebhookEvent.attempts == event.attempts,
            WebhookEvent.state.in_((WebhookEventState.PENDING, WebhookEventState.FAILED)),
        )
        .values(attempts=event.attempts + 1)
        .returning(WebhookEvent.body)
    )
    body = result.scalar_one_or_none()
    return None if body is None else bytes(body)


async def do_claim_events(*, session: AsyncSession, events: Sequence[PendingEvent]) -> set[int]:
    """Start applying ``events`` with one statement: the ids of those claimed.

    ``do_claim_event`` for a batch: an event someone else applied or claimed meanwhile (its
    attempts moved on, or it is no longer pending or failed) is left out. Does not commit.
    """
    if not events:
        return set()
    result = await session.execute(
        update(WebhookEvent)
        .where(
            tuple_(WebhookEvent.id, WebhookEvent.attempts).in_(
                [(event.id, event.attempts) for event in events]
            ),
            WebhookEvent.state.in_((WebhookEventState.PENDING, WebhookEventState.FAILED)),
        )
        .values(attempts=WebhookEvent.attempts + 1)
        .returning(WebhookEvent.id)
        # Nothing of the log is in the session: no need to find and refresh it there.
        .execution_options(synchronize_session=False)
    )
    return {int(event_id) for event_id in result.scalars()}


@dataclass(frozen=True, slots=True)
class FinishedEvent:
    """How a claimed event was applied (``APPLIED`` or ``UNKNOWN``)."""

    event_id: int
    state: WebhookEventState
    summary: dict[str, Any]
    error: str | None


async def do_finish_events(
    *, session: AsyncSession, finished: Sequence[FinishedEvent], now: datetime
) -> None:
    """``do_finish_event`` for a batch, in one statement (executemany). No commit."""
    if not finished:
        return
    # One executemany of a Core UPDATE: the ORM's "bulk UPDATE by primary key" did the same
    # in SQL but walked every row through the unit of work's persistence code first, which
    # cost ingestion more than the UPDATE itself.
    table: Table = WebhookEvent.__table__  # type: ignore[assignment]  # mapped to a Table
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            state=bindparam("b_state"),
            summary=bindparam("b_summary"),
            error=bindparam("b_error"),
            applied_at=now,
            next_attempt_at=None,
        ),
        [
            {
                "b_id": each.event_id,
                "b_state": each.state.value,
                "b_summary": each.summary,
                "b_error": each.error,
            }
            for each in finished
        ],
    )


async def do_finish_event(
    *,
    session: AsyncSession,
    event_id: int,
    state: WebhookEventState,
    summary: dict[str, Any],
    error: str | None,
    now: datetime,
) -> None:
    """Record how a claimed event was applied (``APPLIED`` or ``UNKNOWN``). No commit."""
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id)
        .values(state=state, summary=summary, error=error, applied_at=now, next_attempt_at=None)
    )


async def do_record_event_failure(
    *,
    session: AsyncSession,
    event: PendingEvent,
    error: str,
    next_attempt_at: datetime | None,
) -> None:
    """Mark ``event`` FAILED after an attempt that raised; retried at ``next_attempt_at``
    (never when None: left for a person to look at). No commit."""
    await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event.id, WebhookEvent.attempts == event.attempts)
        .values(
            state=WebhookEventState.FAILED,
            attempts=event.attempts + 1,
            error=error[:4000],
            next_attempt_at=next_attempt_at,
        )
    )


# --- Routes ------------------------------------------------------------------------------------


class BodyTooLargeError(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(reason: str, status: int, **details: Any) -> Response:
    log.warning("webhook_refused", reason=reason, **details)
    return JSONResponse({"error": reason}, status_code=status)


def _signed_by_any(channels: Iterable[KnownChannel], body: bytes, header: str | None) -> bool:
    secrets_tried: set[str] = set()
    for known in channels:
        if known.app_secret in secrets_tried:
            continue
        secrets_tried.add(known.app_secret)
        if signature.verify(known.app_secret, body, header):
            return True
    return False


@router.get(WEBHOOK_PATH, response_class=PlainTextResponse, include_in_schema=False)
async def verify_subscription(request: Request) -> Response:
    """Meta's subscription handshake: echo ``hub.challenge`` if the verify token is ours.

    The token must be the ``webhook_verify_token`` of a connected channel (of the channel
    whose phone number id is given as ``?channel=``, when given).
    """
    runtime: Runtime = request.app.state.runtime
    counters = receiver_of(runtime).counters
    params = request.query_params
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    accepted = False
    if mode == "subscribe" and token and challenge is not None:
        query = select(Channel.id).where(
            Channel.webhook_verify_token == token, Channel.disconnected_at.is_(None)
        )
        only = params.get("channel")
        if only:
            query = query.where(Channel.phone_number_id == only)
        async with runtime.sessionmaker() as session:
            accepted = (await session.scalar(query.limit(1))) is not None
    if not accepted:
        counters.verifications_refused += 1
        log.warning("webhook_verification_refused", mode=mode)
        return PlainTextResponse("forbidden", status_code=403)
    counters.verifications_accepted += 1
    log.info("webhook_verification_accepted")
    return PlainTextResponse(challenge or "")


@router.post(WEBHOOK_PATH, include_in_schema=False)
async def receive_webhook(request: Request) -> Response:
    """Check a POST from Meta, append it to the log, then (only then) answer 200."""
    runtime: Runtime = request.app.state.runtime
    receiver = receiver_of(runtime)
    counters = receiver.counters
    try:
        body = await _read_body(request, MAX_BODY_BYTES)
    except BodyTooLargeError:
        counters.rejected_too_large += 1
        return _refused("too_large", 413, limit=MAX_BODY_BYTES)
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        counters.rejected_malformed += 1
        return _refused("malformed", 400, size=len(body))
    named = named_numbers(data)
    header = request.headers.get(signature.SIGNATURE_HEADER)
    sessions = SessionOnDemand(runtime.sessionmaker)
    try:
        channels = await receiver.channels.resolve(sessions, named)
        if not channels:
            counters.rejected_unknown_number += 1
            return _refused(
                "unknown_number",
                401,
                phone_number_ids=list(named.phone_number_ids[:5]),
                waba_ids=[waba for waba, _ in named.waba_changes[:5]],
                size=len(body),
            )
        if not header:
            counters.rejected_missing_signature += 1
            return _refused("missing_signature", 401, phone_number_id=channels[0].phone_number_id)
        if not _signed_by_any(channels, body, header):
            fresh = await receiver.channels.resolve(
                sessions, named, max_age=REFRESH_ON_BAD_SIGNATURE_AFTER_SECONDS
            )
            if not fresh or not _signed_by_any(fresh, body, header):
                counters.rejected_bad_signature += 1
                return _refused("bad_signature", 401, phone_number_id=channels[0].phone_number_id)
            channels = fresh
    finally:
        await sessions.close()
    first = channels[0]
    stored = await receiver.log.append(
        NewEvent(
            body=body,
            body_sha256=body_sha256(body),
            workspace_id=first.workspace_id,
            phone_number_id=first.phone_number_id,
            received_at=runtime.clock.now(),
        )
    )
    if stored:
        counters.accepted += 1
    else:
        counters.duplicates += 1
        log.info("webhook_duplicate_ignored", phone_number_id=first.phone_number_id)
    return Response(status_code=200)


@router.get(WEBHOOK_PATH + "/metrics", tags=["ops"])
async def webhook_metrics(request: Request) -> dict[str, int]:
    """What this process's webhook receiver accepted and refused since it started."""
    runtime: Runtime = request.app.state.runtime
    return receiver_of(runtime).counters.as_dict()
