"""Webhook models: Meta's examples parse, round-trip, and pywa reads what we emit.

The example payloads follow Meta's webhook reference pages (messages by type, status,
template, phone number, account, capability and user-preference webhooks) and the facts
file, with the 2026 identity fields (``user_id`` in ``contacts[]``, ``from_user_id`` in
messages) Meta now sends and pywa 4.5 requires.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pywa import WhatsApp
from pywa.types.base_update import RawUpdate

from ovillo.cloudapi import webhooks as wh
from ovillo.cloudapi.webhooks import (
    AccountUpdateValue,
    AudioMessage,
    BusinessCapabilityUpdateValue,
    ButtonMessage,
    ContactProfile,
    ContactsMessage,
    DocumentMessage,
    ImageMessage,
    InteractiveButtonReply,
    InteractiveListReply,
    InteractiveMessage,
    InteractiveNfmReply,
    LocationMessage,
    MessageStatus,
    MessageStatusKind,
    MessagesValue,
    Metadata,
    OrderMessage,
    PhoneNumberNameUpdateValue,
    PhoneNumberQualityUpdateValue,
    ReactionMessage,
    RequestWelcomeMessage,
    StickerMessage,
    SystemMessage,
    TemplateCategoryUpdateValue,
    TemplateQualityUpdateValue,
    TemplateStatusUpdateValue,
    TextBody,
    TextMessage,
    UnknownChangeValue,
    UnknownInteractive,
    UnknownMessage,
    UnsupportedMessage,
    UserPreferencesValue,
    VideoMessage,
    WebhookContact,
    WebhookParseError,
    WebhookPayload,
    datetime_to_unix_seconds,
    parse_webhook,
)

WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_PHONE_NUMBER = "15550783881"
USER_WA_ID = "16505551234"
USER_BSUID = "US.13491208655302741918"
ENTRY_TIME = 1749416400

CONTACT = {"profile": {"name": "Sheena Nelson"}, "wa_id": USER_WA_ID, "user_id": USER_BSUID}
METADATA = {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": PHONE_NUMBER_ID}


def envelope(field: str, value: dict[str, Any], *, time: int | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": WABA_ID, "changes": [{"value": value, "field": field}]}
    if time is not None:
        entry["time"] = time
    return {"object": "whatsapp_business_account", "entry": [entry]}


def inbound(message: dict[str, Any], *, contacts: list[dict[str, Any]] | None = None) -> dict:
    value: dict[str, Any] = {"messaging_product": "whatsapp", "metadata": METADATA}
    value["contacts"] = [CONTACT] if contacts is None else contacts
    if not value["contacts"]:
        del value["contacts"]  # system messages come without a contacts array
    value["messages"] = [message]
    return envelope("messages", value)


def from_user(type_: str, **content: Any) -> dict[str, Any]:
    return {
        "from": USER_WA_ID,
        "from_user_id": USER_BSUID,
        "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        "timestamp": "1749416383",
        "type": type_,
        **content,
    }


def status_webhook(status: dict[str, Any], *, contact: dict[str, Any] = CONTACT) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": METADATA,
        "contacts": [contact],
        "statuses": [status],
    }
    return envelope("messages", value)


FLOW_TOKEN = "AQAAAAACS5FpgQ_cAAAAAD0QI3s."
OUT_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjBBRDEzMDhBRkI5M0EA"

# (name, payload, type of the change value, type of messages[0] or None)
MESSAGE_EXAMPLES: list[tuple[str, dict[str, Any], type]] = [
    (
        "text",
        inbound(from_user("text", text={"body": "Does it come in another color?"})),
        TextMessage,
    ),
    (
        "text reply",
        inbound(
            from_user(
                "text",
                context={"from": DISPLAY_PHONE_NUMBER, "id": OUT_WAMID},
                text={"body": "Yes please"},
            )
        ),
        TextMessage,
    ),
    (
        "text forwarded",
        inbound(
            from_user(
                "text",
                context={"forwarded": True, "frequently_forwarded": True},
                text={"body": "look at this"},
            )
        ),
        TextMessage,
    ),
    (
        "text product enquiry",
        inbound(
            from_user(
                "text",
                context={
                    "from": DISPLAY_PHONE_NUMBER,
                    "id": OUT_WAMID,
                    "referred_product": {
                        "catalog_id": "194836987003835",
                        "product_retailer_id": "di9ozbzfi4",
                    },
                },
                text={"body": "Is this in stock?"},
            )
        ),
        TextMessage,
    ),
    (
        "text from click-to-whatsapp ad",
        inbound(
            from_user(
                "text",
                referral={
                    "source_url": "https://fb.me/3cr4Wqqkv",
                    "source_id": "120226305854810726",
                    "source_type": "ad",
                    "headline": "Chat with us",
                    "body": "Summer sale",
                    "media_type": "image",
                    "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/image.png",
                    "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEk",
                    "welcome_message": {"text": "Hi! How can we help?"},
                },
                text={"body": "Can I get more info about this?"},
            )
        ),
        TextMessage,
    ),
    (
        "image",
        inbound(
            from_user(
                "image",
                image={
                    "caption": "The red one",
                    "mime_type": "image/jpeg",
                    "sha256": "729a0e5c6c9a8f7b4e9e2b1d8f3c5a7e6d4b2a1c9e8f7d6c5b4a3e2d1c0b9a8f",
                    "id": "1003383421387256",
                    "url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1003383421387256",
                },
            )
        ),
        ImageMessage,
    ),
    (
        "video",
        inbound(
            from_user(
                "video",
                video={
                    "mime_type": "video/mp4",
                    "sha256": "8b9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c",
                    "id": "1184144273265466",
                },
            )
        ),
        VideoMessage,
    ),
    (
        "audio voice note",
        inbound(
            from_user(
                "audio",
                audio={
                    "mime_type": "audio/ogg; codecs=opus",
                    "sha256": "4f8b2d9e1c7a3b5d6e8f0a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b",
                    "id": "1425304915374463",
                    "voice": True,
                },
            )
        ),
        AudioMessage,
    ),
    (
        "document",
        inbound(
            from_user(
                "document",
                document={
                    "caption": "Invoice",
                    "filename": "invoice-0042.pdf",
                    "mime_type": "application/pdf",
                    "sha256": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
                    "id": "1812406099580151",
                },
            )
        ),
        DocumentMessage,
    ),
    (
        "sticker",
        inbound(
            from_user(
                "sticker",
                sticker={
                    "mime_type": "image/webp",
                    "sha256": "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f",
                    "id": "1055955236235264",
                    "animated": False,
                },
            )
        ),
        StickerMessage,
    ),
    (
        "location",
        inbound(
            from_user(
                "location",
                location={
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                    "latitude": 37.483307,
                    "longitude": -122.148981,
                    "name": "Meta Headquarters",
                    "url": "https://www.meta.com",
                },
            )
        ),
        LocationMessage,
    ),
    (
        "contacts",
        inbound(
            from_user(
                "contacts",
                contacts=[
                    {
                        "addresses": [
                            {
                                "city": "Menlo Park",
                                "country": "United States",
                                "country_code": "us",
                                "state": "CA",
                                "street": "1 Hacker Way",
                                "type": "WORK",
                                "zip": "94025",
                            }
                        ],
                        "birthday": "1999-01-23",
                        "emails": [{"email": "bjohnson@example.com", "type": "WORK"}],
                        "name": {
                            "formatted_name": "Barbara J. Johnson",
                            "first_name": "Barbara",
                            "last_name": "Johnson",
                        },
                        "org": {"company": "Lucky Shrub", "department": "Legal", "title": "CEO"},
                        "phones": [
                            {"phone": "+1 (650) 555-1234", "wa_id": "16505551234", "type": "WORK"}
                        ],
                        "urls": [{"url": "https://www.luckyshrub.com", "type": "WORK"}],
                    }
                ],
            )
        ),
        ContactsMessage,
    ),
    (
        "interactive button reply",
        inbound(
            from_user(
                "interactive",
                context={"from": DISPLAY_PHONE_NUMBER, "id": OUT_WAMID},
                interactive={
                    "type": "button_reply",
                    "button_reply": {"id": "change-button", "title": "Change"},
                },
            )
        ),
        InteractiveMessage,
    ),
    (
        "interactive list reply",
        inbound(
            from_user(
                "interactive",
                context={"from": DISPLAY_PHONE_NUMBER, "id": OUT_WAMID},
                interactive={
                    "type": "list_reply",
                    "list_reply": {
                        "id": "priority_express",
                        "title": "Priority Mail Express",
                        "description": "Next Day to 2 Days",
                    },
                },
            )
        ),
        InteractiveMessage,
    ),
    (
        "interactive flow completion",
        inbound(
            from_user(
                "interactive",
                context={"from": DISPLAY_PHONE_NUMBER, "id": OUT_WAMID},
                interactive={
                    "type": "nfm_reply",
                    "nfm_reply": {
                        "name": "flow",
                        "body": "Sent",
                        "response_json": json.dumps({"flow_token": FLOW_TOKEN, "rating": "5"}),
                    },
                },
            )
        ),
        InteractiveMessage,
    ),
    (
        "template quick-reply button",
        inbound(
            from_user(
                "button",
                context={"from": DISPLAY_PHONE_NUMBER, "id": OUT_WAMID},
                button={"payload": "STOP", "text": "Stop promotions"},
            )
        ),
        ButtonMessage,
    ),
    (
        "reaction",
        inbound(from_user("reaction", reaction={"message_id": OUT_WAMID, "emoji": "\U0001f44d"})),
        ReactionMessage,
    ),
    (
        "reaction removed",
        inbound(from_user("reaction", reaction={"message_id": OUT_WAMID})),
        ReactionMessage,
    ),
    (
        "order",
        inbound(
            from_user(
                "order",
                order={
                    "catalog_id": "194836987003835",
                    "text": "Gift wrap, please",
                    "product_items": [
                        {
                            "product_retailer_id": "di9ozbzfi4",
                            "quantity": 2,
                            "item_price": 30,
                            "currency": "USD",
                        },
                        {
                            "product_retailer_id": "nqryix03ez",
                            "quantity": 1,
                            "item_price": 25.5,
                            "currency": "USD",
                        },
                    ],
                },
            )
        ),
        OrderMessage,
    ),
    (
        "system user changed number",
        inbound(
            from_user(
                "system",
                system={
                    "body": "User Sheena Nelson changed from 16505551234 to 16505553333",
                    "wa_id": "16505553333",
                    "type": "user_changed_number",
                },
            ),
            contacts=[],
        ),
        SystemMessage,
    ),
    (
        "system user changed user id",
        inbound(
            from_user(
                "system",
                system={
                    "body": "User Sheena Nelson's business-scoped user ID changed",
                    "user_id": "US.20938470987345098234",
                    "type": "user_changed_user_id",
                },
            ),
            contacts=[],
        ),
        SystemMessage,
    ),
    (
        "system customer identity changed",
        inbound(
            from_user(
                "system",
                system={
                    "body": "User Sheena Nelson's security code changed",
                    "type": "customer_identity_changed",
                    "customer": USER_WA_ID,
                },
                identity={
                    "acknowledged": True,
                    "created_timestamp": "1749416300",
                    "hash": "Sjvjlx8G6Z0=",
                },
            )
        ),
        SystemMessage,
    ),
    (
        "unsupported",
        inbound(
            from_user(
                "unsupported",
                unsupported={"type": "poll"},
                errors=[
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            )
        ),
        UnsupportedMessage,
    ),
    (
        "unknown",
        inbound(
            from_user(
                "unknown",
                errors=[
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                    }
                ],
            )
        ),
        UnsupportedMessage,
    ),
    ("request welcome", inbound(from_user("request_welcome")), RequestWelcomeMessage),
    (
        "username user without a phone number",
        inbound(
            {
                "from_user_id": USER_BSUID,
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgB=",
                "timestamp": "1775000000",
                "type": "text",
                "text": {"body": "hi, it's @bob"},
            },
            contacts=[{"profile": {"name": "Bob", "username": "@bob"}, "user_id": USER_BSUID}],
        ),
        TextMessage,
    ),
]

STATUS_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    (
        "sent, conversation-based pricing",
        status_webhook(
            {
                "id": OUT_WAMID,
                "status": "sent",
                "timestamp": "1750857384",
                "recipient_id": USER_WA_ID,
                "recipient_user_id": USER_BSUID,
                "conversation": {
                    "id": "a75d17ad06104c51166f948319b03c6a",
                    "expiration_timestamp": "1750943820",
                    "origin": {"type": "service"},
                },
                "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
            },
            contact={"wa_id": USER_WA_ID, "user_id": USER_BSUID},
        ),
    ),
    (
        "delivered, per-message pricing",
        status_webhook(
            {
                "id": OUT_WAMID,
                "status": "delivered",
                "timestamp": "1735689660",
                "recipient_id": USER_WA_ID,
                "recipient_user_id": USER_BSUID,
                "biz_opaque_callback_data": "crm-123",
                "conversation": {
                    "id": "c0ffee5d17ad06104c51166f948319b0",
                    "expiration_timestamp": "1735776060",
                    "origin": {"type": "utility"},
                },
                "pricing": {
                    "billable": True,
                    "pricing_model": "PMP",
                    "category": "utility",
                    "type": "regular",
                },
            }
        ),
    ),
    (
        "read, free customer service",
        status_webhook(
            {
                "id": OUT_WAMID,
                "status": "read",
                "timestamp": "1751760000",
                "recipient_id": USER_WA_ID,
                "recipient_user_id": USER_BSUID,
                "pricing": {
                    "billable": False,
                    "pricing_model": "PMP",
                    "category": "service",
                    "type": "free_customer_service",
                },
            }
        ),
    ),
    (
        "delivered, free entry point",
        status_webhook(
            {
                "id": OUT_WAMID,
                "status": "delivered",
                "timestamp": "1751760010",
                "recipient_id": USER_WA_ID,
                "recipient_user_id": USER_BSUID,
                "conversation": {
                    "id": "6ceb9d929c0b4ac6b0d5b0f0ff3b3f1e",
                    "origin": {"type": "referral_conversion"},
                },
                "pricing": {
                    "billable": False,
                    "pricing_model": "PMP",
                    "category": "referral_conversion",
                    "type": "free_entry_point",
                },
            }
        ),
    ),
    (
        "failed, re-engagement",
        status_webhook(
            {
                "id": OUT_WAMID,
                "status": "failed",
                "timestamp": "1751760020",
                "recipient_id": USER_WA_ID,
                "recipient_user_id": USER_BSUID,
                "errors": [
                    {
                        "code": 131047,
                        "title": "Re-engagement message",
                        "message": "Re-engagement message",
                        "error_data": {
                            "details": "Message failed to send because more than 24 hours have "
                            "passed since the customer last replied to this number."
                        },
                        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                    }
                ],
            }
        ),
    ),
    (
        "delivered to a user known only by BSUID",
        status_webhook(
            {
                "id": OUT_WAMID,
                "status": "delivered",
                "timestamp": "1775000100",
                "recipient_user_id": USER_BSUID,
                "pricing": {
                    "billable": True,
                    "pricing_model": "PMP",
                    "category": "marketing",
                    "type": "regular",
                },
            },
            contact={"profile": {"username": "@bob"}, "user_id": USER_BSUID},
        ),
    ),
]

TEMPLATE = {
    "message_template_id": 806312974732579,
    "message_template_name": "order_update",
    "message_template_language": "en_US",
}

# (name, payload, type of the change value)
OTHER_FIELD_EXAMPLES: list[tuple[str, dict[str, Any], type]] = [
    (
        "template approved",
        envelope(
            "message_template_status_update",
            {
                "event": "APPROVED",
                **TEMPLATE,
                "reason": "NONE",
                "message_template_category": "UTILITY",
            },
            time=ENTRY_TIME,
        ),
        TemplateStatusUpdateValue,
    ),
    (
        "template rejected",
        envelope(
            "message_template_status_update",
            {
                "event": "REJECTED",
                **TEMPLATE,
                "reason": "INCORRECT_CATEGORY",
                "rejection_info": {
                    "reason": "The template's content doesn't match its category.",
                    "recommendation": "Submit it as MARKETING.",
                },
            },
            time=ENTRY_TIME,
        ),
        TemplateStatusUpdateValue,
    ),
    (
        "template paused",
        envelope(
            "message_template_status_update",
            {
                "event": "PAUSED",
                **TEMPLATE,
                "reason": "NONE",
                "other_info": {
                    "title": "FIRST_PAUSE",
                    "description": "Your template has been paused for 3 hours due to low quality.",
                },
            },
            time=ENTRY_TIME,
        ),
        TemplateStatusUpdateValue,
    ),
    (
        "template quality",
        envelope(
            "message_template_quality_update",
            {"previous_quality_score": "GREEN", "new_quality_score": "YELLOW", **TEMPLATE},
            time=ENTRY_TIME,
        ),
        TemplateQualityUpdateValue,
    ),
    (
        "template category",
        envelope(
            "template_category_update",
            {**TEMPLATE, "previous_category": "UTILITY", "new_category": "MARKETING"},
            time=ENTRY_TIME,
        ),
        TemplateCategoryUpdateValue,
    ),
    (
        "phone number limit upgrade",
        envelope(
            "phone_number_quality_update",
            {
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "event": "UPGRADE",
                "old_limit": "TIER_1K",
                "current_limit": "TIER_10K",
                "max_daily_conversations_per_business": "TIER_10K",
            },
            time=ENTRY_TIME,
        ),
        PhoneNumberQualityUpdateValue,
    ),
    (
        "phone number throughput upgrade",
        envelope(
            "phone_number_quality_update",
            {
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "event": "THROUGHPUT_UPGRADE",
                "current_limit": "TIER_UNLIMITED",
            },
            time=ENTRY_TIME,
        ),
        PhoneNumberQualityUpdateValue,
    ),
    (
        "display name approved",
        envelope(
            "phone_number_name_update",
            {
                "display_phone_number": DISPLAY_PHONE_NUMBER,
                "decision": "APPROVED",
                "requested_verified_name": "Lucky Shrub",
                "rejection_reason": "NONE",
            },
            time=ENTRY_TIME,
        ),
        PhoneNumberNameUpdateValue,
    ),
    (
        "account volume pricing tier",
        envelope(
            "account_update",
            {
                "event": "VOLUME_BASED_PRICING_TIER_UPDATE",
                "volume_tier_info": {
                    "effective_month": "2025-11",
                    "pricing_category": "UTILITY",
                    "region": "INDIA",
                    "tier": "25000001:50000000",
                    "tier_update_time": 1743451903,
                },
            },
            time=ENTRY_TIME,
        ),
        AccountUpdateValue,
    ),
    (
        "account violation",
        envelope(
            "account_update",
            {
                "phone_number": DISPLAY_PHONE_NUMBER,
                "event": "ACCOUNT_VIOLATION",
                "violation_info": {"violation_type": "SCAM"},
            },
            time=ENTRY_TIME,
        ),
        AccountUpdateValue,
    ),
    (
        "business capability",
        envelope(
            "business_capability_update",
            {
                "max_daily_conversation_per_phone": 1000,
                "max_phone_numbers_per_business": 25,
                "max_daily_conversations_per_business": 2000,
            },
            time=ENTRY_TIME,
        ),
        BusinessCapabilityUpdateValue,
    ),
    (
        "user stopped marketing",
        envelope(
            "user_preferences",
            {
                "messaging_product": "whatsapp",
                "metadata": METADATA,
                "contacts": [CONTACT],
                "user_preferences": [
                    {
                        "wa_id": USER_WA_ID,
                        "user_id": USER_BSUID,
                        "detail": "User requested to stop marketing messages",
                        "category": "marketing_messages",
                        "value": "stop",
                        "timestamp": 1731705721,
                    }
                ],
            },
            time=ENTRY_TIME,
        ),
        UserPreferencesValue,
    ),
]

# Meta's own first example (messages webhook reference), from before BSUIDs.
META_REFERENCE_TEXT = envelope(
    "messages",
    {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [
            {
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1749416383",
                "type": "text",
                "text": {"body": "Does it come in another color?"},
            }
        ],
    },
)

# The facts file's envelope example, as written there.
FACTS_ENVELOPE = envelope(
    "messages",
    {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550100000", "phone_number_id": "1065"},
        "contacts": [
            {"profile": {"name": "Ana"}, "wa_id": "5215512345678", "user_id": "MX.8815523094477120"}
        ],
        "messages": [
            {
                "from": "5215512345678",
                "id": "wamid.IN",
                "timestamp": "1735689600",
                "type": "text",
                "text": {"body": "hola"},
            }
        ],
    },
)

ALL_EXAMPLES: list[tuple[str, dict[str, Any]]] = [
    *((name, payload) for name, payload, _ in MESSAGE_EXAMPLES),
    *STATUS_EXAMPLES,
    *((name, payload) for name, payload, _ in OTHER_FIELD_EXAMPLES),
    ("meta reference text", META_REFERENCE_TEXT),
    ("facts envelope", FACTS_ENVELOPE),
]
EXAMPLE_IDS = [name for name, _ in ALL_EXAMPLES]


def as_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True)


def only_change(payload: WebhookPayload) -> Any:
    [entry] = payload.entry
    [change] = entry.changes
    return change.value


# --- Examples parse and round-trip -----------------------------------------------------------


@pytest.mark.parametrize(("name", "example"), ALL_EXAMPLES, ids=EXAMPLE_IDS)
def test_example_round_trips_to_the_same_json(name: str, example: dict[str, Any]) -> None:
    parsed = parse_webhook(as_bytes(example))

    assert canonical(parsed.to_wire()) == canonical(example)


@pytest.mark.parametrize(
    ("example", "message_class"),
    [(payload, cls) for _, payload, cls in MESSAGE_EXAMPLES],
    ids=[name for name, _, _ in MESSAGE_EXAMPLES],
)
def test_inbound_message_parses_into_its_type(example: dict, message_class: type) -> None:
    value = only_change(parse_webhook(as_bytes(example)))

    assert isinstance(value, MessagesValue)
    assert value.messages is not None
    [message] = value.messages
    assert type(message) is message_class


@pytest.mark.parametrize(
    ("example", "value_class"),
    [(payload, cls) for _, payload, cls in OTHER_FIELD_EXAMPLES],
    ids=[name for name, _, _ in OTHER_FIELD_EXAMPLES],
)
def test_other_field_parses_into_its_value_model(example: dict, value_class: type) -> None:
    assert type(only_change(parse_webhook(as_bytes(example)))) is value_class


@pytest.mark.parametrize(("name", "example"), STATUS_EXAMPLES, ids=[n for n, _ in STATUS_EXAMPLES])
def test_status_parses_with_its_pricing_and_errors(name: str, example: dict) -> None:
    value = only_change(parse_webhook(as_bytes(example)))
    raw_status = example["entry"][0]["changes"][0]["value"]["statuses"][0]

    assert isinstance(value, MessagesValue)
    assert value.statuses is not None
    [status] = value.statuses
    assert status.status == raw_status["status"]
    assert (status.pricing.pricing_model if status.pricing else None) == raw_status.get(
        "pricing", {}
    ).get("pricing_model")
    assert [error.code for error in status.errors or ()] == [
        error["code"] for error in raw_status.get("errors", ())
    ]


def test_interactive_replies_parse_by_their_own_type() -> None:
    kinds = {
        name: only_change(parse_webhook(as_bytes(payload))).messages[0].interactive
        for name, payload, cls in MESSAGE_EXAMPLES
        if cls is InteractiveMessage
    }

    assert isinstance(kinds["interactive button reply"], InteractiveButtonReply)
    assert isinstance(kinds["interactive list reply"], InteractiveListReply)
    flow = kinds["interactive flow completion"]
    assert isinstance(flow, InteractiveNfmReply)
    assert flow.nfm_reply.response == {"flow_token": FLOW_TOKEN, "rating": "5"}


def test_message_timestamp_is_an_aware_utc_datetime() -> None:
    [(_, message)] = parse_webhook(as_bytes(FACTS_ENVELOPE)).iter_messages()

    assert message.occurred_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_status_timestamp_is_an_aware_utc_datetime() -> None:
    [(_, status)] = parse_webhook(as_bytes(STATUS_EXAMPLES[1][1])).iter_statuses()

    assert status.occurred_at == datetime(2025, 1, 1, 0, 1, tzinfo=UTC)


def test_volume_tier_bounds_are_read_from_the_tier_string() -> None:
    payload = dict((name, p) for name, p, _ in OTHER_FIELD_EXAMPLES)["account volume pricing tier"]
    value = only_change(parse_webhook(as_bytes(payload)))

    assert isinstance(value, AccountUpdateValue)
    assert value.volume_tier_info is not None
    assert value.volume_tier_info.tier_bounds == (25_000_001, 50_000_000)


# --- Identity: BSUIDs and missing phone numbers ----------------------------------------------


def test_contact_with_a_user_id_and_no_wa_id_parses() -> None:
    payload = dict((n, p) for n, p, _ in MESSAGE_EXAMPLES)["username user without a phone number"]
    value = only_change(parse_webhook(as_bytes(payload)))

    assert isinstance(value, MessagesValue)
    [message] = value.messages or []
    assert message.from_ is None
    assert message.from_user_id == USER_BSUID
    contact = value.contact_of(message)
    assert contact is not None
    assert contact.wa_id is None
    assert contact.user_id == USER_BSUID
    assert contact.profile == ContactProfile(name="Bob", username="@bob")


def test_status_webhook_keeps_its_contact_with_a_user_id() -> None:
    value = only_change(parse_webhook(as_bytes(STATUS_EXAMPLES[-1][1])))

    assert isinstance(value, MessagesValue)
    assert value.contacts == [
        WebhookContact(profile=ContactProfile(username="@bob"), user_id=USER_BSUID)
    ]
    [status] = value.statuses or []
    assert status.recipient_id is None
    assert status.recipient_user_id == USER_BSUID


def test_contact_of_finds_the_sender_by_phone_number_without_bsuids() -> None:
    value = only_change(parse_webhook(as_bytes(META_REFERENCE_TEXT)))

    assert isinstance(value, MessagesValue)
    [message] = value.messages or []
    contact = value.contact_of(message)
    assert contact is not None
    assert contact.profile is not None
    assert contact.profile.name == "Sheena Nelson"


# --- Unknown things survive ----------------------------------------------------------------


def test_unknown_message_type_is_kept_whole() -> None:
    poll = from_user("poll", poll={"question": "Lunch?", "options": ["pizza", "tacos"]})
    example = inbound(poll)

    parsed = parse_webhook(as_bytes(example))

    [(phone_number_id, message)] = parsed.iter_messages()
    assert phone_number_id == PHONE_NUMBER_ID
    assert isinstance(message, UnknownMessage)
    assert message.type == "poll"
    assert canonical(parsed.to_wire()) == canonical(example)


def test_known_type_that_does_not_fit_its_model_falls_back_without_hiding_siblings() -> None:
    example = inbound(from_user("text", text={"body": "fine"}))
    messages = example["entry"][0]["changes"][0]["value"]["messages"]
    messages.append(from_user("image", image={"caption": "no id"}))

    parsed = parse_webhook(as_bytes(example))

    assert [type(message) for _, message in parsed.iter_messages()] == [TextMessage, UnknownMessage]
    assert canonical(parsed.to_wire()) == canonical(example)


def test_unknown_interactive_reply_is_kept_whole() -> None:
    example = inbound(
        from_user(
            "interactive",
            interactive={
                "type": "call_permission_reply",
                "call_permission_reply": {"response": "accept", "is_permanent": False},
            },
        )
    )

    parsed = parse_webhook(as_bytes(example))

    [(_, message)] = parsed.iter_messages()
    assert isinstance(message, InteractiveMessage)
    assert isinstance(message.interactive, UnknownInteractive)
    assert canonical(parsed.to_wire()) == canonical(example)


def test_unknown_fields_are_kept_at_every_level() -> None:
    example = copy.deepcopy(STATUS_EXAMPLES[1][1])
    example["new_top"] = {"a": [1, 2]}
    example["entry"][0]["new_entry_key"] = "x"
    change = example["entry"][0]["changes"][0]
    change["new_change_key"] = True
    change["value"]["new_value_key"] = 7
    status = change["value"]["statuses"][0]
    status["recipient_logical_id"] = "95000398405635"
    status["pricing"]["new_pricing_key"] = "later"

    parsed = parse_webhook(as_bytes(example))

    assert canonical(parsed.to_wire()) == canonical(example)


@pytest.mark.parametrize("field", ["security", "flows", "calls", "a_field_from_2030"])
def test_unknown_field_becomes_unknown_change_value(field: str) -> None:
    example = envelope(
        field, {"event": "SOMETHING", "nested": {"deep": [1, "two"]}}, time=ENTRY_TIME
    )

    parsed = parse_webhook(as_bytes(example))

    value = only_change(parsed)
    assert isinstance(value, UnknownChangeValue)
    assert value.parse_problem is None
    assert canonical(parsed.to_wire()) == canonical(example)


def test_known_field_whose_value_does_not_fit_is_kept_with_the_reason() -> None:
    example = envelope("message_template_status_update", {"surprise": 1}, time=ENTRY_TIME)

    parsed = parse_webhook(as_bytes(example))

    value = only_change(parsed)
    assert isinstance(value, UnknownChangeValue)
    assert value.parse_problem is not None
    assert "event" in value.parse_problem
    assert canonical(parsed.to_wire()) == canonical(example)


# --- Batches -------------------------------------------------------------------------------


def test_iteration_covers_every_entry_change_and_item_of_a_batch() -> None:
    second_number = {"display_phone_number": "15550100001", "phone_number_id": "222"}
    batch = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": METADATA,
                            "contacts": [CONTACT],
                            "messages": [
                                from_user("text", text={"body": "one"}),
                                {**from_user("text", text={"body": "two"}), "id": "wamid.2"},
                            ],
                        },
                    },
                    {"field": "account_update", "value": {"event": "PARTNER_ADDED"}},
                ],
            },
            {
                "id": "999",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": second_number,
                            "statuses": [
                                {"id": "wamid.s1", "status": "sent", "timestamp": "1"},
                                {"id": "wamid.s2", "status": "read", "timestamp": "2"},
                            ],
                        },
                    }
                ],
            },
        ],
    }

    parsed = parse_webhook(as_bytes(batch))

    assert [(number, m.id) for number, m in parsed.iter_messages()] == [
        (PHONE_NUMBER_ID, "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="),
        (PHONE_NUMBER_ID, "wamid.2"),
    ]
    assert [(number, s.id) for number, s in parsed.iter_statuses()] == [
        ("222", "wamid.s1"),
        ("222", "wamid.s2"),
    ]
    assert len(list(parsed.changes())) == 3


# --- Builders (what the emulator does) -------------------------------------------------------


def test_built_text_webhook_equals_the_example() -> None:
    message = TextMessage(
        from_=USER_WA_ID,
        from_user_id=USER_BSUID,
        id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        timestamp=datetime_to_unix_seconds(datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)),
        text=TextBody(body="Does it come in another color?"),
    )
    value = MessagesValue(
        messaging_product="whatsapp",
        metadata=Metadata(
            display_phone_number=DISPLAY_PHONE_NUMBER, phone_number_id=PHONE_NUMBER_ID
        ),
        contacts=[
            WebhookContact(
                profile=ContactProfile(name="Sheena Nelson"), wa_id=USER_WA_ID, user_id=USER_BSUID
            )
        ],
        messages=[message],
    )

    built = WebhookPayload.wrap(value, waba_id=WABA_ID).to_wire()

    assert canonical(built) == canonical(MESSAGE_EXAMPLES[0][1])


def test_built_status_takes_the_known_status_values() -> None:
    status = MessageStatus(id=OUT_WAMID, status=MessageStatusKind.READ, timestamp="1751760000")

    assert status.to_wire() == {"id": OUT_WAMID, "status": "read", "timestamp": "1751760000"}


def test_wrapping_an_unknown_value_needs_its_field() -> None:
    with pytest.raises(ValueError, match="field"):
        WebhookPayload.wrap(UnknownChangeValue(), waba_id=WABA_ID)

    wrapped = WebhookPayload.wrap(UnknownChangeValue(x=1), waba_id=WABA_ID, field="security")
    assert wrapped.to_wire()["entry"][0]["changes"] == [{"field": "security", "value": {"x": 1}}]


def test_naive_datetime_is_not_a_webhook_timestamp() -> None:
    with pytest.raises(ValueError, match="aware"):
        datetime_to_unix_seconds(datetime(2025, 1, 1))  # noqa: DTZ001 (the naive case under test)


# --- Errors of the parser ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"object": "whatsapp_business_account", "entry": %b}' % (b"[" * 70 + b"]" * 70), "deep"),
        (b"[]", "not an object"),
        (b'"whatsapp"', "not an object"),
        (b'{"object": "page", "entry": []}', "object"),
        (b'{"entry": []}', "object"),
        (b'{"object": "whatsapp_business_account"}', "entry"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "entry"),
        (b'{"object": "whatsapp_business_account", "entry": [{"changes": []}]}', "id"),
        (b'{"object": "whatsapp_business_account", "entry": [{"id": "1"}]}', "changes"),
        (
            b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{}]}]}',
            "field",
        ),
        (
            b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": '
            b'[{"field": "messages", "value": [1]}]}]}',
            "value",
        ),
    ],
)
def test_parse_error_says_what_is_wrong(raw: bytes, problem: str) -> None:
    with pytest.raises(WebhookParseError, match=problem):
        parse_webhook(raw)


def test_deepest_accepted_payload_can_be_written_back() -> None:
    deep: Any = "bottom"
    for _ in range(wh.MAX_JSON_DEPTH - 6):  # six levels of envelope above `deep`
        deep = [deep]
    example = envelope("a_field_from_2030", {"deep": deep})

    assert canonical(parse_webhook(as_bytes(example)).to_wire()) == canonical(example)


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(WebhookParseError, ValueError)


# --- pywa reads what we parse and emit -------------------------------------------------------


@pytest.fixture(scope="module")
def pywa_client() -> WhatsApp:
    # Offline: no server, no callback registration, no filtering by our test ids.
    return WhatsApp(token="offline", filter_updates=False, validate_updates=False)


PYWA_UNHANDLED_FIELDS = {
    # pywa 4.5 has no typed update for these; it hands them to raw-update handlers.
    "phone_number_quality_update",
    "phone_number_name_update",
    "business_capability_update",
}


def pywa_reads(client: WhatsApp, payload: dict[str, Any]) -> Any:
    """What pywa's own dispatch builds from ``payload``, as its server would."""
    update = RawUpdate(as_bytes(payload), hmac_header=None, update_hash="test")
    handler = client._get_handler_type(update)
    if handler is None:
        return None
    return client._handlers_to_updates[handler].from_update(client=client, update=update)


