"""Helpers for the send pipeline's tests: send over HTTP, play a customer, set up templates."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.emulator.conftest import Number

API = "/v23.0"
CUSTOMER = "15550101234"
OTHER_CUSTOMER = "15550104321"


async def send(client: httpx.AsyncClient, number: Number, body: dict[str, Any]) -> httpx.Response:
    """``POST /{phone-number-id}/messages`` with ``body`` as the number's business."""
    return await client.post(
        f"{API}/{number.phone_number_id}/messages", json=body, headers=number.auth
    )


def text(to: str = CUSTOMER, body: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "text",
        "text": {"body": body},
        **extra,
    }


def template(
    name: str,
    to: str = CUSTOMER,
    *,
    language: str = "en_US",
    components: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    content: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components is not None:
        content["components"] = components
    return {
        "messaging_product": "whatsapp",
        "to": to,
        "type": "template",
        "template": content,
        **extra,
    }


def body_parameters(*values: str) -> list[dict[str, Any]]:
    return [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}]


async def customer_writes(
    control: httpx.AsyncClient,
    number: Number,
    wa_id: str = CUSTOMER,
    body: str = "hi",
    **extra: Any,
) -> str:
    """The customer sends a text to ``number`` (opens the 24-hour window); its wamid."""
    response = await control.post(
        f"/_emulator/customers/{wa_id}/messages",
        json={
            "phone_number_id": number.phone_number_id,
            "type": "text",
            "text": {"body": body},
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    wamid: str = response.json()["id"]
    return wamid


async def set_persona(control: httpx.AsyncClient, wa_id: str, **persona: Any) -> None:
    response = await control.put(f"/_emulator/customers/{wa_id}/persona", json=persona)
    assert response.status_code == 200, response.text


async def create_template(
    control: httpx.AsyncClient,
    number: Number,
    name: str,
    *,
    category: str = "UTILITY",
    body: str = "Hello {{1}}, your order {{2}} has shipped today.",
    example: list[str] | None = None,
    status: str = "APPROVED",
    language: str = "en_US",
    extra_components: list[dict[str, Any]] | None = None,
) -> str:
    """Create a template through the Graph API and give it ``status`` through the control API."""
    component: dict[str, Any] = {"type": "BODY", "text": body}
    if "{{" in body:
        component["example"] = {"body_text": [example or ["Ana", "A1"]]}
    response = await control.post(
        f"{API}/{number.waba_id}/message_templates",
        headers=number.auth,
        json={
            "name": name,
            "language": language,
            "category": category,
            "components": [component, *(extra_components or [])],
        },
    )
    assert response.status_code == 200, response.text
    template_id: str = response.json()["id"]
    reviewed = await control.post(
        f"/_emulator/templates/{template_id}/review", json={"status": "APPROVED"}
    )
    assert reviewed.status_code in (200, 201, 204), reviewed.text
    if status != "APPROVED":
        again = await control.post(
            f"/_emulator/templates/{template_id}/review", json={"status": status}
        )
        assert again.status_code in (200, 201, 204), again.text
    return template_id


async def advance(control: httpx.AsyncClient, seconds: float) -> None:
    response = await control.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


async def sent_messages(control: httpx.AsyncClient, number: Number) -> list[dict[str, Any]]:
    response = await control.get(
        "/_emulator/messages", params={"phone_number_id": number.phone_number_id}
    )
    assert response.status_code == 200, response.text
    messages: list[dict[str, Any]] = response.json()
    return messages


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error
