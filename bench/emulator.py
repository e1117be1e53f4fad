"""How fast the emulator accepts sends and delivers their webhooks.

Starts `ovillo emulator` in its own process (one core), a webhook receiver in this
process, and ``--clients`` sender processes, each a `CloudAPIClient` (the platform's own)
sending approved template messages to one number at its share of the target rate, so the
load generator is not the bottleneck. Prints one JSON object: messages/s accepted, errors
by code, send latency, status webhooks (POSTs) and statuses received per second and how
long the statuses took to drain. The question it answers: at 1,000 messages/s to one
number, is the emulator the bottleneck? (Issue 4.)

Other work on a shared machine skews the rates, so it also reports the CPU time each
process used (from /proc) per 1,000 accepted messages, from the first send until the last
status arrived: the emulator's figure includes delivering the three status webhooks of
every message, and below 1.0 s it says one core keeps up with 1,000 messages/s.

    .venv/bin/python bench/emulator.py --rate 1000 --seconds 60 --clients 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, cast

import aiohttp
import httptools
import uvloop
from harness import cpu_seconds, free_port

from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import CloudAPIError, CloudAPITransportError
from ovillo.cloudapi.signature import verify
from ovillo.rules.throughput import TokenBucket

APP_SECRET = "bench-secret"
TEMPLATE = {
    "name": "bench_order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "Hello {{1}}, your order number {{2}} has shipped and arrives soon.",
            "example": {"body_text": [["Ana", "A1"]]},
        }
    ],
}


class Receiver:
    """Counts the status webhooks that arrive, and checks their signatures."""

    def __init__(self, app_secret: str) -> None:
        self.app_secret = app_secret
        self.posts = 0
        self.status_count = 0
        self.bad_signatures = 0
        self.statuses: Counter[str] = Counter()
        self.first_at: float | None = None
        self.last_at: float | None = None

    def receive(self, body: bytes, signature: str | None) -> None:
        if not verify(self.app_secret, body, signature):
            self.bad_signatures += 1
        statuses = 0
        for entry in json.loads(body)["entry"]:
            for change in entry["changes"]:
                for status in change["value"].get("statuses", ()):
                    self.statuses[status["status"]] += 1
                    statuses += 1
        if statuses:
            # Only status webhooks count: the template's approval arrives before the load.
            now = time.perf_counter()
            self.first_at = self.first_at or now
            self.last_at = now
            self.posts += 1
            self.status_count += statuses


_OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


class _ReceiverConnection(asyncio.Protocol):
    """One keep-alive connection of the receiver, parsed by httptools.

    A bare protocol rather than an aiohttp or Starlette app: at 3,000 webhooks/s a framework
    costs this process more CPU than the client's sends, and the figure that matters is
    the emulator's.
    """

    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._body: list[bytes] = []
        self._signature: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    def on_message_begin(self) -> None:
        self._body = []
        self._signature = None

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-hub-signature-256":
            self._signature = value.decode()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._receiver.receive(b"".join(self._body), self._signature)
        assert self._transport is not None
        self._transport.write(_OK)


async def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError("the emulator exited during start-up")
            try:
                async with session.get(url + "/_emulator/clock") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the emulator did not start")


async def run(
    rate: float, seconds: float, concurrency: int, drain_seconds: float, clients: int
) -> dict[str, Any]:
    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "OVILLO_LOG__LEVEL": "WARNING"}
    # A fresh state file each run: the emulator's default keeps its world in SQLite, and a
    # world left by an earlier run would make every recipient a known customer.
    state_dir = tempfile.TemporaryDirectory(prefix="ovillo-bench-")
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
        [
            *(sys.executable, "-m", "ovillo.cli", "emulator", "--port", str(port)),
            *("--state", os.path.join(state_dir.name, "emulator.sqlite3")),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    receiver = Receiver(APP_SECRET)
    receiver_port = free_port()
    listener = await asyncio.get_running_loop().create_server(
        lambda: _ReceiverConnection(receiver), "127.0.0.1", receiver_port
    )
    try:
        await wait_until_up(emulator_url, process)
        async with aiohttp.ClientSession() as control:
            async with control.post(
                emulator_url + "/_emulator/phone_numbers",
                json={
                    "display_phone_number": "+1 555-010-0000",
                    "verified_name": "Bench",
                    "webhook_url": f"http://127.0.0.1:{receiver_port}/webhook",
                    "app_secret": APP_SECRET,
                    "tier": "TIER_UNLIMITED",
                    "throughput_mps": 1000,
                },
            ) as response:
                number = await response.json()
            async with CloudAPIClient(
                base_url=emulator_url, access_token=number["access_token"]
            ) as client:
                created = await client.create_template(number["waba_id"], TEMPLATE)
            async with control.post(
                f"{emulator_url}/_emulator/templates/{created.id}/review",
                json={"status": "APPROVED"},
            ) as reviewed:
                reviewed.raise_for_status()
        load = Load(
            emulator_url=emulator_url,
            access_token=number["access_token"],
            phone_number_id=number["phone_number_id"],
            rate=rate / clients,
            seconds=seconds,
            concurrency=max(1, concurrency // clients),
        )
        return await _measure(load, clients, receiver, process.pid, drain_seconds)
    finally:
        process.terminate()
        process.wait(timeout=10)
        listener.close()
        state_dir.cleanup()


@dataclass(frozen=True)
class Load:
    """What one sender process sends: its share of the rate, for ``seconds``."""

    emulator_url: str
    access_token: str
    phone_number_id: str
    rate: float
    seconds: float
    concurrency: int
    client: int = 0
    start_at: float = 0.0  # time.time() at which every sender starts


@dataclass
class Sent:
    """What one sender process saw."""

    attempted: int = 0
    accepted: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0


async def _measure(
    load: Load, clients: int, receiver: Receiver, emulator_pid: int, drain_seconds: float
) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # every sender process up and connected by then
    loop = asyncio.get_running_loop()
    with context.Pool(clients) as pool:
        pending = pool.map_async(
            _send_in_process,
            [replace(load, client=index, start_at=start_at) for index in range(clients)],
        )
        await asyncio.sleep(max(0.0, start_at - time.time()))
        emulator_cpu_at_start = cpu_seconds(emulator_pid)
        receiver_cpu_at_start = time.process_time()
        started = time.perf_counter()
        results: list[Sent] = await loop.run_in_executor(None, pending.get)
    send_elapsed = max(result.elapsed for result in results)
    emulator_cpu_sending = cpu_seconds(emulator_pid) - emulator_cpu_at_start
    accepted = sum(result.accepted for result in results)
    # Statuses keep coming after the last send (delivered ~1 s, read ~5 s later): every
    # accepted message owes `sent`, `delivered` and `read` (the default persona reads).
    expected_statuses = accepted * 3
    drain_started = time.perf_counter()
    # Polling a counter the receiver bumps; an Event per webhook would cost more than it saves.
    while (  # noqa: ASYNC110
        receiver.status_count < expected_statuses
        and time.perf_counter() - drain_started < drain_seconds
    ):
        await asyncio.sleep(0.05)
    drained_after = time.perf_counter() - drain_started
    emulator_cpu = cpu_seconds(emulator_pid) - emulator_cpu_at_start
    receiver_cpu = time.process_time() - receiver_cpu_at_start
    per_thousand = 1000 / accepted if accepted else 0.0
    webhook_span = (
        (receiver.last_at - receiver.first_at) if receiver.first_at and receiver.last_at else 0.0
    )
    ordered = sorted(latency for result in results for latency in result.latencies)
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(result.errors)
    return {
        "bench": "emulator",
        "target_rate": load.rate * clients,
        "seconds": load.seconds,
        "clients": clients,
        "attempted": sum(result.attempted for result in results),
        "accepted": accepted,
        "accepted_per_s": round(accepted / send_elapsed, 1),
        "errors": dict(errors),
        "latency_ms_p50": round(statistics.median(ordered) * 1000, 2) if ordered else None,
        "latency_ms_p95": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2)
        if ordered
        else None,
        "webhook_posts_received": receiver.posts,
        "statuses_expected": expected_statuses,
        "statuses_received": receiver.status_count,
        "webhook_posts_per_s": round(receiver.posts / webhook_span, 1) if webhook_span else None,
        "statuses_per_s": round(receiver.status_count / webhook_span, 1) if webhook_span else None,
        "statuses": dict(receiver.statuses),
        "bad_signatures": receiver.bad_signatures,
        "drain_seconds_after_last_send": round(drained_after, 2),
        "wall_seconds": round(time.perf_counter() - started, 2),
        # CPU seconds per 1,000 accepted messages, first send to last status: below 1.0 the
        # emulator's one core keeps up with 1,000 messages/s (its three webhooks included).
        "emulator_cpu_s_per_1000_messages": round(emulator_cpu * per_thousand, 3),
        "emulator_cpu_share_while_sending": round(emulator_cpu_sending / send_elapsed, 2),
        "clients_cpu_s_per_1000_messages": round(
            sum(result.cpu_seconds for result in results) * per_thousand, 3
        ),
        "receiver_cpu_s_per_1000_messages": round(receiver_cpu * per_thousand, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _send_in_process(load: Load) -> Sent:
    # The clients are separate processes so they are not the bottleneck; uvloop as uvicorn
    # uses it for the servers.
    return uvloop.run(_send_load(load))


async def _send_load(load: Load) -> Sent:
    sent = Sent()
    in_flight = asyncio.Semaphore(load.concurrency)
    # Pace like the platform's sender does: a token bucket at the cap, a tenth of a second
    # of burst.
    bucket = TokenBucket(rate=load.rate, burst=max(1.0, load.rate / 10))
    tasks: set[asyncio.Task[None]] = set()
    async with CloudAPIClient(base_url=load.emulator_url, access_token=load.access_token) as client:
        await asyncio.sleep(max(0.0, load.start_at - time.time()))
        cpu_at_start = time.process_time()
        started = time.perf_counter()
        deadline = started + load.seconds

        async def send_one(index: int) -> None:
            message = {
                "messaging_product": "whatsapp",
                "to": f"1555{load.client % 10}{index:06d}",
                "type": "template",
                "template": {
                    "name": TEMPLATE["name"],
                    "language": {"code": "en_US"},
                    "components": [
                        {
                            "type": "body",
                            "parameters": [
                                {"type": "text", "text": "Ana"},
                                {"type": "text", "text": f"A{index}"},
                            ],
                        }
                    ],
                },
            }
            t0 = time.perf_counter()
            try:
                await client.send_message(load.phone_number_id, message)
                sent.accepted += 1
            except CloudAPIError as exc:
                sent.errors[str(exc.code)] += 1
            except CloudAPITransportError:
                sent.errors["transport"] += 1
            finally:
                sent.latencies.append(time.perf_counter() - t0)
                in_flight.release()

        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            taken, bucket = bucket.try_take(now)
            if not taken:
                await asyncio.sleep(max(bucket.wait_time(now), 0.0005))
                continue
            await in_flight.acquire()
            task = asyncio.create_task(send_one(sent.attempted))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent.attempted += 1
        await asyncio.gather(*tasks)
        sent.elapsed = time.perf_counter() - started
        sent.cpu_seconds = time.process_time() - cpu_at_start
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=1000.0, help="target messages/s")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send")
    parser.add_argument("--concurrency", type=int, default=200, help="requests in flight")
    parser.add_argument("--clients", type=int, default=2, help="sender processes")
    parser.add_argument(
        "--drain", type=float, default=60.0, help="max seconds to wait for webhooks"
    )
    args = parser.parse_args()
    # The receiver runs in this process on uvloop, as uvicorn runs the servers.
    result = uvloop.run(
        run(args.rate, args.seconds, args.concurrency, args.drain, max(1, args.clients))
    )
    print(json.dumps(result))  # noqa: T201 - a benchmark prints its figures


if __name__ == "__main__":
    main()