# Meta's pre-2026 example has no `user_id`, which pywa 4.5 requires (see the test below).
PYWA_EXAMPLES = [(name, example) for name, example in ALL_EXAMPLES if name != "meta reference text"]


@pytest.mark.parametrize(("name", "example"), PYWA_EXAMPLES, ids=[n for n, _ in PYWA_EXAMPLES])
def test_pywa_parses_what_we_emit(pywa_client: WhatsApp, name: str, example: dict) -> None:
    emitted = parse_webhook(as_bytes(example)).to_wire()
    field = example["entry"][0]["changes"][0]["field"]

    update = pywa_reads(pywa_client, emitted)

    if field in PYWA_UNHANDLED_FIELDS:
        assert update is None
    else:
        assert update is not None
        assert getattr(update, "id", None) is not None


def test_pywa_refuses_a_message_whose_contact_has_no_user_id(pywa_client: WhatsApp) -> None:
    # Why the emulator must emit `contacts[].user_id`: pywa 4.5 reads it unconditionally.
    with pytest.raises(KeyError, match="user_id"):
        pywa_reads(pywa_client, META_REFERENCE_TEXT)


def test_pywa_reads_the_sender_and_text_we_emit(pywa_client: WhatsApp) -> None:
    update = pywa_reads(pywa_client, parse_webhook(as_bytes(MESSAGE_EXAMPLES[0][1])).to_wire())

    assert update.text == "Does it come in another color?"
    assert update.from_user.bsuid == USER_BSUID
    assert update.from_user.wa_id == USER_WA_ID
    assert update.metadata.phone_number_id == PHONE_NUMBER_ID


