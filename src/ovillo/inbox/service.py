"""Use cases of the inbox: conversations and what happens in them.

Functions take the session first and keyword-only arguments; ``check_*`` validate then act,
``do_*`` only act (no commit: the caller's transaction), ``get_*`` return None when absent,
``get_*_or_raise`` raise the domain's not-found error. Every query is scoped by
``workspace_id``: an id from another workspace is simply not found.

Lists page by opaque cursors: conversations by (last activity, id), newest activity first;
a conversation's messages by their sequence number, either way. A list whose rows move
while it is read (a conversation with new activity jumps to the top) may show a row twice
or miss it on a later page; read again from the first page to catch up.

Lists join the contact, number, user and team rows of other domains read-only, to show
them in one query; every change to those goes through their own service.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

import structlog
from pydantic import ValidationError
from sqlalchemy import (
    case,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from ovillo.accounts.models import Team, User
from ovillo.channels import service as channels_service
from ovillo.channels.models import Channel
from ovillo.cloudapi.errors import CloudAPIError, CloudAPITransportError
from ovillo.cloudapi.media import MEDIA_LIMITS, MediaKind, media_kind_for_mime
from ovillo.cloudapi.messages import parse_outbound_message
from ovillo.contacts import service as contacts_service
from ovillo.contacts.models import Contact
from ovillo.core import idempotency, ids, paging
from ovillo.core.db import insert_for
from ovillo.core.runtime import Runtime
from ovillo.core.storage import (
    StorageKeyError,
    StoredFileMissingError,
    extension_for,
    new_storage_key,
    storage_for,
)
from ovillo.inbox import live, outbox
from ovillo.inbox.errors import (
    ConversationAlreadyOpenError,
    ConversationNotFoundError,
    InvalidAssigneeError,
    InvalidCursorError,
    InvalidMessageContentError,
    InvalidRecipientError,
    InvalidReplyToError,
    MediaNotFoundError,
    MediaNotStoredError,
    MediaRefusedError,
    MediaTooLargeError,
    MediaUploadUnreachableError,
    MessageNotFoundError,
    UnsupportedMediaError,
)
from ovillo.inbox.models import (
    AuthorType,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    MediaFile,
    Message,
    Note,
)
from ovillo.inbox.schemas import MessageQueuedOut, MessageSend
from ovillo.rules import window as window_rules
from ovillo.templates import service as templates_service

log = structlog.get_logger(__name__)

MAX_PAGE_SIZE: Final = 200
DEFAULT_PAGE_SIZE: Final = 50
MAX_EVENTS: Final = 1000
# Ids per ``IN (...)`` and rows per INSERT: far below SQLite's and asyncpg's parameter limits.
LOOKUP_CHUNK: Final = 500

OUTSIDE_WINDOW_WARNING: Final = "outside_customer_service_window"
MEDIA_TYPES: Final = frozenset({"image", "video", "audio", "document", "sticker"})

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who does something to a conversation: an API key, a user, a flow..."""

    type: AuthorType | str
    id: str | None = None

    @classmethod
    def api_key(cls, api_key_id: uuid.UUID) -> Actor:
        return cls(type=AuthorType.API, id=str(api_key_id))


# --- Cursors -----------------------------------------------------------------------------


# The inbox's cursors (lists here, search in ``inbox.search``): `core.paging`'s, refused
# with the inbox's own error.
def _encode(raw: str) -> str:
    return paging.encode_cursor(raw)


def _decode(cursor: str, *, prefix: str) -> str:
    position = paging.decode_cursor(cursor, prefix=prefix)
    if position is None:
        raise InvalidCursorError(
            "the cursor is not valid: pass `next_cursor` from the previous page as it came"
        )
    return position


_CONVERSATION_CURSOR: Final = "cv1|"
_MESSAGE_CURSOR: Final = "ms1|"


def encode_conversation_cursor(last_activity_at: datetime, conversation_id: uuid.UUID) -> str:
    """A cursor resuming the conversation list after this (last_activity_at, id)."""
    return _encode(f"{_CONVERSATION_CURSOR}{last_activity_at.isoformat()}|{conversation_id.hex}")


def decode_conversation_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    body = _decode(cursor, prefix=_CONVERSATION_CURSOR)
    try:
        moment_text, id_text = body.split("|")
        moment = datetime.fromisoformat(moment_text)
        if moment.tzinfo is None:
            raise ValueError(moment_text)
        return moment, uuid.UUID(hex=id_text)
    except ValueError:
        raise InvalidCursorError(
            "the cursor is not valid: pass `next_cursor` from the previous page as it came"
        ) from None


def encode_message_cursor(seq: int, order: Order) -> str:
    """A cursor resuming a conversation's messages after ``seq`` in ``order``."""
    return _encode(f"{_MESSAGE_CURSOR}{order}|{seq}")


def decode_message_cursor(cursor: str) -> tuple[int, Order]:
    body = _decode(cursor, prefix=_MESSAGE_CURSOR)
    order, _, seq_text = body.partition("|")
    if order not in ("asc", "desc") or not seq_text.isdigit():
        raise InvalidCursorError(
            "the cursor is not valid: pass `next_cursor` from the previous page as it came"
        )
    return int(seq_text), "asc" if order == "asc" else "desc"


# --- Conversations: finding and opening --------------------------------------------------


