"""A fresh database per crash run, on SQLite and on PostgreSQL.

Without a PostgreSQL server the PostgreSQL run is skipped, and the run's summary says so
in red (the probe in tests/conftest.py, which covers every PostgreSQL variant).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_URL
from tests.databases import (
    create_postgres_database,
    drop_postgres_database,
    migrated_sqlite_template,
    postgres_reachable,
)


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
