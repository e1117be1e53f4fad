"""Applying Meta's webhooks to the inbox: contacts, conversations, messages, statuses, media.

The receiver (``ovillo.channels.webhooks``) only appends signed bodies to the durable log;
the worker calls ``apply_pending_events`` in a loop to apply them:

- per phone number, one applier at a time across all workers (lease
  ``ingest:{phone_number_id}``), in log order; many events per transaction, claimed with
  one conditional UPDATE so that two appliers never both apply one event. A batch looks up
  the messages its statuses and texts name in one query and marks its events in one
  executemany: a campaign's statuses cost about a millisecond each, not a commit each.
  Its size follows its pace, about ``BATCH_SECONDS`` of work (short on SQLite, where the
  webhook receiver waits for the write lock meanwhile). If an event raises, the batch is
  rolled back whole, the events before it are applied again together and the failing one
  alone, in its own transaction, so it cannot sink the others;
- an event is APPLIED, or UNKNOWN when nothing in it is something we apply (kept, never
  dropped), or FAILED with the error: retried ``MAX_EVENT_ATTEMPTS`` times with growing
  delays, then left FAILED for a person to look at. A failed event does not hold back the
  number's later events: applying is order-proof (below), so skipping ahead is safe.

Order-proof and idempotent:

- an inbound message is stored once per ``wamid`` (a second apply changes nothing); the
  conversation's ``last_inbound_at`` only moves forward, and its preview shows the newest
  message whatever order they came in;
- statuses only move forward, by ``advance_status``, a pure join: every order of the same
  statuses ends in the same state. ``queued < sending < accepted < sent < failed <
  delivered < read``: ``failed`` beats ``sent`` and keeps its error, and is beaten by
  ``delivered`` or ``read``, which prove the message reached the phone whatever failed
  said (Meta documents no failed-then-delivered sequence, but webhooks are unordered and
  retried, so a proof of delivery is the safer last word). Each status fills its own
  ``*_at`` with the earliest time seen, and nothing else: a ``delivered`` after ``read``
  fills ``delivered_at`` only;
- a status for a ``wamid`` we do not know yet is matched to our message through
  ``biz_opaque_callback_data`` (our outbound messages carry their own id there: the send's
  answer was lost), or else waits as a ``PendingStatus`` until the wamid is stored
  (``do_apply_pending_statuses``, called by the sender right after it stores a wamid, and
  swept here on every pass in case the two crossed).

Reactions are stored as messages of type ``reaction`` (``text`` the emoji, ``reply_to_wamid``
the message reacted to; an empty emoji is the removal): they arrive before or after their
target, so they are history of their own rather than a change to the target's content.

Media (image, video, audio, document, sticker) gets a ``MediaFile`` row (``pending``) in the
event's transaction; the bytes are downloaded after it, by ``download_pending_media`` (run
at the end of each ``apply_pending_events`` pass), through the Graph API into
``ovillo.core.storage``; a failure is recorded with its reason and retried with backoff.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ovillo.accounts import service as accounts_service
from ovillo.channels import service as channels_service
from ovillo.channels import webhooks as webhook_log
from ovillo.channels.models import Channel, WebhookEventState
from ovillo.cloudapi import webhooks as wire
from ovillo.cloudapi.errors import CloudAPIError, CloudAPITransportError
from ovillo.contacts import opt_out
from ovillo.contacts import service as contacts_service
from ovillo.contacts.models import Contact
from ovillo.core import ids
from ovillo.core.db import is_one_of, sqlite_write_gate
from ovillo.core.errors import OvilloError
from ovillo.core.runtime import Runtime
from ovillo.core.storage import StorageKeyError, extension_for, new_storage_key, storage_for
from ovillo.inbox import live, outbox, routing
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import (
    AuthorType,
    Conversation,
    ConversationEvent,
    Direction,
    MediaFile,
    Message,
    MessageStatus,
    PendingStatus,
)
from ovillo.rules import attribution, window
from ovillo.templates import service as templates_service
from ovillo.worker.leases import acquire_lease, release_lease

log = structlog.get_logger(__name__)

MAX_EVENT_ATTEMPTS: Final = 5
MAX_MEDIA_ATTEMPTS: Final = 5
# How long a worker may hold a media download before another may try it (a crash mid-way).
MEDIA_CLAIM_SECONDS: Final = 300.0
# An event that lost a race on a unique row (two numbers, one new contact) is tried again
# at once this many times before it counts as failed.
IMMEDIATE_RETRIES: Final = 2
PREVIEW_LENGTH: Final = 200
# Wamids per ``IN (...)`` lookup: far below SQLite's and asyncpg's parameter limits.
LOOKUP_CHUNK: Final = 500
# Events of one number are applied many per transaction (one commit, one lookup of their
# messages), as many as take about BATCH_SECONDS: on SQLite the webhook receiver waits for
# the write lock meanwhile, and answers Meta only once its events are written.
# PostgreSQL locks rows, not the database: longer transactions cost the receiver nothing
# there, and each commit (a WAL flush, and a few round trips) costs tens of milliseconds on a
# busy machine.
BATCH_SECONDS: Final = {"sqlite": 0.05, "postgresql": 0.25}
FIRST_BATCH: Final = 50
MIN_BATCH: Final = 2
# A batch's pace is its wall time, which on a busy worker (a campaign's send pipeline in
# the same event loop) is mostly other tasks' turns: measured, PostgreSQL batches shrank
# to MIN_BATCH and the applier fell to a few statuses a second behind a campaign's
# thousands. PostgreSQL keeps no one waiting while a batch runs, so it never goes below this.
MIN_BATCH_BY_DIALECT: Final = {"postgresql": 100}
MAX_BATCH: Final = 500
# Parsing is CPU only: the event loop serves requests in between every this many bodies.
PARSE_SLICE: Final = 25
MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})
# Meta's system messages that give their sender a new ``wa_id`` or BSUID.
IDENTITY_CHANGES: Final = frozenset({"user_changed_number", "user_changed_user_id"})


# --- Pure: the status order ------------------------------------------------------------------

# A join-semilattice: the final status is the highest rank seen, so order does not matter.
STATUS_RANK: Final[dict[str, int]] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.ACCEPTED: 2,
    MessageStatus.SENT: 3,
    MessageStatus.FAILED: 4,
    MessageStatus.DELIVERED: 5,
    MessageStatus.READ: 6,
}
# A send failed because the number is not on WhatsApp (or cannot receive): campaigns leave
# the contact out until they write.
NOT_ON_WHATSAPP_ERROR: Final = 131026

# The statuses a webhook can bring, each with the column of its time.
WEBHOOK_STATUSES: Final = frozenset(
    {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED}
)


@dataclass(frozen=True, slots=True, order=True)
class StatusError:
    """The error a ``failed`` status carried."""

    code: int | None = None
    title: str | None = None
    detail: str | None = None

    def _key(self) -> tuple[int, str, str]:
        return (-1 if self.code is None else self.code, self.title or "", self.detail or "")


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """One status webhook, reduced to what moves a message."""

    status: str
    at: datetime
    error: StatusError | None = None


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where an outbound message is, as far as statuses go."""

    status: str
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    read_at: datetime | None = None
    failed_at: datetime | None = None
    error: StatusError | None = None


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


