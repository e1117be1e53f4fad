"""Campaigns' use cases: create, read, launch, pause, resume, cancel.

The sending itself is the worker's (``campaigns.dispatch``): launch only moves the campaign
to ``scheduled`` or ``running``; the dispatcher writes the audience's recipient rows in
batches and hands them to the number's outbox. Every change is told to open pages after
commit (``campaign_updated`` on the live bus).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts import service as accounts_service
from ovillo.campaigns import estimate as estimate_rules
from ovillo.campaigns.errors import (
    CampaignInvalidError,
    CampaignNotFoundError,
    CampaignStateError,
)
from ovillo.campaigns.models import Campaign, CampaignRecipient, CampaignState, RecipientState
from ovillo.campaigns.schemas import CampaignCounts, CampaignCreate, SendWindow
from ovillo.channels import service as channels_service
from ovillo.contacts import segments
from ovillo.core import paging
from ovillo.core.events import publish_on_commit
from ovillo.core.notify import notify
from ovillo.inbox import outbox

# Read only, for the funnel: a campaign's messages' statuses, joined where they are.
from ovillo.inbox.models import Message
from ovillo.rules import limits
from ovillo.templates import service as templates_service
from ovillo.templates import variables as template_variables
from ovillo.templates.errors import TemplateNotFoundError
from ovillo.templates.models import Template

log = structlog.get_logger(__name__)

# States in which a campaign still has work ahead of it.
ACTIVE_STATES = frozenset({CampaignState.SCHEDULED, CampaignState.RUNNING})
FINISHED_STATES = frozenset(
    {CampaignState.CANCELLED, CampaignState.COMPLETED, CampaignState.STOPPED}
)


def _violation(field: str, code: str, message: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": message}


class _AnyField(Mapping[str, str]):
    """Contact fields for a dry run: every field has a value, so only what no contact
    could fill (a variable without a value) is reported."""

    def __getitem__(self, key: str) -> str:
        return "x"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def check_variables(
    template: Template, *, values: Mapping[str, str], header_media: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """What the campaign's values leave unfilled in the template (pure)."""
    filled = {
        key: template_variables.fill_value(value, _AnyField())[0] for key, value in values.items()
    }
    _, problems = template_variables.send_components(
        template_components=template.components,
        parameter_format=template.parameter_format,
        values=filled,
        header_media=header_media
        or ({"id": template.header_media_id} if template.header_media_id else None),
        link_codes={int(index): "x" for index in template.tracked_buttons},
    )
    return [_violation(problem.field, "variable_missing", problem.message) for problem in problems]


