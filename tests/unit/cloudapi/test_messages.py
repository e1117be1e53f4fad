"""Outbound message models: Meta's examples round-trip, Meta's limits refuse, pywa agrees."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pywa.client import WhatsApp
from pywa.types import templates as pywa_templates
from pywa.types.callback import Button, Section, SectionList, SectionRow, URLButton

from ovillo.cloudapi import messages as m

TO = "5215512345678"
ENVELOPE: dict[str, Any] = {
    "messaging_product": "whatsapp",
    "recipient_type": "individual",
    "to": TO,
}


def _send(kind: str, payload: Any, **envelope: Any) -> dict[str, Any]:
    return {**ENVELOPE, **envelope, "type": kind, kind: payload}


# Request bodies from the facts file and Meta's per-type "Messages" pages.
META_EXAMPLES: dict[str, dict[str, Any]] = {
    "facts_text_reply": _send(
        "text",
        {"preview_url": True, "body": "hi https://ex.com"},
        context={"message_id": "wamid.X"},
        biz_opaque_callback_data="crm-123",
    ),
    "text_plain": _send("text", {"body": "Hola"}),
    "text_to_bsuid": {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "recipient": "US.13491208655302741918",
        "type": "text",
        "text": {"body": "hi"},
    },
    "image_by_id": _send("image", {"id": "1479537139650973", "caption": "A"}),
    "image_by_link": _send("image", {"link": "https://ex.com/a.jpg", "caption": "A"}),
    "video_by_link": _send("video", {"link": "https://ex.com/v.mp4", "caption": "V"}),
    "document_by_id": _send(
        "document", {"id": "1376223850470843", "caption": "Invoice", "filename": "inv.pdf"}
    ),
    "audio_by_id": _send("audio", {"id": "1013859600285441"}),
    "sticker_by_link": _send("sticker", {"link": "https://ex.com/s.webp"}),
    "location": _send(
        "location",
        {
            "latitude": 37.44216251868683,
            "longitude": -122.16153582049394,
            "name": "Philz Coffee",
            "address": "101 Forest Ave, Palo Alto, CA 94301",
        },
    ),
    "contacts_full": _send(
        "contacts",
        [
            {
                "addresses": [
                    {
                        "street": "1 Lucky Shrub Way",
                        "city": "Menlo Park",
                        "state": "CA",
                        "zip": "94025",
                        "country": "United States",
                        "country_code": "US",
                        "type": "Office",
                    }
                ],
                "birthday": "1999-01-23",
                "emails": [{"email": "bjohnson@luckyshrub.com", "type": "Work"}],
                "name": {
                    "formatted_name": "Barbara J. Johnson",
                    "first_name": "Barbara",
                    "last_name": "Johnson",
                    "middle_name": "Joana",
                    "suffix": "Esq.",
                    "prefix": "Dr.",
                },
                "org": {"company": "Lucky Shrub", "department": "Legal", "title": "Lawyer"},
                "phones": [
                    {"phone": "+16505559999", "type": "Landline"},
                    {"phone": "+19195551112", "type": "Mobile", "wa_id": "19195551112"},
                ],
                "urls": [{"url": "https://www.luckyshrub.com", "type": "Company"}],
            }
        ],
    ),
    "reaction": _send("reaction", {"message_id": "wamid.HBgL", "emoji": "\U0001f600"}),
    "reaction_removed": _send("reaction", {"message_id": "wamid.HBgL", "emoji": ""}),
    "interactive_buttons": _send(
        "interactive",
        {
            "type": "button",
            "header": {"type": "image", "image": {"id": "2762702990552401"}},
            "body": {"text": "Hi Pablo! Your gardening workshop is scheduled for 9am."},
            "footer": {"text": "Lucky Shrub: Your gateway to succulents!"},
            "action": {
                "buttons": [
                    {"type": "reply", "reply": {"id": "change-button", "title": "Change"}},
                    {"type": "reply", "reply": {"id": "cancel-button", "title": "Cancel"}},
                ]
            },
        },
    ),
    "interactive_list": _send(
        "interactive",
        {
            "type": "list",
            "header": {"type": "text", "text": "Choose Shipping Option"},
            "body": {"text": "Which shipping option do you prefer?"},
            "footer": {"text": "Lucky Shrub: Your gateway to succulents"},
            "action": {
                "button": "Shipping Options",
                "sections": [
                    {
                        "title": "I want it ASAP!",
                        "rows": [
                            {
                                "id": "priority_express",
                                "title": "Priority Mail Express",
                                "description": "Next Day to 2 Days",
                            },
                            {"id": "priority_mail", "title": "Priority Mail"},
                        ],
                    },
                    {
                        "title": "I can wait a bit",
                        "rows": [{"id": "usps_ground", "title": "USPS Ground Advantage"}],
                    },
                ],
            },
        },
    ),
    "interactive_cta_url": _send(
        "interactive",
        {
            "type": "cta_url",
            "header": {"type": "text", "text": "Available Dates"},
            "body": {"text": "Tap the button below to see available dates."},
            "footer": {"text": "Dates subject to change."},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "See Dates", "url": "https://ex.com?ref=wa"},
            },
        },
    ),
    "interactive_flow": _send(
        "interactive",
        {
            "type": "flow",
            "header": {"type": "text", "text": "Book"},
            "body": {"text": "Book your appointment"},
            "action": {
                "name": "flow",
                "parameters": {
                    "flow_message_version": "3",
                    "flow_token": "AQAAAAACS5FpgQ_cAAAAAD0QI3s.",
                    "flow_id": "1",
                    "flow_cta": "Book!",
                    "flow_action": "navigate",
                    "flow_action_payload": {"screen": "<SCREEN_NAME>", "data": {"k": "v"}},
                },
            },
        },
    ),
    "interactive_location_request": _send(
        "interactive",
        {
            "type": "location_request_message",
            "body": {"text": "Let's start with your pickup. Share your location."},
            "action": {"name": "send_location"},
        },
    ),
    "interactive_product_list": _send(
        "interactive",
        {
            "type": "product_list",
            "header": {"type": "text", "text": "Our picks"},
            "body": {"text": "Have a look"},
            "action": {
                "catalog_id": "194836987003835",
                "sections": [
                    {"title": "Plants", "product_items": [{"product_retailer_id": "sku1"}]}
                ],
            },
        },
    ),
    "facts_template": _send(
        "template",
        {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "header",
                    "parameters": [{"type": "image", "image": {"link": "https://ex.com/h.jpg"}}],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "text": "Ana"},
                        {
                            "type": "currency",
                            "currency": {
                                "fallback_value": "$10",
                                "code": "USD",
                                "amount_1000": 10000,
                            },
                        },
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "quick_reply",
                    "index": "0",
                    "parameters": [{"type": "payload", "payload": "STOP"}],
                },
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "1",
                    "parameters": [{"type": "text", "text": "abc123"}],
                },
            ],
        },
    ),
    "template_named_params": _send(
        "template",
        {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "text", "parameter_name": "order_id", "text": "A1"},
                    ],
                },
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                        {
                            "type": "date_time",
                            "parameter_name": "when",
                            "date_time": {"fallback_value": "February 25, 1977"},
                        },
                    ],
                },
            ],
        },
    ),
    "template_authentication": _send(
        "template",
        {
            "name": "verification_code",
            "language": {"code": "en_US"},
            "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "J$FpnYnP"}]},
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": "0",
                    "parameters": [{"type": "text", "text": "J$FpnYnP"}],
                },
            ],
        },
    ),
    "template_copy_code_and_location": _send(
        "template",
        {
            "name": "coupon",
            "language": {"code": "es_MX", "policy": "deterministic"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {
                            "type": "location",
                            "location": {
                                "latitude": 19.43,
                                "longitude": -99.13,
                                "name": "Tienda",
                                "address": "Centro",
                            },
                        }
                    ],
                },
                {
                    "type": "button",
                    "sub_type": "copy_code",
                    "index": 1,
                    "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}],
                },
                {
                    "type": "button",
                    "sub_type": "flow",
                    "index": "2",
                    "parameters": [
                        {
                            "type": "action",
                            "action": {"flow_token": "t", "flow_action_data": {"a": 1}},
                        }
                    ],
                },
            ],
        },
    ),
    "template_document_header_no_components_elsewhere": _send(
        "template",
        {
            "name": "invoice",
            "language": {"code": "pt_BR"},
            "components": [
                {
                    "type": "header",
                    "parameters": [
                        {"type": "document", "document": {"id": "1", "filename": "nota.pdf"}}
                    ],
                }
            ],
        },
    ),
    "template_without_components": _send(
        "template", {"name": "hello_world", "language": {"code": "en_US"}}
    ),
}

EXPECTED_CLASS: dict[str, type[Any]] = {
    "facts_text_reply": m.TextMessage,
    "image_by_link": m.ImageMessage,
    "document_by_id": m.DocumentMessage,
    "audio_by_id": m.AudioMessage,
    "sticker_by_link": m.StickerMessage,
    "location": m.LocationMessage,
    "contacts_full": m.ContactsMessage,
    "reaction_removed": m.ReactionMessage,
    "facts_template": m.TemplateMessage,
}

INTERACTIVE_CLASS: dict[str, type[Any]] = {
    "interactive_buttons": m.InteractiveButtons,
    "interactive_list": m.InteractiveList,
    "interactive_cta_url": m.InteractiveCtaUrl,
    "interactive_flow": m.InteractiveOther,
    "interactive_location_request": m.InteractiveOther,
    "interactive_product_list": m.InteractiveOther,
}


@pytest.mark.parametrize("name", sorted(META_EXAMPLES))
def test_meta_example_round_trips(name: str) -> None:
    example = META_EXAMPLES[name]

    assert m.parse_outbound_message(example).to_wire() == example


@pytest.mark.parametrize(("name", "cls"), sorted(EXPECTED_CLASS.items()))
def test_example_parses_to_its_type(name: str, cls: type[Any]) -> None:
    assert type(m.parse_outbound_message(META_EXAMPLES[name])) is cls


@pytest.mark.parametrize(("name", "cls"), sorted(INTERACTIVE_CLASS.items()))
def test_interactive_parses_to_its_kind(name: str, cls: type[Any]) -> None:
    message = m.parse_outbound_message(META_EXAMPLES[name])

    assert isinstance(message, m.InteractiveMessage)
    assert type(message.interactive) is cls


def test_template_components_are_typed() -> None:
    message = m.parse_outbound_message(META_EXAMPLES["facts_template"])

    assert isinstance(message, m.TemplateMessage)
    assert message.template.components is not None
    assert [type(c) for c in message.template.components] == [
        m.HeaderComponent,
        m.BodyComponent,
        m.ButtonComponent,
        m.ButtonComponent,
    ]


def test_missing_type_means_text_as_at_meta() -> None:
    message = m.parse_outbound_message({"to": TO, "text": {"body": "hi"}})

    assert isinstance(message, m.TextMessage)
    assert message.to_wire() == _send("text", {"body": "hi"})


def test_defaults_fill_the_envelope() -> None:
    built = m.TextMessage(to=TO, text=m.TextContent(body="hi"))

    assert built.to_wire() == _send("text", {"body": "hi"})


# --- Unknown fields survive --------------------------------------------------------------------


def _with_extras(example: dict[str, Any]) -> dict[str, Any]:
    grown = copy.deepcopy(example)
    grown["recipient_identity_key_hash"] = "abc"
    kind = grown["type"]
    if isinstance(grown[kind], dict):
        grown[kind]["future_field"] = {"nested": [1, 2]}
    return grown


@pytest.mark.parametrize("name", sorted(META_EXAMPLES))
def test_unknown_fields_survive_round_trip(name: str) -> None:
    grown = _with_extras(META_EXAMPLES[name])

    assert m.parse_outbound_message(grown).to_wire() == grown


def test_unknown_fields_deep_inside_survive() -> None:
    grown = copy.deepcopy(META_EXAMPLES["facts_template"])
    grown["template"]["components"][0]["parameters"][0]["image"]["x"] = 1
    grown["template"]["components"][2]["y"] = True
    grown["template"]["components"].append({"type": "carousel", "cards": [{"card_index": 0}]})

    assert m.parse_outbound_message(grown).to_wire() == grown


# --- Invalid shapes ----------------------------------------------------------------------------


def _mentions(error: ValidationError, name: str) -> bool:
    return any(
        name in (str(part) for part in detail["loc"]) or name in detail["msg"]
        for detail in error.errors()
    )


def _set(name: str, path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(META_EXAMPLES[name])
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


def _drop(name: str, path: tuple[Any, ...]) -> dict[str, Any]:
    data = copy.deepcopy(META_EXAMPLES[name])
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _reply(i: int) -> dict[str, Any]:
    return {"type": "reply", "reply": {"id": f"b{i}", "title": f"T{i}"}}


def _rows(count: int, prefix: str = "r") -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "title": f"Row {i}"} for i in range(count)]


BUTTONS = ("interactive", "action", "buttons")
LIST_ACTION = ("interactive", "action")
TEMPLATE_COMPONENTS = ("template", "components")

INVALID: list[tuple[str, dict[str, Any], str]] = [
    (
        "too many buttons",
        _set("interactive_buttons", BUTTONS, [_reply(i) for i in range(4)]),
        "buttons",
    ),
    ("no buttons", _set("interactive_buttons", BUTTONS, []), "buttons"),
    (
        "duplicate titles",
        _set(
            "interactive_buttons",
            BUTTONS,
            [_reply(1), {**_reply(2), "reply": {"id": "x", "title": "T1"}}],
        ),
        "title",
    ),
    (
        "duplicate ids",
        _set(
            "interactive_buttons",
            BUTTONS,
            [_reply(1), {**_reply(2), "reply": {"id": "b1", "title": "Z"}}],
        ),
        "id",
    ),
    (
        "text body too long",
        _set("text_plain", ("text", "body"), "x" * (m.TEXT_BODY_MAX_CHARS + 1)),
        "body",
    ),
    ("text body empty", _set("text_plain", ("text", "body"), ""), "body"),
    ("image id and link", _set("image_by_id", ("image", "link"), "https://ex.com/a.jpg"), "link"),
    ("image neither id nor link", _drop("image_by_id", ("image", "id")), "link"),
    ("sticker neither", _drop("sticker_by_link", ("sticker", "link")), "link"),
    ("link not http", _set("image_by_link", ("image", "link"), "ftp://ex.com/a.jpg"), "link"),
    (
        "caption too long",
        _set("image_by_id", ("image", "caption"), "c" * (m.MEDIA_CAPTION_MAX_CHARS + 1)),
        "caption",
    ),
    ("audio caption", _set("audio_by_id", ("audio", "caption"), "no"), "caption"),
    ("sticker caption", _set("sticker_by_link", ("sticker", "caption"), "no"), "caption"),
    ("both to and recipient", _set("text_plain", ("recipient",), "US.1"), "recipient"),
    ("neither to nor recipient", _drop("text_plain", ("to",)), "to"),
    (
        "callback data too long",
        _set(
            "text_plain",
            ("biz_opaque_callback_data",),
            "d" * (m.BIZ_OPAQUE_CALLBACK_DATA_MAX_CHARS + 1),
        ),
        "biz_opaque_callback_data",
    ),
    ("wrong product", _set("text_plain", ("messaging_product",), "messenger"), "messaging_product"),
    ("unknown message type", {**ENVELOPE, "type": "hologram", "hologram": {}}, "hologram"),
    (
        "reply title too long",
        _set("interactive_buttons", (*BUTTONS, 0, "reply", "title"), "t" * 21),
        "title",
    ),
    (
        "reply id too long",
        _set("interactive_buttons", (*BUTTONS, 0, "reply", "id"), "i" * 257),
        "id",
    ),
    (
        "header text too long",
        _set("interactive_buttons", ("interactive", "header"), {"type": "text", "text": "h" * 61}),
        "text",
    ),
    (
        "footer too long",
        _set("interactive_buttons", ("interactive", "footer", "text"), "f" * 61),
        "text",
    ),
    (
        "button body too long",
        _set(
            "interactive_buttons",
            ("interactive", "body", "text"),
            "b" * (m.INTERACTIVE_BODY_MAX_CHARS + 1),
        ),
        "text",
    ),
    ("buttons without body", _drop("interactive_buttons", ("interactive", "body")), "body"),
    (
        "media header both",
        _set(
            "interactive_buttons",
            ("interactive", "header", "image", "link"),
            "https://ex.com/i.png",
        ),
        "link",
    ),
    (
        "list image header",
        _set(
            "interactive_list", ("interactive", "header"), {"type": "image", "image": {"id": "1"}}
        ),
        "header",
    ),
    (
        "list too many rows in all",
        _set(
            "interactive_list",
            (*LIST_ACTION, "sections"),
            [{"title": "A", "rows": _rows(6, "a")}, {"title": "B", "rows": _rows(5, "b")}],
        ),
        "rows",
    ),
    (
        "list too many sections",
        _set(
            "interactive_list",
            (*LIST_ACTION, "sections"),
            [{"title": f"S{i}", "rows": _rows(1, f"s{i}")} for i in range(11)],
        ),
        "sections",
    ),
    (
        "list untitled section among many",
        _set(
            "interactive_list",
            (*LIST_ACTION, "sections"),
            [{"rows": _rows(1, "a")}, {"title": "B", "rows": _rows(1, "b")}],
        ),
        "title",
    ),
    (
        "list duplicate row ids",
        _set(
            "interactive_list",
            (*LIST_ACTION, "sections"),
            [{"title": "A", "rows": _rows(1)}, {"title": "B", "rows": _rows(1)}],
        ),
        "id",
    ),
    (
        "list button too long",
        _set("interactive_list", (*LIST_ACTION, "button"), "b" * 21),
        "button",
    ),
    (
        "section title too long",
        _set("interactive_list", (*LIST_ACTION, "sections", 0, "title"), "s" * 25),
        "title",
    ),
    (
        "row title too long",
        _set("interactive_list", (*LIST_ACTION, "sections", 0, "rows", 0, "title"), "r" * 25),
        "title",
    ),
    (
        "row id too long",
        _set("interactive_list", (*LIST_ACTION, "sections", 0, "rows", 0, "id"), "r" * 201),
        "id",
    ),
    (
        "row description too long",
        _set("interactive_list", (*LIST_ACTION, "sections", 0, "rows", 0, "description"), "d" * 73),
        "description",
    ),
    (
        "list body too long",
        _set(
            "interactive_list", ("interactive", "body", "text"), "b" * (m.LIST_BODY_MAX_CHARS + 1)
        ),
        "text",
    ),
    (
        "cta display text too long",
        _set(
            "interactive_cta_url", ("interactive", "action", "parameters", "display_text"), "d" * 21
        ),
        "display_text",
    ),
    (
        "cta url not http",
        _set("interactive_cta_url", ("interactive", "action", "parameters", "url"), "ex.com"),
        "url",
    ),
    (
        "quick reply with text parameter",
        _set(
            "facts_template",
            (*TEMPLATE_COMPONENTS, 2, "parameters"),
            [{"type": "text", "text": "x"}],
        ),
        "parameters",
    ),
    (
        "button index too high",
        _set("facts_template", (*TEMPLATE_COMPONENTS, 2, "index"), "10"),
        "index",
    ),
    (
        "button index not a number",
        _set("facts_template", (*TEMPLATE_COMPONENTS, 2, "index"), "first"),
        "index",
    ),
    (
        "body media parameter",
        _set(
            "facts_template",
            (*TEMPLATE_COMPONENTS, 1, "parameters", 0),
            {"type": "image", "image": {"id": "1"}},
        ),
        "parameters",
    ),
    (
        "two header parameters",
        _set(
            "facts_template",
            (*TEMPLATE_COMPONENTS, 0, "parameters"),
            [{"type": "text", "text": "a"}] * 2,
        ),
        "parameters",
    ),
    (
        "currency code lowercase",
        _set(
            "facts_template", (*TEMPLATE_COMPONENTS, 1, "parameters", 1, "currency", "code"), "usd"
        ),
        "code",
    ),
    (
        "template header image neither",
        _set("facts_template", (*TEMPLATE_COMPONENTS, 0, "parameters", 0, "image"), {}),
        "link",
    ),
    ("template without language", _drop("facts_template", ("template", "language")), "language"),
    ("contacts empty", _set("contacts_full", ("contacts",), []), "contacts"),
    (
        "contact without formatted name",
        _drop("contacts_full", ("contacts", 0, "name", "formatted_name")),
        "formatted_name",
    ),
    (
        "birthday not a date",
        _set("contacts_full", ("contacts", 0, "birthday"), "23/01/1999"),
        "birthday",
    ),
    (
        "birthday in non-ASCII digits",
        _set("contacts_full", ("contacts", 0, "birthday"), "\uff11\uff19\uff19\uff19-01-23"),
        "birthday",
    ),
    ("latitude beyond pole", _set("location", ("location", "latitude"), 91), "latitude"),
    ("reaction without emoji", _drop("reaction", ("reaction", "emoji")), "emoji"),
]


@pytest.mark.parametrize(
    ("data", "field"), [(d, f) for _, d, f in INVALID], ids=[n for n, _, _ in INVALID]
)
def test_invalid_shape_names_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        m.parse_outbound_message(data)

    assert _mentions(caught.value, field), caught.value


LENGTH_LIMITS: list[tuple[str, tuple[Any, ...], int]] = [
    ("text_plain", ("text", "body"), m.TEXT_BODY_MAX_CHARS),
    ("image_by_id", ("image", "caption"), m.MEDIA_CAPTION_MAX_CHARS),
    ("text_plain", ("biz_opaque_callback_data",), m.BIZ_OPAQUE_CALLBACK_DATA_MAX_CHARS),
    ("interactive_buttons", (*BUTTONS, 0, "reply", "title"), m.REPLY_BUTTON_TITLE_MAX_CHARS),
    ("interactive_buttons", (*BUTTONS, 0, "reply", "id"), m.REPLY_BUTTON_ID_MAX_CHARS),
    ("interactive_buttons", ("interactive", "footer", "text"), m.INTERACTIVE_FOOTER_MAX_CHARS),
    ("interactive_list", ("interactive", "header", "text"), m.INTERACTIVE_HEADER_TEXT_MAX_CHARS),
    ("interactive_list", ("interactive", "body", "text"), m.LIST_BODY_MAX_CHARS),
    ("interactive_list", (*LIST_ACTION, "button"), m.LIST_BUTTON_TEXT_MAX_CHARS),
    ("interactive_list", (*LIST_ACTION, "sections", 0, "title"), m.LIST_SECTION_TITLE_MAX_CHARS),
    ("interactive_list", (*LIST_ACTION, "sections", 0, "rows", 0, "id"), m.LIST_ROW_ID_MAX_CHARS),
    (
        "interactive_list",
        (*LIST_ACTION, "sections", 0, "rows", 0, "title"),
        m.LIST_ROW_TITLE_MAX_CHARS,
    ),
    (
        "interactive_list",
        (*LIST_ACTION, "sections", 0, "rows", 0, "description"),
        m.LIST_ROW_DESCRIPTION_MAX_CHARS,
    ),
    (
        "interactive_cta_url",
        ("interactive", "action", "parameters", "display_text"),
        m.CTA_URL_DISPLAY_TEXT_MAX_CHARS,
    ),
]


@pytest.mark.parametrize(("name", "path", "limit"), LENGTH_LIMITS)
def test_length_limit_is_inclusive(name: str, path: tuple[Any, ...], limit: int) -> None:
    at_limit = _set(name, path, "x" * limit)
    over_limit = _set(name, path, "x" * (limit + 1))

    assert m.parse_outbound_message(at_limit).to_wire() == at_limit
    with pytest.raises(ValidationError) as caught:
        m.parse_outbound_message(over_limit)
    assert _mentions(caught.value, str(path[-1]))


def test_list_takes_ten_rows_across_sections() -> None:
    sections = [{"title": "A", "rows": _rows(5, "a")}, {"title": "B", "rows": _rows(5, "b")}]
    data = _set("interactive_list", (*LIST_ACTION, "sections"), sections)

    assert m.parse_outbound_message(data).to_wire() == data


@given(count=st.integers(min_value=0, max_value=8))
def test_reply_buttons_accepted_exactly_up_to_the_limit(count: int) -> None:
    data = _set("interactive_buttons", BUTTONS, [_reply(i) for i in range(count)])

    if 1 <= count <= m.REPLY_BUTTONS_MAX:
        assert m.parse_outbound_message(data).to_wire() == data
    else:
        with pytest.raises(ValidationError):
            m.parse_outbound_message(data)


@given(body=st.text(min_size=1, max_size=m.TEXT_BODY_MAX_CHARS), preview=st.booleans())
def test_any_valid_text_round_trips(body: str, preview: bool) -> None:
    wire = m.TextMessage(to=TO, text=m.TextContent(body=body, preview_url=preview)).to_wire()

    assert m.parse_outbound_message(json.loads(json.dumps(wire))).to_wire() == wire


# --- Mark as read --------------------------------------------------------------------------------

MARK_READ = {
    "messaging_product": "whatsapp",
    "status": "read",
    "message_id": "wamid.IN",
    "typing_indicator": {"type": "text"},
}


def test_mark_read_with_typing_round_trips() -> None:
    assert m.MarkReadRequest.model_validate(MARK_READ).to_wire() == MARK_READ


def test_mark_read_defaults() -> None:
    assert m.MarkReadRequest(message_id="wamid.IN").to_wire() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN",
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "delivered"}, "status"),
        ({"typing_indicator": {"type": "audio"}}, "type"),
        ({"message_id": ""}, "message_id"),
    ],
)
def test_mark_read_refuses(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        m.MarkReadRequest.model_validate({**MARK_READ, **change})
    assert _mentions(caught.value, field)


# --- What pywa 4.5 sends for the same message -------------------------------------------------


def _pywa_request(send: Callable[[WhatsApp], object]) -> dict[str, Any]:
    """The JSON body pywa posts to Meta, captured by an in-memory transport."""
    bodies: list[dict[str, Any]] = []

    def meta(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": TO, "wa_id": TO, "user_id": "MX.1"}],
                "messages": [{"id": "wamid.OUT"}],
            },
        )

    with httpx.Client(transport=httpx.MockTransport(meta)) as session:
        send(WhatsApp(phone_id="1065", token="t", session=session))
    assert len(bodies) == 1
    return bodies[0]


def test_text_matches_pywa() -> None:
    ours = m.TextMessage(
        to=TO,
        context=m.MessageContext(message_id="wamid.A"),
        biz_opaque_callback_data="crm-1",
        text=m.TextContent(body="hi https://ex.com", preview_url=True),
    )
    theirs = _pywa_request(
        lambda wa: wa.send_message(
            to=TO,
            text="hi https://ex.com",
            preview_url=True,
            reply_to_message_id="wamid.A",
            tracker="crm-1",
        )
    )

    assert ours.to_wire() == theirs
    assert m.parse_outbound_message(theirs) == ours


def test_image_by_link_matches_pywa() -> None:
    ours = m.ImageMessage(to=TO, image=m.ImageContent(link="https://ex.com/a.jpg", caption="Look"))
    theirs = _pywa_request(
        lambda wa: wa.send_image(to=TO, image="https://ex.com/a.jpg", caption="Look")
    )

    assert ours.to_wire() == theirs


def test_reply_buttons_match_pywa() -> None:
    ours = m.InteractiveMessage(
        to=TO,
        interactive=m.InteractiveButtons(
            header=m.InteractiveTextHeader(text="Hdr"),
            body=m.InteractiveBody(text="Pick one"),
            footer=m.InteractiveFooter(text="Ftr"),
            action=m.ReplyButtonsAction(
                buttons=[
                    m.ReplyButton(reply=m.ReplyButtonReply(id="y", title="Yes")),
                    m.ReplyButton(reply=m.ReplyButtonReply(id="n", title="No")),
                ]
            ),
        ),
    )
    theirs = _pywa_request(
        lambda wa: wa.send_message(
            to=TO,
            text="Pick one",
            header="Hdr",
            footer="Ftr",
            buttons=[Button(title="Yes", callback_data="y"), Button(title="No", callback_data="n")],
        )
    )

    assert ours.to_wire() == theirs


def test_list_matches_pywa() -> None:
    ours = m.InteractiveMessage(
        to=TO,
        interactive=m.InteractiveList(
            body=m.ListBody(text="Pick"),
            action=m.ListAction(
                button="Menu",
                sections=[
                    m.ListSection(title="S", rows=[m.ListRow(id="r1", title="R1", description="d")])
                ],
            ),
        ),
    )
    theirs = _pywa_request(
        lambda wa: wa.send_message(
            to=TO,
            text="Pick",
            buttons=SectionList(
                button_title="Menu",
                sections=[
                    Section(
                        title="S",
                        rows=[SectionRow(title="R1", callback_data="r1", description="d")],
                    )
                ],
            ),
        )
    )

    assert ours.to_wire() == theirs


def test_cta_url_matches_pywa() -> None:
    ours = m.InteractiveMessage(
        to=TO,
        interactive=m.InteractiveCtaUrl(
            body=m.InteractiveBody(text="Go"),
            action=m.CtaUrlAction(
                parameters=m.CtaUrlParameters(display_text="Open", url="https://ex.com")
            ),
        ),
    )
    theirs = _pywa_request(
        lambda wa: wa.send_message(
            to=TO, text="Go", buttons=URLButton(title="Open", url="https://ex.com")
        )
    )

    assert ours.to_wire() == theirs


def test_reaction_and_location_match_pywa() -> None:
    reaction = m.ReactionMessage(
        to=TO, reaction=m.ReactionContent(message_id="wamid.A", emoji="\U0001f44d")
    )
    location = m.LocationMessage(
        to=TO,
        location=m.LocationContent(latitude=1.5, longitude=2.5, name="N", address="A"),
    )

    assert reaction.to_wire() == _pywa_request(
        lambda wa: wa.send_reaction(to=TO, emoji="\U0001f44d", message_id="wamid.A")
    )
    assert location.to_wire() == _pywa_request(
        lambda wa: wa.send_location(to=TO, latitude=1.5, longitude=2.5, name="N", address="A")
    )


def test_template_matches_pywa() -> None:
    # pywa writes component types and sub_types in upper case and the index as a number;
    # Meta accepts both spellings, so ours are built the way pywa writes them.
    ours = m.TemplateMessage(
        to=TO,
        template=m.TemplateContent(
            name="order_update",
            language=m.TemplateLanguage(code="en_US"),
            components=[
                m.HeaderComponent(
                    type="HEADER",
                    parameters=[m.ImageParameter(image=m.MediaRef(link="https://ex.com/a.jpg"))],
                ),
                m.BodyComponent(
                    type="BODY",
                    parameters=[
                        m.TextParameter(text="Ana"),
                        m.CurrencyParameter(
                            currency=m.Currency(fallback_value="$10", code="USD", amount_1000=10000)
                        ),
                    ],
                ),
                m.ButtonComponent(
                    sub_type="QUICK_REPLY",
                    index=0,
                    parameters=[m.PayloadParameter(payload="STOP")],
                ),
                m.ButtonComponent(
                    sub_type="URL", index=1, parameters=[m.TextParameter(text="abc123")]
                ),
                m.ButtonComponent(
                    sub_type="COPY_CODE",
                    index=2,
                    parameters=[m.CouponCodeParameter(coupon_code="SAVE10")],
                ),
            ],
        ),
    )
    theirs = _pywa_request(
        lambda wa: wa.send_template(
            to=TO,
            name="order_update",
            language=pywa_templates.TemplateLanguage.ENGLISH_US,
            params=[
                pywa_templates.HeaderImage.params(image="https://ex.com/a.jpg"),
                pywa_templates.BodyText.params(
                    "Ana",
                    pywa_templates.Currency(fallback_value="$10", code="USD", amount_1000=10000),
                ),
                pywa_templates.QuickReplyButton.params(callback_data="STOP", index=0),
                pywa_templates.URLButton.params(url_variable="abc123", index=1),
                pywa_templates.CopyCodeButton.params(coupon_code="SAVE10", index=2),
            ],
        )
    )

    assert ours.to_wire() == theirs
    parsed = m.parse_outbound_message(theirs)
    assert isinstance(parsed, m.TemplateMessage)
    assert parsed.template.components is not None
    assert [type(c) for c in parsed.template.components] == [
        m.HeaderComponent,
        m.BodyComponent,
        m.ButtonComponent,
        m.ButtonComponent,
        m.ButtonComponent,
    ]


def test_named_template_parameters_match_pywa() -> None:
    theirs = _pywa_request(
        lambda wa: wa.send_template(
            to=TO,
            name="order_named",
            language=pywa_templates.TemplateLanguage.ENGLISH_US,
            params=[pywa_templates.BodyText.params(first_name="Ana", order_id="A1")],
        )
    )
    ours = m.TemplateMessage(
        to=TO,
        template=m.TemplateContent(
            name="order_named",
            language=m.TemplateLanguage(code="en_US"),
            components=[
                m.BodyComponent(
                    type="BODY",
                    parameters=[
                        m.TextParameter(parameter_name="first_name", text="Ana"),
                        m.TextParameter(parameter_name="order_id", text="A1"),
                    ],
                )
            ],
        ),
    )

    assert ours.to_wire() == theirs


@pytest.mark.parametrize("kind", [["button"], {"type": "button"}, 7, None])
def test_an_odd_interactive_type_never_crashes_the_parser(kind: object) -> None:
    # A list or an object as `type` is unhashable; it used to raise TypeError (a 500 in the
    # emulator) instead of a validation error.
    body = {"to": "15550100001", "type": "interactive", "interactive": {"type": kind}}
    with contextlib.suppress(ValidationError):
        m.parse_outbound_message(body)