def advance_status(state: DeliveryState, update: StatusUpdate) -> DeliveryState:
    """``state`` after ``update``: monotonic, idempotent, and the same in any order.

    The status becomes the higher-ranked of the two (``STATUS_RANK``); the update's own
    time column keeps the earliest time seen; a ``failed`` update's error is kept with its
    time (of several failures, the earliest, ties broken by the error itself, so that
    every order agrees). A status we do not rank (``deleted``, ``warning``, ``played``...)
    changes nothing.
    """
    if update.status not in WEBHOOK_STATUSES:
        return state
    current_rank = STATUS_RANK.get(state.status, -1)
    status = update.status if STATUS_RANK[update.status] > current_rank else state.status
    if update.status == MessageStatus.SENT:
        return replace(state, status=status, sent_at=_earliest(state.sent_at, update.at))
    if update.status == MessageStatus.DELIVERED:
        return replace(state, status=status, delivered_at=_earliest(state.delivered_at, update.at))
    if update.status == MessageStatus.READ:
        return replace(state, status=status, read_at=_earliest(state.read_at, update.at))
    # failed
    error = update.error or StatusError()
    keep_current = state.failed_at is not None and (
        (state.failed_at, (state.error or StatusError())._key()) <= (update.at, error._key())
    )
    if keep_current:
        return replace(state, status=status)
    return replace(state, status=status, failed_at=update.at, error=error)


def status_update_of(status: wire.MessageStatus) -> StatusUpdate:
    """The ``StatusUpdate`` of a status webhook (its first error, for ``failed``)."""
    error = None
    if status.errors:
        first = status.errors[0]
        detail = first.error_data.details if first.error_data is not None else None
        error = StatusError(
            code=first.code, title=first.title or first.message, detail=detail or first.message
        )
    return StatusUpdate(status=status.status, at=status.occurred_at, error=error)


# --- Pure: what an inbound message says -------------------------------------------------------


def text_of(message: wire.InboundMessageBase) -> str | None:
    """The searchable text of an inbound message: body, caption, button title..."""
    match message:
        case wire.TextMessage():
            return message.text.body
        case wire.ImageMessage() | wire.VideoMessage():
            media = message.image if isinstance(message, wire.ImageMessage) else message.video
            return media.caption
        case wire.DocumentMessage():
            return message.document.caption or message.document.filename
        case wire.ButtonMessage():
            return message.button.text
        case wire.InteractiveMessage():
            reply = message.interactive
            if isinstance(reply, wire.InteractiveButtonReply):
                return reply.button_reply.title
            if isinstance(reply, wire.InteractiveListReply):
                return reply.list_reply.title
            if isinstance(reply, wire.InteractiveNfmReply):
                return reply.nfm_reply.body or reply.nfm_reply.name
            return None
        case wire.LocationMessage():
            place = message.location
            return place.name or place.address or f"{place.latitude},{place.longitude}"
        case wire.ContactsMessage():
            names = [c.name.formatted_name for c in message.contacts if c.name is not None]
            return ", ".join(name for name in names if name) or None
        case wire.ReactionMessage():
            return message.reaction.emoji or None
        case wire.OrderMessage():
            return message.order.text
        case wire.SystemMessage():
            return message.system.body
    return None


def preview_of(message: wire.InboundMessageBase, text: str | None) -> str:
    return (text or f"[{message.type}]")[:PREVIEW_LENGTH]


def media_of(message: wire.InboundMessageBase) -> wire.InboundMedia | None:
    media = getattr(message, message.type, None) if message.type in MEDIA_TYPES else None
    return media if isinstance(media, wire.InboundMedia) else None


def occurred_at_of(message: wire.InboundMessageBase, *, now: datetime) -> datetime:
    try:
        return message.occurred_at
    except (ValueError, OverflowError, OSError):
        return now


def opens_window(message: wire.InboundMessageBase) -> bool:
    """Whether a message restarts the 24-hour window: anything the user does, not Meta's
    system notices (a number change)."""
    return message.type != "system"


def event_retry_delay(attempts: int) -> timedelta | None:
    """How long to wait before trying a failed event again; None: give up, leave it FAILED."""
    if attempts >= MAX_EVENT_ATTEMPTS:
        return None
    return timedelta(seconds=5 * 4 ** max(0, attempts - 1))


def media_retry_delay(attempts: int) -> timedelta | None:
    """How long to wait before downloading a media file again; None: give up."""
    if attempts >= MAX_MEDIA_ATTEMPTS:
        return None
    return timedelta(seconds=10 * 3 ** max(0, attempts - 1))


def media_hash_matches(data: bytes, expected: str | None) -> bool:
    """Whether ``data`` has the SHA-256 Meta announced, written as hex (``GET /{media-id}``)
    or base64 (inbound message webhooks). No announced hash matches anything."""
    if not expected:
        return True
    digest = hashlib.sha256(data).digest()
    return expected.lower() == digest.hex() or expected == base64.b64encode(digest).decode()


# --- Applying one event ----------------------------------------------------------------------


@dataclass
class EventOutcome:
    """What applying one event did, for ``webhook_event.summary``."""

    counts: Counter[str] = field(default_factory=Counter)
    noop_fields: list[str] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    applied_any: bool = False
    parse_error: str | None = None

    @property
    def state(self) -> WebhookEventState:
        return WebhookEventState.APPLIED if self.applied_any else WebhookEventState.UNKNOWN

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = dict(sorted(self.counts.items()))
        if self.noop_fields:
            # Recorded for the features that will consume them (templates, billing...).
            summary["noop_fields"] = self.noop_fields
        if self.unknown:
            summary["unknown"] = self.unknown[:20]
        if self.errors:
            summary["errors"] = self.errors[:20]
        return summary


