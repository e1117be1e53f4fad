"""Each agent's own unread count: what this agent has not seen of a conversation.

``conversation.unread_count`` is the team's (anyone opening the conversation clears it, and
Meta's read receipt goes with it). Here, ``conversation_read`` remembers per user the last
message sequence number seen; an agent's unread messages are the customer's messages after
it. A conversation the agent never opened counts all of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.core.db import insert_for
from ovillo.inbox.models import ConversationRead, Direction, Message

LOOKUP_CHUNK = 500


async def mark_read_by(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    now: datetime,
) -> None:
    """The user has seen the conversation up to its latest message. The caller checked the
    conversation is of ``workspace_id``. Never moves back (a concurrent older mark loses)."""
    last = await session.scalar(
        select(func.max(Message.seq)).where(
            Message.workspace_id == workspace_id, Message.conversation_id == conversation_id
        )
    )
    if last is None:
        return
    table = ConversationRead.__table__
    statement = insert_for(session)(table).values(
        user_id=user_id,
        conversation_id=conversation_id,
        workspace_id=workspace_id,
        last_read_seq=last,
        read_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["user_id", "conversation_id"],
            set_={"last_read_seq": last, "read_at": now},
            where=table.c.last_read_seq < last,
        )
    )
    await session.commit()


async def unread_by(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    conversation_ids: Sequence[uuid.UUID],
) -> dict[uuid.UUID, int]:
    """The user's unread customer messages in each conversation (absent: none)."""
    counts: dict[uuid.UUID, int] = {}
    wanted = list(dict.fromkeys(conversation_ids))
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        query = (
            select(Message.conversation_id, func.count())
            .outerjoin(
                ConversationRead,
                and_(
                    ConversationRead.conversation_id == Message.conversation_id,
                    ConversationRead.user_id == user_id,
                ),
            )
            .where(
                Message.workspace_id == workspace_id,
                Message.conversation_id.in_(wanted[start : start + LOOKUP_CHUNK]),
                Message.direction == Direction.INBOUND,
                Message.seq > func.coalesce(ConversationRead.last_read_seq, 0),
            )
            .group_by(Message.conversation_id)
        )
        counts.update(
            {conversation_id: count for conversation_id, count in await session.execute(query)}
        )
    return counts
