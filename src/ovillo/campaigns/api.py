"""``/campaigns``: create, read and steer campaigns; their recipients, paged."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Query, status
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.campaigns import funnel, service
from ovillo.campaigns.models import Campaign
from ovillo.campaigns.schemas import (
    CampaignCreate,
    CampaignEstimateOut,
    CampaignList,
    CampaignOut,
    FailureOut,
    FunnelOut,
    HourOut,
    RecipientOut,
    RecipientPage,
)
from ovillo.core.auth import ApiContext, api_context, api_problem_responses, bearer_scheme
from ovillo.core.deps import ClockDep, RuntimeDep, SessionDep
from ovillo.core.downloads import csv_download
from ovillo.core.paging import Cursor

router = APIRouter(tags=["campaigns"])


async def _out(session: SessionDep, campaign: Campaign) -> CampaignOut:
    counts = await service.campaign_counts(session=session, campaign_ids=[campaign.id])
    return CampaignOut.of(campaign, counts[campaign.id])


class _Steer(Protocol):
    """A use case that moves a campaign from one state to another."""

    def __call__(
        self,
        *,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        campaign_id: uuid.UUID,
        now: datetime,
    ) -> Awaitable[Campaign]: ...


async def _steer(
    change: _Steer,
    campaign_id: uuid.UUID,
    context: ApiContext,
    session: SessionDep,
    clock: ClockDep,
) -> CampaignOut:
    """Launch, pause, resume or cancel (``change``) the campaign, and show it."""
    campaign = await change(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id,
        now=clock.now(),
    )  # fmt: skip
    return await _out(session, campaign)


def _estimate_out(found: service.CampaignEstimate) -> CampaignEstimateOut:
    return CampaignEstimateOut.of(
        found.estimate,
        excluded_opted_out=found.excluded_opted_out,
        excluded_not_on_whatsapp=found.excluded_not_on_whatsapp,
    )


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


@router.post(
    "/campaigns/estimate",
    summary="Estimate a campaign before creating it",
    response_model=CampaignEstimateOut,
    responses=api_problem_responses(404, 422),
)
async def estimate_new_campaign(
    body: CampaignCreate, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignEstimateOut:
    """The same body as `POST /campaigns`; nothing is stored."""
    found = await service.estimate_new_campaign(
        session=session, workspace_id=context.workspace_id, body=body, now=clock.now()
    )
    return _estimate_out(found)


@router.get(
    "/campaigns/{campaign_id}/estimate",
    summary="Estimate a campaign, its audience counted now",
    response_model=CampaignEstimateOut,
    responses=api_problem_responses(404, 422),
)
async def estimate_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignEstimateOut:
    found = await service.estimate_campaign(
        session=session,
        workspace_id=context.workspace_id,
        campaign_id=campaign_id,
        now=clock.now(),
    )
    return _estimate_out(found)


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
    return CampaignList(data=[CampaignOut.of(c, counts[c.id]) for c in campaigns], next_cursor=None)


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
    return await _steer(service.launch_campaign, campaign_id, context, session, clock)


@router.post(
    "/campaigns/{campaign_id}/pause",
    summary="Pause a scheduled or running campaign",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409),
)
async def pause_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    return await _steer(service.pause_campaign, campaign_id, context, session, clock)


@router.post(
    "/campaigns/{campaign_id}/resume",
    summary="Resume a paused campaign",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409),
)
async def resume_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    return await _steer(service.resume_campaign, campaign_id, context, session, clock)


@router.post(
    "/campaigns/{campaign_id}/cancel",
    summary="Cancel a campaign; recipients not sent yet are skipped",
    response_model=CampaignOut,
    responses=api_problem_responses(404, 409),
)
async def cancel_campaign(
    campaign_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> CampaignOut:
    return await _steer(service.cancel_campaign, campaign_id, context, session, clock)


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
    cursor: Cursor = None,
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


@router.get(
    "/campaigns/{campaign_id}/funnel",
    summary="The campaign's funnel, cost and counts per hour",
    response_model=FunnelOut,
    responses=api_problem_responses(404, 422),
)
async def get_funnel(campaign_id: uuid.UUID, context: ApiContext, session: SessionDep) -> FunnelOut:
    found = await funnel.check_funnel(
        session=session, workspace_id=context.workspace_id, campaign_id=campaign_id
    )
    return FunnelOut(
        counts=found.counts,
        replied=found.replied,
        clicked=found.clicked,
        opted_out=found.opted_out,
        failures=[FailureOut(code=f.code, title=f.title, count=f.count) for f in found.failures],
        cost=found.cost,
        charged_messages=found.charged_messages,
        currency=found.currency,
        hours=[
            HourOut(hour=h.hour, sent=h.sent, delivered=h.delivered, read=h.read)
            for h in found.hours
        ],
    )


@router.get(
    "/campaigns/{campaign_id}/recipients.csv",
    summary="Download the campaign's recipients with their outcome",
    response_class=StreamingResponse,
    responses={
        **api_problem_responses(404, 422),
        200: {"content": {"text/csv": {}}, "description": "One row per recipient."},
    },
)
async def export_recipients(
    campaign_id: uuid.UUID,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> StreamingResponse:
    """CSV, streamed: contact, phone, name, country, state, message status, error code and
    title, queued/sent/delivered/read times, replied."""
    # Checked in a session closed before streaming: each page reads in a session of its own.
    async with runtime.sessionmaker() as session:
        context = await api_context(session, runtime.clock, credentials)
        campaign = await service.get_campaign_or_raise(
            session=session, workspace_id=context.workspace_id, campaign_id=campaign_id
        )
    return csv_download(
        funnel.recipients_csv(sessionmaker=runtime.sessionmaker, campaign=campaign),
        filename=f"campaign-{campaign.id}.csv",
    )
