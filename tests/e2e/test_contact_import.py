"""Importing contacts in a browser, on a phone's width: upload, map, watch, download."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from ovillo.server import PlatformServer
from tests.e2e.conftest import add_person, sign_in

CSV = (
    "Celular;Nombre;Ciudad;Notas\n"
    "55 1234 5678;Ana;Puebla;cliente desde 2019, paga a tiempo\n"
    "no sé;Bea;CDMX;\n"
    "+1 201 555 0123;Eve;NYC;\n"
).encode()


def test_import_a_file_from_the_contacts_page(page: Page, e2e_platform: PlatformServer) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    person = add_person(e2e_platform)
    sign_in(page, person)
    expect(page).to_have_url(re.compile(r"/inbox"))
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="Import contacts").click()

    page.get_by_label("File").set_input_files(
        {"name": "clientes.csv", "mimeType": "text/csv", "buffer": CSV}
    )
    page.get_by_label("Country of numbers without +code").select_option("MX")
    page.get_by_role("button", name="Upload").click()

    # The guess, shown over the first rows; the notes are not worth keeping.
    expect(page.get_by_role("heading")).to_contain_text("clientes.csv")
    expect(page.get_by_label("What column Celular holds")).to_have_value("phone")
    expect(page.get_by_label("What column Nombre holds")).to_have_value("name")
    expect(page.get_by_label("Attribute name for column Ciudad")).to_have_value("ciudad")
    # An attribute's name is asked only of a column kept as a custom attribute.
    expect(page.get_by_label("Attribute name for column Ciudad")).to_be_visible()
    expect(page.get_by_label("Attribute name for column Celular")).to_be_hidden()
    expect(page.get_by_role("cell", name="cliente desde 2019, paga a tiempo")).to_be_visible()
    page.get_by_label("What column Notas holds").select_option("skip")
    page.get_by_label("Tags for every contact (comma-separated)").fill("feria")
    # The wide preview scrolls in its box; the page itself does not.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Import", exact=True).click()

    expect(page.get_by_role("status")).to_have_text("Finished", timeout=60_000)
    expect(page.locator('[data-count="created"]')).to_have_text("2")
    expect(page.locator('[data-count="rejected"]')).to_have_text("1")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the rejected rows (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "3,phone,no sé,invalid_phone" in text

    page.get_by_role("link", name="See the contacts").click()
    expect(page.get_by_role("cell", name="+525512345678")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Ana"))).to_contain_text("feria")
