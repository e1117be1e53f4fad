"""Business phone numbers: their fields, registration, business profile, subscribed apps.

``GET /{waba-id}/phone_numbers`` answers ``PhoneNumberList``; ``GET /{phone-number-id}``
answers ``PhoneNumber``; ``POST /{phone-number-id}/register`` takes ``RegisterRequest``;
``GET|POST /{phone-number-id}/whatsapp_business_profile`` answers
``BusinessProfileList`` and takes ``BusinessProfileUpdate``;
``GET /{waba-id}/subscribed_apps`` answers ``SubscribedAppList``.

Every enum-valued field keeps values it does not know as plain strings: Meta adds values
(a 2K messaging tier in 2025, new statuses) and a phone number that cannot be read is worse
than one whose new value is shown as it came. Only ``id`` is always present; the rest
appear when asked for with ``fields=``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from ovillo.cloudapi.responses import Paging
from ovillo.cloudapi.wire import WireModel


class QualityRating(StrEnum):
    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"


class MessagingLimitTier(StrEnum):
    """Legacy per-number ``messaging_limit_tier`` (deprecated since October 2025)."""

    TIER_50 = "TIER_50"
    TIER_250 = "TIER_250"
    TIER_1K = "TIER_1K"
    TIER_10K = "TIER_10K"
    TIER_100K = "TIER_100K"
    TIER_UNLIMITED = "TIER_UNLIMITED"
    TIER_NOT_SET = "TIER_NOT_SET"


class BusinessMessagingLimit(StrEnum):
    """``whatsapp_business_manager_messaging_limit``: the portfolio's limit since October 2025.

    Values seen in BSP documentation; Meta's reference does not list them (unverified).
    """

    TIER_250 = "TIER_250"
    TIER_2K = "TIER_2K"
    TIER_10K = "TIER_10K"
    TIER_100K = "TIER_100K"
    TIER_UNLIMITED = "TIER_UNLIMITED"
    UNLIMITED = "UNLIMITED"


class ThroughputLevel(StrEnum):
    STANDARD = "STANDARD"
    HIGH = "HIGH"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class CodeVerificationStatus(StrEnum):
    VERIFIED = "VERIFIED"
    NOT_VERIFIED = "NOT_VERIFIED"
    EXPIRED = "EXPIRED"


class NameStatus(StrEnum):
    APPROVED = "APPROVED"
    AVAILABLE_WITHOUT_REVIEW = "AVAILABLE_WITHOUT_REVIEW"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"
    PENDING_REVIEW = "PENDING_REVIEW"
    NONE = "NONE"


class PlatformType(StrEnum):
    CLOUD_API = "CLOUD_API"
    ON_PREMISE = "ON_PREMISE"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class PhoneNumberStatus(StrEnum):
    CONNECTED = "CONNECTED"
    PENDING = "PENDING"
    DISCONNECTED = "DISCONNECTED"
    FLAGGED = "FLAGGED"
    RESTRICTED = "RESTRICTED"
    BANNED = "BANNED"
    RATE_LIMITED = "RATE_LIMITED"
    DELETED = "DELETED"
    MIGRATED = "MIGRATED"
    UNVERIFIED = "UNVERIFIED"


class AccountMode(StrEnum):
    SANDBOX = "SANDBOX"
    LIVE = "LIVE"


# Known values become the enum; unknown ones stay the string Meta sent.
OpenQualityRating = Annotated[QualityRating | str, Field(union_mode="left_to_right")]
OpenMessagingLimitTier = Annotated[MessagingLimitTier | str, Field(union_mode="left_to_right")]
OpenBusinessMessagingLimit = Annotated[
    BusinessMessagingLimit | str, Field(union_mode="left_to_right")
]
OpenThroughputLevel = Annotated[ThroughputLevel | str, Field(union_mode="left_to_right")]
OpenCodeVerificationStatus = Annotated[
    CodeVerificationStatus | str, Field(union_mode="left_to_right")
]
OpenNameStatus = Annotated[NameStatus | str, Field(union_mode="left_to_right")]
OpenPlatformType = Annotated[PlatformType | str, Field(union_mode="left_to_right")]
OpenPhoneNumberStatus = Annotated[PhoneNumberStatus | str, Field(union_mode="left_to_right")]
OpenAccountMode = Annotated[AccountMode | str, Field(union_mode="left_to_right")]


class Throughput(WireModel):
    level: OpenThroughputLevel


class WebhookConfiguration(WireModel):
    """Where Meta sends the number's webhooks: the app's callback URL, and the WABA's or
    the number's override when one is set (the most specific one wins)."""

    application: str | None = None
    whatsapp_business_account: str | None = None
    phone_number: str | None = None


