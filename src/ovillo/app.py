"""The ASGI application: where the domains' routers are put together.

``create_app()`` is the composition root for ``ovillo serve``; tests call it with their own
``Runtime`` (database, clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from ovillo import __version__, demo
from ovillo.accounts.api import router as accounts_router
from ovillo.accounts.teams_api import router as teams_router
from ovillo.accounts.views import router as accounts_pages
from ovillo.campaigns.api import router as campaigns_router
from ovillo.campaigns.views import router as campaigns_pages
from ovillo.channels.api import router as channels_router
from ovillo.channels.views import router as channels_pages
from ovillo.channels.webhooks import router as webhooks_router
from ovillo.contacts import importing
from ovillo.contacts.api import imports_router as contact_imports_router
from ovillo.contacts.api import router as contacts_router
from ovillo.contacts.views import router as contacts_pages
from ovillo.core.auth import install_auth_problem_handler
from ovillo.core.deps import RuntimeDep
from ovillo.core.errors import install_problem_handlers
from ovillo.core.runtime import Runtime
from ovillo.core.settings import Settings, get_settings
from ovillo.inbox.api import router as inbox_router
from ovillo.inbox.presence_api import router as presence_router
from ovillo.inbox.views import router as inbox_pages
from ovillo.templates.api import redirect_router as links_router
from ovillo.templates.api import router as templates_router
from ovillo.templates.views import router as templates_pages
from ovillo.web.pages import install_pages
from ovillo.worker.runtime import Worker


class Health(BaseModel):
    status: str
    version: str
    database: str


def create_app(
    *,
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    owns_runtime: bool = False,
) -> FastAPI:
    """The web app. A ``runtime`` passed in is left open for its owner unless ``owns_runtime``."""
    settings = runtime.settings if runtime is not None else (settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = runtime is None or owns_runtime
        app.state.runtime = runtime or Runtime.from_settings(settings)
        # `make run`: a demo workspace and number on the embedded emulator, before the worker
        # starts, so it finds the demo number as connected on this run (ovillo.demo).
        app.state.demo = (
            await demo.start_demo(app.state.runtime)
            if settings.demo and app.state.runtime.emulator_url is not None
            else None
        )
        # Embedded default: the background worker runs in this process, on the same runtime.
        worker = Worker(app.state.runtime) if settings.worker.embedded else None
        worker_task = asyncio.create_task(worker.run(), name="worker") if worker else None
        app.state.worker = worker
        try:
            yield
        finally:
            if worker is not None and worker_task is not None:
                await worker.stop()
                await worker_task
            # Imports running in this process end ``failed`` ("the server stopped").
            await importing.stop_background_imports()
            if owned:
                await app.state.runtime.aclose()

    app = FastAPI(
        title="Ovillo",
        version=__version__,
        summary="Self-hostable WhatsApp Business Platform",
        lifespan=lifespan,
    )
    if runtime is not None:
        # Also available before the lifespan runs (ASGI transports that skip it).
        app.state.runtime = runtime
    install_problem_handlers(app)
    install_auth_problem_handler(app)
    app.include_router(accounts_router, prefix="/api/v1")
    app.include_router(channels_router, prefix="/api/v1")
    app.include_router(webhooks_router)
    app.include_router(contact_imports_router, prefix="/api/v1")
    app.include_router(contacts_router, prefix="/api/v1")
    app.include_router(inbox_router, prefix="/api/v1")
    app.include_router(teams_router, prefix="/api/v1")
    app.include_router(presence_router, prefix="/api/v1")
    app.include_router(campaigns_router, prefix="/api/v1")
    install_pages(app, settings)
    app.include_router(accounts_pages)
    app.include_router(inbox_pages)
    app.include_router(contacts_pages)
    app.include_router(channels_pages)
    app.include_router(templates_pages)
    app.include_router(campaigns_pages)
    app.include_router(templates_router, prefix="/api/v1")
    app.include_router(links_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz(runtime: RuntimeDep) -> Health:
        """Liveness and database reachability."""
        async with runtime.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return Health(status="ok", version=__version__, database=runtime.engine.dialect.name)

    return app
