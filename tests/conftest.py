"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ovillo.core.settings import DatabaseSettings, Environment, Settings, get_settings

# The PostgreSQL server for the scaled-out tests (trust auth on this machine and in CI).
POSTGRES_URL = os.environ.get(
    "OVILLO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

# Tests never read the developer's environment or .env (conventions.md, "Settings").
for _name in list(os.environ):
    if _name.startswith("OVILLO_"):
        del os.environ[_name]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout; var/ lands in the temp dir
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return Settings(
        environment=Environment.TEST,
        data_dir=tmp_path / "var",
        db=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"),
    )


@pytest.fixture
async def runtime(sqlite_settings: Settings) -> AsyncIterator[object]:
    from ovillo.core.runtime import Runtime

    rt = Runtime.from_settings(sqlite_settings)
    try:
        yield rt
    finally:
        await rt.aclose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.api.conftest import postgres_problem

    problem = postgres_problem()
    if problem is not None:
        terminalreporter.write_sep(
            "!", f"PostgreSQL tests SKIPPED: server not reachable ({problem})", red=True
        )
