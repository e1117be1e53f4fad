"""Round robin: a new conversation on a number goes to the next online agent of its team.

A number's ``round_robin_team_id`` (channels) names the team, or is None (off). The first
inbound message of a conversation nobody holds yet puts it in the team and, when one of
the team's members has an inbox page open (``presence``), gives it to the member whose turn
it is (``accounts.teams.do_take_turn``: the rotation lives on the team row, taken under its
lock). Nobody online: it waits in the team, unassigned. Audited for the thread's system
line ("assigned to Ana by round robin").
"""

from __future__ import annotations

import uuid
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts import teams as teams_service
from ovillo.inbox import presence
from ovillo.inbox.models import AuthorType, Conversation, ConversationEvent

log = structlog.get_logger(__name__)

ROUND_ROBIN: str = "round_robin"


async def do_route_new_conversation(
    *, session: AsyncSession, conversation: Conversation, team_id: uuid.UUID, now: datetime
) -> uuid.UUID | None:
    """Put the conversation (held by nobody, no team) in ``team_id`` and give it to the
    next online member; that member's id, or None. The caller holds the conversation's
    row (ingestion locked it) and commits; its live event carries the new assignee."""
    online = await presence.online_user_ids(
        session=session, workspace_id=conversation.workspace_id, now=now
    )
    chosen = await teams_service.do_take_turn(
        session=session, workspace_id=conversation.workspace_id, team_id=team_id, online=online
    )
    if chosen is None and not await teams_service.get_team(
        session=session, workspace_id=conversation.workspace_id, team_id=team_id
    ):
        return None  # deleted meanwhile
    session.add(
        ConversationEvent(
            workspace_id=conversation.workspace_id,
            conversation_id=conversation.id,
            kind="assigned" if chosen is not None else "unassigned",
            actor_type=AuthorType.SYSTEM,
            actor_id=ROUND_ROBIN,
            data={
                "from_user_id": None,
                "to_user_id": str(chosen) if chosen is not None else None,
                "from_team_id": None,
                "to_team_id": str(team_id),
                "round_robin": True,
            },
            created_at=now,
        )
    )
    conversation.team_id = team_id
    conversation.assignee_id = chosen
    log.info(
        "conversation_routed",
        conversation_id=str(conversation.id),
        team_id=str(team_id),
        user_id=str(chosen) if chosen is not None else None,
    )
    return chosen
