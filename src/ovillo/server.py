"""Running the platform: the web app, and in the embedded default the emulator beside it.

One composition for `ovillo serve` and for tests: ``PlatformServer`` binds its sockets up
front (port 0 picks a free port, so tests can run many at once), shares one clock between
the platform and its emulator (so moving the emulator's clock moves the platform's windows
too), and serves both in one event loop. The worker runs inside the app's lifespan when
``settings.worker.embedded`` is on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from ovillo.core.clock import Clock, ControllableClock
from ovillo.core.runtime import Runtime
from ovillo.core.settings import Settings
from ovillo.core.sockets import bind_socket
from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer


class PlatformServer:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        host: str | None = None,
        port: int | None = None,
        emulator_port: int | None = None,
        emulator_config: EmulatorConfig | None = None,
    ) -> None:
        from ovillo.app import create_app

        self.settings = settings
        self.host = host or settings.server.host
        self.socket = bind_socket(self.host, settings.server.port if port is None else port)
        self.port: int = self.socket.getsockname()[1]
        self.emulator: EmulatorServer | None = None
        shared_clock = clock
        if settings.emulator.enabled:
            emulator_clock = clock if isinstance(clock, ControllableClock) else ControllableClock()
            shared_clock = emulator_clock
            if emulator_config is None:
                # The embedded emulator remembers the demo number across `make run`s.
                emulator_config = EmulatorConfig(state_path=settings.data_dir / "emulator.sqlite3")
            self.emulator = EmulatorServer(
                Emulator(clock=emulator_clock, config=emulator_config),
                host=settings.emulator.host,
                port=settings.emulator.port if emulator_port is None else emulator_port,
            )
        self.clock = shared_clock
        self.runtime = Runtime.from_settings(
            settings,
            clock=shared_clock,
            emulator_url=self.emulator.url if self.emulator is not None else None,
            public_url=self.url,
        )
        config = uvicorn.Config(
            create_app(runtime=self.runtime, owns_runtime=True),
            log_config=None,
            access_log=False,
            proxy_headers=True,
            lifespan="on",
            backlog=2048,
            # Idle keep-alive connections stay open longer than a load balancer's or a
            # client's own idle timeout (AWS ALB: 60 s). With uvicorn's 5 s a client that
            # reuses a connection just as the server drops it gets "server disconnected
            # without a response" (seen in the tests under load); the side that closes
            # first must be the client.
            timeout_keep_alive=75,
            # Live-event streams (SSE) never finish on their own: a shutdown waits this long
            # for them, then cancels them (browsers reconnect to another replica).
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def serve(self) -> None:
        """Serve the app (and the emulator) in the running loop until ``stop()``."""
        emulator_task = None
        if self.emulator is not None:
            emulator_task = asyncio.create_task(self.emulator.serve(), name="emulator")
            # The app may call the emulator as soon as it starts (demo seeding): let it bind.
            while not self.emulator.started and not emulator_task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        try:
            await self.server.serve(sockets=[self.socket])
        finally:
            if self.emulator is not None and emulator_task is not None:
                self.emulator.stop()
                await emulator_task

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    def stop(self) -> None:
        self.server.should_exit = True


@contextmanager
def serve_in_thread(server: PlatformServer) -> Iterator[PlatformServer]:
    """Run ``server`` in a thread with its own event loop; yields once it listens."""
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the platform failed to start")
            threading.Event().wait(0.01)
        yield server
    finally:
        server.stop()
        thread.join(timeout=15)