@dataclass
class ApplyCache:
    """What the events applied in one transaction share, so a batch costs a query per kind
    of row rather than per event: channels by phone number id, and messages by wamid (None:
    looked up and not there). Valid only in the session of that one transaction; a row
    created or reconciled in it is entered here as it is made."""

    channels: dict[str, Channel | None] = field(default_factory=dict)
    messages: dict[str, Message | None] = field(default_factory=dict)
    # Senders resolved ahead by ``prepare_senders``: contacts by (workspace, user) and
    # conversations by (channel, contact).
    contacts: dict[tuple[uuid.UUID, contacts_service.WhatsAppUser], Contact] = field(
        default_factory=dict
    )
    conversations: dict[tuple[uuid.UUID, uuid.UUID], Conversation] = field(default_factory=dict)
    # Each workspace's opt-out replies, read once per transaction.
    opt_out_words: dict[uuid.UUID, tuple[str, ...]] = field(default_factory=dict)
    # The latest message the business sent in each conversation (None: it sent none), for
    # the campaign a reply answers (``rules.attribution``).
    latest_outbound: dict[uuid.UUID, Message | None] = field(default_factory=dict)

    async def channel(self, session: AsyncSession, phone_number_id: str) -> Channel | None:
        if phone_number_id not in self.channels:
            self.channels[phone_number_id] = await channels_service.get_channel_by_phone_number_id(
                session=session, phone_number_id=phone_number_id
            )
        return self.channels[phone_number_id]

    async def load_messages(self, session: AsyncSession, wamids: Iterable[str]) -> None:
        """Look up the messages of ``wamids`` not looked up yet, a chunk per query."""
        wanted = list(dict.fromkeys(w for w in wamids if w not in self.messages))
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            # wamids are unique across workspaces; callers check the workspace.
            found = {
                message.wamid: message
                for message in await session.scalars(
                    select(Message).where(is_one_of(session, Message.wamid, chunk))
                )
            }
            for wamid in chunk:
                self.messages[wamid] = found.get(wamid)

    async def message(self, session: AsyncSession, wamid: str) -> Message | None:
        if wamid not in self.messages:
            await self.load_messages(session, [wamid])
        return self.messages[wamid]

    async def load_latest_outbound(
        self, session: AsyncSession, conversation_ids: Iterable[uuid.UUID]
    ) -> None:
        """Look up the latest outgoing message of the conversations not looked up yet, a
        chunk per query (the thread index, read backwards from each conversation's end)."""
        wanted = list(dict.fromkeys(c for c in conversation_ids if c not in self.latest_outbound))
        later = aliased(Message)
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            latest = (
                select(func.max(later.seq))
                .where(
                    later.conversation_id == Message.conversation_id,
                    later.direction == Direction.OUTBOUND,
                )
                .scalar_subquery()
            )
            # No autoflush: the batch's new inbound rows (none of them outgoing) go in
            # together at its commit.
            with session.no_autoflush:
                found = {
                    message.conversation_id: message
                    for message in await session.scalars(
                        select(Message).where(
                            is_one_of(session, Message.conversation_id, chunk),
                            Message.seq == latest,
                        )
                    )
                }
            for conversation_id in chunk:
                message = found.get(conversation_id)
                self.latest_outbound[conversation_id] = message
                if message is not None and message.wamid is not None:
                    self.messages.setdefault(message.wamid, message)


def sender_of(
    value: wire.MessagesValue, message: wire.InboundMessageBase
) -> contacts_service.WhatsAppUser:
    """Who sent ``message``: ``from`` or ``from_user_id``, completed by ``contacts[]``."""
    sender = value.contact_of(message)
    profile = sender.profile if sender is not None else None
    return contacts_service.WhatsAppUser(
        wa_id=message.from_ or (sender.wa_id if sender is not None else None) or None,
        user_id=message.from_user_id or (sender.user_id if sender is not None else None) or None,
        profile_name=profile.name if profile is not None else None,
        username=profile.username if profile is not None else None,
    )


def changes_identity(message: wire.InboundMessageBase) -> bool:
    """Whether ``message`` moves its sender to a new ``wa_id`` or BSUID (Meta's system
    message): who later messages name depends on it having been applied."""
    return isinstance(message, wire.SystemMessage) and message.system.type in IDENTITY_CHANGES


async def prepare_senders(
    session: AsyncSession,
    cache: ApplyCache,
    payloads: Iterable[wire.WebhookPayload],
    *,
    now: datetime,
) -> None:
    """Find or create, for a batch at once, the contacts and current conversations of the
    senders of the inbound messages in ``payloads`` not stored yet, and lock those
    conversations in id order (``outbox.do_lock_conversations``).

    Per number, one lookup and one ``INSERT ... ON CONFLICT DO NOTHING`` of contacts, the
    same of conversations, however many new customers wrote: a campaign's answers cost
    about what its statuses cost. Stops at the first message that changes its sender's
    identity (a number change): the senders after it are found one by one, once it is
    applied. Precondition: ``cache.messages`` holds the batch's wamids.
    """
    wanted: dict[uuid.UUID, tuple[Channel, list[contacts_service.WhatsAppUser]]] = {}
    stop = False
    for payload in payloads:
        for entry in payload.entry:
            for change in entry.changes:
                value = change.value
                if not isinstance(value, wire.MessagesValue) or not value.messages:
                    continue
                channel = await cache.channel(session, value.metadata.phone_number_id)
                if channel is None:
                    continue
                for message in value.messages:
                    if changes_identity(message):
                        stop = True
                        break
                    if cache.messages.get(message.id) is not None:
                        continue
                    try:
                        user = sender_of(value, message)
                    except ValueError:
                        continue  # no sender: the message's own apply says why
                    wanted.setdefault(channel.id, (channel, []))[1].append(user)
                if stop:
                    break
            if stop:
                break
        if stop:
            break
    locked: list[uuid.UUID] = []
    for channel, users in wanted.values():
        contacts = await contacts_service.do_upsert_many_from_whatsapp(
            session=session, workspace_id=channel.workspace_id, users=users, now=now
        )
        for user, contact in zip(users, contacts, strict=True):
            cache.contacts[(channel.workspace_id, user)] = contact
        conversations = await inbox_service.do_get_or_open_conversations(
            session=session,
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            contact_ids=[contact.id for contact in contacts],
            now=now,
        )
        for contact_id, conversation in conversations.items():
            cache.conversations[(channel.id, contact_id)] = conversation
            locked.append(conversation.id)
    await outbox.do_lock_conversations(session=session, conversation_ids=locked)
    # After the lock: no send of these conversations commits between this read and ours.
    await cache.load_latest_outbound(session, locked)


def wamids_of(payload: wire.WebhookPayload) -> list[str]:
    """The wamids a webhook's messages, the messages they quote, and its statuses name, in
    order."""
    wamids: list[str] = []
    for entry in payload.entry:
        for change in entry.changes:
            value = change.value
            if isinstance(value, wire.MessagesValue):
                for message in value.messages or ():
                    wamids.append(message.id)
                    if message.context is not None and message.context.id:
                        wamids.append(message.context.id)
                wamids.extend(status.id for status in value.statuses or ())
    return wamids


async def apply_webhook_body(
    *,
    session: AsyncSession,
    runtime: Runtime,
    body: bytes,
    now: datetime,
    cache: ApplyCache | None = None,
) -> EventOutcome:
    """Apply one logged webhook body in the caller's transaction (no commit).

    ``cache``: shared by the events applied in the same transaction (a fresh one if None).
    """
    try:
        payload = wire.parse_webhook(body)
    except wire.WebhookParseError as error:
        outcome = EventOutcome()
        outcome.parse_error = str(error)[:1000]
        outcome.unknown.append({"problem": outcome.parse_error})
        return outcome
    cache = cache or ApplyCache()
    await cache.load_messages(session, wamids_of(payload))
    await prepare_senders(session, cache, [payload], now=now)
    return await apply_webhook_payload(
        session=session, runtime=runtime, payload=payload, now=now, cache=cache
    )


