"""Use cases of teams: groups of agents (sales, support...) that conversations go to.

A user may be in several teams. Every function is scoped by ``workspace_id``: a team or a
user of another workspace is not found. The inbox reads teams through here (assignment,
round robin); ``team.round_robin_last_user_id`` is the inbox's to move
(``inbox.rotation``), under the team row's lock taken by ``do_lock_team``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts.errors import (
    InvalidTeamMemberError,
    InvalidTeamNameError,
    TeamNameTakenError,
    TeamNotFoundError,
)
from ovillo.accounts.models import Team, TeamMember, User

log = structlog.get_logger(__name__)

MAX_NAME_LENGTH = 100


@dataclass(frozen=True, slots=True)
class TeamView:
    team: Team
    members: list[User]


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > MAX_NAME_LENGTH:
        raise InvalidTeamNameError(f"name: {len(cleaned)} characters; a team needs 1 to 100")
    return cleaned


async def get_team(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID
) -> Team | None:
    return await session.scalar(
        select(Team).where(Team.workspace_id == workspace_id, Team.id == team_id)
    )


async def get_team_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID
) -> Team:
    team = await get_team(session=session, workspace_id=workspace_id, team_id=team_id)
    if team is None:
        raise TeamNotFoundError(f"team {team_id} does not exist in this workspace")
    return team


async def do_lock_team(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID
) -> Team | None:
    """The team row, locked until the caller's transaction ends (PostgreSQL; SQLite's one
    writer at a time serialises the callers already). No commit."""
    return await session.scalar(
        select(Team)
        .where(Team.workspace_id == workspace_id, Team.id == team_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def list_teams(*, session: AsyncSession, workspace_id: uuid.UUID) -> list[TeamView]:
    """The workspace's teams by name, each with its members by name."""
    teams = list(
        await session.scalars(
            select(Team).where(Team.workspace_id == workspace_id).order_by(Team.name, Team.id)
        )
    )
    members: dict[uuid.UUID, list[User]] = {team.id: [] for team in teams}
    rows = await session.execute(
        select(TeamMember.team_id, User)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.workspace_id == workspace_id)
        .order_by(User.name, User.id)
    )
    for team_id, user in rows:
        members.setdefault(team_id, []).append(user)
    return [TeamView(team=team, members=members[team.id]) for team in teams]


async def list_member_ids(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID
) -> list[uuid.UUID]:
    """The team's active members' ids, in id order (round robin's rotation order)."""
    result = await session.scalars(
        select(TeamMember.user_id)
        .join(User, User.id == TeamMember.user_id)
        .where(
            TeamMember.workspace_id == workspace_id,
            TeamMember.team_id == team_id,
            User.deactivated_at.is_(None),
        )
        .order_by(TeamMember.user_id)
    )
    return list(result)


def next_in_turn(
    *, members: Iterable[uuid.UUID], online: Collection[uuid.UUID], last: uuid.UUID | None
) -> uuid.UUID | None:
    """Round robin's pick: the first online member after ``last`` in the rotation (members
    by id), wrapping around; ``None`` when no member is online.

    Pure. ``last`` need not be a member any more (they left the team): the turn goes on
    from where they stood, so nobody is skipped or served twice because someone left.
    """
    candidates = sorted(member for member in set(members) if member in online)
    if not candidates:
        return None
    if last is not None:
        for member in candidates:
            if member > last:
                return member
    return candidates[0]


async def do_take_turn(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    team_id: uuid.UUID,
    online: Collection[uuid.UUID],
) -> uuid.UUID | None:
    """The team member whose turn it is among ``online`` (see ``next_in_turn``), recorded as
    the team's last pick; None when nobody is online (the turn stays). No commit.

    The team row is locked first (PostgreSQL): two ingestions opening conversations for the
    team at once take turns one after the other and never pick the same member twice.
    """
    team = await do_lock_team(session=session, workspace_id=workspace_id, team_id=team_id)
    if team is None:
        return None
    members = await list_member_ids(session=session, workspace_id=workspace_id, team_id=team_id)
    chosen = next_in_turn(members=members, online=online, last=team.round_robin_last_user_id)
    if chosen is not None:
        team.round_robin_last_user_id = chosen
    return chosen


async def _save(session: AsyncSession, team: Team, name: str) -> None:
    try:
        async with session.begin_nested():
            team.name = name
            session.add(team)
    except IntegrityError:
        raise TeamNameTakenError(f"name: a team is already called {name!r}", name=name) from None


async def create_team(
    *, session: AsyncSession, workspace_id: uuid.UUID, name: str, now: datetime
) -> Team:
    """A new team; its name is unique in the workspace (409 ``team_name_taken``)."""
    cleaned = _clean_name(name)
    team = Team(workspace_id=workspace_id, created_at=now)
    await _save(session, team, cleaned)
    await session.commit()
    log.info("team_created", team_id=str(team.id))
    return team


async def rename_team(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID, name: str
) -> Team:
    cleaned = _clean_name(name)
    team = await get_team_or_raise(session=session, workspace_id=workspace_id, team_id=team_id)
    if team.name != cleaned:
        await _save(session, team, cleaned)
        await session.commit()
        log.info("team_renamed", team_id=str(team.id))
    return team


async def delete_team(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID
) -> None:
    """Delete the team: its conversations keep their assignee and lose the team, numbers
    that handed conversations to it stop round robin (foreign keys ``SET NULL``)."""
    team = await get_team_or_raise(session=session, workspace_id=workspace_id, team_id=team_id)
    await session.delete(team)
    await session.commit()
    log.info("team_deleted", team_id=str(team_id))


async def add_member(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    now: datetime,
) -> None:
    """Put an active user of the workspace in the team; already in it: nothing changes."""
    await get_team_or_raise(session=session, workspace_id=workspace_id, team_id=team_id)
    user = await session.scalar(
        select(User).where(User.workspace_id == workspace_id, User.id == user_id)
    )
    if user is None or user.deactivated_at is not None:
        raise InvalidTeamMemberError(
            f"user_id: {user_id} is not an active user of this workspace", user_id=str(user_id)
        )
    present = await session.get(TeamMember, (team_id, user_id))
    if present is None:
        session.add(
            TeamMember(team_id=team_id, user_id=user_id, workspace_id=workspace_id, created_at=now)
        )
        await session.commit()
        log.info("team_member_added", team_id=str(team_id), user_id=str(user_id))


async def remove_member(
    *, session: AsyncSession, workspace_id: uuid.UUID, team_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Take the user out of the team (not in it: nothing changes)."""
    await get_team_or_raise(session=session, workspace_id=workspace_id, team_id=team_id)
    await session.execute(
        delete(TeamMember).where(
            TeamMember.workspace_id == workspace_id,
            TeamMember.team_id == team_id,
            TeamMember.user_id == user_id,
        )
    )
    await session.commit()
    log.info("team_member_removed", team_id=str(team_id), user_id=str(user_id))