def test_pywa_reads_pricing_and_errors_of_a_status_we_emit(pywa_client: WhatsApp) -> None:
    failed = dict(STATUS_EXAMPLES)["failed, re-engagement"]
    update = pywa_reads(pywa_client, parse_webhook(as_bytes(failed)).to_wire())

    assert update.status == "failed"
    assert update.error.code == 131047

    delivered = dict(STATUS_EXAMPLES)["delivered, per-message pricing"]
    update = pywa_reads(pywa_client, parse_webhook(as_bytes(delivered)).to_wire())

    assert update.pricing.model == "PMP"
    assert update.pricing.type == "regular"
    assert update.tracker == "crm-123"


# --- The parser raises nothing but its own error ----------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
known_fields = st.sampled_from([field.value for field in wh.WebhookField]) | st.text(max_size=12)
message_types = st.sampled_from(sorted(wh._MESSAGE_TAGS)) | st.text(max_size=12)


def parses_or_refuses(raw: bytes) -> WebhookPayload | None:
    try:
        return parse_webhook(raw)
    except WebhookParseError:
        return None


@given(st.binary(max_size=512))
def test_any_bytes_parse_or_raise_the_parse_error(raw: bytes) -> None:
    parses_or_refuses(raw)


@given(json_values)
def test_any_json_value_parses_or_raises_the_parse_error(value: Any) -> None:
    parses_or_refuses(as_bytes(value))


