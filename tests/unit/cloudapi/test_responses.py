"""Synchronous Graph API answers: send response, success, paging."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from ovillo.cloudapi.responses import (
    MessageStatus,
    Paging,
    SendMessageResponse,
    SuccessResponse,
)

# The facts file's example, and the BSUID variant from Meta's "Business-scoped user IDs".
SEND_RESPONSES: dict[str, dict[str, Any]] = {
    "facts_template_send": {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "+52 1 55 1234 5678", "wa_id": "5215512345678"}],
        "messages": [{"id": "wamid.HBgM...", "message_status": "accepted"}],
    },
    "free_form_send": {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}],
    },
    "bsuid_send": {
        "messaging_product": "whatsapp",
        "contacts": [
            {"input": "US.13491208655302741918", "wa_id": "", "user_id": "US.13491208655302741918"}
        ],
        "messages": [{"id": "wamid.B"}],
    },
    "held_for_quality": {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "1", "wa_id": "1"}],
        "messages": [{"id": "wamid.C", "message_status": "held_for_quality_assessment"}],
    },
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SEND_RESPONSES))
def test_send_response_round_trips(name: str) -> None:
    example = SEND_RESPONSES[name]

    assert SendMessageResponse.model_validate(example).to_wire() == example


def test_wamid_is_the_first_message_id() -> None:
    response = SendMessageResponse.model_validate(SEND_RESPONSES["facts_template_send"])

    assert response.wamid == "wamid.HBgM..."
    assert response.messages[0].message_status == MessageStatus.ACCEPTED


def test_unknown_status_and_fields_survive() -> None:
    example = copy.deepcopy(SEND_RESPONSES["facts_template_send"])
    example["messages"][0]["message_status"] = "queued_for_review_2027"
    example["messages"][0]["future"] = {"a": 1}
    example["contacts"][0]["username"] = "@ana"
    example["debug"] = True

    assert SendMessageResponse.model_validate(example).to_wire() == example


def test_bsuid_contact_has_no_phone() -> None:
    response = SendMessageResponse.model_validate(SEND_RESPONSES["bsuid_send"])

    assert response.contacts[0].user_id == "US.13491208655302741918"
    assert not response.contacts[0].wa_id


@pytest.mark.parametrize(
    ("change", "field"),
    [({"messages": []}, "messages"), ({"messages": [{"message_status": "accepted"}]}, "id")],
)
def test_send_response_without_message_id_is_refused(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SendMessageResponse.model_validate({**SEND_RESPONSES["free_form_send"], **change})

    assert any(field in map(str, error["loc"]) for error in caught.value.errors())


@pytest.mark.parametrize("body", [{"success": True}, {"success": False}, {"success": True, "x": 1}])
def test_success_round_trips(body: dict[str, Any]) -> None:
    assert SuccessResponse.model_validate(body).to_wire() == body


def test_success_is_required() -> None:
    with pytest.raises(ValidationError):
        SuccessResponse.model_validate({})


@pytest.mark.parametrize(
    "paging",
    [
        {
            "cursors": {"before": "MAZDZD", "after": "MjQZD"},
            "next": "https://graph.facebook.com/v24.0/1/message_templates?after=MjQZD",
        },
        {"cursors": {"before": "MAZDZD", "after": "MjQZD"}, "previous": "https://g/p"},
        {"cursors": {"before": "QVFIUk"}},
        {},
    ],
)
def test_paging_round_trips(paging: dict[str, Any]) -> None:
    assert Paging.model_validate(paging).to_wire() == paging


def test_last_page_has_no_next() -> None:
    assert Paging.model_validate({"cursors": {"before": "a", "after": "b"}}).next is None
