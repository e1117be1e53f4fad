"""The outbox: outgoing messages written ``queued`` and moved along by the send pipeline.

A message to send is a ``message`` row written ``queued`` in the same transaction as
whatever caused it (an agent's reply, a campaign recipient, a flow step): that is the
transactional outbox of design.md, so a message and its cause commit together or not at
all. The number's send pipeline (``ovillo.worker.sender``) then moves it::

    queued --claim--> sending --answer 200--> accepted --(status webhooks)--> sent ...
       ^                 |  \\--rule refused / Meta refused--> failed
       |                 |   \\--retriable error--> queued (next_attempt_at = later)
       |                 \\--answer lost--> stays sending until a status webhook reconciles
       |                                  it, or requeued after the grace period
       \\---------------------------------/

Never twice: a message leaves ``queued`` for ``sending`` in one claim statement, is sent
only by the claimer, and goes back to ``queued`` only when Meta certainly did not take it
(an error answer, a connection that never opened) or when ``reconcile_after_seconds``
passed without any status webhook naming it, and the number's webhook log has been applied
that far (a status waiting there to be applied still wins). Every send carries our message
id in ``biz_opaque_callback_data``, so the ingestion of a status webhook can match a send
whose answer was lost (`do_reconcile_from_status`).

Functions here never commit: the caller owns the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import (
    Select,
    Table,
    Update,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels.models import Channel, WebhookEvent, WebhookEventState
from ovillo.core.db import is_none_of, is_one_of
from ovillo.core.ids import new_id
from ovillo.core.notify import notify
from ovillo.inbox import live
from ovillo.inbox.models import (
    AuthorType,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    PendingStatus,
)
from ovillo.rules import limits
from ovillo.rules import window as window_rules
from ovillo.worker.leases import lease_is_held

__all__ = [
    "OUTBOX_TOPIC",
    "Accepted",
    "ClaimedMessage",
    "Failed",
    "NewMessage",
    "Outcome",
    "QueuedMessage",
    "Released",
    "Retry",
    "Unanswered",
    "claim_due_messages",
    "claim_due_sends",
    "content_summary",
    "do_apply_outcomes",
    "do_enqueue_message",
    "do_enqueue_messages",
    "do_lock_conversations",
    "do_reconcile_from_status",
    "do_requeue_unanswered",
    "do_withdraw_queued",
    "due_channel_ids",
    "limit_window_usage",
    "next_due_at",
    "send_lease_name",
    "wamids_with_pending_statuses",
]

log = structlog.get_logger(__name__)

OUTBOX_TOPIC = "outbox"

_PREVIEW_LENGTH = 200


def send_lease_name(channel_id: uuid.UUID) -> str:
    """The lease a number's send pipeline runs under: one pipeline per number at a time."""
    return f"send:{channel_id}"


# --- Enqueueing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContentSummary:
    """What the inbox shows and searches of a message, read from its Cloud API content."""

    type: str
    text: str | None
    template_name: str | None
    template_language: str | None
    reply_to_wamid: str | None


