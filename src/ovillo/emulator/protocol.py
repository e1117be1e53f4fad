"""uvicorn's HTTP protocol, with Graph API calls answered without the ASGI stack.

At 1,000 sends/s a Graph call spent about as much CPU in uvicorn's ASGI cycle, the
middleware Starlette wraps every app in (server errors, body limits, proxy headers) and
two socket writes per answer (status line and headers, then the body) as in the handler
itself. `GraphHttpProtocol` keeps everything uvicorn does for a connection (parsing,
keep-alive, pipelining, flow control, 100-continue, shutdown) and changes one step: a
request whose path and method `graph_router` serves is handed straight to the Graph
dispatcher, and a plain answer goes out in one write. Any other request, and any answer
that streams or misbehaves (the lost-answer fault), takes uvicorn's own ASGI path, so a
client sees the same bytes either way but for uvicorn's header order.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from ovillo.emulator.graph import GRAPH_METHODS, dispatch, graph_path

log = structlog.get_logger(__name__)

_PLAIN_CALL = Response.__call__


class GraphHttpProtocol(HttpToolsProtocol):
    """A uvicorn HTTP protocol for the emulator's app (see the module docstring).

    Subclassed per server by `graph_protocol`, which sets ``graph_app``: the emulator's
    FastAPI app, that Graph handlers reach as ``request.app``.
    """

    graph_app: ClassVar[Any]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        scope: Any = cycle.scope
        # `app is self.app`: uvicorn swaps in its own 503 app over its concurrency limit.
        if app is self.app and scope["method"] in GRAPH_METHODS and not scope["root_path"]:
            target = graph_path(scope["path"])
            if target is not None:
                task = self.loop.create_task(self._serve_graph(cycle, target))
                task.add_done_callback(self.tasks.discard)
                self.tasks.add(task)
                return
        super()._start_asgi_task(cycle, app)

    async def _serve_graph(
        self, cycle: RequestResponseCycle, target: tuple[str, str, str | None]
    ) -> None:
        scope: Any = cycle.scope
        scope["app"] = self.graph_app
        try:
            response = await dispatch(Request(scope, cast(Receive, cycle.receive)), *target)
        except Exception as exc:  # dispatch answers handler errors itself; this is a bug
            log.exception("graph_dispatch_crashed", path=scope["path"], error=str(exc))
            if not cycle.response_started:
                await cycle.send_500_response()
            return
        if type(response).__call__ is _PLAIN_CALL and not cycle.disconnected:
            head = _head(cycle, response)
            if head is not None:
                await _write(cycle, head + response.body)
                return
        # A streaming or deliberately broken answer: uvicorn checks and writes it.
        await cycle.run_asgi(cast(Any, response))


def _head(cycle: RequestResponseCycle, response: Response) -> bytes | None:
    """The status line and headers of ``response`` as uvicorn writes them, or None when
    the answer needs uvicorn's own handling (no length, or one saying to close)."""
    parts = [STATUS_LINE[response.status_code]]
    has_length = False
    for name, value in (*cycle.default_headers, *response.raw_headers):
        if name == b"content-length":
            has_length = True
        elif name == b"connection" or name == b"transfer-encoding":
            return None
        parts.extend((name, b": ", value, b"\r\n"))
    if not has_length:
        return None
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


async def _write(cycle: RequestResponseCycle, answer: bytes) -> None:
    """Send a whole answer and finish the cycle as uvicorn's ``send`` does."""
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    if cycle.disconnected:
        return
    cycle.response_started = True
    cycle.waiting_for_100_continue = False
    cycle.transport.write(answer)
    cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
    cycle.on_response = _nothing


def _nothing() -> None:
    return None


def graph_protocol(app: Any) -> type[asyncio.Protocol]:
    """A `GraphHttpProtocol` class serving ``app`` (the emulator's FastAPI app)."""
    return type("EmulatorHttpProtocol", (GraphHttpProtocol,), {"graph_app": app})
