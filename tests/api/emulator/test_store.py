"""The emulator's store: a restarted emulator on the same file keeps its durable world."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import serve_in_thread
from ovillo.emulator.store import FLUSH_INTERVAL_SECONDS, EmulatorStore
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.sending import (
    API,
    CUSTOMER,
    body_parameters,
    create_template,
    customer_writes,
    send,
    set_persona,
    template,
    text,
)

PHOTO = b"\xff\xd8\xff\xe0" + b"jpeg bytes" * 100


@asynccontextmanager
async def running(state_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """An emulator on ``state_path``; leaving stops it (and so flushes it)."""
    with serve_in_thread(Emulator(config=EmulatorConfig(state_path=state_path))) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield client


async def customers(control: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await control.get("/_emulator/customers")
    assert response.status_code == 200, response.text
    return {customer["wa_id"]: customer for customer in response.json()}


async def build_world(control: httpx.AsyncClient) -> tuple[Number, str, str]:
    number = await create_number(control)
    template_id = await create_template(control, number, "order_shipped")
    await customer_writes(control, number)
    await set_persona(control, CUSTOMER, name="silent")
    uploaded = await control.post(
        f"{API}/{number.phone_number_id}/media",
        data={"messaging_product": "whatsapp", "type": "image/jpeg"},
        files={"file": ("photo.jpg", PHOTO, "image/jpeg")},
        headers=number.auth,
    )
    assert uploaded.status_code == 200, uploaded.text
    return number, template_id, uploaded.json()["id"]


async def test_a_restarted_emulator_keeps_its_durable_world(tmp_path: Path) -> None:
    state_path = tmp_path / "emulator.sqlite3"
    async with running(state_path) as control:
        number, template_id, media_id = await build_world(control)
        before = (await customers(control))[CUSTOMER]

    async with running(state_path) as control:
        answer = await control.get(f"{API}/{number.phone_number_id}", headers=number.auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["id"] == number.phone_number_id
        status = await control.get(
            f"{API}/{template_id}", params={"fields": "status"}, headers=number.auth
        )
        assert status.json()["status"] == "APPROVED"
        sent = await send(
            control, number, template("order_shipped", components=body_parameters("Ana", "A1"))
        )
        assert sent.status_code == 200, sent.text
        after = (await customers(control))[CUSTOMER]
        assert after["persona"] == before["persona"]
        assert after["persona"]["name"] == "silent"
        # The customer's inbound message still holds the 24-hour window open.
        free_form = await send(control, number, text())
        assert free_form.status_code == 200, free_form.text
        media = await control.get(f"{API}/{media_id}", headers=number.auth)
        assert media.status_code == 200, media.text
        download = await control.get(media.json()["url"], headers=number.auth)
        assert download.status_code == 200
        assert download.content == PHOTO

        # Ids handed out after a reload never collide with loaded ones.
        other = await create_number(control)
        fresh_ids = {other.phone_number_id, other.waba_id, other.business_id}
        assert not fresh_ids & {number.phone_number_id, number.waba_id, template_id, media_id}
        assert all(int(new) > int(template_id) for new in fresh_ids)


async def test_changes_reach_the_file_while_the_emulator_runs(tmp_path: Path) -> None:
    state_path = tmp_path / "emulator.sqlite3"
    async with running(state_path) as control:
        number, template_id, media_id = await build_world(control)
        await asyncio.sleep(FLUSH_INTERVAL_SECONDS * 4)
        # Changes to a customer already written reach the file too.
        opted_out = await control.post(
            f"/_emulator/customers/{CUSTOMER}/opt_out_marketing",
            json={"phone_number_id": number.phone_number_id},
        )
        assert opted_out.status_code == 200, opted_out.text
        await asyncio.sleep(FLUSH_INTERVAL_SECONDS * 4)
        assert number.phone_number_id in (
            EmulatorStore(state_path).load().customers[CUSTOMER].marketing_opt_outs
        )
        await set_persona(control, CUSTOMER, name="slowpoke", read_delay=3600)
        await asyncio.sleep(FLUSH_INTERVAL_SECONDS * 4)
        # A crash now would lose nothing durable: read the file beside the running emulator.
        state = EmulatorStore(state_path).load()
        assert number.phone_number_id in state.phone_numbers
        assert state.tokens[number.access_token] == number.business_id
        assert state.templates[template_id].status == "APPROVED"
        assert state.customers[CUSTOMER].persona.name == "slowpoke"
        assert state.customers[CUSTOMER].persona.read_delay == 3600
        assert number.phone_number_id in state.customers[CUSTOMER].last_inbound_at
        assert state.media[media_id].data == PHOTO


async def test_reset_empties_the_file(tmp_path: Path) -> None:
    state_path = tmp_path / "emulator.sqlite3"
    async with running(state_path) as control:
        number, _, _ = await build_world(control)
        assert (await control.post("/_emulator/reset")).status_code == 204

    with sqlite3.connect(state_path) as db:
        assert db.execute("SELECT count(*) FROM entity").fetchone() == (0,)
    async with running(state_path) as control:
        gone = await control.get(f"{API}/{number.phone_number_id}", headers=number.auth)
        assert gone.status_code != 200
