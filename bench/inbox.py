"""How quick the inbox's reads are on a large workspace: conversation lists, a thread, search.

Seeds a fresh database (a SQLite file in a temporary directory, or with ``--db postgres`` a
database on 127.0.0.1:5432 made for the run and dropped after), migrated to head, by bulk
inserts (not through the API): one workspace with 50 agents and one number, 100,000
contacts each with one conversation (60 % assigned round robin to the agents, 30 %
unassigned, 10 % closed) and 1,000,000 messages, ten per conversation, in and out, Spanish
text with accents. The search indexes are filled by the database's own triggers and
indexes, as in production.

Then times, through the service functions the pages call (and the REST API in process,
httpx over ASGI, where it exists), each read ``--repeat`` times with varied arguments:

- the conversation list of each view (Mine, Unassigned, All open), its first page and a
  page deep in it (a cursor 80 % of the way down);
- each agent's own unread counts for a list page (``inbox.reads``);
- a conversation's latest page of messages;
- search: a common word, two common words, a rare word, a rare word with a common one, a
  contact's name (accents folded).

Prints one JSON object with p50/p95/max in milliseconds per read, and the query plans
(EXPLAIN) of the list queries::

    .venv/bin/python bench/inbox.py --small
    .venv/bin/python bench/inbox.py --db postgres
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvloop
from harness import load_average, migrated_runtime, percentiles, run_directory, seed_channel
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ovillo.accounts import service as accounts_service
from ovillo.accounts.models import User
from ovillo.app import create_app
from ovillo.contacts.models import Contact
from ovillo.core.clock import ControllableClock
from ovillo.core.garbage import settle_after_startup
from ovillo.core.ids import new_id
from ovillo.core.logging import configure_logging
from ovillo.core.runtime import Runtime
from ovillo.inbox import reads as inbox_reads
from ovillo.inbox import search as inbox_search
from ovillo.inbox import service as inbox_service
from ovillo.inbox.models import Conversation, ConversationStatus, Message

AGENTS = 50
PAGE = 50

WORDS = [
    "hola",
    "gracias",
    "pedido",
    "envío",
    "precio",
    "canción",
    "mañana",
    "tienda",
    "pago",
    "factura",
    "dirección",
    "cambio",
    "talla",
    "color",
    "entrega",
    "semana",
    "sábado",
    "número",
    "cuenta",
    "cliente",
    "oferta",
    "descuento",
    "garantía",
    "devolución",
    "producto",
    "catálogo",
    "horario",
    "sucursal",
    "teléfono",
    "correo",
    "boleto",
]
RARE = "xilófono"
NAMES = [
    "María",
    "José",
    "Núñez",
    "Pérez",
    "Gómez",
    "Ramírez",
    "Díaz",
    "Hernández",
    "Muñoz",
    "Ibáñez",
    "Peña",
    "Sofía",
]


# --- Seeding ---------------------------------------------------------------------------------


class Seeded:
    def __init__(self) -> None:
        self.workspace_id = uuid.uuid4()
        self.api_key = ""
        self.agents: list[uuid.UUID] = []
        self.conversations: list[uuid.UUID] = []
        self.contact_names: list[str] = []
        self.seconds = 0.0


async def _insert(engine: AsyncEngine, table: Any, rows: list[dict[str, Any]]) -> None:
    chunk = 5_000
    async with engine.begin() as connection:
        for start in range(0, len(rows), chunk):
            await connection.execute(insert(table), rows[start : start + chunk])


async def seed(
    engine: AsyncEngine, runtime: Runtime, *, conversations: int, per_conversation: int
) -> Seeded:
    started = time.perf_counter()
    rng = random.Random(7)
    seeded = Seeded()
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    async with runtime.sessionmaker() as session:
        workspace = await accounts_service.create_workspace(session=session, name="Bench", now=now)
        _, seeded.api_key = await accounts_service.create_api_key(
            session=session, workspace_id=workspace.id, name="bench", now=now
        )
    seeded.workspace_id = workspace_id = workspace.id
    seeded.agents = [new_id(now) for _ in range(AGENTS)]
    await _insert(
        engine,
        User.__table__,
        [
            {"id": agent, "workspace_id": workspace_id, "email": f"agent{i}@bench.test",
             "name": f"Agent {i}", "password_hash": "x", "role": "agent", "created_at": now}
            for i, agent in enumerate(seeded.agents)
        ],
    )  # fmt: skip
    channel_id = await seed_channel(engine, workspace_id=workspace_id, now=now)
    batch = 10_000
    start_at = now - timedelta(days=90)
    for first in range(0, conversations, batch):
        contacts: list[dict[str, Any]] = []
        threads: list[dict[str, Any]] = []
        messages: list[dict[str, Any]] = []
        for index in range(first, min(first + batch, conversations)):
            contact_id = new_id(start_at)
            conversation_id = new_id(start_at)
            name = f"{rng.choice(NAMES)} {rng.choice(NAMES)} {index}"
            wa_id = f"52155{index:08d}"
            contacts.append(
                {"id": contact_id, "workspace_id": workspace_id, "wa_id": wa_id,
                 "phone_e164": f"+{wa_id}", "country": "MX", "profile_name": name,
                 "name": None, "created_at": start_at, "updated_at": start_at}
            )  # fmt: skip
            kind = index % 10
            assignee = seeded.agents[(index // 10 * 6 + kind) % AGENTS] if kind < 6 else None
            status = ConversationStatus.CLOSED if kind == 9 else ConversationStatus.OPEN
            last = start_at + timedelta(seconds=rng.randrange(90 * 86_400))
            texts = []
            for m in range(per_conversation):
                words = [rng.choice(WORDS) for _ in range(rng.randrange(3, 12))]
                if rng.random() < 0.0005:
                    words.append(RARE)
                texts.append(" ".join(words).capitalize())
                at = last - timedelta(minutes=per_conversation - m)
                inbound = m % 2 == 0
                messages.append(
                    {"workspace_id": workspace_id, "id": new_id(at),
                     "conversation_id": conversation_id, "channel_id": channel_id,
                     "contact_id": contact_id, "direction": "in" if inbound else "out",
                     "type": "text", "text": texts[-1], "content": {"text": {"body": texts[-1]}},
                     "author_type": "contact" if inbound else "user",
                     "status": "received" if inbound else "read",
                     "created_at": at, "occurred_at": at}
                )  # fmt: skip
            threads.append(
                {"id": conversation_id, "workspace_id": workspace_id, "channel_id": channel_id,
                 "contact_id": contact_id, "status": status, "assignee_id": assignee,
                 "last_inbound_at": last, "window_closes_at": last + timedelta(hours=24),
                 "last_activity_at": last, "last_message_preview": texts[-1][:200],
                 "unread_count": rng.randrange(3), "created_at": last - timedelta(hours=1),
                 "closed_at": last if status == ConversationStatus.CLOSED else None}
            )  # fmt: skip
            seeded.conversations.append(conversation_id)
            seeded.contact_names.append(name)
        await _insert(engine, Contact.__table__, contacts)
        await _insert(engine, Conversation.__table__, threads)
        await _insert(engine, Message.__table__, messages)
    async with engine.begin() as connection:
        # Fresh statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` would keep them.
        await connection.execute(text("ANALYZE"))
    seeded.seconds = time.perf_counter() - started
    return seeded


# --- Timing ----------------------------------------------------------------------------------


CAPTURED: Captured | None = None


async def timed(
    name: str, repeat: int, read: Callable[[int], Awaitable[Any]]
) -> dict[str, float | None]:
    # The first call warms imports and caches, and its SQL is kept for EXPLAIN.
    if CAPTURED is not None:
        with CAPTURED.recording_as(name):
            await read(0)
    else:
        await read(0)
    spent = []
    for i in range(repeat):
        started = time.perf_counter()
        await read(i + 1)
        spent.append(time.perf_counter() - started)
    return {
        **percentiles(spent, scale=1000, digits=2),
        "mean": round(statistics.fmean(spent) * 1000, 2),
    }


async def deep_cursor(
    runtime: Runtime, workspace_id: uuid.UUID, *where: Any, fraction: float = 0.8
) -> str:
    """A cursor ``fraction`` of the way down a view, as paging there would have made it."""
    async with runtime.sessionmaker() as session:
        total = await session.scalar(
            select(func.count())
            .select_from(Conversation)
            .where(Conversation.workspace_id == workspace_id, *where)
        )
        row = (
            await session.execute(
                select(Conversation.last_activity_at, Conversation.id)
                .where(Conversation.workspace_id == workspace_id, *where)
                .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
                .offset(int((total or 1) * fraction))
                .limit(1)
            )
        ).one()
    return inbox_service.encode_conversation_cursor(row[0], row[1])


class Captured:
    """The SQL statements the reads send, caught at the driver, to EXPLAIN afterwards."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.recording: list[tuple[str, Any]] | None = None
        self.statements: dict[str, list[tuple[str, Any]]] = {}
        event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, parameters: Any,
                    _context: Any, _executemany: bool) -> None:  # fmt: skip
        if self.recording is not None and statement.lstrip().upper().startswith("SELECT"):
            self.recording.append((statement, parameters))

    @contextlib.contextmanager
    def recording_as(self, name: str) -> Iterator[None]:
        self.recording = self.statements.setdefault(name, [])
        try:
            yield
        finally:
            self.recording = None

    async def plans(self) -> dict[str, list[list[str]]]:
        explain = "EXPLAIN " if self.engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        found: dict[str, list[list[str]]] = {}
        async with self.engine.connect() as connection:
            for name, statements in self.statements.items():
                for statement, parameters in statements:
                    if "api_key" in statement:
                        continue  # the REST API's key check, not the read
                    rows = await connection.exec_driver_sql(explain + statement, parameters)
                    found.setdefault(name, []).append([str(row[-1]) for row in rows][:14])
        return found