async def _current_conversations(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    contact_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, Conversation]:
    found: dict[uuid.UUID, Conversation] = {}
    for start in range(0, len(contact_ids), LOOKUP_CHUNK):
        for conversation in await session.scalars(
            select(Conversation).where(
                Conversation.workspace_id == workspace_id,
                Conversation.channel_id == channel_id,
                Conversation.contact_id.in_(contact_ids[start : start + LOOKUP_CHUNK]),
                Conversation.status != ConversationStatus.CLOSED,
            )
        ):
            found[conversation.contact_id] = conversation
    return found


async def do_get_or_open_conversations(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    contact_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, Conversation]:
    """The current (not closed) conversation of each contact on the channel, by contact id;
    a new open one for those who have none.

    For ingestion (no window inherited: the inbound message sets it). A batch costs one
    lookup, and for contacts without a current conversation one ``INSERT ... ON CONFLICT
    DO NOTHING`` and a second lookup: the unique index of current conversations turns a
    concurrent opening into a skipped row, and the lookup reads the winner's. Does not
    commit.
    """
    wanted = list(dict.fromkeys(contact_ids))
    if not wanted:
        return {}
    found = await _current_conversations(
        session, workspace_id=workspace_id, channel_id=channel_id, contact_ids=wanted
    )
    missing = [contact_id for contact_id in wanted if contact_id not in found]
    if missing:
        rows = [
            {
                "id": ids.new_id(now),
                "workspace_id": workspace_id,
                "channel_id": channel_id,
                "contact_id": contact_id,
                "status": ConversationStatus.OPEN.value,
                "unread_count": 0,
                "last_activity_at": now,
                "created_at": now,
            }
            for contact_id in missing
        ]
        statement = insert_for(session)(Conversation.__table__).on_conflict_do_nothing()
        for start in range(0, len(rows), LOOKUP_CHUNK):
            await session.execute(statement, rows[start : start + LOOKUP_CHUNK])
        found.update(
            await _current_conversations(
                session, workspace_id=workspace_id, channel_id=channel_id, contact_ids=missing
            )
        )
        if len(found) < len(wanted):
            # Closed by another transaction between its insert and our lookup: try again.
            raise LookupError("a conversation was neither opened nor found")
    return found


async def do_get_or_open_conversation(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    contact_id: uuid.UUID,
    inherit_window: bool = False,
    now: datetime,
) -> Conversation:
    """The contact's current (not closed) conversation on the channel, or a new open one.

    With ``inherit_window``, a new conversation takes the window facts of the contact's
    previous one on the channel (last inbound time, window end, ad referral and free entry
    point): the customer-service window belongs to the customer and the number, not to our
    threads, so a business message after a close must not look outside it (the send
    pipeline reads the window from the message's conversation). Ingestion opens without
    it: the inbound message it applies sets the window itself.

    Race-safe: one current conversation per contact and number is a unique index, so of two
    transactions opening one at once the second's insert fails (in a savepoint) and it
    reads the first's. Does not commit.
    """
    thread = (
        Conversation.workspace_id == workspace_id,
        Conversation.channel_id == channel_id,
        Conversation.contact_id == contact_id,
    )
    current_query = select(Conversation).where(
        *thread, Conversation.status != ConversationStatus.CLOSED
    )
    current = await session.scalar(current_query)
    if current is not None:
        return current
    previous = (
        await session.scalar(
            select(Conversation)
            .where(*thread, Conversation.last_inbound_at.is_not(None))
            .order_by(Conversation.last_inbound_at.desc())
            .limit(1)
        )
        if inherit_window
        else None
    )
    conversation = Conversation(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        channel_id=channel_id,
        contact_id=contact_id,
        status=ConversationStatus.OPEN,
        last_activity_at=now,
        created_at=now,
    )
    if previous is not None:
        conversation.last_inbound_at = previous.last_inbound_at
        conversation.window_closes_at = previous.window_closes_at
        conversation.referral = previous.referral
        conversation.referral_at = previous.referral_at
        conversation.free_entry_point_expires_at = previous.free_entry_point_expires_at
    await session.flush()  # the caller's pending changes, outside the savepoint below
    try:
        async with session.begin_nested():
            session.add(conversation)
    except IntegrityError:
        # Opened meanwhile by another transaction (committed: PostgreSQL made our insert
        # wait for it): that one is the contact's current conversation.
        current = await session.scalar(current_query)
        if current is None:
            raise
        return current
    return conversation


async def get_conversation(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    for_update: bool = False,
) -> Conversation | None:
    query = select(Conversation).where(
        Conversation.workspace_id == workspace_id, Conversation.id == conversation_id
    )
    if for_update:
        # PostgreSQL: concurrent assign/close/reopen of one conversation take turns. SQLite
        # has no row locks and needs none: its one writer at a time already serialises them.
        # NO KEY UPDATE, as every conversation lock (``outbox.do_lock_conversations``).
        query = query.with_for_update(key_share=True)
    return await session.scalar(query)


async def get_conversation_or_raise(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    for_update: bool = False,
) -> Conversation:
    conversation = await get_conversation(
        session=session,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        for_update=for_update,
    )
    if conversation is None:
        raise ConversationNotFoundError(
            f"conversation {conversation_id} does not exist in this workspace; list them with "
            "GET /api/v1/conversations"
        )
    return conversation


# --- Conversations: reading --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationView:
    """A conversation with what the inbox shows beside it."""

    conversation: Conversation
    contact: Contact
    channel: Channel
    assignee: User | None
    team: Team | None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    items: list[ConversationView]
    next_cursor: str | None


AssigneeFilter = uuid.UUID | Literal["none"]


