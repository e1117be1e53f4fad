"""``/campaigns``: create, read and steer campaigns; their recipients, paged."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from ovillo.campaigns import service
from ovillo.campaigns.models import Campaign
from ovillo.campaigns.schemas import (
    CampaignCreate,
    CampaignList,
    CampaignOut,
    RecipientOut,
    RecipientPage,
)
from ovillo.core.auth import ApiContext, api_problem_responses
from ovillo.core.deps import ClockDep, SessionDep

router = APIRouter(tags=["campaigns"])


async def _out(session: SessionDep, campaign: Campaign) -> CampaignOut:
    counts = await service.campaign_counts(session=session, campaign_ids=[campaign.id])
    return CampaignOut.of(campaign, counts[campaign.id])


@router.post(
    "/campaigns",
    status_code=status.HTTP_201_CREATED,
    summary="Create a campaign (a draft)",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409, 422),
)
async def create_campaign(
    body: CampaignCreate, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    """The template must be approved (422 `template_not_sendable` with Meta's reason) and
    every variable given (422 `campaign_invalid` naming each). Nothing is sent until
    `POST /campaigns/{id}/launch`."""
    campaign = await service.create_campaign(
        session=session, workspace_id=context.workspace_id, body=body, now=clock.now()
    )
    return await _out(session, campaign)


@router.get(
    "/campaigns",
    summary="List the workspace's campaigns, newest first",
    response_model=CampaignList,
    responses=api_problem_responses(),
)
async def list_campaigns(
    context: ApiContext,
    session: SessionDep,
    state: str | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> CampaignList:
    """`state` filters (comma-separated: draft, scheduled, running, paused...)."""
    campaigns = await service.list_campaigns(
        session=session, workspace_id=context.workspace_id, state=state, limit=limit
    )
    counts = await service.campaign_counts(
        session=session, campaign_ids=[campaign.id for campaign in campaigns]
    )
    return CampaignList(data=[CampaignOut.of(c, counts[c.id]) for c in campaigns])


@router.get(
    "/campaigns/{campaign_id}",
    summary="A campaign, with its recipients counted by state",
    response_model=CampaignOut,
    responses=api_problem_responses(404),
)
async def get_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> CampaignOut:
    campaign = await service.get_campaign_or_raise(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id
    )
    return await _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/launch",
    summary="Launch a draft: now, or at its start time",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409, 422),
)
async def launch_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    campaign = await service.launch_campaign(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id,
        now=clock.now(),
    )  # fmt: skip
    return await _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/pause",
    summary="Pause a scheduled or running campaign",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409),
)
async def pause_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    campaign = await service.pause_campaign(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id,
        now=clock.now(),
    )  # fmt: skip
    return await _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/resume",
    summary="Resume a paused campaign",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409),
)
async def resume_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    campaign = await service.resume_campaign(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id,
        now=clock.now(),
    )  # fmt: skip
    return await _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    summary="Cancel a campaign; recipients not sent yet are skipped",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409),
)
async def cancel_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    campaign = await service.cancel_campaign(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id,
        now=clock.now(),
    )  # fmt: skip
    return await _out(session, campaign)


@router.get(
    "/campaigns/{campaign_id}/recipients",
    summary="The campaign's recipients and what became of each, paged",
    response_model=RecipientPage,
    responses=api_problem_responses(404, 422),
)
async def list_recipients(
    campaign_id: uuid.UUID,
    context: ApiContext,
    session: SessionDep,
    state: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> RecipientPage:
    """`state` filters (pending, queued, sent, failed, skipped; comma-separated); pass
    `next_cursor` as `cursor` for the next page."""
    rows, next_cursor = await service.list_recipients(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id,
        state=state, cursor=cursor, limit=limit,
    )  # fmt: skip
    return RecipientPage(
        data=[RecipientOut.of(row, status) for row, status in rows], next_cursor=next_cursor
    )