@given(field=known_fields, value=json_values, time=json_values)
def test_any_change_value_parses_or_raises_the_parse_error(
    field: str, value: Any, time: Any
) -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "time": time, "changes": [{"field": field, "value": value}]}],
    }
    parsed = parses_or_refuses(as_bytes(payload))

    if isinstance(value, dict) and isinstance(time, int | str) and parsed is not None:
        assert len(list(parsed.changes())) == 1


@given(message_type=message_types, content=json_values, extra=json_values)
def test_any_message_parses_and_is_kept(message_type: str, content: Any, extra: Any) -> None:
    message = from_user(message_type, **{message_type: content, "surprise": extra})
    example = inbound(message)

    parsed = parse_webhook(as_bytes(example))

    [(_, kept)] = parsed.iter_messages()
    assert kept.type == message_type


def paths_of(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths_of(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += paths_of(child, (*prefix, index))
    return found


def mutate(payload: Any, path: tuple[Any, ...], replacement: Any, *, delete: bool) -> Any:
    if not path:
        return replacement
    mutated = copy.deepcopy(payload)
    parent = mutated
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return mutated


@settings(max_examples=300)
@given(data=st.data())
def test_mutated_examples_parse_or_raise_the_parse_error(data: st.DataObject) -> None:
    _, example = data.draw(st.sampled_from(ALL_EXAMPLES), label="example")
    path = data.draw(st.sampled_from(paths_of(example)), label="path")
    delete = bool(path) and data.draw(st.booleans(), label="delete")
    replacement = None if delete else data.draw(json_values, label="replacement")
    mutated = mutate(example, path, replacement, delete=delete)

    parsed = parses_or_refuses(as_bytes(mutated))

    if parsed is not None:
        # What we accept we can emit, and what we emit we accept again unchanged.
        emitted = parsed.to_wire()
        assert canonical(parse_webhook(as_bytes(emitted)).to_wire()) == canonical(emitted)