def assignee_filter(value: str) -> AssigneeFilter:
    """``"none"`` (unassigned) or a user id, from the ``assignee`` query parameter."""
    if value.strip().lower() == "none":
        return "none"
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise InvalidAssigneeError(
            f"assignee: {value!r} is neither a user id nor `none` (unassigned)",
            field="assignee",
            value=value,
        ) from None


def last_inbound_at_of(*, contact_id: Any) -> Any:
    """When the contact last wrote, on any number (None if never): a correlated scalar
    subquery for other domains' filters, ``contact_id`` a column.

    By contact alone: a contact's conversations are its workspace's, and the seek is one
    probe of ``ix_conversation_contact_inbound`` per contact."""
    return (
        select(func.max(Conversation.last_inbound_at))
        .where(Conversation.contact_id == contact_id)
        .scalar_subquery()
    )


def _views_query(workspace_id: uuid.UUID) -> Any:
    return (
        select(Conversation, Contact, Channel, User, Team)
        .join(Contact, Contact.id == Conversation.contact_id)
        .join(Channel, Channel.id == Conversation.channel_id)
        .outerjoin(User, User.id == Conversation.assignee_id)
        .outerjoin(Team, Team.id == Conversation.team_id)
        .where(Conversation.workspace_id == workspace_id)
    )


async def list_conversations(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    now: datetime,
    status: ConversationStatus | None = None,
    channel_id: uuid.UUID | None = None,
    assignee: AssigneeFilter | None = None,
    contact_id: uuid.UUID | None = None,
    tag: str | None = None,
    window: Literal["open", "closed"] | None = None,
    team_id: uuid.UUID | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> ConversationPage:
    """One page of the workspace's conversations, latest activity first.

    ``assignee`` is a user id or ``"none"`` for unassigned ones; ``team_id`` one team's;
    ``tag`` is one of the contact's tags; ``window`` keeps those whose 24-hour
    customer-service window is open (or closed) at ``now``.
    """
    page_size = max(1, min(limit, MAX_PAGE_SIZE))
    query = _views_query(workspace_id)
    if status is not None:
        query = query.where(Conversation.status == status)
    if channel_id is not None:
        query = query.where(Conversation.channel_id == channel_id)
    if assignee == "none":
        query = query.where(Conversation.assignee_id.is_(None))
    elif assignee is not None:
        query = query.where(Conversation.assignee_id == assignee)
    if contact_id is not None:
        query = query.where(Conversation.contact_id == contact_id)
    if team_id is not None:
        query = query.where(Conversation.team_id == team_id)
    if tag is not None and tag.strip():
        query = query.where(contacts_service.has_tag(session.get_bind().dialect.name, tag.strip()))
    if window is not None:
        # Open at `now` exactly when now < last_inbound_at + 24 h (rules.window).
        opened_after = now - window_rules.CUSTOMER_SERVICE_WINDOW
        is_open = Conversation.last_inbound_at > opened_after
        if window == "open":
            query = query.where(is_open)
        else:
            query = query.where(or_(Conversation.last_inbound_at.is_(None), ~is_open))
    if cursor:
        after_at, after_id = decode_conversation_cursor(cursor)
        # One row-value comparison: both databases read it as a range of the list indexes
        # (an OR of the two cases made SQLite sort the whole view).
        query = query.where(
            tuple_(Conversation.last_activity_at, Conversation.id) < (after_at, after_id)
        )
    query = query.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    rows = (await session.execute(query.limit(page_size + 1))).all()
    items = [ConversationView(*row) for row in rows[:page_size]]
    next_cursor = None
    if len(rows) > page_size:
        last = items[-1].conversation
        next_cursor = encode_conversation_cursor(last.last_activity_at, last.id)
    return ConversationPage(items=items, next_cursor=next_cursor)


async def get_conversation_view_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationView:
    row = (
        await session.execute(_views_query(workspace_id).where(Conversation.id == conversation_id))
    ).first()
    if row is None:
        raise ConversationNotFoundError(
            f"conversation {conversation_id} does not exist in this workspace; list them with "
            "GET /api/v1/conversations"
        )
    return ConversationView(*row)


# --- Conversations: changing -------------------------------------------------------------


def _audit(
    session: AsyncSession,
    conversation: Conversation,
    *,
    kind: str,
    actor: Actor,
    data: Mapping[str, Any],
    now: datetime,
) -> None:
    session.add(
        ConversationEvent(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            kind=kind,
            actor_type=str(actor.type),
            actor_id=actor.id,
            data=dict(data),
            created_at=now,
        )
    )


def _id_text(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


_UNCHANGED: Any = object()


async def assign_conversation(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    user_id: uuid.UUID | None,
    team_id: uuid.UUID | None = _UNCHANGED,
    actor: Actor,
    now: datetime,
) -> ConversationView:
    """Give the conversation to an agent (or to nobody: ``user_id=None``) and a team.

    ``team_id`` left out keeps the team. The user must be an active user of the workspace
    and the team one of its teams (422 ``invalid_assignee`` otherwise). A change is audited
    as ``assigned`` or ``unassigned``; assigning as it already is changes nothing.
    """
    conversation = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id,
        for_update=True,
    )  # fmt: skip
    if user_id is not None:
        user = await session.scalar(
            select(User).where(User.workspace_id == workspace_id, User.id == user_id)
        )
        if user is None or user.deactivated_at is not None:
            raise InvalidAssigneeError(
                f"user_id: {user_id} is not an active user of this workspace",
                field="user_id",
                value=str(user_id),
            )
    new_team = conversation.team_id if team_id is _UNCHANGED else team_id
    if new_team is not None and new_team != conversation.team_id:
        team = await session.scalar(
            select(Team).where(Team.workspace_id == workspace_id, Team.id == new_team)
        )
        if team is None:
            raise InvalidAssigneeError(
                f"team_id: {new_team} is not a team of this workspace",
                field="team_id",
                value=str(new_team),
            )
    if conversation.assignee_id != user_id or conversation.team_id != new_team:
        _audit(
            session,
            conversation,
            kind="assigned" if user_id is not None else "unassigned",
            actor=actor,
            data={
                "from_user_id": _id_text(conversation.assignee_id),
                "to_user_id": _id_text(user_id),
                "from_team_id": _id_text(conversation.team_id),
                "to_team_id": _id_text(new_team),
            },
            now=now,
        )
        conversation.assignee_id = user_id
        conversation.team_id = new_team
        live.conversation_updated(
            session,
            conversation=conversation,
            change="assigned" if user_id is not None else "unassigned",
        )
        await session.commit()
        log.info(
            "conversation_assigned",
            conversation_id=str(conversation.id),
            user_id=_id_text(user_id),
            team_id=_id_text(new_team),
        )
    return await get_conversation_view_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )


