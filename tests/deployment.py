"""A scaled-out deployment in processes: `ovillo emulator`, `ovillo serve`, `ovillo worker`.

Each piece runs as its own OS process, as a deployment with the worker outside the web app
would run them (design.md, "Processes"): the emulator alone on a free port, `ovillo serve`
with the worker not embedded and no emulator inside, and any number of `ovillo worker`
processes, all on one database. The crash test (tests/crash/) kills workers with SIGKILL
and starts new ones; bench/send.py measures the send pipeline through the same set-up.

    async with Deployment(directory=tmp_path, database_url=url, settings={...}) as deployment:
        worker = await deployment.start_worker()
        ...
        await deployment.kill(worker)

Around it, the steps both need: a workspace and numbers connected through the REST API,
customers who write in through the emulator (so their 24-hour windows are open), their
conversations, and messages queued through the outbox as a service queues them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ovillo.channels.models import Channel
from ovillo.contacts.models import Contact
from ovillo.core.clock import SystemClock
from ovillo.inbox import outbox
from ovillo.inbox.models import AuthorType, Conversation, Message
from tests.factories import auth, next_display_number

_URL = re.compile(r"http://127\.0\.0\.1:\d+")


def clean_environ() -> dict[str, str]:
    """This process's environment without any ``OVILLO_*`` (the children get theirs only)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OVILLO_")}
    # Rich wraps what `ovillo serve` prints at 80 columns without a terminal: keep the
    # address on one line.
    env["COLUMNS"] = "200"
    return env


@dataclass
class Service:
    """One process of the deployment, its output going to ``log_path``."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path
    url: str = ""
    cpu_at_exit: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def cpu_seconds(self) -> float:
        """CPU time the process has used so far (user + system), 0.0 once it is gone."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @contextlib.asynccontextmanager
    async def paused(self) -> AsyncIterator[None]:
        """SIGSTOP for the block, SIGCONT after: the database holds still while a test looks.

        Entered only once every thread of the process is stopped (a SIGSTOP is delivered
        asynchronously, and aiosqlite writes from a thread of its own).
        """
        self.process.send_signal(signal.SIGSTOP)
        try:
            while not self._stopped():  # noqa: ASYNC110 - the kernel sets no event
                await asyncio.sleep(0.001)
            yield
        finally:
            if self.running:
                with contextlib.suppress(ProcessLookupError):
                    self.process.send_signal(signal.SIGCONT)

    def _stopped(self) -> bool:
        states = []
        for task in Path(f"/proc/{self.pid}/task").glob("*/stat"):
            with contextlib.suppress(OSError, IndexError):
                states.append(task.read_text().rsplit(")", 1)[1].split()[0])
        return all(state in ("T", "t", "Z", "X") for state in states)

    async def kill(self) -> None:
        """SIGKILL: no handler runs, no lease is given back, transactions are cut."""
        self.cpu_at_exit = self.cpu_seconds()
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self, *, within: float = 20.0) -> None:
        """SIGTERM and a moment to finish; SIGKILL after ``within`` seconds."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), within)
            except TimeoutError:
                await self.kill()
        await self.process.wait()


class Deployment:
    """The emulator, `ovillo serve` (worker not embedded) and workers, as processes.

    ``settings`` are extra ``OVILLO_*`` variables for serve and the workers (the worker's
    lease and reconcile times, log level). Serve migrates the database on start.
    """

    def __init__(
        self,
        *,
        directory: Path,
        database_url: str,
        settings: Mapping[str, str] | None = None,
        startup_seconds: float = 60.0,
    ) -> None:
        self.directory = directory
        self.database_url = database_url
        self.startup_seconds = startup_seconds
        self.env = clean_environ() | {
            "OVILLO_DB__URL": database_url,
            "OVILLO_DATA_DIR": str(directory / "var"),
            "OVILLO_DEMO": "false",
            "OVILLO_EMULATOR__ENABLED": "false",
            "OVILLO_WORKER__EMBEDDED": "false",
            "OVILLO_LOG__LEVEL": "WARNING",
            "OVILLO_LOG__JSON_OUTPUT": "true",
            **(settings or {}),
        }
        self.emulator: Service | None = None
        self.serve: Service | None = None
        self.replicas: list[Service] = []
        self.workers: list[Service] = []
        self._started = 0

    @property
    def url(self) -> str:
        assert self.serve is not None, "start() first"
        return self.serve.url

    @property
    def emulator_url(self) -> str:
        assert self.emulator is not None, "start() first"
        return self.emulator.url

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """The emulator, then serve (which migrates) once the emulator listens."""
        self.emulator = await self._spawn("emulator", ["emulator", "--port", "0", "--in-memory"])
        self.emulator.url = await self._address_of(self.emulator)
        self.env["OVILLO_GRAPH_API_URL"] = self.emulator.url
        self.serve = await self._spawn("serve", ["serve", "--port", "0"])
        self.serve.url = await self._address_of(self.serve)
        await self._healthy(self.serve)

    async def start_worker(self) -> Service:
        """A new `ovillo worker` process (it starts working within a second or two)."""
        worker = await self._spawn("worker", ["worker"])
        self.workers.append(worker)
        return worker

    async def start_replica(self) -> Service:
        """Another `ovillo serve` on the same database, as behind a load balancer."""
        replica = await self._spawn("serve", ["serve", "--port", "0"])
        self.replicas.append(replica)
        replica.url = await self._address_of(replica)
        await self._healthy(replica)
        return replica

    async def kill(self, worker: Service) -> None:
        await worker.kill()

    def running_workers(self) -> list[Service]:
        return [worker for worker in self.workers if worker.running]

    async def close(self) -> None:
        services = [*self.workers, *self.replicas, self.serve, self.emulator]
        await asyncio.gather(
            *(service.stop() for service in services if service is not None),
            return_exceptions=True,
        )

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds used by each kind of process (workers summed, killed ones too)."""
        used = {"emulator": 0.0, "serve": 0.0, "worker": 0.0}
        for service in [self.emulator, self.serve, *self.replicas, *self.workers]:
            if service is not None:
                spent = service.cpu_seconds() if service.running else service.cpu_at_exit
                used[service.name] += spent
        return {name: round(seconds, 1) for name, seconds in used.items()}

    def logs(self, lines: int = 30) -> str:
        """The end of every process's output, for a failure message."""
        services = [self.emulator, self.serve, *self.replicas, *self.workers]
        return "\n".join(
            f"--- {s.name} pid {s.pid} (exit {s.process.returncode}) ---\n{s.tail(lines)}"
            for s in services
            if s is not None
        )

    async def _spawn(self, name: str, args: Sequence[str]) -> Service:
        self._started += 1
        log_path = self.directory / f"{self._started:03d}-{name}.log"
        with log_path.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ovillo.cli", *args,
                cwd=self.directory, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=output, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        return Service(name=name, process=process, log_path=log_path)

    async def _address_of(self, service: Service) -> str:
        """The address the process printed on start (port 0 made it pick a free one)."""
        deadline = time.monotonic() + self.startup_seconds
        while time.monotonic() < deadline:
            found = _URL.search(service.tail(200))
            if found is not None:
                return found.group(0)
            if not service.running:
                break
            await asyncio.sleep(0.05)
        raise RuntimeError(f"{service.name} did not start:\n{service.tail()}")

    async def _healthy(self, service: Service) -> None:
        deadline = time.monotonic() + self.startup_seconds
        async with httpx.AsyncClient(base_url=service.url, timeout=5) as client:
            while time.monotonic() < deadline and service.running:
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{service.name} is not healthy:\n{service.tail()}")


