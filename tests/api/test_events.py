"""`GET /api/v1/events`: the workspace's live events over SSE, from the real app and worker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from ovillo.server import PlatformServer
from tests.api.conversing import Desk, open_desk

# How long a test waits for an event. Events arrive well within a second on a quiet machine
# (the product's goal); the suites share two cores with PostgreSQL and each other, so the
# tests assert that the event arrives, to the right workspace only, and leave the latency to
# be measured, not raced.
LIVE_WITHIN = 10.0


@dataclass
class EventStream:
    """What an SSE client of ``/api/v1/events`` received, parsed, as it arrives."""

    events: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    content_type: str = ""

    async def next(self, kind: str, within: float, **match: Any) -> dict[str, Any]:
        """The next event of ``kind`` whose data has ``match`` (others are skipped)."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} {match} within {within} s")
            try:
                event = await asyncio.wait_for(self.events.get(), remaining)
            except TimeoutError:
                raise AssertionError(f"no {kind} {match} within {within} s") from None
            data = event["data"]["data"]
            if event["event"] == kind and all(data.get(k) == v for k, v in match.items()):
                return event

    def drained(self) -> list[dict[str, Any]]:
        items = []
        while not self.events.empty():
            items.append(self.events.get_nowait())
        return items


async def _read(response: httpx.Response, stream: EventStream) -> None:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line.startswith(": listening"):
            stream.listening.set()
        elif line == "":
            if "data" in fields:
                await stream.events.put(
                    {
                        "id": fields.get("id"),
                        "event": fields.get("event"),
                        "data": json.loads(fields["data"]),
                    }
                )
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


@contextlib.asynccontextmanager
async def follow(http: httpx.AsyncClient, headers: dict[str, str]) -> AsyncIterator[EventStream]:
    stream = EventStream()
    async with http.stream("GET", "/api/v1/events", headers=headers, timeout=None) as response:
        assert response.status_code == 200
        stream.content_type = response.headers["content-type"]
        reader = asyncio.create_task(_read(response, stream))
        try:
            await asyncio.wait_for(stream.listening.wait(), 10)
            yield stream
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await reader


async def test_live_events_reach_their_workspace_and_no_other(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    other = await open_desk(platform, http, emulator_http)
    async with follow(http, desk.headers) as mine, follow(http, other.headers) as theirs:
        assert mine.content_type.startswith("text/event-stream")
        await desk.customer_writes("5215511110001", "¿Tienen la canción?")
        created = await mine.next("message_created", within=LIVE_WITHIN, direction="in")
        data = created["data"]["data"]
        assert created["data"]["workspace_id"] == str(desk.workspace_id)
        assert data["last_message_preview"] == "¿Tienen la canción?"
        assert data["unread_count"] == 1

        # The agent answers: the outgoing message, then its ticks.
        answer = await desk.send(
            {"to": "5215511110001", "number_id": desk.number["id"], "text": {"body": "Sí"}}
        )
        assert answer.status_code == 202, answer.text
        message_id = answer.json()["id"]
        await mine.next(
            "message_created", within=LIVE_WITHIN, direction="out", message_id=message_id
        )
        await desk.wait_for_status(message_id, "delivered", "read")
        await mine.next(
            "message_status", within=LIVE_WITHIN, message_id=message_id, status="accepted"
        )

        # Assignment, closing and a note.
        conversation_id = data["conversation_id"]
        response = await desk.post(f"/conversations/{conversation_id}/close")
        assert response.status_code == 200, response.text
        closed = await mine.next("conversation_updated", within=LIVE_WITHIN, change="closed")
        assert closed["data"]["data"]["conversation_status"] == "closed"
        response = await desk.post(f"/conversations/{conversation_id}/notes", {"body": "VIP"})
        assert response.status_code == 201, response.text
        await mine.next("note_added", within=LIVE_WITHIN, conversation_id=conversation_id)

        # Nothing of it reached the other workspace; its own customer's message does.
        assert theirs.drained() == []
        await other.customer_writes("5215511110002", "hola")
        await theirs.next("message_created", within=LIVE_WITHIN, direction="in")
        assert all(e["data"]["workspace_id"] == str(desk.workspace_id) for e in mine.drained())


async def test_events_need_a_key_and_a_reconnect_is_told_to_resync(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    response = await http.get("/api/v1/events")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
    desk: Desk = await open_desk(platform, http, emulator_http)
    async with follow(http, {**desk.headers, "Last-Event-ID": "0190"}) as stream:
        resync = await stream.next("resync", within=LIVE_WITHIN)
        assert resync["data"]["workspace_id"] == str(desk.workspace_id)
