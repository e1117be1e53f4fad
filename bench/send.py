"""How fast queued messages reach the emulator, and how close the pace stays to the cap.

Runs the platform as a deployment with the worker outside the web app would
(tests/deployment.py): `ovillo emulator`, `ovillo serve` (worker not embedded) and `ovillo
worker`, each its own process, on a fresh PostgreSQL database made for the run and dropped
after (``--db sqlite``: a fresh SQLite file). Numbers are made in the emulator with a
throughput cap and connected through the REST API with the same figure; customers write in
first so their 24-hour windows are open. With the worker stopped, N texts are queued
through the outbox (40 per customer, inside Meta's pair-rate burst of 45); then the worker
starts and the clock runs until the emulator has accepted them all.

Figures come from the emulator's own log (``GET /_emulator/messages``, its ``accepted_at``):
messages/s per number and in all, the most accepted in any sliding 1-second window (must
not cross the cap), the steady rate between the 10th and the 90th percentile of the sends
as a share of the cap, refusals for throughput (130429, retried by the pipeline) and the
latency from ``queued_at`` to ``accepted_at`` (with a backlog it is mostly the wait in the
queue; the time to the first accepted send is the pipeline's start-up). Then the other
side: the status webhooks those sends bring load `ovillo serve` and the worker's ingestion,
so it waits (up to ``--drain-seconds``) until every logged webhook is applied and reports
the events, their lag from ``received_at`` to ``applied_at``, and the CPU each process used.

    .venv/bin/python bench/send.py                          # one number at 1,000 mps, then
                                                            # ten numbers at 100 mps each
    .venv/bin/python bench/send.py --scenario one --messages 20000 --mps 1000
    .venv/bin/python bench/send.py --scenario ten --mps 1000 --db sqlite

Prints one JSON object per scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

# bench/ is not a package: reach tests/deployment.py from the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from harness import fresh_database, load_average, max_in_window, pace_figures, percentiles
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from tests.deployment import (
    Deployment,
    Number,
    connect_number,
    customer_wa_id,
    customer_writes,
    emulator_messages,
    enqueue_texts,
    gather_limited,
    open_conversations,
    set_persona,
    set_throughput,
)
from tests.factories import make_workspace

from ovillo.channels.models import WebhookEvent, WebhookEventState
from ovillo.core.db import create_engine
from ovillo.core.logging import configure_logging
from ovillo.core.settings import DatabaseSettings
from ovillo.inbox.models import Direction, Message

# Meta's pair rate lets 45 messages to one customer go at once; stay inside it.
PER_CUSTOMER = 40
THROUGHPUT_REFUSED = 130429
SCENARIOS = {"one": 1, "ten": 10}


async def wait_until(condition: Any, *, within: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(interval)
    return False


async def set_up_scene(
    deployment: Deployment,
    engine: AsyncEngine,
    *,
    numbers_count: int,
    mps: int,
    messages: int,
    statuses: int,
) -> tuple[list[Number], Any, list[Any]]:
    """Numbers, customers who wrote in (windows open), their conversations."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    workspace_id, api_key = await make_workspace(engine)
    per_number = messages // numbers_count
    customers_per_number = -(-per_number // PER_CUSTOMER)
    async with (
        httpx.AsyncClient(base_url=deployment.url, timeout=60) as http,
        httpx.AsyncClient(base_url=deployment.emulator_url, timeout=60) as emulator_http,
    ):
        numbers = [
            await connect_number(http, emulator_http, api_key, throughput_mps=mps)
            for _ in range(numbers_count)
        ]
        await set_throughput(sessionmaker, numbers)
        index = 0
        for number in numbers:
            for _ in range(customers_per_number):
                number.customers.append(customer_wa_id(index))
                index += 1
        # 3: sent, delivered, read (the default customer); 2: receipts off; 1: never delivered.
        persona = {"delivers": statuses >= 2, "reads": statuses >= 3}
        await gather_limited(
            16,
            (
                set_persona(emulator_http, wa_id, delivery_delay=1.0, read_delay=2.0, **persona)
                for number in numbers
                for wa_id in number.customers
            ),
        )
        await gather_limited(
            16,
            (
                customer_writes(emulator_http, wa_id, number, "hi")
                for number in numbers
                for wa_id in number.customers
            ),
        )
    conversations = await open_conversations(engine, workspace_id, expected=index, within=600)
    # Queue order: number by number would make the first number's messages all wait for it;
    # interleave them as numbers sending at once would be.
    by_number = {number.id: number for number in numbers}
    conversations.sort(key=lambda c: (list(by_number).index(c.channel_id), c.id))
    return numbers, workspace_id, conversations


FINAL_STATUS = {1: "sent", 2: "delivered", 3: "read"}


async def ingestion_figures(
    engine: AsyncEngine,
    *,
    since_id: int,
    sends_done_at: float,
    drain_seconds: float,
    final_status: str,
    messages: int,
) -> dict[str, Any]:
    """Wait until every message has its last status applied (the emulator delivered every
    status webhook and the worker applied the log after ``since_id``); the log's figures."""

    async def unapplied() -> int:
        async with engine.connect() as connection:
            found = await connection.scalar(
                select(func.count())
                .select_from(WebhookEvent)
                .where(
                    WebhookEvent.id > since_id,
                    WebhookEvent.state.not_in(
                        [WebhookEventState.APPLIED, WebhookEventState.UNKNOWN]
                    ),
                )
            )
        return int(found or 0)

    async def drained() -> bool:
        async with engine.connect() as connection:
            final = await connection.scalar(
                select(func.count()).where(
                    Message.direction == Direction.OUTBOUND, Message.status == final_status
                )
            )
        return final == messages and await unapplied() == 0

    await wait_until(drained, within=drain_seconds)
    drained_after = time.monotonic() - sends_done_at
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(WebhookEvent.received_at, WebhookEvent.applied_at, WebhookEvent.state)
                .where(WebhookEvent.id > since_id)
                .order_by(WebhookEvent.id)
            )
        ).all()
    received = [r for r, _, _ in rows]
    applied = sorted(a for _, a, _ in rows if a is not None)
    lags = [(a - r).total_seconds() for r, a, _ in rows if a is not None]
    figures: dict[str, Any] = {
        "events": len(rows),
        "states": dict(Counter(str(s) for _, _, s in rows)),
        "unapplied_at_end": await unapplied(),
        "drained_s_after_last_send": round(drained_after, 1),
        "lag_ms": percentiles(lags, scale=1000),
    }
    if len(received) > 1:
        span = (max(received) - min(received)).total_seconds()
        figures["received_per_s"] = round(len(received) / span, 1) if span else None
    if len(applied) > 1:
        span = (applied[-1] - applied[0]).total_seconds()
        figures["applied_per_s"] = round(len(applied) / span, 1) if span else None
    return figures


