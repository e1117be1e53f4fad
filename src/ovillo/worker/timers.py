"""The worker's periodic chores: what becomes due by time alone, with nobody writing.

Each chore is one statement, idempotent, safe to run from several workers at once (the
worker still runs them under a lease so only one does the work).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts.models import IdempotencyRecord
from ovillo.inbox.models import Conversation, ConversationStatus

__all__ = ["IDEMPOTENCY_TTL", "do_prune_idempotency_records", "do_wake_snoozed_conversations"]

log = structlog.get_logger(__name__)

# The REST API honours an Idempotency-Key for 24 hours (issue 5), like Stripe's.
IDEMPOTENCY_TTL = timedelta(hours=24)


async def do_prune_idempotency_records(*, session: AsyncSession, now: datetime) -> int:
    """Forget idempotency answers older than 24 hours; no commit."""
    result = await session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL)
        .returning(IdempotencyRecord.id)
        .execution_options(synchronize_session=False)
    )
    pruned = len(result.all())
    if pruned:
        log.info("idempotency_records_pruned", count=pruned)
    return pruned


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
