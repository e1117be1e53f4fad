"""The worker's side of campaigns: write the audience, hand recipients to the outbox, follow
what became of them.

One round (``run_campaigns``, the worker's campaigns loop) for every running campaign:

1. **Audience**: until it is written, one batch of recipient rows from the segment, keyset
   on the contact id (``campaign.audience_cursor``), ``INSERT ... ON CONFLICT DO NOTHING``
   on (campaign, contact): a worker that dies mid-way resumes after the last batch and
   writes nothing twice. Memory is one batch whatever the audience.
2. **Outcomes**: recipients whose message has left the outbox follow it: ``sent`` once
   WhatsApp accepted it, ``failed`` with its code and reason. A limit, quality or account
   error (``STOP_CODES``) stops the campaign and says why; 130429 / 131056 retries are
   counted (``throttled_count``), and 130429 ones halve the next top-up (131056 is one
   customer's pair rate: the number may go on at its rate to everyone else).
   **Late failures**: Meta answers some sends with a wamid and fails them only later, in a
   ``failed`` status webhook (131048 over the messaging limit, 131026 undeliverable, 131049,
   131050...). Each round also moves ``sent`` recipients whose message is now ``failed`` to
   ``failed`` with its code and reason, and a ``STOP_CODES`` code stops the campaign as
   above. The sweep starts from the message side, through the partial index
   ``ix_message_late_failure`` (a campaign's messages failed after acceptance: few), so
   it costs the campaign's late failures, not its recipients. It keeps no time watermark
   on purpose: ``failed_at`` is Meta's timestamp of the status, and a webhook retried or
   processed late carries an old one. Late failures keep arriving after a campaign ends,
   so a paused campaign, and one completed, cancelled or stopped within
   ``LATE_FAILURE_GRACE``, is swept too (then it ends for good: what fails later counts
   as sent).
3. **Top-up**: the number's outbox holds at most ``BACKLOG_SECONDS`` of its throughput of
   this campaign's messages, so agents' replies (priority 0; campaigns go at
   ``CAMPAIGN_PRIORITY``) never wait behind a hundred thousand, and pause or cancel take
   effect within seconds. No more than the messaging limit leaves room for: when it is
   reached the campaign waits (``waiting_reason = messaging_limit``) until the oldest
   counted recipient leaves the moving 24 hours, then goes on by itself.

Exactly once: a top-up claims pending rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; one
writer on SQLite), writes their messages ``queued`` into the outbox and marks the rows
``queued`` with the message id, all in ONE transaction. A crash before its commit leaves
the rows pending and no message; after it, each row has exactly one message, and the send
pipeline's own guarantees (``inbox.outbox``: claimed once, reconciled through
``biz_opaque_callback_data``) carry it to WhatsApp once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import Table, bindparam, func, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.campaigns import audience
from ovillo.campaigns import service as campaigns_service
from ovillo.campaigns.models import Campaign, CampaignRecipient, CampaignState, RecipientState
from ovillo.channels import service as channels_service
from ovillo.contacts.models import Contact
from ovillo.contacts.segments import matching_contact_ids
from ovillo.core.db import insert_for, sqlite_write_gate
from ovillo.core.errors import OvilloError
from ovillo.core.runtime import Runtime
from ovillo.inbox import outbox
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import AuthorType, Message, MessageStatus
from ovillo.rules import limits
from ovillo.rules.throughput import PAIR_RATE_ERROR_CODE, THROUGHPUT_ERROR_CODE
from ovillo.templates import service as templates_service
from ovillo.templates import variables as template_variables
from ovillo.templates.models import Template

__all__ = [
    "BACKLOG_SECONDS",
    "CAMPAIGN_PRIORITY",
    "STOP_CODES",
    "run_campaigns",
]

log = structlog.get_logger(__name__)

# Lower goes first in the outbox: agents' replies (0) before campaign traffic.
CAMPAIGN_PRIORITY = 10
# The outbox holds at most this many seconds of the number's throughput of a campaign.
BACKLOG_SECONDS = 3.0
_MIN_BACKLOG = 20
_MAX_BATCH = 500
_TOP_UPS_PER_ROUND = 6
_AUDIENCE_BATCH = 5000
_SYNC_BATCH = 5000
THROTTLE_CODES = frozenset({THROUGHPUT_ERROR_CODE, PAIR_RATE_ERROR_CODE})
# Errors that stop a campaign: going on would only fail the same way or hurt the number.
STOP_CODES: Mapping[int, str] = {
    131048: "WhatsApp refused sends for the messaging limit or spam rate limit (131048)",
    131064: "the account reached its messaging limit (131064)",
    131031: "the business account is locked (131031)",
    368: "the number is temporarily blocked for policy violations (368)",
    131042: "the business account has a payment or eligibility problem (131042)",
    132015: "WhatsApp paused the template for low quality (132015)",
    132016: "WhatsApp disabled the template for low quality (132016)",
    190: "the number's access token is no longer valid (190)",
}
_LEFT_OUTBOX = (
    MessageStatus.ACCEPTED,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.FAILED,
)
# Seconds between rounds while a campaign has work; a commit wakes it sooner.
BUSY_INTERVAL = 0.25
# How long after it ends a campaign still follows its sent messages to a late failure.
LATE_FAILURE_GRACE = timedelta(minutes=15)


async def run_campaigns(runtime: Runtime, *, idle_interval: float = 2.0) -> float:
    """One round over every running campaign; the seconds until the next round is due."""
    now = runtime.clock.now()
    async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
        await _start_scheduled(session, now=now)
        running = list(
            await session.execute(
                select(Campaign.id, Campaign.waiting_until).where(
                    Campaign.state == CampaignState.RUNNING
                )
            )
        )
        next_start = await session.scalar(
            select(func.min(Campaign.starts_at)).where(Campaign.state == CampaignState.SCHEDULED)
        )
        # Paused, cancelled or stopped with messages still on their way: their recipients
        # still follow them to sent or failed.
        settling = list(
            await session.scalars(
                select(Campaign.id).where(
                    Campaign.state.in_(
                        [CampaignState.PAUSED, CampaignState.CANCELLED, CampaignState.STOPPED]
                    ),
                    select(CampaignRecipient.id)
                    .where(
                        CampaignRecipient.campaign_id == Campaign.id,
                        CampaignRecipient.state == RecipientState.QUEUED,
                    )
                    .exists(),
                )
            )
        )
        # Nothing of theirs waits in the outbox, but a sent message may still fail late.
        lingering = list(
            await session.scalars(
                select(Campaign.id).where(
                    or_(
                        Campaign.state == CampaignState.PAUSED,
                        Campaign.state.in_(
                            [
                                CampaignState.COMPLETED,
                                CampaignState.CANCELLED,
                                CampaignState.STOPPED,
                            ]
                        )
                        & (Campaign.finished_at >= now - LATE_FAILURE_GRACE),
                    ),
                    Campaign.id.not_in(settling),
                )
            )
        )
        await session.commit()
    timeout = idle_interval
    if next_start is not None:
        timeout = min(timeout, max(0.05, (next_start - now).total_seconds()))
    for campaign_id in settling:
        try:
            await _settle(runtime, campaign_id)
        except Exception:
            log.exception("campaign_round_failed", campaign_id=str(campaign_id))
        timeout = min(timeout, BUSY_INTERVAL)
    # No hurry for these: a round at the idle interval applies their late failures.
    for campaign_id in lingering:
        try:
            await _settle(runtime, campaign_id)
        except Exception:
            log.exception("campaign_round_failed", campaign_id=str(campaign_id))
    for campaign_id, waiting_until in running:
        try:
            busy = await _step(runtime, campaign_id)
        except Exception:
            log.exception("campaign_round_failed", campaign_id=str(campaign_id))
            busy = True
        if busy:
            timeout = min(timeout, BUSY_INTERVAL)
        elif waiting_until is not None:
            timeout = min(timeout, max(0.05, (waiting_until - runtime.clock.now()).total_seconds()))
    return timeout


async def _start_scheduled(session: AsyncSession, *, now: datetime) -> None:
    due = list(
        await session.scalars(
            select(Campaign)
            .where(Campaign.state == CampaignState.SCHEDULED, Campaign.starts_at <= now)
            .with_for_update(skip_locked=True)
        )
    )
    for campaign in due:
        campaign.state = CampaignState.RUNNING
        campaign.updated_at = now
        campaigns_service.announce(session, campaign)
        log.info("campaign_started", campaign_id=str(campaign.id))


async def _step(runtime: Runtime, campaign_id: uuid.UUID) -> bool:
    """Audience, outcomes, top-up for one campaign; True while it has work right now."""
    busy = False
    async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
        campaign = await _running(session, campaign_id)
        if campaign is None:
            return False
        if not campaign.audience_done:
            await _write_audience(session, campaign, now=runtime.clock.now())
            busy = True
        await session.commit()
    async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
        campaign = await _running(session, campaign_id)
        if campaign is None:
            return False
        synced, throttled = await _sync_outcomes(session, campaign, now=runtime.clock.now())
        late = await _sync_late_failures(session, campaign, now=runtime.clock.now())
        busy = busy or synced or late
        finished = campaign.state != CampaignState.RUNNING or await _complete_if_done(
            session, campaign, now=runtime.clock.now()
        )
        await session.commit()
    if finished:
        return False
    queued = 0
    # Small transactions, several in a row while there is room: each holds the worker's
    # event loop (and the send pipeline sharing it) for a moment only.
    for _ in range(_TOP_UPS_PER_ROUND):
        async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
            campaign = await _running(session, campaign_id)
            if campaign is None:
                break
            added = await _top_up(
                session, campaign, throttled=throttled, now=runtime.clock.now(),
                public_url=runtime.settings.server.public_url,
            )  # fmt: skip
            await session.commit()
        queued += added
        if added < _MAX_BATCH:
            break
    return busy or queued > 0


async def _settle(runtime: Runtime, campaign_id: uuid.UUID) -> None:
    """Only the outcomes and late failures, for a campaign that sends nothing more."""
    async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
        campaign = await session.scalar(
            select(Campaign)
            .where(Campaign.id == campaign_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if campaign is not None:
            await _sync_outcomes(session, campaign, now=runtime.clock.now())
            await _sync_late_failures(session, campaign, now=runtime.clock.now())
        await session.commit()


async def _running(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign | None:
    # Locked for the transaction: pause and cancel wait for a round's commit, so none of
    # them decides on a state the round is about to change.
    return await session.scalar(
        select(Campaign)
        .where(Campaign.id == campaign_id, Campaign.state == CampaignState.RUNNING)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


# --- 1. Audience ------------------------------------------------------------------------------


async def _write_audience(session: AsyncSession, campaign: Campaign, *, now: datetime) -> None:
    spec = audience.segment_filter(campaign.audience)
    query = (
        matching_contact_ids(
            dialect=session.get_bind().dialect.name,
            workspace_id=campaign.workspace_id,
            spec=spec,
            now=campaign.launched_at or now,
        )
        .add_columns(Contact.wa_id, Contact.phone_e164)
        .order_by(Contact.id)
        .limit(_AUDIENCE_BATCH)
    )
    if campaign.audience_cursor is not None:
        query = query.where(Contact.id > campaign.audience_cursor)
    rows = (await session.execute(query)).all()
    values = []
    for contact_id, wa_id, phone_e164 in rows:
        values.append(
            {
                "campaign_id": campaign.id,
                "contact_id": contact_id,
                "state": RecipientState.PENDING.value,
                "not_before": _window_opens(campaign, phone_e164 or wa_id, now=now),
                "attempts": 0,
                "created_at": now,
            }
        )
    if values:
        statement = insert_for(session)(CampaignRecipient.__table__).on_conflict_do_nothing()
        await session.execute(statement, values)
        campaign.audience_cursor = rows[-1][0]
    if len(rows) < _AUDIENCE_BATCH:
        campaign.audience_done = True
    campaign.recipient_count = int(
        await session.scalar(
            select(func.count()).where(CampaignRecipient.campaign_id == campaign.id)
        )
        or 0
    )
    campaign.updated_at = now
    campaigns_service.announce(session, campaign)
    log.info(
        "campaign_audience_written",
        campaign_id=str(campaign.id),
        recipients=campaign.recipient_count,
        done=campaign.audience_done,
    )


def _window_opens(campaign: Campaign, number: str | None, *, now: datetime) -> datetime:
    """When the recipient of ``number`` may be sent to: ``now`` without a send window or
    inside it, else when their local window next opens."""
    start, end = campaign.window_start_minute, campaign.window_end_minute
    if start is None or end is None:
        return now
    return audience.next_window_start(
        now=now, zone=audience.recipient_zone(number), start_minute=start, end_minute=end
    )


# --- 2. Outcomes ------------------------------------------------------------------------------


async def _sync_outcomes(
    session: AsyncSession, campaign: Campaign, *, now: datetime
) -> tuple[bool, int]:
    """Move queued recipients whose message left the outbox; (any moved, throttled now)."""
    rows = (
        await session.execute(
            select(
                CampaignRecipient.id,
                Message.status,
                Message.error_code,
                Message.error_title,
                Message.error_detail,
                Message.attempts,
            )
            .join(Message, Message.id == CampaignRecipient.message_id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.state == RecipientState.QUEUED,
                Message.status.in_(_LEFT_OUTBOX),
            )
            .limit(_SYNC_BATCH)
        )
    ).all()
    sent = [
        {"b_id": row_id, "b_attempts": attempts}
        for row_id, status, _, _, _, attempts in rows
        if status != MessageStatus.FAILED
    ]
    failed = [
        {
            "b_id": row_id,
            "b_attempts": attempts,
            "b_code": code,
            "b_reason": _failure_reason(title, detail),
        }
        for row_id, status, code, title, detail, attempts in rows
        if status == MessageStatus.FAILED
    ]
    await _move_recipients(
        session,
        sent,
        from_state=RecipientState.QUEUED,
        state=RecipientState.SENT,
        attempts=bindparam("b_attempts"),
        error_code=None,
        finished_at=now,
    )
    await _move_recipients(
        session,
        failed,
        from_state=RecipientState.QUEUED,
        state=RecipientState.FAILED,
        attempts=bindparam("b_attempts"),
        error_code=bindparam("b_code"),
        error_reason=bindparam("b_reason"),
        finished_at=now,
    )
    counted = campaign.throttled_count
    throttled = await _notice_throttling(session, campaign)
    stopped = await _stop_on_failures(
        session,
        campaign,
        codes=[code for _, status, code, *_ in rows if status == MessageStatus.FAILED],
        now=now,
    )
    if not stopped and (rows or throttled or campaign.throttled_count != counted):
        campaign.updated_at = now
        campaigns_service.announce(session, campaign)
    return bool(rows), throttled


async def _sync_late_failures(session: AsyncSession, campaign: Campaign, *, now: datetime) -> bool:
    """Move ``sent`` recipients whose message failed after WhatsApp accepted it to
    ``failed``; True if any moved. Through ``ix_message_late_failure``: its predicate is
    written as literals so PostgreSQL's generic plans may use it too."""
    rows = (
        await session.execute(
            select(
                CampaignRecipient.id, Message.error_code, Message.error_title, Message.error_detail
            )
            .select_from(Message)
            .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
            .where(
                Message.author_id == str(campaign.id),
                Message.status == literal_column(f"'{MessageStatus.FAILED.value}'"),
                Message.accepted_at.is_not(None),
                # No filter on the recipient's campaign: its messages are its recipients',
                # and one would steer SQLite to walk them by (campaign, state) instead.
                CampaignRecipient.state == RecipientState.SENT,
            )
            .limit(_SYNC_BATCH)
        )
    ).all()
    if not rows:
        return False
    await _move_recipients(
        session,
        [
            {"b_id": row_id, "b_code": code, "b_reason": _failure_reason(title, detail)}
            for row_id, code, title, detail in rows
        ],
        from_state=RecipientState.SENT,
        state=RecipientState.FAILED,
        error_code=bindparam("b_code"),
        error_reason=bindparam("b_reason"),
        finished_at=now,
    )
    log.info("campaign_late_failures", campaign_id=str(campaign.id), recipients=len(rows))
    if not await _stop_on_failures(session, campaign, codes=[row[1] for row in rows], now=now):
        campaign.updated_at = now
        campaigns_service.announce(session, campaign)
    return True


