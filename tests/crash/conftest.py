"""A fresh database per crash run, on SQLite and on PostgreSQL.

Without a PostgreSQL server the PostgreSQL run is skipped, and the run's summary says so
in red (the probe in tests/conftest.py, which covers every PostgreSQL variant).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL
from tests.databases import (
    create_postgres_database,
    drop_postgres_database,
    migrated_sqlite_template,
    postgres_reachable,
)
from tests.deployment import Deployment


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def crash_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, migrated database that only this test uses: a SQLite file, or a PostgreSQL
    database made on the server at OVILLO_TEST_POSTGRES_URL and dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{migrated_sqlite_template(tmp_path)}"
        return
    problem = postgres_reachable(POSTGRES_URL)
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
    url = create_postgres_database(POSTGRES_URL, tmp_path)
    try:
        yield url
    finally:
        drop_postgres_database(POSTGRES_URL, url)


def worker_settings(database_url: str) -> dict[str, str]:
    """The worker's settings for a crash run: short enough that the test ends in time.

    Leases of 3 s: a dead worker's numbers are free 3 s later. The reconcile grace (claimed
    messages that never left go back to the queue that long after their claim, once the
    number's webhooks of that time are applied and none named them) must outlast Meta's
    delay: on SQLite the receiver may answer a webhook 500 after waiting 20 s for the lock,
    and the emulator retries 15 s later, so 45 s. PostgreSQL takes a webhook into the
    durable log without waiting on a writer's lock; 25 s outlasts one retry. Too short,
    and a send whose answer was lost would leave again: the tests catch that as a message
    sent twice.
    """
    grace = "45" if database_url.startswith("sqlite") else "25"
    return {
        "OVILLO_WORKER__LEASE_SECONDS": "3",
        "OVILLO_WORKER__RECONCILE_AFTER_SECONDS": grace,
    }


@asynccontextmanager
async def crash_deployment(
    directory: Path, database_url: str
) -> AsyncIterator[tuple[Deployment, httpx.AsyncClient, httpx.AsyncClient]]:
    """A deployment with ``worker_settings``, and clients of its server and its emulator."""
    settings = worker_settings(database_url)
    async with (
        Deployment(directory=directory, database_url=database_url, settings=settings)
        as deployment,
        httpx.AsyncClient(base_url=deployment.url, timeout=30) as http,
        httpx.AsyncClient(base_url=deployment.emulator_url, timeout=30) as emulator_http,
    ):  # fmt: skip
        yield deployment, http, emulator_http
