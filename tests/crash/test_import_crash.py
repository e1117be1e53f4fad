"""kill -9 `ovillo serve` in the middle of a 20,000-row contact import: after a restart the
import finishes with every valid row imported exactly once and every bad row reported once.

`ovillo serve` runs with its worker embedded (the default), as a single-process deployment
does. The import is uploaded through the REST API and runs in that process; it is killed
with SIGKILL once some batches are committed and before the last one, and a new `ovillo
serve` is started on the same database and data directory. Its worker finds the import
`running` under a lease nobody renews (3 s here, so the test ends in time) and resumes it
from the row after the last committed batch. Checked in the database: one contact per valid
number, one reject per bad line, and counters that add up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from ovillo.contacts.importing import BATCH_ROWS, ImportStatus
from ovillo.contacts.models import Contact, ContactImport, ContactImportReject
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import DatabaseSettings
from tests.deployment import Deployment
from tests.factories import auth, make_workspace

pytestmark = pytest.mark.slow

ROWS = 20_000
BAD_EVERY = 20  # every twentieth row has no phone number
SETTINGS = {"OVILLO_WORKER__EMBEDDED": "true", "OVILLO_WORKER__LEASE_SECONDS": "3"}
# Generous: the machine is shared; these only bound how long a hang takes to fail.
WITHIN = 120


def spreadsheet() -> tuple[bytes, set[str], set[int]]:
    """The file, the WhatsApp numbers of its valid rows, and the lines of its bad ones."""
    lines = ["telefono;nombre"]
    wa_ids: set[str] = set()
    bad: set[int] = set()
    for index in range(ROWS):
        if index % BAD_EVERY == BAD_EVERY - 1:
            lines.append(f";sin número {index}")
            bad.add(index + 2)  # line 1 is the header
        else:
            lines.append(f"+52 55 1{index:07d};Cliente {index}")
            wa_ids.add(f"52155{1_000_0000 + index}")
    return ("\n".join(lines) + "\n").encode(), wa_ids, bad


async def test_a_killed_server_s_import_resumes_each_row_once(
    crash_database_url: str, tmp_path: Path
) -> None:
    data, wa_ids, bad_lines = spreadsheet()
    engine = create_engine(DatabaseSettings(url=crash_database_url))
    sessionmaker = create_sessionmaker(engine)

    async def current(import_id: uuid.UUID) -> ContactImport:
        async with sessionmaker() as session:
            found = await session.get(ContactImport, import_id)
            assert found is not None
            return found

    # A plain engine reads without BEGIN IMMEDIATE: a paused server may hold SQLite's writer.
    peeking = create_async_engine(crash_database_url)

    async def peek(import_id: uuid.UUID) -> ContactImport:
        async with AsyncSession(peeking) as session:
            found = await session.get(ContactImport, import_id)
            assert found is not None
            return found

    async def wait(
        import_id: uuid.UUID, done: Callable[[ContactImport], bool], what: str
    ) -> ContactImport:
        deadline = time.monotonic() + WITHIN
        while True:
            found = await current(import_id)
            if done(found):
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out: {what}\n{deployment.logs()}")
            await asyncio.sleep(0.02)

    try:
        async with Deployment(
            directory=tmp_path, database_url=crash_database_url, settings=SETTINGS
        ) as deployment:
            workspace_id, api_key = await make_workspace(engine)
            async with httpx.AsyncClient(base_url=deployment.url, timeout=60) as http:
                response = await http.post(
                    "/api/v1/contacts/imports",
                    headers=auth(api_key),
                    files={"file": ("clientes.csv", data, "text/csv")},
                )
            assert response.status_code == 202, response.text
            import_id = uuid.UUID(response.json()["id"])

            # Stop the server between short slices of running and look: killed while
            # stopped, it dies with exactly the state the test saw, however fast it imports.
            serve = deployment.serve
            assert serve is not None
            deadline = time.monotonic() + WITHIN
            while True:
                async with serve.paused():
                    seen = await peek(import_id)
                    if seen.rows_read >= BATCH_ROWS or seen.status != ImportStatus.RUNNING:
                        await serve.kill()
                        break
                assert time.monotonic() < deadline, f"no first batch\n{deployment.logs()}"
                await asyncio.sleep(0.005)
            killed = await current(import_id)
            assert killed.status == ImportStatus.RUNNING
            assert BATCH_ROWS <= killed.rows_read < ROWS, "killed too late to prove a resume"

            await deployment.start_replica()
            done = await wait(
                import_id, lambda i: i.status != ImportStatus.RUNNING, "the import resumed"
            )
            assert done.status == ImportStatus.FINISHED, done.error
            assert (done.rows_read, done.created, done.updated, done.rejected) == (
                ROWS,
                len(wa_ids),
                0,
                len(bad_lines),
            )
            async with sessionmaker() as session:
                imported = list(
                    await session.scalars(
                        select(Contact.wa_id).where(Contact.workspace_id == workspace_id)
                    )
                )
                rejects = list(
                    await session.scalars(
                        select(ContactImportReject.line).where(
                            ContactImportReject.import_id == import_id
                        )
                    )
                )
                leftover = await session.scalar(
                    select(func.count()).where(ContactImport.status == ImportStatus.RUNNING)
                )
            assert len(imported) == len(wa_ids)
            assert set(imported) == wa_ids
            assert sorted(rejects) == sorted(bad_lines)
            assert leftover == 0
            # The upload is deleted once the import has ended (just after its last write).
            deadline = time.monotonic() + WITHIN
            while any((tmp_path / "var" / "imports").rglob("*.csv")):
                assert time.monotonic() < deadline, "the finished import's file was kept"
                await asyncio.sleep(0.05)
    finally:
        await peeking.dispose()
        await engine.dispose()
