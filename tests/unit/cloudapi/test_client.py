"""``CloudAPIClient`` against a real HTTP server on 127.0.0.1 that records every request."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ovillo.cloudapi import errors as e
from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import (
    ERROR_SPECS,
    CloudAPIError,
    CloudAPITransportError,
    UnreadableResponseError,
    graph_error_body,
)
from ovillo.cloudapi.messages import TextContent, TextMessage
from ovillo.cloudapi.phone_numbers import BusinessProfileUpdate
from ovillo.cloudapi.templates import TemplateCreate, TemplateEdit

TOKEN = "EAAG-secret-token-never-in-logs"
PHONE_ID = "106540352242922"
WABA_ID = "102290129340398"
SEND_OK = {
    "messaging_product": "whatsapp",
    "contacts": [{"input": "5215512345678", "wa_id": "5215512345678"}],
    "messages": [{"id": "wamid.HBgMNTIxNTUxMjM0NTY3OBUCABEYEjQ2", "message_status": "accepted"}],
}
SUCCESS = {"success": True}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    form: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"


class FakeGraph:
    """A Graph API stand-in: answers what each test scripts, records what arrives."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: dict[tuple[str, str], Reply | Handler] = {}
        self.release = asyncio.Event()
        self.base_url = ""

    def reply(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> None:
        payload = raw if raw is not None else json.dumps(body if body is not None else {}).encode()
        self.replies[(method, path)] = Reply(status, payload, content_type)

    def handle_with(self, method: str, path: str, handler: Handler) -> None:
        self.replies[(method, path)] = handler

    def only(self) -> Recorded:
        assert len(self.requests) == 1, self.requests
        return self.requests[0]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
        )
        if request.content_type == "multipart/form-data":
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    recorded.form[name] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "data": value.file.read(),
                    }
                else:
                    recorded.form[name] = value
        else:
            recorded.body = await request.read()
        self.requests.append(recorded)
        reply = self.replies.get((request.method, request.path))
        if reply is None:
            return web.json_response(
                graph_error_body(100, f"no route {request.method} {request.path}"), status=400
            )
        if isinstance(reply, Reply):
            return web.Response(
                status=reply.status, body=reply.body, content_type=reply.content_type
            )
        return await reply(request)


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.base_url = f"http://{host}:{port}"
    yield fake
    fake.release.set()
    await runner.cleanup()


@pytest.fixture
async def client(graph: FakeGraph) -> AsyncIterator[CloudAPIClient]:
    async with CloudAPIClient(access_token=TOKEN, base_url=graph.base_url) as api:
        yield api


# --- Requests as Meta expects them -------------------------------------------------------------


async def test_send_message_posts_the_model_with_version_and_bearer(
    graph: FakeGraph, client: CloudAPIClient
) -> None:
    graph.reply("POST", f"/v23.0/{PHONE_ID}/messages", SEND_OK)
    message = TextMessage(
        to="5215512345678",
        text=TextContent(body="hi https://ex.com", preview_url=True),
        biz_opaque_callback_data="msg-42",
    )

    sent = await client.send_message(PHONE_ID, message)

    request = graph.only()
    assert request.method == "POST"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5215512345678",
        "type": "text",
        "text": {"body": "hi https://ex.com", "preview_url": True},
        "biz_opaque_callback_data": "msg-42",
    }
    assert sent.wamid == "wamid.HBgMNTIxNTUxMjM0NTY3OBUCABEYEjQ2"
    assert sent.contacts[0].wa_id == "5215512345678"


async def test_send_message_sends_a_plain_mapping_as_it_is(
    graph: FakeGraph, client: CloudAPIClient
) -> None:
    graph.reply("POST", f"/v23.0/{PHONE_ID}/messages", SEND_OK)
    body = {"messaging_product": "whatsapp", "to": "1", "type": "future_type", "x": {"y": 1}}

    await client.send_message(PHONE_ID, body)

    assert graph.only().json() == body