def content_summary(content: Mapping[str, Any]) -> ContentSummary:
    """The type, searchable text and template of a message as the Cloud API shapes it.

    ``content`` is the message object without the envelope, such as
    ``{"type": "text", "text": {"body": "hi"}}``; ``context.message_id`` makes it a reply.
    """
    kind = content.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("a message needs a `type`, such as {'type': 'text', 'text': {...}}")
    if kind != "reaction" and not isinstance(content.get(kind), Mapping | list):
        raise ValueError(f"a {kind!r} message carries its object under the key {kind!r}")
    body: Any = content.get(kind)
    found: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    if kind == "text" and isinstance(body, Mapping):
        found = _string(body.get("body"))
    elif kind in ("image", "video", "document") and isinstance(body, Mapping):
        found = _string(body.get("caption")) or _string(body.get("filename"))
    elif kind == "location" and isinstance(body, Mapping):
        found = _string(body.get("name")) or _string(body.get("address"))
    elif kind == "reaction" and isinstance(body, Mapping):
        found = _string(body.get("emoji"))
    elif kind == "interactive" and isinstance(body, Mapping):
        inner = body.get("body")
        found = _string(inner.get("text")) if isinstance(inner, Mapping) else None
    elif kind == "template" and isinstance(body, Mapping):
        template_name = _string(body.get("name"))
        language = body.get("language")
        template_language = _string(language.get("code")) if isinstance(language, Mapping) else None
        found = template_name
    elif kind == "contacts" and isinstance(body, list) and body:
        first = body[0]
        name = first.get("name") if isinstance(first, Mapping) else None
        found = _string(name.get("formatted_name")) if isinstance(name, Mapping) else None
    context = content.get("context")
    reply_to = _string(context.get("message_id")) if isinstance(context, Mapping) else None
    return ContentSummary(kind, found, template_name, template_language, reply_to)


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message for ``do_enqueue_messages``: its arguments as ``do_enqueue_message``'s."""

    conversation: Conversation
    content: Mapping[str, Any]
    author_type: AuthorType | str
    author_id: str | None = None
    priority: int = 0
    template_category: str | None = None
    not_before: datetime | None = None


# Conversation ids per locking ``SELECT ... FOR UPDATE``.
_LOCK_CHUNK = 500


