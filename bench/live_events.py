"""How long a customer's message takes to reach the agents' live streams, on every replica.

The inbox promises that an event reaches every open inbox of its workspace within a second,
across `ovillo serve` replicas (PostgreSQL LISTEN/NOTIFY). The tests only assert that events
arrive, to the right workspace; the latency is measured here, where a busy machine shows as
a figure, not as a flaky test.

Runs a deployment as tests/deployment.py does: `ovillo emulator`, `ovillo serve`, a second
`ovillo serve` replica and an `ovillo worker`, each its own process, on a fresh PostgreSQL
database (``--db sqlite``: a SQLite file and one `serve` with its worker embedded, as
SQLite runs: its live events stay within the process). Both replicas hold an open
``GET /api/v1/events`` stream. One customer at a time writes through the
emulator; the clock runs from the emulator's 201 (the webhook is on its way) until the
``message_created`` event is read on each stream.

    .venv/bin/python bench/live_events.py                   # 200 messages, PostgreSQL
    .venv/bin/python bench/live_events.py --messages 50 --db sqlite

Prints one JSON object: latency p50/p95/p99/max in ms per stream and over all, the share
under one second, and the machine's load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# bench/ is not a package: reach tests/ from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from harness import fresh_database, load_average, percentiles
from tests.api.test_events import EventStream, follow
from tests.deployment import Deployment, connect_number, customer_wa_id, customer_writes
from tests.factories import auth, make_workspace

WAIT_SECONDS = 30.0


async def arrival(stream: EventStream, body: str) -> float:
    """When the ``message_created`` of the message ``body`` was read from ``stream``."""
    await stream.next(
        "message_created", within=WAIT_SECONDS, direction="in", last_message_preview=body
    )
    return time.monotonic()


async def run(messages: int, db: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ovillo-bench-live-") as tmp:
        directory = Path(tmp)
        async with (
            fresh_database(db, directory) as url,
            Deployment(
                directory=directory,
                database_url=url,
                settings={"OVILLO_WORKER__EMBEDDED": "true"} if db == "sqlite" else None,
            ) as deployment,
            contextlib.AsyncExitStack() as stack,
        ):
            if db == "postgres":
                await deployment.start_worker()
                await deployment.start_replica()
            _, api_key = await make_workspace(url)
            urls = [deployment.url] + [replica.url for replica in deployment.replicas]
            clients = [
                await stack.enter_async_context(httpx.AsyncClient(base_url=u, timeout=30))
                for u in urls
            ]
            emulator_http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=deployment.emulator_url, timeout=30)
            )
            number = await connect_number(clients[0], emulator_http, api_key, throughput_mps=80)
            streams = [
                await stack.enter_async_context(follow(client, auth(api_key))) for client in clients
            ]
            latencies: list[list[float]] = [[] for _ in streams]
            for index in range(messages):
                body = f"¿Hay envíos a {index}?"
                await customer_writes(emulator_http, customer_wa_id(index), number, body)
                sent = time.monotonic()
                arrivals = await asyncio.gather(*(arrival(stream, body) for stream in streams))
                for place, arrived in enumerate(arrivals):
                    latencies[place].append(arrived - sent)
    every = [value for stream in latencies for value in stream]
    return {
        "bench": "live_events",
        "db": db,
        "messages": messages,
        "streams": len(latencies),
        "latency_ms": percentiles(every, scale=1000),
        "latency_ms_per_stream": [percentiles(stream, scale=1000) for stream in latencies],
        "share_under_1s": round(sum(1 for v in every if v < 1.0) / len(every), 4),
        "loadavg": load_average(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.messages, args.db))))  # noqa: T201 - a benchmark prints its figures


if __name__ == "__main__":
    main()