async def measure(runtime: Runtime, seeded: Seeded, repeat: int) -> dict[str, Any]:
    rng = random.Random(11)
    w = seeded.workspace_id
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    session_of = runtime.sessionmaker
    open_ = Conversation.status == ConversationStatus.OPEN
    views: dict[str, dict[str, Any]] = {
        "mine": {"status": ConversationStatus.OPEN},
        "unassigned": {"status": ConversationStatus.OPEN, "assignee": "none"},
        "all": {"status": ConversationStatus.OPEN},
    }
    deep = {
        "unassigned": await deep_cursor(runtime, w, open_, Conversation.assignee_id.is_(None)),
        "all": await deep_cursor(runtime, w, open_),
    }
    mine_deep = {
        agent: await deep_cursor(runtime, w, open_, Conversation.assignee_id == agent)
        for agent in seeded.agents[:10]
    }
    results: dict[str, Any] = {}

    def conversation_list(view: str, deep_page: bool) -> Callable[[int], Awaitable[Any]]:
        async def read(i: int) -> None:
            kwargs = dict(views[view])
            cursor = deep.get(view) if deep_page else None
            if view == "mine":
                agent = seeded.agents[i % 10]
                kwargs["assignee"] = agent
                cursor = mine_deep[agent] if deep_page else None
            async with session_of() as session:
                page = await inbox_service.list_conversations(
                    session=session, workspace_id=w, now=now, limit=PAGE, cursor=cursor, **kwargs
                )
            assert page.items, (view, deep_page)

        return read

    for view in views:
        results[f"conversations.{view}.first"] = await timed(
            f"conversations.{view}.first", repeat, conversation_list(view, False)
        )
        results[f"conversations.{view}.deep"] = await timed(
            f"conversations.{view}.deep", repeat, conversation_list(view, True)
        )

    # Each agent's own unread badges for a list page (``inbox.reads``): the worst case, an
    # agent who never opened any of them, so every inbound message is counted.
    async with session_of() as session:
        listed = await inbox_service.list_conversations(
            session=session, workspace_id=w, now=now, limit=100, status=ConversationStatus.OPEN
        )  # the inbox page lists 100
    listed_ids = [item.conversation.id for item in listed.items]

    async def unread(i: int) -> None:
        async with session_of() as session:
            await inbox_reads.unread_by(
                session=session, workspace_id=w, user_id=seeded.agents[i % AGENTS],
                conversation_ids=listed_ids,
            )  # fmt: skip

    name = "conversations.agent_unread"
    results[name] = await timed(name, repeat, unread)

    async def thread(i: int) -> None:
        async with session_of() as session:
            page = await inbox_service.list_messages(
                session=session, workspace_id=w, conversation_id=rng.choice(seeded.conversations),
                limit=PAGE,
            )  # fmt: skip
        assert page.items

    results["messages.page"] = await timed("messages.page", repeat, thread)

    def searching(query: Callable[[int], str]) -> Callable[[int], Awaitable[Any]]:
        async def read(i: int) -> None:
            async with session_of() as session:
                await inbox_search.search(session=session, workspace_id=w, query=query(i), limit=20)

        return read

    results["search.common_word"] = await timed(
        "search.common_word", repeat, searching(lambda i: WORDS[i % len(WORDS)])
    )
    results["search.two_words"] = await timed(
        "search.two_words",
        repeat,
        searching(lambda i: f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7 + 3) % len(WORDS)]}"),
    )
    results["search.rare_word"] = await timed(
        "search.rare_word", repeat, searching(lambda i: "xilofono")
    )
    results["search.rare_and_common"] = await timed(
        "search.rare_and_common", repeat, searching(lambda i: f"xilofono {WORDS[i % len(WORDS)]}")
    )
    results["search.contact_name"] = await timed(
        "search.contact_name",
        repeat,
        searching(lambda i: seeded.contact_names[i * 997 % len(seeded.contact_names)]),
    )

    # The same reads through the REST API, in process (httpx over ASGI: no sockets).
    app = create_app(runtime=runtime)
    headers = {"Authorization": f"Bearer {seeded.api_key}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:

        def api(path: Callable[[int], str]) -> Callable[[int], Awaitable[Any]]:
            async def read(i: int) -> None:
                response = await http.get(path(i), headers=headers)
                assert response.status_code == 200, response.text

            return read

        mine_path = f"/api/v1/conversations?status=open&limit={PAGE}&assignee="
        results["api.conversations.mine.first"] = await timed(
            "api.conversations.mine.first",
            repeat,
            api(lambda i: f"{mine_path}{seeded.agents[i % AGENTS]}"),
        )
        deep_path = f"/api/v1/conversations?status=open&limit={PAGE}&cursor={deep['all']}"
        results["api.conversations.all.deep"] = await timed(
            "api.conversations.all.deep", repeat, api(lambda i: deep_path)
        )
        results["api.messages.page"] = await timed(
            "api.messages.page",
            repeat,
            api(lambda i: f"/api/v1/conversations/{rng.choice(seeded.conversations)}/messages"),
        )
        results["api.search.common_word"] = await timed(
            "api.search.common_word",
            repeat,
            api(lambda i: f"/api/v1/search?q={WORDS[i % len(WORDS)]}&limit=20"),
        )
    return results


async def run(args: argparse.Namespace) -> dict[str, Any]:
    conversations = 1_000 if args.small else args.conversations
    with run_directory("ovillo-bench-inbox-", keep=args.keep) as directory:
        async with migrated_runtime(args.db, directory, clock=ControllableClock()) as runtime:
            seeded = await seed(
                runtime.engine, runtime, conversations=conversations,
                per_conversation=args.per_conversation,
            )  # fmt: skip
            global CAPTURED  # one bench run per process
            CAPTURED = Captured(runtime.engine)
            # As `ovillo serve` does once started: without it every full collection walks
            # the seeding's leftovers (100,000s of ids and names) and shows as a read's tail.
            settle_after_startup()
            timings = await measure(runtime, seeded, args.repeat)
            query_plans = await CAPTURED.plans()
    within = all(t["p95"] < 50 for t in timings.values())
    return {
        "db": args.db,
        "conversations": conversations,
        "messages": conversations * args.per_conversation,
        "agents": AGENTS,
        "seed_seconds": round(seeded.seconds, 1),
        "repeat": args.repeat,
        "load_average": load_average(),
        "p95_under_50_ms": within,
        "ms": timings,
        "plans": query_plans,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--per-conversation", type=int, default=10, help="messages in each")
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per read")
    parser.add_argument("--small", action="store_true", help="1,000 conversations: a quick run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    configure_logging(level="WARNING", json_output=True)
    print(json.dumps(uvloop.run(run(args)), indent=2, ensure_ascii=False))  # noqa: T201


if __name__ == "__main__":
    main()
