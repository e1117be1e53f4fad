"""The webhook HTTP client against real sockets: answers, keep-alive, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from ovillo.core.sockets import bind_socket
from ovillo.emulator.webhook_client import DeliveryError, WebhookClient

HEADERS = (("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=ab"))


@dataclass
class Request:
    head: bytes
    body: bytes

    def header(self, name: str) -> str | None:
        for line in self.head.decode("latin-1").split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None


# Given the request and how many came before it on this connection, the raw answer and
# whether to close the connection after it.
Answer = Callable[[Request, int], tuple[bytes, bool]]


def ok(_: Request, __: int) -> tuple[bytes, bool]:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False


@dataclass
class Server:
    """A raw HTTP server whose every byte the test decides."""

    answer: Answer
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/whatsapp?app=1"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                request = Request(head, b"")
                length = int(request.header("content-length") or 0)
                request.body = await reader.readexactly(length)
                self.requests.append(request)
                raw, close = self.answer(request, served)
                served += 1
                if raw:
                    writer.write(raw)
                    await writer.drain()
                if close:
                    return
        finally:
            writer.close()


@asynccontextmanager
async def running(answer: Answer) -> AsyncIterator[Server]:
    server = Server(answer)
    sock = bind_socket("127.0.0.1", 0)
    listener = await asyncio.start_server(server.serve, sock=sock)
    server.port = sock.getsockname()[1]
    try:
        yield server
    finally:
        listener.close()


async def test_posts_the_body_and_headers_and_reuses_the_connection() -> None:
    client = WebhookClient(timeout=5, user_agent="facebookexternalua")
    async with running(ok) as server:
        statuses = [await client.post(server.url, b'{"n":%d}' % n, HEADERS) for n in range(3)]
    await client.close()
    assert statuses == [200, 200, 200]
    assert server.connections == 1
    first = server.requests[0]
    assert first.head.startswith(b"POST /hooks/whatsapp?app=1 HTTP/1.1\r\n")
    assert first.header("host") == f"127.0.0.1:{server.port}"
    assert first.header("user-agent") == "facebookexternalua"
    assert first.header("x-hub-signature-256") == "sha256=ab"
    assert first.header("content-type") == "application/json"
    assert [r.body for r in server.requests] == [b'{"n":0}', b'{"n":1}', b'{"n":2}']


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom",
        # Meta does not follow redirects: the receiver answered something other than 2xx.
        b"HTTP/1.1 302 Found\r\nLocation: http://example.com/\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    ],
)
async def test_answers_the_status_whatever_the_body(raw: bytes) -> None:
    client = WebhookClient(timeout=5, user_agent="ua")
    async with running(lambda _, __: (raw, False)) as server:
        first = await client.post(server.url, b"{}", HEADERS)
        second = await client.post(server.url, b"{}", HEADERS)
    await client.close()
    assert first == second == int(raw.split()[1])
    assert server.connections == 1


async def test_a_body_that_runs_until_the_connection_closes() -> None:
    client = WebhookClient(timeout=5, user_agent="ua")
    answer = b"HTTP/1.1 202 Accepted\r\nConnection: close\r\n\r\nno length"
    async with running(lambda _, __: (answer, True)) as server:
        statuses = [await client.post(server.url, b"{}", HEADERS) for _ in range(2)]
    await client.close()
    assert statuses == [202, 202]
    assert server.connections == 2


async def test_a_receiver_that_drops_idle_connections_loses_no_webhook() -> None:
    # The receiver answers the first POST on a connection and drops the connection when the
    # next one arrives on it, as a server does whose keep-alive ran out as the POST was
    # written: the client must send it again on a new connection, not count a failure.
    def first_only(request: Request, served: int) -> tuple[bytes, bool]:
        return (ok(request, served)[0], False) if served == 0 else (b"", True)

    client = WebhookClient(timeout=5, user_agent="ua")
    async with running(first_only) as server:
        statuses = [await client.post(server.url, b'{"n":%d}' % n, HEADERS) for n in range(3)]
    await client.close()
    assert statuses == [200, 200, 200]
    assert [r.body for r in server.requests] == [
        b'{"n":0}', b'{"n":1}', b'{"n":1}', b'{"n":2}', b'{"n":2}'
    ]  # fmt: skip
    assert server.connections == 3


async def test_a_new_connection_closed_without_an_answer_is_a_failed_delivery() -> None:
    client = WebhookClient(timeout=5, user_agent="ua")
    async with running(lambda _, __: (b"", True)) as server:
        with pytest.raises(DeliveryError, match="ServerDisconnected"):
            await client.post(server.url, b"{}", HEADERS)
    await client.close()
    assert len(server.requests) == 1  # sent once: no retry on a fresh connection


async def test_no_answer_in_time_is_a_timeout() -> None:
    client = WebhookClient(timeout=0.2, user_agent="ua")
    async with running(lambda _, __: (b"", False)) as server:
        with pytest.raises(DeliveryError, match="TimeoutError"):
            await client.post(server.url, b"{}", HEADERS)
        # The connection that timed out is not reused for the next POST.
        server.answer = ok
        assert await client.post(server.url, b"{}", HEADERS) == 200
        assert server.connections == 2
    await client.close()


async def test_an_unreachable_receiver_is_a_connect_error() -> None:
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    client = WebhookClient(timeout=5, user_agent="ua")
    with pytest.raises(DeliveryError, match=f"Cannot connect to host 127.0.0.1:{port}"):
        await client.post(f"http://127.0.0.1:{port}/", b"{}", HEADERS)
    await client.close()


async def test_a_garbled_answer_is_a_failed_delivery() -> None:
    client = WebhookClient(timeout=5, user_agent="ua")
    async with running(lambda _, __: (b"NOT HTTP AT ALL\r\n\r\n", False)) as server:
        with pytest.raises(DeliveryError, match="invalid HTTP answer"):
            await client.post(server.url, b"{}", HEADERS)
    await client.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://127.0.0.1/hook", "not an http"),
        ("http:///hook", "no host"),
        ("http://127.0.0.1:99999/hook", "invalid port"),
    ],
)
async def test_urls_it_cannot_post_to(url: str, problem: str) -> None:
    client = WebhookClient(timeout=5, user_agent="ua")
    with pytest.raises(DeliveryError, match=problem):
        await client.post(url, b"{}", HEADERS)
    await client.close()


async def test_the_path_is_sent_escaped_as_aiohttp_would() -> None:
    client = WebhookClient(timeout=5, user_agent="ua")
    async with running(ok) as server:
        base = f"http://127.0.0.1:{server.port}"
        await client.post(f"{base}/a b/%41?x=1 2&y=é", b"{}", HEADERS)
        await client.post(f"{base}", b"{}", HEADERS)
    await client.close()
    lines = [r.head.split(b"\r\n")[0] for r in server.requests]
    assert lines == [b"POST /a%20b/%41?x=1%202&y=%C3%A9 HTTP/1.1", b"POST / HTTP/1.1"]
