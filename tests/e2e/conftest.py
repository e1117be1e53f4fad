"""Browser tests: Playwright drives Debian's chromium against the platform served for real.

One platform and one browser per module (starting them is the slow part), a fresh browser
context (cookies, storage) per test, and each test makes its own workspace and users, so
tests share nothing they can see. The platform runs on SQLite: the pages' queries are the
services', which the platform tests run on both databases.

Playwright is used through its sync API from plain (non-async) tests; database set-up runs
in its own thread and loop (``tests.databases.run_coroutine``).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from ovillo.accounts.models import Role
from ovillo.core.clock import ControllableClock
from ovillo.core.settings import EmulatorSettings, ServerSettings
from ovillo.emulator.emulator import EmulatorConfig
from ovillo.server import PlatformServer, serve_in_thread
from tests.api.conversing import Desk
from tests.databases import migrated_sqlite_template, run_coroutine, settings_for, sqlite_copy
from tests.factories import connect_emulator_channel, make_user, make_workspace

CHROMIUM = os.environ.get("OVILLO_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
# Generous for a loaded CI machine; a passing step takes milliseconds.
TIMEOUT_MS = 15_000
_emails = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Person:
    """A user of a workspace, and what they sign in with."""

    workspace_id: uuid.UUID
    api_key: str
    user_id: uuid.UUID
    email: str
    name: str
    password: str


@pytest.fixture(scope="module")
def e2e_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformServer]:
    directory = tmp_path_factory.mktemp("e2e")
    url = sqlite_copy(migrated_sqlite_template(directory), directory)
    settings = settings_for(url, directory / "var").model_copy(
        update={
            "server": ServerSettings(host="127.0.0.1", port=0),
            "emulator": EmulatorSettings(enabled=True, host="127.0.0.1", port=0),
        }
    )
    server = PlatformServer(
        settings, clock=ControllableClock(), emulator_config=EmulatorConfig(seed=7)
    )
    with serve_in_thread(server) as running:
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"the browser tests need chromium at {CHROMIUM}: run `make test` (it installs it "
            "when it can) or `sudo apt-get install -y chromium`, or set OVILLO_TEST_CHROMIUM"
        )
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # --no-sandbox: CI runs as root, where chromium refuses its sandbox.
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
    )
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser, e2e_platform: PlatformServer) -> Iterator[BrowserContext]:
    opened = browser.new_context(base_url=e2e_platform.url, locale="en-US")
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def add_person(
    platform: PlatformServer,
    *,
    role: Role = Role.OWNER,
    workspace: tuple[uuid.UUID, str] | None = None,
    name: str = "Ana Owner",
    timezone: str = "America/Bogota",
) -> Person:
    """A user (of a new workspace, unless ``workspace`` is given) who can sign in."""
    email = f"person{next(_emails)}-{uuid.uuid4().hex[:8]}@example.com"

    async def create() -> Person:
        workspace_id, api_key = workspace or await make_workspace(
            platform, name=f"Workspace of {name}", timezone=timezone
        )
        user_id = await make_user(
            platform, workspace_id=workspace_id, email=email, name=name, role=role,
            password=PASSWORD,
        )  # fmt: skip
        return Person(workspace_id, api_key, user_id, email, name, PASSWORD)

    return run_coroutine(create())


def connect_number(platform: PlatformServer, person: Person) -> dict[str, Any]:
    """A number of the emulator connected to ``person``'s workspace."""

    async def connect() -> dict[str, Any]:
        assert platform.emulator is not None
        async with (
            httpx.AsyncClient(base_url=platform.url, timeout=15) as http,
            httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as emulator_http,
        ):
            return await connect_emulator_channel(http, emulator_http, person.api_key)

    return run_coroutine(connect())


def customer_writes(
    platform: PlatformServer,
    person: Person,
    number: dict[str, Any],
    wa_id: str,
    body: str,
    **extra: Any,
) -> None:
    """A customer writes in through the emulator; returns once the inbox has the message."""

    async def write() -> None:
        assert platform.emulator is not None
        async with (
            httpx.AsyncClient(base_url=platform.url, timeout=15) as http,
            httpx.AsyncClient(base_url=platform.emulator.url, timeout=15) as emulator_http,
        ):
            desk = Desk(http, emulator_http, person.workspace_id, person.api_key, number)
            await desk.writes_and_waits(wa_id, body, **extra)

    run_coroutine(write())


def sign_in(page: Page, person: Person, *, password: str | None = None) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(password or person.password)
    page.get_by_role("button", name="Sign in").click()
