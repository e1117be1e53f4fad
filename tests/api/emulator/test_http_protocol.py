"""The emulator's HTTP protocol answers Graph calls without ASGI, as ASGI would answer them.

`GraphHttpProtocol` (emulator.protocol) serves Graph paths itself and leaves the rest to
uvicorn. These tests talk to a real server over sockets: its answers match the app's own
(FastAPI's route, through the same emulator), and the connection keeps HTTP/1.1's rules
(pipelined requests answered in order, keep-alive, ``Connection: close``, 100-continue).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httptools
import httpx
import pytest

from ovillo.emulator.app import create_emulator_app
from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.protocol import GraphHttpProtocol
from ovillo.emulator.server import EmulatorServer, serve_in_thread
from tests.api.emulator.conftest import Number, create_number


@pytest.fixture
def shared() -> Iterator[tuple[Emulator, EmulatorServer]]:
    emulator = Emulator(config=EmulatorConfig(seed=3))
    with serve_in_thread(emulator) as server:
        yield emulator, server


@pytest.fixture
async def served_number(shared: tuple[Emulator, EmulatorServer]) -> AsyncIterator[Number]:
    async with httpx.AsyncClient(base_url=shared[1].url, timeout=10) as control:
        yield await create_number(control)


class _Answers:
    """Reads HTTP/1.1 answers off one connection with httptools."""

    def __init__(self) -> None:
        self.done: list[tuple[int, dict[str, str], bytes]] = []
        self._headers: dict[str, str] = {}
        self._body = bytearray()
        self._parser = httptools.HttpResponseParser(self)

    def feed(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_message_begin(self) -> None:
        self._headers, self._body = {}, bytearray()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        status = self._parser.get_status_code()
        self.done.append((status, self._headers, bytes(self._body)))


async def _exchange(
    url: str,
    raw: bytes,
    count: int,
    *,
    after_first_line: bytes | None = None,
    wait_close: bool = False,
) -> tuple[list[tuple[int, dict[str, str], bytes]], bool]:
    """Write ``raw`` on one connection; the first ``count`` answers and (``wait_close``)
    whether the server closed the connection after them."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answers = _Answers()
    try:
        writer.write(raw)
        await writer.drain()
        closed = False
        async with asyncio.timeout(10):
            if after_first_line is not None:
                line = await reader.readuntil(b"\r\n\r\n")
                assert line.startswith(b"HTTP/1.1 100 Continue"), line
                writer.write(after_first_line)
                await writer.drain()
            while len(answers.done) < count:
                data = await reader.read(65536)
                if not data:
                    closed = True
                    break
                answers.feed(data)
            if wait_close and not closed:
                try:
                    async with asyncio.timeout(0.3):
                        closed = await reader.read(1) == b""
                except TimeoutError:
                    closed = False
        return answers.done, closed
    finally:
        writer.close()


def _request(method: str, path: str, token: str | None, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: emulator"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _comparable(status: int, body: bytes, authenticate: str | None) -> tuple[int, Any, str | None]:
    data: Any = json.loads(body) if body.startswith(b"{") else body.decode()
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        data["error"].pop("fbtrace_id", None)  # random per answer
    return status, data, authenticate


# Calls that change nothing, so the app in this test's loop may answer them beside the
# server's thread: errors of every kind, and reads.
READS = [
    ("GET", "/v23.0/{phone}", True, b""),
    ("GET", "/v23.0/{phone}/", True, b""),
    ("GET", "/v23.0/{phone}?fields=display_phone_number,quality_rating", True, b""),
    ("GET", "/v23.0/{waba}/phone_numbers", True, b""),
    ("GET", "/v23.0/{phone}", False, b""),
    ("GET", "/v17.0/{phone}", True, b""),
    ("GET", "/v23.0/123456789", True, b""),
    ("GET", "/v23.0/{phone}/nonsense", True, b""),
    ("DELETE", "/v23.0/{phone}/messages", True, b""),
    ("POST", "/v23.0/{phone}/messages", True, b"{not json"),
    ("POST", "/v23.0/{phone}/messages", True, b'{"messaging_product":"whatsapp"}'),
    ("POST", "/v23.0/{phone}/messages", True, b'{"messaging_product":"whatsapp","to":"x"}'),
    ("POST", "/v23.0/{phone}/messages", True, b'{"messaging_product":"whatsapp","to":"1"}'),
    ("GET", "/v23.0/%7Bphone%7D", True, b""),
]


async def test_graph_answers_match_the_apps_own(
    shared: tuple[Emulator, EmulatorServer], served_number: Number
) -> None:
    emulator, server = shared
    ids = {"phone": served_number.phone_number_id, "waba": served_number.waba_id}
    app = create_emulator_app(emulator)  # not started: the server's lifespan runs it
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator"
    ) as in_process:
        for method, path, with_token, body in READS:
            url = path.format(**ids)
            token = served_number.access_token if with_token else None
            answers, _ = await _exchange(server.url, _request(method, url, token, body), 1)
            ((status, headers, got),) = answers
            headers_in = {"Authorization": f"Bearer {token}"} if token else {}
            expected = await in_process.request(
                method, url, content=body or None, headers=headers_in
            )
            assert _comparable(status, got, headers.get("www-authenticate")) == _comparable(
                expected.status_code, expected.content, expected.headers.get("www-authenticate")
            ), (method, url)
            assert int(headers["content-length"]) == len(got)
            assert headers["content-type"] == expected.headers["content-type"]


async def test_pipelined_requests_are_answered_in_order(
    shared: tuple[Emulator, EmulatorServer], served_number: Number
) -> None:
    _, server = shared
    assert issubclass(server.server.config.http_protocol_class, GraphHttpProtocol)
    phone, token = served_number.phone_number_id, served_number.access_token
    send = json.dumps(
        {"messaging_product": "whatsapp", "to": "15550001234", "text": {"body": "hi"}}
    ).encode()
    raw = b"".join(
        [
            _request("POST", f"/v23.0/{phone}/messages", token, send),
            _request("GET", "/_emulator/clock", None),  # uvicorn's ASGI path, in between
            _request("GET", f"/v23.0/{phone}?fields=status", token),
            _request("GET", "/v23.0/1", None),
        ]
    )
    answers, closed = await _exchange(server.url, raw, 4, wait_close=True)
    assert [status for status, _, _ in answers] == [200, 200, 200, 400]
    assert json.loads(answers[0][2])["messages"][0]["id"].startswith("wamid.")
    assert "now" in json.loads(answers[1][2])
    assert json.loads(answers[2][2])["id"] == phone
    assert json.loads(answers[3][2])["error"]["code"] == 2500  # no token
    assert not closed  # keep-alive: the connection stays open for more


async def test_connection_close_and_expect_continue_are_honoured(
    shared: tuple[Emulator, EmulatorServer], served_number: Number
) -> None:
    _, server = shared
    phone, token = served_number.phone_number_id, served_number.access_token
    closing = _request("GET", f"/v23.0/{phone}", token, Connection="close")
    answers, closed = await _exchange(server.url, closing, 1, wait_close=True)
    assert answers[0][0] == 200
    assert answers[0][1].get("connection") == "close"
    assert closed

    body = b'{"messaging_product":"whatsapp","to":"15550001234","text":{"body":"hi"}}'
    head = _request("POST", f"/v23.0/{phone}/messages", token, body, Expect="100-continue")
    answers, _ = await _exchange(
        server.url, head[: -len(body)], 1, after_first_line=head[-len(body) :]
    )
    assert answers[0][0] == 200, answers[0][2]
    assert json.loads(answers[0][2])["messages"][0]["id"].startswith("wamid.")
