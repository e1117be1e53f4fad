"""Request and response bodies of ``/campaigns``."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ovillo.campaigns.estimate import Estimate
from ovillo.campaigns.models import Campaign, CampaignRecipient
from ovillo.core.paging import Page

_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class SendWindow(BaseModel):
    """Hours of the recipient's own day when their message may leave (their time zone from
    their number's country), such as 09:00 to 20:00."""

    model_config = ConfigDict(extra="forbid")

    start: str = Field(pattern=_TIME, examples=["09:00"])
    end: str = Field(pattern=_TIME, examples=["20:00"])

    @staticmethod
    def minutes(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    @staticmethod
    def text(minutes: int) -> str:
        return f"{minutes // 60:02d}:{minutes % 60:02d}"


class CampaignCreate(BaseModel):
    """A campaign: an approved template from one number to an audience.

    The template is named by `template_id`, or by `template_name` and `template_language`
    on the number's account. `variables` fill the template's variables by name (or
    position): a value may name the contact's fields with a fallback,
    `{{contact.first_name|there}}`. `audience` is a segment filter (tags, attributes, last
    inbound time, opt-in state, countries); opted-out contacts and contacts not on
    WhatsApp are always left out. `starts_at` without a time zone is read in the
    workspace's time zone; none: when launched.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Spring sale"])
    number_id: uuid.UUID = Field(description="The number that sends it.")
    template_id: uuid.UUID | None = None
    template_name: str | None = Field(default=None, max_length=512, examples=["spring_sale"])
    template_language: str | None = Field(default=None, max_length=16, examples=["en_US"])
    variables: dict[str, str] = Field(
        default_factory=dict, examples=[{"first_name": "{{contact.first_name|there}}"}]
    )
    header_media: dict[str, Any] | None = Field(
        default=None, description='The header\'s media: {"id": ...} or {"link": ...}.'
    )
    track_links: bool = False
    audience: dict[str, Any] = Field(default_factory=dict, examples=[{"tags_any": ["vip"]}])
    starts_at: datetime | None = None
    send_window: SendWindow | None = None


class CampaignCounts(BaseModel):
    """Where the recipients are: ``targeted`` in all; ``pending`` not handed to the number
    yet; ``queued`` in the number's outbox; ``sent`` accepted by WhatsApp (of which
    ``delivered`` and ``read`` so far); ``failed`` with a reason; ``skipped`` never sent
    (cancelled or stopped first)."""

    targeted: int = 0
    pending: int = 0
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    skipped: int = 0


class CampaignOut(BaseModel):
    id: uuid.UUID
    name: str
    number_id: uuid.UUID
    template_id: uuid.UUID
    template_name: str
    template_language: str
    variables: dict[str, str]
    track_links: bool
    audience: dict[str, Any]
    starts_at: datetime | None
    send_window: SendWindow | None
    state: str
    state_reason: str | None = Field(description="Why it stopped, waits or was cancelled.")
    stop_error_code: int | None = Field(description="The WhatsApp error that stopped it.")
    waiting_until: datetime | None = Field(
        description="A running campaign that waits (messaging limit, send window) resumes then."
    )
    waiting_reason: str | None = Field(description="messaging_limit or send_window.")
    throttled: int = Field(description="Sends WhatsApp asked to slow down (130429, 131056).")
    counts: CampaignCounts
    created_at: datetime
    launched_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, campaign: Campaign, counts: CampaignCounts) -> CampaignOut:
        window = None
        if campaign.window_start_minute is not None and campaign.window_end_minute is not None:
            window = SendWindow(
                start=SendWindow.text(campaign.window_start_minute),
                end=SendWindow.text(campaign.window_end_minute),
            )
        return cls(
            id=campaign.id,
            name=campaign.name,
            number_id=campaign.channel_id,
            template_id=campaign.template_id,
            template_name=campaign.template_name,
            template_language=campaign.template_language,
            variables=campaign.variables,
            track_links=campaign.track_links,
            audience=campaign.audience,
            starts_at=campaign.starts_at,
            send_window=window,
            state=campaign.state,
            state_reason=campaign.state_reason,
            stop_error_code=campaign.stop_error_code,
            waiting_until=campaign.waiting_until,
            waiting_reason=campaign.waiting_reason,
            throttled=campaign.throttled_count,
            counts=counts,
            created_at=campaign.created_at,
            launched_at=campaign.launched_at,
            finished_at=campaign.finished_at,
        )


class CampaignList(Page[CampaignOut]):
    pass


class RecipientOut(BaseModel):
    """One recipient: ``state`` is ours (pending, queued, sent, failed, skipped);
    ``message_status`` is its message's (sent, delivered, read, failed...)."""

    id: int
    contact_id: uuid.UUID
    state: str
    message_id: uuid.UUID | None
    message_status: str | None
    error_code: int | None
    error_reason: str | None
    queued_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: CampaignRecipient, message_status: str | None) -> RecipientOut:
        return cls(
            id=row.id,
            contact_id=row.contact_id,
            state=row.state,
            message_id=row.message_id,
            message_status=message_status,
            error_code=row.error_code,
            error_reason=row.error_reason,
            queued_at=row.queued_at,
            finished_at=row.finished_at,
        )