def _failure_reason(title: str | None, detail: str | None) -> str:
    return ": ".join(part for part in (title, detail) if part) or "Failed"


async def _stop_on_failures(
    session: AsyncSession, campaign: Campaign, *, codes: list[int | None], now: datetime
) -> bool:
    """Stop a running or paused campaign if one of the failures' ``codes`` is a
    ``STOP_CODES`` one; True if it stopped."""
    stop = next((code for code in codes if code in STOP_CODES), None)
    if stop is None or campaign.state not in (CampaignState.RUNNING, CampaignState.PAUSED):
        return False
    await _stop(session, campaign, code=stop, now=now)
    return True


async def _move_recipients(
    session: AsyncSession,
    rows: list[dict[str, Any]],
    *,
    from_state: RecipientState,
    **values: Any,
) -> None:
    """Set ``values`` on the recipient rows of ``rows`` (each names its row as ``b_id``, and
    carries the ``bindparam``s of ``values``) that are still in ``from_state``: one
    executemany UPDATE. The state guard makes a row another round moved meanwhile stay as
    it is."""
    if not rows:
        return
    table: Table = CampaignRecipient.__table__  # type: ignore[assignment]  # a Table
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.state == from_state)
        .values(**values),
        rows,
    )


async def _notice_throttling(session: AsyncSession, campaign: Campaign) -> int:
    """Queued messages of the campaign waiting to retry after 130429 / 131056: counted once
    each (the recipient keeps the code until its outcome); those waiting after 130429 are
    returned to slow the top-up. A 131056 says one customer got too many, not that the
    number sends too fast: a smaller backlog would not help them and would slow the rest."""
    waiting = (
        await session.execute(
            select(CampaignRecipient.id, CampaignRecipient.error_code, Message.error_code)
            .join(Message, Message.id == CampaignRecipient.message_id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.state == RecipientState.QUEUED,
                Message.status == MessageStatus.QUEUED,
                Message.error_code.in_(list(THROTTLE_CODES)),
            )
        )
    ).all()
    fresh = [row_id for row_id, seen, _ in waiting if seen is None]
    if fresh:
        codes = {row_id: code for row_id, _, code in waiting}
        table: Table = CampaignRecipient.__table__  # type: ignore[assignment]  # a Table
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(error_code=bindparam("b_code")),
            [{"b_id": row_id, "b_code": codes[row_id]} for row_id in fresh],
        )
        campaign.throttled_count += len(fresh)
        log.info("campaign_throttled", campaign_id=str(campaign.id), messages=len(fresh))
    return sum(1 for _, _, code in waiting if code == THROUGHPUT_ERROR_CODE)


