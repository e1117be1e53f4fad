"""Builders for tests: a workspace with an API key, a number connected through the emulator.

Async, and run in the test's own event loop: they open their own engine (the platform's
lives in its server thread's loop) and talk to the app and the emulator over HTTP, as a
customer would.

    workspace_id, api_key = await make_workspace(platform)
    number = await connect_emulator_channel(http, emulator_http, api_key)
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from ovillo.accounts import service as accounts_service
from ovillo.channels.models import Channel
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.ids import new_token
from ovillo.core.settings import DatabaseSettings
from ovillo.server import PlatformServer

# From Meta's fictional test range (+1 555-01XX) upwards, unique within a test run.
_display_numbers = itertools.count(100)


def next_display_number() -> str:
    """A display number like Meta's test numbers, unique within the test run."""
    return f"+1 555-{next(_display_numbers) % 10_000:04d}"


def stub_channel(*, workspace_id: uuid.UUID, now: datetime, **fields: Any) -> Channel:
    """A number's row, to add to a session, with placeholder secrets and no reachable Graph
    API: for tests that never send. ``fields`` set any column."""
    values: dict[str, Any] = {
        "phone_number_id": uuid.uuid4().hex[:15],
        "waba_id": "1",
        "display_phone_number": "+1 555-0100",
        "verified_name": "Acme",
        "access_token_encrypted": "x",
        "app_secret_encrypted": "x",
        "webhook_verify_token": "x",
        "graph_api_url": "http://127.0.0.1:9",
        "graph_api_version": "v23.0",
        "created_at": now,
        "updated_at": now,
    }
    return Channel(workspace_id=workspace_id, **{**values, **fields})


async def make_workspace(
    db: str | AsyncEngine | PlatformServer,
    *,
    name: str = "Acme",
    timezone: str = "UTC",
    api_key_name: str = "tests",
    now: datetime | None = None,
) -> tuple[uuid.UUID, str]:
    """A new workspace and the plaintext of an API key of it.

    ``db`` is a database URL, an engine of the test's loop, or the running platform (whose
    clock then gives ``now``).
    """
    if isinstance(db, PlatformServer):
        if now is None and db.clock is not None:
            now = db.clock.now()
        db = db.settings.db.url
    moment = now or datetime.now(UTC)
    engine = create_engine(DatabaseSettings(url=db)) if isinstance(db, str) else db
    try:
        async with create_sessionmaker(engine)() as session:
            workspace = await accounts_service.create_workspace(
                session=session, name=name, timezone=timezone, now=moment
            )
            _, plaintext = await accounts_service.create_api_key(
                session=session, workspace_id=workspace.id, name=api_key_name, now=moment
            )
    finally:
        if isinstance(db, str):
            await engine.dispose()
    return workspace.id, plaintext


async def make_user(
    platform: PlatformServer,
    *,
    workspace_id: uuid.UUID,
    email: str | None = None,
    name: str = "Ana Owner",
    password: str = "correct horse battery",
    role: str = "owner",
) -> uuid.UUID:
    """A user of the workspace who can sign in to the pages; their id."""
    engine = create_engine(platform.settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            user = await accounts_service.create_user(
                session=session,
                workspace_id=workspace_id,
                email=email or f"user-{new_token(6)}@example.com".lower(),
                name=name,
                password=password,
                role=role,
                now=platform.clock.now() if platform.clock else datetime.now(UTC),
            )
    finally:
        await engine.dispose()
    return user.id


def contact_row(
    *,
    workspace_id: uuid.UUID,
    wa_id: str,
    now: datetime,
    country: str = "US",
    name: str | None = None,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """A contact as a row for ``insert(Contact)``: thousands of them in one statement, where
    the service would take one at a time."""
    return {
        "id": uuid.uuid4(),
        "workspace_id": workspace_id,
        "wa_id": wa_id,
        "phone_e164": f"+{wa_id}",
        "country": country,
        "name": name,
        "attributes": {},
        "tags": tags or [],
        "opt_outs": {},
        "created_at": now,
        "updated_at": now,
    }


def offer_template(name: str) -> dict[str, Any]:
    """A marketing template (``{{first_name}}`` in its body) as ``POST /templates`` takes it."""
    return {
        "name": name,
        "language": "en_US",
        "category": "MARKETING",
        "parameter_format": "NAMED",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{first_name}}, spring prices are here.",
                "example": {
                    "body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]
                },
            }
        ],
    }


def auth(api_key: str) -> dict[str, str]:
    """The headers that authenticate a REST API call with ``api_key``."""
    return {"Authorization": f"Bearer {api_key}"}


async def create_emulator_number(
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
    *,
    display_phone_number: str | None = None,
    verified_name: str = "Acme",
    app_secret: str | None = None,
    **emulator_fields: Any,
) -> dict[str, Any]:
    """A number in the emulator whose webhooks go to the platform behind ``http``.

    Returns the emulator's answer (``phone_number_id``, ``waba_id``, ``business_id``,
    ``access_token``) plus the ``app_secret`` and ``display_phone_number`` used.
    """
    secret = app_secret or new_token(16)
    display = display_phone_number or next_display_number()
    response = await emulator_http.post(
        "/_emulator/phone_numbers",
        json={
            "display_phone_number": display,
            "verified_name": verified_name,
            "webhook_url": f"{str(http.base_url).rstrip('/')}/webhooks/whatsapp",
            "app_secret": secret,
            **emulator_fields,
        },
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return {**created, "app_secret": secret, "display_phone_number": display}


async def connect_emulator_channel(
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
    api_key: str,
    *,
    display_phone_number: str | None = None,
    verified_name: str = "Acme",
    app_secret: str | None = None,
    **emulator_fields: Any,
) -> dict[str, Any]:
    """A number created in the emulator and connected through ``POST /api/v1/numbers``.

    Returns the API's answer for the number (``id``, ``phone_number_id``, ``waba_id``,
    ``webhook_verify_token``...) plus what only the test may know: ``access_token`` and
    ``app_secret``. Extra keyword arguments go to the emulator (``tier``, ``quality``,
    ``throughput_mps``, ``waba_id``...).
    """
    number = await create_emulator_number(
        http,
        emulator_http,
        display_phone_number=display_phone_number,
        verified_name=verified_name,
        app_secret=app_secret,
        **emulator_fields,
    )
    response = await http.post(
        "/api/v1/numbers",
        headers=auth(api_key),
        json={
            "phone_number_id": number["phone_number_id"],
            "waba_id": number["waba_id"],
            "access_token": number["access_token"],
            "app_secret": number["app_secret"],
        },
    )
    assert response.status_code == 201, response.text
    connected: dict[str, Any] = response.json()
    return {
        **connected,
        "access_token": number["access_token"],
        "app_secret": number["app_secret"],
        "business_id": number["business_id"],
    }
