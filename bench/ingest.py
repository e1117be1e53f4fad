"""How many webhook events `ovillo serve` durably accepts per second, and how fast it applies them.

Starts `ovillo serve` in its own process as a deployment would (a fresh SQLite file in a
temporary directory, or with ``--db postgres`` a fresh database on 127.0.0.1:5432 made for
the run and dropped after; demo off, the emulator on its own port), makes a workspace and
connects one number through the REST API, and seeds outbound messages as a campaign leaves
them (``accepted``, with their wamid). Then N concurrent senders (aiohttp) POST signed
webhooks built like the emulator's (``sent``/``delivered``/``read`` statuses of those
messages in waves, with pricing and conversation, and ``--inbound-share`` of texts from
known and new customers) to ``/webhooks/whatsapp`` for a fixed time or count. The same load
goes to a bare Starlette app that only reads the body, served by uvicorn with the same
settings in another process, before and after, so the run quotes a ratio that the shared
machine skews less than a bare rate.

``--worker embedded`` (the default deployment): the worker applies inside `ovillo serve`
while it receives. ``--worker after``: serve only receives; once the load stops, `ovillo
worker` alone drains the log, which shows each side's own ceiling.

Once sending stops it polls ``webhook_event`` until nothing is pending: the lag from
``received_at`` to ``applied_at`` (p50/p95/max), the time to drain, the rate at which events
were applied, and the CPU time the applying process used per event. It checks the outcome
too: the campaign's messages moved by their statuses, every inbound text stored once.
``--profile DIR`` samples the server with py-spy meanwhile (collapsed stacks).

Prints one JSON object::

    .venv/bin/python bench/ingest.py --seconds 10 --senders 64
    .venv/bin/python bench/ingest.py --db postgres --inbound-share 0 --seconds 40 --worker after
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import uvloop
from harness import cpu_seconds, free_port, fresh_database, load_average, percentiles
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ovillo.accounts import service as accounts_service
from ovillo.channels.models import Channel, WebhookEvent
from ovillo.cloudapi.signature import SIGNATURE_HEADER, sign
from ovillo.contacts import service as contacts_service
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.logging import configure_logging
from ovillo.core.settings import DatabaseSettings
from ovillo.emulator.ids import new_bsuid, new_wamid
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import AuthorType, Direction, Message, MessageStatus

WEBHOOK_PATH = "/webhooks/whatsapp"
# Statuses go out in waves, as a campaign's do: `sent` for a block of messages, then their
# `delivered`, then their `read`.
STATUS_WAVE = 200
PRICING = {
    "billable": True,
    "pricing_model": "PMP",
    "category": "marketing",
    "type": "regular",
}


# --- Processes -------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """The baseline: an ASGI app that reads the body and answers 200, nothing else,
    served as `ovillo serve` serves the platform (``PlatformServer``'s uvicorn settings)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from ovillo.core.sockets import bind_socket

    async def receive(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    app = Starlette(routes=[Route(WEBHOOK_PATH, receive, methods=["POST"])])
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        lifespan="on",
        backlog=2048,
    )
    sock = bind_socket("127.0.0.1", port)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


@dataclass
class Served:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _clean_environ() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("OVILLO_")}


def platform_environ(database_url: str, directory: Path, *, log_level: str) -> dict[str, str]:
    return {
        **_clean_environ(),
        "OVILLO_DB__URL": database_url,
        "OVILLO_DATA_DIR": str(directory / "var"),
        "OVILLO_DEMO": "false",
        "OVILLO_LOG__LEVEL": log_level,
        "OVILLO_LOG__JSON_OUTPUT": "true",
    }


def start_platform(
    database_url: str, directory: Path, *, log_level: str, embedded_worker: bool
) -> tuple[Served, str]:
    port, emulator_port = free_port(), free_port()
    env = {
        **platform_environ(database_url, directory, log_level=log_level),
        "OVILLO_WORKER__EMBEDDED": "true" if embedded_worker else "false",
        "OVILLO_EMULATOR__ENABLED": "true",
        "OVILLO_EMULATOR__PORT": str(emulator_port),
    }
    log_path = directory / "serve.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "ovillo.cli", "serve", "--host", "127.0.0.1", "--port",
             str(port)],
            env=env,
            cwd=directory,  # no stray .env of the repository
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    served = Served("platform", process, f"http://127.0.0.1:{port}", log_path)
    return served, f"http://127.0.0.1:{emulator_port}"