class RecipientPage(Page[RecipientOut]):
    pass


class CountryCostOut(BaseModel):
    country: str = Field(description="ISO country, or `unknown`.")
    market: str = Field(description="Meta's pricing market of the country.")
    recipients: int
    unit_price: Decimal
    cost: Decimal


class CampaignEstimateOut(BaseModel):
    """Before launch: cost (list prices per delivered template, an upper bound), the days
    the messaging-limit tier spreads the audience over, the expected duration at the
    number's throughput, and warnings."""

    recipients: int
    excluded_opted_out: int
    excluded_not_on_whatsapp: int
    category: str
    currency: str
    cost: Decimal
    by_country: list[CountryCostOut]
    daily_limit: int | None = Field(description="The tier's recipients a day; null: unlimited.")
    tier_days: int = Field(description="Days the tier spreads the audience over.")
    per_day: int = Field(description="Recipients a day at most (tier, throughput, window).")
    duration_seconds: int
    warnings: list[str] = Field(
        description="no_recipients, low_quality, template_paused, template_not_approved, "
        "above_tier, send_window_shortens_day, tier_unknown."
    )

    @classmethod
    def of(
        cls, result: Estimate, *, excluded_opted_out: int, excluded_not_on_whatsapp: int
    ) -> CampaignEstimateOut:
        return cls(
            recipients=result.recipients,
            excluded_opted_out=excluded_opted_out,
            excluded_not_on_whatsapp=excluded_not_on_whatsapp,
            category=result.category,
            currency=result.currency,
            cost=result.cost,
            by_country=[
                CountryCostOut(
                    country=line.country,
                    market=line.market,
                    recipients=line.recipients,
                    unit_price=line.unit_price,
                    cost=line.cost,
                )
                for line in result.by_country
            ],
            daily_limit=result.daily_limit,
            tier_days=result.tier_days,
            per_day=result.per_day,
            duration_seconds=int(result.duration.total_seconds()),
            warnings=[str(warning) for warning in result.warnings],
        )


class FailureOut(BaseModel):
    code: int | None = Field(description="WhatsApp's error code (ours if it never left).")
    title: str
    count: int


class HourOut(BaseModel):
    hour: datetime
    sent: int
    delivered: int
    read: int


class FunnelOut(BaseModel):
    """What became of the campaign's messages; ``cost`` is what Meta's pricing objects say
    was charged, at list prices."""

    counts: CampaignCounts
    replied: int = Field(description="Recipients who wrote after the campaign's message.")
    clicked: int = Field(description="Recipients who followed a tracked link.")
    opted_out: int = Field(description="Recipients who opted out of marketing since.")
    failures: list[FailureOut]
    cost: Decimal
    charged_messages: int
    currency: str
    hours: list[HourOut] = Field(description="Sent, delivered and read per hour (UTC).")