# --- The scene: numbers, customers, conversations, queued messages --------------------------


@dataclass
class Number:
    """A number made in the emulator and connected through ``POST /api/v1/numbers``."""

    id: uuid.UUID
    phone_number_id: str
    throughput_mps: int
    customers: list[str] = field(default_factory=list)


async def connect_number(
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
    api_key: str,
    *,
    throughput_mps: int,
    emulator_throughput_mps: int | None = None,
    tier: str | None = None,
) -> Number:
    """A number whose webhooks go to ``http``'s platform, connected through its API.

    The emulator enforces ``emulator_throughput_mps`` (default: the same); the platform
    paces to ``throughput_mps``. ``tier``: the messaging limit (the emulator's default:
    TIER_250). Meta reports a level (80 or 1,000 mps), not a figure, so
    the platform's figure is set in the database after connecting.
    """
    secret = uuid.uuid4().hex
    created = await emulator_http.post(
        "/_emulator/phone_numbers",
        json={
            "display_phone_number": next_display_number(),
            "verified_name": "Crash & Bench",
            "webhook_url": f"{str(http.base_url).rstrip('/')}/webhooks/whatsapp",
            "app_secret": secret,
            "throughput_mps": emulator_throughput_mps or throughput_mps,
            **({"tier": tier} if tier is not None else {}),
        },
    )
    assert created.status_code == 201, created.text
    emulated = created.json()
    connected = await http.post(
        "/api/v1/numbers",
        headers=auth(api_key),
        json={
            "phone_number_id": emulated["phone_number_id"],
            "waba_id": emulated["waba_id"],
            "access_token": emulated["access_token"],
            "app_secret": secret,
            "graph_api_url": str(emulator_http.base_url).rstrip("/"),
        },
    )
    assert connected.status_code == 201, connected.text
    return Number(
        id=uuid.UUID(connected.json()["id"]),
        phone_number_id=emulated["phone_number_id"],
        throughput_mps=throughput_mps,
    )


