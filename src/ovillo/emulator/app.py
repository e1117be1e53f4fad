"""The emulator's ASGI app: the control API, the media download URL and the Graph API."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse

from ovillo import __version__
from ovillo.emulator import control, customers, media, numbers, quality, templates
from ovillo.emulator.emulator import Emulator
from ovillo.emulator.graph import GraphFastPath, graph_router

# Modules that register Graph API handlers with @graph_route when imported.
HANDLER_MODULES: tuple[str, ...] = (
    "ovillo.emulator.numbers",
    "ovillo.emulator.media",
    "ovillo.emulator.messaging",
    "ovillo.emulator.templates",
    "ovillo.emulator.quality",
    "ovillo.emulator.uploads",
)


def create_emulator_app(emulator: Emulator | None = None) -> FastAPI:
    """The emulator as an ASGI app; it starts and stops ``emulator`` with its lifespan."""
    for module in HANDLER_MODULES:
        importlib.import_module(module)
    world = emulator or Emulator()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await world.start()
        try:
            yield
        finally:
            await world.stop()

    app = FastAPI(
        title="Ovillo Cloud API emulator",
        version=__version__,
        summary="Meta's WhatsApp Cloud API, emulated: Graph API paths plus a control API.",
        lifespan=lifespan,
    )
    app.state.emulator = world

    @app.exception_handler(RequestValidationError)
    async def control_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return JSONResponse({"detail": exc.errors()}, status_code=422)

    @app.get("/", include_in_schema=False)
    async def root() -> PlainTextResponse:
        return PlainTextResponse(
            "Ovillo Cloud API emulator. Graph API at /v23.0/..., control API at /_emulator, "
            "docs at /docs.\n"
        )

    app.include_router(control.router)
    app.include_router(numbers.router)
    app.include_router(media.router)
    app.include_router(customers.router)
    app.include_router(templates.router)
    app.include_router(quality.router)
    app.include_router(graph_router())
    # Graph calls skip FastAPI's routing (the router above still answers what it declines).
    app.add_middleware(GraphFastPath)
    return app