def start_worker(database_url: str, directory: Path, *, log_level: str) -> Served:
    """`ovillo worker` on its own, as a scaled-out deployment runs it."""
    log_path = directory / "worker.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "ovillo.cli", "worker"],
            env=platform_environ(database_url, directory, log_level=log_level),
            cwd=directory,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Served("worker", process, "", log_path)


def start_bare(directory: Path) -> Served:
    port = free_port()
    log_path = directory / "bare.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(port)],
            env=_clean_environ(),
            cwd=directory,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    return Served("bare", process, f"http://127.0.0.1:{port}", log_path)


async def wait_until_up(served: Served, path: str, *, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                raise RuntimeError(f"{served.name} exited during start-up:\n{served.tail()}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(served.url + path) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{served.name} did not start within {within}s:\n{served.tail()}")


# --- The workspace, the number and the campaign ---------------------------------------------


@dataclass(frozen=True)
class Number:
    phone_number_id: str
    waba_id: str
    display_digits: str
    app_secret: str


@dataclass(frozen=True)
class Customer:
    wa_id: str
    user_id: str
    name: str


@dataclass(frozen=True)
class Sent:
    """An outbound message of the campaign, as the sender left it."""

    message_id: uuid.UUID
    wamid: str
    customer: Customer
    conversation_id: str


async def connect_number(
    engine: AsyncEngine, platform_url: str, emulator_url: str
) -> tuple[uuid.UUID, Number]:
    now = datetime.now(UTC)
    async with create_sessionmaker(engine)() as session:
        workspace = await accounts_service.create_workspace(
            session=session, name="Bench", timezone="UTC", now=now
        )
        _, api_key = await accounts_service.create_api_key(
            session=session, workspace_id=workspace.id, name="bench", now=now
        )
    app_secret = secrets.token_hex(16)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            emulator_url + "/_emulator/phone_numbers",
            json={
                "display_phone_number": "+1 555-010-4242",
                "verified_name": "Bench",
                "webhook_url": platform_url + WEBHOOK_PATH,
                "app_secret": app_secret,
                "tier": "TIER_UNLIMITED",
                "throughput_mps": 1000,
            },
        ) as response:
            created = await response.json()
            if response.status != 201:
                raise RuntimeError(f"the emulator refused the number: {created}")
        async with http.post(
            platform_url + "/api/v1/numbers",
            headers={"Authorization": f"Bearer {api_key}"},
            json={
                "phone_number_id": created["phone_number_id"],
                "waba_id": created["waba_id"],
                "access_token": created["access_token"],
                "app_secret": app_secret,
            },
        ) as response:
            connected = await response.json()
            if response.status != 201:
                raise RuntimeError(f"connecting the number failed: {connected}")
    return workspace.id, Number(
        phone_number_id=created["phone_number_id"],
        waba_id=created["waba_id"],
        display_digits="15550104242",
        app_secret=app_secret,
    )


def customers(count: int, *, offset: int = 0) -> list[Customer]:
    rng = random.Random(offset)
    first = ["Ana", "Luis", "María", "José", "Sofía", "Diego", "Lucía", "Mateo", "Valeria"]
    last = ["López", "García", "Hernández", "Martínez", "Pérez", "Sánchez", "Ramírez"]
    return [
        Customer(
            wa_id=f"52155{offset + index:08d}",
            user_id=new_bsuid("MX"),
            name=f"{rng.choice(first)} {rng.choice(last)}",
        )
        for index in range(count)
    ]


