"""A campaign's estimate: cost by country, days the tier allows, duration, warnings."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.campaigns.estimate import Estimate, EstimateWarning, estimate
from ovillo.rules import rates
from ovillo.rules.limits import Tier

DAY = date(2026, 5, 1)


def _estimate(**changes: Any) -> Estimate:
    arguments: dict[str, Any] = {
        "recipients_by_country": {"MX": 100},
        "category": "MARKETING",
        "template_status": "APPROVED",
        "send_date": DAY,
        "tier": Tier.TIER_10K,
        "throughput_mps": 80,
        "quality": "GREEN",
        "window_minutes": None,
    } | changes
    return estimate(**arguments)


def test_cost_by_country_at_each_markets_rate() -> None:
    result = _estimate(recipients_by_country={"MX": 1000, "ES": 10, "XX": 1, "unknown": 2})
    assert [(c.country, c.market, c.recipients) for c in result.by_country] == [
        ("MX", "Mexico", 1000),
        ("ES", "Spain", 10),
        ("unknown", "Other", 2),
        ("XX", "Other", 1),
    ]
    assert result.by_country[0].unit_price == Decimal("0.0305")
    assert result.cost == Decimal("30.5") + Decimal("0.615") + 3 * Decimal("0.0604")
    assert result.currency == "USD"
    assert result.recipients == 1013
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("category", "country", "unit"),
    [
        ("MARKETING", "US", "0.0250"),
        ("utility", "CA", "0.0034"),
        ("AUTHENTICATION", "IN", "0.0014"),
        ("MARKETING", "PT", "0.0592"),  # Rest of Western Europe
        ("UTILITY", "KE", "0.0040"),  # Rest of Africa
        ("MARKETING", "UY", "0.0740"),  # Rest of Latin America
        ("MARKETING", "PL", "0.0860"),  # Rest of Central & Eastern Europe
        ("MARKETING", "AU", "0.0732"),  # Rest of Asia Pacific
        ("MARKETING", "QA", "0.0341"),  # Rest of Middle East
        ("MARKETING", None, "0.0604"),
    ],
)
def test_unit_prices(category: str, country: str | None, unit: str) -> None:
    card = rates.rate_card_at(DAY)
    assert card.rates_for(country)[1].for_category(category) == Decimal(unit)


def test_a_date_before_per_message_pricing_uses_the_first_card() -> None:
    assert rates.rate_card_at(date(2024, 1, 1)) is rates.RATE_CARDS[0]
    with pytest.raises(ValueError, match="category"):
        rates.rate_card_at(DAY).rates_for("MX")[1].for_category("service")


@pytest.mark.parametrize(
    ("recipients", "tier", "mps", "window", "days", "per_day", "duration", "warnings"),
    [
        # 100 at 80 mps: two seconds, one day.
        (100, Tier.TIER_10K, 80, None, 1, 10_000, timedelta(seconds=2), ()),
        # 25,000 on the 10K tier: three days; 5,000 left for the third.
        (
            25_000, Tier.TIER_10K, 80, None, 3, 10_000,
            2 * timedelta(days=1) + timedelta(seconds=63), (EstimateWarning.ABOVE_TIER,),
        ),
        # Exactly the limit: one day, no warning.
        (10_000, Tier.TIER_10K, 1000, None, 1, 10_000, timedelta(seconds=10), ()),
        # Unlimited: one day whatever the audience; the throughput sets the time.
        (1_000_000, Tier.TIER_UNLIMITED, 1000, None, 1, 86_400_000,
         timedelta(seconds=1000), ()),
        # One hour's window at 1 mps: 3,600 a day, below the tier's 10,000.
        (
            10_000, Tier.TIER_10K, 1, 60, 1, 3_600,
            2 * timedelta(days=1) + timedelta(seconds=2_800), (EstimateWarning.SEND_WINDOW,),
        ),
        # A window long enough changes nothing.
        (1_000, Tier.TIER_10K, 80, 600, 1, 10_000, timedelta(seconds=13), ()),
        # Unknown tier: estimated as 250 a day.
        (
            500, None, 80, None, 2, 250, timedelta(days=1) + timedelta(seconds=4),
            (EstimateWarning.TIER_UNKNOWN, EstimateWarning.ABOVE_TIER),
        ),
        (0, Tier.TIER_1K, 80, None, 0, 1_000, timedelta(0), (EstimateWarning.NO_RECIPIENTS,)),
    ],
)  # fmt: skip
def test_days_and_duration(
    recipients: int,
    tier: Tier | None,
    mps: int,
    window: int | None,
    days: int,
    per_day: int,
    duration: timedelta,
    warnings: tuple[EstimateWarning, ...],
) -> None:
    result = _estimate(
        recipients_by_country={"MX": recipients},
        tier=tier,
        throughput_mps=mps,
        window_minutes=window,
    )
    assert result.tier_days == days
    assert result.per_day == per_day
    assert result.duration == duration
    assert result.warnings == warnings


@pytest.mark.parametrize(
    ("quality", "status", "warnings"),
    [
        ("GREEN", "APPROVED", ()),
        ("YELLOW", "APPROVED", ()),
        ("RED", "APPROVED", (EstimateWarning.LOW_QUALITY,)),
        ("flagged", "APPROVED", (EstimateWarning.LOW_QUALITY,)),
        (None, "PAUSED", (EstimateWarning.TEMPLATE_PAUSED,)),
        ("GREEN", "PENDING", (EstimateWarning.TEMPLATE_NOT_APPROVED,)),
        ("RED", "DISABLED", (EstimateWarning.LOW_QUALITY, EstimateWarning.TEMPLATE_NOT_APPROVED)),
    ],
)
def test_quality_and_template_warnings(
    quality: str | None, status: str, warnings: tuple[EstimateWarning, ...]
) -> None:
    assert _estimate(quality=quality, template_status=status).warnings == warnings


@pytest.mark.parametrize(
    "changes",
    [
        {"throughput_mps": 0},
        {"window_minutes": 0},
        {"window_minutes": 24 * 60 + 1},
        {"recipients_by_country": {"MX": -1}},
        {"category": "SERVICE"},
    ],
)
def test_bad_input_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- each case names its own problem
        _estimate(**changes)


_counts = st.dictionaries(
    st.sampled_from(["MX", "ES", "US", "BR", "IN", "unknown"]), st.integers(0, 50_000)
)


@given(
    counts=_counts,
    extra=st.integers(1, 50_000),
    tier=st.sampled_from(list(Tier)),
    mps=st.integers(1, 1_000),
    window=st.one_of(st.none(), st.integers(1, 24 * 60)),
)
def test_more_recipients_never_cost_or_take_less(
    counts: dict[str, int], extra: int, tier: Tier, mps: int, window: int | None
) -> None:
    before = _estimate(
        recipients_by_country=counts, tier=tier, throughput_mps=mps, window_minutes=window
    )
    after = _estimate(
        recipients_by_country={**counts, "MX": counts.get("MX", 0) + extra},
        tier=tier,
        throughput_mps=mps,
        window_minutes=window,
    )
    assert after.cost > before.cost
    assert after.duration >= before.duration
    assert after.tier_days >= before.tier_days
    # The days the tier allows always hold the audience, and one fewer would not.
    if tier.limit is not None:
        assert after.tier_days * tier.limit >= after.recipients
        assert (after.tier_days - 1) * tier.limit < after.recipients
    assert after.duration <= after.tier_days * timedelta(days=1) or after.per_day < (
        tier.limit or after.per_day + 1
    )
