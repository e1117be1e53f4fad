"""The inbox's teamwork over HTTP: teams, round robin, presence and each agent's unread
count, driven through the pages as a browser would (the live side is in
tests/e2e/test_teamwork.py). Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx

from ovillo.accounts import teams as teams_service
from ovillo.accounts.models import Team
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.server import PlatformServer
from tests.api.conversing import Desk, open_desk
from tests.api.test_events import LIVE_WITHIN, follow
from tests.api.test_web_pages import PASSWORD, csrf_of, signed_in
from tests.factories import make_user


class Agent:
    """A signed-in browser of one user, with the page's CSRF token at hand."""

    def __init__(self, client: httpx.AsyncClient, user_id: uuid.UUID, token: str) -> None:
        self.client = client
        self.user_id = user_id
        self.token = token

    async def post(self, path: str, **data: str) -> httpx.Response:
        return await self.client.post(path, data={**data, "csrf_token": self.token})

    async def beat(self, conversation_id: object = "", **data: str) -> httpx.Response:
        return await self.post("/inbox/presence", conversation_id=str(conversation_id), **data)


async def agent(
    platform: PlatformServer, workspace_id: uuid.UUID, name: str, role: str = "agent"
) -> Agent:
    email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@example.com"
    user_id = await make_user(
        platform, workspace_id=workspace_id, email=email, name=name, password=PASSWORD, role=role
    )
    client = await signed_in(platform, email)
    token = csrf_of((await client.get("/settings/profile")).text)
    return Agent(client, user_id, token)


async def new_team(admin: Agent, name: str, *members: Agent) -> str:
    answer = await admin.post("/settings/teams", name=name)
    assert answer.status_code == 303, answer.text
    page = (await admin.client.get("/settings/teams")).text
    found = re.search(r'id="team-([0-9a-f-]{36})">\s*<h2>' + re.escape(name) + "</h2>", page)
    assert found is not None, page
    team_id = found.group(1)
    for member in members:
        added = await admin.post(f"/settings/teams/{team_id}/members", user_id=str(member.user_id))
        assert added.status_code == 303, added.text
    return team_id


async def close_all(*agents: Agent) -> None:
    for each in agents:
        await each.client.aclose()