async def assign_team(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    team_id: uuid.UUID | None,
    actor: Actor,
    now: datetime,
) -> ConversationView:
    """Put the conversation in a team (or in none), keeping its assignee; as
    ``assign_conversation`` otherwise (422 ``invalid_assignee`` for a team not of the
    workspace)."""
    conversation = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id,
        for_update=True,
    )  # fmt: skip
    return await assign_conversation(
        session=session,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        user_id=conversation.assignee_id,
        team_id=team_id,
        actor=actor,
        now=now,
    )


async def do_wake_snoozed_conversations(*, session: AsyncSession, now: datetime) -> int:
    """Reopen the conversations whose snooze has run out; how many. No commit.

    For the worker's timers. The rows are locked first in id order (PostgreSQL), as every
    writer of many conversations does (``outbox.do_lock_conversations``), so this never
    deadlocks with an ingestion batch.
    """
    due = (
        Conversation.status == ConversationStatus.SNOOZED,
        Conversation.snoozed_until.is_not(None),
        Conversation.snoozed_until <= now,
    )
    query = select(Conversation.id).where(*due).order_by(Conversation.id)
    if session.get_bind().dialect.name == "postgresql":
        # A busy one wakes on the next run; NO KEY UPDATE as ``do_lock_conversations``.
        query = query.with_for_update(skip_locked=True, key_share=True)
    ids_due = list(await session.scalars(query))
    if not ids_due:
        return 0
    await session.execute(
        update(Conversation)
        .where(Conversation.id.in_(ids_due), *due)
        .values(status=ConversationStatus.OPEN, snoozed_until=None)
        .execution_options(synchronize_session=False)
    )
    for conversation_id in ids_due:
        log.info("conversation_unsnoozed", conversation_id=str(conversation_id))
    return len(ids_due)


async def mark_conversation_read(
    *, session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """An agent opened the conversation: its unread count (the workspace's, shared by the
    team) goes back to zero, and the open lists are told. Already read: nothing changes."""
    seen = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    if not seen.unread_count:
        return  # the usual case: no lock taken, nothing written
    conversation = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id,
        for_update=True,
    )  # fmt: skip
    if conversation.unread_count:
        conversation.unread_count = 0
        live.conversation_updated(session, conversation=conversation, change="read")
        await session.commit()


async def close_conversation(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    actor: Actor,
    now: datetime,
) -> ConversationView:
    """Close the conversation (audited as ``closed``); closing a closed one changes nothing.

    The customer writing again opens a new conversation.
    """
    conversation = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id,
        for_update=True,
    )  # fmt: skip
    if conversation.status != ConversationStatus.CLOSED:
        _audit(
            session,
            conversation,
            kind="closed",
            actor=actor,
            data={"from_status": conversation.status},
            now=now,
        )
        conversation.status = ConversationStatus.CLOSED
        conversation.closed_at = now
        conversation.snoozed_until = None
        live.conversation_updated(session, conversation=conversation, change="closed")
        await session.commit()
        log.info("conversation_closed", conversation_id=str(conversation.id))
    return await get_conversation_view_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )


async def reopen_conversation(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    actor: Actor,
    now: datetime,
) -> ConversationView:
    """Open a closed (or snoozed) conversation again (audited as ``reopened``).

    409 ``conversation_already_open`` when the contact has another conversation open on the
    same number (it wrote again after the close): continue in that one.
    """
    conversation = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id,
        for_update=True,
    )  # fmt: skip
    if conversation.status != ConversationStatus.OPEN:
        if conversation.status == ConversationStatus.CLOSED:
            other = await session.scalar(
                select(Conversation.id).where(
                    Conversation.workspace_id == workspace_id,
                    Conversation.channel_id == conversation.channel_id,
                    Conversation.contact_id == conversation.contact_id,
                    Conversation.status != ConversationStatus.CLOSED,
                    Conversation.id != conversation.id,
                )
            )
            if other is not None:
                raise ConversationAlreadyOpenError(
                    f"the contact's conversation {other} on this number is open; continue in "
                    "that one, or close it before reopening this one",
                    conversation_id=str(other),
                )
        _audit(
            session,
            conversation,
            kind="reopened",
            actor=actor,
            data={"from_status": conversation.status},
            now=now,
        )
        conversation.status = ConversationStatus.OPEN
        conversation.closed_at = None
        conversation.snoozed_until = None
        live.conversation_updated(session, conversation=conversation, change="reopened")
        await session.commit()
        log.info("conversation_reopened", conversation_id=str(conversation.id))
    return await get_conversation_view_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )


