"""Live events cross `ovillo serve` replicas on PostgreSQL (LISTEN/NOTIFY), as processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.test_events import LIVE_WITHIN, follow
from tests.conftest import POSTGRES_URL
from tests.databases import create_postgres_database, drop_postgres_database, postgres_reachable
from tests.deployment import Deployment, connect_number, customer_writes
from tests.factories import auth, make_workspace

pytestmark = pytest.mark.postgres


@pytest.fixture
def replica_database_url(tmp_path: Path) -> Iterator[str]:
    problem = postgres_reachable(POSTGRES_URL)
    if problem is not None:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}")
    url = create_postgres_database(POSTGRES_URL, tmp_path)
    try:
        yield url
    finally:
        drop_postgres_database(POSTGRES_URL, url)


async def test_an_event_applied_by_a_worker_reaches_every_replica(
    replica_database_url: str, tmp_path: Path
) -> None:
    async with Deployment(directory=tmp_path, database_url=replica_database_url) as deployment:
        await deployment.start_worker()
        other = await deployment.start_replica()
        workspace_id, api_key = await make_workspace(replica_database_url)
        async with (
            httpx.AsyncClient(base_url=deployment.url, timeout=30) as first,
            httpx.AsyncClient(base_url=other.url, timeout=30) as second,
            httpx.AsyncClient(base_url=deployment.emulator_url, timeout=30) as emulator_http,
        ):
            # Meta's webhooks reach the first replica; the worker process applies them.
            number = await connect_number(first, emulator_http, api_key, throughput_mps=80)
            async with (
                follow(first, auth(api_key)) as on_first,
                follow(second, auth(api_key)) as on_second,
            ):
                await customer_writes(emulator_http, "15550001234", number, "¿Hay envíos?")
                for stream in (on_second, on_first):
                    event = await stream.next("message_created", within=LIVE_WITHIN, direction="in")
                    assert event["data"]["workspace_id"] == str(workspace_id)

                # A change made through one replica reaches the other's readers.
                conversation_id = event["data"]["data"]["conversation_id"]
                closed = await first.post(
                    f"/api/v1/conversations/{conversation_id}/close", headers=auth(api_key)
                )
                assert closed.status_code == 200, closed.text
                await on_second.next("conversation_updated", within=LIVE_WITHIN, change="closed")
