"""The demo `make run` starts: workspace, owner, API key, number and customers who write in."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo import demo
from ovillo.accounts.models import ApiKey, Role, User, Workspace
from ovillo.channels.models import Channel
from ovillo.core.clock import ControllableClock, wait_for
from ovillo.core.crypto import verify_password
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import Settings
from ovillo.emulator.emulator import EmulatorConfig
from ovillo.inbox.models import Conversation, Direction, Message
from ovillo.server import PlatformServer, serve_in_thread
from tests.factories import auth, connect_emulator_channel


@pytest.fixture
def demo_settings(platform_settings: Settings) -> Settings:
    return platform_settings.model_copy(update={"demo": True})


@contextmanager
def demo_platform(settings: Settings) -> Iterator[PlatformServer]:
    """A platform as `make run` starts it; each call brings a new, empty emulator."""
    server = PlatformServer(
        settings, clock=ControllableClock(), emulator_config=EmulatorConfig(seed=7)
    )
    with serve_in_thread(server) as running:
        yield running


def access_of(platform: PlatformServer) -> demo.DemoAccess:
    """What the platform showed on start."""
    app = platform.server.config.app
    assert isinstance(app, FastAPI)
    access = app.state.demo
    assert isinstance(access, demo.DemoAccess), "the demo was not set up"
    return access


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = create_engine(settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def count(session: AsyncSession, model: Any, *where: Any) -> int:
    total = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(total or 0)


async def list_numbers(platform: PlatformServer, api_key: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=platform.url, timeout=15) as http:
        response = await http.get("/api/v1/numbers", headers=auth(api_key))
    assert response.status_code == 200, response.text
    numbers: list[dict[str, Any]] = response.json()["data"]
    return numbers


def emulator_url(platform: PlatformServer) -> str:
    assert platform.emulator is not None
    return platform.emulator.url


async def emulator_has_number(platform: PlatformServer, access: demo.DemoAccess) -> bool:
    """Whether this run's emulator knows the number and its first demo customer."""
    async with httpx.AsyncClient(base_url=emulator_url(platform), timeout=15) as emulator:
        customer = await emulator.get(f"/_emulator/customers/{access.customers[0].wa_id}")
        written = await emulator.post(
            f"/_emulator/customers/{access.customers[0].wa_id}/messages",
            json={"phone_number_id": access.phone_number_id, "type": "text",
                  "text": {"body": "Still open?"}},
        )  # fmt: skip
    return customer.status_code == 200 and written.status_code == 201


async def test_the_demo_exists_after_start(demo_settings: Settings) -> None:
    with demo_platform(demo_settings) as platform:
        access = access_of(platform)
        numbers = await list_numbers(platform, access.api_key)
        assert await emulator_has_number(platform, access)

    assert [(n["id"], n["phone_number_id"]) for n in numbers] == [
        (str(access.channel_id), access.phone_number_id)
    ]
    assert numbers[0]["display_phone_number"] == demo.DISPLAY_PHONE_NUMBER
    assert numbers[0]["graph_api_url"] == emulator_url(platform)
    assert len(access.customers) == demo.CUSTOMER_COUNT
    assert access.number_created
    async with database(demo_settings) as session:
        workspace = await session.get(Workspace, access.workspace_id)
        owner = await session.scalar(select(User).where(User.email == demo.OWNER_EMAIL))
    assert workspace is not None
    assert workspace.name == demo.WORKSPACE_NAME
    assert owner is not None
    assert owner.workspace_id == workspace.id
    assert owner.role == Role.OWNER
    assert verify_password(owner.password_hash, access.owner_password)
    assert owner.password_hash != access.owner_password


async def test_the_credentials_file_keeps_what_is_shown_for_this_user_only(
    demo_settings: Settings,
) -> None:
    with demo_platform(demo_settings) as platform:
        access = access_of(platform)

    path = demo.credentials_path(demo_settings.data_dir)
    assert access.credentials_path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo.read_credentials(path) == demo.DemoCredentials(
        owner_password=access.owner_password, api_key=access.api_key
    )
    shown = "\n".join(demo.instructions(access, base_url=platform.url))
    for needed in (access.owner_email, access.owner_password, access.api_key, platform.url):
        assert needed in shown


async def test_the_demo_owner_signs_in_to_the_pages_with_the_password_shown(
    demo_settings: Settings,
) -> None:
    with demo_platform(demo_settings) as platform:
        access = access_of(platform)
        async with httpx.AsyncClient(base_url=platform.url, timeout=15) as browser:
            form = await browser.get("/sign-in")
            token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text)
            assert token is not None
            answer = await browser.post(
                "/sign-in",
                data={
                    "email": access.owner_email,
                    "password": access.owner_password,
                    "csrf_token": token.group(1),
                },
                follow_redirects=True,
            )
            assert answer.status_code == 200
            assert str(answer.url).endswith("/inbox")
            assert demo.WORKSPACE_NAME in answer.text