async def add_note(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: str,
    author_id: uuid.UUID | None = None,
    now: datetime,
) -> Note:
    """An internal note on the conversation, for the team: never sent to the customer."""
    conversation = await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    note = Note(
        workspace_id=workspace_id,
        conversation_id=conversation.id,
        author_id=author_id,
        body=body,
        created_at=now,
    )
    session.add(note)
    await session.flush()
    live.note_added(session, note=note)
    await session.commit()
    log.info("note_added", conversation_id=str(conversation.id), note_id=str(note.id))
    return note


async def list_notes(
    *, session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[Note]:
    """The conversation's notes, oldest first."""
    await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    result = await session.scalars(
        select(Note)
        .where(Note.workspace_id == workspace_id, Note.conversation_id == conversation_id)
        .order_by(Note.created_at, Note.id)
    )
    return list(result)


async def list_conversation_events(
    *, session: AsyncSession, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[ConversationEvent]:
    """The conversation's audit (assignments, closing, reopening), oldest first."""
    await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    result = await session.scalars(
        select(ConversationEvent)
        .where(
            ConversationEvent.workspace_id == workspace_id,
            ConversationEvent.conversation_id == conversation_id,
        )
        .order_by(ConversationEvent.id)
        .limit(MAX_EVENTS)
    )
    return list(result)


# --- Messages: reading -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessagePage:
    items: list[Message]
    next_cursor: str | None


async def list_messages(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    order: Order = "desc",
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
) -> MessagePage:
    """One page of the conversation's messages, both directions, in the order they came.

    ``desc``: newest first, each page older than the last; ``asc``: oldest first. A cursor
    carries its order, so it continues the way it started.
    """
    await get_conversation_or_raise(
        session=session, workspace_id=workspace_id, conversation_id=conversation_id
    )
    page_size = max(1, min(limit, MAX_PAGE_SIZE))
    query = select(Message).where(
        Message.workspace_id == workspace_id, Message.conversation_id == conversation_id
    )
    if cursor:
        after_seq, order = decode_message_cursor(cursor)
        query = query.where(Message.seq > after_seq if order == "asc" else Message.seq < after_seq)
    query = query.order_by(Message.seq.asc() if order == "asc" else Message.seq.desc())
    rows = list(await session.scalars(query.limit(page_size + 1)))
    items = rows[:page_size]
    next_cursor = encode_message_cursor(items[-1].seq, order) if len(rows) > page_size else None
    return MessagePage(items=items, next_cursor=next_cursor)


async def get_message_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    message = await session.scalar(
        select(Message).where(Message.workspace_id == workspace_id, Message.id == message_id)
    )
    if message is None:
        raise MessageNotFoundError(f"message {message_id} does not exist in this workspace")
    return message


# --- Messages: sending -------------------------------------------------------------------


def field_path(data: Any, loc: Sequence[int | str]) -> str:
    """The dotted path in ``data`` that a pydantic error ``loc`` points at.

    Pydantic puts the tag of a discriminated union into ``loc`` (``("text", "text",
    "body")`` for ``text.body``); the path follows the keys that exist in the data
    instead, skipping tags, and keeps a last, missing key (a required field).
    """
    parts: list[str] = []
    current: Any = data
    for position, segment in enumerate(loc):
        last = position == len(loc) - 1
        in_mapping = isinstance(current, Mapping) and segment in current
        in_list = (
            isinstance(current, list) and isinstance(segment, int) and 0 <= segment < len(current)
        )
        if in_mapping or in_list:
            parts.append(str(segment))
            current = current[segment]
        elif last and (not parts or parts[-1] != str(segment)):
            parts.append(str(segment))
        # Anything else is a union's tag: not part of the path.
    return ".".join(parts)


_UNION_TAG_ERRORS: Final = frozenset({"union_tag_invalid", "union_tag_not_found"})


def check_message_content(send: MessageSend) -> dict[str, Any]:
    """The Cloud API message object (without envelope) ``send`` describes, checked as Meta
    checks a request; 422 ``invalid_message_content`` naming each wrong field."""
    kind = send.type
    others = send.other_type_objects()
    if others:
        raise InvalidMessageContentError(
            f"{others[0]}: a `{kind}` message carries only `{kind}`; remove "
            + ", ".join(f"`{other}`" for other in others),
            field=others[0],
        )
    body = send.type_object()
    if body is None:
        raise InvalidMessageContentError(
            f"{kind}: a `{kind}` message carries its object under `{kind}`, as in Meta's API "
            f'(e.g. {{"type": "text", "text": {{"body": "Hello"}}}})',
            field=kind,
        )
    if kind == "reaction" and send.reply_to is not None:
        # Meta: "You cannot send a reaction message as a contextual reply" (Contextual
        # replies, Limitations); a reaction names its message in `reaction.message_id`.
        raise InvalidReplyToError(
            "reply_to: a reaction cannot quote a message; put the wamid of the message it "
            "reacts to in `reaction.message_id` and leave `reply_to` out",
            field="reply_to",
            reply_to=str(send.reply_to),
        )
    content: dict[str, Any] = {"type": kind, kind: body}
    try:
        # `to` only completes the envelope Meta's request has; the recipient is ours to fill.
        parse_outbound_message({"to": "0", **content})
    except ValidationError as error:
        errors = []
        for item in error.errors(include_url=False):
            path = field_path(content, item["loc"]) or kind
            if item["type"] in _UNION_TAG_ERRORS:
                path = f"{path}.type"
            errors.append({"field": path, "message": item["msg"], "type": item["type"]})
        raise InvalidMessageContentError(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            + ". Fix the message as Meta's Cloud API documents it for its type.",
            field=errors[0]["field"],
            errors=errors,
        ) from None
    return content


@dataclass(frozen=True, slots=True)
class SendWarning:
    """Why a queued message may not be delivered, known before WhatsApp answers."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    message: Message
    conversation: Conversation
    last_inbound_at: datetime | None
    queued_at: datetime
    warnings: tuple[SendWarning, ...]


@dataclass(frozen=True, slots=True)
class SendAnswer:
    """What the send answers: the body, and whether it is the replay of an earlier one."""

    status_code: int
    body: dict[str, Any]
    replayed: bool


def send_warnings(*, message_type: str, window: window_rules.WindowState) -> list[SendWarning]:
    """What is known at queueing time to keep the message from being delivered."""
    warnings: list[SendWarning] = []
    if message_type != "template" and not window.open:
        since = (
            f"the customer last wrote at {window.opened_at.isoformat()}"
            if window.opened_at is not None
            else "the customer has never written"
        )
        warnings.append(
            SendWarning(
                code=OUTSIDE_WINDOW_WARNING,
                detail=f"outside the 24-hour window: only a template will be delivered "
                f"({since}). This message will fail with error 131047; send an approved "
                "template instead.",
            )
        )
    return warnings


async def _sending_channel(
    session: AsyncSession, *, workspace_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel:
    return await channels_service.get_connected_channel_or_raise(
        session=session,
        workspace_id=workspace_id,
        channel_id=channel_id,
        again="with POST /api/v1/numbers to send from it",
    )


async def _target_conversation(
    session: AsyncSession, *, workspace_id: uuid.UUID, send: MessageSend, now: datetime
) -> Conversation:
    given = [
        name
        for name, value in (
            ("to", send.to),
            ("contact_id", send.contact_id),
            ("conversation_id", send.conversation_id),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidRecipientError(
            "give exactly one of `to` (a phone number or BSUID), `contact_id` or "
            f"`conversation_id`; got {', '.join(given) if given else 'none'}",
            field=given[1] if len(given) > 1 else "to",
        )
    if send.conversation_id is not None:
        existing = await get_conversation_or_raise(
            session=session, workspace_id=workspace_id, conversation_id=send.conversation_id
        )
        if send.number_id is not None and send.number_id != existing.channel_id:
            raise InvalidRecipientError(
                f"number_id: the conversation is on number {existing.channel_id}, not "
                f"{send.number_id}; leave `number_id` out to send in the conversation",
                field="number_id",
            )
        channel = await _sending_channel(
            session, workspace_id=workspace_id, channel_id=existing.channel_id
        )
        contact_id = existing.contact_id
    else:
        if send.number_id is None:
            raise InvalidRecipientError(
                "number_id: say which of the workspace's numbers sends it (GET /api/v1/numbers)",
                field="number_id",
            )
        channel = await _sending_channel(
            session, workspace_id=workspace_id, channel_id=send.number_id
        )
        if send.contact_id is not None:
            contact = await contacts_service.get_contact_or_raise(
                session=session, workspace_id=workspace_id, contact_id=send.contact_id
            )
        else:
            assert send.to is not None
            contact = await contacts_service.get_or_create_for_recipient(
                session=session, workspace_id=workspace_id, to=send.to, now=now
            )
        contact_id = contact.id
    return await do_get_or_open_conversation(
        session=session,
        workspace_id=workspace_id,
        channel_id=channel.id,
        contact_id=contact_id,
        inherit_window=True,
        now=now,
    )


async def _reply_to_wamid(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    conversation: Conversation,
    reply_to: uuid.UUID,
) -> str:
    quoted = await session.scalar(
        select(Message).where(Message.workspace_id == workspace_id, Message.id == reply_to)
    )
    if (
        quoted is None
        or quoted.channel_id != conversation.channel_id
        or quoted.contact_id != conversation.contact_id
    ):
        raise InvalidReplyToError(
            f"reply_to: message {reply_to} is not in this contact's chat with this number; "
            "quote a message of the same chat",
            field="reply_to",
            reply_to=str(reply_to),
        )
    if quoted.wamid is None:
        raise InvalidReplyToError(
            f"reply_to: message {reply_to} has not reached WhatsApp yet (status "
            f"{quoted.status}), so it cannot be quoted; send without `reply_to` or wait",
            field="reply_to",
            reply_to=str(reply_to),
        )
    return quoted.wamid


async def do_queue_message(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    send: MessageSend,
    author: Actor,
    now: datetime,
    public_url: str | None = None,
) -> QueuedMessage:
    """Check a message to send and write it ``queued`` in its conversation; no commit.

    The content is checked as Meta checks a send request (422 naming the field); the
    recipient is found or created (a bad number: 422 with the reason); the contact's
    current conversation on the number is used, or a new one opened. A free-form message
    outside the customer's 24-hour window is still queued (the pipeline fails it with
    131047, as Meta would) but comes back with a warning saying so. A template known here
    must be approved and its values fit it (``templates.service.check_template_send``);
    ``public_url`` is where its tracked links point.
    """
    prepared = None
    if send.type == "template" and isinstance(send.template, Mapping):
        # A template by name: checked against the stored one, variables filled for the
        # recipient, tracked links made (ovillo.templates); then checked as any message.
        conversation = await _target_conversation(
            session, workspace_id=workspace_id, send=send, now=now
        )
        prepared = await templates_service.check_template_send(
            session=session, public_url=public_url, workspace_id=workspace_id,
            channel_id=conversation.channel_id, contact_id=conversation.contact_id,
            template=send.template, now=now,
        )  # fmt: skip
        send = send.model_copy(update={"template": prepared.template})
    content = check_message_content(send)
    if prepared is None:
        conversation = await _target_conversation(
            session, workspace_id=workspace_id, send=send, now=now
        )
    if send.reply_to is not None:
        content["context"] = {
            "message_id": await _reply_to_wamid(
                session, workspace_id=workspace_id, conversation=conversation,
                reply_to=send.reply_to,
            )
        }  # fmt: skip
    message = await outbox.do_enqueue_message(
        session=session,
        workspace_id=workspace_id,
        conversation=conversation,
        content=content,
        author_type=author.type,
        author_id=author.id,
        template_category=prepared.category if prepared is not None else None,
        now=now,
    )
    if prepared is not None:
        templates_service.do_bind_links(links=prepared.links, message_id=message.id)
    media_ref = content.get(send.type)
    if send.type in MEDIA_TYPES and isinstance(media_ref, Mapping) and media_ref.get("id"):
        # Media uploaded through POST /media: link our copy, so the inbox can show it.
        message.media_id = await session.scalar(
            select(MediaFile.id)
            .where(
                MediaFile.workspace_id == workspace_id,
                MediaFile.meta_media_id == str(media_ref["id"]),
            )
            .order_by(MediaFile.created_at.desc())
            .limit(1)
        )
    state = window_rules.window_state(last_inbound_at=conversation.last_inbound_at, now=now)
    return QueuedMessage(
        message=message,
        conversation=conversation,
        last_inbound_at=conversation.last_inbound_at,
        queued_at=now,
        warnings=tuple(send_warnings(message_type=send.type, window=state)),
    )


async def send_message(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    send: MessageSend,
    author: Actor,
    idempotent: idempotency.IdempotentRequest | None = None,
    now: datetime,
    public_url: str | None = None,
) -> SendAnswer:
    """Queue a message (``do_queue_message``) and commit; 202 with the queued message.

    With an ``Idempotency-Key`` (``idempotent``) the key is taken first, in the same
    transaction: a repeat of the request within 24 hours answers the first answer again
    (``replayed``) without queueing anything; another request with that key is refused.
    """
    if idempotent is not None:
        stored = await idempotency.do_claim(
            session=session, workspace_id=workspace_id, request=idempotent, now=now
        )
        if stored is not None:
            log.info("message_send_replayed", idempotency_key=idempotent.key)
            return SendAnswer(status_code=stored.status_code, body=stored.body, replayed=True)
    queued = await do_queue_message(
        session=session, workspace_id=workspace_id, send=send, author=author, now=now,
        public_url=public_url,
    )  # fmt: skip
    body = MessageQueuedOut.of_queued(queued).model_dump(mode="json")
    if idempotent is not None:
        await idempotency.do_record_answer(
            session=session,
            workspace_id=workspace_id,
            request=idempotent,
            status_code=202,
            body=body,
        )
    await session.commit()
    log.info(
        "message_queued",
        message_id=str(queued.message.id),
        conversation_id=str(queued.conversation.id),
        type=queued.message.type,
        warnings=[warning.code for warning in queued.warnings],
    )
    return SendAnswer(status_code=202, body=body, replayed=False)


# --- Media -------------------------------------------------------------------------------


def check_media(*, mime_type: str | None, filename: str | None, size: int) -> tuple[str, str]:
    """The bare MIME type and WhatsApp media kind of a file to upload, or 422 saying why.

    Meta's table of accepted types and sizes (``cloudapi.media.MEDIA_LIMITS``) decides.
    """
    import mimetypes

    given = (mime_type or "").split(";", 1)[0].strip().lower()
    if (not given or given == "application/octet-stream") and filename:
        given = (mimetypes.guess_type(filename)[0] or given).lower()
    kind = media_kind_for_mime(given) if given else None
    accepted = sorted(t for limit in MEDIA_LIMITS.values() for t in limit.mime_types)
    if kind is None:
        raise UnsupportedMediaError(
            f"WhatsApp does not take {given or 'files without a type'!s}; send one of the "
            "accepted types with its Content-Type in the multipart part",
            mime_type=given or None,
            accepted=accepted,
        )
    max_bytes = MEDIA_LIMITS[MediaKind(kind)].max_bytes
    if size > max_bytes:
        raise MediaTooLargeError(
            f"a {kind} may be at most {max_bytes} bytes; this one is {size}. Compress it, or "
            "send a smaller file",
            mime_type=given,
            size=size,
            max_bytes=max_bytes,
            kind=kind,
        )
    if size == 0:
        raise UnsupportedMediaError(
            "the file is empty; send the file's bytes in the `file` part",
            mime_type=given,
            accepted=accepted,
        )
    return given, kind


async def upload_media(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    data: bytes,
    mime_type: str | None,
    filename: str | None,
    now: datetime,
) -> MediaFile:
    """Upload a file to WhatsApp for the number, keep our copy, and record both.

    Checked against Meta's accepted types and sizes first (422). Meta's media id (valid 30
    days) is what a send references: ``{"image": {"id": <meta_media_id>}}``.
    """
    import hashlib

    channel = await _sending_channel(session, workspace_id=workspace_id, channel_id=channel_id)
    bare_mime, kind = check_media(mime_type=mime_type, filename=filename, size=len(data))
    client = channels_service.cloud_api_client(runtime, channel)
    phone_number_id = channel.phone_number_id
    # End the read-only transaction before the upload: on SQLite every transaction holds
    # the database's one write lock (BEGIN IMMEDIATE), which must not wait on Meta.
    await session.commit()
    name = filename or f"{kind}{extension_for(bare_mime)}"
    try:
        uploaded = await client.upload_media(phone_number_id, data, bare_mime, name)
    except CloudAPIError as error:
        raise MediaRefusedError(
            f"WhatsApp refused the file (code {error.code}): {error.details or error.title}. "
            f"{error.explanation}",
            meta_code=error.code,
            fbtrace_id=error.fbtrace_id,
        ) from None
    except CloudAPITransportError as error:
        raise MediaUploadUnreachableError(
            f"{error.explanation} Upload the file again.",
        ) from None
    storage = storage_for(runtime.settings)
    try:
        key = new_storage_key(prefix=str(workspace_id), extension=extension_for(bare_mime, name))
    except StorageKeyError:
        key = new_storage_key(prefix=str(workspace_id))
    await storage.put(key, data)
    media = MediaFile(
        workspace_id=workspace_id,
        channel_id=channel_id,
        meta_media_id=uploaded.id,
        mime_type=bare_mime,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        filename=filename[:300] if filename else None,
        storage_key=key,
        state="stored",
        created_at=now,
    )
    session.add(media)
    try:
        await session.commit()
    except BaseException:
        await storage.delete(key)
        raise
    log.info("media_uploaded", media_id=str(media.id), kind=kind, size=len(data))
    return media


async def get_media_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, media_id: uuid.UUID
) -> MediaFile:
    media = await session.scalar(
        select(MediaFile).where(MediaFile.workspace_id == workspace_id, MediaFile.id == media_id)
    )
    if media is None:
        raise MediaNotFoundError(f"media file {media_id} does not exist in this workspace")
    return media


@dataclass(frozen=True, slots=True)
class MediaContent:
    """A stored media file's bytes: a file on this machine, or the bytes themselves."""

    media: MediaFile
    path: Path | None
    data: bytes | None


async def get_media_content(
    *, session: AsyncSession, runtime: Runtime, workspace_id: uuid.UUID, media_id: uuid.UUID
) -> MediaContent:
    """The bytes of a stored media file; 409 ``media_not_stored`` while it is not (yet)."""
    media = await get_media_or_raise(session=session, workspace_id=workspace_id, media_id=media_id)
    if media.state != "stored" or media.storage_key is None:
        raise MediaNotStoredError(
            f"the file is {media.state}: "
            + (
                "it is being fetched from WhatsApp; try again in a moment"
                if media.state == "pending"
                else "it could not be fetched from WhatsApp"
            ),
            state=media.state,
            error=media.error,
        )
    storage = storage_for(runtime.settings)
    try:
        path = storage.path(media.storage_key)
        if path is not None and path.is_file():
            return MediaContent(media=media, path=path, data=None)
        return MediaContent(media=media, path=None, data=await storage.get(media.storage_key))
    except (StoredFileMissingError, StorageKeyError):
        raise MediaNotStoredError(
            "the file's bytes are missing from storage; upload it again",
            state="missing",
        ) from None


# --- Template funnel ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateMessageCounts:
    """How far the messages sent with one template got: each stage counts the messages that
    reached it or a later one (a status webhook may skip a stage)."""

    messages: int
    sent: int
    delivered: int
    read: int
    # Messages whose conversation heard from the customer after them.
    replied: int


async def count_template_messages(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    channel_ids: Sequence[uuid.UUID],
    name: str,
    language: str,
) -> TemplateMessageCounts:
    """The funnel of the workspace's outgoing messages of template ``name`` in ``language``
    sent from ``channel_ids`` (a template belongs to a WABA: its numbers)."""
    if not channel_ids:
        return TemplateMessageCounts(0, 0, 0, 0, 0)
    answer = aliased(Message)
    replied = (
        select(answer.seq)
        .where(
            answer.conversation_id == Message.conversation_id,
            answer.direction == Direction.INBOUND,
            answer.seq > Message.seq,
        )
        .exists()
    )
    row = (
        await session.execute(
            select(
                func.count(),
                func.count(func.coalesce(Message.sent_at, Message.delivered_at, Message.read_at)),
                func.count(func.coalesce(Message.delivered_at, Message.read_at)),
                func.count(Message.read_at),
                func.count(case((replied, 1))),
            ).where(
                Message.workspace_id == workspace_id,
                Message.channel_id.in_(channel_ids),
                Message.direction == Direction.OUTBOUND,
                Message.type == "template",
                Message.template_name == name,
                Message.template_language == language,
            )
        )
    ).one()
    return TemplateMessageCounts(*(int(value or 0) for value in row))


async def get_media_by_meta_id(
    *, session: AsyncSession, workspace_id: uuid.UUID, meta_media_id: str
) -> MediaFile | None:
    """The workspace's latest stored file that WhatsApp knows as ``meta_media_id``."""
    return await session.scalar(
        select(MediaFile)
        .where(MediaFile.workspace_id == workspace_id, MediaFile.meta_media_id == meta_media_id)
        .order_by(MediaFile.created_at.desc())
        .limit(1)
    )
