"""The worker's periodic chores: what becomes due by time alone, with nobody writing.

Each chore is one statement, idempotent, safe to run from several workers at once (the
worker still runs them under a lease so only one does the work).
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.inbox.models import Conversation, ConversationStatus

__all__ = ["do_wake_snoozed_conversations"]

log = structlog.get_logger(__name__)


async def do_wake_snoozed_conversations(*, session: AsyncSession, now: datetime) -> int:
    """Reopen conversations whose snooze has run out; no commit."""
    result = await session.execute(
        update(Conversation)
        .where(
            Conversation.status == ConversationStatus.SNOOZED,
            Conversation.snoozed_until.is_not(None),
            Conversation.snoozed_until <= now,
        )
        .values(status=ConversationStatus.OPEN, snoozed_until=None)
        .returning(Conversation.id)
        .execution_options(synchronize_session=False)
    )
    woken = [str(conversation_id) for conversation_id in result.scalars()]
    for conversation_id in woken:
        log.info("conversation_unsnoozed", conversation_id=conversation_id)
    return len(woken)