async def _stop(session: AsyncSession, campaign: Campaign, *, code: int, now: datetime) -> None:
    campaign.state = CampaignState.STOPPED
    campaign.stop_error_code = code
    campaign.state_reason = f"Stopped: {STOP_CODES[code]}."
    campaign.finished_at = now
    campaign.updated_at = now
    campaign.waiting_until = None
    campaign.waiting_reason = None
    await campaigns_service.do_skip_unsent(
        session=session, campaign=campaign, reason=campaign.state_reason, now=now
    )
    campaigns_service.announce(session, campaign)
    log.warning("campaign_stopped", campaign_id=str(campaign.id), error_code=code)


async def _complete_if_done(session: AsyncSession, campaign: Campaign, *, now: datetime) -> bool:
    if not campaign.audience_done:
        return False
    open_rows = await session.scalar(
        select(CampaignRecipient.id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state.in_(
                [RecipientState.PENDING, RecipientState.CLAIMED, RecipientState.QUEUED]
            ),
        )
        .limit(1)
    )
    if open_rows is not None:
        return False
    campaign.state = CampaignState.COMPLETED
    campaign.finished_at = now
    campaign.updated_at = now
    campaign.waiting_until = None
    campaign.waiting_reason = None
    campaigns_service.announce(session, campaign)
    log.info("campaign_completed", campaign_id=str(campaign.id))
    return True