def local_start(value: datetime, timezone: str) -> datetime:
    """``value`` as an aware time: a naive one is read in the workspace's time zone."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return value.replace(tzinfo=zone)


async def _campaign_template(
    *, session: AsyncSession, workspace_id: uuid.UUID, body: CampaignCreate, channel_id: uuid.UUID
) -> Template:
    if body.template_id is not None:
        return await templates_service.get_template_or_raise(
            session=session, workspace_id=workspace_id, template_id=body.template_id
        )
    if not body.template_name or not body.template_language:
        raise CampaignInvalidError(
            "give template_id, or template_name and template_language",
            violations=[
                _violation("template_id", "template_missing", "Name the template to send.")
            ],
        )
    found, _ = await templates_service.list_templates(
        session=session,
        workspace_id=workspace_id,
        channel_id=channel_id,
        language=body.template_language,
        name=body.template_name,
    )
    for template in found:
        if template.name == body.template_name.lower():
            return template
    raise TemplateNotFoundError(
        f"template_name: no template {body.template_name!r} in {body.template_language!r} on "
        "this number's account; create it (POST /api/v1/templates) or sync it first"
    )


async def create_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, body: CampaignCreate, now: datetime
) -> Campaign:
    """Check a campaign and store it as a draft; commits.

    The number must be connected, the template approved (422 ``template_not_sendable``
    with Meta's reason otherwise) and every variable given a value (422
    ``campaign_invalid`` naming each).
    """
    from ovillo.campaigns import audience

    channel = await channels_service.get_connected_channel_or_raise(
        session=session,
        workspace_id=workspace_id,
        channel_id=body.number_id,
        again="with POST /api/v1/numbers to send from it",
    )
    template = await _campaign_template(
        session=session, workspace_id=workspace_id, body=body, channel_id=channel.id
    )
    if template.waba_id != channel.waba_id:
        raise CampaignInvalidError(
            "template_id: the template belongs to another account than the number's",
            violations=[
                _violation("template_id", "template_other_account",
                           "Pick a template of the sending number's account.")
            ],
        )  # fmt: skip
    templates_service.check_sendable(template)
    violations = check_variables(template, values=body.variables, header_media=body.header_media)
    violations += audience.check_audience(body.audience)
    window = body.send_window
    if window is not None and SendWindow.minutes(window.start) >= SendWindow.minutes(window.end):
        violations.append(
            _violation("send_window", "send_window_empty",
                       "The window's start must come before its end, within one day.")
        )  # fmt: skip
    if violations:
        raise CampaignInvalidError(
            "; ".join(f"{v['field']}: {v['message']}" for v in violations),
            violations=violations,
        )
    workspace = await accounts_service.get_workspace_or_raise(
        session=session, workspace_id=workspace_id
    )
    campaign = Campaign(
        workspace_id=workspace_id,
        name=body.name.strip(),
        channel_id=channel.id,
        template_id=template.id,
        template_name=template.name,
        template_language=template.language,
        variables=dict(body.variables),
        header_media=body.header_media,
        track_links=body.track_links,
        audience=dict(body.audience),
        starts_at=local_start(body.starts_at, workspace.timezone) if body.starts_at else None,
        window_start_minute=SendWindow.minutes(window.start) if window else None,
        window_end_minute=SendWindow.minutes(window.end) if window else None,
        state=CampaignState.DRAFT,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    await session.flush()
    announce(session, campaign)
    await session.commit()
    log.info("campaign_created", campaign_id=str(campaign.id), template=template.name)
    return campaign


def announce(session: AsyncSession, campaign: Campaign) -> None:
    """Tell open pages the campaign changed, when the transaction commits."""
    publish_on_commit(
        session,
        workspace_id=campaign.workspace_id,
        kind="campaign_updated",
        data={
            "campaign_id": campaign.id,
            "state": campaign.state,
            "state_reason": campaign.state_reason,
            "waiting_until": campaign.waiting_until,
            "recipient_count": campaign.recipient_count,
        },
    )


async def get_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign | None:
    return await session.scalar(
        select(Campaign).where(Campaign.workspace_id == workspace_id, Campaign.id == campaign_id)
    )


async def get_campaign_names(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The names of the workspace's campaigns among ``campaign_ids`` (others are left out),
    for pages that name the campaign a message came from or answers."""
    wanted = set(campaign_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Campaign.id, Campaign.name).where(
            Campaign.workspace_id == workspace_id, Campaign.id.in_(wanted)
        )
    )
    return {campaign_id: name for campaign_id, name in rows}


async def get_campaign_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    campaign = await get_campaign(
        session=session, workspace_id=workspace_id, campaign_id=campaign_id
    )
    if campaign is None:
        raise CampaignNotFoundError(f"campaign {campaign_id} does not exist in this workspace")
    return campaign


async def list_campaigns(
    *, session: AsyncSession, workspace_id: uuid.UUID, state: str | None = None, limit: int = 100
) -> list[Campaign]:
    """The workspace's campaigns, newest first."""
    query = select(Campaign).where(Campaign.workspace_id == workspace_id)
    if state is not None:
        query = query.where(Campaign.state.in_([s.strip() for s in state.split(",")]))
    return list(
        await session.scalars(query.order_by(Campaign.created_at.desc(), Campaign.id).limit(limit))
    )