class PhoneNumber(WireModel):
    id: str = Field(min_length=1)
    # As Meta formats it for people: "+1 555-010-0000".
    display_phone_number: str | None = None
    verified_name: str | None = None
    quality_rating: OpenQualityRating | None = None
    messaging_limit_tier: OpenMessagingLimitTier | None = None
    whatsapp_business_manager_messaging_limit: OpenBusinessMessagingLimit | None = None
    throughput: Throughput | None = None
    code_verification_status: OpenCodeVerificationStatus | None = None
    name_status: OpenNameStatus | None = None
    new_name_status: OpenNameStatus | None = None
    platform_type: OpenPlatformType | None = None
    status: OpenPhoneNumberStatus | None = None
    is_official_business_account: bool | None = None
    is_pin_enabled: bool | None = None
    account_mode: OpenAccountMode | None = None
    # ISO 8601 as Meta writes it ("2023-08-22T19:13:06+0000"), kept verbatim.
    last_onboarded_time: str | None = None
    webhook_configuration: WebhookConfiguration | None = None


class PhoneNumberList(WireModel):
    data: list[PhoneNumber]
    paging: Paging | None = None


class RegisterRequest(WireModel):
    """Register a number for Cloud API; ``pin`` is its two-step verification PIN (set if
    the number has none yet)."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    pin: str = Field(pattern=r"^[0-9]{6}$")
    # Data localisation (regional storage) for some markets, e.g. "IN".
    data_localization_region: str | None = None


# --- Business profile --------------------------------------------------------------------------

BUSINESS_ABOUT_MAX_CHARS = 139
BUSINESS_ADDRESS_MAX_CHARS = 256
BUSINESS_DESCRIPTION_MAX_CHARS = 512
BUSINESS_EMAIL_MAX_CHARS = 128
BUSINESS_WEBSITES_MAX = 2
BUSINESS_WEBSITE_MAX_CHARS = 256


class BusinessVertical(StrEnum):
    UNDEFINED = "UNDEFINED"
    OTHER = "OTHER"
    AUTO = "AUTO"
    BEAUTY = "BEAUTY"
    APPAREL = "APPAREL"
    EDU = "EDU"
    ENTERTAIN = "ENTERTAIN"
    EVENT_PLAN = "EVENT_PLAN"
    FINANCE = "FINANCE"
    GROCERY = "GROCERY"
    GOVT = "GOVT"
    HOTEL = "HOTEL"
    HEALTH = "HEALTH"
    NONPROFIT = "NONPROFIT"
    PROF_SERVICES = "PROF_SERVICES"
    RETAIL = "RETAIL"
    TRAVEL = "TRAVEL"
    RESTAURANT = "RESTAURANT"
    NOT_A_BIZ = "NOT_A_BIZ"


OpenBusinessVertical = Annotated[BusinessVertical | str, Field(union_mode="left_to_right")]


class BusinessProfile(WireModel):
    """A business profile as ``GET`` returns it (inside ``data``). No limits are checked on
    what Meta returns: a profile edited in WhatsApp Manager must still be readable."""

    messaging_product: str | None = None
    about: str | None = None
    address: str | None = None
    description: str | None = None
    email: str | None = None
    profile_picture_url: str | None = None
    websites: list[str] | None = None
    vertical: OpenBusinessVertical | None = None


class BusinessProfileList(WireModel):
    data: list[BusinessProfile]


class BusinessProfileUpdate(WireModel):
    """Body of ``POST /{phone-number-id}/whatsapp_business_profile``; Meta's limits apply."""

    messaging_product: Literal["whatsapp"] = "whatsapp"
    about: str | None = Field(default=None, min_length=1, max_length=BUSINESS_ABOUT_MAX_CHARS)
    address: str | None = Field(default=None, max_length=BUSINESS_ADDRESS_MAX_CHARS)
    description: str | None = Field(default=None, max_length=BUSINESS_DESCRIPTION_MAX_CHARS)
    email: str | None = Field(default=None, max_length=BUSINESS_EMAIL_MAX_CHARS)
    websites: list[Annotated[str, Field(max_length=BUSINESS_WEBSITE_MAX_CHARS)]] | None = Field(
        default=None, max_length=BUSINESS_WEBSITES_MAX
    )
    vertical: BusinessVertical | None = None
    # From the Resumable Upload API ("4::aW...").
    profile_picture_handle: str | None = None


# --- Subscribed apps ---------------------------------------------------------------------------


class WhatsAppBusinessApiData(WireModel):
    id: str | None = None
    name: str | None = None
    link: str | None = None
    category: str | None = None


class SubscribedApp(WireModel):
    whatsapp_business_api_data: WhatsAppBusinessApiData | None = None
    # Set when the subscription overrides the app's callback URL for this WABA.
    override_callback_uri: str | None = None


class SubscribedAppList(WireModel):
    """Answer of ``GET /{waba-id}/subscribed_apps``; ``POST`` answers ``SuccessResponse``."""

    data: list[SubscribedApp]
    paging: Paging | None = None
