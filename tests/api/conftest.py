"""The platform, served for real: app + worker + emulator on free ports, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ovillo.core.clock import ControllableClock
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.runtime import Runtime
from ovillo.core.settings import DatabaseSettings, EmulatorSettings, ServerSettings, Settings
from ovillo.emulator.emulator import EmulatorConfig
from ovillo.server import PlatformServer, serve_in_thread
from tests.api.conversing import Desk, open_desk
from tests.api.ingesting import Ingestion, open_ingestion
from tests.conftest import POSTGRES_URL
from tests.databases import (
    create_postgres_database,
    drop_postgres_database,
    migrated_sqlite_template,
    postgres_reachable,
    settings_for,
    sqlite_copy,
    truncate_all,
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def postgres_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    problem = postgres_reachable(POSTGRES_URL)
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
    url = create_postgres_database(POSTGRES_URL, tmp_path_factory.mktemp("pg"))
    yield url
    drop_postgres_database(POSTGRES_URL, url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[str]:
    """Each platform test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_copy(sqlite_template, tmp_path)
        return
    url: str = request.getfixturevalue("postgres_database")
    try:
        yield url
    finally:
        await truncate_all(url)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database, for tests that call services directly."""
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def platform_settings(database_url: str, tmp_path: Path) -> Settings:
    settings = settings_for(database_url, tmp_path / "var")
    return settings.model_copy(
        update={
            "server": ServerSettings(host="127.0.0.1", port=0),
            "emulator": EmulatorSettings(enabled=True, host="127.0.0.1", port=0),
        }
    )


@pytest.fixture
def emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    """Templates are reviewed 5 s (emulated) after submission; a module marked
    ``reviewed_by_tests`` decides every review itself through the control API instead, so
    a slow run never sees a template approved behind its back."""
    if request.node.get_closest_marker("reviewed_by_tests") is not None:
        return EmulatorConfig(seed=7, auto_approve_templates=False)
    return EmulatorConfig(seed=7, template_review_delay_seconds=5)


@pytest.fixture
def platform(
    platform_settings: Settings, emulator_config: EmulatorConfig
) -> Iterator[PlatformServer]:
    """The product as `ovillo serve` runs it, with one clock shared with its emulator."""
    server = PlatformServer(
        platform_settings, clock=ControllableClock(), emulator_config=emulator_config
    )
    with serve_in_thread(server) as running:
        yield running


@pytest.fixture
async def http(platform: PlatformServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as client:
        yield client


@pytest.fixture
async def emulator_http(platform: PlatformServer) -> AsyncIterator[httpx.AsyncClient]:
    assert platform.emulator is not None
    async with httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as client:
        yield client


@pytest.fixture
async def desk(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> Desk:
    """A workspace with an API key and a number connected to the emulator."""
    return await open_desk(platform, http, emulator_http)


@pytest.fixture
def number(desk: Desk) -> dict[str, Any]:
    """The desk's number, for the tests that write to the platform as Meta does."""
    return desk.number


@pytest.fixture
async def ingestion(platform: PlatformServer) -> AsyncIterator[Ingestion]:
    """The platform's database and ingestion, seen and driven from the test (``ingesting``)."""
    async with open_ingestion(platform) as ingestion:
        yield ingestion


@pytest.fixture
async def platform_runtime(platform: PlatformServer) -> AsyncIterator[Runtime]:
    """The worker's runtime on the platform's database and clock, for tests that drive it
    (``runtime``, from the root conftest, is a bare SQLite one)."""
    runtime = Runtime.from_settings(platform.settings, clock=platform.clock)
    try:
        yield runtime
    finally:
        await runtime.aclose()