async def apply_webhook_payload(
    *,
    session: AsyncSession,
    runtime: Runtime,
    payload: wire.WebhookPayload,
    now: datetime,
    cache: ApplyCache,
) -> EventOutcome:
    """Apply one parsed webhook in the caller's transaction (no commit)."""
    outcome = EventOutcome()
    for entry in payload.entry:
        for change in entry.changes:
            value = change.value
            if isinstance(value, wire.MessagesValue):
                await _apply_messages_value(
                    session=session, runtime=runtime, value=value, now=now, outcome=outcome,
                    cache=cache,
                )  # fmt: skip
            elif isinstance(value, wire.PhoneNumberQualityUpdateValue):
                await _apply_quality_update(
                    session=session, waba_id=entry.id, value=value, now=now, outcome=outcome
                )
            elif isinstance(value, templates_service.TemplateWebhookValue):
                # Applied to the templates Ovillo knows; any other stays recorded as before.
                matched = await templates_service.do_apply_template_webhook(
                    session=session, waba_id=entry.id, value=value, now=now
                )
                if matched:
                    outcome.counts["template_updates"] += matched
                else:
                    outcome.noop_fields.append(change.field)
                outcome.applied_any = True
            elif isinstance(value, wire.UserPreferencesValue):
                await _apply_user_preferences(
                    session=session, value=value, now=now, outcome=outcome, cache=cache
                )
            elif isinstance(value, wire.UnknownChangeValue):
                unknown: dict[str, Any] = {"field": change.field}
                if value.parse_problem is not None:
                    unknown["problem"] = value.parse_problem[:500]
                outcome.unknown.append(unknown)
            else:
                outcome.noop_fields.append(change.field)
                outcome.applied_any = True
    return outcome


async def _apply_quality_update(
    *,
    session: AsyncSession,
    waba_id: str,
    value: wire.PhoneNumberQualityUpdateValue,
    now: datetime,
    outcome: EventOutcome,
) -> None:
    digits = "".join(ch for ch in value.display_phone_number if ch.isdigit())
    channels = await channels_service.get_channels_by_waba_id(session=session, waba_id=waba_id)
    matching = [
        c
        for c in channels
        if "".join(ch for ch in c.display_phone_number if ch.isdigit()) == digits
    ]
    for channel in matching:
        await channels_service.do_apply_quality_update(
            session=session, channel=channel, value=value, now=now
        )
    outcome.counts["quality_updates"] += len(matching)
    outcome.applied_any = True


async def _apply_messages_value(
    *,
    session: AsyncSession,
    runtime: Runtime,
    value: wire.MessagesValue,
    now: datetime,
    outcome: EventOutcome,
    cache: ApplyCache,
) -> None:
    outcome.applied_any = True
    channel = await cache.channel(session, value.metadata.phone_number_id)
    if channel is None:
        # Signed by our app for a number no workspace has (any more): nothing to apply to.
        outcome.counts["unknown_number"] += 1
        return
    for message in value.messages or ():
        await _apply_inbound(
            session=session, channel=channel, value=value, message=message, now=now,
            outcome=outcome, cache=cache,
        )  # fmt: skip
    for status in value.statuses or ():
        await _apply_status(
            session=session, channel=channel, status=status, now=now, outcome=outcome,
            cache=cache,
        )  # fmt: skip
    for error in value.errors or ():
        outcome.errors.append(error.to_wire())


async def _apply_inbound(
    *,
    session: AsyncSession,
    channel: Channel,
    value: wire.MessagesValue,
    message: wire.InboundMessageBase,
    now: datetime,
    outcome: EventOutcome,
    cache: ApplyCache,
) -> None:
    if await cache.message(session, message.id) is not None:
        outcome.counts["duplicate_messages"] += 1
        return
    user = sender_of(value, message)
    contact = cache.contacts.get((channel.workspace_id, user))
    if contact is None:
        contact = await contacts_service.do_upsert_from_whatsapp(
            session=session,
            workspace_id=channel.workspace_id,
            wa_id=user.wa_id,
            user_id=user.user_id,
            profile_name=user.profile_name,
            username=user.username,
            now=now,
        )
    conversation = cache.conversations.get((channel.id, contact.id))
    if conversation is None:
        conversation = await inbox_service.do_get_or_open_conversation(
            session=session,
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            contact_id=contact.id,
            now=now,
        )
    occurred_at = occurred_at_of(message, now=now)
    text = text_of(message)
    campaign_id = await _campaign_answered(
        session, cache, conversation=conversation, contact=contact, message=message,
        received_at=occurred_at,
    )  # fmt: skip
    row = Message(
        id=ids.new_id(now),
        workspace_id=channel.workspace_id,
        conversation_id=conversation.id,
        channel_id=channel.id,
        contact_id=contact.id,
        direction=Direction.INBOUND,
        type=message.type[:32],
        text=text,
        content=message.to_wire(),
        author_type=AuthorType.CONTACT,
        author_id=str(contact.id),
        reply_to_wamid=message.context.id if message.context is not None else None,
        wamid=message.id,
        status=MessageStatus.RECEIVED,
        created_at=now,
        occurred_at=occurred_at,
        campaign_id=campaign_id,
    )
    media = media_of(message)
    if media is not None:
        filename = media.filename if isinstance(media, wire.InboundDocument) else None
        media_file = MediaFile(
            workspace_id=channel.workspace_id,
            channel_id=channel.id,
            meta_media_id=media.id,
            mime_type=(media.mime_type or "application/octet-stream")[:128],
            # Kept as announced (base64 in webhooks) until the download replaces it with
            # the hex digest of the bytes actually stored.
            sha256=None,
            filename=filename[:300] if filename else None,
            state="pending",
            attempts=0,
            created_at=now,
        )
        session.add(media_file)
        await session.flush()
        row.media_id = media_file.id
        outcome.counts["media"] += 1
    session.add(row)
    cache.messages[message.id] = row
    # The customer's first message in this conversation: none before, or only the window
    # a business-initiated one inherited from the closed one before it.
    first_inbound = (
        conversation.last_inbound_at is None
        or conversation.last_inbound_at < conversation.created_at
    )
    _refresh_conversation(conversation, message=message, text=text, occurred_at=occurred_at)
    if (
        first_inbound
        and channel.round_robin_team_id is not None
        and conversation.assignee_id is None
        and conversation.team_id is None
    ):
        await routing.do_route_new_conversation(
            session=session, conversation=conversation, team_id=channel.round_robin_team_id,
            now=now,
        )  # fmt: skip
    if message.referral is not None:
        await _record_referral(
            session=session,
            conversation=conversation,
            referral=message.referral,
            occurred_at=occurred_at,
            now=now,
        )
        outcome.counts["referrals"] += 1
    if isinstance(message, wire.SystemMessage):
        outcome.counts["identity_changes"] += int(
            await _apply_identity_change(session=session, contact=contact, message=message, now=now)
        )
    if contact.not_on_whatsapp_at is not None:
        # They wrote: whatever made a send fail with 131026 is over.
        await contacts_service.do_set_on_whatsapp(session=session, contact=contact, now=now)
    if isinstance(message, wire.TextMessage):
        await _apply_opt_out_reply(
            session=session, contact=contact, conversation=conversation, text=text, now=now,
            outcome=outcome, cache=cache,
        )  # fmt: skip
    # No flush: the batch's rows go in together (one INSERT for many) at its next query or
    # its commit; ``cache.messages`` already answers for this wamid, and the id is ours.
    live.message_created(session, message=row, conversation=conversation)
    outcome.counts["messages"] += 1


