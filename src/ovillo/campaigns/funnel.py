"""What became of a campaign: its funnel, the cost Meta charged, counts per hour, and the
recipients' outcomes as CSV.

Everything is read when asked, from the recipient rows and their messages' statuses, so
nothing has to be kept in step. Each figure is one aggregate query (no recipient is loaded
to count it); the CSV streams a page of recipients at a time, each page in a short session
of its own.

- targeted, sent, delivered, read, failed, skipped: ``service.campaign_counts``;
- replied: the recipient wrote a message attributed to the campaign when it was received
  (``message.campaign_id``: a reply quoting the campaign's message, or written within 24
  hours of it with nothing sent in between, ``rules.attribution``);
- clicked: contacts who followed a tracked link of the campaign (templates' click stats);
- failed by reason: Meta's error code and title (ours when the send never reached Meta);
- opted out: recipients who opted out of marketing since (they were opted in when
  selected: segments leave opted-out contacts out);
- cost: the messages whose status webhooks carried a billable ``regular`` pricing object,
  priced by their category and the recipient's market on the day they were sent
  (``rules.rates``), in USD.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from ovillo.campaigns.models import Campaign, CampaignRecipient, RecipientState
from ovillo.campaigns.schemas import CampaignCounts
from ovillo.contacts import segments
from ovillo.contacts.models import Contact

# Read only, as the campaign's counts: its messages' statuses, errors and pricing.
from ovillo.inbox.models import Direction, Message
from ovillo.rules import rates
from ovillo.templates import service as templates_service

CSV_PAGE: Final = 2_000


@dataclass(frozen=True, slots=True)
class FailureReason:
    code: int | None
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class HourCounts:
    hour: datetime
    sent: int
    delivered: int
    read: int


@dataclass(frozen=True, slots=True)
class Funnel:
    counts: CampaignCounts
    replied: int
    clicked: int
    opted_out: int
    failures: tuple[FailureReason, ...]
    cost: Decimal
    charged_messages: int
    currency: str
    hours: tuple[HourCounts, ...]


def _replied(campaign_id: uuid.UUID) -> ColumnElement[bool]:
    """The recipient answered the campaign (``ix_message_campaign``)."""
    reply = aliased(Message)
    return exists(
        select(reply.seq).where(
            reply.campaign_id == campaign_id,
            reply.contact_id == CampaignRecipient.contact_id,
            reply.direction == Direction.INBOUND,
        )
    )


def _hour(session: AsyncSession, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.date_trunc("hour", column), "YYYY-MM-DD HH24")
    return func.strftime("%Y-%m-%d %H", column)


async def _count(session: AsyncSession, query: Any) -> int:
    return int(await session.scalar(query) or 0)


async def get_funnel(*, session: AsyncSession, campaign: Campaign) -> Funnel:
    """The campaign's funnel, cost and hourly counts (the caller checked the workspace)."""
    from ovillo.campaigns import service

    counts = (await service.campaign_counts(session=session, campaign_ids=[campaign.id]))[
        campaign.id
    ]
    replied = await _count(
        session,
        # Only the replies are read (``ix_message_campaign``), not every recipient.
        select(func.count(func.distinct(Message.contact_id))).where(
            Message.campaign_id == campaign.id, Message.direction == Direction.INBOUND
        ),
    )
    opted_out = await _count(
        session,
        select(func.count())
        .select_from(CampaignRecipient)
        .join(Contact, Contact.id == CampaignRecipient.contact_id)
        .where(CampaignRecipient.campaign_id == campaign.id, segments.marketing_opted_out()),
    )
    clicks = await templates_service.click_stats(
        session=session, workspace_id=campaign.workspace_id, campaign_id=campaign.id
    )
    code = func.coalesce(Message.error_code, CampaignRecipient.error_code)
    title = func.coalesce(Message.error_title, CampaignRecipient.error_reason)
    failures = [
        FailureReason(code=row_code, title=row_title or "", count=int(count))
        for row_code, row_title, count in await session.execute(
            select(code, title, func.count())
            .select_from(CampaignRecipient)
            .outerjoin(Message, Message.id == CampaignRecipient.message_id)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.state == RecipientState.FAILED,
            )
            .group_by(code, title)
            .order_by(func.count().desc())
        )
    ]
    cost, charged = await _charged(session, campaign)
    hours = await _hours(session, campaign)
    return Funnel(
        counts=counts,
        replied=replied,
        clicked=clicks.unique_contacts,
        opted_out=opted_out,
        failures=tuple(failures),
        cost=cost,
        charged_messages=charged,
        currency=rates.CURRENCY,
        hours=hours,
    )


