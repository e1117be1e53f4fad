"""`GET /api/v1/search`: contacts and messages, accents folded, ranked, scoped, paged."""

from __future__ import annotations

from typing import Any

import httpx

from ovillo.core.search import FOLD_FROM, FOLD_TO, fold, fts5_match, search_terms, tsquery_text
from ovillo.server import PlatformServer
from tests.api.conversing import Desk, open_desk


async def _search(desk: Desk, q: str, **params: Any) -> dict[str, Any]:
    response = await desk.get("/search", q=q, **params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def _texts(found: dict[str, Any]) -> list[str]:
    return [m["text"] for m in found["messages"]["data"]]


async def test_search_folds_accents_ranks_pages_and_stays_in_its_workspace(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    other = await open_desk(platform, http, emulator_http)
    await desk.writes_and_waits("5215512340001", "¿Tienen la canción de cuna?")
    await desk.writes_and_waits("5215512340002", "Quiero una CANCION para mi boda, una canción")
    await desk.writes_and_waits("5215512340003", "Las canciones llegan mañana")
    await desk.writes_and_waits("5215512340004", "Nada que ver")
    await other.writes_and_waits("5215512349999", "Otra canción, de otro negocio")
    created = await desk.post("/contacts", {"name": "José Núñez", "phone": "+5215598761234"})
    assert created.status_code == 201, created.text
    contact_id = created.json()["id"]

    # Accents and case do not matter, either way round; words match as prefixes.
    for q in ("cancion", "CANCIÓN", "Canc"):
        texts = _texts(await _search(desk, q))
        assert sorted(texts) == sorted(
            [
                "¿Tienen la canción de cuna?",
                "Quiero una CANCION para mi boda, una canción",
                "Las canciones llegan mañana",
            ]
        ), q
    # Ranked: the message that says it twice comes before the others with the same word.
    assert _texts(await _search(desk, "canción"))[0].startswith("Quiero una CANCION")
    # Every word must match.
    assert _texts(await _search(desk, "cancion cuna")) == ["¿Tienen la canción de cuna?"]
    assert _texts(await _search(desk, "manana")) == ["Las canciones llegan mañana"]

    # Contacts by name (accents folded) and by number prefix.
    for q in ("nunez", "JOSÉ", "jose nu", "52155987"):
        found = await _search(desk, q)
        assert [c["id"] for c in found["contacts"]["data"]] == [contact_id], q
    # A renamed contact is found by its new name only (the index follows every write).
    renamed = await http.patch(
        f"/api/v1/contacts/{contact_id}", headers=desk.headers, json={"name": "Pepa Ibáñez"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (await _search(desk, "nunez"))["contacts"]["data"] == []
    assert [c["id"] for c in (await _search(desk, "ibanez"))["contacts"]["data"]] == [contact_id]
    # The index keys rows by the contact's id, but an id is not a word a search matches.
    assert (await _search(desk, contact_id.replace("-", "")[:8]))["contacts"]["data"] == []

    # Pages: two, then the rest of that section only.
    first = await _search(desk, "cancion", limit=2)
    assert len(first["messages"]["data"]) == 2
    cursor = first["messages"]["next_cursor"]
    assert cursor is not None
    rest = await _search(desk, "cancion", limit=2, cursor=cursor)
    assert rest["contacts"] is None
    assert rest["messages"]["next_cursor"] is None
    assert len(rest["messages"]["data"]) == 1
    assert set(_texts(rest)).isdisjoint(_texts(first))

    # The other workspace finds only its own.
    assert _texts(await _search(other, "cancion")) == ["Otra canción, de otro negocio"]
    assert (await _search(other, "nunez"))["contacts"]["data"] == []


async def test_search_refuses_bad_input_naming_the_field(
    platform: PlatformServer, http: httpx.AsyncClient, emulator_http: httpx.AsyncClient
) -> None:
    desk = await open_desk(platform, http, emulator_http)
    response = await desk.get("/search", q="hola", cursor="not-a-cursor")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_cursor"
    response = await desk.get("/search")
    assert response.status_code == 422
    assert "q" in response.text
    # Syntax of FTS5 or tsquery in the words is only words: nothing breaks, nothing leaks.
    for q in ('"', "a:* | b", "NEAR(x y)", "-", "*", "'; DROP TABLE message; --"):
        found = await _search(desk, q)
        assert found["messages"]["data"] == [], q


def test_terms_fold_like_the_databases_do() -> None:
    assert fold("Canción ÑANDÚ") == "cancion nandu"
    assert search_terms("¿La CANCIÓN_de-cuna? la") == ["la", "cancion", "de", "cuna"]
    assert search_terms("  ") == []
    assert fts5_match(["cancion", "cuna"]) == '"cancion"* "cuna"*'
    assert fts5_match(["cancion"], column="body") == 'body : ("cancion"*)'
    assert tsquery_text(["cancion", "cuna"]) == "cancion:* & cuna:*"
    # PostgreSQL's ovillo_fold translates exactly what Python's fold removes.
    assert len(FOLD_FROM) == len(FOLD_TO)
    assert all(fold(a) == b for a, b in zip(FOLD_FROM, FOLD_TO, strict=True))