def _outgoing(message: Message) -> attribution.Outgoing:
    return attribution.Outgoing(
        author_type=message.author_type,
        author_id=message.author_id,
        status=message.status,
        left_at=message.sent_at or message.accepted_at,
    )


async def _campaign_answered(
    session: AsyncSession,
    cache: ApplyCache,
    *,
    conversation: Conversation,
    contact: Contact,
    message: wire.InboundMessageBase,
    received_at: datetime,
) -> uuid.UUID | None:
    """The campaign the customer's ``message`` answers (``rules.attribution``), if any."""
    quoted: attribution.Outgoing | None = None
    if message.context is not None and message.context.id:
        found = await cache.message(session, message.context.id)
        # Only one of ours to this same customer counts as a quote (a forwarded message
        # names no message of ours).
        if (
            found is not None
            and found.direction == Direction.OUTBOUND
            and found.contact_id == contact.id
        ):
            quoted = _outgoing(found)
    latest: attribution.Outgoing | None = None
    if quoted is None:
        await cache.load_latest_outbound(session, [conversation.id])
        last = cache.latest_outbound[conversation.id]
        latest = _outgoing(last) if last is not None else None
    return attribution.attributed_campaign(quoted=quoted, latest=latest, received_at=received_at)


async def _apply_opt_out_reply(
    *,
    session: AsyncSession,
    contact: Contact,
    conversation: Conversation,
    text: str | None,
    now: datetime,
    outcome: EventOutcome,
    cache: ApplyCache,
) -> None:
    """Opt the contact out of marketing when their whole reply is one of the workspace's
    opt-out words, with a line in the conversation saying so."""
    if not text or len(text) > opt_out.MAX_REPLY_LENGTH:
        return  # a sentence, not a word: no need to read the workspace's words
    words = cache.opt_out_words.get(contact.workspace_id)
    if words is None:
        words = await accounts_service.get_opt_out_words(
            session=session, workspace_id=contact.workspace_id
        )
        cache.opt_out_words[contact.workspace_id] = words
    word = opt_out.matched_opt_out_word(text, words)
    if word is None or contacts_service.is_opted_out(contact, "marketing"):
        return
    await contacts_service.do_set_opt_out(
        session=session, contact=contact, category="marketing", opted_out=True, now=now
    )
    session.add(
        ConversationEvent(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            kind="opted_out",
            actor_type=AuthorType.CONTACT,
            actor_id=str(contact.id),
            data={"category": "marketing", "word": word},
            created_at=now,
        )
    )
    outcome.counts["opt_outs"] += 1
    log.info("contact_opted_out", contact_id=str(contact.id), category="marketing", by="reply")


async def _apply_user_preferences(
    *,
    session: AsyncSession,
    value: wire.UserPreferencesValue,
    now: datetime,
    outcome: EventOutcome,
    cache: ApplyCache,
) -> None:
    """Meta's ``user_preferences``: the user tapped "Stop promotions" (or resumed them)."""
    outcome.applied_any = True
    channel = (
        await cache.channel(session, value.metadata.phone_number_id)
        if value.metadata is not None
        else None
    )
    if channel is None:
        outcome.counts["unknown_number"] += 1
        return
    for preference in value.user_preferences:
        if preference.category != "marketing_messages" or preference.value not in (
            "stop",
            "resume",
        ):
            outcome.noop_fields.append(f"user_preferences:{preference.category}")
            continue
        if not preference.wa_id and not preference.user_id:
            continue
        contact = await contacts_service.do_upsert_from_whatsapp(
            session=session,
            workspace_id=channel.workspace_id,
            wa_id=preference.wa_id,
            user_id=preference.user_id,
            now=now,
        )
        await contacts_service.do_set_opt_out(
            session=session,
            contact=contact,
            category="marketing",
            opted_out=preference.value == "stop",
            now=now,
        )
        outcome.counts["marketing_preferences"] += 1


async def _apply_identity_change(
    *, session: AsyncSession, contact: Contact, message: wire.SystemMessage, now: datetime
) -> bool:
    """Move the contact to the new number or BSUID a system message announces."""
    system = message.system
    if system.type == "user_changed_number":
        return await contacts_service.do_change_identity(
            session=session,
            contact=contact,
            wa_id=system.wa_id or system.new_wa_id,
            user_id=system.user_id,
            now=now,
        )
    if system.type == "user_changed_user_id":
        return await contacts_service.do_change_identity(
            session=session, contact=contact, user_id=system.user_id, now=now
        )
    return False


def _refresh_conversation(
    conversation: Conversation,
    *,
    message: wire.InboundMessageBase,
    text: str | None,
    occurred_at: datetime,
) -> None:
    fresh = (
        conversation.last_inbound_at is None
        and conversation.last_message_preview is None
        and conversation.unread_count == 0
    )
    if fresh:
        # Just opened for this message: its activity is the message's, not the apply time's.
        conversation.last_activity_at = occurred_at
    if occurred_at >= conversation.last_activity_at:
        conversation.last_activity_at = occurred_at
        conversation.last_message_preview = preview_of(message, text)
    if opens_window(message) and (
        conversation.last_inbound_at is None or occurred_at > conversation.last_inbound_at
    ):
        conversation.last_inbound_at = occurred_at
        conversation.window_closes_at = occurred_at + window.CUSTOMER_SERVICE_WINDOW
    conversation.unread_count += 1


