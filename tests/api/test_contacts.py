"""Contacts through the REST API: CRUD, cursor pagination, filters, bad numbers."""

from __future__ import annotations

import httpx
import pytest

from ovillo.server import PlatformServer
from tests.factories import auth, make_workspace


async def test_create_get_update_delete(platform: PlatformServer, http: httpx.AsyncClient) -> None:
    _, api_key = await make_workspace(platform)
    headers = auth(api_key)
    created = await http.post(
        "/api/v1/contacts",
        headers=headers,
        json={
            "phone": "+52 1 55 1234 5678",
            "name": "Ana",
            "attributes": {"plan": "gold", "city": "CDMX"},
            "tags": ["vip", " vip ", "mx"],
        },
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert contact["phone"] == "+525512345678"
    assert contact["wa_id"] == "5215512345678"
    assert contact["country"] == "MX"
    assert contact["tags"] == ["vip", "mx"]
    assert contact["display_name"] == "Ana"

    # The same number written differently is the same contact.
    duplicate = await http.post(
        "/api/v1/contacts", headers=headers, json={"phone": "5215512345678"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["contact_id"] == contact["id"]

    patched = await http.patch(
        f"/api/v1/contacts/{contact['id']}",
        headers=headers,
        json={
            "attributes": {"plan": "platinum", "city": None},
            "add_tags": ["paid"],
            "remove_tags": ["mx"],
            "opted_out": {"marketing": True},
        },
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["attributes"] == {"plan": "platinum"}
    assert body["tags"] == ["vip", "paid"]
    assert set(body["opted_out"]) == {"marketing"}
    assert body["name"] == "Ana"  # not sent, not changed

    fetched = (await http.get(f"/api/v1/contacts/{contact['id']}", headers=headers)).json()
    assert fetched == body

    opted_in = await http.patch(
        f"/api/v1/contacts/{contact['id']}",
        headers=headers,
        json={"opted_out": {"marketing": False}, "name": None},
    )
    assert opted_in.json()["opted_out"] == {}
    assert opted_in.json()["name"] is None

    assert (
        await http.delete(f"/api/v1/contacts/{contact['id']}", headers=headers)
    ).status_code == 204
    gone = await http.get(f"/api/v1/contacts/{contact['id']}", headers=headers)
    assert gone.status_code == 404
    assert gone.json()["code"] == "contact_not_found"


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("", "empty"),
        ("call me", "letters"),
        ("+1 555 01", "too_short"),
        ("+999 1234 5678", "unknown_country_code"),
        ("US.13491208655302741918", "bsuid"),
    ],
)
async def test_a_bad_number_is_refused_with_its_reason(
    platform: PlatformServer, http: httpx.AsyncClient, phone: str, reason: str
) -> None:
    _, api_key = await make_workspace(platform)
    response = await http.post("/api/v1/contacts", headers=auth(api_key), json={"phone": phone})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_phone_number"
    assert problem["reason"] == reason
    assert problem["field"] == "phone"
    assert repr(phone) in problem["detail"]


async def test_cursor_pagination_filters_and_search(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    _, api_key = await make_workspace(platform)
    headers = auth(api_key)
    ids = []
    for n in range(7):
        response = await http.post(
            "/api/v1/contacts",
            headers=headers,
            json={
                "phone": f"+1 201 555 01{n:02d}",
                "name": f"Customer {n}" if n != 3 else "Zoë 100% Real",
                "tags": ["even"] if n % 2 == 0 else ["odd"],
            },
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await http.get("/api/v1/contacts", headers=headers, params=params)).json()
        seen += [contact["id"] for contact in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))

    even = (await http.get("/api/v1/contacts", headers=headers, params={"tag": "even"})).json()
    assert {c["id"] for c in even["data"]} == {ids[0], ids[2], ids[4], ids[6]}

    by_name = await http.get("/api/v1/contacts", headers=headers, params={"search": "zoË 100%"})
    assert [c["id"] for c in by_name.json()["data"]] == [ids[3]]
    by_digits = await http.get("/api/v1/contacts", headers=headers, params={"search": "555-0105"})
    assert [c["id"] for c in by_digits.json()["data"]] == [ids[5]]
    # "%" and "_" are searched for, not wildcards.
    wildcard = await http.get("/api/v1/contacts", headers=headers, params={"search": "_"})
    assert wildcard.json()["data"] == []

    bad_cursor = await http.get("/api/v1/contacts", headers=headers, params={"cursor": "nope"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["code"] == "invalid_cursor"
    too_many = await http.get("/api/v1/contacts", headers=headers, params={"limit": 201})
    assert too_many.status_code == 422


async def test_workspaces_cannot_see_each_others_contacts(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    _, key_a = await make_workspace(platform, name="A")
    _, key_b = await make_workspace(platform, name="B")
    contact = (
        await http.post("/api/v1/contacts", headers=auth(key_a), json={"phone": "+44 7700 900123"})
    ).json()
    # The same person may be a contact of both workspaces.
    assert (
        await http.post("/api/v1/contacts", headers=auth(key_b), json={"phone": "+447700900123"})
    ).status_code == 201

    listed = (await http.get("/api/v1/contacts", headers=auth(key_b))).json()["data"]
    assert contact["id"] not in {c["id"] for c in listed}
    path = f"/api/v1/contacts/{contact['id']}"
    assert (await http.get(path, headers=auth(key_b))).status_code == 404
    assert (await http.patch(path, headers=auth(key_b), json={"name": "x"})).status_code == 404
    assert (await http.delete(path, headers=auth(key_b))).status_code == 404
    still = (await http.get(path, headers=auth(key_a))).json()
    assert still["name"] is None
