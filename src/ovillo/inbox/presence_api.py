"""``/presence``: who of the workspace has an inbox page open now (``inbox.presence``: seen
within ``ONLINE_FOR``), as the teams page and round robin see it."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from ovillo.accounts.models import User
from ovillo.core.auth import ApiContext, api_problem_responses
from ovillo.core.deps import ClockDep, SessionDep
from ovillo.inbox import presence

router = APIRouter(tags=["inbox"])


class OnlineUser(BaseModel):
    id: uuid.UUID
    name: str


class PresenceOut(BaseModel):
    at: datetime = Field(description="The moment this answer describes.")
    online: list[OnlineUser] = Field(description="By name.")


@router.get(
    "/presence",
    summary="Who is online",
    response_model=PresenceOut,
    responses=api_problem_responses(),
)
async def get_presence(context: ApiContext, session: SessionDep, clock: ClockDep) -> PresenceOut:
    """The workspace's users with an inbox page open: a page reports itself every few
    seconds, and a user not heard from for 30 seconds is offline."""
    now = clock.now()
    ids = await presence.online_user_ids(
        session=session, workspace_id=context.workspace_id, now=now
    )
    users = list(
        await session.execute(
            select(User.id, User.name)
            .where(User.workspace_id == context.workspace_id, User.id.in_(ids))
            .order_by(User.name, User.id)
        )
    )
    return PresenceOut(at=now, online=[OnlineUser(id=i, name=name) for i, name in users])
