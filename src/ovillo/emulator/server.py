"""Running the emulator: standalone, beside the platform, or in a thread for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ovillo.core.garbage import settle_after_startup
from ovillo.core.sockets import bind_socket
from ovillo.emulator.app import create_emulator_app
from ovillo.emulator.emulator import Emulator
from ovillo.emulator.protocol import graph_protocol

# Allocations between young collections in a process that runs only the emulator (CPython's
# default is 700). Nearly everything a send allocates lives on in the state (the message,
# its payload, statuses, the customer), so a young collection finds almost no garbage and
# each one is pure cost; at 1,000 sends/s they and the full collections they lead to took a
# tenth of the emulator's CPU. Reference counting still frees everything acyclic at once.
GC_YOUNG_THRESHOLD = 20_000
GC_OLDER_THRESHOLD = 20


class EmulatorServer:
    """The emulator's HTTP server on a socket bound up front (port 0 picks a free port)."""

    def __init__(
        self, emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulator = emulator or Emulator()
        self.socket = bind_socket(host, port)
        self.host = host
        self.port: int = self.socket.getsockname()[1]
        self.emulator.base_url = self.url
        app = create_emulator_app(self.emulator)
        config = uvicorn.Config(
            app,
            # Graph calls skip the ASGI stack (emulator.protocol); the rest is uvicorn's.
            http=graph_protocol(app),
            # Nothing proxies the emulator: its clients connect to it directly.
            proxy_headers=False,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_keep_alive=30,
            backlog=2048,
        )
        self.server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self) -> None:
        """Serve in the running event loop until ``stop()``."""
        await self.server.serve(sockets=[self.socket])

    def run(self) -> None:
        """Serve in a new event loop until ``stop()``: uvloop's where it exists, as uvicorn's
        own runner chooses. Its loop and transports cost less per request than asyncio's,
        and the emulator must take 1,000 sends/s, with their webhooks, on one core."""
        # Process-wide, so only here, never in a server started inside another program
        # (tests, `serve_in_thread`).
        settle_after_startup(young=GC_YOUNG_THRESHOLD, older=GC_OLDER_THRESHOLD)
        try:
            import uvloop
        except ImportError:  # uvicorn[standard] has no uvloop on Windows
            asyncio.run(self.serve())
        else:
            uvloop.run(self.serve())

    def stop(self) -> None:
        self.server.should_exit = True

    @property
    def started(self) -> bool:
        return bool(self.server.started)


@contextmanager
def serve_in_thread(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[EmulatorServer]:
    """Run the emulator in a thread with its own event loop; yields once it is listening."""
    server = EmulatorServer(emulator, host=host, port=port)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            threading.Event().wait(0.01)
        yield server
    finally:
        server.stop()
        thread.join(timeout=10)