async def test_version_and_base_url_are_configurable(graph: FakeGraph) -> None:
    graph.reply("POST", f"/v24.0/{PHONE_ID}/messages", SEND_OK)
    async with CloudAPIClient(
        access_token=TOKEN, base_url=graph.base_url + "/", api_version="24.0"
    ) as api:
        await api.send_message(PHONE_ID, {"to": "1", "text": {"body": "x"}})
    assert graph.only().path == f"/v24.0/{PHONE_ID}/messages"


@pytest.mark.parametrize(
    ("typing", "expected"),
    [
        (False, {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"}),
        (
            True,
            {
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": "wamid.IN",
                "typing_indicator": {"type": "text"},
            },
        ),
    ],
)
async def test_mark_read(
    graph: FakeGraph, client: CloudAPIClient, typing: bool, expected: dict[str, Any]
) -> None:
    graph.reply("POST", f"/v23.0/{PHONE_ID}/messages", SUCCESS)

    answer = await client.mark_read(PHONE_ID, "wamid.IN", typing_indicator=typing)

    assert answer.success
    assert graph.only().json() == expected


async def test_upload_media_is_multipart_as_meta_wants(
    graph: FakeGraph, client: CloudAPIClient
) -> None:
    graph.reply("POST", f"/v23.0/{PHONE_ID}/media", {"id": "1037543291543636"})
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

    uploaded = await client.upload_media(PHONE_ID, data, "image/png", "logo.png")

    request = graph.only()
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.form == {
        "messaging_product": "whatsapp",
        "file": {"filename": "logo.png", "content_type": "image/png", "data": data},
        "type": "image/png",
    }
    assert uploaded.id == "1037543291543636"


async def test_media_get_download_and_delete(graph: FakeGraph, client: CloudAPIClient) -> None:
    media_url = f"{graph.base_url}/lookaside/whatsapp_business/attachments/?mid=1&ext=2"
    graph.reply(
        "GET",
        "/v23.0/1037543291543636",
        {
            "messaging_product": "whatsapp",
            "url": media_url,
            "mime_type": "image/jpeg",
            "sha256": "a" * 64,
            "file_size": 303833,
            "id": "1037543291543636",
        },
    )
    graph.reply(
        "GET",
        "/lookaside/whatsapp_business/attachments/",
        raw=b"\xff\xd8\xff binary",
        content_type="image/jpeg",
    )
    graph.reply("DELETE", "/v23.0/1037543291543636", SUCCESS)

    info = await client.get_media("1037543291543636", phone_number_id=PHONE_ID)
    content = await client.download_media(info.url)
    deleted = await client.delete_media("1037543291543636")

    get, download, delete = graph.requests
    assert get.query == {"phone_number_id": PHONE_ID}
    assert info.file_size == 303833
    assert download.query == {"mid": "1", "ext": "2"}
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"
    assert content == b"\xff\xd8\xff binary"
    assert delete.method == "DELETE"
    assert deleted.success


async def test_the_token_is_not_sent_to_a_foreign_host(
    graph: FakeGraph, client: CloudAPIClient
) -> None:
    with pytest.raises(ValueError, match="refusing"):
        await client.download_media("https://collector.example/steal")
    assert graph.requests == []


async def test_template_listing_follows_cursors(graph: FakeGraph, client: CloudAPIClient) -> None:
    pages = {
        None: {
            "data": [{"id": "1", "name": "a"}],
            "paging": {"cursors": {"after": "c1"}, "next": "x"},
        },
        "c1": {
            "data": [{"id": "2", "name": "b"}],
            "paging": {"cursors": {"after": "c2"}, "next": "y"},
        },
        "c2": {"data": [{"id": "3", "name": "c"}], "paging": {"cursors": {"after": "c3"}}},
    }

    async def paged(request: web.Request) -> web.StreamResponse:
        return web.json_response(pages[request.query.get("after")])

    graph.handle_with("GET", f"/v23.0/{WABA_ID}/message_templates", paged)

    names = [t.name async for t in client.iter_templates(WABA_ID, status="APPROVED", page_size=1)]

    assert names == ["a", "b", "c"]
    assert [r.query.get("after") for r in graph.requests] == [None, "c1", "c2"]
    first = graph.requests[0].query
    assert first["status"] == "APPROVED"
    assert first["limit"] == "1"
    assert "components" in first["fields"].split(",")


async def test_list_templates_by_name(graph: FakeGraph, client: CloudAPIClient) -> None:
    graph.reply("GET", f"/v23.0/{WABA_ID}/message_templates", {"data": []})

    listed = await client.list_templates(WABA_ID, name="order_update", fields=None, limit=5)

    assert listed.data == []
    assert graph.only().query == {"name": "order_update", "limit": "5"}


async def test_template_create_get_edit_delete(graph: FakeGraph, client: CloudAPIClient) -> None:
    draft = TemplateCreate.model_validate(
        {
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
            ],
        }
    )
    graph.reply(
        "POST",
        f"/v23.0/{WABA_ID}/message_templates",
        {"id": "594425479261596", "status": "PENDING", "category": "UTILITY"},
    )
    graph.reply("GET", "/v23.0/594425479261596", {"id": "594425479261596", "status": "APPROVED"})
    graph.reply("POST", "/v23.0/594425479261596", SUCCESS)
    graph.reply("DELETE", f"/v23.0/{WABA_ID}/message_templates", SUCCESS)

    created = await client.create_template(WABA_ID, draft)
    fetched = await client.get_template(created.id)
    await client.edit_template(created.id, TemplateEdit.model_validate({"category": "MARKETING"}))
    await client.delete_template(WABA_ID, "order_update", hsm_id=created.id)

    create, get, edit, delete = graph.requests
    assert create.json() == draft.to_wire()
    assert created.status == "PENDING"
    assert fetched.status == "APPROVED"
    assert "fields" in get.query
    assert edit.json() == {"category": "MARKETING"}
    assert delete.method == "DELETE"
    assert delete.query == {"name": "order_update", "hsm_id": "594425479261596"}


async def test_phone_numbers_and_registration(graph: FakeGraph, client: CloudAPIClient) -> None:
    number = {
        "id": PHONE_ID,
        "display_phone_number": "+1 555-010-0000",
        "quality_rating": "GREEN",
        "throughput": {"level": "STANDARD"},
    }
    graph.reply("GET", f"/v23.0/{WABA_ID}/phone_numbers", {"data": [number]})
    graph.reply("GET", f"/v23.0/{PHONE_ID}", number)
    graph.reply("POST", f"/v23.0/{PHONE_ID}/register", SUCCESS)
    graph.reply("POST", f"/v23.0/{PHONE_ID}/deregister", SUCCESS)

    listed = await client.list_phone_numbers(WABA_ID)
    one = await client.get_phone_number(PHONE_ID, fields=["id", "quality_rating"])
    await client.register(PHONE_ID, "123456")
    await client.deregister(PHONE_ID)

    list_request, get_request, register, deregister = graph.requests
    assert listed.data[0].display_phone_number == "+1 555-010-0000"
    assert "quality_rating" in list_request.query["fields"].split(",")
    assert get_request.query == {"fields": "id,quality_rating"}
    assert one.quality_rating == "GREEN"
    assert register.json() == {"messaging_product": "whatsapp", "pin": "123456"}
    assert deregister.method == "POST"


async def test_subscribed_apps(graph: FakeGraph, client: CloudAPIClient) -> None:
    path = f"/v23.0/{WABA_ID}/subscribed_apps"
    graph.reply("POST", path, SUCCESS)
    graph.reply(
        "GET", path, {"data": [{"whatsapp_business_api_data": {"id": "1", "name": "Ovillo"}}]}
    )
    graph.reply("DELETE", path, SUCCESS)

    await client.subscribe_app(WABA_ID)
    apps = await client.list_subscribed_apps(WABA_ID)
    await client.unsubscribe_app(WABA_ID)

    assert [r.method for r in graph.requests] == ["POST", "GET", "DELETE"]
    assert apps.data[0].whatsapp_business_api_data is not None
    assert apps.data[0].whatsapp_business_api_data.name == "Ovillo"


async def test_business_profile(graph: FakeGraph, client: CloudAPIClient) -> None:
    path = f"/v23.0/{PHONE_ID}/whatsapp_business_profile"
    graph.reply("GET", path, {"data": [{"messaging_product": "whatsapp", "about": "Open 9-5"}]})
    graph.reply("POST", path, SUCCESS)

    profile = await client.get_business_profile(PHONE_ID)
    await client.update_business_profile(PHONE_ID, BusinessProfileUpdate(about="Open 9-6"))

    get, update = graph.requests
    assert profile.about == "Open 9-5"
    assert "about" in get.query["fields"].split(",")
    assert update.json() == {"messaging_product": "whatsapp", "about": "Open 9-6"}


async def test_graph_answers_with_text_javascript_are_read(
    graph: FakeGraph, client: CloudAPIClient
) -> None:
    # Graph has long answered with this content type; the client must not insist on JSON's.
    graph.reply(
        "POST",
        f"/v23.0/{PHONE_ID}/register",
        raw=b'{"success":true}',
        content_type="text/javascript",
    )
    assert (await client.register(PHONE_ID, "123456")).success


# --- Errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exception"),
    [
        (0, e.AuthenticationError),
        (190, e.AuthenticationError),
        (10, e.PermissionDeniedError),
        (100, e.InvalidParameterError),
        (130429, e.RateLimitError),
        (131026, e.RecipientError),
        (131047, e.ReengagementError),
        (131056, e.RateLimitError),
        (132001, e.TemplateError),
        (2388040, e.TemplateRejectedError),
        (133010, e.RegistrationError),
        (131000, e.ServerError),
    ],
)
async def test_error_answers_raise_typed_errors(
    graph: FakeGraph, client: CloudAPIClient, code: int, exception: type[CloudAPIError]
) -> None:
    spec = ERROR_SPECS[code]
    graph.reply(
        "POST",
        f"/v23.0/{PHONE_ID}/messages",
        graph_error_body(code, "details from Meta"),
        status=spec.http_status,
    )

    with pytest.raises(exception) as raised:
        await client.send_message(PHONE_ID, {"to": "1", "text": {"body": "x"}})

    assert raised.value.code == code
    assert raised.value.http_status == spec.http_status
    assert raised.value.retriable is spec.retriable
    assert raised.value.details == "details from Meta"


