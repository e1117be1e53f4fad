"""Connecting WhatsApp numbers through the REST API, with the emulator as Meta."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from ovillo.channels.models import Channel
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.server import PlatformServer, bind_socket
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
    assert number["platform_type"] == "CLOUD_API"
    assert number["name_status"] == "APPROVED"
    assert number["callback_url"] == f"{platform.url}/webhooks/whatsapp"
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


async def test_list_get_sync_and_disconnect(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, api_key = await make_workspace(platform)
    headers = auth(api_key)
    number = await connect_emulator_channel(http, emulator_http, api_key, quality="GREEN")
    other = await connect_emulator_channel(http, emulator_http, api_key)
    listed = (await http.get("/api/v1/numbers", headers=headers)).json()["data"]
    assert [n["id"] for n in listed] == [number["id"], other["id"]]

    changed = await emulator_http.patch(
        f"/_emulator/phone_numbers/{number['phone_number_id']}",
        json={"quality": "RED", "tier": "TIER_10K", "throughput_mps": 1000, "status": "FLAGGED"},
    )
    assert changed.status_code == 200
    synced = await http.post(f"/api/v1/numbers/{number['id']}/sync", headers=headers)
    assert synced.status_code == 200, synced.text
    figures = synced.json()
    assert figures["quality_rating"] == "RED"
    assert figures["messaging_limit_tier"] == "TIER_10K"
    assert figures["throughput_mps"] == 1000
    assert figures["status"] == "FLAGGED"
    assert figures["synced_at"] is not None

    assert (
        await http.delete(f"/api/v1/numbers/{number['id']}", headers=headers)
    ).status_code == 204
    listed = (await http.get("/api/v1/numbers", headers=headers)).json()["data"]
    assert [n["id"] for n in listed] == [other["id"]]
    everything = await http.get(
        "/api/v1/numbers", headers=headers, params={"include_disconnected": "true"}
    )
    assert {n["id"] for n in everything.json()["data"]} == {number["id"], other["id"]}
    # A disconnected number cannot talk to Meta (its token is forgotten) ...
    refused = await http.post(f"/api/v1/numbers/{number['id']}/sync", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "channel_disconnected"
    # ... nor send, nor manage its templates, nor carry a campaign: each says how to mend it.
    body = {"type": "BODY", "text": "Hola"}
    for path, payload, advice in (
        ("/messages", {"to": "15550001234", "text": {"body": "hi"}}, "to send from it"),
        (
            "/templates",
            {"name": "hola", "language": "es", "category": "UTILITY", "components": [body]},
            "to manage its templates",
        ),
        (
            "/campaigns",
            {"name": "Spring", "template_name": "hola", "template_language": "es"},
            "to send from it",
        ),
    ):
        refused = await http.post(
            f"/api/v1{path}", headers=headers, json={"number_id": number["id"], **payload}
        )
        assert refused.status_code == 409, (path, refused.text)
        problem = refused.json()
        assert problem["code"] == "channel_disconnected"
        assert problem["channel_id"] == number["id"]
        assert problem["detail"].endswith(advice)
    [row] = [row for row in await _channel_rows(platform) if str(row.id) == number["id"]]
    assert row.access_token_encrypted == ""
    # ... until it is connected again, into the same row.
    again = await http.post(
        "/api/v1/numbers",
        headers=headers,
        json={
            "phone_number_id": number["phone_number_id"],
            "waba_id": number["waba_id"],
            "access_token": number["access_token"],
            "app_secret": number["app_secret"],
        },
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] == number["id"]
    assert again.json()["disconnected_at"] is None


async def test_a_number_connects_once(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, key_a = await make_workspace(platform, name="A")
    _, key_b = await make_workspace(platform, name="B")
    number = await connect_emulator_channel(http, emulator_http, key_a)
    body = {
        "phone_number_id": number["phone_number_id"],
        "waba_id": number["waba_id"],
        "access_token": number["access_token"],
        "app_secret": number["app_secret"],
    }
    for api_key in (key_a, key_b):
        response = await http.post("/api/v1/numbers", headers=auth(api_key), json=body)
        assert response.status_code == 409
        assert response.json()["code"] == "channel_already_connected"


@pytest.mark.parametrize("mistake", ["waba", "phone_number_id", "unreachable"])
async def test_a_wrong_number_or_address_is_explained(
    platform: PlatformServer,
    http: httpx.AsyncClient,
    emulator_http: httpx.AsyncClient,
    mistake: str,
) -> None:
    _, api_key = await make_workspace(platform)
    number = await create_emulator_number(http, emulator_http)
    elsewhere = await create_emulator_number(http, emulator_http)
    body = {
        "phone_number_id": number["phone_number_id"],
        "waba_id": number["waba_id"],
        "access_token": number["access_token"],
        "app_secret": number["app_secret"],
    }
    if mistake == "waba":
        # Another business's WABA: the token may not read it.
        body["access_token"] = elsewhere["access_token"]
        body["phone_number_id"] = elsewhere["phone_number_id"]
        body["waba_id"] = number["waba_id"]
        expected = (422, "meta_refused")
    elif mistake == "phone_number_id":
        body["phone_number_id"] = "1" + number["phone_number_id"]
        expected = (422, "meta_refused")
    else:
        closed = bind_socket("127.0.0.1", 0)
        port = closed.getsockname()[1]
        closed.close()
        body["graph_api_url"] = f"http://127.0.0.1:{port}"
        expected = (502, "graph_api_unreachable")
    response = await http.post("/api/v1/numbers", headers=auth(api_key), json=body)
    assert (response.status_code, response.json()["code"]) == expected, response.text
    assert response.json()["detail"]
    assert await _channel_rows(platform) == []


async def test_workspaces_cannot_see_each_others_numbers(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    _, key_a = await make_workspace(platform, name="A")
    _, key_b = await make_workspace(platform, name="B")
    number = await connect_emulator_channel(http, emulator_http, key_a)
    assert (await http.get("/api/v1/numbers", headers=auth(key_b))).json()["data"] == []
    path = f"/api/v1/numbers/{number['id']}"
    for method, suffix in (("GET", ""), ("POST", "/sync"), ("DELETE", "")):
        response = await http.request(method, path + suffix, headers=auth(key_b))
        assert response.status_code == 404, (method, suffix)
        assert response.json()["code"] == "channel_not_found"
    assert (await http.get(path, headers=auth(key_a))).json()["disconnected_at"] is None