# --- 3. Top-up --------------------------------------------------------------------------------


def _wait(
    campaign: Campaign, *, reason: str | None, until: datetime | None, session: AsyncSession
) -> None:
    if campaign.waiting_reason == reason and campaign.waiting_until == until:
        return
    campaign.waiting_reason = reason
    campaign.waiting_until = until
    campaigns_service.announce(session, campaign)
    if reason is not None:
        log.info("campaign_waiting", campaign_id=str(campaign.id), reason=reason, until=until)


async def _top_up(
    session: AsyncSession,
    campaign: Campaign,
    *,
    throttled: int,
    now: datetime,
    public_url: str | None = None,
) -> int:
    """Queue up to a few seconds' worth of the campaign's pending recipients; how many."""
    channel = await channels_service.get_channel(
        session=session, workspace_id=campaign.workspace_id, channel_id=campaign.channel_id
    )
    template = await templates_service.get_template(
        session=session, workspace_id=campaign.workspace_id, template_id=campaign.template_id
    )
    if (
        channel is None
        or template is None
        or template.status not in templates_service.SENDABLE_STATUSES
    ):
        await _stop_for(session, campaign, channel=channel, template=template, now=now)
        return 0
    target = max(_MIN_BACKLOG, int(channel.throughput_mps * BACKLOG_SECONDS))
    if throttled:
        target = max(1, target // 2)
    # What the number still has to send of this campaign: messages not yet accepted.
    backlog = int(
        await session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .join(Message, Message.id == CampaignRecipient.message_id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.state == RecipientState.QUEUED,
                Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]),
            )
        )
        or 0
    )
    want = min(_MAX_BATCH, target - backlog)
    if want <= 0:
        return 0
    tier = limits.tier_or_none(channel.messaging_limit_tier)
    if tier is not None and tier.limit is not None:
        counted, frees_at = await outbox.limit_window_usage(
            session=session, waba_id=channel.waba_id, now=now
        )
        room = tier.limit - counted
        if room <= 0:
            _wait(campaign, reason="messaging_limit", until=frees_at, session=session)
            return 0
        want = min(want, room)
    claimed = await _claim_pending(session, campaign, limit=want, now=now)
    rows = await _defer_closed_windows(session, campaign, claimed, now=now)
    if not rows and claimed:
        # Every one of them waits for their window to open again: look further.
        return len(claimed)
    if not rows:
        later = await session.scalar(
            select(func.min(CampaignRecipient.not_before)).where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.state == RecipientState.PENDING,
            )
        )
        _wait(
            campaign,
            reason="send_window" if later is not None else None,
            until=later,
            session=session,
        )
        return 0
    _wait(campaign, reason=None, until=None, session=session)
    queued = await _queue(
        session, campaign, channel_id=channel.id, template=template, rows=rows, now=now,
        public_url=public_url,
    )  # fmt: skip
    return queued + len(claimed) - len(rows)