async def _record_referral(
    *,
    session: AsyncSession,
    conversation: Conversation,
    referral: wire.Referral,
    occurred_at: datetime,
    now: datetime,
) -> None:
    if conversation.referral_at is not None and occurred_at < conversation.referral_at:
        return  # an older ad than the one on record
    conversation.referral = referral.to_wire()
    conversation.referral_at = occurred_at
    # The business may have answered already (this webhook came late): that answer opens
    # the free entry point.
    replied_at = await session.scalar(
        select(Message.accepted_at)
        .where(
            Message.conversation_id == conversation.id,
            Message.direction == Direction.OUTBOUND,
            Message.accepted_at.is_not(None),
            Message.accepted_at >= occurred_at,
        )
        .order_by(Message.accepted_at)
        .limit(1)
    )
    if replied_at is not None:
        do_open_free_entry_point(conversation=conversation, replied_at=replied_at, now=now)


def do_open_free_entry_point(
    *, conversation: Conversation, replied_at: datetime, now: datetime
) -> datetime | None:
    """Open the 72-hour free entry point if ``replied_at`` answers the conversation's ad
    referral within 24 hours; the window's end, or None when this reply opens none.

    For the sender to call when Meta accepts a business message (the time it was
    accepted), and called here when a referral arrives after the reply. The earliest
    qualifying reply wins, whatever order they are reported in. Does not flush or commit.
    """
    opened = window.free_entry_point(
        referral_inbound_at=conversation.referral_at,
        first_business_reply_at=replied_at,
        now=now,
    )
    if opened is None or conversation.referral_at is None:
        return None
    current = conversation.free_entry_point_expires_at
    for_this_referral = (
        current is not None and current - window.FREE_ENTRY_POINT_WINDOW >= conversation.referral_at
    )
    if for_this_referral and current is not None and current <= opened.expires_at:
        return current
    conversation.free_entry_point_expires_at = opened.expires_at
    return opened.expires_at


# --- Statuses --------------------------------------------------------------------------------


def _delivery_state(message: Message) -> DeliveryState:
    error = None
    if message.error_code is not None or message.error_title or message.error_detail:
        error = StatusError(
            code=message.error_code, title=message.error_title, detail=message.error_detail
        )
    return DeliveryState(
        status=message.status,
        sent_at=message.sent_at,
        delivered_at=message.delivered_at,
        read_at=message.read_at,
        failed_at=message.failed_at,
        error=error,
    )


def apply_status_to_message(message: Message, status: wire.MessageStatus) -> bool:
    """Move an outbound message by a status webhook (pure on the row; no I/O).

    Returns False, changing nothing, for an inbound message. Pricing and the conversation
    origin are recorded from the first status that carries them.
    """
    if message.direction != Direction.OUTBOUND:
        return False
    before = _delivery_state(message)
    after = advance_status(before, status_update_of(status))
    if after != before:
        message.status = after.status
        message.sent_at = after.sent_at
        message.delivered_at = after.delivered_at
        message.read_at = after.read_at
        message.failed_at = after.failed_at
        if after.error is not None and after.error != before.error:
            message.error_code = after.error.code
            message.error_title = after.error.title[:300] if after.error.title else None
            message.error_detail = after.error.detail
    if status.pricing is not None and message.pricing is None:
        message.pricing = status.pricing.to_wire()
    origin = status.conversation.origin if status.conversation is not None else None
    if origin is not None and message.conversation_origin is None:
        message.conversation_origin = origin.type[:48]
    return True


async def _find_outbound_by_callback(
    *, session: AsyncSession, workspace_id: uuid.UUID, callback: str | None
) -> Message | None:
    if not callback:
        return None
    try:
        message_id = uuid.UUID(callback)
    except ValueError:
        return None  # someone else's callback data (an API client's own)
    return await session.scalar(
        select(Message).where(
            Message.workspace_id == workspace_id,
            Message.id == message_id,
            Message.direction == Direction.OUTBOUND,
        )
    )


async def _apply_status(
    *,
    session: AsyncSession,
    channel: Channel,
    status: wire.MessageStatus,
    now: datetime,
    outcome: EventOutcome,
    cache: ApplyCache,
) -> None:
    message = await cache.message(session, status.id)
    if message is not None and message.workspace_id != channel.workspace_id:
        message = None  # another workspace's message: not this status's
    reconciled = False
    if message is None:
        ours = await _find_outbound_by_callback(
            session=session,
            workspace_id=channel.workspace_id,
            callback=status.biz_opaque_callback_data,
        )
        if ours is not None:
            # The send reached Meta but its answer was lost: this status names its wamid.
            message = await outbox.do_reconcile_from_status(
                session=session, message_id=ours.id, wamid=status.id, now=now
            )
            reconciled = message is not None
            outcome.counts["reconciled"] += int(reconciled)
            if message is not None:
                cache.messages[status.id] = message
    if message is None:
        session.add(
            PendingStatus(
                workspace_id=channel.workspace_id,
                wamid=status.id,
                status=status.to_wire(),
                received_at=now,
            )
        )
        outcome.counts["pending_statuses"] += 1
        return
    was_failed = message.status == MessageStatus.FAILED
    if apply_status_to_message(message, status):
        outcome.counts["statuses"] += 1
        live.message_status(session, message=message)
        if (
            not was_failed
            and message.status == MessageStatus.FAILED
            and message.error_code == NOT_ON_WHATSAPP_ERROR
        ):
            await contacts_service.do_set_not_on_whatsapp(
                session=session,
                workspace_id=message.workspace_id,
                contact_id=message.contact_id,
                now=now,
            )
    else:
        outcome.counts["ignored_statuses"] += 1
    if reconciled:
        await do_apply_pending_statuses(session=session, wamid=status.id)


async def do_apply_pending_statuses(*, session: AsyncSession, wamid: str) -> int:
    """Apply the statuses that arrived before ``wamid`` was known, and forget them.

    For the sender to call in the transaction that stores a message's wamid; also run by
    each ingestion pass for wamids stored meanwhile. Returns how many were applied. Does
    not commit.
    """
    message = await session.scalar(select(Message).where(Message.wamid == wamid))
    if message is None:
        return 0
    rows = list(
        await session.scalars(
            select(PendingStatus)
            .where(PendingStatus.wamid == wamid, PendingStatus.workspace_id == message.workspace_id)
            .order_by(PendingStatus.id)
        )
    )
    for row in rows:
        try:
            status = wire.MessageStatus.model_validate(row.status)
        except ValueError:
            log.warning("pending_status_unreadable", pending_status_id=row.id, wamid=wamid)
            continue
        apply_status_to_message(message, status)
    if rows:
        await session.execute(
            delete(PendingStatus).where(PendingStatus.id.in_([r.id for r in rows]))
        )
    return len(rows)


async def _sweep_pending_statuses(runtime: Runtime, *, limit: int) -> int:
    """Apply pending statuses whose message got its wamid meanwhile (the sender and the
    ingestion crossed: each looked before the other committed)."""
    async with runtime.sessionmaker() as session:
        wamids = list(
            await session.scalars(
                select(PendingStatus.wamid)
                .join(Message, Message.wamid == PendingStatus.wamid)
                .distinct()
                .limit(limit)
            )
        )
    applied = 0
    for wamid in wamids:
        async with runtime.sessionmaker() as session:
            applied += await do_apply_pending_statuses(session=session, wamid=wamid)
            await session.commit()
    return applied


