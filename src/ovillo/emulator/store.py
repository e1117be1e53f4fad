"""The emulator's durable world in SQLite, so a restarted emulator remembers its numbers.

What survives a restart: businesses (and so their tokens), WABAs, phone numbers, templates,
customers (persona, opt-outs, feedback, open windows, referrals), media under the memory
cap, scheduled jobs (emulator.jobs: pending template reviews and pause ends, tier upgrades,
simulated customers' next messages) and how far the emulator clock runs ahead of the real
one (so time moved forward stays moved). What does not: sent and inbound messages and
webhook attempts, and so the statuses and retries still due for them. Those are a debugging
log of high volume; the platform keeps its own record of every message, and writing them
would put SQLite on the send path the emulator must keep at 1,000 sends/s.

Everything lives in one table of ``(kind, id, body)``, the body the entity as tagged JSON.
Nothing is written on the request path: `EmulatorPersistence` flushes every half second (and
on stop) what changed. Businesses, WABAs, numbers and templates are few, so each flush
compares their JSON with what was last written (no mutation point can be missed); customers
are many, so their mutation points mark them with `EmulatorState.touch`, and jobs are marked
when added or run; media never change, so the ids added or removed since the last flush are
the change.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from ovillo.core.clock import Clock, ControllableClock, SystemClock
from ovillo.emulator.state import (
    Business,
    Customer,
    EmulatorState,
    FeedbackEvent,
    Media,
    Persona,
    PhoneNumber,
    ScheduledJob,
    Template,
    Waba,
)

log = structlog.get_logger(__name__)

FLUSH_INTERVAL_SECONDS = 0.5

# Every dataclass the store may meet, by name: decoding builds only these.
_DATACLASSES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        *(Business, Waba, PhoneNumber, Template, Customer, Persona, FeedbackEvent, Media),
        ScheduledJob,
    )
}
# The row keeping how far the emulator clock is ahead of the real one, in seconds.
_CLOCK_KEY: tuple[str, str] = ("clock", "skew")
# A clock that runs at real speed drifts a little against the wall clock; within this the
# skew has not changed and is not written again.
_CLOCK_TOLERANCE_SECONDS = 0.5

# kind -> the state dict holding it. Customers are keyed by wa_id, the rest by Graph id.
_SNAPSHOT_KINDS: tuple[str, ...] = ("business", "waba", "phone_number", "template")

Row = tuple[str, str, str]  # (kind, id, body)
Key = tuple[str, str]  # (kind, id)


def _entities(state: EmulatorState, kind: str) -> dict[str, Any]:
    by_kind: dict[str, dict[str, Any]] = {
        "business": state.businesses,
        "waba": state.wabas,
        "phone_number": state.phone_numbers,
        "template": state.templates,
        "customer": state.customers,
        "media": state.media,
        "job": state.jobs,
    }
    return by_kind[kind]


_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})
# dataclass -> its field names, read once: `dataclasses.fields` costs more than the
# encoding of a small entity, and a campaign writes a thousand new customers a second.
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def encode(value: Any) -> Any:
    """A JSON-ready form of an entity: tags keep datetimes, bytes, sets and tuples apart."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(key): encode(item) for key, item in value.items()}
    if kind is list:
        return [encode(item) for item in value]
    names = _FIELD_NAMES.get(kind)
    if names is not None:
        return {"$dc": kind.__name__, "fields": {n: encode(getattr(value, n)) for n in names}}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, set | frozenset):
        return {"$set": [encode(item) for item in sorted(value, key=str)]}
    if isinstance(value, tuple):
        return {"$tuple": [encode(item) for item in value]}
    if isinstance(value, list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        _FIELD_NAMES[kind] = tuple(f.name for f in fields(value))
        return encode(value)
    return value


def decode(value: Any) -> Any:
    """The inverse of `encode`; fields a dataclass no longer has are dropped."""
    if isinstance(value, list):
        return [decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$dt":
            return datetime.fromisoformat(inner)
        if tag == "$b64":
            return base64.b64decode(inner)
        if tag == "$set":
            return {decode(item) for item in inner}
        if tag == "$tuple":
            return tuple(decode(item) for item in inner)
    if set(value) == {"$dc", "fields"}:
        cls = _DATACLASSES[value["$dc"]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: decode(v) for k, v in value["fields"].items() if k in known})
    return {key: decode(item) for key, item in value.items()}


def _dump(entity: Any) -> str:
    return json.dumps(encode(entity), separators=(",", ":"))


class EmulatorStore:
    """The SQLite file: whole-world load, and batched upserts and deletes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS entity ("
                " kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL,"
                " PRIMARY KEY (kind, id))"
            )

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per call: writes run in worker threads, a few times a second at most.
        db = sqlite3.connect(self.path, timeout=20)
        try:
            with db:
                yield db
        finally:
            db.close()

    def rows(self) -> list[Row]:
        with self._connect() as db:
            return list(db.execute("SELECT kind, id, body FROM entity ORDER BY rowid"))

    def write(self, upserts: Iterable[Row], deletes: Iterable[Key]) -> None:
        """Apply one flush in one transaction."""
        with self._connect() as db:
            db.executemany(
                "INSERT INTO entity (kind, id, body) VALUES (?, ?, ?)"
                " ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                list(upserts),
            )
            db.executemany("DELETE FROM entity WHERE kind = ? AND id = ?", list(deletes))

    def clear(self) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM entity")

    def clock_skew(self) -> float | None:
        """Seconds the emulator clock was ahead of the real one when last written."""
        with self._connect() as db:
            row = db.execute(
                "SELECT body FROM entity WHERE kind = ? AND id = ?", _CLOCK_KEY
            ).fetchone()
        return float(json.loads(row[0])["seconds"]) if row is not None else None

    def load(self) -> EmulatorState:
        """A fresh state holding everything saved; its ids start past every saved id."""
        state = EmulatorState()
        for kind, entity_id, body in self.rows():
            if (kind, entity_id) == _CLOCK_KEY:
                continue
            entity = decode(json.loads(body))
            _entities(state, kind)[entity_id] = entity
            state.ids.skip_past(entity_id)
        for job in state.jobs.values():
            job.restored = True
        for business in state.businesses.values():
            state.tokens[business.access_token] = business.id
        return state


class EmulatorPersistence:
    """Keeps a store in step with an emulator's state (see the module docstring)."""

    def __init__(self, store: EmulatorStore, clock: Clock | None = None) -> None:
        self.store = store
        # The emulator clock, whose lead over the real one is kept (None: not kept).
        self.clock = clock
        self._written_skew: float | None = None
        self._written: dict[Key, str] = {}  # snapshot kinds: the JSON last written
        self._written_media: set[str] = set()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def load(self) -> EmulatorState:
        state = self.store.load()
        self._remember(state)
        return state

    def restore_clock(self, clock: ControllableClock) -> None:
        """Move ``clock`` as far ahead of the real one as it was when last written (never
        back: a clock already further on stays)."""
        skew = self.store.clock_skew()
        if skew is not None:
            target = SystemClock().now() + timedelta(seconds=skew)
            if target > clock.now():
                clock.set(target)
        self._written_skew = skew

    def _skew_row(self) -> tuple[Row | None, float | None]:
        """The clock's row if its lead changed since it was written, and the lead."""
        if self.clock is None:
            return None, None
        skew = (self.clock.now() - SystemClock().now()).total_seconds()
        written = self._written_skew
        if written is not None and abs(skew - written) <= _CLOCK_TOLERANCE_SECONDS:
            return None, written
        return (*_CLOCK_KEY, json.dumps({"seconds": skew})), skew

    def _remember(self, state: EmulatorState) -> None:
        self._written = {
            (kind, entity_id): _dump(entity)
            for kind in _SNAPSHOT_KINDS
            for entity_id, entity in _entities(state, kind).items()
        }
        self._written_media = set(state.media)

    def start(self, state_of: Any) -> None:
        """Flush ``state_of()`` (the emulator's current state) every half second."""
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._flush_forever(state_of), name="emulator-store")

    async def stop(self, state: EmulatorState) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self.flush(state)

    async def _flush_forever(self, state_of: Any) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), FLUSH_INTERVAL_SECONDS)
            try:
                await self.flush(state_of())
            except Exception:
                # A full disk or a locked file must not stop the emulator; retry next tick.
                log.exception("emulator_store_flush_failed", path=str(self.store.path))

    async def flush(self, state: EmulatorState) -> None:
        """Write what changed since the last flush, serialised here, written in a thread."""
        async with self._lock:
            dirty, state.dirty = state.dirty, set()
            upserts, deletes, written, media_now = self._changes(state, dirty)
            clock_row, skew = self._skew_row()
            if clock_row is not None:
                upserts.append(clock_row)
            if upserts or deletes:
                try:
                    await asyncio.to_thread(self.store.write, upserts, deletes)
                except BaseException:
                    state.dirty |= dirty  # the next flush tries again
                    raise
            self._written.update(written)
            self._written_media = media_now
            self._written_skew = skew
            for key in deletes:
                self._written.pop(key, None)

    def _changes(
        self, state: EmulatorState, dirty: set[Key]
    ) -> tuple[list[Row], list[Key], dict[Key, str], set[str]]:
        upserts: list[Row] = []
        deletes: list[Key] = []
        written: dict[Key, str] = {}
        present: set[Key] = set()
        for kind in _SNAPSHOT_KINDS:
            for entity_id, entity in _entities(state, kind).items():
                key = (kind, entity_id)
                present.add(key)
                body = _dump(entity)
                if self._written.get(key) != body:
                    upserts.append((kind, entity_id, body))
                    written[key] = body
        deletes.extend(key for key in self._written if key not in present)
        for kind, entity_id in dirty:
            entity = _entities(state, kind).get(entity_id)
            if entity is None:
                deletes.append((kind, entity_id))
            else:
                upserts.append((kind, entity_id, _dump(entity)))
        media_now = set(state.media)
        upserts.extend(
            ("media", media_id, _dump(state.media[media_id]))
            for media_id in media_now - self._written_media
        )
        deletes.extend(("media", media_id) for media_id in self._written_media - media_now)
        return upserts, deletes, written, media_now

    async def clear(self, state: EmulatorState) -> None:
        """After a reset: an empty file, and ``state`` (the new, empty one) as written."""
        async with self._lock:
            await asyncio.to_thread(self.store.clear)
            state.dirty.clear()
            self._written_skew = None
            self._remember(state)
