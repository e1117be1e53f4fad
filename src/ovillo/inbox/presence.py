"""Who is where in the inbox: agents online, viewing a conversation, typing in it.

Each open inbox page reports every ``HEARTBEAT_SECONDS`` (and at once when the agent starts
or stops typing, opens or leaves a conversation) with ``report_presence``: one ``presence``
row per user, in the database so that every ``serve`` replica reads the same. A row older
than ``ONLINE_FOR`` means nothing (the page was closed without saying so, the laptop slept);
a typing mark older than ``TYPING_FOR`` neither. Nothing sweeps: a stale row is simply not
read, and the next heartbeat overwrites it.

A change a teammate would see (arrived, left, started or stopped typing) is announced as a
``presence_changed`` event; pages redraw their presence line on it, and on their own
heartbeat, so an agent who vanished without a word disappears within a heartbeat of
``ONLINE_FOR``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts.models import User
from ovillo.core.db import insert_for
from ovillo.core.events import publish_on_commit
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import Presence

HEARTBEAT_SECONDS: Final = 10
# Three heartbeats missed: the page is gone.
ONLINE_FOR: Final = timedelta(seconds=30)
# A page says when typing stops; this is for the page that could not say it.
TYPING_FOR: Final = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class PresentAgent:
    user_id: uuid.UUID
    name: str
    typing: bool


def _state(row: Presence | None, now: datetime) -> tuple[uuid.UUID | None, bool, bool]:
    """(conversation, typing, online) as teammates see them at ``now``."""
    if row is None or row.seen_at <= now - ONLINE_FOR:
        return None, False, False
    typing = row.typing_at is not None and row.typing_at > now - TYPING_FOR
    return row.conversation_id, typing, True


def _publish_change(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    on: uuid.UUID | None,
    was_on: uuid.UUID | None,
    typing: bool,
) -> None:
    """Tell the workspace's pages, once committed, which conversation the user is ``on`` now
    (None: a list, or gone) and ``was_on`` before."""
    publish_on_commit(
        session,
        workspace_id=workspace_id,
        kind="presence_changed",
        data={
            "user_id": user_id,
            "conversation_id": on,
            "previous_conversation_id": was_on,
            "typing": typing,
        },
    )


async def report_presence(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    typing: bool,
    now: datetime,
    page_id: str | None = None,
) -> None:
    """The user's page ``page_id`` is open (on ``conversation_id``, or on a list when None),
    typing or not. A conversation of another workspace is not found (404)."""
    if conversation_id is not None:
        await inbox_service.get_conversation_or_raise(
            session=session, workspace_id=workspace_id, conversation_id=conversation_id
        )
    row = await session.get(Presence, user_id)
    before = _state(row, now)
    if row is not None:
        session.expunge(row)  # the upsert below writes it; the copy here would be stale
    values = {
        "workspace_id": workspace_id,
        "conversation_id": conversation_id,
        "seen_at": now,
        "typing_at": now if typing and conversation_id is not None else None,
        "page_id": page_id,
    }
    statement = insert_for(session)(Presence).values(user_id=user_id, **values)
    # Two tabs of one user may report at once: the later write wins, no duplicate row.
    await session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=values))
    after = (conversation_id, typing and conversation_id is not None, True)
    if after != before:
        _publish_change(
            session, workspace_id, user_id, on=conversation_id, was_on=before[0], typing=after[1]
        )
    await session.commit()


async def leave(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    now: datetime,
    page_id: str | None = None,
) -> None:
    """The user's page ``page_id`` on ``conversation_id`` (None: a list) closed or moved
    away: not viewing anything, gone until the next page reports. When the next page
    (navigating within the inbox, even to the same conversation, as a form's post does)
    reported first, its report stands: the goodbye of a page clears only its own row."""
    row = await session.scalar(
        select(Presence).where(Presence.workspace_id == workspace_id, Presence.user_id == user_id)
    )
    if row is None or row.conversation_id != conversation_id:
        return
    if page_id is not None and row.page_id is not None and row.page_id != page_id:
        return
    before = _state(row, now)
    row.conversation_id = None
    row.typing_at = None
    row.seen_at = now - ONLINE_FOR
    if before[2]:
        _publish_change(session, workspace_id, user_id, on=None, was_on=before[0], typing=False)
    await session.commit()


async def list_present(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    now: datetime,
    exclude_user_id: uuid.UUID | None = None,
) -> list[PresentAgent]:
    """The agents viewing the conversation at ``now``, by name, whether typing."""
    query = (
        select(Presence.user_id, User.name, Presence.typing_at)
        .join(User, User.id == Presence.user_id)
        .where(
            Presence.workspace_id == workspace_id,
            Presence.conversation_id == conversation_id,
            Presence.seen_at > now - ONLINE_FOR,
        )
        .order_by(User.name, User.id)
    )
    if exclude_user_id is not None:
        query = query.where(Presence.user_id != exclude_user_id)
    return [
        PresentAgent(
            user_id=user_id,
            name=name,
            typing=typing_at is not None and typing_at > now - TYPING_FOR,
        )
        for user_id, name, typing_at in await session.execute(query)
    ]


async def online_user_ids(
    *, session: AsyncSession, workspace_id: uuid.UUID, now: datetime
) -> set[uuid.UUID]:
    """The workspace's users with an inbox page open at ``now`` (round robin's candidates)."""
    result = await session.scalars(
        select(Presence.user_id).where(
            Presence.workspace_id == workspace_id, Presence.seen_at > now - ONLINE_FOR
        )
    )
    return set(result)
