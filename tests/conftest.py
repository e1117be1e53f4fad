"""Fixtures shared by every tier of tests."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ovillo.core.settings import DatabaseSettings, Environment, Settings, get_settings

# The PostgreSQL server for the scaled-out tests (trust auth on this machine and in CI).
POSTGRES_URL = os.environ.get(
    "OVILLO_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)

# Hypothesis' per-example deadline and its too-slow health check are timing assertions: on a
# shared, loaded machine (CI, or helpers running suites side by side) they fail tests whose
# properties hold. Speed is measured in bench/, so time is left out of the properties here.
settings.register_profile("ovillo", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ovillo")

# Tests never read the developer's environment or .env (conventions.md, "Settings").
for _name in list(os.environ):
    # OVILLO_TEST_* configure the test run itself (and must reach pytest-xdist's workers).
    if _name.startswith("OVILLO_") and not _name.startswith("OVILLO_TEST_"):
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
    """Say loudly when the PostgreSQL half of the suite could not run.

    Probed here, in the process that prints the summary (with pytest-xdist the tests ran in
    other processes).
    """
    from tests.databases import postgres_reachable

    problem = postgres_reachable(POSTGRES_URL)
    if problem is not None:
        terminalreporter.write_sep(
            "!",
            f"PostgreSQL tests SKIPPED: {POSTGRES_URL} not reachable ({problem})",
            red=True,
        )
