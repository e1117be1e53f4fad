"""What the inbox tells open pages, through the event bus (core.events), after commit.

Each function announces one change inside the transaction that makes it; the data is what
a page needs to redraw one row (the conversation in the list, the bubble in the thread),
and the ids to fetch the rest. Kinds:

- ``message_created``: a message in or out (``direction``), with its conversation's row.
- ``message_status``: an outgoing message moved on (sent, delivered, read, failed...).
- ``conversation_updated``: assigned, unassigned, closed, reopened, read (``change``).
- ``note_added``: an internal note.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.core.db import is_one_of
from ovillo.core.events import publish_on_commit
from ovillo.inbox.models import Conversation, Message, MessageStatus, Note


def _conversation_row(conversation: Conversation) -> dict[str, object]:
    return {
        "conversation_id": conversation.id,
        "conversation_status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "last_activity_at": conversation.last_activity_at,
        "last_message_preview": conversation.last_message_preview,
        "unread_count": conversation.unread_count,
        "window_closes_at": conversation.window_closes_at,
    }


class CreatedMessage(Protocol):
    """What ``message_created`` reads of a message: a ``Message`` row, or the outbox's
    record of one it inserted without loading it (``outbox.QueuedMessage``)."""

    @property
    def workspace_id(self) -> uuid.UUID: ...
    @property
    def id(self) -> uuid.UUID: ...
    @property
    def direction(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def author_type(self) -> str: ...


def message_created(
    session: AsyncSession, *, message: CreatedMessage, conversation: Conversation
) -> None:
    """After the message's flush (its id is known)."""
    publish_on_commit(
        session,
        workspace_id=message.workspace_id,
        kind="message_created",
        data={
            **_conversation_row(conversation),
            "message_id": message.id,
            "direction": message.direction,
            "type": message.type,
            "status": message.status,
            "author_type": message.author_type,
        },
    )


def message_status(session: AsyncSession, *, message: Message) -> None:
    publish_on_commit(
        session,
        workspace_id=message.workspace_id,
        kind="message_status",
        data={
            "conversation_id": message.conversation_id,
            "message_id": message.id,
            "status": message.status,
            "error_code": message.error_code,
            "error_title": message.error_title,
        },
    )


async def messages_status_by_seq(session: AsyncSession, *, seqs: Iterable[int]) -> None:
    """For statuses written by bulk UPDATEs (the send pipeline's outcomes): read the rows
    back in the same transaction, one query, and announce each."""
    wanted = sorted(set(seqs))
    if not wanted:
        return
    table = Message.__table__
    rows = await session.execute(
        select(
            table.c.workspace_id,
            table.c.conversation_id,
            table.c.id,
            table.c.status,
            table.c.error_code,
            table.c.error_title,
        ).where(is_one_of(session, table.c.seq, wanted), table.c.status != MessageStatus.SENDING)
    )
    for workspace_id, conversation_id, message_id, status, error_code, error_title in rows:
        publish_on_commit(
            session,
            workspace_id=workspace_id,
            kind="message_status",
            data={
                "conversation_id": conversation_id,
                "message_id": message_id,
                "status": status,
                "error_code": error_code,
                "error_title": error_title,
            },
        )


def conversation_updated(session: AsyncSession, *, conversation: Conversation, change: str) -> None:
    """``change``: ``assigned``, ``unassigned``, ``closed``, ``reopened``, ``read``."""
    publish_on_commit(
        session,
        workspace_id=conversation.workspace_id,
        kind="conversation_updated",
        data={**_conversation_row(conversation), "change": change},
    )


def note_added(session: AsyncSession, *, note: Note) -> None:
    publish_on_commit(
        session,
        workspace_id=note.workspace_id,
        kind="note_added",
        data={"conversation_id": note.conversation_id, "note_id": note.id},
    )
