"""Helpers for the inbox API tests: a desk (workspace, key, number), customers writing in
through the emulator, and waiting for the worker to apply what happened."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.factories import auth, connect_emulator_channel, make_workspace


@dataclass
class Desk:
    """One workspace seen through the REST API, with a number connected to the emulator."""

    http: httpx.AsyncClient
    emulator_http: httpx.AsyncClient
    workspace_id: uuid.UUID
    api_key: str
    number: dict[str, Any]
    numbers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.api_key)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(f"/api/v1{path}", headers=self.headers, params=params)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.http.post(f"/api/v1{path}", headers=headers, json=json, **kwargs)

    async def connect_another_number(self) -> dict[str, Any]:
        number = await connect_emulator_channel(self.http, self.emulator_http, self.api_key)
        self.numbers.append(number)
        return number

    async def customer_writes(
        self,
        wa_id: str,
        body: str = "hello",
        *,
        number: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        """The customer writes in through the emulator; the inbound wamid."""
        phone_number_id = (number or self.number)["phone_number_id"]
        response = await self.emulator_http.post(
            f"/_emulator/customers/{wa_id}/messages",
            json={
                "phone_number_id": phone_number_id,
                "type": "text",
                "text": {"body": body},
                **extra,
            },
        )
        assert response.status_code == 201, response.text
        wamid: str = response.json()["id"]
        return wamid

    async def conversations(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.get("/conversations", limit=200, **params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["data"]
        return items

    async def conversation_with(self, wa_id: str, **params: Any) -> dict[str, Any] | None:
        for item in await self.conversations(**params):
            if item["contact"]["wa_id"] == wa_id:
                return item
        return None

    async def wait_for_inbound(self, wa_id: str, body: str) -> dict[str, Any]:
        """Wait until the worker applied the customer's message ``body``; its conversation."""
        found: list[dict[str, Any]] = []

        async def applied() -> bool:
            conversation = await self.conversation_with(wa_id, status="open")
            if conversation is not None and conversation["last_message_preview"] == body:
                found.append(conversation)
                return True
            return False

        await wait_for(applied, within=20, interval=0.05, what=f"{wa_id} wrote {body!r}")
        return found[-1]

    async def writes_and_waits(
        self, wa_id: str, body: str = "hello", **extra: Any
    ) -> dict[str, Any]:
        """``customer_writes`` (``extra`` as it takes them), then ``wait_for_inbound``."""
        await self.customer_writes(wa_id, body, **extra)
        return await self.wait_for_inbound(wa_id, body)

    async def send(self, payload: dict[str, Any], **headers: str) -> httpx.Response:
        return await self.post("/messages", payload, headers=headers)

    async def advance(self, seconds: float) -> None:
        response = await self.emulator_http.post(
            "/_emulator/clock/advance", json={"seconds": seconds}
        )
        assert response.status_code == 200, response.text

    async def wait_for_status(
        self, message_id: str, *statuses: str, within: float = 30
    ) -> dict[str, Any]:
        """Poll GET /messages/{id}, moving the shared clock on so receipts come due."""
        found: list[dict[str, Any]] = []

        async def reached() -> bool:
            response = await self.get(f"/messages/{message_id}")
            assert response.status_code == 200, response.text
            message: dict[str, Any] = response.json()
            if message["status"] in statuses:
                found.append(message)
                return True
            await self.advance(3)
            return False

        await wait_for(reached, within=within, interval=0.1, what=f"status in {statuses}")
        return found[-1]

    async def emulator_sent(self, number: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        response = await self.emulator_http.get(
            "/_emulator/messages",
            params={"phone_number_id": (number or self.number)["phone_number_id"]},
        )
        assert response.status_code == 200, response.text
        sent: list[dict[str, Any]] = response.json()
        return sent


async def open_desk(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> Desk:
    workspace_id, api_key = await make_workspace(platform)
    number = await connect_emulator_channel(http, emulator_http, api_key)
    return Desk(
        http=http,
        emulator_http=emulator_http,
        workspace_id=workspace_id,
        api_key=api_key,
        number=number,
        numbers=[number],
    )