async def campaign_counts(
    *, session: AsyncSession, campaign_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, CampaignCounts]:
    """Each campaign's recipients by state, and of the sent ones how many were delivered
    and read (their messages' statuses, read when asked: nothing to keep in step)."""
    counts = {campaign_id: CampaignCounts() for campaign_id in campaign_ids}
    if not campaign_ids:
        return counts
    rows = await session.execute(
        select(CampaignRecipient.campaign_id, CampaignRecipient.state, func.count())
        .where(CampaignRecipient.campaign_id.in_(list(campaign_ids)))
        .group_by(CampaignRecipient.campaign_id, CampaignRecipient.state)
    )
    for campaign_id, state, count in rows:
        found = counts[campaign_id]
        found.targeted += count
        if state in (RecipientState.PENDING, RecipientState.CLAIMED):
            found.pending += count
        elif hasattr(found, state):
            setattr(found, state, getattr(found, state) + count)
    delivered = await session.execute(
        select(
            CampaignRecipient.campaign_id,
            func.count(Message.delivered_at),
            func.count(Message.read_at),
        )
        .join(Message, Message.id == CampaignRecipient.message_id)
        .where(
            CampaignRecipient.campaign_id.in_(list(campaign_ids)),
            CampaignRecipient.state == RecipientState.SENT,
        )
        .group_by(CampaignRecipient.campaign_id)
    )
    for campaign_id, delivered_count, read_count in delivered:
        counts[campaign_id].delivered = delivered_count
        counts[campaign_id].read = read_count
    return counts


# --- Launch, pause, resume, cancel -----------------------------------------------------------

CAMPAIGNS_TOPIC = "campaigns"


def _refuse(campaign: Campaign, action: str, allowed: str) -> CampaignStateError:
    return CampaignStateError(
        f"campaign {campaign.id} is {campaign.state}; {action} applies to {allowed} campaigns",
        state=campaign.state,
        action=action,
    )


