"""The Graph API surface: versions, tokens and unknown nodes answer as Meta does."""

from __future__ import annotations

import httpx
import pytest

from tests.api.emulator.conftest import Number


async def test_missing_token_is_refused_with_meta_shape(
    control: httpx.AsyncClient, number: Number
) -> None:
    response = await control.get(f"/v23.0/{number.phone_number_id}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 2500
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]


async def test_bad_token_is_190(control: httpx.AsyncClient, number: Number) -> None:
    response = await control.get(
        f"/v23.0/{number.phone_number_id}", headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 190


@pytest.mark.parametrize("version", ["v17.0", "v2.8"])
async def test_old_versions_are_refused(
    control: httpx.AsyncClient, number: Number, version: str
) -> None:
    response = await control.get(f"/{version}/{number.phone_number_id}", headers=number.auth)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 2635


async def test_unknown_node_and_foreign_node(control: httpx.AsyncClient, number: Number) -> None:
    response = await control.get("/v23.0/123456789", headers=number.auth)
    assert response.status_code == 400
    assert response.json()["error"]["error_subcode"] == 33
    other = await control.post(
        "/_emulator/phone_numbers",
        json={
            "display_phone_number": "+1 555-010-0001",
            "verified_name": "Other",
            "app_secret": "s",
        },
    )
    # The other business's number is invisible to this business's token.
    response = await control.get(
        f"/v23.0/{other.json()['phone_number_id']}/messages", headers=number.auth
    )
    assert response.json()["error"]["error_subcode"] == 33


async def test_clock_advances_without_sleeping(control: httpx.AsyncClient) -> None:
    before = (await control.get("/_emulator/clock")).json()
    after = (await control.post("/_emulator/clock/advance", json={"seconds": 86_400})).json()
    from datetime import datetime

    moved = datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"])
    assert 86_400 <= moved.total_seconds() < 86_400 + 5


async def test_faults_are_validated(control: httpx.AsyncClient) -> None:
    bad = await control.post("/_emulator/faults", json={"kind": "gremlins", "rate": 0.5})
    assert bad.status_code == 422
    good = await control.post("/_emulator/faults", json={"kind": "api_503", "rate": 0.5})
    assert good.status_code == 201
    assert good.json()[0]["kind"] == "api_503"
    assert (await control.delete("/_emulator/faults")).status_code == 204
    assert (await control.get("/_emulator/faults")).json() == []