# --- The worker's entry points ---------------------------------------------------------------


def _lease_name(phone_number_id: str) -> str:
    return f"ingest:{phone_number_id}"


class _BatchFailed(Exception):
    """Applying a batch raised; ``index`` is the event that did, None if the commit did."""

    def __init__(self, index: int | None, error: Exception) -> None:
        super().__init__(f"event {index} of the batch failed: {error!r}")
        self.index = index
        self.error = error


def _parsed(body: bytes) -> wire.WebhookPayload | str:
    try:
        return wire.parse_webhook(body)
    except wire.WebhookParseError as error:
        return str(error)[:1000]


async def _apply_batch(
    runtime: Runtime,
    batch: Sequence[tuple[webhook_log.PendingEvent, wire.WebhookPayload | str]],
) -> int:
    """Apply ``batch`` (events of one number in log order, with their parsed bodies or why
    they do not parse) in one transaction; how many were ours to apply.

    One claim, one lookup of the messages their statuses and texts name, one UPDATE that
    marks them, one commit. Raises ``_BatchFailed`` having changed nothing if any event
    raised: the caller applies the ones before it again and the failing one on its own.
    """
    now = runtime.clock.now()
    async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
        claimed = await webhook_log.do_claim_events(
            session=session, events=[event for event, _ in batch]
        )
        cache = ApplyCache()
        payloads = [
            payload
            for event, payload in batch
            if event.id in claimed and not isinstance(payload, str)
        ]
        try:
            await cache.load_messages(
                session, (wamid for payload in payloads for wamid in wamids_of(payload))
            )
            await prepare_senders(session, cache, payloads, now=now)
        except Exception as error:
            # Blame the first event: it is applied alone, the rest then go on together.
            raise _BatchFailed(0, error) from error
        finished: list[webhook_log.FinishedEvent] = []
        for index, (event, payload) in enumerate(batch):
            if event.id not in claimed:
                continue  # another applier had it
            if isinstance(payload, str):
                outcome = EventOutcome(parse_error=payload, unknown=[{"problem": payload}])
            else:
                try:
                    outcome = await apply_webhook_payload(
                        session=session, runtime=runtime, payload=payload, now=now, cache=cache
                    )
                except Exception as error:
                    raise _BatchFailed(index, error) from error
            finished.append(
                webhook_log.FinishedEvent(
                    event_id=event.id,
                    state=outcome.state,
                    summary=outcome.summary(),
                    error=outcome.parse_error,
                )
            )
        try:
            await webhook_log.do_finish_events(session=session, finished=finished, now=now)
            await session.commit()
        except Exception as error:
            raise _BatchFailed(None, error) from error
    for each in finished:
        if each.state is WebhookEventState.UNKNOWN:
            log.info("webhook_event_unknown", event_id=each.event_id)
    return len(finished)


def next_batch_size(*, size: int, seconds: float, dialect: str) -> int:
    """How many events to apply in the next transaction, after ``size`` took ``seconds``:
    as many as fit in the dialect's ``BATCH_SECONDS`` at that pace (a status takes far less
    than a customer's first message), between the dialect's minimum (``MIN_BATCH``, or
    ``MIN_BATCH_BY_DIALECT``) and ``MAX_BATCH``."""
    budget = BATCH_SECONDS.get(dialect, BATCH_SECONDS["sqlite"])
    fitting = size * budget / max(seconds, 1e-4)
    return max(MIN_BATCH_BY_DIALECT.get(dialect, MIN_BATCH), min(MAX_BATCH, int(fitting)))


async def _read_and_parse(
    runtime: Runtime, events: Sequence[webhook_log.PendingEvent]
) -> list[tuple[webhook_log.PendingEvent, wire.WebhookPayload | str]]:
    """``events`` with their parsed bodies (or why they do not parse), read and parsed
    before the batch's transaction: on SQLite the receiver waits for its turn meanwhile.

    A batch's bodies only, never a whole pass's: Meta's bodies may reach megabytes."""
    async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
        bodies = await webhook_log.get_event_bodies(
            session=session, event_ids=[event.id for event in events]
        )
    parsed: list[tuple[webhook_log.PendingEvent, wire.WebhookPayload | str]] = []
    for index, event in enumerate(events):
        if index and index % PARSE_SLICE == 0:
            await asyncio.sleep(0)  # parsing is CPU only: let the loop serve requests
        parsed.append((event, _parsed(bodies.get(event.id, b""))))
    return parsed


async def _apply_event(runtime: Runtime, event: webhook_log.PendingEvent) -> bool:
    """Apply one event in its own transaction; False if another applier had it."""
    last_error: BaseException | None = None
    for _ in range(1 + IMMEDIATE_RETRIES):
        now = runtime.clock.now()
        try:
            async with (
                sqlite_write_gate(runtime.engine),
                runtime.sessionmaker() as session,
            ):
                body = await webhook_log.do_claim_event(session=session, event=event)
                if body is None:
                    return False
                outcome = await apply_webhook_body(
                    session=session, runtime=runtime, body=body, now=now
                )
                await webhook_log.do_finish_event(
                    session=session,
                    event_id=event.id,
                    state=outcome.state,
                    summary=outcome.summary(),
                    error=outcome.parse_error,
                    now=now,
                )
                await session.commit()
            if outcome.state is WebhookEventState.UNKNOWN:
                log.info("webhook_event_unknown", event_id=event.id)
            return True
        except IntegrityError as error:
            # A unique row written meanwhile by another number's applier: look again.
            last_error = error
        except Exception as error:
            # Whatever went wrong (a bug included), the event is kept with the error and
            # retried later; the worker goes on with the next one.
            last_error = error
            break
    assert last_error is not None
    await _record_failure(runtime, event, last_error)
    return True


async def _record_failure(
    runtime: Runtime, event: webhook_log.PendingEvent, error: BaseException
) -> None:
    attempts = event.attempts + 1
    delay = event_retry_delay(attempts)
    now = runtime.clock.now()
    description = f"{type(error).__name__}: {error}"
    async with runtime.sessionmaker() as session:
        await webhook_log.do_record_event_failure(
            session=session,
            event=event,
            error=description,
            next_attempt_at=None if delay is None else now + delay,
        )
        await session.commit()
    log.warning(
        "webhook_event_failed",
        event_id=event.id,
        attempts=attempts,
        gave_up=delay is None,
        error=description[:300],
    )