async def run_scenario(args: argparse.Namespace, scenario: str) -> dict[str, Any]:
    numbers_count = SCENARIOS[scenario]
    mps = args.mps if args.mps is not None else (1000 if scenario == "one" else 100)
    messages = args.messages or (20_000 if scenario == "one" else 10_000)
    directory = Path(tempfile.mkdtemp(prefix=f"ovillo-bench-send-{scenario}-"))
    load_before = load_average()
    async with fresh_database(args.db, directory) as database_url:
        engine = create_engine(DatabaseSettings(url=database_url))
        settings = {"OVILLO_LOG__LEVEL": args.log_level}
        try:
            async with Deployment(
                directory=directory, database_url=database_url, settings=settings
            ) as deployment:
                worker = await deployment.start_worker()
                started = time.monotonic()
                numbers, workspace_id, conversations = await set_up_scene(
                    deployment,
                    engine,
                    numbers_count=numbers_count,
                    mps=mps,
                    messages=messages,
                    statuses=args.statuses,
                )
                scene_s = time.monotonic() - started
                # Queue with the worker stopped: the run measures the pipeline, not the
                # enqueueing.
                await worker.stop()
                async with engine.connect() as connection:
                    last_event = int(
                        await connection.scalar(select(func.coalesce(func.max(WebhookEvent.id), 0)))
                        or 0
                    )
                started = time.monotonic()
                queued = await enqueue_texts(
                    async_sessionmaker(engine, expire_on_commit=False),
                    workspace_id,
                    conversations,
                    per_conversation=PER_CUSTOMER,
                    batch=500,
                )
                enqueue_s = time.monotonic() - started
                cpu_before = deployment.cpu_seconds()
                worker_started_at = datetime.now().astimezone()
                for _ in range(args.workers):
                    await deployment.start_worker()
                started = time.monotonic()
                async with httpx.AsyncClient(
                    base_url=deployment.emulator_url, timeout=120
                ) as emulator_http:

                    async def all_accepted() -> bool:
                        response = await emulator_http.get("/_emulator/stats")
                        return bool(response.json()["sent"] >= len(queued))

                    finished = await wait_until(
                        all_accepted, within=args.send_seconds, interval=0.2
                    )
                    sends_done_at = time.monotonic()
                    backlog = (await emulator_http.get("/_emulator/stats")).json()
                    sent = await emulator_messages(emulator_http)
                cpu_sending = deployment.cpu_seconds()
                ingest = await ingestion_figures(
                    engine,
                    since_id=last_event,
                    sends_done_at=sends_done_at,
                    drain_seconds=args.drain_seconds,
                    final_status=FINAL_STATUS[args.statuses],
                    messages=len(queued),
                )
                ingest["emulator_webhooks_queued_when_sends_done"] = backlog["webhook_backlog"]
                cpu_after = deployment.cpu_seconds()
                outcome = await platform_outcome(engine)
        finally:
            await engine.dispose()
    return report(
        args=args,
        scenario=scenario,
        mps=mps,
        numbers=numbers,
        queued=queued,
        sent=sent,
        outcome=outcome,
        ingest=ingest,
        finished=finished,
        send_wall_s=sends_done_at - started,
        worker_started_at=worker_started_at,
        scene_s=scene_s,
        enqueue_s=enqueue_s,
        cpu=(cpu_before, cpu_sending, cpu_after),
        load=(load_before, load_average()),
    )