@pytest.mark.parametrize(
    ("status", "raw", "retriable"),
    [
        (502, b"<html><h1>502 Bad Gateway</h1></html>", True),
        (404, b"Not Found", False),
        (500, b"", True),
    ],
)
async def test_error_bodies_that_are_not_json_raise_a_clear_error(
    graph: FakeGraph, client: CloudAPIClient, status: int, raw: bytes, retriable: bool
) -> None:
    graph.reply("GET", f"/v23.0/{PHONE_ID}", raw=raw, status=status, content_type="text/html")

    with pytest.raises(CloudAPIError) as raised:
        await client.get_phone_number(PHONE_ID)

    assert type(raised.value) is CloudAPIError
    assert raised.value.code is None
    assert raised.value.http_status == status
    assert raised.value.retriable is retriable


@pytest.mark.parametrize(
    "raw", [b"<html>ok</html>", b'{"messages": []}', b'{"unexpected": "shape"}', b"[1, 2]"]
)
async def test_a_2xx_answer_that_cannot_be_read_is_not_retried_blindly(
    graph: FakeGraph, client: CloudAPIClient, raw: bytes
) -> None:
    graph.reply("POST", f"/v23.0/{PHONE_ID}/messages", raw=raw)

    with pytest.raises(UnreadableResponseError) as raised:
        await client.send_message(PHONE_ID, {"to": "1", "text": {"body": "x"}})

    assert raised.value.retriable is False
    assert raised.value.http_status == 200