async def test_a_second_start_reuses_the_workspace_and_reconnects_the_number(
    demo_settings: Settings,
) -> None:
    with demo_platform(demo_settings) as first_run:
        first = access_of(first_run)
    with demo_platform(demo_settings) as second_run:
        second = access_of(second_run)
        numbers = await list_numbers(second_run, second.api_key)
        assert await emulator_has_number(second_run, second)

    assert second.workspace_id == first.workspace_id
    assert (second.owner_password, second.api_key) == (first.owner_password, first.api_key)
    # The new emulator forgot the number: it was made again, on the same channel row.
    assert second.channel_id == first.channel_id
    assert second.phone_number_id != first.phone_number_id
    assert second.number_created
    assert [n["phone_number_id"] for n in numbers] == [second.phone_number_id]
    assert numbers[0]["graph_api_url"] == emulator_url(second_run) != emulator_url(first_run)
    async with database(demo_settings) as session:
        assert await count(session, Workspace, Workspace.name == demo.WORKSPACE_NAME) == 1
        assert await count(session, User, User.email == demo.OWNER_EMAIL) == 1
        assert await count(session, ApiKey, ApiKey.workspace_id == first.workspace_id) == 1
        assert await count(session, Channel) == 1


async def test_a_restart_reconnects_a_disconnected_demo_number_and_leaves_others_alone(
    demo_settings: Settings,
) -> None:
    with demo_platform(demo_settings) as first_run:
        first = access_of(first_run)
        async with (
            httpx.AsyncClient(base_url=first_run.url, timeout=15) as http,
            httpx.AsyncClient(base_url=emulator_url(first_run), timeout=15) as emulator,
        ):
            own = await connect_emulator_channel(http, emulator, first.api_key)
            gone = await http.delete(
                f"/api/v1/numbers/{first.channel_id}", headers=auth(first.api_key)
            )
            assert gone.status_code == 204, gone.text
    with demo_platform(demo_settings) as second_run:
        second = access_of(second_run)
        numbers = await list_numbers(second_run, second.api_key)

    assert second.channel_id == first.channel_id
    by_id = {n["id"]: n for n in numbers}
    assert by_id[str(second.channel_id)]["phone_number_id"] == second.phone_number_id
    assert by_id[str(second.channel_id)]["graph_api_url"] == emulator_url(second_run)
    # Someone's own number in the demo workspace is theirs: never re-pointed.
    assert by_id[own["id"]]["phone_number_id"] == own["phone_number_id"]
    assert by_id[own["id"]]["graph_api_url"] == emulator_url(first_run)
    assert len(numbers) == 2


async def test_a_lost_credentials_file_gets_a_new_password_and_key(
    demo_settings: Settings,
) -> None:
    with demo_platform(demo_settings) as first_run:
        first = access_of(first_run)
    demo.credentials_path(demo_settings.data_dir).unlink()
    with demo_platform(demo_settings) as second_run:
        second = access_of(second_run)
        numbers = await list_numbers(second_run, second.api_key)

    assert second.workspace_id == first.workspace_id
    assert second.owner_password != first.owner_password
    assert second.api_key != first.api_key
    assert [n["id"] for n in numbers] == [str(first.channel_id)]
    assert demo.read_credentials(second.credentials_path) == demo.DemoCredentials(
        owner_password=second.owner_password, api_key=second.api_key
    )
    async with database(demo_settings) as session:
        owner = await session.scalar(select(User).where(User.email == demo.OWNER_EMAIL))
    assert owner is not None
    assert verify_password(owner.password_hash, second.owner_password)
    assert not verify_password(owner.password_hash, first.owner_password)


async def test_the_printed_api_key_lists_the_demo_number(demo_settings: Settings) -> None:
    with demo_platform(demo_settings) as platform:
        access = access_of(platform)
        async with httpx.AsyncClient(base_url=platform.url, timeout=15) as http:
            allowed = await http.get("/api/v1/numbers", headers=auth(access.api_key))
            refused = await http.get("/api/v1/numbers", headers=auth(access.api_key + "x"))
    assert allowed.status_code == 200
    assert [n["phone_number_id"] for n in allowed.json()["data"]] == [access.phone_number_id]
    assert refused.status_code == 401


async def test_simulated_customers_write_into_the_platforms_conversations(
    demo_settings: Settings,
) -> None:
    with demo_platform(demo_settings) as platform:
        access = access_of(platform)
        async with httpx.AsyncClient(base_url=emulator_url(platform), timeout=15) as emulator:
            # Their openers are spread over the first minutes: bring them all forward.
            response = await emulator.post("/_emulator/clock/advance", json={"seconds": 600})
            assert response.status_code == 200, response.text

        async with database(demo_settings) as session:

            async def all_wrote_in() -> bool:
                session.expire_all()
                conversations = await count(
                    session,
                    Conversation,
                    Conversation.workspace_id == access.workspace_id,
                    Conversation.channel_id == access.channel_id,
                )
                inbound = await count(
                    session,
                    Message,
                    Message.workspace_id == access.workspace_id,
                    Message.direction == Direction.INBOUND,
                )
                await session.rollback()
                return conversations == inbound == len(access.customers)

            await wait_for(all_wrote_in, within=60, what="every demo customer's first message")


