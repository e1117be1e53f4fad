"""Real databases for tests: a SQLite file per test, a PostgreSQL database per session.

SQLite: the schema is migrated once into a template file, copied for each test.
PostgreSQL: one database per test session (created on the server named by
OVILLO_TEST_POSTGRES_URL, dropped at the end), migrated once, truncated after each test.
When the server cannot be reached the PostgreSQL variants are skipped, and the run says so
in its summary.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from ovillo.core.settings import DatabaseSettings, Environment, Settings
from ovillo.migrations import target_metadata, upgrade

T = TypeVar("T")


def in_own_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking set-up (which may call ``asyncio.run``) outside any running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    return in_own_thread(asyncio.run, coroutine)


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.sqlite3"
    in_own_thread(upgrade, settings_for(f"sqlite+aiosqlite:///{path}", directory))
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    target = directory / "ovillo.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite+aiosqlite:///{target}"


def settings_for(url: str, data_dir: Path) -> Settings:
    return Settings(
        environment=Environment.TEST,
        data_dir=data_dir,
        db=DatabaseSettings(url=url),
        demo=False,
    )


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def postgres_reachable(url: str) -> str | None:
    """None if the server answers, else why not."""

    async def probe() -> None:
        engine = create_async_engine(url, connect_args={"timeout": 3})
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        run_coroutine(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def create_postgres_database(admin_url: str, data_dir: Path) -> str:
    name = f"ovillo_test_{secrets.token_hex(4)}"
    run_coroutine(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    in_own_thread(upgrade, settings_for(url, data_dir))
    return url


def drop_postgres_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    run_coroutine(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in target_metadata().sorted_tables)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