async def _stop_for(
    session: AsyncSession,
    campaign: Campaign,
    *,
    channel: Any,
    template: Template | None,
    now: datetime,
) -> None:
    if channel is None:
        reason = "Stopped: the sending number was removed."
        code = None
    elif template is None:
        reason = "Stopped: the template was deleted."
        code = None
    else:
        reason = f"Stopped: the template is {template.status} at WhatsApp and cannot be sent."
        code = (
            132015
            if template.status == "PAUSED"
            else 132016
            if template.status == "DISABLED"
            else None
        )
    campaign.state = CampaignState.STOPPED
    campaign.state_reason = reason
    campaign.stop_error_code = code
    campaign.finished_at = now
    campaign.updated_at = now
    await campaigns_service.do_skip_unsent(
        session=session, campaign=campaign, reason=reason, now=now
    )
    campaigns_service.announce(session, campaign)
    log.warning("campaign_stopped", campaign_id=str(campaign.id), reason=reason)


async def _claim_pending(
    session: AsyncSession, campaign: Campaign, *, limit: int, now: datetime
) -> list[tuple[int, uuid.UUID]]:
    """Pending rows due at ``now``, locked for this transaction (SKIP LOCKED: a second
    dispatcher takes others); SQLite's one writer makes the plain SELECT safe there."""
    query = (
        select(CampaignRecipient.id, CampaignRecipient.contact_id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.state == RecipientState.PENDING,
            CampaignRecipient.not_before <= now,
        )
        .order_by(CampaignRecipient.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.execute(query)).all())


