"""Connecting WhatsApp numbers through the REST API, with the emulator as Meta."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from ovillo.channels.models import Channel
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.server import PlatformServer
from tests.factories import auth, connect_emulator_channel, create_emulator_number, make_workspace


async def _channel_rows(platform: PlatformServer) -> list[Channel]:
    engine = create_engine(platform.settings.db)
    try:
        async with create_sessionmaker(engine)() as session:
            return list(await session.scalars(select(Channel)))
    finally:
        await engine.dispose()


async def test_connect_reads_the_number_from_meta_and_hides_the_token(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, api_key = await make_workspace(platform)
    number = await connect_emulator_channel(
        http,
        emulator_http,
        api_key,
        display_phone_number="+1 555-010-0042",
        verified_name="Acme Support",
        quality="YELLOW",
        tier="TIER_2K",
        throughput_mps=1000,
    )
    assert number["display_phone_number"] == "+1 555-010-0042"
    assert number["verified_name"] == "Acme Support"
    assert number["quality_rating"] == "YELLOW"
    assert number["messaging_limit_tier"] == "TIER_2K"
    assert number["throughput_mps"] == 1000
    assert number["country"] == "US"
    assert number["webhook_url"] == f"{platform.url}/webhooks/whatsapp"
    assert len(number["webhook_verify_token"]) >= 24
    assert number["graph_api_url"] == platform.runtime.graph_api_url
    assert number["graph_api_version"] == platform.settings.graph_api_version
    assert (
        "access_token"
        not in (await http.get(f"/api/v1/numbers/{number['id']}", headers=auth(api_key))).json()
    )

    [row] = await _channel_rows(platform)
    for plaintext, stored in (
        (number["access_token"], row.access_token_encrypted),
        (number["app_secret"], row.app_secret_encrypted),
    ):
        assert plaintext not in stored
        assert platform.runtime.secrets.decrypt(stored) == plaintext


async def test_a_refused_token_is_explained_and_nothing_is_stored(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, api_key = await make_workspace(platform)
    number = await create_emulator_number(http, emulator_http)
    response = await http.post(
        "/api/v1/numbers",
        headers=auth(api_key),
        json={
            "phone_number_id": number["phone_number_id"],
            "waba_id": number["waba_id"],
            "access_token": "EAAnot-a-real-token",
            "app_secret": number["app_secret"],
        },
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "access_token_refused"
    assert problem["meta_code"] == 190
    assert problem["detail"].startswith("the access token was refused by Meta (code 190): ")
    assert await _channel_rows(platform) == []
