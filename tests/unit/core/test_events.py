"""The live event bus on SQLite: after commit only, scoped, bounded; payloads for NOTIFY."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import text

from ovillo.core import events
from ovillo.core.runtime import Runtime


async def _publish(runtime: Runtime, workspace_id: uuid.UUID, n: int, *, commit: bool) -> None:
    async with runtime.sessionmaker() as session:
        await session.execute(text("SELECT 1"))
        for i in range(n):
            events.publish_on_commit(
                session, workspace_id=workspace_id, kind="message_created", data={"n": i}
            )
        if commit:
            await session.commit()
        else:
            await session.rollback()


async def test_events_leave_on_commit_to_their_workspace_only(runtime: Runtime) -> None:
    mine, other = uuid.uuid4(), uuid.uuid4()
    async with (
        events.subscribe(runtime, workspace_id=mine) as subscription,
        events.subscribe(runtime, workspace_id=other) as elsewhere,
    ):
        await _publish(runtime, mine, 2, commit=True)
        first = await subscription.get(within=1)
        second = await subscription.get(within=1)
        assert first is not None
        assert second is not None
        assert (first.kind, first.data, second.data) == ("message_created", {"n": 0}, {"n": 1})
        assert first.workspace_id == mine
        assert await elsewhere.get(within=0.05) is None


async def test_a_rolled_back_transaction_publishes_nothing(runtime: Runtime) -> None:
    workspace_id = uuid.uuid4()
    async with events.subscribe(runtime, workspace_id=workspace_id) as subscription:
        await _publish(runtime, workspace_id, 1, commit=False)
        assert await subscription.get(within=0.05) is None
        # The session forgot them: a later commit in a new session carries only its own.
        await _publish(runtime, workspace_id, 1, commit=True)
        event = await subscription.get(within=1)
        assert event is not None
        assert event.kind == "message_created"
        assert await subscription.get(within=0.05) is None


async def test_a_savepoint_rolled_back_keeps_what_the_transaction_announced(
    runtime: Runtime,
) -> None:
    workspace_id = uuid.uuid4()
    async with events.subscribe(runtime, workspace_id=workspace_id) as subscription:
        async with runtime.sessionmaker() as session:
            await session.execute(text("SELECT 1"))
            events.publish_on_commit(session, workspace_id=workspace_id, kind="note_added")
            savepoint = await session.begin_nested()
            await savepoint.rollback()
            await session.commit()
        event = await subscription.get(within=1)
        assert event is not None
        assert event.kind == "note_added"


async def test_a_slow_subscriber_loses_its_backlog_and_is_told_to_resync(
    runtime: Runtime,
) -> None:
    workspace_id = uuid.uuid4()
    async with events.subscribe(runtime, workspace_id=workspace_id, max_pending=5) as slow:
        await _publish(runtime, workspace_id, 3, commit=True)
        await _publish(runtime, workspace_id, 3, commit=True)  # 6 > 5: overflow
        event = await slow.get(within=1)
        assert event is not None
        assert event.kind == events.RESYNC
        assert slow.lost == 6
        # Then it follows again.
        await _publish(runtime, workspace_id, 1, commit=True)
        event = await slow.get(within=1)
        assert event is not None
        assert event.kind == "message_created"


def test_payloads_stay_under_postgresql_limit_and_round_trip() -> None:
    workspace_id = uuid.uuid4()
    batch = [
        events.Event(kind="message_created", workspace_id=workspace_id, data={"p": "ñ" * 150})
        for _ in range(200)
    ]
    huge = events.Event(kind="message_created", workspace_id=workspace_id, data={"p": "x" * 9000})
    chunks = events.payload_chunks([*batch, huge])
    assert len(chunks) > 1
    assert all(len(chunk.encode()) < 8000 for chunk in chunks)
    decoded = [events.Event.from_wire(item) for chunk in chunks for item in json.loads(chunk)]
    assert decoded[:-1] == batch
    # Too big on its own: replaced by a resync of its workspace, under the same id.
    assert (decoded[-1].kind, decoded[-1].id) == (events.RESYNC, huge.id)


async def test_sse_stream_says_resync_after_a_reconnect_and_beats(runtime: Runtime) -> None:
    workspace_id = uuid.uuid4()
    stream = events.sse_stream(
        runtime, workspace_id=workspace_id, last_event_id="abc", heartbeat_seconds=0.01
    )
    try:
        assert (await anext(stream)).startswith("retry: ")
        resync = await anext(stream)
        assert resync.startswith("id: ")
        assert "\nevent: resync\n" in resync
        assert await anext(stream) == ": heartbeat\n\n"
        await _publish(runtime, workspace_id, 1, commit=True)
        message = ""
        while message.startswith(":") or not message:
            message = await anext(stream)
        lines = dict(line.split(": ", 1) for line in message.strip().split("\n"))
        assert lines["event"] == "message_created"
        assert json.loads(lines["data"])["data"] == {"n": 0}
    finally:
        await stream.aclose()