async def _defer_closed_windows(
    session: AsyncSession, campaign: Campaign, rows: list[tuple[int, uuid.UUID]], *, now: datetime
) -> list[tuple[int, uuid.UUID]]:
    """The claimed ``rows`` whose recipients are inside their send window now. The others
    were due when their window was open, but it closed before their turn came (a long
    audience, a pause, a wait for the messaging limit): they stay pending until it next
    opens, so nobody is sent to outside the hours the campaign promised."""
    if not rows or campaign.window_start_minute is None or campaign.window_end_minute is None:
        return rows
    numbers = {
        contact_id: phone_e164 or wa_id
        for contact_id, wa_id, phone_e164 in await session.execute(
            select(Contact.id, Contact.wa_id, Contact.phone_e164).where(
                Contact.id.in_([contact_id for _, contact_id in rows])
            )
        )
    }
    later = {
        row_id: opens
        for row_id, contact_id in rows
        if (opens := _window_opens(campaign, numbers.get(contact_id), now=now)) > now
    }
    await _move_recipients(
        session,
        [{"b_id": row_id, "b_opens": opens} for row_id, opens in later.items()],
        from_state=RecipientState.PENDING,
        not_before=bindparam("b_opens"),
    )
    return [row for row in rows if row[0] not in later]


@dataclass(frozen=True, slots=True)
class _Filled:
    content: dict[str, Any] | None
    problem: str | None
    links: list[Any]


