"""A real emulator on a free port, for tests that talk to it over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer, serve_in_thread
from tests.api.emulator.receiver import WebhookReceiver, run_receiver


@pytest.fixture
def emulator_server() -> Iterator[EmulatorServer]:
    with serve_in_thread(Emulator(config=EmulatorConfig(seed=1))) as server:
        yield server


@pytest.fixture
async def control(emulator_server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator_server.url, timeout=10) as client:
        yield client


@dataclass
class Number:
    phone_number_id: str
    waba_id: str
    business_id: str
    access_token: str
    app_secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def create_number(
    control: httpx.AsyncClient, *, webhook_url: str | None = None, **extra: Any
) -> Number:
    body = {
        "display_phone_number": "+1 555-010-0000",
        "verified_name": "Ovillo Test",
        "webhook_url": webhook_url,
        "app_secret": "test-app-secret",
        **extra,
    }
    response = await control.post("/_emulator/phone_numbers", json=body)
    assert response.status_code == 201, response.text
    return Number(app_secret=body["app_secret"], **response.json())


@pytest.fixture
async def number(control: httpx.AsyncClient) -> Number:
    return await create_number(control)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with run_receiver() as running:
        yield running


@pytest.fixture
async def wired_number(control: httpx.AsyncClient, receiver: WebhookReceiver) -> Number:
    """A number whose webhooks go to ``receiver``."""
    return await create_number(control, webhook_url=receiver.url, app_secret=receiver.app_secret)
