"""Use cases of the inbox: conversations and what happens in them.

Functions take the session first and keyword-only arguments; ``check_*`` validate then act,
``do_*`` only act (no commit: the caller's transaction), ``get_*`` return None when absent,
``get_*_or_raise`` raise the domain's not-found error.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.inbox.models import Conversation, ConversationStatus


async def do_get_or_open_conversation(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    contact_id: uuid.UUID,
    now: datetime,
) -> Conversation:
    """The contact's current (not closed) conversation on the channel, or a new open one.

    Does not commit. Callers that may race (two webhooks for one new contact) hold the
    channel's ingestion lease or retry on the unique violation of their own rows.
    """
    current = await session.scalar(
        select(Conversation)
        .where(
            Conversation.workspace_id == workspace_id,
            Conversation.channel_id == channel_id,
            Conversation.contact_id == contact_id,
            Conversation.status != ConversationStatus.CLOSED,
        )
        .order_by(Conversation.created_at.desc())
        .limit(1)
    )
    if current is not None:
        return current
    conversation = Conversation(
        workspace_id=workspace_id,
        channel_id=channel_id,
        contact_id=contact_id,
        status=ConversationStatus.OPEN,
        last_activity_at=now,
        created_at=now,
    )
    session.add(conversation)
    await session.flush()
    return conversation