async def _queue(
    session: AsyncSession,
    campaign: Campaign,
    *,
    channel_id: uuid.UUID,
    template: Template,
    rows: list[tuple[int, uuid.UUID]],
    now: datetime,
    public_url: str | None = None,
) -> int:
    contacts = {
        contact.id: contact
        for contact in await session.scalars(
            select(Contact).where(Contact.id.in_([contact_id for _, contact_id in rows]))
        )
    }
    conversations = await inbox_service.do_get_or_open_conversations(
        session=session,
        workspace_id=campaign.workspace_id,
        channel_id=channel_id,
        contact_ids=[contact_id for _, contact_id in rows if contact_id in contacts],
        now=now,
    )
    items: list[outbox.NewMessage] = []
    queued_rows: list[int] = []
    link_sets: list[list[Any]] = []
    failures: list[dict[str, Any]] = []
    for row_id, contact_id in rows:
        contact = contacts.get(contact_id)
        conversation = conversations.get(contact_id)
        if contact is None or conversation is None:
            failures.append({"b_id": row_id, "b_reason": "The contact no longer exists."})
            continue
        filled = await _fill(
            session, campaign, template, contact, channel_id=channel_id, now=now,
            public_url=public_url,
        )  # fmt: skip
        if filled.content is None:
            failures.append({"b_id": row_id, "b_reason": filled.problem})
            continue
        items.append(
            outbox.NewMessage(
                conversation=conversation,
                content=filled.content,
                author_type=AuthorType.CAMPAIGN,
                author_id=str(campaign.id),
                priority=CAMPAIGN_PRIORITY,
                template_category=template.category,
            )
        )
        queued_rows.append(row_id)
        link_sets.append(filled.links)
    messages = await outbox.do_enqueue_messages(
        session=session, workspace_id=campaign.workspace_id, messages=items, now=now
    )
    for message, links in zip(messages, link_sets, strict=True):
        if links:
            templates_service.do_bind_links(links=links, message_id=message.id)
    # The rows are this transaction's (locked by the claim on PostgreSQL; SQLite's one
    # writer), so each pending row becomes queued with exactly its message.
    await _move_recipients(
        session,
        [
            {"b_id": row_id, "b_message": message.id}
            for row_id, message in zip(queued_rows, messages, strict=True)
        ],
        from_state=RecipientState.PENDING,
        state=RecipientState.QUEUED,
        message_id=bindparam("b_message"),
        queued_at=now,
        attempts=CampaignRecipient.__table__.c.attempts + 1,
    )
    await _move_recipients(
        session,
        failures,
        from_state=RecipientState.PENDING,
        state=RecipientState.FAILED,
        error_reason=bindparam("b_reason"),
        finished_at=now,
    )
    log.info(
        "campaign_recipients_queued",
        campaign_id=str(campaign.id),
        queued=len(messages),
        failed=len(failures),
    )
    return len(messages) + len(failures)


