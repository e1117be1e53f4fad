"""Meta's template rules: Meta's own examples pass, each broken rule is named once."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ovillo.rules.templates import (
    SUPPORTED_LANGUAGES,
    TemplateViolation,
    check_send_parameters,
    check_template_quota,
    count_parameters,
    template_variables,
    validate_template,
)

Template = dict[str, Any]

# --- Valid templates: Meta's examples from its "Template components", "Template
# fundamentals" and "Authentication templates" pages (handles shortened). ---------------

SEASONAL_PROMOTION: Template = {
    "name": "seasonal_promotion",
    "language": "en_US",
    "category": "MARKETING",
    "components": [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Our {{1}} is on!",
            "example": {"header_text": ["Summer Sale"]},
        },
        {
            "type": "BODY",
            "text": "Shop now through {{1}} and use code {{2}} to get {{3}} off of all "
            "merchandise.",
            "example": {"body_text": [["the end of August", "25OFF", "25%"]]},
        },
        {"type": "FOOTER", "text": "Use the buttons below to manage your marketing subscriptions"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Unsubscribe from Promos"},
                {"type": "QUICK_REPLY", "text": "Unsubscribe from All"},
            ],
        },
    ],
}

MARKETING_IMAGE_URL_QUICK_REPLIES: Template = {
    "name": "summer_sale_image",
    "language": "en_US",
    "category": "MARKETING",
    "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvcG5n"]}},
        {
            "type": "BODY",
            "text": "Hi {{1}}, our summer sale is here: take {{2}} off every plant in the "
            "shop this week only.",
            "example": {"body_text": [["Pablo", "25%"]]},
        },
        {"type": "FOOTER", "text": "Lucky Shrub"},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Shop now",
                    "url": "https://www.luckyshrub.com/shop?promo={{1}}",
                    "example": ["https://www.luckyshrub.com/shop?promo=summer25"],
                },
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+15550051310"},
                {"type": "QUICK_REPLY", "text": "Stop promotions"},
                {"type": "QUICK_REPLY", "text": "Remind me later"},
            ],
        },
    ],
}

ORDER_CONFIRMATION_DOCUMENT: Template = {
    "name": "order_confirmation",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::YX..."]}},
        {
            "type": "BODY",
            "text": "Thank you for your order, {{1}}! Your order number is {{2}}. Tap the PDF "
            "linked above to view your receipt. If you have any questions, please use the "
            "buttons below to contact support. Thank you for being a customer!",
            "example": {"body_text": [["Pablo", "860198-230332"]]},
        },
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "15550051310"},
                {
                    "type": "URL",
                    "text": "Contact Support",
                    "url": "https://www.luckyshrub.com/support",
                },
            ],
        },
    ],
}

UTILITY_NAMED: Template = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "HEADER",
            "format": "TEXT",
            "text": "Order {{order_id}} update",
            "example": {"header_text_named_params": [{"param_name": "order_id", "example": "A1"}]},
        },
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, your order {{order_id}} has shipped and will arrive "
            "soon. Reply here if you need help.",
            "example": {
                "body_text_named_params": [
                    {"param_name": "first_name", "example": "Ana"},
                    {"param_name": "order_id", "example": "A1"},
                ]
            },
        },
        {"type": "FOOTER", "text": "Reply STOP to opt out"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Track"},
                {
                    "type": "URL",
                    "text": "Open",
                    "url": "https://ex.com/o/{{1}}",
                    "example": ["https://ex.com/o/A1"],
                },
            ],
        },
    ],
}

UTILITY_LOCATION: Template = {
    "name": "pickup_ready",
    "language": "es_MX",
    "category": "utility",
    "components": [
        {"type": "header", "format": "location"},
        {
            "type": "body",
            "text": "Hola {{1}}, tu pedido ya está listo para recoger en la tienda de siempre.",
            "example": {"body_text": [["Ana"]]},
        },
    ],
}

AUTH_COPY_CODE: Template = {
    "name": "authentication_code_copy_code_button",
    "language": "en_US",
    "category": "authentication",
    "message_send_ttl_seconds": 60,
    "components": [
        {"type": "body", "add_security_recommendation": True},
        {"type": "footer", "code_expiration_minutes": 5},
        {
            "type": "buttons",
            "buttons": [{"type": "otp", "otp_type": "copy_code", "text": "Copy Code"}],
        },
    ],
}

AUTH_ONE_TAP: Template = {
    "name": "authentication_code_autofill_button",
    "language": "en_US",
    "category": "authentication",
    "message_send_ttl_seconds": 60,
    "components": [
        {"type": "body", "add_security_recommendation": True},
        {"type": "footer", "code_expiration_minutes": 10},
        {
            "type": "buttons",
            "buttons": [
                {
                    "type": "otp",
                    "otp_type": "one_tap",
                    "text": "Copy Code",
                    "autofill_text": "Autofill",
                    "supported_apps": [
                        {"package_name": "com.example.luckyshrub", "signature_hash": "K8a/AINcGX7"}
                    ],
                }
            ],
        },
    ],
}

AUTH_ZERO_TAP: Template = {
    "name": "zero_tap_auth_template",
    "language": "en_US",
    "category": "authentication",
    "components": [
        {"type": "body", "add_security_recommendation": True},
        {"type": "footer", "code_expiration_minutes": 5},
        {
            "type": "buttons",
            "buttons": [
                {
                    "type": "otp",
                    "otp_type": "zero_tap",
                    "text": "Copy Code",
                    "autofill_text": "Autofill",
                    "zero_tap_terms_accepted": True,
                    "supported_apps": [
                        {"package_name": "com.example.luckyshrub", "signature_hash": "K8a/AINcGX7"}
                    ],
                }
            ],
        },
    ],
}

VALID_TEMPLATES = [
    pytest.param(SEASONAL_PROMOTION, id="marketing-text-header-quick-replies"),
    pytest.param(MARKETING_IMAGE_URL_QUICK_REPLIES, id="marketing-image-url-phone-quick-replies"),
    pytest.param(ORDER_CONFIRMATION_DOCUMENT, id="utility-document-phone-url"),
    pytest.param(UTILITY_NAMED, id="utility-named-params"),
    pytest.param(UTILITY_LOCATION, id="utility-location-lowercase-enums"),
    pytest.param(AUTH_COPY_CODE, id="authentication-copy-code"),
    pytest.param(AUTH_ONE_TAP, id="authentication-one-tap"),
    pytest.param(AUTH_ZERO_TAP, id="authentication-zero-tap"),
]


@pytest.mark.parametrize("template", VALID_TEMPLATES)
def test_meta_examples_have_no_violations(template: Template) -> None:
    assert validate_template(template) == []


# --- One invalid template per rule --------------------------------------------------------

Mutation = Callable[[Template], None]


def _set(path: str, value: Any) -> Mutation:
    """Set a dotted path (list indexes as numbers) of the template, e.g. components.1.text."""

    def mutate(template: Template) -> None:
        *parents, last = path.split(".")
        node: Any = template
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(template: Template) -> None:
        *parents, last = path.split(".")
        node: Any = template
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[int(last) if last.isdigit() else last]

    return mutate


def _buttons(*buttons: Any) -> Mutation:
    return _set("components.3.buttons", list(buttons))


QR = {"type": "QUICK_REPLY", "text": "Yes"}


def _qr(text: str) -> dict[str, Any]:
    return {"type": "QUICK_REPLY", "text": text}


def _url(text: str, url: str = "https://ex.com/a", **extra: Any) -> dict[str, Any]:
    return {"type": "URL", "text": text, "url": url, **extra}


BODY_WITH = "components.1"  # the body of SEASONAL_PROMOTION and MARKETING_IMAGE_URL_...


def _body(text: str, *samples: str) -> Mutation:
    component: dict[str, Any] = {"type": "BODY", "text": text}
    if samples:
        component["example"] = {"body_text": [list(samples)]}
    return _set(BODY_WITH, component)


INVALID_CASES: list[Any] = [
    # name
    pytest.param(SEASONAL_PROMOTION, _delete("name"), "name_missing", "name", id="name-missing"),
    pytest.param(
        SEASONAL_PROMOTION, _set("name", "Summer Sale!"), "name_invalid", "name", id="name-case"
    ),
    pytest.param(
        SEASONAL_PROMOTION, _set("name", "a" * 513), "name_too_long", "name", id="name-513"
    ),
    # language, category, parameter_format
    pytest.param(
        SEASONAL_PROMOTION,
        _set("language", "en-US"),
        "language_unsupported",
        "language",
        id="language-hyphen",
    ),
    pytest.param(
        SEASONAL_PROMOTION, _delete("language"), "language_missing", "language", id="language-none"
    ),
    pytest.param(
        SEASONAL_PROMOTION, _delete("category"), "category_missing", "category", id="category-none"
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("category", "PROMOTIONAL"),
        "category_invalid",
        "category",
        id="category-unknown",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("parameter_format", "NUMBERED"),
        "parameter_format_invalid",
        "parameter_format",
        id="parameter-format-unknown",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("parameter_format", "NAMED"),
        "parameter_format_mismatch",
        "parameter_format",
        id="positional-variables-declared-named",
    ),
    pytest.param(
        UTILITY_NAMED,
        _delete("parameter_format"),
        "parameter_format_mismatch",
        "parameter_format",
        id="named-variables-default-positional",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("message_send_ttl_seconds", 3600),
        "message_send_ttl_invalid",
        "message_send_ttl_seconds",
        id="auth-ttl-over-15-minutes",
    ),
    # components
    pytest.param(
        SEASONAL_PROMOTION, _delete("components"), "components_missing", "components", id="no-list"
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.2", "FOOTER"),
        "component_invalid",
        "components[2]",
        id="component-not-object",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.2.type", "SIGNATURE"),
        "component_type_unknown",
        "components[2].type",
        id="component-type-unknown",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _delete("components.1"),
        "body_missing",
        "components",
        id="body-missing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.2", {"type": "HEADER", "format": "LOCATION"}),
        "component_duplicate",
        "components[2]",
        id="two-headers",
    ),
    # header
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.0.format", "AUDIO"),
        "header_format_invalid",
        "components[0].format",
        id="header-audio",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _delete("components.0.text"),
        "header_text_missing",
        "components[0].text",
        id="header-text-missing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.0.text", "Our {{1}} is on! " + "x" * 50),
        "header_text_too_long",
        "components[0].text",
        id="header-61",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.0.text", "Our {{1}}\nis on!"),
        "header_text_newline",
        "components[0].text",
        id="header-newline",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.0.text", "Our {{1}} is on {{2}}!"),
        "header_too_many_variables",
        "components[0].text",
        id="header-two-variables",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _delete("components.0.example"),
        "example_missing",
        "components[0].example",
        id="header-sample-missing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.0.example.header_text", ["Summer", "Sale"]),
        "example_count_mismatch",
        "components[0].example.header_text",
        id="header-two-samples",
    ),
    pytest.param(
        MARKETING_IMAGE_URL_QUICK_REPLIES,
        _delete("components.0.example"),
        "header_media_example_missing",
        "components[0].example.header_handle",
        id="image-header-without-handle",
    ),
    # body
    pytest.param(
        SEASONAL_PROMOTION,
        _body(""),
        "body_text_missing",
        "components[1].text",
        id="body-empty",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Our sale is on. " * 65),
        "body_text_too_long",
        "components[1].text",
        id="body-1025",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Shop now through {{1}} and use code {{3}} to get a discount today.", "a", "b"),
        "variables_not_sequential",
        "components[1].text",
        id="body-gap",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Shop now through {{ 1 }} and use the code at checkout today.", "a"),
        "variable_malformed",
        "components[1].text",
        id="body-spaces-in-braces",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Shop now through {{1} and use the code at checkout today.", "a"),
        "variable_malformed",
        "components[1].text",
        id="body-unbalanced-braces",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Shop now through {{First_Name}} and use the code at checkout today.", "a"),
        "variable_malformed",
        "components[1].text",
        id="body-uppercase-name",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Hello {{1}}, your code {{code}} works in the shop until Sunday night.", "a", "b"),
        "variables_mixed",
        "components[1].text",
        id="body-mixed-styles",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("{{1}}, our summer sale starts today in every shop of the chain.", "Ana"),
        "body_variable_at_edge",
        "components[1].text",
        id="body-starts-with-variable",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Our summer sale starts today in every shop of the chain, {{1}}.", "Ana"),
        "body_variable_at_edge",
        "components[1].text",
        id="body-ends-with-variable-and-period",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Hello {{1}} {{2}}, our summer sale starts today in every shop.", "Ana", "Ruiz"),
        "body_variables_adjacent",
        "components[1].text",
        id="body-adjacent-variables",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _body("Hi {{1}}, order {{2}} shipped.", "Ana", "A1"),
        "body_too_many_variables",
        "components[1].text",
        id="body-words-ratio",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _delete("components.1.example"),
        "example_missing",
        "components[1].example",
        id="body-samples-missing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.1.example.body_text", [["the end of August", "25OFF"]]),
        "example_count_mismatch",
        "components[1].example.body_text[0]",
        id="body-too-few-samples",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.1.example.body_text", [["the end of August", "", "25%"]]),
        "example_value_invalid",
        "components[1].example.body_text[0][1]",
        id="body-empty-sample",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.1.example.body_text", ["the end of August", "25OFF", "25%"]),
        "example_value_invalid",
        "components[1].example.body_text",
        id="body-samples-not-nested",
    ),
    pytest.param(
        UTILITY_NAMED,
        _set(
            "components.1.example.body_text_named_params",
            [
                {"param_name": "first_name", "example": "Ana"},
                {"param_name": "order_number", "example": "A1"},
            ],
        ),
        "example_names_mismatch",
        "components[1].example.body_text_named_params",
        id="named-sample-for-wrong-name",
    ),
    pytest.param(
        UTILITY_NAMED,
        _set("components.1.example", {"body_text": [["Ana", "A1"]]}),
        "example_missing",
        "components[1].example",
        id="named-body-with-positional-samples",
    ),
    # footer
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.2.text", "Use the buttons below to manage all of your subscriptions now"),
        "footer_text_too_long",
        "components[2].text",
        id="footer-61",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _set("components.2.text", "Sent to {{1}}"),
        "footer_has_variables",
        "components[2].text",
        id="footer-variable",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _delete("components.2.text"),
        "footer_text_missing",
        "components[2].text",
        id="footer-empty",
    ),
    # buttons
    pytest.param(
        SEASONAL_PROMOTION, _buttons(), "buttons_missing", "components[3].buttons", id="no-buttons"
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(*(_qr(f"Option {n}") for n in range(11))),
        "buttons_too_many",
        "components[3].buttons",
        id="eleven-buttons",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("One"), _url("Two"), _url("Three")),
        "button_type_too_many",
        "components[3].buttons",
        id="three-url-buttons",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(
            {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550100000"},
            {"type": "PHONE_NUMBER", "text": "Call again", "phone_number": "+15550100001"},
        ),
        "button_type_too_many",
        "components[3].buttons",
        id="two-phone-buttons",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(
            {"type": "COPY_CODE", "example": "SAVE10"},
            {"type": "COPY_CODE", "example": "SAVE20"},
        ),
        "button_type_too_many",
        "components[3].buttons",
        id="two-copy-code-buttons",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_qr("Yes"), _url("Open"), _qr("No")),
        "buttons_not_grouped",
        "components[3].buttons",
        id="quick-replies-interleaved",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_qr("Yes"), _qr("Yes")),
        "button_text_duplicate",
        "components[3].buttons[1].text",
        id="duplicate-labels",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_qr("Unsubscribe from all promos")),
        "button_text_too_long",
        "components[3].buttons[0].text",
        id="quick-reply-26",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "QUICK_REPLY"}),
        "button_text_missing",
        "components[3].buttons[0].text",
        id="quick-reply-without-label",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "CALLBACK", "text": "Call me"}),
        "button_type_unknown",
        "components[3].buttons[0].type",
        id="button-type-unknown",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons("Yes"),
        "button_invalid",
        "components[3].buttons[0]",
        id="button-not-object",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "OTP", "otp_type": "COPY_CODE"}),
        "otp_button_outside_authentication",
        "components[3].buttons[0].type",
        id="otp-in-marketing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "URL", "text": "Open"}),
        "url_missing",
        "components[3].buttons[0].url",
        id="url-missing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("Open", "ftp://ex.com/file")),
        "url_invalid",
        "components[3].buttons[0].url",
        id="url-not-http",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("Open", "https://ex.com/" + "a" * 1986)),
        "url_too_long",
        "components[3].buttons[0].url",
        id="url-2001",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("Open", "https://ex.com/{{1}}/track", example=["https://ex.com/1/track"])),
        "url_variable_invalid",
        "components[3].buttons[0].url",
        id="url-variable-not-at-end",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("Open", "https://ex.com/{{1}}/{{2}}", example=["https://ex.com/1/2"])),
        "url_variable_invalid",
        "components[3].buttons[0].url",
        id="url-two-variables",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("Open", "https://ex.com/o/{{1}}")),
        "url_example_missing",
        "components[3].buttons[0].example",
        id="dynamic-url-without-sample",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons(_url("Open", "https://ex.com/o/{{1}}", example=["https://other.com/o/A1"])),
        "url_example_mismatch",
        "components[3].buttons[0].example[0]",
        id="dynamic-url-sample-elsewhere",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "PHONE_NUMBER", "text": "Call"}),
        "phone_number_missing",
        "components[3].buttons[0].phone_number",
        id="phone-missing",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+1 555 010 0000 00000"}),
        "phone_number_too_long",
        "components[3].buttons[0].phone_number",
        id="phone-21",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "COPY_CODE"}),
        "copy_code_example_missing",
        "components[3].buttons[0].example",
        id="copy-code-without-sample",
    ),
    pytest.param(
        SEASONAL_PROMOTION,
        _buttons({"type": "COPY_CODE", "example": "SUMMER2025SAVE20"}),
        "copy_code_example_too_long",
        "components[3].buttons[0].example",
        id="copy-code-16",
    ),
    # authentication
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.0.text", "Your code is {{1}}, do not share it with anyone."),
        "authentication_body_customized",
        "components[0]",
        id="auth-custom-body",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.1.code_expiration_minutes", 91),
        "code_expiration_out_of_range",
        "components[1].code_expiration_minutes",
        id="auth-expiry-91",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.1", {"type": "footer", "text": "Do not share"}),
        "authentication_footer_invalid",
        "components[1]",
        id="auth-footer-text",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.1", {"type": "header", "format": "image"}),
        "authentication_component_not_allowed",
        "components[1]",
        id="auth-media-header",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.2.buttons", [{"type": "otp", "otp_type": "copy_code"}, QR]),
        "authentication_buttons_invalid",
        "components[2].buttons",
        id="auth-two-buttons",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _delete("components.2"),
        "authentication_buttons_invalid",
        "components",
        id="auth-without-otp-button",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.2.buttons.0.otp_type", "magic_link"),
        "otp_type_invalid",
        "components[2].buttons[0].otp_type",
        id="auth-otp-type-unknown",
    ),
    pytest.param(
        AUTH_COPY_CODE,
        _set("components.2.buttons.0.text", "Copy 🔑"),
        "authentication_emoji_or_url",
        "components[2].buttons[0].text",
        id="auth-emoji",
    ),
    pytest.param(
        AUTH_ONE_TAP,
        _delete("components.2.buttons.0.supported_apps"),
        "otp_supported_apps_missing",
        "components[2].buttons[0].supported_apps",
        id="one-tap-without-apps",
    ),
    pytest.param(
        AUTH_ONE_TAP,
        _set("components.2.buttons.0.supported_apps.0.signature_hash", "short"),
        "otp_supported_app_invalid",
        "components[2].buttons[0].supported_apps[0]",
        id="one-tap-bad-signature-hash",
    ),
    pytest.param(
        AUTH_ZERO_TAP,
        _set("components.2.buttons.0.zero_tap_terms_accepted", False),
        "zero_tap_terms_not_accepted",
        "components[2].buttons[0].zero_tap_terms_accepted",
        id="zero-tap-terms",
    ),
]


@pytest.mark.parametrize(("base", "mutate", "code", "field"), INVALID_CASES)
def test_each_broken_rule_is_reported_once_on_its_field(
    base: Template, mutate: Mutation, code: str, field: str
) -> None:
    template = copy.deepcopy(base)
    mutate(template)

    violations = validate_template(template)

    assert [(v.code, v.field) for v in violations] == [(code, field)]
    assert violations[0].message.endswith((".", "?")), "a whole sentence saying what to do"


@pytest.mark.parametrize(
    ("mutate", "code", "subcode"),
    [
        (_body("Our sale is on. " * 65), 100, 2388040),
        (_body("Hi {{1}}, order {{2}} shipped.", "Ana", "A1"), 100, 2388293),
        (_body("{{1}}, our summer sale starts today in every shop.", "A"), 100, 2388299),
        (_body("Shop now through {{1}} and use code {{3}} at checkout.", "a", "b"), 100, 2388072),
        (_set("components.0.text", "Our {{1}} is on {{2}}!"), 100, 2388047),
        (_set("components.2.text", "Sent to {{1}}"), 100, 2388073),
        (_set("name", "Summer Sale"), 100, None),
    ],
)
def test_violations_carry_the_error_meta_answers_with(
    mutate: Mutation, code: int, subcode: int | None
) -> None:
    template = copy.deepcopy(SEASONAL_PROMOTION)
    mutate(template)

    (violation,) = validate_template(template)

    assert (violation.meta_error_code, violation.meta_error_subcode) == (code, subcode)


def test_all_problems_are_reported_at_once() -> None:
    template = copy.deepcopy(SEASONAL_PROMOTION)
    template["name"] = "Summer Sale"
    template["language"] = "english"
    template["components"][2]["text"] = "x" * 61

    codes = [v.code for v in validate_template(template)]

    assert codes == ["name_invalid", "language_unsupported", "footer_text_too_long"]


def test_language_suggestion_for_a_hyphenated_code() -> None:
    template = copy.deepcopy(SEASONAL_PROMOTION)
    template["language"] = "pt-BR"

    (violation,) = validate_template(template)

    assert "'pt_BR'" in violation.message


def test_supported_languages_include_meta_regional_codes() -> None:
    assert {"en_US", "es_MX", "pt_BR", "prs_AF", "ky_KG", "es_UY", "zu"} <= SUPPORTED_LANGUAGES
    assert "en-US" not in SUPPORTED_LANGUAGES


def test_words_ratio_is_not_judged_for_scripts_without_spaces() -> None:
    template = copy.deepcopy(SEASONAL_PROMOTION)
    template["language"] = "zh_CN"
    template["components"][1] = {
        "type": "BODY",
        "text": "您好{{1}}，您的订单{{2}}已发货，请注意查收。",
        "example": {"body_text": [["小明", "A1"]]},
    }

    assert validate_template(template) == []


def test_variable_repeated_needs_one_sample() -> None:
    template = copy.deepcopy(SEASONAL_PROMOTION)
    template["components"][1] = {
        "type": "BODY",
        "text": "Hello {{1}}, your summer code is ready. Show it at the till, {{1}}, and save.",
        "example": {"body_text": [["Ana"]]},
    }

    assert validate_template(template) == []


def test_template_quota() -> None:
    assert check_template_quota(existing_templates=249) is None
    violation = check_template_quota(existing_templates=250)
    assert violation is not None
    assert (violation.code, violation.meta_error_subcode) == ("template_quota_reached", 2388019)


# --- Variables and parameter counts --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("Hi {{1}}, order {{2}} for {{1}}", ["1", "2"]),
        ("Hi {{first_name}}, order {{order_id}}", ["first_name", "order_id"]),
        ("No variables here", []),
        ("Broken {{ 1 }} and {{First}} and {{1", []),
        ("Out of order {{2}} then {{1}}", ["2", "1"]),
        (None, []),
        (42, []),
    ],
)
def test_template_variables(text: object, variables: list[str]) -> None:
    assert template_variables(text) == variables


@pytest.mark.parametrize(
    ("template", "counts"),
    [
        (SEASONAL_PROMOTION, {"header": 1, "body": 3}),
        (MARKETING_IMAGE_URL_QUICK_REPLIES, {"header": 1, "body": 2, "button[0]": 1}),
        (ORDER_CONFIRMATION_DOCUMENT, {"header": 1, "body": 2}),
        (UTILITY_NAMED, {"header": 1, "body": 2, "button[1]": 1}),
        (UTILITY_LOCATION, {"header": 1, "body": 1}),
        (AUTH_COPY_CODE, {"body": 1, "button[0]": 1}),
        ("not a template", {}),
        ({"components": "nope"}, {}),
    ],
)
def test_count_parameters(template: object, counts: dict[str, int]) -> None:
    assert count_parameters(template) == counts


# --- Parameters at send time -------------------------------------------------------------


def _text_params(*values: str, names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    if names:
        return [
            {"type": "text", "parameter_name": name, "text": value}
            for name, value in zip(names, values, strict=True)
        ]
    return [{"type": "text", "text": value} for value in values]


SEASONAL_SEND = [
    {"type": "header", "parameters": _text_params("Winter Sale")},
    # Four spaces in a row are the most Meta takes inside a parameter value.
    {"type": "body", "parameters": _text_params("next    Sunday", "WINTER", "30%")},
]
IMAGE_SEND = [
    {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": "https://ex.com/a.png"}}],
    },
    {"type": "body", "parameters": _text_params("Ana", "20%")},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": _text_params("sale20")},
    {
        "type": "button",
        "sub_type": "quick_reply",
        "index": 2,
        "parameters": [{"type": "payload", "payload": "STOP"}],
    },
]
NAMED_SEND = [
    {"type": "header", "parameters": _text_params("A1", names=("order_id",))},
    {
        "type": "body",
        "parameters": _text_params("A1", "Ana", names=("order_id", "first_name")),
    },
    {"type": "button", "sub_type": "url", "index": "1", "parameters": _text_params("A1")},
]
AUTH_SEND = [
    {"type": "body", "parameters": _text_params("123456")},
    {"type": "button", "sub_type": "url", "index": "0", "parameters": _text_params("123456")},
]


@pytest.mark.parametrize(
    ("template", "send", "parameter_format"),
    [
        pytest.param(SEASONAL_PROMOTION, SEASONAL_SEND, "POSITIONAL", id="text-header-body"),
        pytest.param(MARKETING_IMAGE_URL_QUICK_REPLIES, IMAGE_SEND, None, id="image-url-payload"),
        pytest.param(UTILITY_NAMED, NAMED_SEND, "NAMED", id="named-any-order"),
        pytest.param(AUTH_COPY_CODE, AUTH_SEND, "POSITIONAL", id="authentication-code"),
        pytest.param(ORDER_CONFIRMATION_DOCUMENT, None, None, id="missing-but-needed-0"),
    ],
)
def test_sends_that_fit(template: Template, send: Any, parameter_format: str | None) -> None:
    if send is None:
        template = copy.deepcopy(template)
        template["components"] = [{"type": "BODY", "text": "Your order shipped today, thanks."}]
    problems = check_send_parameters(template["components"], send, parameter_format)
    assert problems == []


def _replace(send: list[Any], index: int, component: Any) -> list[Any]:
    changed = copy.deepcopy(send)
    changed[index] = component
    return changed


@pytest.mark.parametrize(
    ("template", "send", "parameter_format", "code", "field", "meta"),
    [
        pytest.param(
            SEASONAL_PROMOTION,
            _replace(SEASONAL_SEND, 1, {"type": "body", "parameters": _text_params("a", "b")}),
            "POSITIONAL",
            "parameter_count_mismatch",
            "components[1]",
            132000,
            id="body-too-few",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            SEASONAL_SEND[1:],
            "POSITIONAL",
            "parameter_count_mismatch",
            "components",
            132000,
            id="header-missing",
        ),
        pytest.param(
            ORDER_CONFIRMATION_DOCUMENT,
            [
                {"type": "header", "parameters": [{"type": "document", "document": {"id": "1"}}]},
                {"type": "body", "parameters": _text_params("Ana", "A1")},
                {"type": "button", "sub_type": "url", "index": 1, "parameters": _text_params("x")},
            ],
            None,
            "parameter_count_mismatch",
            "components[2]",
            132000,
            id="static-url-given-parameter",
        ),
        pytest.param(
            ORDER_CONFIRMATION_DOCUMENT,
            [
                {"type": "header", "parameters": [{"type": "image", "image": {"id": "1"}}]},
                {"type": "body", "parameters": _text_params("Ana", "A1")},
            ],
            None,
            "parameter_type_mismatch",
            "components[0].parameters[0]",
            132012,
            id="image-for-document-header",
        ),
        pytest.param(
            UTILITY_NAMED,
            _replace(NAMED_SEND, 1, {"type": "body", "parameters": _text_params("A1", "Ana")}),
            "NAMED",
            "parameter_name_missing",
            "components[1].parameters[0]",
            132012,
            id="named-template-positional-send",
        ),
        pytest.param(
            UTILITY_NAMED,
            _replace(
                NAMED_SEND,
                1,
                {"type": "body", "parameters": _text_params("A1", "Ana", names=("order", "name"))},
            ),
            "NAMED",
            "parameter_name_unknown",
            "components[1].parameters[0]",
            132012,
            id="named-unknown-name",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            _replace(
                SEASONAL_SEND, 0, {"type": "header", "parameters": _text_params("x", names=("a",))}
            ),
            "POSITIONAL",
            "parameter_name_unexpected",
            "components[0].parameters[0]",
            132012,
            id="positional-template-named-send",
        ),
        pytest.param(
            MARKETING_IMAGE_URL_QUICK_REPLIES,
            _replace(
                IMAGE_SEND,
                2,
                {"type": "button", "sub_type": "copy_code", "index": "0", "parameters": []},
            ),
            None,
            "button_sub_type_mismatch",
            "components[2].sub_type",
            132012,
            id="url-button-sent-as-copy-code",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            _replace(
                SEASONAL_SEND,
                1,
                {"type": "body", "parameters": [*_text_params("a", "b"), {"type": "text"}]},
            ),
            "POSITIONAL",
            "parameter_value_missing",
            "components[1].parameters[2]",
            131008,
            id="text-parameter-without-text",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            _replace(
                SEASONAL_SEND,
                1,
                {"type": "body", "parameters": _text_params("a", "line one\nline two", "c")},
            ),
            "POSITIONAL",
            "parameter_text_invalid",
            "components[1].parameters[1]",
            100,
            id="newline-in-parameter-value",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            _replace(
                SEASONAL_SEND,
                1,
                {"type": "body", "parameters": _text_params("a", "wide     gap", "c")},
            ),
            "POSITIONAL",
            "parameter_text_invalid",
            "components[1].parameters[1]",
            100,
            id="five-spaces-in-parameter-value",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            [*SEASONAL_SEND, SEASONAL_SEND[1]],
            "POSITIONAL",
            "send_component_duplicate",
            "components[2]",
            131009,
            id="body-twice",
        ),
        pytest.param(
            SEASONAL_PROMOTION,
            {"type": "body"},
            "POSITIONAL",
            "send_components_invalid",
            "components",
            131009,
            id="components-not-a-list",
        ),
        pytest.param(
            AUTH_COPY_CODE,
            [AUTH_SEND[0], {"type": "button", "sub_type": "url", "index": "x", "parameters": []}],
            None,
            "button_index_invalid",
            "components[1].index",
            131009,
            id="button-index-not-a-number",
        ),
    ],
)
def test_sends_that_do_not_fit(
    template: Template,
    send: Any,
    parameter_format: str | None,
    code: str,
    field: str,
    meta: int,
) -> None:
    problems = check_send_parameters(template["components"], send, parameter_format)

    assert [(p.code, p.field, p.meta_error_code) for p in problems][:1] == [(code, field, meta)]


# --- Laws -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
ENUM_WORDS = st.sampled_from(
    ["HEADER", "BODY", "FOOTER", "BUTTONS", "TEXT", "IMAGE", "LOCATION", "URL", "QUICK_REPLY",
     "OTP", "COPY_CODE", "ONE_TAP", "ZERO_TAP", "PHONE_NUMBER", "header", "body", "button",
     "url", "text", "image"]
)  # fmt: skip
TEMPLATE_TEXT = st.text(alphabet="ab {}1_\n.🎉", max_size=30)
SHAPED_VALUE = st.one_of(JSON, ENUM_WORDS, TEMPLATE_TEXT)
SHAPED_BUTTON = st.fixed_dictionaries(
    {"type": ENUM_WORDS},
    optional={
        key: SHAPED_VALUE
        for key in ("text", "url", "example", "phone_number", "otp_type", "supported_apps")
    },
)
SHAPED_COMPONENT = st.fixed_dictionaries(
    {"type": ENUM_WORDS},
    optional={
        "format": ENUM_WORDS,
        "text": TEMPLATE_TEXT,
        "example": SHAPED_VALUE,
        "buttons": st.lists(SHAPED_BUTTON | SHAPED_VALUE, max_size=4),
        "parameters": st.lists(SHAPED_VALUE, max_size=3),
        "code_expiration_minutes": SHAPED_VALUE,
        "add_security_recommendation": SHAPED_VALUE,
        "index": SHAPED_VALUE,
        "sub_type": ENUM_WORDS,
    },
)
SHAPED_TEMPLATE = st.fixed_dictionaries(
    {},
    optional={
        "name": SHAPED_VALUE,
        "language": st.sampled_from(["en_US", "zh_CN", "xx"]) | SHAPED_VALUE,
        "category": st.sampled_from(["MARKETING", "UTILITY", "AUTHENTICATION"]) | SHAPED_VALUE,
        "parameter_format": st.sampled_from(["NAMED", "POSITIONAL"]) | SHAPED_VALUE,
        "message_send_ttl_seconds": SHAPED_VALUE,
        "components": st.lists(SHAPED_COMPONENT | SHAPED_VALUE, max_size=5) | SHAPED_VALUE,
    },
)


@settings(max_examples=300)
@given(value=JSON | SHAPED_TEMPLATE)
def test_no_input_makes_validation_raise(value: Any) -> None:
    violations = validate_template(value)
    assert all(isinstance(v, TemplateViolation) for v in violations)
    count_parameters(value)


@settings(max_examples=300)
@given(
    template=JSON | st.lists(SHAPED_COMPONENT | SHAPED_VALUE, max_size=4),
    send=JSON | st.lists(SHAPED_COMPONENT | SHAPED_VALUE, max_size=4),
    parameter_format=SHAPED_VALUE,
)
def test_no_input_makes_send_checks_raise(template: Any, send: Any, parameter_format: Any) -> None:
    check_send_parameters(template, send, parameter_format)
    template_variables(send)


PLAIN_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1)


def _resample(template: Template, words: Any) -> Template:
    """The same template with every header and body sample replaced by other plain words."""
    changed = copy.deepcopy(template)
    for component in changed["components"]:
        example = component.get("example")
        if not isinstance(example, dict):
            continue
        if "header_text" in example:
            example["header_text"] = [words() for _ in example["header_text"]]
        if "body_text" in example:
            example["body_text"] = [[words() for _ in example["body_text"][0]]]
        for key in ("header_text_named_params", "body_text_named_params"):
            for entry in example.get(key, []):
                entry["example"] = words()
    return changed


@pytest.mark.parametrize("template", VALID_TEMPLATES)
@given(data=st.data())
def test_valid_template_stays_valid_with_other_samples(template: Template, data: Any) -> None:
    resampled = _resample(template, lambda: data.draw(PLAIN_WORDS))
    assert validate_template(resampled) == []