async def _apply_number_events(
    runtime: Runtime, *, phone_number_id: str, holder: str, limit: int
) -> int:
    ttl = runtime.settings.worker.lease_seconds
    lease = _lease_name(phone_number_id)
    async with runtime.sessionmaker() as session:
        if not await acquire_lease(
            session=session, name=lease, holder=holder, ttl_seconds=ttl, now=runtime.clock.now()
        ):
            return 0
    applied = 0
    renewed_at = time.monotonic()
    try:
        async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
            events = await webhook_log.list_due_events(
                session=session,
                phone_number_id=phone_number_id,
                now=runtime.clock.now(),
                limit=limit,
            )
        position, size = 0, FIRST_BATCH
        dialect = runtime.engine.dialect.name
        # An event that failed in a batch: applied alone when its turn comes.
        alone: int | None = None
        while position < len(events):
            if time.monotonic() - renewed_at > ttl / 3:
                async with runtime.sessionmaker() as session:
                    if not await acquire_lease(
                        session=session, name=lease, holder=holder, ttl_seconds=ttl,
                        now=runtime.clock.now(),
                    ):  # fmt: skip
                        break  # another worker took over; it continues in order
                renewed_at = time.monotonic()
            if alone == position:
                # In its own transaction: retried at once on a lost race, else recorded as
                # failed without holding back the events after it.
                applied += int(await _apply_event(runtime, events[position]))
                position += 1
                continue
            end = min(position + size, len(events))
            if alone is not None and alone > position:
                end = min(end, alone)
            batch = await _read_and_parse(runtime, events[position:end])
            started = time.monotonic()
            try:
                applied += await _apply_batch(runtime, batch)
            except _BatchFailed as failed:
                # Nothing of the batch was kept: apply the events before the failing one
                # together, then that one alone (or halve the batch, if the commit failed).
                if failed.index is None:
                    size = max(1, len(batch) // 2)
                else:
                    alone = position + failed.index
                log.info(
                    "webhook_batch_split",
                    events=len(batch),
                    failed_index=failed.index,
                    error=f"{type(failed.error).__name__}: {failed.error}"[:300],
                )
                continue
            size = next_batch_size(
                size=len(batch), seconds=time.monotonic() - started, dialect=dialect
            )
            position = end
    finally:
        async with runtime.sessionmaker() as session:
            await release_lease(session=session, name=lease, holder=holder)
    return applied


async def apply_pending_events(runtime: Runtime, *, holder: str, limit: int = 2000) -> int:
    """Apply up to ``limit`` logged webhook events; how much work was done (0: idle).

    Safe to call from several workers at once: each number's events are applied by one
    of them at a time, in log order. Also applies pending statuses whose wamid became
    known and downloads due media, so one loop calling this is the whole ingestion worker.
    """
    async with runtime.sessionmaker() as session:
        numbers = await webhook_log.list_numbers_with_due_events(
            session=session, now=runtime.clock.now()
        )
    done = 0
    for phone_number_id in numbers:
        if done >= limit:
            break
        with structlog.contextvars.bound_contextvars(phone_number_id=phone_number_id):
            done += await _apply_number_events(
                runtime, phone_number_id=phone_number_id, holder=holder, limit=limit - done
            )
    done += await _sweep_pending_statuses(runtime, limit=limit)
    done += await download_pending_media(runtime, limit=max(1, min(limit, 20)))
    return done


# --- Media -----------------------------------------------------------------------------------


async def _claim_media(runtime: Runtime, *, limit: int) -> list[MediaFile]:
    now = runtime.clock.now()
    due = or_(MediaFile.next_attempt_at.is_(None), MediaFile.next_attempt_at <= now)
    async with runtime.sessionmaker() as session:
        candidates = list(
            await session.scalars(
                select(MediaFile)
                .where(MediaFile.state == "pending", MediaFile.meta_media_id.is_not(None), due)
                .order_by(MediaFile.created_at)
                .limit(limit)
            )
        )
        claimed: list[MediaFile] = []
        for media in candidates:
            result = await session.execute(
                update(MediaFile)
                .where(
                    MediaFile.id == media.id,
                    MediaFile.state == "pending",
                    MediaFile.attempts == media.attempts,
                    due,
                )
                .values(next_attempt_at=now + timedelta(seconds=MEDIA_CLAIM_SECONDS))
                .returning(MediaFile.id)
            )
            if result.scalar_one_or_none() is not None:
                claimed.append(media)
        await session.commit()
    return claimed


async def _download_one(runtime: Runtime, media: MediaFile) -> None:
    assert media.meta_media_id is not None
    error: str | None = None
    stored: dict[str, Any] = {}
    async with runtime.sessionmaker() as session:
        channel = (
            await channels_service.get_channel(
                session=session, workspace_id=media.workspace_id, channel_id=media.channel_id
            )
            if media.channel_id is not None
            else None
        )
    try:
        if channel is None:
            raise LookupError("the number this media came to is gone")
        client = channels_service.cloud_api_client(runtime, channel)
        info = await client.get_media(media.meta_media_id, phone_number_id=channel.phone_number_id)
        data = await client.download_media(info.url)
        if not media_hash_matches(data, info.sha256):
            raise ValueError("the downloaded bytes do not have the SHA-256 Meta announced")
        key = new_storage_key(
            prefix=str(media.workspace_id), extension=extension_for(info.mime_type, media.filename)
        )
        await storage_for(runtime.settings).put(key, data)
        stored = {
            "state": "stored",
            "storage_key": key,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "mime_type": info.mime_type[:128],
            "error": None,
            "next_attempt_at": None,
        }
    except (
        CloudAPIError,
        CloudAPITransportError,
        OvilloError,
        StorageKeyError,
        LookupError,
        ValueError,
        OSError,
    ) as failure:
        error = f"{type(failure).__name__}: {failure}"[:2000]
    attempts = media.attempts + 1
    if error is None:
        values: dict[str, Any] = {**stored, "attempts": attempts}
        log.info("media_stored", media_id=str(media.id), size=stored["size"])
    else:
        delay = media_retry_delay(attempts)
        values = {
            "attempts": attempts,
            "error": error,
            "state": "pending" if delay is not None else "failed",
            "next_attempt_at": runtime.clock.now() + delay if delay is not None else None,
        }
        log.warning(
            "media_download_failed",
            media_id=str(media.id),
            attempts=attempts,
            gave_up=delay is None,
            error=error[:300],
        )
    async with runtime.sessionmaker() as session:
        await session.execute(
            update(MediaFile)
            .where(MediaFile.id == media.id, MediaFile.attempts == media.attempts)
            .values(**values)
        )
        await session.commit()


async def download_pending_media(runtime: Runtime, *, limit: int = 20) -> int:
    """Download up to ``limit`` due inbound media files into storage; how many were tried.

    Each file is claimed first (its next attempt pushed ``MEDIA_CLAIM_SECONDS`` ahead), so
    workers running this at once download different files, and a worker that dies
    mid-download leaves the file to be tried again later.
    """
    claimed = await _claim_media(runtime, limit=limit)
    for media in claimed:
        with structlog.contextvars.bound_contextvars(media_id=str(media.id)):
            await _download_one(runtime, media)
    return len(claimed)
