"""The worker's periodic chores: what becomes due by time alone, with nobody writing.

Each chore is a domain's service function, idempotent, safe to run from several workers at
once (the worker still runs them under a lease so only one does the work).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.inbox import service as inbox_service

__all__ = ["do_wake_snoozed_conversations"]


async def do_wake_snoozed_conversations(*, session: AsyncSession, now: datetime) -> int:
    """Reopen conversations whose snooze has run out; no commit (the inbox's service)."""
    return await inbox_service.do_wake_snoozed_conversations(session=session, now=now)
