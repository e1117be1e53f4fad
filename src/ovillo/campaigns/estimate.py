"""What a campaign will cost and how long it will take, before it is launched. Pure.

Plain values in (recipients by country, the template's category and status, the number's
tier, throughput and quality, the send window), a frozen ``Estimate`` out:

- the cost by country: recipients x the market's per-message rate for the template's
  category on the send date (``rules.rates``). An upper bound: Meta charges on delivery
  only, and a utility template inside an open customer-service window is free;
- the days the messaging-limit tier allows: recipients / the tier's daily limit, rounded
  up (1 when unlimited);
- the expected duration: each day sends at most the tier's limit, at the number's
  throughput, within the send window; the last day sends what is left;
- warnings: a low-quality number, a template that is paused or not approved, an audience
  above the tier, a send window too short for a day's sends, nobody to send to.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Final

from ovillo.rules import rates
from ovillo.rules.limits import Tier

DAY: Final = timedelta(days=1)
# Numbers whose quality puts campaigns at risk (Meta shows RED as "Low").
_LOW_QUALITY: Final = frozenset({"RED", "LOW", "FLAGGED"})
_SENDABLE: Final = frozenset({"APPROVED"})


class EstimateWarning(StrEnum):
    NO_RECIPIENTS = "no_recipients"
    LOW_QUALITY = "low_quality"
    TEMPLATE_PAUSED = "template_paused"
    TEMPLATE_NOT_APPROVED = "template_not_approved"
    ABOVE_TIER = "above_tier"
    SEND_WINDOW = "send_window_shortens_day"
    TIER_UNKNOWN = "tier_unknown"


@dataclass(frozen=True, slots=True)
class CountryCost:
    country: str
    market: str
    recipients: int
    unit_price: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class Estimate:
    recipients: int
    category: str
    currency: str
    cost: Decimal
    by_country: tuple[CountryCost, ...]
    daily_limit: int | None
    # Days the tier allows the audience over (recipients / daily limit, rounded up).
    tier_days: int
    # Recipients one day can take: the tier's limit, the throughput over the window.
    per_day: int
    duration: timedelta
    warnings: tuple[EstimateWarning, ...]


def estimate(
    *,
    recipients_by_country: Mapping[str, int],
    category: str,
    template_status: str,
    send_date: date,
    tier: Tier | None,
    throughput_mps: int,
    quality: str | None,
    window_minutes: int | None = None,
) -> Estimate:
    """The estimate of sending a template of ``category`` to the recipients.

    ``recipients_by_country`` maps an ISO country ("unknown" or anything else unknown is
    priced as Meta's "Other" market) to a count; ``tier`` None is a number whose limit is
    not known yet (estimated as the smallest business tier, with a warning);
    ``window_minutes`` the length of the daily send window, None for all day.
    """
    if throughput_mps < 1:
        raise ValueError("throughput_mps must be at least 1")
    if window_minutes is not None and not 0 < window_minutes <= 24 * 60:
        raise ValueError("window_minutes must be within one day")
    card = rates.rate_card_at(send_date)
    lines: list[CountryCost] = []
    for country, count in sorted(recipients_by_country.items(), key=lambda kv: (-kv[1], kv[0])):
        if count < 0:
            raise ValueError(f"negative recipients for {country}")
        if count == 0:
            continue
        market, market_rates = card.rates_for(country)
        unit = market_rates.for_category(category)
        lines.append(CountryCost(country, market, count, unit, unit * count))
    total = sum(line.recipients for line in lines)
    warnings: list[EstimateWarning] = []
    if total == 0:
        warnings.append(EstimateWarning.NO_RECIPIENTS)
    if (quality or "").upper() in _LOW_QUALITY:
        warnings.append(EstimateWarning.LOW_QUALITY)
    status = template_status.upper()
    if status == "PAUSED":
        warnings.append(EstimateWarning.TEMPLATE_PAUSED)
    elif status not in _SENDABLE:
        warnings.append(EstimateWarning.TEMPLATE_NOT_APPROVED)
    if tier is None:
        warnings.append(EstimateWarning.TIER_UNKNOWN)
    daily_limit = (tier or Tier.TIER_250).limit
    if daily_limit is not None and total > daily_limit:
        warnings.append(EstimateWarning.ABOVE_TIER)
    tier_days = 0 if total == 0 else (1 if daily_limit is None else math.ceil(total / daily_limit))
    window_seconds = (window_minutes or 24 * 60) * 60
    by_throughput = throughput_mps * window_seconds
    per_day = by_throughput if daily_limit is None else min(daily_limit, by_throughput)
    if window_minutes is not None and by_throughput < min(total, daily_limit or total):
        warnings.append(EstimateWarning.SEND_WINDOW)
    if total == 0:
        duration = timedelta(0)
    else:
        full_days, rest = divmod(total, per_day)
        if rest == 0:
            full_days, rest = full_days - 1, per_day
        duration = full_days * DAY + timedelta(seconds=math.ceil(rest / throughput_mps))
    return Estimate(
        recipients=total,
        category=category.upper(),
        currency=rates.CURRENCY,
        cost=sum((line.cost for line in lines), Decimal(0)),
        by_country=tuple(lines),
        daily_limit=daily_limit,
        tier_days=tier_days,
        per_day=per_day,
        duration=duration,
        warnings=tuple(warnings),
    )
