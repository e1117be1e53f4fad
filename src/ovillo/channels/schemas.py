"""What the numbers API takes and answers. Tokens and secrets go in, never out."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from ovillo.channels.models import Channel

GRAPH_ID_PATTERN = r"^[0-9]{1,64}$"


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number_id: str = Field(
        pattern=GRAPH_ID_PATTERN,
        description="The number's id in Meta's WhatsApp Manager (not the number itself).",
        examples=["106540352242922"],
    )
    waba_id: str = Field(
        pattern=GRAPH_ID_PATTERN,
        description="The WhatsApp Business Account the number belongs to.",
        examples=["102290129340398"],
    )
    access_token: str = Field(
        min_length=1,
        max_length=4096,
        description="A system-user access token with whatsapp_business_messaging and "
        "whatsapp_business_management. Stored encrypted; never returned.",
    )
    app_secret: str = Field(
        min_length=1,
        max_length=512,
        description="The Meta app's secret, which signs webhooks. Stored encrypted; never "
        "returned.",
    )
    graph_api_url: HttpUrl | None = Field(
        default=None,
        description="Where this number's Graph API lives; Meta's by default (or the embedded "
        "emulator in the demo).",
    )
    graph_api_version: str | None = Field(
        default=None, pattern=r"^v[0-9]+\.[0-9]+$", examples=["v23.0"]
    )


class ChannelOut(BaseModel):
    id: uuid.UUID
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    quality_rating: str | None = Field(description="GREEN, YELLOW, RED or UNKNOWN.")
    messaging_limit_tier: str | None = Field(
        description="The messaging limit as Meta reports it (TIER_250, TIER_2K, ...)."
    )
    throughput_mps: int = Field(description="Messages per second this number may send.")
    status: str | None
    country: str | None
    name_status: str | None = Field(
        description="Meta's review of the display name: APPROVED, PENDING_REVIEW, DECLINED..."
    )
    code_verification_status: str | None = Field(
        description="VERIFIED once the number's ownership code was entered."
    )
    platform_type: str | None = Field(
        description="CLOUD_API once the number is registered for the Cloud API."
    )
    webhooks_subscribed: bool | None = Field(
        description="An app is subscribed to the WABA's webhooks (None: not read yet)."
    )
    callback_url: str | None = Field(
        description="Where Meta sends this number's webhooks, as Meta last reported it."
    )
    graph_api_url: str
    graph_api_version: str
    webhook_url: str | None = Field(
        description="Paste into the Meta app's WhatsApp webhook configuration as the callback "
        "URL (None until the server knows its public URL)."
    )
    webhook_verify_token: str = Field(description="Paste as the webhook's verify token.")
    created_at: datetime
    updated_at: datetime
    synced_at: datetime | None
    disconnected_at: datetime | None

    @classmethod
    def of(cls, channel: Channel, *, webhook_url: str | None) -> ChannelOut:
        return cls(
            id=channel.id,
            phone_number_id=channel.phone_number_id,
            waba_id=channel.waba_id,
            display_phone_number=channel.display_phone_number,
            verified_name=channel.verified_name,
            quality_rating=channel.quality_rating,
            messaging_limit_tier=channel.messaging_limit_tier,
            throughput_mps=channel.throughput_mps,
            status=channel.status,
            country=channel.country,
            name_status=channel.name_status,
            code_verification_status=channel.code_verification_status,
            platform_type=channel.platform_type,
            webhooks_subscribed=channel.webhooks_subscribed,
            callback_url=channel.callback_url,
            graph_api_url=channel.graph_api_url,
            graph_api_version=channel.graph_api_version,
            webhook_url=webhook_url,
            webhook_verify_token=channel.webhook_verify_token,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
            synced_at=channel.synced_at,
            disconnected_at=channel.disconnected_at,
        )


class ChannelList(BaseModel):
    data: list[ChannelOut]
