"""Unmodified clients against the send pipeline: pywa 4.5 and our own ``CloudAPIClient``.

pywa is pointed at the emulator through the ``httpx.Client`` it accepts: pywa sets the
session's ``base_url`` to graph.facebook.com when it is constructed, and we move it to the
emulator right after, so every call pywa makes is its own, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from pywa.client import WhatsApp
from pywa.types.templates import TemplateLanguage

from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import (
    CloudAPITransportError,
    InvalidParameterError,
    RateLimitError,
    ServerError,
    TemplateError,
)
from ovillo.emulator.server import EmulatorServer
from tests.api.emulator.conftest import Number
from tests.api.emulator.receiver import WebhookReceiver
from tests.api.emulator.sending import (
    CUSTOMER,
    advance,
    create_template,
    customer_writes,
    sent_messages,
)

GRAPH_VERSION = "23.0"


@pytest.fixture
def pywa_for(emulator_server: EmulatorServer) -> Iterator[Callable[[Number], WhatsApp]]:
    sessions: list[httpx.Client] = []

    def build(number: Number) -> WhatsApp:
        session = httpx.Client(timeout=10)
        sessions.append(session)
        wa = WhatsApp(
            phone_id=number.phone_number_id,
            token=number.access_token,
            session=session,
            api_version=GRAPH_VERSION,
        )
        session.base_url = f"{emulator_server.url}/v{GRAPH_VERSION}"
        return wa

    yield build
    for session in sessions:
        session.close()


def statuses_for(receiver: WebhookReceiver, wamid: str) -> list[str]:
    return [s["status"] for s in receiver.statuses() if s["id"] == wamid]


async def test_pywa_sends_text_template_and_image_and_marks_read(
    control: httpx.AsyncClient,
    wired_number: Number,
    receiver: WebhookReceiver,
    pywa_for: Callable[[Number], WhatsApp],
) -> None:
    inbound = await customer_writes(control, wired_number)
    await create_template(control, wired_number, "order_shipped")
    wa = pywa_for(wired_number)

    text = wa.send_message(to=CUSTOMER, text="Hello from pywa", tracker="pywa-1")
    templated = wa.send_template(
        to=CUSTOMER,
        name="order_shipped",
        language=TemplateLanguage.ENGLISH_US,
        params=[
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A1"}],
            }
        ],
    )
    image = wa.send_image(to=CUSTOMER, image="https://example.com/cat.jpg", caption="A cat")
    assert wa.mark_message_as_read(message_id=inbound).success is True

    assert text.id.startswith("wamid.")
    assert text.to == CUSTOMER
    assert templated.id.startswith("wamid.")
    await advance(control, 30)
    wamids = (text.id, templated.id, image.id)
    receiver.wait_for(lambda _: all("read" in statuses_for(receiver, w) for w in wamids))
    tracked = [s for s in receiver.statuses() if s["id"] == text.id]
    assert {s.get("biz_opaque_callback_data") for s in tracked} == {"pywa-1"}
    stored = {m["id"]: m for m in await sent_messages(control, wired_number)}
    assert stored[image.id]["payload"]["image"] == {
        "link": "https://example.com/cat.jpg",
        "caption": "A cat",
    }


async def test_cloudapi_client_sends_and_reads_meta_errors(
    control: httpx.AsyncClient, emulator_server: EmulatorServer, number: Number
) -> None:
    inbound = await customer_writes(control, number)

    async with CloudAPIClient(
        access_token=number.access_token, base_url=emulator_server.url
    ) as client:
        sent = await client.send_message(
            number.phone_number_id,
            {"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "hi"}},
        )
        read = await client.mark_read(number.phone_number_id, inbound, typing_indicator=True)
        with pytest.raises(InvalidParameterError) as invalid:
            await client.send_message(
                number.phone_number_id, {"messaging_product": "whatsapp", "to": CUSTOMER}
            )
        with pytest.raises(TemplateError) as missing:
            await client.send_message(
                number.phone_number_id,
                {
                    "messaging_product": "whatsapp",
                    "to": CUSTOMER,
                    "type": "template",
                    "template": {"name": "nope", "language": {"code": "en_US"}},
                },
            )

    assert sent.wamid.startswith("wamid.")
    assert sent.contacts[0].wa_id == CUSTOMER
    assert read.success is True
    assert invalid.value.code == 100
    assert invalid.value.details == "The parameter text is required."
    assert missing.value.code == 132001
    assert missing.value.http_status == 404


@pytest.mark.parametrize(
    ("kind", "code", "http_status"), [("api_500", 131000, 500), ("api_503", 131016, 503)]
)
async def test_injected_server_faults_come_back_as_meta_errors(
    control: httpx.AsyncClient,
    emulator_server: EmulatorServer,
    number: Number,
    kind: str,
    code: int,
    http_status: int,
) -> None:
    await customer_writes(control, number)
    fault = await control.post(
        "/_emulator/faults", json={"kind": kind, "phone_number_id": number.phone_number_id}
    )
    assert fault.status_code == 201, fault.text

    async with CloudAPIClient(
        access_token=number.access_token, base_url=emulator_server.url
    ) as client:
        with pytest.raises(ServerError) as failed:
            await client.send_message(
                number.phone_number_id,
                {"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "hi"}},
            )

    assert failed.value.code == code
    assert failed.value.http_status == http_status
    assert failed.value.retriable is True
    assert await sent_messages(control, number) == []


async def test_a_lost_answer_is_a_transport_error_but_the_message_goes_out(
    control: httpx.AsyncClient,
    emulator_server: EmulatorServer,
    wired_number: Number,
    receiver: WebhookReceiver,
) -> None:
    await customer_writes(control, wired_number)
    fault = await control.post(
        "/_emulator/faults",
        json={"kind": "api_lost_answer", "phone_number_id": wired_number.phone_number_id},
    )
    assert fault.status_code == 201, fault.text

    async with CloudAPIClient(
        access_token=wired_number.access_token, base_url=emulator_server.url
    ) as client:
        with pytest.raises(CloudAPITransportError) as lost:
            await client.send_message(
                wired_number.phone_number_id,
                {
                    "messaging_product": "whatsapp",
                    "to": CUSTOMER,
                    "text": {"body": "did it go?"},
                    "biz_opaque_callback_data": "outbox-7",
                },
            )

    assert lost.value.may_have_reached_meta is True
    await advance(control, 30)
    receiver.wait_for(
        lambda _: any(
            s.get("biz_opaque_callback_data") == "outbox-7" and s["status"] == "read"
            for s in receiver.statuses()
        )
    )
    (stored,) = await sent_messages(control, wired_number)
    assert stored["biz_opaque_callback_data"] == "outbox-7"


async def test_throughput_refusals_are_rate_limit_errors(
    control: httpx.AsyncClient, emulator_server: EmulatorServer
) -> None:
    from tests.api.emulator.conftest import create_number

    number = await create_number(control, throughput_mps=1)
    await customer_writes(control, number)

    async with CloudAPIClient(
        access_token=number.access_token, base_url=emulator_server.url
    ) as client:
        body = {"messaging_product": "whatsapp", "to": CUSTOMER, "text": {"body": "hi"}}
        await client.send_message(number.phone_number_id, body)
        with pytest.raises(RateLimitError) as limited:
            await client.send_message(number.phone_number_id, body)

    assert limited.value.code == 130429
    assert limited.value.http_status == 429
    assert limited.value.retriable is True
