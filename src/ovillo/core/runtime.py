"""What a running process shares: settings, clock, database engine and sessions.

Built once by the app or the worker and handed to whatever needs it, so tests can build one
with a controllable clock and their own database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ovillo.core.clock import Clock, SystemClock
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock | None = None) -> Runtime:
        engine = create_engine(settings.db)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            clock=clock or SystemClock(),
        )

    async def aclose(self) -> None:
        await self.engine.dispose()
