"""Pure parts of the channels service: Meta's figures and quality webhooks, read."""

from __future__ import annotations

import pytest

from ovillo.channels.service import (
    QualityChange,
    app_secret_well_formed,
    figures_from_phone_number,
    quality_change,
    throughput_mps_for,
)
from ovillo.cloudapi.phone_numbers import PhoneNumber
from ovillo.cloudapi.webhooks import PhoneNumberQualityUpdateValue


def test_figures_prefer_the_portfolio_limit_and_read_throughput() -> None:
    number = PhoneNumber.model_validate(
        {
            "id": "106540352242922",
            "display_phone_number": "+52 55 1234 5678",
            "verified_name": "Tienda",
            "quality_rating": "YELLOW",
            "messaging_limit_tier": "TIER_1K",
            "whatsapp_business_manager_messaging_limit": "TIER_2K",
            "throughput": {"level": "HIGH"},
            "status": "CONNECTED",
        }
    )
    figures = figures_from_phone_number(number)
    assert figures.messaging_limit_tier == "TIER_2K"
    assert figures.throughput_mps == 1000
    assert figures.quality_rating == "YELLOW"
    assert figures.country == "MX"
    assert figures.verified_name == "Tienda"


def test_figures_fall_back_when_meta_leaves_fields_out() -> None:
    figures = figures_from_phone_number(
        PhoneNumber.model_validate({"id": "1", "messaging_limit_tier": "TIER_250"})
    )
    assert figures.messaging_limit_tier == "TIER_250"
    assert figures.throughput_mps == 80
    assert figures.display_phone_number == ""
    assert figures.country is None
    assert figures.quality_rating is None


@pytest.mark.parametrize(
    ("configuration", "callback_url"),
    [
        (None, None),
        ({"application": "https://a.example/wh"}, "https://a.example/wh"),
        (
            {"application": "https://a.example/wh", "whatsapp_business_account": "https://w/"},
            "https://w/",
        ),
        (
            {
                "application": "https://a.example/wh",
                "whatsapp_business_account": "https://w/",
                "phone_number": "https://p/",
            },
            "https://p/",
        ),
    ],
)
def test_the_callback_is_the_most_specific_override(
    configuration: dict[str, str] | None, callback_url: str | None
) -> None:
    number = PhoneNumber.model_validate(
        {"id": "1", "platform_type": "CLOUD_API", "webhook_configuration": configuration}
    )
    figures = figures_from_phone_number(number)
    assert figures.callback_url == callback_url
    assert figures.registered


@pytest.mark.parametrize(
    ("secret", "ok"),
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("0123456789ABCDEF0123456789ABCDEF", True),
        (" 0123456789abcdef0123456789abcdef ", True),
        ("0123456789abcdef0123456789abcde", False),
        ("0123456789abcdef0123456789abcdefa", False),
        ("g123456789abcdef0123456789abcdef", False),
        ("", False),
    ],
)
def test_app_secrets_are_32_hexadecimal_characters(secret: str, ok: bool) -> None:
    assert app_secret_well_formed(secret) is ok


@pytest.mark.parametrize(
    ("level", "mps"),
    [(None, 80), ("STANDARD", 80), ("HIGH", 1000), ("NOT_APPLICABLE", 80), ("NEW_LEVEL", 80)],
)
def test_throughput_levels(level: str | None, mps: int) -> None:
    assert throughput_mps_for(level) == mps


@pytest.mark.parametrize(
    ("event", "current_limit", "change"),
    [
        ("FLAGGED", None, QualityChange(quality_rating="RED", status="FLAGGED")),
        ("UNFLAGGED", None, QualityChange(quality_rating="YELLOW", status="CONNECTED")),
        ("UPGRADE", "TIER_10K", QualityChange(messaging_limit_tier="TIER_10K")),
        ("DOWNGRADE", "TIER_1K", QualityChange(messaging_limit_tier="TIER_1K")),
        ("ONBOARDING", "TIER_250", QualityChange(messaging_limit_tier="TIER_250")),
        ("THROUGHPUT_UPGRADE", None, QualityChange(throughput_mps=1000)),
        ("SOMETHING_NEW", None, QualityChange()),
    ],
)
def test_quality_updates(event: str, current_limit: str | None, change: QualityChange) -> None:
    value = PhoneNumberQualityUpdateValue.model_validate(
        {"display_phone_number": "15550100000", "event": event, "current_limit": current_limit}
    )
    assert quality_change(value) == change


@pytest.mark.parametrize(
    ("current_limit", "portfolio_limit", "tier"),
    [
        ("TIER_1K", None, "TIER_1K"),
        ("TIER_1K", "TIER_2K", "TIER_2K"),
        (None, 2000, "TIER_2K"),
        (None, "100000", "TIER_100K"),
        ("TIER_10K", 12345, "TIER_10K"),
        ("TIER_UNLIMITED", "TIER_UNLIMITED", "TIER_UNLIMITED"),
    ],
)
def test_the_portfolio_limit_wins_over_the_number_limit(
    current_limit: str | None, portfolio_limit: int | str | None, tier: str
) -> None:
    value = PhoneNumberQualityUpdateValue.model_validate(
        {
            "display_phone_number": "15550100000",
            "event": "UPGRADE",
            "current_limit": current_limit,
            "max_daily_conversations_per_business": portfolio_limit,
        }
    )
    assert quality_change(value).messaging_limit_tier == tier
