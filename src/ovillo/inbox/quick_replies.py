"""Quick replies: a workspace's saved answers, typed into the composer as ``/thanks``.

Owners and admins keep them (``/settings/quick-replies``); every agent inserts them. A body
may name the contact as templates do, ``{{contact.first_name|there}}``, filled for the
conversation's contact when the composer offers it (``fill_for_contact``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Final

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.inbox.errors import (
    InvalidQuickReplyError,
    QuickReplyNotFoundError,
    QuickReplyShortcutTakenError,
)
from ovillo.inbox.models import QuickReply
from ovillo.templates import variables as template_values

log = structlog.get_logger(__name__)

SHORTCUT: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_BODY: Final = 4096  # a text message's body (Meta's limit)
MAX_QUICK_REPLIES: Final = 500


def clean_shortcut(shortcut: str) -> str:
    """The shortcut as stored: without its leading ``/``, lower-case; 422 when it cannot be
    typed after ``/`` (letters, digits, ``_`` and ``-``, up to 32)."""
    cleaned = shortcut.strip().removeprefix("/").lower()
    if SHORTCUT.fullmatch(cleaned) is None:
        raise InvalidQuickReplyError(
            "a shortcut is 1 to 32 letters, digits, '_' or '-', starting with a letter or digit",
            field="shortcut",
        )
    return cleaned


def _clean_body(body: str) -> str:
    cleaned = body.strip()
    if not cleaned or len(cleaned) > MAX_BODY:
        raise InvalidQuickReplyError(
            f"the text of a quick reply is 1 to {MAX_BODY} characters", field="body"
        )
    return cleaned


async def list_quick_replies(*, session: AsyncSession, workspace_id: uuid.UUID) -> list[QuickReply]:
    """The workspace's quick replies by shortcut."""
    found = await session.scalars(
        select(QuickReply)
        .where(QuickReply.workspace_id == workspace_id)
        .order_by(QuickReply.shortcut)
        .limit(MAX_QUICK_REPLIES)
    )
    return list(found)


async def get_quick_reply_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, quick_reply_id: uuid.UUID
) -> QuickReply:
    found = await session.scalar(
        select(QuickReply).where(
            QuickReply.workspace_id == workspace_id, QuickReply.id == quick_reply_id
        )
    )
    if found is None:
        raise QuickReplyNotFoundError(f"quick reply {quick_reply_id} does not exist here")
    return found


async def get_by_shortcut(
    *, session: AsyncSession, workspace_id: uuid.UUID, shortcut: str
) -> QuickReply | None:
    """The quick reply typed as ``/shortcut``, or None."""
    return await session.scalar(
        select(QuickReply).where(
            QuickReply.workspace_id == workspace_id,
            QuickReply.shortcut == shortcut.strip().removeprefix("/").lower(),
        )
    )


async def _commit_or_taken(session: AsyncSession, shortcut: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise QuickReplyShortcutTakenError(
            f"/{shortcut} is already a quick reply; choose another shortcut", shortcut=shortcut
        ) from None


async def check_create_quick_reply(
    *, session: AsyncSession, workspace_id: uuid.UUID, shortcut: str, body: str, now: datetime
) -> QuickReply:
    """Check the shortcut and text (422), then save; 409 when the shortcut is taken."""
    reply = QuickReply(
        workspace_id=workspace_id,
        shortcut=clean_shortcut(shortcut),
        body=_clean_body(body),
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    await _commit_or_taken(session, reply.shortcut)
    log.info("quick_reply_created", quick_reply_id=str(reply.id), shortcut=reply.shortcut)
    return reply


async def check_update_quick_reply(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    quick_reply_id: uuid.UUID,
    shortcut: str,
    body: str,
    now: datetime,
) -> QuickReply:
    """Change a quick reply's shortcut and text; checked as on creation."""
    cleaned_shortcut, cleaned_body = clean_shortcut(shortcut), _clean_body(body)
    reply = await get_quick_reply_or_raise(
        session=session, workspace_id=workspace_id, quick_reply_id=quick_reply_id
    )
    reply.shortcut, reply.body, reply.updated_at = cleaned_shortcut, cleaned_body, now
    await _commit_or_taken(session, cleaned_shortcut)
    log.info("quick_reply_updated", quick_reply_id=str(reply.id), shortcut=reply.shortcut)
    return reply


async def delete_quick_reply(
    *, session: AsyncSession, workspace_id: uuid.UUID, quick_reply_id: uuid.UUID
) -> None:
    reply = await get_quick_reply_or_raise(
        session=session, workspace_id=workspace_id, quick_reply_id=quick_reply_id
    )
    await session.delete(reply)
    await session.commit()
    log.info("quick_reply_deleted", quick_reply_id=str(quick_reply_id))


def fill_for_contact(body: str, fields: Mapping[str, str]) -> str:
    """``body`` with its ``{{contact.X|fallback}}`` filled from the contact's ``fields``
    (``templates.variables.contact_fields``); a reference without a value is left empty."""
    filled, _ = template_values.fill_value(body, fields)
    return filled