async def seed_campaign(
    engine: AsyncEngine,
    *,
    workspace_id: uuid.UUID,
    phone_number_id: str,
    audience: list[Customer],
    messages: int,
) -> list[Sent]:
    """Contacts and conversations for ``audience``, and ``messages`` outbound template
    messages to them (round robin), ``accepted`` with their wamid: a campaign just sent."""
    now = datetime.now(UTC)
    sessionmaker = create_sessionmaker(engine)
    conversations: dict[str, tuple[uuid.UUID, uuid.UUID]] = {}
    async with sessionmaker() as session:
        channel = await session.scalar(
            select(Channel).where(Channel.phone_number_id == phone_number_id)
        )
        assert channel is not None
        for customer in audience:
            contact = await contacts_service.do_upsert_from_whatsapp(
                session=session,
                workspace_id=workspace_id,
                wa_id=customer.wa_id,
                user_id=customer.user_id,
                profile_name=customer.name,
                now=now,
            )
            conversation = await inbox_service.do_get_or_open_conversation(
                session=session,
                workspace_id=workspace_id,
                channel_id=channel.id,
                contact_id=contact.id,
                now=now,
            )
            await session.flush()
            conversations[customer.wa_id] = (conversation.id, contact.id)
        sent: list[Sent] = []
        rows: list[dict[str, Any]] = []
        for index in range(messages):
            customer = audience[index % len(audience)]
            conversation_id, contact_id = conversations[customer.wa_id]
            message_id = uuid.uuid4()
            wamid = new_wamid(customer.wa_id)
            sent.append(Sent(message_id, wamid, customer, f"{conversation_id.hex[:32]}"))
            rows.append(
                {
                    "id": message_id,
                    "workspace_id": workspace_id,
                    "conversation_id": conversation_id,
                    "channel_id": channel.id,
                    "contact_id": contact_id,
                    "direction": Direction.OUTBOUND.value,
                    "type": "template",
                    "text": "order_update",
                    "content": {
                        "type": "template",
                        "template": {"name": "order_update", "language": {"code": "es_MX"}},
                    },
                    "template_name": "order_update",
                    "template_language": "es_MX",
                    "template_category": "MARKETING",
                    "author_type": AuthorType.CAMPAIGN.value,
                    "wamid": wamid,
                    "status": MessageStatus.ACCEPTED.value,
                    "priority": 10,
                    "attempts": 1,
                    "created_at": now,
                    "queued_at": now,
                    "sending_at": now,
                    "accepted_at": now,
                }
            )
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Message), rows[start : start + 1000])
        await session.commit()
    return sent


# --- The webhooks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Post:
    kind: str  # "status" or "inbound"
    body: bytes
    signature: str


def _envelope(number: Number, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": number.waba_id, "changes": [{"value": value, "field": "messages"}]}],
    }


def _value(number: Number, **parts: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": number.display_digits,
            "phone_number_id": number.phone_number_id,
        },
        **parts,
    }


def _contact(customer: Customer) -> dict[str, Any]:
    return {
        "profile": {"name": customer.name},
        "wa_id": customer.wa_id,
        "user_id": customer.user_id,
    }


def _post(number: Number, kind: str, value: dict[str, Any]) -> Post:
    body = json.dumps(_envelope(number, value), separators=(",", ":"), ensure_ascii=False).encode()
    return Post(kind, body, sign(number.app_secret, body))


def status_post(number: Number, sent: Sent, status: str, at: datetime) -> Post:
    item: dict[str, Any] = {
        "id": sent.wamid,
        "status": status,
        "timestamp": str(int(at.timestamp())),
        "recipient_id": sent.customer.wa_id,
        "recipient_user_id": sent.customer.user_id,
        "biz_opaque_callback_data": str(sent.message_id),
        "conversation": {"id": sent.conversation_id, "origin": {"type": "marketing"}},
        "pricing": PRICING,
    }
    if status == "sent":
        item["conversation"]["expiration_timestamp"] = str(int(at.timestamp()) + 86_400)
    value = _value(number, contacts=[_contact(sent.customer)], statuses=[item])
    return _post(number, "status", value)


TEXTS = [
    "Hola, ¿mi pedido ya salió?",
    "Gracias!",
    "¿Tienen envíos a Puebla?",
    "Quiero cambiar la dirección de entrega",
    "👍",
    "¿A qué hora abren mañana?",
]


