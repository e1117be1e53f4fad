"""`/api/v1/teams` and `/api/v1/presence`: teams and their members, who is online; scoped
to the API key's workspace."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx

from ovillo.core.clock import ControllableClock
from ovillo.core.runtime import Runtime
from ovillo.inbox import presence
from ovillo.server import PlatformServer
from tests.api.conversing import Desk
from tests.factories import auth, make_user, make_workspace


async def test_teams_created_filled_and_kept_to_their_workspace(
    desk: Desk, platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    zoe = await make_user(platform, workspace_id=desk.workspace_id, name="Zoe", role="agent")
    ana = await make_user(platform, workspace_id=desk.workspace_id, name="Ana", role="agent")
    other_workspace, other_key = await make_workspace(platform, name="Other")
    stranger = await make_user(platform, workspace_id=other_workspace, name="Eve")

    created = await desk.post("/teams", {"name": "  Ventas   norte "})
    assert created.status_code == 201, created.text
    team = created.json()
    assert (team["name"], team["members"]) == ("Ventas norte", [])
    path = f"/api/v1/teams/{team['id']}"

    taken = await desk.post("/teams", {"name": "Ventas norte"})
    assert (taken.status_code, taken.json()["code"]) == (409, "team_name_taken")
    empty = await desk.post("/teams", {"name": "   "})
    assert (empty.status_code, empty.json()["code"]) == (422, "invalid_team_name")

    for user in (zoe, ana, zoe):  # twice: nothing changes
        added = await http.put(f"{path}/members/{user}", headers=desk.headers)
        assert added.status_code == 200, added.text
    assert [m["name"] for m in added.json()["members"]] == ["Ana", "Zoe"]
    foreign = await http.put(f"{path}/members/{stranger}", headers=desk.headers)
    assert (foreign.status_code, foreign.json()["code"]) == (422, "invalid_team_member")

    removed = await http.delete(f"{path}/members/{zoe}", headers=desk.headers)
    assert removed.status_code == 200, removed.text
    assert [m["id"] for m in removed.json()["members"]] == [str(ana)]
    listed = (await desk.get("/teams")).json()["data"]
    assert [(t["name"], [m["name"] for m in t["members"]]) for t in listed] == [
        ("Ventas norte", ["Ana"])
    ]
    assert (await desk.get(f"/teams/{team['id']}")).json() == listed[0]

    # Another workspace sees none of it, and cannot change it.
    assert (await http.get("/api/v1/teams", headers=auth(other_key))).json()["data"] == []
    for response in (
        await http.get(path, headers=auth(other_key)),
        await http.put(f"{path}/members/{stranger}", headers=auth(other_key)),
        await http.delete(f"{path}/members/{ana}", headers=auth(other_key)),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "team_not_found")


async def test_presence_lists_who_has_the_inbox_open(
    desk: Desk, platform: PlatformServer, platform_runtime: Runtime, http: httpx.AsyncClient
) -> None:
    clock = platform.clock
    assert isinstance(clock, ControllableClock)
    zoe = await make_user(platform, workspace_id=desk.workspace_id, name="Zoe", role="agent")
    ana = await make_user(platform, workspace_id=desk.workspace_id, name="Ana", role="agent")
    await make_user(platform, workspace_id=desk.workspace_id, name="Bob", role="agent")
    other_workspace, other_key = await make_workspace(platform, name="Other")
    eve = await make_user(platform, workspace_id=other_workspace, name="Eve")
    assert (await desk.get("/presence")).json()["online"] == []

    async def opens_the_inbox(workspace_id: uuid.UUID, user_id: uuid.UUID) -> None:
        async with platform_runtime.sessionmaker() as session:
            await presence.report_presence(
                session=session, workspace_id=workspace_id, user_id=user_id,
                conversation_id=None, typing=False, now=clock.now(),
            )  # fmt: skip

    await opens_the_inbox(desk.workspace_id, zoe)
    await opens_the_inbox(desk.workspace_id, ana)
    await opens_the_inbox(other_workspace, eve)
    online = (await desk.get("/presence")).json()["online"]
    assert online == [{"id": str(ana), "name": "Ana"}, {"id": str(zoe), "name": "Zoe"}]
    theirs = (await http.get("/api/v1/presence", headers=auth(other_key))).json()["online"]
    assert [u["name"] for u in theirs] == ["Eve"]

    # Not heard from for longer than ONLINE_FOR: offline; Zoe's page reports itself again.
    clock.advance(presence.ONLINE_FOR + timedelta(seconds=1))
    await opens_the_inbox(desk.workspace_id, zoe)
    assert [u["name"] for u in (await desk.get("/presence")).json()["online"]] == ["Zoe"]