async def test_a_timeout_is_a_transport_error_that_may_have_reached_meta(
    graph: FakeGraph,
) -> None:
    async def never_answers(request: web.Request) -> web.StreamResponse:
        await graph.release.wait()
        return web.json_response(SEND_OK)

    graph.handle_with("POST", f"/v23.0/{PHONE_ID}/messages", never_answers)

    async with CloudAPIClient(access_token=TOKEN, base_url=graph.base_url, timeout=0.3) as api:
        with pytest.raises(CloudAPITransportError) as raised:
            await api.send_message(PHONE_ID, {"to": "1", "text": {"body": "x"}})

    assert raised.value.retriable
    assert raised.value.may_have_reached_meta
    assert len(graph.requests) == 1


async def test_a_refused_connection_never_reached_meta() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    async with CloudAPIClient(access_token=TOKEN, base_url=f"http://127.0.0.1:{port}") as api:
        with pytest.raises(CloudAPITransportError) as raised:
            await api.send_message(PHONE_ID, {"to": "1", "text": {"body": "x"}})

    assert raised.value.retriable
    assert not raised.value.may_have_reached_meta


async def test_the_token_appears_in_no_message_or_repr(graph: FakeGraph) -> None:
    graph.reply("GET", f"/v23.0/{PHONE_ID}", graph_error_body(190, "expired"), status=401)
    async with CloudAPIClient(access_token=TOKEN, base_url=graph.base_url, timeout=0.3) as api:
        with pytest.raises(CloudAPIError) as http_error:
            await api.get_phone_number(PHONE_ID)
        assert TOKEN not in repr(api)

    async def never_answers(request: web.Request) -> web.StreamResponse:
        await graph.release.wait()
        return web.json_response({})

    graph.handle_with("GET", f"/v23.0/{PHONE_ID}", never_answers)
    async with CloudAPIClient(access_token=TOKEN, base_url=graph.base_url, timeout=0.2) as api:
        with pytest.raises(CloudAPITransportError) as transport_error:
            await api.get_phone_number(PHONE_ID)

    for raised in (http_error.value, transport_error.value):
        assert TOKEN not in str(raised)
        assert TOKEN not in repr(raised)
        assert TOKEN not in repr(raised.__cause__)