def inbound_post(number: Number, customer: Customer, at: datetime, rng: random.Random) -> Post:
    message = {
        "from": customer.wa_id,
        "from_user_id": customer.user_id,
        "id": new_wamid(customer.wa_id),
        "timestamp": str(int(at.timestamp())),
        "type": "text",
        "text": {"body": rng.choice(TEXTS)},
    }
    value = _value(number, contacts=[_contact(customer)], messages=[message])
    return _post(number, "inbound", value)


def build_posts(
    number: Number,
    *,
    campaign: list[Sent],
    known: list[Customer],
    newcomers: list[Customer],
    inbound_share: float,
    count: int,
    seed: int = 7,
) -> list[Post]:
    """``count`` webhooks: the campaign's statuses in waves, texts mixed in at random."""
    rng = random.Random(seed)
    at = datetime.now(UTC)

    def statuses() -> Iterator[Post]:
        for start in range(0, len(campaign), STATUS_WAVE):
            wave = campaign[start : start + STATUS_WAVE]
            for offset, status in enumerate(("sent", "delivered", "read")):
                for sent in wave:
                    yield status_post(number, sent, status, at + timedelta(seconds=offset))

    new_customers = iter(newcomers)

    def texts() -> Iterator[Post]:
        while True:
            customer = rng.choice(known) if rng.random() < 0.5 else next(new_customers, None)
            yield inbound_post(number, customer or rng.choice(known), at, rng)

    status_stream, text_stream = statuses(), texts()
    posts: list[Post] = []
    while len(posts) < count:
        stream = text_stream if rng.random() < inbound_share else status_stream
        post = next(stream, None)
        posts.append(post if post is not None else next(text_stream))
    return posts


# --- The load --------------------------------------------------------------------------------


@dataclass
class LoadResult:
    posts: int = 0
    accepted: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    server_cpu_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "accepted": self.accepted,
            "seconds": round(self.seconds, 3),
            "accepted_per_second": round(self.accepted / self.seconds, 1) if self.seconds else 0,
            "http_statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": dict(self.errors),
            "latency_ms": percentiles(self.latencies, scale=1000, digits=2),
            "server_cpu_ms_per_1000_accepted": (
                round(self.server_cpu_seconds * 1e6 / self.accepted) if self.accepted else None
            ),
        }


async def send_load(
    url: str,
    posts: list[Post],
    *,
    senders: int,
    seconds: float,
    cycle: bool,
    server_pid: int,
) -> LoadResult:
    """POST ``posts`` with ``senders`` concurrent senders until they are all sent (or, with
    ``cycle``, over and over) or ``seconds`` have passed."""
    result = LoadResult()
    source: Iterator[Post] = itertools.cycle(posts) if cycle else iter(posts)
    target = url + WEBHOOK_PATH
    connector = aiohttp.TCPConnector(limit=senders, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    cpu_at_start = cpu_seconds(server_pid)
    started = time.perf_counter()
    deadline = started + seconds

    async def sender(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            post = next(source, None)
            if post is None:
                return
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: post.signature}
            begun = time.perf_counter()
            result.posts += 1
            try:
                async with session.post(target, data=post.body, headers=headers) as response:
                    await response.read()
                    result.statuses[response.status] += 1
                    if response.status == 200:
                        result.accepted += 1
                        result.latencies.append(time.perf_counter() - begun)
            except (aiohttp.ClientError, TimeoutError) as error:
                result.errors[type(error).__name__] += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(sender(session) for _ in range(senders)))
    result.seconds = time.perf_counter() - started
    result.server_cpu_seconds = cpu_seconds(server_pid) - cpu_at_start
    return result


@contextlib.contextmanager
def profiled(pid: int, output: Path | None) -> Iterator[None]:
    """Sample ``pid`` with py-spy into ``output`` (collapsed stacks) meanwhile, if asked."""
    if output is None:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    process = subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
         "--output", str(output), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        process.send_signal(2)  # SIGINT: py-spy writes its file and exits
        process.wait(timeout=30)


# --- Applying --------------------------------------------------------------------------------


