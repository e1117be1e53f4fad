"""A real webhook receiver for tests: an HTTP server in a thread that records what arrives."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ovillo.cloudapi.signature import verify
from ovillo.core.sockets import bind_socket


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def value(self) -> dict[str, Any]:
        value: dict[str, Any] = self.json["entry"][0]["changes"][0]["value"]
        return value

    @property
    def field(self) -> str:
        name: str = self.json["entry"][0]["changes"][0]["field"]
        return name


@dataclass
class WebhookReceiver:
    app_secret: str = "test-app-secret"
    verify_token: str = "verify-me"
    received: list[Received] = field(default_factory=list)
    # Answer with this status (e.g. 500 to make the emulator retry); 200 when None.
    fail_with: int | None = None
    attempts: int = 0
    bad_signatures: int = 0
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], *, within: float = 10.0
    ) -> list[Received]:
        """Wait (real time) until ``predicate`` holds for what has arrived."""
        deadline = time.monotonic() + within
        while True:
            items = self.snapshot()
            if predicate(items):
                return items
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhooks not as expected after {within}s: {len(items)} seen")
            time.sleep(0.01)

    def statuses(self) -> list[dict[str, Any]]:
        return [s for r in self.snapshot() for s in r.value.get("statuses", [])]

    def messages(self) -> list[dict[str, Any]]:
        return [m for r in self.snapshot() for m in r.value.get("messages", [])]

    async def _post(self, request: Request) -> Response:
        body = await request.body()
        with self._lock:
            self.attempts += 1
            if not verify(self.app_secret, body, request.headers.get("x-hub-signature-256")):
                self.bad_signatures += 1
                return PlainTextResponse("bad signature", status_code=401)
            if self.fail_with is not None:
                return PlainTextResponse("failing on purpose", status_code=self.fail_with)
            self.received.append(Received(headers=dict(request.headers), body=body))
        return PlainTextResponse("ok")

    async def _get(self, request: Request) -> Response:
        params = request.query_params
        if (
            params.get("hub.mode") == "subscribe"
            and params.get("hub.verify_token") == self.verify_token
        ):
            return PlainTextResponse(params.get("hub.challenge", ""))
        return PlainTextResponse("forbidden", status_code=403)


@contextmanager
def run_receiver(receiver: WebhookReceiver | None = None) -> Iterator[WebhookReceiver]:
    receiver = receiver or WebhookReceiver()
    app = Starlette(
        routes=[
            Route("/webhook", receiver._post, methods=["POST"]),
            Route("/webhook", receiver._get, methods=["GET"]),
        ]
    )
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/webhook"
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[sock]),), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)