async def test_teams_are_kept_by_admins_shown_to_agents_and_filter_the_inbox(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    owner = await agent(platform, desk.workspace_id, "Olga", role="owner")
    ana = await agent(platform, desk.workspace_id, "Ana")
    elsewhere = await open_desk(platform, http, emulator_http)
    stranger = await agent(platform, elsewhere.workspace_id, "Sam", role="owner")
    try:
        sales = await new_team(owner, "Sales", ana)
        support = await new_team(owner, "Support")
        # A taken name or an empty one is said in plain words, nothing changes.
        taken = await owner.post("/settings/teams", name=" Sales ")
        assert taken.status_code == 409
        assert "A team with this name already exists." in taken.text
        empty = await owner.post("/settings/teams", name="   ")
        assert empty.status_code == 422
        renamed = await owner.post(f"/settings/teams/{support}/name", name="Help <desk>")
        assert renamed.status_code == 303
        # Agents see the teams and their members, and cannot change them.
        page = await ana.client.get("/settings/teams")
        assert page.status_code == 200
        assert "Help &lt;desk&gt;" in page.text
        assert "Ana" in page.text
        assert 'action="/settings/teams"' not in page.text
        assert (await ana.post("/settings/teams", name="Mine")).status_code == 403
        # Another workspace sees none of it, and cannot touch it.
        theirs = await stranger.client.get("/settings/teams")
        assert "Sales" not in theirs.text
        assert "Help" not in theirs.text
        assert (await stranger.post(f"/settings/teams/{sales}/delete")).status_code == 404
        assert (
            await stranger.post(f"/settings/teams/{sales}/members", user_id=str(stranger.user_id))
        ).status_code == 404
        # Nor can a user of another workspace join this one's team.
        foreign = await owner.post(
            f"/settings/teams/{sales}/members", user_id=str(stranger.user_id)
        )
        assert foreign.status_code == 422
        assert "Choose an active teammate." in foreign.text

        conversation = await desk.writes_and_waits("5215512340001", "quiero precios")
        other = await desk.writes_and_waits("5215512340002", "hola")
        moved = await ana.post(f"/inbox/{conversation['id']}/team", team_id=sales)
        assert moved.status_code == 303
        assert (await desk.conversation_with("5215512340001"))["team"]["id"] == sales  # type: ignore[index]
        thread = (await ana.client.get(f"/inbox/{conversation['id']}")).text
        assert "Team: Sales" in thread
        assert "Ana moved the conversation to the team Sales" in thread
        listed = (await ana.client.get("/inbox", params={"view": "all", "team": sales})).text
        assert conversation["id"] in listed
        assert other["id"] not in listed
        # Another workspace's team is no team here.
        refused = await stranger.post(f"/inbox/{conversation['id']}/team", team_id=sales)
        assert refused.status_code == 404

        deleted = await owner.post(f"/settings/teams/{sales}/delete")
        assert deleted.status_code == 303
        assert (await desk.conversation_with("5215512340001"))["team"] is None  # type: ignore[index]
    finally:
        await close_all(owner, ana, stranger)


async def round_robin_on(owner: Agent, desk: Desk, team_id: str) -> None:
    answer = await owner.post(
        "/settings/teams/round-robin", channel_id=desk.number["id"], team_id=team_id
    )
    assert answer.status_code == 303, answer.text


async def test_round_robin_takes_turns_among_online_agents_only(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    owner = await agent(platform, desk.workspace_id, "Olga", role="owner")
    ana = await agent(platform, desk.workspace_id, "Ana")
    beto = await agent(platform, desk.workspace_id, "Beto")
    carla = await agent(platform, desk.workspace_id, "Carla")  # in the team, never online
    try:
        team = await new_team(owner, "Ventas", ana, beto, carla)
        await round_robin_on(owner, desk, team)
        for online in (ana, beto):
            assert (await online.beat()).status_code == 204
        # The teams page says who is online: those two, not Carla (nor Olga, on no inbox page).
        teams_page = (await owner.client.get("/settings/teams")).text
        assert teams_page.count('class="badge online"') == 2
        order = sorted([ana.user_id, beto.user_id])
        names = {str(ana.user_id): "Ana", str(beto.user_id): "Beto"}
        seen = []
        for index in range(3):
            conversation = await desk.writes_and_waits(f"52155123410{index:02d}", "hola")
            assert conversation["team"]["id"] == team
            seen.append(uuid.UUID(conversation["assignee"]["id"]))
        assert seen == [order[0], order[1], order[0]]
        thread = (await ana.client.get(f"/inbox/{conversation['id']}")).text
        assert f"Assigned to {names[str(order[0])]} by round robin" in thread

        # A later message of the same conversation is not routed again.
        again = await desk.writes_and_waits("5215512341002", "otra cosa")
        assert uuid.UUID(again["assignee"]["id"]) == order[0]
        # A returning customer the business wrote to first (a new conversation that inherits
        # the closed one's window) is routed on their first answer too.
        closed = await desk.post(f"/conversations/{again['id']}/close")
        assert closed.status_code == 200, closed.text
        sent = await desk.send(
            {"to": "5215512341002", "number_id": desk.number["id"], "text": {"body": "¿Sigues?"}}
        )
        assert sent.status_code == 202, sent.text
        # Sent before the answer (else the send's preview could land after it); the pages
        # beat again, as they would while the clock moved on.
        await desk.wait_for_status(sent.json()["id"], "sent", "delivered", "read")
        for online in (ana, beto):
            await online.beat()
        answered = await desk.writes_and_waits("5215512341002", "sí")
        assert answered["id"] != again["id"]
        assert uuid.UUID(answered["assignee"]["id"]) == order[1]

        # Heartbeats stop (the pages closed without a word): after the expiry nobody is
        # online, and the next conversation waits in the team, unassigned.
        await desk.advance(31)
        waiting = await desk.writes_and_waits("5215512341099", "¿hay alguien?")
        assert waiting["team"]["id"] == team
        assert waiting["assignee"] is None
        thread = (await ana.client.get(f"/inbox/{waiting['id']}")).text
        assert "Nobody of the team was online" in thread

        # Round robin off: new conversations are nobody's, in no team.
        await round_robin_on(owner, desk, "")
        assert (await ana.beat()).status_code == 204
        plain = await desk.writes_and_waits("5215512341098", "hola")
        assert plain["team"] is None
        assert plain["assignee"] is None
    finally:
        await close_all(owner, ana, beto, carla)


async def test_two_turns_taken_at_once_go_to_different_agents(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    """Two ingestions opening conversations for one team at once: the team row's lock
    (PostgreSQL) or SQLite's one writer makes them take turns, never the same pick."""
    desk = await open_desk(platform, http, emulator_http)
    ana_id = await make_user(platform, workspace_id=desk.workspace_id, name="Ana")
    beto_id = await make_user(platform, workspace_id=desk.workspace_id, name="Beto")
    engine = create_engine(platform.settings.db)
    sessions = create_sessionmaker(engine)
    now = platform.clock.now() if platform.clock else None
    assert now is not None
    try:
        async with sessions() as session:
            team = await teams_service.create_team(
                session=session, workspace_id=desk.workspace_id, name="Ventas", now=now
            )
            for user_id in (ana_id, beto_id):
                await teams_service.add_member(
                    session=session, workspace_id=desk.workspace_id, team_id=team.id,
                    user_id=user_id, now=now,
                )  # fmt: skip

        async def take() -> uuid.UUID | None:
            async with sessions() as session:
                chosen = await teams_service.do_take_turn(
                    session=session, workspace_id=desk.workspace_id, team_id=team.id,
                    online={ana_id, beto_id},
                )  # fmt: skip
                await session.commit()
                return chosen

        picks = await asyncio.gather(take(), take())
        assert sorted(p for p in picks if p is not None) == sorted([ana_id, beto_id])
        async with sessions() as session:
            stored = await session.get(Team, team.id)
            assert stored is not None
            assert stored.round_robin_last_user_id == max(ana_id, beto_id)
    finally:
        await engine.dispose()


async def test_presence_shows_who_is_viewing_and_typing_within_the_workspace(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    ana = await agent(platform, desk.workspace_id, "Ana")
    beto = await agent(platform, desk.workspace_id, "Beto")
    elsewhere = await open_desk(platform, http, emulator_http)
    stranger = await agent(platform, elsewhere.workspace_id, "Sam")
    try:
        conversation = await desk.writes_and_waits("5215512342001", "hola")
        cid = conversation["id"]
        # The change goes out live to the workspace, and to no other.
        async with follow(http, desk.headers) as ours, follow(http, elsewhere.headers) as theirs:
            await ana.beat(cid)
            arrived = await ours.next("presence_changed", within=LIVE_WITHIN, conversation_id=cid)
            assert arrived["data"]["data"]["user_id"] == str(ana.user_id)
            await stranger.beat()
            own = await theirs.next("presence_changed", within=LIVE_WITHIN)
            assert own["data"]["data"]["user_id"] == str(stranger.user_id)
            assert all(
                event["data"]["workspace_id"] == str(elsewhere.workspace_id)
                for event in theirs.drained()
            )
        # Ana's page reports; her own line does not name her.
        answer = await ana.beat(cid)
        assert answer.status_code == 200
        assert "Ana" not in answer.text
        assert "Ana is viewing" in (await beto.client.get(f"/inbox/{cid}")).text
        # Beto's heartbeat answers with who else is there.
        assert "Ana is viewing" in (await beto.beat(cid)).text
        await ana.beat(cid, typing="1")
        line = (await beto.client.get(f"/inbox/{cid}/presence")).text
        assert "Ana is typing…" in line
        assert "Ana is viewing" not in line
        await ana.beat(cid, typing="0")
        assert "Ana is viewing" in (await beto.client.get(f"/inbox/{cid}/presence")).text
        # She leaves: gone at once; a page that vanished without a word, after the expiry.
        assert (await ana.beat(cid, leave="1")).status_code == 204
        assert "Ana" not in (await beto.client.get(f"/inbox/{cid}/presence")).text
        # A form's post reloads her page on the same conversation; the new page reports
        # before the old one's goodbye arrives: the late goodbye does not hide her.
        await ana.beat(cid, page="old-page")
        await ana.beat(cid, page="new-page")
        assert (await ana.beat(cid, leave="1", page="old-page")).status_code == 204
        assert "Ana is viewing" in (await beto.client.get(f"/inbox/{cid}/presence")).text
        assert (await ana.beat(cid, leave="1", page="new-page")).status_code == 204
        assert "Ana" not in (await beto.client.get(f"/inbox/{cid}/presence")).text
        await ana.beat(cid)
        await desk.advance(31)
        assert "Ana" not in (await beto.client.get(f"/inbox/{cid}/presence")).text

        # Nothing of it crosses workspaces: not the line, not a heartbeat on it.
        await ana.beat(cid)
        assert (await stranger.client.get(f"/inbox/{cid}/presence")).status_code == 404
        assert (await stranger.beat(cid)).status_code == 404
        assert (await ana.beat("not-an-id")).status_code == 422
    finally:
        await close_all(ana, beto, stranger)


UNREAD = re.compile(r'href="/inbox/([0-9a-f-]{36})\?view=all".*?</a>', re.S)


def unread_badges(html: str) -> dict[str, int]:
    badges: dict[str, int] = {}
    for match in UNREAD.finditer(html):
        found = re.search(r'class="badge unread"[^>]*>(\d+)<', match.group(0))
        badges[match.group(1)] = int(found.group(1)) if found else 0
    return badges


async def test_each_agent_has_its_own_unread_count(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    ana = await agent(platform, desk.workspace_id, "Ana")
    beto = await agent(platform, desk.workspace_id, "Beto")
    try:
        await desk.customer_writes("5215512343001", "uno")
        conversation = await desk.writes_and_waits("5215512343001", "dos")
        cid = conversation["id"]

        async def badge(who: Agent) -> int:
            page = await who.client.get("/inbox", params={"view": "all"})
            return unread_badges(page.text)[cid]

        assert await badge(ana) == 2
        assert await badge(beto) == 2
        assert (await ana.client.get(f"/inbox/{cid}")).status_code == 200
        assert await badge(ana) == 0
        assert await badge(beto) == 2
        await desk.writes_and_waits("5215512343001", "tres")
        assert await badge(ana) == 1
        assert await badge(beto) == 3
    finally:
        await close_all(ana, beto)