def shown_curls(access: demo.DemoAccess, base_url: str) -> list[list[str]]:
    """The curl commands shown on start, split as a shell would."""
    lines = demo.instructions(access, base_url=base_url)
    return [shlex.split(line) for line in lines if line.strip().startswith("curl ")]


async def run_curl(curl: list[str]) -> httpx.Response:
    """Do what a shown ``curl -s [-X M] URL [-H h]... [-d body]`` line does."""
    method, url, headers, body = "GET", "", {}, None
    words = iter(curl[1:])
    for word in words:
        if word == "-X":
            method = next(words)
        elif word == "-H":
            name, _, value = next(words).partition(": ")
            headers[name] = value
        elif word == "-d":
            body = next(words)
        elif not word.startswith("-"):
            url = word
    async with httpx.AsyncClient(timeout=15) as client:
        return await client.request(method, url, headers=headers, content=body)


async def test_the_shown_curl_lines_list_answer_and_write_in(demo_settings: Settings) -> None:
    with demo_platform(demo_settings) as platform:
        access = access_of(platform)
        listing, answering, writing_in = shown_curls(access, platform.url)
        customer = access.customers[0].wa_id

        async def conversations() -> list[dict[str, Any]]:
            response = await run_curl(listing)
            assert response.status_code == 200, response.text
            found: list[dict[str, Any]] = response.json()["data"]
            return found

        async def customer_wrote_in() -> bool:
            return any(c["contact"]["wa_id"] == customer for c in await conversations())

        # The first customer writes 15 s after start on the shared clock: bring it forward.
        async with httpx.AsyncClient(base_url=emulator_url(platform), timeout=15) as emulator:
            advanced = await emulator.post("/_emulator/clock/advance", json={"seconds": 20})
            assert advanced.status_code == 200, advanced.text
        await wait_for(customer_wrote_in, within=60, what="the first customer's conversation")

        answered = await run_curl(answering)
        assert answered.status_code == 202, answered.text
        message_id = answered.json()["id"]
        assert answered.json()["warnings"] == [], "the customer's window should be open"

        async def delivered() -> bool:
            async with httpx.AsyncClient(base_url=platform.url, timeout=15) as http:
                response = await http.get(
                    f"/api/v1/messages/{message_id}", headers=auth(access.api_key)
                )
            status: str = response.json()["status"]
            return status in {"sent", "delivered", "read"}

        await wait_for(delivered, within=60, what="the answer to reach WhatsApp")

        written = await run_curl(writing_in)
        assert written.status_code == 201, written.text

        thread = next(c for c in await conversations() if c["contact"]["wa_id"] == customer)

        async def second_message_arrived() -> bool:
            # Read the thread, not its preview: the chatty customer also answers on its own.
            async with httpx.AsyncClient(base_url=platform.url, timeout=15) as http:
                response = await http.get(
                    f"/api/v1/conversations/{thread['id']}/messages",
                    headers=auth(access.api_key),
                )
            assert response.status_code == 200, response.text
            return any(
                m["direction"] == "in" and m["text"] == "Hi! Is the shop open today?"
                for m in response.json()["data"]
            )

        await wait_for(second_message_arrived, within=60, what="the customer's second message")


async def test_ovillo_serve_prints_a_login_and_key_that_work(tmp_path: Path) -> None:
    """`make run` as a new user meets it: the printed key lists the demo number."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("OVILLO_")}
    env.update(OVILLO_EMULATOR__PORT="0", OVILLO_LOG__JSON_OUTPUT="true")
    serve = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ovillo.cli", "serve", "--port", "0",
        cwd=tmp_path, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert serve.stderr is not None
    shown: dict[str, str] = {}
    try:
        async with asyncio.timeout(60):
            while "API key" not in shown:
                line = (await serve.stderr.readline()).decode()
                assert line, "ovillo serve exited before showing the demo"
                label, _, value = line.strip().partition(":")
                if label in {"Docs", "Owner", "API key"}:
                    shown[label] = value.split()[0]
        async with httpx.AsyncClient(timeout=15) as http:
            docs = await http.get(shown["Docs"])
            base_url = shown["Docs"].removesuffix("/docs")
            numbers = await http.get(f"{base_url}/api/v1/numbers", headers=auth(shown["API key"]))
    finally:
        serve.terminate()
        await serve.wait()
    assert docs.status_code == 200
    assert numbers.status_code == 200, numbers.text
    assert [n["display_phone_number"] for n in numbers.json()["data"]] == [
        demo.DISPLAY_PHONE_NUMBER
    ]
    assert shown["Owner"] == demo.OWNER_EMAIL
    kept = demo.read_credentials(tmp_path / "var" / demo.CREDENTIALS_FILE)
    assert kept is not None
    assert kept.api_key == shown["API key"]