async def _charged(session: AsyncSession, campaign: Campaign) -> tuple[Decimal, int]:
    pricing_category: ColumnElement[Any] = Message.pricing["category"].as_string()
    billable: ColumnElement[Any] = Message.pricing["billable"].as_boolean()
    pricing_type: ColumnElement[Any] = Message.pricing["type"].as_string()
    rows = await session.execute(
        select(Contact.country, pricing_category, func.min(Message.created_at), func.count())
        .select_from(CampaignRecipient)
        .join(Message, Message.id == CampaignRecipient.message_id)
        .join(Contact, Contact.id == CampaignRecipient.contact_id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            Message.pricing.is_not(None),
            billable.is_(True),
            func.coalesce(pricing_type, "regular") == "regular",
        )
        .group_by(Contact.country, pricing_category)
    )
    total = Decimal(0)
    charged = 0
    for country, category, first_sent, count in rows:
        # One campaign is priced on the card of the day its first message went out.
        card = rates.rate_card_at((first_sent or campaign.created_at).astimezone(UTC).date())
        try:
            unit = card.rates_for(country)[1].for_category(category or "marketing")
        except ValueError:
            continue  # a category without a per-message rate (service): free
        total += unit * int(count)
        charged += int(count)
    return total, charged


async def _hours(session: AsyncSession, campaign: Campaign) -> tuple[HourCounts, ...]:
    by_hour: dict[str, list[int]] = {}
    for index, column in enumerate((Message.sent_at, Message.delivered_at, Message.read_at)):
        bucket = _hour(session, column)
        rows = await session.execute(
            select(bucket, func.count())
            .select_from(CampaignRecipient)
            .join(Message, Message.id == CampaignRecipient.message_id)
            .where(CampaignRecipient.campaign_id == campaign.id, column.is_not(None))
            .group_by(bucket)
        )
        for hour, count in rows:
            by_hour.setdefault(str(hour), [0, 0, 0])[index] = int(count)
    return tuple(
        HourCounts(
            hour=datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC),
            sent=values[0],
            delivered=values[1],
            read=values[2],
        )
        for hour, values in sorted(by_hour.items())
    )


CSV_COLUMNS: Final = (
    "contact_id",
    "phone",
    "name",
    "country",
    "state",
    "message_status",
    "error_code",
    "error_title",
    "queued_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "replied",
)


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


async def recipients_csv(
    *, sessionmaker: async_sessionmaker[AsyncSession], campaign: Campaign, page: int = CSV_PAGE
) -> AsyncIterator[str]:
    """The campaign's recipients with their outcome as CSV, a page at a time in recipient
    order; each page read in a short session of its own (a slow download holds no
    connection)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    after = 0
    replied = _replied(campaign.id)
    while True:
        async with sessionmaker() as session:
            rows = (
                await session.execute(
                    select(CampaignRecipient, Contact, Message, replied)
                    .join(Contact, Contact.id == CampaignRecipient.contact_id)
                    .outerjoin(Message, Message.id == CampaignRecipient.message_id)
                    .where(
                        CampaignRecipient.campaign_id == campaign.id,
                        CampaignRecipient.id > after,
                    )
                    .order_by(CampaignRecipient.id)
                    .limit(page)
                )
            ).all()
        for recipient, contact, message, did_reply in rows:
            writer.writerow(
                [
                    contact.id,
                    contact.phone_e164 or contact.wa_id or "",
                    _safe(contact.name or contact.profile_name or ""),
                    contact.country or "",
                    recipient.state,
                    message.status if message is not None else "",
                    (message.error_code if message is not None else None)
                    or recipient.error_code
                    or "",
                    _safe(
                        (message.error_title if message is not None else None)
                        or recipient.error_reason
                        or ""
                    ),
                    _time(recipient.queued_at),
                    _time(message.sent_at if message is not None else None),
                    _time(message.delivered_at if message is not None else None),
                    _time(message.read_at if message is not None else None),
                    "yes" if did_reply else "",
                ]
            )
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rows) < page:
            return
        after = rows[-1][0].id


def _safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


async def check_funnel(
    *, session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> Funnel:
    """The funnel of a campaign of the workspace (404 otherwise)."""
    from ovillo.campaigns import service

    campaign = await service.get_campaign_or_raise(
        session=session, workspace_id=workspace_id, campaign_id=campaign_id
    )
    return await get_funnel(session=session, campaign=campaign)