# --- Volume and lifecycle ---------------------------------------------------------------------


async def test_250_sends_are_in_flight_at_once(graph: FakeGraph, client: CloudAPIClient) -> None:
    in_flight = 250
    arrived = 0

    async def wait_for_everyone(request: web.Request) -> web.StreamResponse:
        # Answers only once every send is being served at the same time: a pool smaller
        # than `in_flight` leaves this waiting and the test fails on its deadline.
        nonlocal arrived
        arrived += 1
        if arrived == in_flight:
            graph.release.set()
        await graph.release.wait()
        return web.json_response(SEND_OK)

    graph.handle_with("POST", f"/v23.0/{PHONE_ID}/messages", wait_for_everyone)

    async with asyncio.timeout(20):
        answers = await asyncio.gather(
            *(
                client.send_message(PHONE_ID, {"to": str(n), "text": {"body": "x"}})
                for n in range(in_flight)
            )
        )

    assert len(answers) == in_flight
    assert sorted(r.json()["to"] for r in graph.requests) == sorted(str(n) for n in range(250))


async def test_a_shared_session_is_left_open(graph: FakeGraph) -> None:
    graph.reply("POST", f"/v23.0/{PHONE_ID}/messages", SEND_OK)
    async with aiohttp.ClientSession() as session:
        for token in ("token-a", "token-b"):
            async with CloudAPIClient(
                access_token=token, base_url=graph.base_url, session=session
            ) as api:
                await api.send_message(PHONE_ID, {"to": "1", "text": {"body": "x"}})
        assert not session.closed

    assert [r.headers["Authorization"] for r in graph.requests] == [
        "Bearer token-a",
        "Bearer token-b",
    ]


def test_constructor_refuses_an_empty_token() -> None:
    with pytest.raises(ValueError, match="access token"):
        CloudAPIClient(access_token="")
