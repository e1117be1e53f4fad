"""``/teams``: the workspace's teams and their members, as the settings page edits them
(``accounts.teams``); the same errors (404 ``team_not_found``, 409 ``team_name_taken``,
422 ``invalid_team_name`` / ``invalid_team_member``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from ovillo.accounts import teams
from ovillo.accounts.models import User
from ovillo.core.auth import ApiContext, api_problem_responses
from ovillo.core.deps import ClockDep, SessionDep

router = APIRouter(tags=["teams"])


class TeamMemberOut(BaseModel):
    id: uuid.UUID
    name: str


class TeamOut(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    members: list[TeamMemberOut] = Field(description="By name.")

    @classmethod
    def of(cls, view: teams.TeamView) -> TeamOut:
        return cls(
            id=view.team.id,
            name=view.team.name,
            created_at=view.team.created_at,
            members=[_member(user) for user in view.members],
        )


class TeamList(BaseModel):
    data: list[TeamOut]


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1 to 100 characters, unique in the workspace.",
                      examples=["Ventas"])  # fmt: skip


def _member(user: User) -> TeamMemberOut:
    return TeamMemberOut(id=user.id, name=user.name)


async def _view(session: SessionDep, workspace_id: uuid.UUID, team_id: uuid.UUID) -> TeamOut:
    team = await teams.get_team_or_raise(
        session=session, workspace_id=workspace_id, team_id=team_id
    )
    views = await teams.list_teams(session=session, workspace_id=workspace_id)
    return next(TeamOut.of(view) for view in views if view.team.id == team.id)


@router.get(
    "/teams",
    summary="List the workspace's teams",
    response_model=TeamList,
    responses=api_problem_responses(),
)
async def list_teams(context: ApiContext, session: SessionDep) -> TeamList:
    """Every team, by name, with its members."""
    views = await teams.list_teams(session=session, workspace_id=context.workspace_id)
    return TeamList(data=[TeamOut.of(view) for view in views])


@router.post(
    "/teams",
    status_code=status.HTTP_201_CREATED,
    summary="Create a team",
    response_model=TeamOut,
    responses=api_problem_responses(409, 422),
)
async def create_team(
    body: TeamCreate, context: ApiContext, session: SessionDep, clock: ClockDep
) -> TeamOut:
    """A new team without members; its name is unique in the workspace."""
    team = await teams.create_team(
        session=session, workspace_id=context.workspace_id, name=body.name, now=clock.now()
    )
    return TeamOut(id=team.id, name=team.name, created_at=team.created_at, members=[])


@router.get(
    "/teams/{team_id}",
    summary="Get a team",
    response_model=TeamOut,
    responses=api_problem_responses(404, 422),
)
async def get_team(team_id: uuid.UUID, context: ApiContext, session: SessionDep) -> TeamOut:
    return await _view(session, context.workspace_id, team_id)


@router.put(
    "/teams/{team_id}/members/{user_id}",
    summary="Put a user in a team",
    response_model=TeamOut,
    responses=api_problem_responses(404, 422),
)
async def add_member(
    team_id: uuid.UUID, user_id: uuid.UUID, context: ApiContext, session: SessionDep,
    clock: ClockDep,
) -> TeamOut:  # fmt: skip
    """An active user of the workspace; already in the team: nothing changes."""
    await teams.add_member(
        session=session, workspace_id=context.workspace_id, team_id=team_id, user_id=user_id,
        now=clock.now(),
    )  # fmt: skip
    return await _view(session, context.workspace_id, team_id)


@router.delete(
    "/teams/{team_id}/members/{user_id}",
    summary="Take a user out of a team",
    response_model=TeamOut,
    responses=api_problem_responses(404, 422),
)
async def remove_member(
    team_id: uuid.UUID, user_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> TeamOut:
    """Not in the team: nothing changes."""
    await teams.remove_member(
        session=session, workspace_id=context.workspace_id, team_id=team_id, user_id=user_id
    )
    return await _view(session, context.workspace_id, team_id)
