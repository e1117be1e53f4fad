"""Phone number, registration, business profile and subscribed-app shapes."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ovillo.cloudapi import phone_numbers as p

# Shape of Meta's "Get all phone numbers" example, with the 2025+ fields.
PHONE_NUMBER_LIST: dict[str, Any] = {
    "data": [
        {
            "verified_name": "Jasper's Market",
            "code_verification_status": "VERIFIED",
            "display_phone_number": "+1 631-555-5555",
            "quality_rating": "GREEN",
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
            "webhook_configuration": {"application": "https://ex.com/webhook"},
            "id": "1906385232743451",
            "whatsapp_business_manager_messaging_limit": "TIER_2K",
            "name_status": "APPROVED",
            "status": "CONNECTED",
            "is_official_business_account": False,
            "account_mode": "LIVE",
            "last_onboarded_time": "2023-08-22T19:13:06+0000",
        },
        {
            "verified_name": "Jasper's Ice Cream",
            "code_verification_status": "NOT_VERIFIED",
            "display_phone_number": "+1 631-555-5556",
            "quality_rating": "UNKNOWN",
            "messaging_limit_tier": "TIER_250",
            "platform_type": "NOT_APPLICABLE",
            "throughput": {"level": "NOT_APPLICABLE"},
            "id": "1913623884432103",
            "name_status": "PENDING_REVIEW",
            "account_mode": "SANDBOX",
        },
    ],
    "paging": {"cursors": {"before": "QVFIUk...", "after": "QVFIUl..."}},
}


def test_phone_number_list_round_trips() -> None:
    listing = p.PhoneNumberList.model_validate(PHONE_NUMBER_LIST)

    assert listing.to_wire() == PHONE_NUMBER_LIST
    first = listing.data[0]
    assert first.quality_rating is p.QualityRating.GREEN
    assert first.whatsapp_business_manager_messaging_limit is p.BusinessMessagingLimit.TIER_2K
    assert first.throughput is not None
    assert first.throughput.level is p.ThroughputLevel.STANDARD
    assert first.status is p.PhoneNumberStatus.CONNECTED
    assert listing.data[1].messaging_limit_tier is p.MessagingLimitTier.TIER_250


def test_phone_number_asked_for_one_field_parses() -> None:
    data = {"whatsapp_business_manager_messaging_limit": "TIER_10K", "id": "993857633806592"}

    assert p.PhoneNumber.model_validate(data).to_wire() == data


ENUM_FIELDS = [
    "quality_rating",
    "messaging_limit_tier",
    "whatsapp_business_manager_messaging_limit",
    "code_verification_status",
    "name_status",
    "new_name_status",
    "platform_type",
    "status",
    "account_mode",
]


@given(field=st.sampled_from(ENUM_FIELDS), value=st.text(max_size=40))
def test_unknown_enum_values_never_fail(field: str, value: str) -> None:
    data = {"id": "1", field: value, "throughput": {"level": value}}

    number = p.PhoneNumber.model_validate(data)

    assert number.to_wire() == data
    assert getattr(number, field) == value


def test_phone_number_needs_an_id() -> None:
    with pytest.raises(ValidationError) as caught:
        p.PhoneNumber.model_validate({"display_phone_number": "+1 555-010-0000"})
    assert any("id" in map(str, error["loc"]) for error in caught.value.errors())


@pytest.mark.parametrize("pin", ["123456", "000000"])
def test_register_request_round_trips(pin: str) -> None:
    body = {"messaging_product": "whatsapp", "pin": pin}

    assert p.RegisterRequest.model_validate(body).to_wire() == body
    assert p.RegisterRequest(pin=pin).to_wire() == body


@pytest.mark.parametrize("pin", ["12345", "1234567", "12a456", "", "１２３４５６"])
def test_register_pin_is_six_digits(pin: str) -> None:
    with pytest.raises(ValidationError) as caught:
        p.RegisterRequest(pin=pin)
    assert any("pin" in map(str, error["loc"]) for error in caught.value.errors())


# Meta's "Business profiles" GET example.
BUSINESS_PROFILE: dict[str, Any] = {
    "data": [
        {
            "about": "Succulent specialists!",
            "address": "1 Hacker Way, Menlo Park, CA 94025",
            "description": "At Lucky Shrub, we specialize in providing a...",
            "email": "lucky@luckyshrub.com",
            "profile_picture_url": "https://pps.whatsapp.net/v/t61.24694-24/1?ccb=11-4",
            "websites": ["https://www.luckyshrub.com/", "https://www.luckyshrub.com/amea/"],
            "vertical": "RETAIL",
            "messaging_product": "whatsapp",
        }
    ]
}


def test_business_profile_round_trips() -> None:
    profiles = p.BusinessProfileList.model_validate(BUSINESS_PROFILE)

    assert profiles.to_wire() == BUSINESS_PROFILE
    assert profiles.data[0].vertical is p.BusinessVertical.RETAIL


def test_business_profile_keeps_unknown_vertical() -> None:
    data = copy.deepcopy(BUSINESS_PROFILE)
    data["data"][0]["vertical"] = "INDUSTRY"

    assert p.BusinessProfileList.model_validate(data).to_wire() == data


def test_business_profile_update_round_trips() -> None:
    body = {
        "messaging_product": "whatsapp",
        "about": "Succulent specialists!",
        "websites": ["https://www.luckyshrub.com/"],
        "vertical": "RETAIL",
        "profile_picture_handle": "4::aW1hZ2UvanBlZw==:ARbM",
    }

    assert p.BusinessProfileUpdate.model_validate(body).to_wire() == body


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("about", p.BUSINESS_ABOUT_MAX_CHARS),
        ("address", p.BUSINESS_ADDRESS_MAX_CHARS),
        ("description", p.BUSINESS_DESCRIPTION_MAX_CHARS),
        ("email", p.BUSINESS_EMAIL_MAX_CHARS),
    ],
)
def test_business_profile_update_limits(field: str, limit: int) -> None:
    p.BusinessProfileUpdate.model_validate({field: "x" * limit})
    with pytest.raises(ValidationError) as caught:
        p.BusinessProfileUpdate.model_validate({field: "x" * (limit + 1)})
    assert any(field in map(str, error["loc"]) for error in caught.value.errors())


@pytest.mark.parametrize(
    "websites",
    [
        ["https://a.ex", "https://b.ex", "https://c.ex"],
        ["https://ex.com/" + "x" * p.BUSINESS_WEBSITE_MAX_CHARS],
    ],
    ids=["three websites", "website too long"],
)
def test_business_profile_update_websites(websites: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        p.BusinessProfileUpdate.model_validate({"websites": websites})
    assert any("websites" in map(str, error["loc"]) for error in caught.value.errors())


def test_business_profile_update_refuses_empty_about_and_unknown_vertical() -> None:
    with pytest.raises(ValidationError):
        p.BusinessProfileUpdate(about="")
    with pytest.raises(ValidationError):
        p.BusinessProfileUpdate.model_validate({"vertical": "SPACESHIPS"})


SUBSCRIBED_APPS: dict[str, Any] = {
    "data": [
        {
            "whatsapp_business_api_data": {
                "link": "https://www.facebook.com/games/?app_id=67084...",
                "name": "Jaspers Market",
                "id": "67084...",
            }
        },
        {
            "whatsapp_business_api_data": {"name": "Ovillo", "id": "1"},
            "override_callback_uri": "https://ovillo.example/webhooks/whatsapp",
        },
    ]
}


def test_subscribed_apps_round_trip() -> None:
    apps = p.SubscribedAppList.model_validate(SUBSCRIBED_APPS)

    assert apps.to_wire() == SUBSCRIBED_APPS
    assert apps.data[1].override_callback_uri == "https://ovillo.example/webhooks/whatsapp"
