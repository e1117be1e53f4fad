"""Meta's enforcement on sends: templates, throughput, pair rate, opt-outs, caps and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer, serve_in_thread
from tests.api.emulator.conftest import Number, create_number
from tests.api.emulator.receiver import WebhookReceiver
from tests.api.emulator.sending import (
    CUSTOMER,
    OTHER_CUSTOMER,
    advance,
    body_parameters,
    create_template,
    customer_writes,
    error_of,
    send,
    template,
    text,
)


def failures(receiver: WebhookReceiver) -> dict[str, int]:
    return {s["id"]: s["errors"][0]["code"] for s in receiver.statuses() if s["status"] == "failed"}


def wamid_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    wamid: str = response.json()["messages"][0]["id"]
    return wamid


# --- Templates ---------------------------------------------------------------------------


async def test_an_approved_template_goes_out_of_the_window_and_is_accepted(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await create_template(control, wired_number, "order_shipped")

    response = await send(
        control, wired_number, template("order_shipped", components=body_parameters("Ana", "A1"))
    )

    assert response.status_code == 200, response.text
    assert response.json()["messages"][0]["message_status"] == "accepted"
    wamid = wamid_of(response)
    await advance(control, 30)
    receiver.wait_for(lambda _: any(s["status"] == "read" for s in receiver.statuses()))
    sent = next(s for s in receiver.statuses() if s["id"] == wamid and s["status"] == "sent")
    assert sent["pricing"]["category"] == "utility"
    assert sent["pricing"]["billable"] is True


async def test_free_form_fails_outside_the_window_but_a_template_works(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await create_template(control, wired_number, "order_shipped")

    free_form = wamid_of(await send(control, wired_number, text()))
    templated = wamid_of(
        await send(
            control,
            wired_number,
            template("order_shipped", components=body_parameters("Ana", "A1")),
        )
    )
    await advance(control, 30)

    receiver.wait_for(lambda _: any(s["id"] == templated and s["status"] == "read"
                                    for s in receiver.statuses()))  # fmt: skip
    assert failures(receiver) == {free_form: 131047}


@pytest.mark.parametrize(
    ("status", "code", "http_status"),
    [("APPROVED", 132001, 404), ("PAUSED", 132015, 400), ("DISABLED", 132016, 400)],
)
async def test_template_status_decides_the_answer(
    control: httpx.AsyncClient, number: Number, status: str, code: int, http_status: int
) -> None:
    await create_template(control, number, "order_shipped", status=status)
    # APPROVED exists in en_US only: another language is Meta's "does not exist".
    language = "es_MX" if status == "APPROVED" else "en_US"

    response = await send(
        control,
        number,
        template("order_shipped", language=language, components=body_parameters("Ana", "A1")),
    )

    assert response.status_code == http_status, response.text
    assert error_of(response)["code"] == code


async def test_an_unknown_template_is_132001(control: httpx.AsyncClient, number: Number) -> None:
    response = await send(control, number, template("nope"))

    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == 132001
    assert "nope" in error["error_data"]["details"]


@pytest.mark.parametrize(
    ("components", "code"),
    [
        (body_parameters("Ana"), 132000),
        (body_parameters("Ana", "A1", "extra"), 132000),
        (None, 132000),
        (
            # A positional template given named parameters: a format mismatch.
            [
                {
                    "type": "body",
                    "parameters": [
                        {"type": "text", "parameter_name": "name", "text": "Ana"},
                        {"type": "text", "parameter_name": "order", "text": "A1"},
                    ],
                }
            ],
            132012,
        ),
    ],
)
async def test_template_parameters_must_fit_the_template(
    control: httpx.AsyncClient, number: Number, components: list[dict[str, Any]] | None, code: int
) -> None:
    await create_template(control, number, "order_shipped")

    response = await send(control, number, template("order_shipped", components=components))

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == code


async def test_a_hydrated_body_over_1024_characters_is_132005(
    control: httpx.AsyncClient, number: Number
) -> None:
    await create_template(control, number, "order_shipped")

    response = await send(
        control,
        number,
        template("order_shipped", components=body_parameters("A" * 600, "B" * 600)),
    )

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == 132005


# --- Rates -------------------------------------------------------------------------------


async def test_a_burst_over_the_number_throughput_is_130429(control: httpx.AsyncClient) -> None:
    number = await create_number(control, throughput_mps=2)
    await customer_writes(control, number)

    answers = [await send(control, number, text(to=f"155503{i:05d}")) for i in range(4)]

    codes = [a.status_code for a in answers]
    assert codes[:2] == [200, 200]
    assert 429 in codes[2:]
    refused = next(a for a in answers if a.status_code == 429)
    assert error_of(refused)["code"] == 130429


async def test_too_many_messages_to_one_customer_is_131056(
    control: httpx.AsyncClient, number: Number
) -> None:
    await customer_writes(control, number)

    answers = [await send(control, number, text(body=f"m{i}")) for i in range(50)]

    refused = [a for a in answers if a.status_code != 200]
    assert refused, "the pair rate let 50 messages in a second through"
    assert error_of(refused[0])["code"] == 131056
    assert refused[0].status_code == 429
    # Another customer is not affected.
    await customer_writes(control, number, OTHER_CUSTOMER)
    assert (await send(control, number, text(to=OTHER_CUSTOMER))).status_code == 200


# --- Marketing -----------------------------------------------------------------------------


async def test_marketing_to_an_opted_out_customer_fails_with_131050(
    control: httpx.AsyncClient, wired_number: Number, receiver: WebhookReceiver
) -> None:
    await create_template(control, wired_number, "big_sale", category="MARKETING")
    await create_template(control, wired_number, "order_shipped")
    await customer_writes(control, wired_number)
    opted = await control.post(
        f"/_emulator/customers/{CUSTOMER}/opt_out_marketing",
        json={"phone_number_id": wired_number.phone_number_id},
    )
    assert opted.status_code == 200, opted.text

    marketing = wamid_of(
        await send(
            control, wired_number, template("big_sale", components=body_parameters("A", "B"))
        )
    )
    utility = wamid_of(
        await send(
            control, wired_number, template("order_shipped", components=body_parameters("A", "B"))
        )
    )
    await advance(control, 30)

    receiver.wait_for(lambda _: any(s["id"] == utility and s["status"] == "read"
                                    for s in receiver.statuses()))  # fmt: skip
    assert failures(receiver) == {marketing: 131050}


@pytest.fixture
def capped_server() -> Iterator[EmulatorServer]:
    config = EmulatorConfig(seed=3, marketing_frequency_cap_per_day=2)
    with serve_in_thread(Emulator(config=config)) as server:
        yield server


@pytest.fixture
async def capped(capped_server: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=capped_server.url, timeout=10) as client:
        yield client


async def test_the_marketing_frequency_cap_is_131049_across_businesses(
    capped: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    first = await create_number(capped, webhook_url=receiver.url, app_secret=receiver.app_secret)
    second = await create_number(
        capped,
        display_phone_number="+1 555-010-0001",
        webhook_url=receiver.url,
        app_secret=receiver.app_secret,
    )
    for number in (first, second):
        await create_template(capped, number, "big_sale", category="MARKETING")
    promo = template("big_sale", components=body_parameters("A", "B"))

    allowed = [
        wamid_of(await send(capped, first, promo)),
        wamid_of(await send(capped, second, promo)),
    ]
    capped_out = wamid_of(await send(capped, first, promo))
    await advance(capped, 24 * 3600 + 1)
    after_a_day = wamid_of(await send(capped, second, promo))
    await advance(capped, 30)

    receiver.wait_for(lambda _: any(s["id"] == after_a_day and s["status"] == "read"
                                    for s in receiver.statuses()))  # fmt: skip
    assert failures(receiver) == {capped_out: 131049}
    assert all(s["status"] != "failed" for s in receiver.statuses() if s["id"] in allowed)


# --- Messaging limit -----------------------------------------------------------------------


async def test_the_messaging_limit_stops_new_recipients_outside_the_window(
    control: httpx.AsyncClient, receiver: WebhookReceiver
) -> None:
    number = await create_number(
        control,
        tier="TIER_50",
        throughput_mps=1000,
        webhook_url=receiver.url,
        app_secret=receiver.app_secret,
    )
    await create_template(control, number, "order_shipped")
    params = body_parameters("Ana", "A1")
    recipients = [f"155502{i:05d}" for i in range(51)]

    wamids = [wamid_of(await send(control, number, template("order_shipped", r, components=params)))
              for r in recipients]  # fmt: skip
    # A recipient already counted costs nothing more; a customer who wrote in is not limited.
    again = wamid_of(await send(control, number, template("order_shipped", recipients[0],
                                                          components=params)))  # fmt: skip
    await customer_writes(control, number, CUSTOMER)
    in_window = wamid_of(await send(control, number, text()))
    await advance(control, 5)

    receiver.wait_for(lambda _: any(s["id"] == in_window for s in receiver.statuses()))
    receiver.wait_for(lambda _: wamids[-1] in failures(receiver))
    assert failures(receiver) == {wamids[-1]: 131048}
    assert again not in failures(receiver)
    # A day later the window has moved on.
    await advance(control, 24 * 3600)
    later = wamid_of(await send(control, number, template("order_shipped", recipients[-1],
                                                          components=params)))  # fmt: skip
    await advance(control, 5)
    receiver.wait_for(lambda _: any(s["id"] == later for s in receiver.statuses()))
    assert later not in failures(receiver)
