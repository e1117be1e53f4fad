"""`ovillo contacts import`: a file into a SQLite database, the summary and the rejects file."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from ovillo.cli import app
from ovillo.contacts import service as contacts_service
from ovillo.contacts.models import Contact, ContactImport
from ovillo.core.db import create_engine, create_sessionmaker
from ovillo.core.settings import DatabaseSettings
from tests.factories import make_workspace

runner = CliRunner()
ENV = {"OVILLO_LOG__JSON_OUTPUT": "true"}
URL = "sqlite+aiosqlite:///var/ovillo.sqlite3"


async def _contacts() -> tuple[list[Contact], list[ContactImport]]:
    engine = create_engine(DatabaseSettings(url=URL))
    try:
        async with create_sessionmaker(engine)() as session:
            contacts = list(await session.scalars(select(Contact).order_by(Contact.wa_id)))
            imports = list(await session.scalars(select(ContactImport)))
            return contacts, imports
    finally:
        await engine.dispose()


async def _workspace_with_ana() -> str:
    workspace_id, _ = await make_workspace(URL, name="Tienda")
    engine = create_engine(DatabaseSettings(url=URL))
    try:
        async with create_sessionmaker(engine)() as session:
            from ovillo.core.clock import SystemClock

            await contacts_service.create_contact(
                session=session,
                workspace_id=workspace_id,
                phone_number="+52 55 1234 5678",
                name="Ana",
                attributes={"city": "CDMX"},
                tags=["old"],
                now=SystemClock().now(),
            )
    finally:
        await engine.dispose()
    return str(workspace_id)


def test_import_merges_reports_and_writes_rejects(tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"], env=ENV).exit_code == 0
    workspace_id = asyncio.run(_workspace_with_ana())
    source = tmp_path / "clientes.csv"
    source.write_text(
        "Celular;Nombre;Plan;Grupo\n"
        "55 1234 5678;;oro;vip\n"  # Ana, already a contact: merged
        "55 8765 4321;Bea;plata;\n"
        "12;Carla;;\n"  # rejected: too short
        "\n"
        "+52 1 55 8765 4321;Bea G.;;feria\n",  # Bea again, in the same file: merged
        encoding="utf-8",
    )
    result = runner.invoke(
        app,
        [
            "contacts",
            "import",
            str(source),
            "--workspace",
            "Tienda",
            "--default-country",
            "MX",
            "--map",
            "Grupo=tags",
            "--tag",
            "2026",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert "4 rows read: 1 contacts created, 2 updated, 1 rejected" in result.output
    contacts, (done,) = asyncio.run(_contacts())
    assert done.status == "finished"
    assert str(done.workspace_id) == workspace_id
    by_wa = {c.wa_id: c for c in contacts}
    assert set(by_wa) == {"5215512345678", "5215587654321"}
    ana, bea = by_wa["5215512345678"], by_wa["5215587654321"]
    assert (ana.name, ana.attributes, ana.tags) == (
        "Ana",
        {"city": "CDMX", "plan": "oro"},
        ["old", "vip", "2026"],
    )
    assert (bea.name, bea.attributes, bea.tags) == ("Bea G.", {"plan": "plata"}, ["2026", "feria"])

    with (tmp_path / "clientes.rejects.csv").open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "line",
        "field",
        "value",
        "reason",
        "detail",
        "Celular",
        "Nombre",
        "Plan",
        "Grupo",
    ]
    assert rows[1][:4] == ["4", "phone", "12", "invalid_phone"]
    assert rows[1][5:] == ["12", "Carla", "", ""]


def test_a_file_without_a_phone_column_is_refused(tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"], env=ENV).exit_code == 0
    workspace_id = asyncio.run(_workspace_with_ana())
    source = tmp_path / "c.csv"
    source.write_text("email,name\na@b.c,Ana\n", encoding="utf-8")
    result = runner.invoke(
        app, ["contacts", "import", str(source), "--workspace", workspace_id], env=ENV
    )
    assert result.exit_code == 2
    assert "no column is mapped to phone" in result.output