async def do_lock_conversations(
    *, session: AsyncSession, conversation_ids: Collection[uuid.UUID]
) -> None:
    """Lock the rows of ``conversation_ids`` for the caller's transaction, in id order, and
    reload them (the session's copies may predate another transaction's commit).

    PostgreSQL: every transaction that changes many conversations at once (ingestion's
    batches, a bulk enqueue) takes their locks here first, all in one order, so two of
    them wait for each other instead of deadlocking (40P01). SQLite has one writer at a
    time, and no row locks to take.

    The lock is ``FOR NO KEY UPDATE`` (what PostgreSQL's own UPDATE of non-key columns
    takes), not ``FOR UPDATE``: it does not block the ``FOR KEY SHARE`` a foreign-key check
    takes on the conversation. Such a check runs when a transaction updates a message row
    it already changed (an ingestion batch applying "sent" then "delivered" of one
    message); with ``FOR UPDATE`` here, a bulk enqueue holding one conversation and that
    batch holding another deadlocked (the crash test caught it).
    """
    if session.get_bind().dialect.name != "postgresql" or not conversation_ids:
        return
    ordered = sorted(set(conversation_ids))
    for start in range(0, len(ordered), _LOCK_CHUNK):
        await session.execute(
            select(Conversation)
            .where(Conversation.id.in_(ordered[start : start + _LOCK_CHUNK]))
            .order_by(Conversation.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )


def _queued_row(*, workspace_id: uuid.UUID, item: NewMessage, now: datetime) -> dict[str, Any]:
    """The ``message`` row of ``item`` as an INSERT's values (every column a queued message
    sets, the same keys for every row), and its conversation's activity moved to ``now``."""
    conversation = item.conversation
    if conversation.workspace_id != workspace_id:
        raise ValueError("the conversation belongs to another workspace")
    summary = content_summary(item.content)
    row: dict[str, Any] = {
        "id": new_id(now),
        "workspace_id": workspace_id,
        "conversation_id": conversation.id,
        "channel_id": conversation.channel_id,
        "contact_id": conversation.contact_id,
        "direction": Direction.OUTBOUND.value,
        "type": summary.type,
        "text": summary.text,
        "content": dict(item.content),
        "template_name": summary.template_name,
        "template_language": summary.template_language,
        "template_category": item.template_category.upper() if item.template_category else None,
        "author_type": str(item.author_type),
        "author_id": item.author_id,
        "reply_to_wamid": summary.reply_to_wamid,
        "status": MessageStatus.QUEUED.value,
        "priority": item.priority,
        "attempts": 0,
        "next_attempt_at": max(now, item.not_before) if item.not_before is not None else now,
        "created_at": now,
        "queued_at": now,
    }
    conversation.last_activity_at = now
    if summary.text:
        conversation.last_message_preview = summary.text[:_PREVIEW_LENGTH]
    return row


def _queued_message(*, workspace_id: uuid.UUID, item: NewMessage, now: datetime) -> Message:
    return Message(**_queued_row(workspace_id=workspace_id, item=item, now=now))


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """A message ``do_enqueue_messages`` wrote: what its caller and the live event need,
    without the cost of a loaded ``Message`` row (a campaign queues thousands a second)."""

    id: uuid.UUID
    workspace_id: uuid.UUID
    conversation_id: uuid.UUID
    direction: str
    type: str
    status: str
    author_type: str


async def do_enqueue_messages(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    messages: Sequence[NewMessage],
    now: datetime,
) -> list[QueuedMessage]:
    """Write many outgoing messages ``queued`` at once, in order; no commit.

    As ``do_enqueue_message`` for each, with their conversations locked first in id order
    (``do_lock_conversations``: a bulk enqueue and ingestion never deadlock) and their rows
    written by one executemany INSERT of plain rows (no ``Message`` objects: building and
    flushing those was most of a campaign's top-up). Precondition: the contents were
    validated.
    """
    await do_lock_conversations(
        session=session, conversation_ids=[item.conversation.id for item in messages]
    )
    rows = [_queued_row(workspace_id=workspace_id, item=item, now=now) for item in messages]
    if not rows:
        return []
    # The conversations' new activity and preview go first (the session's UPDATEs), then
    # the messages, in order: their seq follows the list.
    await session.flush()
    table: Table = Message.__table__  # type: ignore[assignment]  # mapped to a Table
    await session.execute(insert(table), rows)
    await notify(session, OUTBOX_TOPIC)
    queued: list[QueuedMessage] = []
    for item, row in zip(messages, rows, strict=True):
        message = QueuedMessage(
            id=row["id"],
            workspace_id=workspace_id,
            conversation_id=row["conversation_id"],
            direction=row["direction"],
            type=row["type"],
            status=row["status"],
            author_type=row["author_type"],
        )
        live.message_created(session, message=message, conversation=item.conversation)
        queued.append(message)
    return queued


async def do_enqueue_message(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation: Conversation,
    content: Mapping[str, Any],
    author_type: AuthorType | str,
    author_id: str | None = None,
    priority: int = 0,
    template_category: str | None = None,
    not_before: datetime | None = None,
    now: datetime,
) -> Message:
    """Write an outgoing message ``queued`` on the conversation's number; no commit.

    ``content`` is the Cloud API message object without the envelope (``to``,
    ``messaging_product`` and ``biz_opaque_callback_data`` are added when it is sent). The
    number's send pipeline is woken when the caller commits. ``priority``: lower goes first
    (agents' replies before campaign traffic). ``not_before`` holds the send until then.
    Precondition: the content was validated (``check_*`` in the caller's service). To queue
    many in one transaction, ``do_enqueue_messages``.
    """
    item = NewMessage(
        conversation=conversation,
        content=content,
        author_type=author_type,
        author_id=author_id,
        priority=priority,
        template_category=template_category,
        not_before=not_before,
    )
    message = _queued_message(workspace_id=workspace_id, item=item, now=now)
    session.add(message)
    await session.flush()
    await notify(session, OUTBOX_TOPIC)
    live.message_created(session, message=message, conversation=conversation)
    return message


async def do_withdraw_queued(
    *, session: AsyncSession, message_ids: Collection[uuid.UUID]
) -> list[uuid.UUID]:
    """Take back those of ``message_ids`` that are still ``queued`` (no pipeline claimed
    them, and none will): their rows are deleted. Returns the ids withdrawn; no commit.

    For a campaign cancelled or stopped while its messages wait in the outbox. One
    conditional DELETE: a message the pipeline claimed meanwhile is ``sending`` and stays
    (PostgreSQL: the claim's row lock makes this wait for it; SQLite: one writer).
    """
    if not message_ids:
        return []
    result = await session.execute(
        delete(Message)
        .where(Message.id.in_(list(message_ids)), Message.status == MessageStatus.QUEUED)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    withdrawn = list(result.scalars())
    if withdrawn:
        log.info("messages_withdrawn", count=len(withdrawn))
    return withdrawn


async def limit_window_usage(
    *, session: AsyncSession, waba_id: str, now: datetime
) -> tuple[int, datetime | None]:
    """Unique contacts sent a template from the WABA's numbers in the moving 24 hours
    (``rules.limits``), and when the first of them leaves the window (None: none counted).

    Counted as a campaign must before it queues more: messages still ``queued`` or
    ``sending`` count (they will leave), failed ones do not, and a template answered inside
    a customer-service window counts too (an over-count, never an under-count).
    """
    since = now - limits.LIMIT_WINDOW
    at = func.coalesce(Message.accepted_at, Message.queued_at, Message.created_at)
    per_contact = (
        select(Message.contact_id, func.max(at).label("last_at"))
        .join(Channel, Channel.id == Message.channel_id)
        .where(
            Channel.waba_id == waba_id,
            Message.direction == Direction.OUTBOUND,
            Message.type == "template",
            Message.status != MessageStatus.FAILED,
            at > since,
        )
        .group_by(Message.contact_id)
        .subquery()
    )
    row = (await session.execute(select(func.count(), func.min(per_contact.c.last_at)))).one()
    count, oldest = int(row[0] or 0), row[1]
    if isinstance(oldest, str):  # SQLite hands back an aggregate of datetimes as text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return count, (oldest + limits.LIMIT_WINDOW) if oldest is not None else None


# --- Reconciling a send whose answer was lost ---------------------------------------------


async def do_reconcile_from_status(
    *, session: AsyncSession, message_id: uuid.UUID | str, wamid: str, now: datetime
) -> Message | None:
    """Match a status webhook to our message through ``biz_opaque_callback_data``; no commit.

    For the ingestion of a status whose ``wamid`` we do not know: when its
    ``biz_opaque_callback_data`` is one of our outgoing messages that has no wamid yet (its
    send's answer was lost, or has not arrived yet), the message takes the wamid and becomes
    ``accepted``, so the pipeline never sends it again. The caller then applies the status
    itself. Returns the message (also when it already had this wamid), or None when the id
    is not ours or the message already carries another wamid.
    """
    try:
        key = message_id if isinstance(message_id, uuid.UUID) else uuid.UUID(str(message_id))
    except ValueError:
        return None
    message = await session.scalar(
        select(Message).where(Message.id == key, Message.direction == Direction.OUTBOUND)
    )
    if message is None:
        return None
    if message.wamid is not None:
        if message.wamid != wamid:
            log.warning(
                "message_reconcile_conflict",
                message_id=str(message.id),
                wamid=wamid,
                known_wamid=message.wamid,
            )
            return None
        return message
    message.wamid = wamid
    message.accepted_at = message.accepted_at or now
    # Meta took it after all: whatever we concluded without its answer no longer holds.
    message.status = MessageStatus.ACCEPTED
    message.next_attempt_at = None
    message.failed_at = None
    message.error_code = None
    message.error_title = None
    message.error_detail = None
    await session.flush()
    log.info("message_reconciled", message_id=str(message.id), wamid=wamid)
    return message


# --- The pipeline's side -------------------------------------------------------------------


def _due(now: datetime) -> Any:
    # Queued messages always carry next_attempt_at (`do_enqueue_message`, retries), so the
    # outbox index (channel_id, status, next_attempt_at, seq) answers this as a range.
    return and_(Message.status == MessageStatus.QUEUED, Message.next_attempt_at <= now)


async def due_channel_ids(
    *, session: AsyncSession, now: datetime, grace: timedelta
) -> list[uuid.UUID]:
    """The numbers with work for a send pipeline at ``now``.

    Queued messages that are due, and messages left ``sending`` without a wamid for longer
    than ``grace`` (a lost answer, a worker that died): the number's pipeline decides their
    fate under its lease (`do_requeue_unanswered`). One index probe per number, so the
    cost follows the number of numbers, not the size of the message history.
    """
    due = exists().where(Message.channel_id == Channel.id, _due(now))
    stale = exists().where(
        Message.channel_id == Channel.id,
        Message.status == MessageStatus.SENDING,
        Message.wamid.is_(None),
        Message.sending_at < now - grace,
    )
    rows = await session.scalars(select(Channel.id).where(or_(due, stale)))
    return list(rows)


async def next_due_at(*, session: AsyncSession, now: datetime) -> datetime | None:
    """When the next queued message that is not due yet becomes due (a retry's backoff)."""
    per_channel = (
        select(func.min(Message.next_attempt_at))
        .where(
            Message.channel_id == Channel.id,
            Message.status == MessageStatus.QUEUED,
            Message.next_attempt_at > now,
        )
        .scalar_subquery()
    )
    soonest = select(per_channel.label("soonest")).select_from(Channel).subquery()
    found: datetime | None = await session.scalar(select(func.min(soonest.c.soonest)))
    return found


async def claim_due_messages(
    *,
    session: AsyncSession,
    channel_id: uuid.UUID,
    now: datetime,
    limit: int,
    lease_holder: str | None = None,
    fencing_token: int | None = None,
) -> list[Message]:
    """Claim up to ``limit`` of the number's due queued messages, in (priority, seq) order.

    One statement moves them to ``sending`` with ``sending_at = now`` and ``attempts + 1``,
    so no other claim can take them. With ``lease_holder`` and ``fencing_token`` the claim
    matches nothing once another worker has taken the number's lease (a stale pipeline
    cannot claim). Does not commit; commit before sending anything.

    The one reviewed claim, a path per database (design.md, conventions "Migrations"):

    - PostgreSQL: ``WITH c AS MATERIALIZED (SELECT seq ... LIMIT n FOR UPDATE SKIP LOCKED)
      UPDATE message ... FROM c``: concurrent claimers skip each other's rows instead of
      waiting or taking them twice, and the candidates are picked once (see below).
    - SQLite has no row locks and no SKIP LOCKED: the transaction began with ``BEGIN
      IMMEDIATE`` (core.db), which holds the one write lock of the database until commit,
      so a plain ``UPDATE ... WHERE seq IN (SELECT ... LIMIT) RETURNING`` cannot interleave
      with another claim.

    The send pipeline claims with ``claim_due_sends``: the same statement, returning only
    what a send needs.
    """
    if limit < 1:
        return []
    statement = _claim_statement(
        session=session,
        channel_id=channel_id,
        now=now,
        limit=limit,
        lease_holder=lease_holder,
        fencing_token=fencing_token,
    ).returning(Message)
    claimed = list((await session.scalars(statement)).all())
    claimed.sort(key=lambda message: (message.priority, message.seq))
    return claimed


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A message ``claim_due_sends`` moved to ``sending``: the columns its send reads."""

    seq: int
    id: uuid.UUID
    conversation_id: uuid.UUID
    contact_id: uuid.UUID
    type: str
    content: dict[str, Any]
    template_category: str | None
    attempts: int
    priority: int


async def claim_due_sends(
    *,
    session: AsyncSession,
    channel_id: uuid.UUID,
    now: datetime,
    limit: int,
    lease_holder: str | None = None,
    fencing_token: int | None = None,
) -> list[ClaimedMessage]:
    """As ``claim_due_messages`` (the same claim), returning plain records of the columns
    a send reads instead of loaded ``Message`` rows: at a thousand messages a second,
    loading every column of every claimed row was a good part of the pipeline's time."""
    if limit < 1:
        return []
    table: Table = Message.__table__  # type: ignore[assignment]  # mapped to a Table
    statement = _claim_statement(
        session=session,
        channel_id=channel_id,
        now=now,
        limit=limit,
        lease_holder=lease_holder,
        fencing_token=fencing_token,
    ).returning(
        table.c.seq,
        table.c.id,
        table.c.conversation_id,
        table.c.contact_id,
        table.c.type,
        table.c.content,
        table.c.template_category,
        table.c.attempts,
        table.c.priority,
    )
    claimed = [ClaimedMessage(*row) for row in await session.execute(statement)]
    claimed.sort(key=lambda message: (message.priority, message.seq))
    return claimed


def _claim_statement(
    *,
    session: AsyncSession,
    channel_id: uuid.UUID,
    now: datetime,
    limit: int,
    lease_holder: str | None,
    fencing_token: int | None,
) -> Update:
    """The claim of ``claim_due_messages`` without its RETURNING clause."""
    candidates: Select[Any] = (
        select(Message.seq)
        .where(Message.channel_id == channel_id, _due(now))
        .order_by(Message.priority, Message.seq)
        .limit(limit)
    )
    conditions: list[Any] = [Message.status == MessageStatus.QUEUED]
    if session.get_bind().dialect.name == "postgresql":
        # A materialized CTE runs the locking SELECT exactly once. As a plain subquery
        # PostgreSQL may rescan it while updating, and a rescan skips the rows this very
        # statement has just updated and takes the next ones: more than ``limit`` rows.
        picked = (
            candidates.with_for_update(skip_locked=True)
            .cte("claim_candidates")
            .prefix_with("MATERIALIZED")
        )
        conditions.append(Message.seq == picked.c.seq)
    else:
        conditions.append(Message.seq.in_(candidates.scalar_subquery()))
    if lease_holder is not None and fencing_token is not None:
        conditions.append(
            lease_is_held(
                name=send_lease_name(channel_id), holder=lease_holder, fencing_token=fencing_token
            )
        )
    return (
        update(Message)
        .where(*conditions)
        .values(
            status=MessageStatus.SENDING,
            sending_at=now,
            attempts=Message.attempts + 1,
        )
        .execution_options(synchronize_session=False)
    )


async def do_requeue_unanswered(
    *,
    session: AsyncSession,
    now: datetime,
    grace: timedelta,
    max_attempts: int,
    channel_id: uuid.UUID | None = None,
    held: Collection[int] = (),
) -> int:
    """Release messages stuck in ``sending`` for longer than ``grace``; no commit.

    A message stays ``sending`` when its send may have reached Meta but no answer came back
    (the connection broke, the worker died). Once ``grace`` has passed without a status
    webhook reconciling it (which sets its wamid), Meta did not take it (Meta sends the
    ``sent`` status within seconds), so it goes back to ``queued``, or to ``failed`` once it
    has used ``max_attempts``. Precondition: ``grace`` is longer than the Cloud API client's
    timeout, and the caller holds the number's send lease and passes as ``held`` the
    messages its own pipeline still has in hand (waiting for their turn, or on the wire).

    ``grace`` covers Meta's delay, not ours: a status that reached our webhook log in time
    but waits there to be applied (ingestion behind, a worker restarting) has not
    reconciled anything yet. So a message is stale only when ``grace`` has passed since its
    send *and* every webhook event of its number received within that ``grace`` has been
    applied: ``sending_at < min(now, oldest unapplied event's received_at) - grace``.
    """
    oldest_unapplied = await _oldest_unapplied_webhook_at(session=session, channel_id=channel_id)
    stale_before = (now if oldest_unapplied is None else min(now, oldest_unapplied)) - grace
    where: list[Any] = [
        Message.status == MessageStatus.SENDING,
        Message.wamid.is_(None),
        Message.sending_at < stale_before,
    ]
    if channel_id is not None:
        where.append(Message.channel_id == channel_id)
    if held:
        where.append(is_none_of(session, Message.seq, held))
    requeued = await session.execute(
        update(Message)
        .where(*where, Message.attempts < max_attempts)
        .values(status=MessageStatus.QUEUED, next_attempt_at=now)
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    requeued_ids = list(requeued.scalars())
    failed = await session.execute(
        update(Message)
        .where(*where, Message.attempts >= max_attempts)
        .values(
            status=MessageStatus.FAILED,
            failed_at=now,
            next_attempt_at=None,
            error_code=None,
            error_title="No answer from WhatsApp",
            error_detail=(
                f"The last of {max_attempts} attempts got no answer and no status from "
                "WhatsApp followed, so it is not known to have been sent. Send it again if "
                "it still matters."
            ),
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    failed_ids = list(failed.scalars())
    for message_id in requeued_ids:
        log.info("message_requeued_unanswered", message_id=str(message_id))
    for message_id in failed_ids:
        log.warning("message_failed_unanswered", message_id=str(message_id))
    if requeued_ids:
        await notify(session, OUTBOX_TOPIC)
    return len(requeued_ids) + len(failed_ids)


async def _oldest_unapplied_webhook_at(
    *, session: AsyncSession, channel_id: uuid.UUID | None
) -> datetime | None:
    """When the oldest webhook event of the number (of any number: None) still to be
    applied arrived: pending, or failed and due for another try."""
    unapplied = or_(
        WebhookEvent.state == WebhookEventState.PENDING,
        and_(
            WebhookEvent.state == WebhookEventState.FAILED,
            WebhookEvent.next_attempt_at.is_not(None),
        ),
    )
    query = select(func.min(WebhookEvent.received_at)).where(unapplied)
    if channel_id is not None:
        number = select(Channel.phone_number_id).where(Channel.id == channel_id)
        query = query.where(WebhookEvent.phone_number_id == number.scalar_subquery())
    oldest: datetime | None = await session.scalar(query)
    return oldest


@dataclass(frozen=True, slots=True)
class Accepted:
    """Meta answered 200: the message has its wamid."""

    seq: int
    wamid: str


@dataclass(frozen=True, slots=True)
class Retry:
    """Meta (or the way to it) failed in a way that may pass: try again at ``at``."""

    seq: int
    at: datetime
    error_code: int | None
    error_title: str
    error_detail: str | None


@dataclass(frozen=True, slots=True)
class Failed:
    """The message cannot be sent as it is: Meta refused it, or a rule said Meta would."""

    seq: int
    error_code: int | None
    error_title: str
    error_detail: str | None


@dataclass(frozen=True, slots=True)
class Unanswered:
    """The send may have reached Meta, but no answer came back: it stays ``sending``.

    ``sending_at`` becomes the time of this attempt, so the grace period before it may be
    sent again runs from the attempt, not from the claim.
    """

    seq: int


@dataclass(frozen=True, slots=True)
class Released:
    """Claimed but never sent (the worker is stopping): back to ``queued``, attempt undone."""

    seq: int


Outcome = Accepted | Retry | Failed | Released | Unanswered


async def _open_free_entry_points(
    session: AsyncSession, seqs: Sequence[int], *, now: datetime
) -> None:
    """Replies Meta accepted at ``now`` open the 72-hour free entry point of their
    conversations that came from a Click-to-WhatsApp ad within the last 24 hours
    (``rules.window.free_entry_point``). The earliest reply wins: a conversation whose
    entry point is already open keeps it. One statement per batch; it touches only
    conversations with a recent referral."""
    replied = select(Message.conversation_id).where(
        is_one_of(session, Message.seq, seqs), Message.direction == Direction.OUTBOUND
    )
    await session.execute(
        update(Conversation)
        .where(
            Conversation.id.in_(replied),
            Conversation.referral_at.is_not(None),
            Conversation.referral_at <= now,
            Conversation.referral_at > now - window_rules.FREE_ENTRY_POINT_REPLY_DEADLINE,
            or_(
                Conversation.free_entry_point_expires_at.is_(None),
                Conversation.free_entry_point_expires_at <= now,
            ),
        )
        .values(free_entry_point_expires_at=now + window_rules.FREE_ENTRY_POINT_WINDOW)
        .execution_options(synchronize_session=False)
    )


async def do_apply_outcomes(
    *, session: AsyncSession, outcomes: Sequence[Outcome], now: datetime
) -> list[str]:
    """Store what became of sends; no commit. Returns the wamids of the accepted sends.

    Each write is guarded so it cannot undo a status webhook that got there first: an
    accepted send only fills a message that has no wamid yet (ingestion may have reconciled
    it already), and a retry or failure only touches a message still ``sending``. One
    executemany per kind of outcome, so a batch of hundreds costs a handful of round trips.
    """
    table: Table = Message.__table__  # type: ignore[assignment]  # mapped to a Table
    seq = table.c.seq
    sending = table.c.status == MessageStatus.SENDING

    def by_seq(kind: type[Any]) -> list[Any]:
        return sorted((o for o in outcomes if isinstance(o, kind)), key=lambda o: o.seq)

    accepted = by_seq(Accepted)
    if accepted:
        await session.execute(
            update(table)
            .where(seq == bindparam("b_seq"), table.c.wamid.is_(None))
            .values(
                wamid=bindparam("b_wamid"),
                status=MessageStatus.ACCEPTED,
                accepted_at=now,
                next_attempt_at=None,
                error_code=None,
                error_title=None,
                error_detail=None,
            ),
            [{"b_seq": o.seq, "b_wamid": o.wamid} for o in accepted],
        )
        await _open_free_entry_points(session, [o.seq for o in accepted], now=now)
    retries = by_seq(Retry)
    if retries:
        await session.execute(
            update(table)
            .where(seq == bindparam("b_seq"), sending)
            .values(
                status=MessageStatus.QUEUED,
                next_attempt_at=bindparam("b_at"),
                error_code=bindparam("b_code"),
                error_title=bindparam("b_title"),
                error_detail=bindparam("b_detail"),
            ),
            [
                {
                    "b_seq": o.seq,
                    "b_at": o.at,
                    "b_code": o.error_code,
                    "b_title": o.error_title[:300],
                    "b_detail": o.error_detail,
                }
                for o in retries
            ],
        )
    failures = by_seq(Failed)
    if failures:
        await session.execute(
            update(table)
            .where(seq == bindparam("b_seq"), sending)
            .values(
                status=MessageStatus.FAILED,
                failed_at=now,
                next_attempt_at=None,
                error_code=bindparam("b_code"),
                error_title=bindparam("b_title"),
                error_detail=bindparam("b_detail"),
            ),
            [
                {
                    "b_seq": o.seq,
                    "b_code": o.error_code,
                    "b_title": o.error_title[:300],
                    "b_detail": o.error_detail,
                }
                for o in failures
            ],
        )
    unanswered = by_seq(Unanswered)
    if unanswered:
        await session.execute(
            update(table)
            .where(seq.in_([o.seq for o in unanswered]), sending, table.c.wamid.is_(None))
            .values(sending_at=now)
        )
    released = by_seq(Released)
    if released:
        await session.execute(
            update(table)
            .where(seq.in_([o.seq for o in released]), sending)
            .values(
                status=MessageStatus.QUEUED,
                next_attempt_at=now,
                attempts=case((table.c.attempts > 0, table.c.attempts - 1), else_=0),
            )
        )
    if retries or released:
        await notify(session, OUTBOX_TOPIC)
    # Released ones go back to `queued`, which pages already show: not news.
    await live.messages_status_by_seq(
        session, seqs=[o.seq for o in (*accepted, *retries, *failures)]
    )
    return [o.wamid for o in accepted]


async def wamids_with_pending_statuses(
    *, session: AsyncSession, wamids: Collection[str]
) -> list[str]:
    """Those of ``wamids`` that have status webhooks waiting for them (they outran the send's
    answer): the caller applies them (``inbox.ingest.do_apply_pending_statuses``)."""
    if not wamids:
        return []
    rows = await session.scalars(
        select(PendingStatus.wamid)
        .where(is_one_of(session, PendingStatus.wamid, wamids))
        .distinct()
    )
    return list(rows)
