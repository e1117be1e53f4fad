"""API keys: who may call the REST API, and which workspace they see."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from ovillo.accounts import service as accounts_service
from ovillo.accounts.errors import EmailTakenError, WeakPasswordError
from ovillo.accounts.models import ApiKey, Role
from ovillo.core.crypto import verify_password
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import DatabaseSettings
from ovillo.server import PlatformServer
from tests.factories import auth, make_workspace


async def _api_key_row(platform: PlatformServer, api_key_id: str) -> ApiKey:
    engine = create_engine(platform.settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(api_key_id)))
            assert row is not None
            return row
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="ovillo"'),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 'Bearer realm="ovillo"'),
        (
            {"Authorization": "Bearer ovk_not-a-key-of-anyone-at-all-0123456789"},
            'Bearer realm="ovillo", error="invalid_token"',
        ),
        ({"Authorization": "Bearer short"}, 'Bearer realm="ovillo", error="invalid_token"'),
    ],
)
async def test_no_or_wrong_key_is_401_with_a_challenge(
    platform: PlatformServer, http: httpx.AsyncClient, headers: dict[str, str], challenge: str
) -> None:
    await make_workspace(platform)
    for path in ("/api/v1/numbers", "/api/v1/contacts", "/api/v1/workspace"):
        response = await http.get(path, headers=headers)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == challenge
        problem = response.json()
        assert problem["code"] == "invalid_api_key"
        assert problem["instance"] == path


async def test_a_key_works_until_revoked_and_records_its_use(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    workspace_id, api_key = await make_workspace(platform, name="Acme")
    workspace = await http.get("/api/v1/workspace", headers=auth(api_key))
    assert workspace.status_code == 200
    assert workspace.json()["id"] == str(workspace_id)
    assert workspace.json()["name"] == "Acme"

    created = await http.post("/api/v1/api-keys", headers=auth(api_key), json={"name": "CRM"})
    assert created.status_code == 201
    second = created.json()
    assert second["key"].startswith("ovk_")
    assert second["key"].startswith(second["prefix"])
    assert second["last_used_at"] is None

    assert (await http.get("/api/v1/contacts", headers=auth(second["key"]))).status_code == 200
    first_use = (await _api_key_row(platform, second["id"])).last_used_at
    assert first_use is not None

    # Within a minute the use is not written again; after it, it is.
    await http.get("/api/v1/contacts", headers=auth(second["key"]))
    assert (await _api_key_row(platform, second["id"])).last_used_at == first_use
    await emulator_http.post("/_emulator/clock/advance", json={"seconds": 61})
    await http.get("/api/v1/contacts", headers=auth(second["key"]))
    later_use = (await _api_key_row(platform, second["id"])).last_used_at
    assert later_use is not None
    assert later_use > first_use

    listed = (await http.get("/api/v1/api-keys", headers=auth(api_key))).json()["data"]
    assert {key["id"] for key in listed} >= {second["id"]}
    assert all("key" not in key for key in listed)

    revoked = await http.delete(f"/api/v1/api-keys/{second['id']}", headers=auth(api_key))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    refused = await http.get("/api/v1/contacts", headers=auth(second["key"]))
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_api_key"
    assert (await http.get("/api/v1/contacts", headers=auth(api_key))).status_code == 200


async def test_keys_of_another_workspace_cannot_be_seen_or_revoked(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    _, key_a = await make_workspace(platform, name="A")
    _, key_b = await make_workspace(platform, name="B")
    keys_a = (await http.get("/api/v1/api-keys", headers=auth(key_a))).json()["data"]
    keys_b = (await http.get("/api/v1/api-keys", headers=auth(key_b))).json()["data"]
    assert {k["id"] for k in keys_a}.isdisjoint({k["id"] for k in keys_b})
    response = await http.delete(f"/api/v1/api-keys/{keys_a[0]['id']}", headers=auth(key_b))
    assert response.status_code == 404
    assert (await http.get("/api/v1/workspace", headers=auth(key_a))).status_code == 200


async def test_users_have_argon2_passwords_and_unique_emails(database_url: str) -> None:
    now = datetime.now(UTC)
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        async with create_sessionmaker(engine)() as session:
            workspace = await accounts_service.create_workspace(
                session=session, name="Acme", now=now
            )
            user = await accounts_service.create_user(
                session=session,
                workspace_id=workspace.id,
                email=" Ana@Example.com ",
                name="Ana",
                password="correct horse battery",
                role=Role.OWNER,
                now=now,
            )
            assert user.email == "ana@example.com"
            assert user.password_hash.startswith("$argon2")
            assert verify_password(user.password_hash, "correct horse battery")
            assert not verify_password(user.password_hash, "wrong horse battery")
            with pytest.raises(EmailTakenError):
                await accounts_service.create_user(
                    session=session,
                    workspace_id=workspace.id,
                    email="ANA@example.com",
                    name="Other",
                    password="another long one",
                    role=Role.AGENT,
                    now=now,
                )
            with pytest.raises(WeakPasswordError):
                await accounts_service.create_user(
                    session=session,
                    workspace_id=workspace.id,
                    email="bob@example.com",
                    name="Bob",
                    password="short",
                    role=Role.AGENT,
                    now=now,
                )
    finally:
        await engine.dispose()