async def _locked(
    session: AsyncSession, *, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> Campaign:
    campaign = await session.scalar(
        select(Campaign)
        .where(Campaign.workspace_id == workspace_id, Campaign.id == campaign_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if campaign is None:
        raise CampaignNotFoundError(f"campaign {campaign_id} does not exist in this workspace")
    return campaign


async def _changed(
    session: AsyncSession, campaign: Campaign, event: str, now: datetime
) -> Campaign:
    campaign.updated_at = now
    announce(session, campaign)
    await notify(session, CAMPAIGNS_TOPIC)
    await session.commit()
    log.info(event, campaign_id=str(campaign.id), state=campaign.state)
    return campaign


async def launch_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    """Start a draft: ``scheduled`` until its start time, then ``running``; commits.

    The template is checked again (it may have been paused since). The worker writes the
    audience's recipients in batches and sends (``campaigns.dispatch``).
    """
    campaign = await _locked(session, workspace_id=workspace_id, campaign_id=campaign_id)
    if campaign.state != CampaignState.DRAFT:
        raise _refuse(campaign, "launch", "draft")
    template = await templates_service.get_template_or_raise(
        session=session, workspace_id=workspace_id, template_id=campaign.template_id
    )
    templates_service.check_sendable(template)
    campaign.launched_at = now
    future = campaign.starts_at is not None and campaign.starts_at > now
    campaign.state = CampaignState.SCHEDULED if future else CampaignState.RUNNING
    return await _changed(session, campaign, "campaign_launched", now)


async def pause_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    """Hold a scheduled or running campaign; commits. Nothing more is handed to the
    number; the few seconds' worth already in its outbox still leave."""
    campaign = await _locked(session, workspace_id=workspace_id, campaign_id=campaign_id)
    if campaign.state not in ACTIVE_STATES:
        raise _refuse(campaign, "pause", "scheduled or running")
    campaign.state = CampaignState.PAUSED
    return await _changed(session, campaign, "campaign_paused", now)


async def resume_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    """Go on with a paused campaign (scheduled again if its start is still ahead); commits."""
    campaign = await _locked(session, workspace_id=workspace_id, campaign_id=campaign_id)
    if campaign.state != CampaignState.PAUSED:
        raise _refuse(campaign, "resume", "paused")
    future = campaign.starts_at is not None and campaign.starts_at > now
    campaign.state = CampaignState.SCHEDULED if future else CampaignState.RUNNING
    campaign.waiting_until = None
    campaign.waiting_reason = None
    return await _changed(session, campaign, "campaign_resumed", now)


async def cancel_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime
) -> Campaign:
    """Cancel for good; commits. Recipients not handed to the number yet are ``skipped``;
    those whose message is still waiting in the outbox (not claimed by the pipeline) are
    withdrawn from it and skipped too; the ones already on their way stay as they are."""
    campaign = await _locked(session, workspace_id=workspace_id, campaign_id=campaign_id)
    if campaign.state in FINISHED_STATES:
        raise _refuse(campaign, "cancel", "draft, scheduled, running or paused")
    campaign.state = CampaignState.CANCELLED
    campaign.state_reason = "Cancelled."
    campaign.finished_at = now
    campaign.waiting_until = None
    campaign.waiting_reason = None
    await do_skip_unsent(session=session, campaign=campaign, reason="Campaign cancelled.", now=now)
    return await _changed(session, campaign, "campaign_cancelled", now)


async def do_skip_unsent(
    *, session: AsyncSession, campaign: Campaign, reason: str, now: datetime
) -> int:
    """Skip the campaign's recipients that have not left: pending ones, and queued ones
    whose message the pipeline has not claimed (withdrawn from the outbox); no commit."""
    skipped = await session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state.in_([RecipientState.PENDING, RecipientState.CLAIMED]),
        )
        .values(state=RecipientState.SKIPPED, error_reason=reason, finished_at=now)
        .execution_options(synchronize_session=False)
    )
    count = int(skipped.rowcount or 0)  # type: ignore[attr-defined]
    last_id = 0
    while True:
        rows = (
            await session.execute(
                select(CampaignRecipient.id, CampaignRecipient.message_id)
                .where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.state == RecipientState.QUEUED,
                    CampaignRecipient.id > last_id,
                )
                .order_by(CampaignRecipient.id)
                .limit(_CHUNK)
            )
        ).all()
        if not rows:
            break
        last_id = rows[-1][0]
        by_message = {message_id: row_id for row_id, message_id in rows if message_id}
        withdrawn = await outbox.do_withdraw_queued(session=session, message_ids=list(by_message))
        if withdrawn:
            await session.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id.in_([by_message[m] for m in withdrawn]))
                .values(
                    state=RecipientState.SKIPPED,
                    message_id=None,
                    error_reason=reason,
                    finished_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            count += len(withdrawn)
    return count


_CHUNK = 1000


# --- Recipients ------------------------------------------------------------------------------


def encode_recipient_cursor(last_id: int) -> str:
    return paging.encode_cursor(f"r1:{last_id}")


def decode_recipient_cursor(cursor: str) -> int:
    try:
        return int(paging.decode_cursor(cursor, prefix="r1:") or "")
    except ValueError:
        raise CampaignInvalidError(
            "cursor: not a cursor of this list; pass next_cursor as it came",
            violations=[_violation("cursor", "cursor_invalid", "Not a cursor of this list.")],
        ) from None


async def list_recipients(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    state: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[tuple[CampaignRecipient, str | None]], str | None]:
    """A page of the campaign's recipients in order, each with its message's status, and
    the cursor of the next page (None at the end)."""
    await get_campaign_or_raise(session=session, workspace_id=workspace_id, campaign_id=campaign_id)
    query = (
        select(CampaignRecipient, Message.status)
        .outerjoin(Message, Message.id == CampaignRecipient.message_id)
        .where(CampaignRecipient.campaign_id == campaign_id)
    )
    if state is not None:
        query = query.where(CampaignRecipient.state.in_([s.strip() for s in state.split(",")]))
    if cursor is not None:
        query = query.where(CampaignRecipient.id > decode_recipient_cursor(cursor))
    rows: list[tuple[CampaignRecipient, str | None]] = [
        (row, status)
        for row, status in (
            await session.execute(query.order_by(CampaignRecipient.id).limit(limit + 1))
        )
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, encode_recipient_cursor(rows[-1][0].id) if more and rows else None


# --- Estimate --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignEstimate:
    """The estimate of a campaign and who its audience leaves out."""

    estimate: estimate_rules.Estimate
    excluded_opted_out: int
    excluded_not_on_whatsapp: int


async def _estimate(
    session: AsyncSession,
    *,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    template: Template,
    audience_filter: dict[str, Any],
    window: tuple[int, int] | None,
    starts_at: datetime | None,
    now: datetime,
) -> CampaignEstimate:
    from ovillo.campaigns import audience

    channel = await channels_service.get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    counted = await segments.count_segment(
        session=session,
        workspace_id=workspace_id,
        spec=audience.segment_filter(audience_filter),
        now=now,
    )
    tier = limits.tier_or_none(channel.messaging_limit_tier)
    result = estimate_rules.estimate(
        recipients_by_country=counted.by_country,
        category=template.category,
        template_status=template.status,
        send_date=max(starts_at or now, now).astimezone(UTC).date(),
        tier=tier,
        throughput_mps=max(1, channel.throughput_mps),
        quality=channel.quality_rating,
        window_minutes=window[1] - window[0] if window is not None else None,
    )
    return CampaignEstimate(
        estimate=result,
        excluded_opted_out=counted.excluded_opted_out,
        excluded_not_on_whatsapp=counted.excluded_not_on_whatsapp,
    )


async def estimate_new_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, body: CampaignCreate, now: datetime
) -> CampaignEstimate:
    """What the campaign ``body`` describes would cost and take, before it is created.
    Reads only; a template that cannot be sent is estimated with a warning, not refused."""
    from ovillo.campaigns import audience

    template = await _campaign_template(
        session=session, workspace_id=workspace_id, body=body, channel_id=body.number_id
    )
    problems = audience.check_audience(body.audience)
    if problems:
        raise CampaignInvalidError(
            "; ".join(f"{v['field']}: {v['message']}" for v in problems), violations=problems
        )
    window = body.send_window
    minutes = (
        (SendWindow.minutes(window.start), SendWindow.minutes(window.end))
        if window is not None
        else None
    )
    return await _estimate(
        session,
        workspace_id=workspace_id,
        channel_id=body.number_id,
        template=template,
        audience_filter=body.audience,
        window=minutes if minutes is not None and minutes[0] < minutes[1] else None,
        starts_at=body.starts_at if body.starts_at and body.starts_at.tzinfo else None,
        now=now,
    )


async def estimate_campaign(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID, now: datetime
) -> CampaignEstimate:
    """A stored campaign's estimate, its audience counted as it is now. Reads only."""
    campaign = await get_campaign_or_raise(
        session=session, workspace_id=workspace_id, campaign_id=campaign_id
    )
    template = await templates_service.get_template_or_raise(
        session=session, workspace_id=workspace_id, template_id=campaign.template_id
    )
    window = (
        (campaign.window_start_minute, campaign.window_end_minute)
        if campaign.window_start_minute is not None and campaign.window_end_minute is not None
        else None
    )
    return await _estimate(
        session,
        workspace_id=workspace_id,
        channel_id=campaign.channel_id,
        template=template,
        audience_filter=campaign.audience,
        window=window,
        starts_at=campaign.starts_at,
        now=now,
    )
