"""The HTTP client that POSTs webhooks to receivers: keep-alive HTTP/1.1, nothing more.

A number sending 1,000 messages/s owes its receiver 3,000 status webhooks/s, one POST each
(Meta sends one status per POST, and receivers such as pywa read only the first). aiohttp's
client spent 300-450 µs of CPU per POST here, more than everything else a message costs;
this one writes the request in one piece on a pooled connection and lets ``httptools`` (the
C parser uvicorn uses) read the answer, for 60-70 µs.

It does only what webhook delivery needs: POST a body with given headers to an ``http`` or
``https`` URL, answer the status code, never follow redirects (Meta counts anything but a
2xx as a failed delivery and retries it), and fail with ``DeliveryError`` naming what went
wrong. An answer body is read and dropped. Connections are reused while the receiver keeps
them alive; a request that finds a reused connection closed before any answer is sent
again once on a new connection, as browsers do, rather than counted as a failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import quote, urlsplit

import httptools

# A connection idle longer than this is closed rather than reused: receivers drop idle
# keep-alive connections after a few seconds (uvicorn 5 s, gunicorn 2 s), and a POST sent
# into a connection the receiver is closing is lost.
IDLE_SECONDS: Final = 2.0
# Idle connections kept per receiver; more are closed when returned.
IDLE_PER_ORIGIN: Final = 64
_PATH_SAFE: Final = "!#$%&'()*+,/:;=?@[]~"


class DeliveryError(Exception):
    """A POST got no HTTP answer: the message says why (connect, timeout, protocol)."""


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(frozen=True, slots=True)
class _Target:
    origin: _Origin
    # Request line and Host header, ready to be followed by the other headers.
    head: bytes


class _StaleConnection(DeliveryError):
    """A reused connection closed before any byte of the answer arrived."""


class _Connection(asyncio.Protocol):
    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.requests = 0
        self._parser = httptools.HttpResponseParser(self)
        self._answer: asyncio.Future[int] | None = None
        self._received = False
        self._headers_done = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None:
            self.close()  # bytes nobody asked for: the connection is not usable
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(DeliveryError(f"ClientResponseError: invalid HTTP answer ({exc})"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost settles the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if self._headers_done:
            # The body ran until the connection closed (no length given): the status stands.
            answer.set_result(self._parser.get_status_code())
        elif not self._received and self.requests > 1:
            answer.set_exception(_StaleConnection("ServerDisconnectedError: Server disconnected"))
        else:
            reason = f": {exc}" if exc is not None else ""
            answer.set_exception(
                DeliveryError(f"ServerDisconnectedError: Server disconnected{reason}")
            )

    # httptools callbacks

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_message_complete(self) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result(self._parser.get_status_code())
        if not self._parser.should_keep_alive():
            self.close()

    # use

    async def exchange(self, request: bytes) -> int:
        assert self.transport is not None
        self.requests += 1
        self._received = False
        self._headers_done = False
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._answer = answer
        try:
            self.transport.write(request)
            return await answer
        finally:
            self._answer = None

    def _fail(self, error: DeliveryError) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class WebhookClient:
    """POSTs to webhook receivers over pooled keep-alive connections."""

    def __init__(self, *, timeout: float, user_agent: str) -> None:
        self._timeout = timeout
        self._fixed_headers = f"User-Agent: {user_agent}\r\nAccept: */*\r\n".encode("latin-1")
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, body: bytes, headers: Sequence[tuple[str, str]]) -> int:
        """POST ``body`` to ``url``; the answer's status code, or ``DeliveryError``."""
        target = self._target(url)
        lines = [target.head, self._fixed_headers]
        lines.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
        lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
        lines.append(body)
        request = b"".join(lines)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(target.origin, request)
        except TimeoutError:
            raise DeliveryError(
                f"TimeoutError: no answer from {target.origin.host} within {self._timeout:g} s"
            ) from None
        except OSError as exc:
            raise DeliveryError(f"ClientOSError: {exc}") from None

    async def close(self) -> None:
        """Close every connection; in-flight POSTs fail."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()
        self._busy.clear()

    async def _send(self, origin: _Origin, request: bytes) -> int:
        while True:
            connection = self._reusable(origin) or await self._connect(origin)
            self._busy.add(connection)
            try:
                status = await connection.exchange(request)
            except _StaleConnection:
                continue  # the receiver closed it as we wrote: try once more, anew
            except BaseException:
                connection.close()  # a half-read answer (or a cancelled one) spoils it
                raise
            finally:
                self._busy.discard(connection)
            self._release(connection)
            return status

    def _reusable(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < IDLE_SECONDS:
                return connection
            connection.close()
        return None

    def _release(self, connection: _Connection) -> None:
        if connection.closed:
            return
        idle = self._idle.setdefault(connection.origin, [])
        if len(idle) >= IDLE_PER_ORIGIN:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        idle.append(connection)

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if origin.tls else None
        try:
            _, connection = await loop.create_connection(
                lambda: _Connection(origin),
                origin.host,
                origin.port,
                ssl=tls,
                server_hostname=origin.host if tls is not None else None,
            )
        except OSError as exc:
            raise DeliveryError(
                f"ClientConnectorError: Cannot connect to host {origin.host}:{origin.port} "
                f"ssl:{origin.tls} [{exc.strerror or exc}]"
            ) from None
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _parse_target(url)
            if len(self._targets) > 10_000:
                self._targets.clear()
            self._targets[url] = target
        return target


def _parse_target(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DeliveryError(f"InvalidURL: {url!r} is not an http(s) URL")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise DeliveryError(f"InvalidURL: {url!r} has an invalid port") from None
    host = parts.hostname
    if not host:
        raise DeliveryError(f"InvalidURL: {url!r} has no host")
    default_port = port == (443 if scheme == "https" else 80)
    host_header = f"[{host}]" if ":" in host else host
    if not default_port:
        host_header = f"{host_header}:{port}"
    # As aiohttp (yarl) sends it: reserved characters and escapes kept, the rest escaped.
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path = f"{path}?{quote(parts.query, safe=_PATH_SAFE)}"
    head = f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\n"
    with contextlib.suppress(UnicodeEncodeError):
        return _Target(_Origin(scheme, host, port), head.encode("ascii"))
    raise DeliveryError(f"InvalidURL: {url!r} must be ASCII (IDNA- and percent-encoded)")
