"""The send request itself: Meta's synchronous answers to malformed or misaddressed sends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.emulator.conftest import Number
from tests.api.emulator.sending import CUSTOMER, customer_writes, error_of, send, text


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ({"to": CUSTOMER, "type": "text", "text": {"body": "x"}}, 100, "messaging_product"),
        (
            {"messaging_product": "sms", "to": CUSTOMER, "text": {"body": "x"}},
            100,
            "messaging_product",
        ),
        ({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}, 100, "to"),
        ({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "text", "text": {}}, 100,
         "text.body"),
        ({"messaging_product": "whatsapp", "to": CUSTOMER, "type": "fax", "fax": {}}, 100, "type"),
        (
            {"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "x" * 4097}},
            131009,
            "text.body",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": CUSTOMER,
                "type": "image",
                "image": {"id": "1", "link": "https://example.com/a.jpg"},
            },
            131009,
            "image",
        ),
        (
            {
                "messaging_product": "whatsapp",
                "to": CUSTOMER,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "Pick"},
                    "action": {
                        "buttons": [{"type": "reply", "reply": {"id": "a", "title": "x" * 21}}]
                    },
                },
            },
            131009,
            "interactive.action.buttons[0].reply.title",
        ),
        ({"messaging_product": "whatsapp", "to": "not a number", "text": {"body": "x"}}, 100, "to"),
    ],
)  # fmt: skip
async def test_malformed_sends_get_meta_code_naming_the_field(
    control: httpx.AsyncClient, number: Number, body: dict[str, Any], code: int, names: str
) -> None:
    response = await send(control, number, body)

    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == code
    assert error["type"] == "OAuthException"
    assert names in error["error_data"]["details"]
    assert error["fbtrace_id"]


async def test_a_number_cannot_message_itself(control: httpx.AsyncClient, number: Number) -> None:
    # The conftest number is +1 555-010-0000.
    response = await send(control, number, text(to="+1 (555) 010-0000"))

    assert response.status_code == 400
    assert error_of(response)["code"] == 131021


async def test_a_body_that_is_not_a_json_object_is_code_100(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await control.post(
        f"/v23.0/{number.phone_number_id}/messages",
        content=b"[1, 2]",
        headers={**number.auth, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == 100


async def test_a_send_echoes_the_input_and_answers_the_wa_id(
    control: httpx.AsyncClient, number: Number
) -> None:
    await customer_writes(control, number, "5215512345678")

    response = await send(control, number, text(to="+52 55 1234 5678"))

    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["messaging_product"] == "whatsapp"
    # Meta keeps the Mexican mobile "1" in the wa_id, whatever the client typed.
    assert answer["contacts"] == [{"input": "+52 55 1234 5678", "wa_id": "5215512345678"}]
    assert answer["messages"][0]["id"].startswith("wamid.")
    assert "message_status" not in answer["messages"][0]


async def test_a_send_to_a_bsuid_answers_with_the_user_id(
    control: httpx.AsyncClient, number: Number
) -> None:
    await customer_writes(control, number)
    customer = (await control.get(f"/_emulator/customers/{CUSTOMER}")).json()

    response = await send(
        control,
        number,
        {"messaging_product": "whatsapp", "recipient": customer["user_id"], "text": {"body": "hi"}},
    )

    assert response.status_code == 200, response.text
    contact = response.json()["contacts"][0]
    assert contact["input"] == customer["user_id"]
    assert contact["user_id"] == customer["user_id"]


async def test_an_unknown_bsuid_is_refused(control: httpx.AsyncClient, number: Number) -> None:
    response = await send(
        control,
        number,
        {"messaging_product": "whatsapp", "recipient": "US.1234567890", "text": {"body": "hi"}},
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == 131009


async def test_mark_as_read_marks_the_message_read(
    control: httpx.AsyncClient, number: Number
) -> None:
    wamid = await customer_writes(control, number)

    response = await send(
        control,
        number,
        {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
            "typing_indicator": {"type": "text"},
        },
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}


async def test_mark_as_read_of_an_unknown_message_is_code_100(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await send(
        control,
        number,
        {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.nope"},
    )

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == 100
    assert "message_id" in error["error_data"]["details"]