async def platform_outcome(engine: AsyncEngine) -> dict[str, Any]:
    """What the platform recorded of its sends: statuses, attempts, throughput refusals."""
    async with engine.connect() as connection:
        statuses = dict(
            (
                await connection.execute(
                    select(Message.status, func.count())
                    .where(Message.direction == Direction.OUTBOUND)
                    .group_by(Message.status)
                )
            ).all()
        )
        retried = await connection.scalar(
            select(func.count()).where(
                Message.direction == Direction.OUTBOUND, Message.attempts > 1
            )
        )
        queued_at = dict(
            (
                await connection.execute(
                    select(Message.id, Message.queued_at).where(
                        Message.direction == Direction.OUTBOUND
                    )
                )
            ).all()
        )
    return {
        "statuses": {str(k): v for k, v in statuses.items()},
        "retried": int(retried or 0),
        "queued_at": {str(k): v for k, v in queued_at.items()},
    }


def report(
    *,
    args: argparse.Namespace,
    scenario: str,
    mps: int,
    numbers: list[Number],
    queued: list[Any],
    sent: list[dict[str, Any]],
    outcome: dict[str, Any],
    ingest: dict[str, Any],
    finished: bool,
    send_wall_s: float,
    worker_started_at: datetime,
    scene_s: float,
    enqueue_s: float,
    cpu: tuple[dict[str, float], dict[str, float], dict[str, float]],
    load: tuple[list[float], list[float]],
) -> dict[str, Any]:
    accepted_at = {
        m["biz_opaque_callback_data"]: datetime.fromisoformat(m["accepted_at"]) for m in sent
    }
    origin = min(accepted_at.values()) if accepted_at else worker_started_at
    per_number = []
    for number in numbers:
        times = sorted(
            (datetime.fromisoformat(m["accepted_at"]) - origin).total_seconds()
            for m in sent
            if m["phone_number_id"] == number.phone_number_id
        )
        per_number.append(pace_figures(times, mps) if times else {"accepted": 0})
    all_times = sorted((t - origin).total_seconds() for t in accepted_at.values())
    queued_at = outcome.pop("queued_at")
    latencies = [
        (accepted_at[key] - queued_at[key]).total_seconds()
        for key in accepted_at
        if key in queued_at and queued_at[key] is not None
    ]
    sent_twice = sum(n - 1 for n in Counter(m["biz_opaque_callback_data"] for m in sent).values())
    errors = Counter(e.get("code") for m in sent for e in m.get("errors") or [])
    sending_cpu = {k: round(cpu[1][k] - cpu[0][k], 1) for k in cpu[0]}
    whole_cpu = {k: round(cpu[2][k] - cpu[0][k], 1) for k in cpu[0]}
    steady = [float(n["steady_share_of_cap"]) for n in per_number if "steady_share_of_cap" in n]
    return {
        "bench": "send",
        "scenario": scenario,
        "db": args.db,
        "workers": args.workers,
        "numbers": len(numbers),
        "cap_mps_per_number": mps,
        "queued": len(queued),
        "accepted": len(sent),
        "all_accepted": finished,
        "sent_twice": sent_twice,
        "status_errors": {str(k): v for k, v in errors.items()},
        "overall": {
            "rate_mps": pace_figures(all_times, mps * len(numbers)).get("rate_mps"),
            "steady_mps": pace_figures(all_times, mps * len(numbers)).get("steady_mps"),
            "max_in_any_1s": max_in_window(all_times),
            "send_wall_s": round(send_wall_s, 2),
            "first_accepted_after_worker_start_s": round(
                (origin - worker_started_at).total_seconds(), 2
            ),
            "worst_number_steady_share_of_cap": min(steady) if steady else None,
            "any_number_crossed_cap": any(n.get("crossed_cap") for n in per_number),
        },
        "per_number": per_number,
        "queue_to_accepted_ms": percentiles(latencies, scale=1000),
        "platform": outcome,
        "ingestion": ingest,
        "cpu_seconds_while_sending": sending_cpu,
        "cpu_seconds_until_drained": whole_cpu,
        "cpu_ms_per_message_while_sending": {
            k: round(v * 1000 / max(1, len(sent)), 2) for k, v in sending_cpu.items()
        },
        "setup_s": {"scene": round(scene_s, 1), "enqueue": round(enqueue_s, 1)},
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_before": load[0],
            "loadavg_after": load[1],
            "python": sys.version.split()[0],
        },
    }


async def main_async(args: argparse.Namespace) -> None:
    scenarios = ["one", "ten"] if args.scenario == "both" else [args.scenario]
    for scenario in scenarios:
        result = await run_scenario(args, scenario)
        print(json.dumps(result), flush=True)  # noqa: T201 - a benchmark prints its figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--scenario", choices=["one", "ten", "both"], default="both")
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        help="Messages to queue [20,000 for one number, 10,000 for ten].",
    )
    parser.add_argument(
        "--mps",
        type=int,
        default=None,
        help="Throughput cap of each number [1,000 for one number, 100 each for ten].",
    )
    parser.add_argument("--workers", type=int, default=1, help="`ovillo worker` processes.")
    parser.add_argument(
        "--statuses",
        type=int,
        choices=[1, 2, 3],
        default=3,
        help="Status webhooks per message: 3 sent+delivered+read, 2 no read, 1 sent only.",
    )
    parser.add_argument("--send-seconds", type=float, default=600.0)
    parser.add_argument("--drain-seconds", type=float, default=300.0)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    if args.db == "sqlite" and args.workers != 1:
        parser.error("SQLite runs one worker")
    configure_logging(level="WARNING", json_output=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