async def wait_until_applied(
    engine: AsyncEngine, *, expected: int, since: float, within: float, server_pid: int
) -> dict[str, Any]:
    """Poll the log until every event is decided; how long it took and how fast it went."""
    pending_states = ("pending",)
    cpu_at_start = cpu_seconds(server_pid)
    drain_started = time.perf_counter()
    samples: list[tuple[float, int]] = []
    remaining = expected
    while True:
        async with engine.connect() as connection:
            remaining = int(
                await connection.scalar(
                    select(func.count())
                    .select_from(WebhookEvent)
                    .where(WebhookEvent.state.in_(pending_states))
                )
                or 0
            )
            stored = int(
                await connection.scalar(select(func.count()).select_from(WebhookEvent)) or 0
            )
        now = time.perf_counter()
        samples.append((now, stored - remaining))
        if (remaining == 0 and stored >= expected) or now - drain_started > within:
            break
        await asyncio.sleep(0.25)
    finished = time.perf_counter()
    applied_during_drain = samples[-1][1] - samples[0][1]
    drain_seconds = finished - drain_started
    return {
        "drained": remaining == 0,
        "still_pending": remaining,
        "seconds_after_last_post": round(drain_seconds, 2),
        "seconds_from_first_post": round(finished - since, 2),
        "applied_per_second_after_last_post": (
            round(applied_during_drain / drain_seconds, 1) if drain_seconds > 0.5 else None
        ),
        "server_cpu_ms_per_1000_applied_after_last_post": (
            round((cpu_seconds(server_pid) - cpu_at_start) * 1e6 / applied_during_drain)
            if applied_during_drain
            else None
        ),
    }


async def lag_and_outcome(engine: AsyncEngine, campaign: list[Sent]) -> dict[str, Any]:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(WebhookEvent.received_at, WebhookEvent.applied_at, WebhookEvent.state)
            )
        ).all()
        by_status = dict(
            (
                await connection.execute(
                    select(Message.status, func.count())
                    .where(Message.direction == Direction.OUTBOUND.value)
                    .group_by(Message.status)
                )
            ).all()
        )
        inbound = int(
            await connection.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.direction == Direction.INBOUND.value)
            )
            or 0
        )
        pending_statuses = int(
            await connection.scalar(text("SELECT count(*) FROM pending_status")) or 0
        )
    lags = [
        (applied - received).total_seconds()
        for received, applied, _ in rows
        if applied is not None and received is not None
    ]
    applied_times = [applied for _, applied, _ in rows if applied is not None]
    received_times = [received for received, _, _ in rows]
    span = (
        (max(applied_times) - min(received_times)).total_seconds()
        if applied_times and received_times
        else None
    )
    applying = (max(applied_times) - min(applied_times)).total_seconds() if applied_times else None
    return {
        "lag_seconds": percentiles(lags, digits=2),
        # From the first batch applied to the last: the applier's own pace.
        "applied_per_second_while_applying": (
            round(len(applied_times) / applying, 1) if applying else None
        ),
        "events_by_state": dict(Counter(state for _, _, state in rows)),
        "applied_per_second_overall": round(len(applied_times) / span, 1) if span else None,
        "outcome": {
            "campaign_messages": len(campaign),
            "outbound_by_status": {str(k): int(v) for k, v in by_status.items()},
            "inbound_messages": inbound,
            "pending_statuses": pending_statuses,
        },
    }


