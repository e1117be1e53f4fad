"""Template management shapes: create, edit, created, list/get; tolerant of Meta's additions."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pywa.client import WhatsApp
from pywa.types import templates as pywa_templates

from ovillo.cloudapi import templates as t
from ovillo.cloudapi.responses import Paging

FACTS_CREATE: dict[str, Any] = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "parameter_format": "NAMED",
    "components": [
        {
            "type": "BODY",
            "text": "Hi {{first_name}}, order {{order_id}} shipped.",
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

CREATE_EXAMPLES: dict[str, dict[str, Any]] = {
    "facts_named": FACTS_CREATE,
    # Meta's "Template components" creation syntax writes types in lower case.
    "meta_lowercase_named_header": {
        "name": "seasonal_promotion",
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "header",
                "format": "text",
                "text": "Our {{sale_name}} is on!",
                "example": {
                    "header_text_named_params": [
                        {"param_name": "sale_name", "example": "Summer Sale"}
                    ]
                },
            },
            {
                "type": "body",
                "text": "Use code {{discount_code}} by {{end_date}}.",
                "example": {
                    "body_text_named_params": [
                        {"param_name": "discount_code", "example": "25OFF"},
                        {"param_name": "end_date", "example": "August 31st"},
                    ]
                },
            },
        ],
    },
    "positional": {
        "name": "order_confirmation",
        "language": "es_MX",
        "category": "UTILITY",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Pedido {{1}}",
                "example": {"header_text": ["A1"]},
            },
            {
                "type": "BODY",
                "text": "Hola {{1}}, tu pedido {{2}} va en camino.",
                "example": {"body_text": [["Ana", "A1"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "PHONE_NUMBER", "text": "Llamar", "phone_number": "+5215512345678"},
                    {"type": "URL", "text": "Ver", "url": "https://ex.com/pedidos"},
                ],
            },
        ],
        "allow_category_change": True,
        "message_send_ttl_seconds": 3600,
    },
    "media_header_and_offer": {
        "name": "summer_offer",
        "language": "pt_BR",
        "category": "MARKETING",
        "components": [
            {
                "type": "HEADER",
                "format": "IMAGE",
                "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARbM..."]},
            },
            {"type": "BODY", "text": "Use o cupom e economize."},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "COPY_CODE", "example": "SAVE10"},
                    {"type": "QUICK_REPLY", "text": "Parar promoções"},
                    {
                        "type": "FLOW",
                        "text": "Agendar",
                        "flow_id": "123",
                        "flow_action": "navigate",
                        "navigate_screen": "WELCOME",
                    },
                    {"type": "CATALOG", "text": "Ver catálogo"},
                ],
            },
        ],
    },
    "location_header": {
        "name": "pickup_point",
        "language": "en",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "LOCATION"},
            {"type": "BODY", "text": "Your parcel waits here."},
        ],
    },
    "authentication_copy_code": {
        "name": "verification_code",
        "language": "en_US",
        "category": "AUTHENTICATION",
        "message_send_ttl_seconds": 60,
        "components": [
            {"type": "BODY", "add_security_recommendation": True},
            {"type": "FOOTER", "code_expiration_minutes": 10},
            {
                "type": "BUTTONS",
                "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy Code"}],
            },
        ],
    },
    "authentication_zero_tap": {
        "name": "zero_tap_auth",
        "language": "en_US",
        "category": "AUTHENTICATION",
        "components": [
            {"type": "BODY", "add_security_recommendation": True},
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "OTP",
                        "otp_type": "ZERO_TAP",
                        "text": "Copy Code",
                        "autofill_text": "Autofill",
                        "zero_tap_terms_accepted": True,
                        "supported_apps": [
                            {
                                "package_name": "com.example.luckyshrub",
                                "signature_hash": "K8a/AINcGX7",
                            }
                        ],
                    }
                ],
            },
        ],
    },
}

EXPECTED_COMPONENTS: dict[str, list[type[Any]]] = {
    "facts_named": [t.BodyDefinition, t.FooterDefinition, t.ButtonsDefinition],
    "meta_lowercase_named_header": [t.HeaderDefinition, t.BodyDefinition],
    "positional": [t.HeaderDefinition, t.BodyDefinition, t.ButtonsDefinition],
}

EXPECTED_BUTTONS: dict[str, list[type[Any]]] = {
    "facts_named": [t.QuickReplyButton, t.UrlButton],
    "positional": [t.PhoneNumberButton, t.UrlButton],
    "media_header_and_offer": [t.CopyCodeButton, t.QuickReplyButton, t.FlowButton, t.CatalogButton],
    "authentication_zero_tap": [t.OtpButton],
}


@pytest.mark.parametrize("name", sorted(CREATE_EXAMPLES))
def test_create_example_round_trips(name: str) -> None:
    example = CREATE_EXAMPLES[name]

    assert t.TemplateCreate.model_validate(example).to_wire() == example


@pytest.mark.parametrize(("name", "classes"), sorted(EXPECTED_COMPONENTS.items()))
def test_components_parse_to_their_kind(name: str, classes: list[type[Any]]) -> None:
    created = t.TemplateCreate.model_validate(CREATE_EXAMPLES[name])

    assert [type(component) for component in created.components] == classes


@pytest.mark.parametrize(("name", "classes"), sorted(EXPECTED_BUTTONS.items()))
def test_buttons_parse_to_their_kind(name: str, classes: list[type[Any]]) -> None:
    created = t.TemplateCreate.model_validate(CREATE_EXAMPLES[name])
    buttons = [c for c in created.components if isinstance(c, t.ButtonsDefinition)]

    assert [type(button) for button in buttons[0].buttons] == classes


def test_named_examples_are_typed() -> None:
    created = t.TemplateCreate.model_validate(FACTS_CREATE)
    body = created.components[0]

    assert isinstance(body, t.BodyDefinition)
    assert body.example is not None
    assert body.example.body_text_named_params == [
        t.NamedParameterExample(param_name="first_name", example="Ana"),
        t.NamedParameterExample(param_name="order_id", example="A1"),
    ]
    assert created.parameter_format is t.ParameterFormat.NAMED


def test_unknown_components_buttons_and_fields_survive() -> None:
    grown = copy.deepcopy(FACTS_CREATE)
    grown["sub_category"] = "ORDER_DETAILS"
    grown["degrees_of_freedom_spec"] = {"creative_features_spec": {"image_touchups": {}}}
    grown["components"][2]["buttons"].append(
        {"type": "VOICE_CALL", "text": "Call us", "ttl_minutes": 5}
    )
    grown["components"].append(
        {"type": "LIMITED_TIME_OFFER", "limited_time_offer": {"text": "Hurry"}}
    )
    grown["components"][0]["example"]["future"] = ["x"]

    created = t.TemplateCreate.model_validate(grown)

    assert created.to_wire() == grown
    assert isinstance(created.components[-1], t.OtherDefinition)
    buttons = created.components[2]
    assert isinstance(buttons, t.ButtonsDefinition)
    assert isinstance(buttons.buttons[-1], t.OtherButton)


def _without(path: tuple[Any, ...]) -> dict[str, Any]:
    data = copy.deepcopy(FACTS_CREATE)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return data


def _replaced(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(FACTS_CREATE)
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_replaced(("category",), "PROMOTIONS"), "category"),
        (_replaced(("parameter_format",), "MIXED"), "parameter_format"),
        (_replaced(("components",), []), "components"),
        (_without(("name",)), "name"),
        (_without(("language",)), "language"),
        (_replaced(("components", 2, "buttons"), []), "buttons"),
        (_without(("components", 2, "buttons", 0, "text")), "text"),
        (_without(("components", 2, "buttons", 1, "url")), "url"),
        (_replaced(("components", 1), {"type": "HEADER", "format": "HOLOGRAM"}), "format"),
        (_replaced(("components", 0, "example", "body_text"), ["Ana", "A1"]), "body_text"),
    ],
    ids=[
        "unknown category",
        "unknown parameter format",
        "no components",
        "no name",
        "no language",
        "no buttons",
        "quick reply without text",
        "url button without url",
        "unknown header format",
        "body_text not nested",
    ],
)
def test_create_refuses_bad_shapes(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        t.TemplateCreate.model_validate(data)

    assert any(field in map(str, error["loc"]) for error in caught.value.errors()), caught.value


def test_edit_round_trips() -> None:
    edit = {"category": "MARKETING", "components": FACTS_CREATE["components"]}

    assert t.TemplateEdit.model_validate(edit).to_wire() == edit
    assert t.TemplateEdit().to_wire() == {}


@pytest.mark.parametrize(
    "body",
    [
        {"id": "572279198452421", "status": "PENDING", "category": "UTILITY"},
        {"id": "1", "status": "APPROVED", "category": "AUTHENTICATION"},
        {"id": "2", "status": "REJECTED", "category": "MARKETING"},
    ],
)
def test_created_round_trips(body: dict[str, Any]) -> None:
    created = t.TemplateCreated.model_validate(body)

    assert created.to_wire() == body
    assert isinstance(created.status, t.TemplateStatus)
    assert isinstance(created.category, t.TemplateCategory)


# What GET /{waba-id}/message_templates returns (shape of Meta's "Get templates" example).
TEMPLATE_LIST: dict[str, Any] = {
    "data": [
        {
            "name": "order_update",
            "parameter_format": "NAMED",
            "components": FACTS_CREATE["components"],
            "language": "en_US",
            "status": "APPROVED",
            "category": "UTILITY",
            "sub_category": "ORDER_DETAILS",
            "id": "1252715608684590",
            "quality_score": {"score": "GREEN", "date": 1735689600},
        },
        {
            "name": "summer_offer",
            "parameter_format": "POSITIONAL",
            "components": CREATE_EXAMPLES["media_header_and_offer"]["components"],
            "language": "pt_BR",
            "status": "REJECTED",
            "category": "MARKETING",
            "id": "1252715608684591",
            "rejected_reason": "INVALID_FORMAT",
            "previous_category": "UTILITY",
        },
        {"name": "ping", "id": "3", "status": "PAUSED"},
    ],
    "paging": {
        "cursors": {"before": "MAZDZD", "after": "MjQZD"},
        "next": "https://graph.facebook.com/v24.0/102290129340398/message_templates?after=MjQZD",
    },
}


def test_template_list_round_trips() -> None:
    listing = t.TemplateList.model_validate(TEMPLATE_LIST)

    assert listing.to_wire() == TEMPLATE_LIST
    assert isinstance(listing.paging, Paging)
    assert listing.paging.cursors is not None
    assert listing.paging.cursors.after == "MjQZD"
    first = listing.data[0]
    assert first.status is t.TemplateStatus.APPROVED
    assert first.quality_score is not None
    assert first.quality_score.score is t.QualityScoreValue.GREEN


def test_template_with_only_id_parses() -> None:
    assert t.Template.model_validate({"id": "9"}).to_wire() == {"id": "9"}


@given(
    status=st.text(min_size=1, max_size=30),
    category=st.text(min_size=1, max_size=30),
    score=st.text(min_size=1, max_size=30),
)
def test_unknown_enum_values_are_kept_as_strings(status: str, category: str, score: str) -> None:
    data = {
        "id": "1",
        "status": status,
        "category": category,
        "parameter_format": status,
        "quality_score": {"score": score},
    }

    template = t.Template.model_validate(data)

    assert template.to_wire() == data
    assert template.status == status


# --- pywa 4.5's create request parses into ours and comes back identical ---------------------


def _pywa_create_request(template: pywa_templates.Template) -> dict[str, Any]:
    bodies: list[dict[str, Any]] = []

    def meta(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "1", "status": "PENDING", "category": "UTILITY"})

    with httpx.Client(transport=httpx.MockTransport(meta)) as session:
        WhatsApp(phone_id="1065", token="t", waba_id="999", session=session).create_template(
            template=template
        )
    assert len(bodies) == 1
    return bodies[0]


def test_pywa_named_template_create_matches() -> None:
    theirs = _pywa_create_request(
        pywa_templates.Template(
            name="order_update",
            language=pywa_templates.TemplateLanguage.ENGLISH_US,
            category=pywa_templates.TemplateCategory.UTILITY,
            parameter_format=pywa_templates.ParamFormat.NAMED,
            components=[
                pywa_templates.HeaderText("Order {{order_id}}", order_id="A1"),
                pywa_templates.BodyText(
                    "Hi {{first_name}}, order {{order_id}} shipped.",
                    first_name="Ana",
                    order_id="A1",
                ),
                pywa_templates.FooterText(text="Reply STOP to opt out"),
                pywa_templates.Buttons(
                    buttons=[
                        pywa_templates.QuickReplyButton(text="Track"),
                        pywa_templates.URLButton(
                            text="Open", url="https://ex.com/o/{{1}}", example="https://ex.com/o/A1"
                        ),
                        pywa_templates.PhoneNumberButton(text="Call", phone_number="+15550100000"),
                        pywa_templates.CopyCodeButton(example="SAVE10"),
                    ]
                ),
            ],
        )
    )
    ours = t.TemplateCreate(
        name="order_update",
        language="en_US",
        category=t.TemplateCategory.UTILITY,
        parameter_format=t.ParameterFormat.NAMED,
        components=[
            t.HeaderDefinition(
                format="TEXT",
                text="Order {{order_id}}",
                example=t.HeaderExample(
                    header_text_named_params=[
                        t.NamedParameterExample(param_name="order_id", example="A1")
                    ]
                ),
            ),
            t.BodyDefinition(
                text="Hi {{first_name}}, order {{order_id}} shipped.",
                example=t.BodyExample(
                    body_text_named_params=[
                        t.NamedParameterExample(param_name="first_name", example="Ana"),
                        t.NamedParameterExample(param_name="order_id", example="A1"),
                    ]
                ),
            ),
            t.FooterDefinition(text="Reply STOP to opt out"),
            t.ButtonsDefinition(
                buttons=[
                    t.QuickReplyButton(text="Track"),
                    t.UrlButton(
                        text="Open", url="https://ex.com/o/{{1}}", example=["https://ex.com/o/A1"]
                    ),
                    t.PhoneNumberButton(text="Call", phone_number="+15550100000"),
                    t.CopyCodeButton(example="SAVE10"),
                ]
            ),
        ],
    )

    assert ours.to_wire() == theirs
    assert t.TemplateCreate.model_validate(theirs).to_wire() == theirs


def test_pywa_authentication_template_create_parses() -> None:
    theirs = _pywa_create_request(
        pywa_templates.Template(
            name="auth_code",
            language=pywa_templates.TemplateLanguage.ENGLISH_US,
            category=pywa_templates.TemplateCategory.AUTHENTICATION,
            components=[
                pywa_templates.AuthenticationBody(add_security_recommendation=True),
                pywa_templates.AuthenticationFooter(code_expiration_minutes=10),
                pywa_templates.Buttons(
                    buttons=[
                        pywa_templates.OneTapOTPButton(
                            text="Copy",
                            autofill_text="Autofill",
                            supported_apps=[
                                pywa_templates.OTPSupportedApp(
                                    package_name="com.ex.app", signature_hash="K8a/AINcGX7"
                                )
                            ],
                        )
                    ]
                ),
            ],
        )
    )

    created = t.TemplateCreate.model_validate(theirs)

    assert created.to_wire() == theirs
    buttons = created.components[2]
    assert isinstance(buttons, t.ButtonsDefinition)
    otp = buttons.buttons[0]
    assert isinstance(otp, t.OtpButton)
    assert otp.otp_type is t.OtpType.ONE_TAP
