"""Conversations through the REST API, with customers writing in through the emulator:
listing with filters and cursors, assign/close/reopen with their audit, notes, messages,
and workspace isolation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx

from ovillo.accounts import service as accounts_service
from ovillo.accounts.models import Team
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.factories import auth, make_workspace


async def _make_user(platform: PlatformServer, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    engine = create_engine(platform.settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await accounts_service.create_user(
                session=session,
                workspace_id=workspace_id,
                email=f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com",
                name=name,
                password="correct horse battery staple",
                role="agent",
                now=platform.clock.now() if platform.clock else datetime.now().astimezone(),
            )
            return user.id
    finally:
        await engine.dispose()


async def _make_team(platform: PlatformServer, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    # No teams service yet: the row as accounts would write it.
    engine = create_engine(platform.settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            assert platform.clock is not None
            team = Team(workspace_id=workspace_id, name=name, created_at=platform.clock.now())
            session.add(team)
            await session.commit()
            return team.id
    finally:
        await engine.dispose()


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_customers_who_write_in_are_listed_latest_first_with_their_window(
    desk: Desk,
) -> None:
    await desk.writes_and_waits("15550003001", "first")
    await desk.advance(60)
    await desk.writes_and_waits("15550003002", "second")
    await desk.advance(60)
    await desk.writes_and_waits("15550003003", "third")

    listed = await desk.conversations()

    assert [c["contact"]["wa_id"] for c in listed] == ["15550003003", "15550003002", "15550003001"]
    newest = listed[0]
    assert newest["status"] == "open"
    assert newest["last_message_preview"] == "third"
    assert newest["unread_count"] == 1
    assert newest["assignee"] is None
    assert newest["number"]["id"] == desk.number["id"]
    assert newest["contact"]["phone"] == "+15550003003"
    assert newest["contact"]["profile_name"]  # the emulator's customer has a WhatsApp name
    window = newest["window"]
    assert window["open"] is True
    assert _at(window["closes_at"]) == _at(newest["last_inbound_at"]) + timedelta(hours=24)
    assert 0 < window["remaining_seconds"] <= 24 * 3600
    assert newest["free_entry_point"] is None

    fetched = await desk.get(f"/conversations/{newest['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["contact"] == newest["contact"]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(desk: Desk) -> None:
    customers = [f"1555000{4000 + i}" for i in range(5)]
    for wa_id in customers:
        await desk.writes_and_waits(wa_id, f"hi from {wa_id}")

    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await desk.get("/conversations", **params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= 2
        seen += [c["contact"]["wa_id"] for c in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == list(reversed(customers))

    broken = await desk.get("/conversations", cursor="not-a-cursor")
    assert broken.status_code == 422
    assert broken.json()["code"] == "invalid_cursor"
    too_many = await desk.get("/conversations", limit=201)
    assert too_many.status_code == 422


async def test_filters_narrow_the_list(platform: PlatformServer, desk: Desk) -> None:
    other_number = await desk.connect_another_number()
    ana = await desk.writes_and_waits("15550005001", "ana here")
    bo = await desk.writes_and_waits("15550005002", "bo here")
    cy = await desk.writes_and_waits("15550005003", "cy here", number=other_number)

    agent = await _make_user(platform, desk.workspace_id, "Dana")
    assigned = await desk.post(f"/conversations/{ana['id']}/assign", {"user_id": str(agent)})
    assert assigned.status_code == 200, assigned.text
    closed = await desk.post(f"/conversations/{bo['id']}/close")
    assert closed.status_code == 200, closed.text
    tagged = await desk.http.patch(
        f"/api/v1/contacts/{cy['contact']['id']}", headers=desk.headers, json={"tags": ["vip"]}
    )
    assert tagged.status_code == 200, tagged.text

    async def ids(**params: str) -> set[str]:
        return {c["id"] for c in await desk.conversations(**params)}

    assert await ids() == {ana["id"], bo["id"], cy["id"]}
    assert await ids(status="closed") == {bo["id"]}
    assert await ids(status="open") == {ana["id"], cy["id"]}
    assert await ids(status="snoozed") == set()
    assert await ids(number_id=other_number["id"]) == {cy["id"]}
    assert await ids(assignee=str(agent)) == {ana["id"]}
    assert await ids(assignee="none") == {bo["id"], cy["id"]}
    assert await ids(contact_id=bo["contact"]["id"]) == {bo["id"]}
    assert await ids(tag="vip") == {cy["id"]}
    assert await ids(tag="nobody-has-this") == set()
    assert await ids(window="open") == {ana["id"], bo["id"], cy["id"]}
    assert await ids(window="closed") == set()

    # A day later every window has closed; Ana writes again and only hers is open.
    await desk.advance(24 * 3600 + 60)
    assert await ids(window="open") == set()
    await desk.writes_and_waits("15550005001", "ana again")
    assert await ids(window="open") == {ana["id"]}
    assert await ids(window="closed") == {bo["id"], cy["id"]}

    bad = await desk.get("/conversations", assignee="someone")
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_assignee"
    bad_status = await desk.get("/conversations", status="pending")
    assert bad_status.status_code == 422


async def test_assign_close_and_reopen_are_audited(platform: PlatformServer, desk: Desk) -> None:
    conversation = await desk.writes_and_waits("15550006001", "help please")
    path = f"/conversations/{conversation['id']}"
    agent = await _make_user(platform, desk.workspace_id, "Eli")
    team = await _make_team(platform, desk.workspace_id, "Support")

    assigned = await desk.post(f"{path}/assign", {"user_id": str(agent), "team_id": str(team)})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assignee"] == {"id": str(agent), "name": "Eli"}
    assert assigned.json()["team"] == {"id": str(team), "name": "Support"}
    again = await desk.post(f"{path}/assign", {"user_id": str(agent)})
    assert again.json()["team"]["id"] == str(team)  # team left out: kept
    unassigned = await desk.post(f"{path}/assign", {"user_id": None})
    assert unassigned.json()["assignee"] is None
    assert unassigned.json()["team"]["id"] == str(team)

    closed = await desk.post(f"{path}/close")
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"] is not None
    assert (await desk.post(f"{path}/close")).json()["status"] == "closed"
    reopened = await desk.post(f"{path}/reopen")
    assert reopened.json()["status"] == "open"
    assert reopened.json()["closed_at"] is None

    events = (await desk.get(f"{path}/events")).json()["data"]
    assert [e["kind"] for e in events] == ["assigned", "unassigned", "closed", "reopened"]
    assert all(e["actor"]["type"] == "api" and e["actor"]["id"] for e in events)
    assert events[0]["data"] == {
        "from_user_id": None,
        "to_user_id": str(agent),
        "from_team_id": None,
        "to_team_id": str(team),
    }
    assert events[2]["data"] == {"from_status": "open"}

    stranger = await _make_user(platform, (await make_workspace(platform))[0], "Fay")
    refused = await desk.post(f"{path}/assign", {"user_id": str(stranger)})
    assert refused.status_code == 422
    assert refused.json()["code"] == "invalid_assignee"
    assert refused.json()["field"] == "user_id"
    no_team = await desk.post(f"{path}/assign", {"user_id": None, "team_id": str(uuid.uuid4())})
    assert no_team.status_code == 422
    assert no_team.json()["field"] == "team_id"
    assert len((await desk.get(f"{path}/events")).json()["data"]) == 4


async def test_reopening_is_refused_while_the_customer_has_a_newer_open_conversation(
    desk: Desk,
) -> None:
    first = await desk.writes_and_waits("15550007001", "question one")
    await desk.post(f"/conversations/{first['id']}/close")
    second = await desk.writes_and_waits("15550007001", "question two")
    assert second["id"] != first["id"]

    refused = await desk.post(f"/conversations/{first['id']}/reopen")

    assert refused.status_code == 409
    assert refused.json()["code"] == "conversation_already_open"
    assert refused.json()["conversation_id"] == second["id"]


async def test_notes_stay_internal(desk: Desk) -> None:
    conversation = await desk.writes_and_waits("15550008001", "where is my order?")
    path = f"/conversations/{conversation['id']}"

    added = await desk.post(f"{path}/notes", {"body": "Customer is a VIP; refund if late."})

    assert added.status_code == 201, added.text
    notes = (await desk.get(f"{path}/notes")).json()["data"]
    assert [n["body"] for n in notes] == ["Customer is a VIP; refund if late."]
    assert notes[0]["author_id"] is None
    messages = (await desk.get(f"{path}/messages")).json()["data"]
    assert [m["direction"] for m in messages] == ["in"]
    assert await desk.emulator_sent() == []
    empty = await desk.post(f"{path}/notes", {"body": ""})
    assert empty.status_code == 422


async def test_messages_page_by_sequence_both_ways(desk: Desk) -> None:
    conversation = await desk.writes_and_waits("15550009001", "one")
    for body in ("two", "three"):
        await desk.writes_and_waits("15550009001", body)
    sent = await desk.send(
        {"conversation_id": conversation["id"], "type": "text", "text": {"body": "four"}}
    )
    assert sent.status_code == 202, sent.text
    path = f"/conversations/{conversation['id']}/messages"

    newest_first = (await desk.get(path)).json()
    assert [m["text"] for m in newest_first["data"]] == ["four", "three", "two", "one"]
    assert [m["direction"] for m in newest_first["data"]] == ["out", "in", "in", "in"]
    assert newest_first["next_cursor"] is None
    inbound = newest_first["data"][-1]
    assert inbound["status"] == "received"
    assert inbound["author"]["type"] == "contact"
    assert inbound["wamid"].startswith("wamid.")

    texts: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"order": "asc", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await desk.get(path, **params)).json()
        texts += [m["text"] for m in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert texts == ["one", "two", "three", "four"]

    older = (await desk.get(path, limit=2)).json()
    rest = (await desk.get(path, limit=2, cursor=older["next_cursor"])).json()
    assert [m["text"] for m in rest["data"]] == ["two", "one"]


async def test_another_workspace_sees_nothing(
    platform: PlatformServer, desk: Desk, http: httpx.AsyncClient
) -> None:
    conversation = await desk.writes_and_waits("15550010001", "private")
    sent = await desk.send(
        {"conversation_id": conversation["id"], "type": "text", "text": {"body": "hello"}}
    )
    message_id = sent.json()["id"]
    _, other_key = await make_workspace(platform, name="Other")
    other = auth(other_key)
    conversation_path = f"/api/v1/conversations/{conversation['id']}"

    listed = await http.get("/api/v1/conversations", headers=other)
    assert listed.json()["data"] == []
    for method, path, body in [
        ("GET", conversation_path, None),
        ("GET", f"{conversation_path}/messages", None),
        ("GET", f"{conversation_path}/events", None),
        ("GET", f"{conversation_path}/notes", None),
        ("POST", f"{conversation_path}/notes", {"body": "peek"}),
        ("POST", f"{conversation_path}/assign", {"user_id": None}),
        ("POST", f"{conversation_path}/close", None),
        ("POST", f"{conversation_path}/reopen", None),
        ("GET", f"/api/v1/messages/{message_id}", None),
        (
            "POST",
            "/api/v1/messages",
            {"conversation_id": conversation["id"], "text": {"body": "hijack"}},
        ),
        (
            "POST",
            "/api/v1/messages",
            {"to": "15550010001", "number_id": desk.number["id"], "text": {"body": "hijack"}},
        ),
    ]:
        response = await http.request(method, path, headers=other, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    unchanged = await desk.get(f"/conversations/{conversation['id']}")
    assert unchanged.json()["status"] == "open"
    thread = await desk.get(f"/conversations/{conversation['id']}/messages")
    assert len(thread.json()["data"]) == 2

    no_key = await http.get(conversation_path)
    assert no_key.status_code == 401