# --- The run ---------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = load_average()
    directory = Path(tempfile.mkdtemp(prefix="ovillo-bench-ingest-"))
    served: list[Served] = []
    try:
        async with fresh_database(args.db, directory) as database_url:
            platform, emulator_url = start_platform(
                database_url,
                directory,
                log_level=args.log_level,
                embedded_worker=args.worker == "embedded",
            )
            served.append(platform)
            bare = start_bare(directory)
            served.append(bare)
            await wait_until_up(platform, "/healthz")
            await wait_until_up(bare, "/")
            engine = create_engine(DatabaseSettings(url=database_url))
            try:
                workspace_id, number = await connect_number(engine, platform.url, emulator_url)
                status_events = round(args.events * (1 - args.inbound_share))
                audience = customers(args.customers)
                campaign = await seed_campaign(
                    engine,
                    workspace_id=workspace_id,
                    phone_number_id=number.phone_number_id,
                    audience=audience,
                    messages=max(1, -(-status_events // 3)),
                )
                posts = build_posts(
                    number,
                    campaign=campaign,
                    known=audience,
                    newcomers=customers(args.events, offset=10_000_000),
                    inbound_share=args.inbound_share,
                    count=args.events,
                )
                load = {"senders": args.senders, "seconds": args.seconds, "worker": args.worker}
                bare_before = await send_load(
                    bare.url, posts, senders=args.senders, seconds=args.seconds, cycle=True,
                    server_pid=bare.process.pid,
                )  # fmt: skip
                profile = Path(args.profile) if args.profile else None
                if profile is not None:
                    profile.mkdir(parents=True, exist_ok=True)
                first_post = time.perf_counter()
                with profiled(platform.process.pid, profile and profile / "accept.txt"):
                    accepted = await send_load(
                        platform.url, posts, senders=args.senders, seconds=args.seconds,
                        cycle=False, server_pid=platform.process.pid,
                    )  # fmt: skip
                applier = platform
                if args.worker == "after":
                    applier = start_worker(database_url, directory, log_level=args.log_level)
                    served.append(applier)
                with profiled(applier.process.pid, profile and profile / "drain.txt"):
                    drain = await wait_until_applied(
                        engine,
                        expected=accepted.accepted,
                        since=first_post,
                        within=args.drain_timeout,
                        server_pid=applier.process.pid,
                    )
                bare_after = await send_load(
                    bare.url, posts, senders=args.senders, seconds=args.seconds, cycle=True,
                    server_pid=bare.process.pid,
                )  # fmt: skip
                applied = await lag_and_outcome(engine, campaign)
            finally:
                await engine.dispose()
            if platform.process.poll() is not None:
                raise RuntimeError(f"the platform died:\n{platform.tail()}")
            for each in served:
                each.stop()
    finally:
        for each in served:
            each.stop()
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    bare_rate = statistics.mean(
        [
            bare_before.accepted / bare_before.seconds,
            bare_after.accepted / bare_after.seconds,
        ]
    )
    platform_rate = accepted.accepted / accepted.seconds if accepted.seconds else 0.0
    kinds = Counter(post.kind for post in posts[: accepted.posts])
    return {
        "bench": "ingest",
        "db": args.db,
        "load": {
            **load,
            "events_offered": len(posts),
            "events_posted": accepted.posts,
            "by_kind": dict(kinds),
            "customers": args.customers,
            "campaign_messages": len(campaign),
            "body_bytes_mean": round(statistics.mean(len(p.body) for p in posts)),
        },
        "accept": {
            "platform": accepted.as_dict(),
            "bare_starlette_before": bare_before.as_dict(),
            "bare_starlette_after": bare_after.as_dict(),
            "ratio_platform_to_bare": round(platform_rate / bare_rate, 3) if bare_rate else None,
        },
        "apply": {**drain, **applied},
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": load_average(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--senders", type=int, default=64, help="concurrent POSTs")
    parser.add_argument("--seconds", type=float, default=10.0, help="longest a load lasts")
    parser.add_argument("--events", type=int, default=20_000, help="webhooks to the platform")
    parser.add_argument(
        "--inbound-share", type=float, default=0.1, help="share of customer texts; rest statuses"
    )
    parser.add_argument("--customers", type=int, default=1_000, help="the campaign's audience")
    parser.add_argument(
        "--worker",
        choices=("embedded", "after"),
        default="embedded",
        help="embedded: the worker applies in `ovillo serve` while it receives (the default "
        "deployment); after: serve only receives, then `ovillo worker` drains the log alone",
    )
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--log-level", default="INFO", help="of `ovillo serve`")
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy the platform into DIR (accept.txt, drain.txt)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return
    # The set-up calls services that log; the bench's own output is the JSON alone.
    configure_logging(level="WARNING", json_output=True)
    print(json.dumps(uvloop.run(run(args)), indent=2))  # noqa: T201 - the bench's output


if __name__ == "__main__":
    main()
