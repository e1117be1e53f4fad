"""Contact imports through the REST API: upload, background import, progress, rejects."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import openpyxl

from ovillo.core.clock import wait_for
from ovillo.server import PlatformServer
from tests.factories import auth, make_workspace


async def finished(http: httpx.AsyncClient, headers: dict[str, str], import_id: str) -> Any:
    seen: list[dict[str, Any]] = []

    async def done() -> bool:
        response = await http.get(f"/api/v1/contacts/imports/{import_id}", headers=headers)
        assert response.status_code == 200, response.text
        seen.append(response.json())
        return seen[-1]["status"] in ("finished", "failed")

    await wait_for(done, within=60, interval=0.05, what="import finished")
    return seen[-1]


async def all_contacts(http: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await http.get("/api/v1/contacts", headers=headers, params={"limit": 200})
    assert response.status_code == 200, response.text
    return {contact["wa_id"]: contact for contact in response.json()["data"]}


async def test_upload_imports_merges_and_reports_rejects(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    _, api_key = await make_workspace(platform)
    headers = auth(api_key)
    known = await http.post(
        "/api/v1/contacts",
        headers=headers,
        json={"phone": "+52 55 1234 5678", "name": "Ana", "attributes": {"city": "CDMX"}},
    )
    assert known.status_code == 201, known.text
    # Latin-1, semicolons, a quoted newline, a blank line, duplicates and bad rows.
    data = (
        "Teléfono;Nombre;Ciudad;Grupo\r\n"
        "55 1234 5678;;Puebla;vip\r\n"
        '55 8765 4321;"Bea\r\nGómez";;\r\n'
        "\r\n"
        "no tengo;Carla;;\r\n"
        ";Dani;;\r\n"
        "+1 201 555 0123;Eve;NYC;\r\n"
        "+52 1 55 8765 4321;;;feria\r\n"
    ).encode("latin-1")
    response = await http.post(
        "/api/v1/contacts/imports",
        headers=headers,
        files={"file": ("clientes.csv", data, "text/csv")},
        data={"default_country": "MX", "map": ["Grupo=tags"], "tag": ["expo"]},
    )
    assert response.status_code == 202, response.text
    started = response.json()
    assert [(c["name"], c["target"]) for c in started["columns"]] == [
        ("Teléfono", "phone"),
        ("Nombre", "name"),
        ("Ciudad", "attribute:ciudad"),
        ("Grupo", "tags"),
    ]
    done = await finished(http, headers, started["id"])
    assert done["status"] == "finished", done
    assert (done["rows_read"], done["created"], done["updated"], done["rejected"]) == (6, 2, 2, 2)

    contacts = await all_contacts(http, headers)
    assert set(contacts) == {"5215512345678", "5215587654321", "12015550123"}
    ana = contacts["5215512345678"]
    assert ana["name"] == "Ana"
    assert ana["attributes"] == {"city": "CDMX", "ciudad": "Puebla"}
    assert ana["tags"] == ["vip", "expo"]
    bea = contacts["5215587654321"]
    assert (bea["name"], bea["tags"]) == ("Bea\r\nGómez", ["expo", "feria"])
    assert contacts["12015550123"]["country"] == "US"

    rejects = await http.get(done["rejects_url"], headers=headers)
    assert rejects.status_code == 200
    assert rejects.headers["content-type"].startswith("text/csv")
    disposition = f'attachment; filename="rejects-{done["id"]}.csv"'
    assert rejects.headers["content-disposition"] == disposition
    rows = list(csv.reader(io.StringIO(rejects.text)))
    assert rows[0] == [
        "line",
        "field",
        "value",
        "reason",
        "detail",
        "Teléfono",
        "Nombre",
        "Ciudad",
        "Grupo",
    ]
    assert [row[:4] for row in rows[1:]] == [
        ["6", "phone", "no tengo", "invalid_phone"],
        ["7", "phone", "", "missing_phone"],
    ]
    assert rows[1][5:] == ["no tengo", "Carla", "", ""]


async def test_xlsx_and_refusals_stay_in_their_workspace(
    platform: PlatformServer, http: httpx.AsyncClient
) -> None:
    _, api_key = await make_workspace(platform)
    headers = auth(api_key)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Celular", "Nombre", "Apellido", "Puntos"])
    sheet.append([5215511112222, "Fer", "Ruiz", 120])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = await http.post(
        "/api/v1/contacts/imports",
        headers=headers,
        files={"file": ("c.xlsx", buffer.getvalue(), "application/octet-stream")},
    )
    assert response.status_code == 202, response.text
    done = await finished(http, headers, response.json()["id"])
    assert (done["status"], done["created"], done["rejected"]) == ("finished", 1, 0)
    fer = (await all_contacts(http, headers))["5215511112222"]
    assert (fer["name"], fer["attributes"]) == ("Fer Ruiz", {"puntos": "120"})

    # Another workspace sees neither the import nor its rejects.
    _, other_key = await make_workspace(platform, name="Other")
    for path in (f"/api/v1/contacts/imports/{done['id']}", done["rejects_url"]):
        hidden = await http.get(path, headers=auth(other_key))
        assert hidden.status_code == 404
        assert hidden.json()["code"] == "import_not_found"

    refusals: list[tuple[dict[str, Any], dict[str, Any], str]] = [
        ({"file": ("c.csv", b"email,name\na@b.c,Ana\n")}, {}, "no column is mapped to phone"),
        ({"file": ("c.csv", b"phone\n1\n")}, {"map": ["mail=name"]}, "no column 'mail'"),
        ({"file": ("c.csv", b"phone\n1\n")}, {"map": ["phone=phones"]}, "unknown target"),
        ({"file": ("c.csv", b"phone\n1\n")}, {"default_country": "XX"}, "not a known country"),
        ({"file": ("c.csv", b"\n\n")}, {}, "empty"),
        ({"file": ("c.xlsx", b"phone\n1\n")}, {}, "XLSX"),
    ]
    for files, data, detail in refusals:
        refused = await http.post(
            "/api/v1/contacts/imports", headers=headers, files=files, data=data
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_import"
        assert detail in refused.json()["detail"]
    # Nothing of the refused uploads is left behind.
    uploads = platform.settings.data_dir / "imports"
    assert not [path for path in uploads.rglob("*") if path.is_file()]
