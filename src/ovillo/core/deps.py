"""FastAPI dependencies shared by every domain's routes (``Annotated`` aliases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.core.clock import Clock
from ovillo.core.runtime import Runtime
from ovillo.core.settings import Settings


# Every dependency is `async def`, even with nothing to await: FastAPI runs a plain `def`
# dependency in its thread pool, a thread hop per dependency per request.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def _settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


async def _clock(runtime: RuntimeDep) -> Clock:
    return runtime.clock


async def _session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    # The service commits; whatever it left uncommitted is rolled back when the session closes.
    async with runtime.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(_settings)]
ClockDep = Annotated[Clock, Depends(_clock)]
SessionDep = Annotated[AsyncSession, Depends(_session)]
