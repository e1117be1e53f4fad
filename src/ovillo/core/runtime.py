"""What a running process shares: settings, clock, database engine and sessions.

Built once by the app or the worker and handed to whatever needs it, so tests can build one
with a controllable clock and their own database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ovillo.core.clock import Clock, SystemClock
from ovillo.core.crypto import SecretBox
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import Settings

if TYPE_CHECKING:
    import aiohttp


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    secrets: SecretBox
    clock: Clock = field(default_factory=SystemClock)
    # The emulator this process runs beside (embedded default), if any.
    emulator_url: str | None = None
    # Where Meta and browsers reach this server.
    public_url: str | None = None
    # One pool for every Graph API client of the process, opened on first use in the
    # runtime's loop (channels.service.graph_http_session) and closed in ``aclose``.
    graph_http_session: aiohttp.ClientSession | None = field(default=None, repr=False)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        emulator_url: str | None = None,
        public_url: str | None = None,
    ) -> Runtime:
        engine = create_engine(settings.db)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            secrets=SecretBox(settings.encryption_keys()),
            clock=clock or SystemClock(),
            emulator_url=emulator_url,
            public_url=settings.server.public_url or public_url,
        )

    @property
    def graph_api_url(self) -> str:
        """Where new numbers' Graph API calls go: the embedded emulator, or Meta."""
        return self.emulator_url or self.settings.graph_api_url

    async def aclose(self) -> None:
        if self.graph_http_session is not None:
            await self.graph_http_session.close()
            self.graph_http_session = None
        await self.engine.dispose()