async def set_throughput(
    sessionmaker: async_sessionmaker[AsyncSession], numbers: Iterable[Number]
) -> None:
    async with sessionmaker() as session:
        for number in numbers:
            await session.execute(
                update(Channel)
                .where(Channel.id == number.id)
                .values(throughput_mps=number.throughput_mps)
            )
        await session.commit()


def customer_wa_id(index: int) -> str:
    """A plausible US number (Meta's fictional 555 exchange), unique per index."""
    return f"1555{index:07d}"


async def customer_writes(
    emulator_http: httpx.AsyncClient, wa_id: str, number: Number, body: str
) -> str:
    """The customer writes to ``number`` through the emulator; the inbound wamid."""
    response = await emulator_http.post(
        f"/_emulator/customers/{wa_id}/messages",
        json={"phone_number_id": number.phone_number_id, "type": "text", "text": {"body": body}},
    )
    assert response.status_code == 201, response.text
    wamid: str = response.json()["id"]
    return wamid


async def set_persona(emulator_http: httpx.AsyncClient, wa_id: str, **persona: Any) -> None:
    response = await emulator_http.put(f"/_emulator/customers/{wa_id}/persona", json=persona)
    assert response.status_code == 200, response.text


async def gather_limited(concurrency: int, coroutines: Iterable[Any]) -> list[Any]:
    """Await ``coroutines`` with at most ``concurrency`` running at once."""
    slots = asyncio.Semaphore(concurrency)

    async def one(coroutine: Any) -> Any:
        async with slots:
            return await coroutine

    return list(await asyncio.gather(*(one(c) for c in coroutines)))


async def open_conversations(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, expected: int, within: float = 120.0
) -> list[Conversation]:
    """Wait until ``expected`` conversations have an inbound message (windows open)."""
    sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
    deadline = time.monotonic() + within
    while True:
        async with sessionmaker() as session:
            found = list(
                await session.scalars(
                    select(Conversation).where(
                        Conversation.workspace_id == workspace_id,
                        Conversation.last_inbound_at.is_not(None),
                    )
                )
            )
        if len(found) >= expected:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(found)} of {expected} customers' messages were applied")
        await asyncio.sleep(0.2)


async def enqueue_texts(
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    conversations: Sequence[Conversation],
    *,
    per_conversation: int,
    batch: int = 250,
    label: str = "msg",
) -> list[uuid.UUID]:
    """Queue ``per_conversation`` texts in each conversation, interleaved, ``batch`` per
    transaction, as a service queues them (outbox + commit). Their ids, in queue order."""
    plan = [
        (conversation.id, round_)
        for round_ in range(per_conversation)
        for conversation in conversations
    ]
    ids: list[uuid.UUID] = []
    for start in range(0, len(plan), batch):
        # No retry: a bulk enqueue locks its conversations in id order, as ingestion does
        # (`outbox.do_lock_conversations`), so neither is ever a deadlock's victim.
        ids.extend(
            await _enqueue_batch(sessionmaker, workspace_id, plan[start : start + batch], label)
        )
    return ids


async def _enqueue_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    workspace_id: uuid.UUID,
    batch: Sequence[tuple[uuid.UUID, int]],
    label: str,
) -> list[uuid.UUID]:
    clock = SystemClock()
    async with sessionmaker() as session:
        fresh = {
            c.id: c
            for c in await session.scalars(
                select(Conversation).where(Conversation.id.in_({c for c, _ in batch}))
            )
        }
        messages = await outbox.do_enqueue_messages(
            session=session,
            workspace_id=workspace_id,
            messages=[
                outbox.NewMessage(
                    conversation=fresh[conversation_id],
                    content={"type": "text", "text": {"body": f"{label} {round_}"}},
                    author_type=AuthorType.API,
                )
                for conversation_id, round_ in batch
            ],
            now=clock.now(),
        )
        await session.commit()
    return [message.id for message in messages]


async def emulator_messages(emulator_http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Everything the emulator accepted from businesses, oldest first."""
    out: list[dict[str, Any]] = []
    page = 20_000
    while True:
        response = await emulator_http.get(
            "/_emulator/messages", params={"limit": page, "offset": len(out)}, timeout=120
        )
        assert response.status_code == 200, response.text
        chunk: list[dict[str, Any]] = response.json()
        out.extend(chunk)
        if len(chunk) < page:
            return out


async def emulator_stats(emulator_http: httpx.AsyncClient) -> dict[str, int]:
    response = await emulator_http.get("/_emulator/stats")
    assert response.status_code == 200, response.text
    stats: dict[str, int] = response.json()
    return stats


async def count_messages(engine: AsyncEngine, *where: Any) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(select(func.count()).select_from(Message).where(*where))
    return int(found or 0)


async def contacts_by_wa_id(engine: AsyncEngine, workspace_id: uuid.UUID) -> dict[str, uuid.UUID]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(Contact.wa_id, Contact.id).where(Contact.workspace_id == workspace_id)
        )
    return {wa_id: contact_id for wa_id, contact_id in rows if wa_id}
