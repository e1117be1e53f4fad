"""Filling a template's variables for one recipient."""

from __future__ import annotations

from typing import Any

from ovillo.rules.templates import check_send_parameters
from ovillo.templates import variables
from ovillo.templates.service import TemplateDraft, meta_request

FIELDS = variables.contact_fields(
    name="Ana María López",
    profile_name="Ani",
    wa_id="15550001",
    phone_e164="+15550001",
    attributes={"city": "Lima", "empty": "", "nested": {"a": 1}},
)

TEMPLATE: list[dict[str, Any]] = [
    {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1n"]}},
    {
        "type": "BODY",
        "text": "Hi {{first_name}}, your order {{order_id}} is ready in {{city}}.",
        "example": {
            "body_text_named_params": [
                {"param_name": "first_name", "example": "Ana"},
                {"param_name": "order_id", "example": "A1"},
                {"param_name": "city", "example": "Lima"},
            ]
        },
    },
    {"type": "FOOTER", "text": "Acme"},
    {
        "type": "BUTTONS",
        "buttons": [
            {"type": "URL", "text": "Track", "url": "https://o.example/l/{{1}}",
             "example": ["https://o.example/l/x"]},
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550100"},
            {"type": "COPY_CODE", "example": "SAVE10"},
        ],
    },
]  # fmt: skip


def test_contact_fields_and_fallbacks() -> None:
    assert FIELDS["first_name"] == "Ana"
    assert FIELDS["last_name"] == "María López"
    assert FIELDS["city"] == "Lima"
    assert "empty" not in FIELDS
    assert "nested" not in FIELDS
    assert variables.fill_value("{{contact.first_name}} from {{ contact.city }}", FIELDS) == (
        "Ana from Lima",
        [],
    )
    assert variables.fill_value("{{contact.nickname|friend}}", FIELDS) == ("friend", [])
    assert variables.fill_value("Hi {{contact.nickname}}", FIELDS) == ("Hi ", ["nickname"])


def test_values_become_components_that_fit_the_template() -> None:
    components, problems = variables.send_components(
        template_components=TEMPLATE,
        parameter_format="NAMED",
        values={"first_name": "Ana", "order_id": "A-7", "city": "Lima", "button.2": "SAVE10"},
        header_media={"id": "media-1"},
        link_codes={0: "c0de-c0de-c0de"},
    )

    assert problems == []
    assert components == [
        {"type": "header", "parameters": [{"type": "image", "image": {"id": "media-1"}}]},
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Ana", "parameter_name": "first_name"},
                {"type": "text", "text": "A-7", "parameter_name": "order_id"},
                {"type": "text", "text": "Lima", "parameter_name": "city"},
            ],
        },
        {"type": "button", "index": "0", "sub_type": "url",
         "parameters": [{"type": "text", "text": "c0de-c0de-c0de"}]},
        {"type": "button", "index": "2", "sub_type": "copy_code",
         "parameters": [{"type": "coupon_code", "coupon_code": "SAVE10"}]},
    ]  # fmt: skip
    assert check_send_parameters(TEMPLATE, components, "NAMED") == []


def test_every_missing_value_is_named() -> None:
    _, problems = variables.send_components(
        template_components=TEMPLATE,
        parameter_format="NAMED",
        values={"first_name": "Ana"},
        header_media=None,
        link_codes={},
    )
    assert [p.field for p in problems] == [
        "header_media",
        "variables.order_id",
        "variables.city",
        "variables.button.0",
        "variables.button.2",
    ]


def test_a_tracked_button_reaches_meta_as_our_short_link() -> None:
    draft = TemplateDraft(
        name="spring",
        language="en",
        category="marketing",
        components=[
            {"type": "BODY", "text": "Our spring sale is on."},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Shop", "url": "https://shop.example/spring",
                 "track": True},
                {"type": "URL", "text": "Bad", "url": "ftp://x", "track": True},
            ]},
        ],
    )  # fmt: skip

    request, tracked, problems = meta_request(draft, public_url="https://o.example")

    assert request["category"] == "MARKETING"
    button = request["components"][1]["buttons"][0]
    assert button["url"] == "https://o.example/l/{{1}}"
    assert button["example"][0].startswith("https://o.example/l/")
    assert "track" not in button
    assert tracked == {"0": "https://shop.example/spring"}
    assert [p["field"] for p in problems] == ["components[1].buttons[1].url"]
    assert draft.components[1]["buttons"][0]["url"] == "https://shop.example/spring"
    _, _, no_host = meta_request(draft, public_url=None)
    assert no_host[0]["code"] == "tracking_unavailable"