async def _fill(
    session: AsyncSession,
    campaign: Campaign,
    template: Template,
    contact: Contact,
    *,
    channel_id: uuid.UUID,
    now: datetime,
    public_url: str | None = None,
) -> _Filled:
    """The template message for one contact, or why it cannot be made."""
    if campaign.track_links or template.tracked_buttons:
        # Tracked links are made per recipient by the templates domain.
        try:
            prepared = await templates_service.check_template_send(
                session=session,
                public_url=public_url,
                workspace_id=campaign.workspace_id,
                channel_id=channel_id,
                contact_id=contact.id,
                template={
                    "name": template.name,
                    "language": {"code": template.language},
                    "variables": campaign.variables,
                    "header_media": campaign.header_media,
                    "track_links": campaign.track_links,
                    "campaign_id": str(campaign.id),
                },
                now=now,
            )
        except OvilloError as error:  # its detail says what is missing for this contact
            return _Filled(None, str(error), [])
        return _Filled({"type": "template", "template": prepared.template}, None, prepared.links)
    fields = template_variables.fields_of_contact(contact)
    values: dict[str, str] = {}
    for key, value in campaign.variables.items():
        text, missing = template_variables.fill_value(value, fields)
        if missing:
            return _Filled(
                None,
                f"variables.{key}: the contact has no {', '.join(missing)} and the reference "
                "has no fallback",
                [],
            )
        values[key] = text
    header_media = campaign.header_media or (
        {"id": template.header_media_id} if template.header_media_id else None
    )
    components, problems = template_variables.send_components(
        template_components=template.components,
        parameter_format=template.parameter_format,
        values=values,
        header_media=header_media,
        link_codes={},
    )
    if problems:
        return _Filled(None, "; ".join(f"{p.field}: {p.message}" for p in problems), [])
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        body["components"] = components
    return _Filled({"type": "template", "template": body}, None, [])
