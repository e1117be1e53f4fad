"""The emulator's store: a restarted emulator on the same file keeps its durable world."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import serve_in_thread
from ovillo.emulator.store import FLUSH_INTERVAL_SECONDS, EmulatorStore
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import Received, run_receiver
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
        # Only the clock's lead stays: a reset does not move the clock back.
        assert db.execute("SELECT kind, count(*) FROM entity GROUP BY kind").fetchall() in (
            [],
            [("clock", 1)],
        )
    async with running(state_path) as control:
        gone = await control.get(f"{API}/{number.phone_number_id}", headers=number.auth)
        assert gone.status_code != 200


async def clock_now(control: httpx.AsyncClient) -> datetime:
    response = await control.get("/_emulator/clock")
    assert response.status_code == 200, response.text
    return datetime.fromisoformat(response.json()["now"])


async def advance(control: httpx.AsyncClient, seconds: float) -> None:
    response = await control.post("/_emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


def inbound_from(items: list[Received], wa_ids: set[str]) -> set[str]:
    return {
        message["from"]
        for item in items
        if item.field == "messages"
        for message in item.value.get("messages", ())
        if message["from"] in wa_ids
    }


async def test_scheduled_work_survives_a_restart(tmp_path: Path) -> None:
    """Pending reviews, demo customers' messages, a tier upgrade and the clock's lead."""
    state_path = tmp_path / "emulator.sqlite3"
    with run_receiver() as receiver:
        async with running(state_path) as control:
            number = await create_number(
                control,
                webhook_url=receiver.url,
                app_secret=receiver.app_secret,
                tier="TIER_1K",
                throughput_mps=1000,
            )
            await create_template(control, number, "order_update")
            # Enough volume for TIER_2K (500 recipients outside a window in 7 days): the
            # upgrade is due 6 hours after the evaluation.
            await advance(control, 2 * 24 * 3600)
            recipients = [f"1555020{i:04d}" for i in range(500)]
            parameters = body_parameters("Ana", "A1")
            for start in range(0, len(recipients), 50):
                answers = await asyncio.gather(
                    *(
                        send(control, number, template("order_update", to, components=parameters))
                        for to in recipients[start : start + 50]
                    )
                )
                assert all(answer.status_code == 200 for answer in answers)
            evaluated = await control.post("/_emulator/quality/evaluate")
            assert evaluated.status_code == 200, evaluated.text
            # A template waiting for its automatic review (60 s by default).
            created = await control.post(
                f"{API}/{number.waba_id}/message_templates",
                headers=number.auth,
                json={
                    "name": "pending_one",
                    "language": "en_US",
                    "category": "UTILITY",
                    "components": [{"type": "BODY", "text": "Your parcel is on its way."}],
                },
            )
            assert created.json()["status"] == "PENDING", created.text
            pending_id = created.json()["id"]
            demo = await control.post(
                f"/_emulator/phone_numbers/{number.phone_number_id}/demo_customers",
                json={"count": 3},
            )
            assert demo.status_code == 201, demo.text
            writers = {c["wa_id"] for c in demo.json() if c["on_whatsapp"]}
            assert writers
            before = await clock_now(control)

        with sqlite3.connect(state_path) as db:
            kinds = {
                json.loads(body)["fields"]["kind"]
                for (body,) in db.execute("SELECT body FROM entity WHERE kind = 'job'")
            }
        assert {"template_review", "demo_message", "tier_upgrade"} <= kinds

        async with running(state_path) as control:
            # Two days ahead before the restart, two days ahead after it.
            assert await clock_now(control) >= before
            status = await control.get(
                f"{API}/{pending_id}", params={"fields": "status"}, headers=number.auth
            )
            assert status.json()["status"] == "PENDING"
            await advance(control, 61)
            status = await control.get(
                f"{API}/{pending_id}", params={"fields": "status"}, headers=number.auth
            )
            assert status.json()["status"] == "APPROVED"
            receiver.wait_for(lambda got: inbound_from(got, writers) == writers)
            await advance(control, 6 * 3600 + 1)
            upgraded = receiver.wait_for(
                lambda got: any(
                    item.field == "phone_number_quality_update" and item.value["event"] == "UPGRADE"
                    for item in got
                )
            )
            assert upgraded
            answer = await control.get(
                f"{API}/{number.phone_number_id}",
                params={"fields": "messaging_limit_tier"},
                headers=number.auth,
            )
            assert answer.json()["messaging_limit_tier"] == "TIER_2K"
