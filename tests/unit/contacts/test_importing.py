"""Reading a contacts file: encodings, delimiters, the automatic mapping, each row's verdict."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest

from ovillo.contacts import importing
from ovillo.contacts.importing import (
    InvalidImportError,
    Rejection,
    apply_overrides,
    auto_mapping,
    check_mapping,
    detect_delimiter,
    detect_encoding,
    open_table,
    read_row,
)
from ovillo.contacts.service import ImportedContact


def table_of(tmp_path: Path, data: bytes, name: str = "c.csv") -> tuple[list[str], list]:
    path = tmp_path / name
    path.write_bytes(data)
    with open_table(path, file_format=importing.file_format_of(name)) as table:
        return table.headers, list(table.rows)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["Teléfono", "Nombre"], ["phone", "name"]),
        (["celular", "nombre", "apellido"], ["phone", "first_name", "last_name"]),
        (
            ["Phone Number", "First Name", "Last Name", "Tags"],
            ["phone", "first_name", "last_name", "tags"],
        ),
        (["WhatsApp", "Mobile"], ["phone", "attribute:mobile"]),
        (
            ["name", "País", "Plan de pago", ""],
            ["name", "country", "attribute:plan_de_pago", "attribute:column_4"],
        ),
        (["E-mail", "phone"], ["attribute:e_mail", "phone"]),
    ],
)
def test_auto_mapping_reads_headers_as_people_write_them(
    headers: list[str], expected: list[str]
) -> None:
    assert auto_mapping(headers) == expected


def test_overrides_move_a_field_and_release_the_old_column() -> None:
    headers = ["phone", "celular", "name"]
    mapping = auto_mapping(headers)
    assert mapping == ["phone", "attribute:celular", "name"]
    moved = apply_overrides(headers, mapping, {"celular": "phone", "3": "skip"})
    assert moved == ["attribute:phone", "phone", "skip"]
    with pytest.raises(InvalidImportError, match="no column 'email'"):
        apply_overrides(headers, mapping, {"email": "name"})
    with pytest.raises(InvalidImportError, match="unknown target"):
        apply_overrides(headers, mapping, {"name": "surname"})


def test_a_mapping_needs_one_phone_column() -> None:
    with pytest.raises(InvalidImportError, match="no column is mapped to phone"):
        check_mapping(["a", "b"], ["name", "attribute:b"])
    with pytest.raises(InvalidImportError, match="more than one column"):
        check_mapping(["a", "b"], ["phone", "phone"])
    assert check_mapping(["a", "b"], ["Phone", "attribute:Plan"]) == ["phone", "attribute:Plan"]


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("teléfono\n".encode(), "utf-8"),
        (b"\xef\xbb\xbftel\xc3\xa9fono\n", "utf-8-sig"),
        ("teléfono\n".encode("latin-1"), "latin-1"),
        (b"phone\n" + b"x" * (3 * 1024 * 1024) + "ñ".encode("latin-1"), "latin-1"),
    ],
)
def test_encoding(data: bytes, encoding: str) -> None:
    assert detect_encoding(io.BytesIO(data)) == encoding


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("phone,name\n1,2\n", ","),
        ("phone;name;city\n1;Ana, Bea;x\n", ";"),
        ("phone\tname\n", "\t"),
        ("phone|name\n", "|"),
        ('"phone;x",name\n', ","),
        ("phone\n+5215512345678\n", ","),
    ],
)
def test_delimiter(sample: str, delimiter: str) -> None:
    assert detect_delimiter(sample) == delimiter


def test_csv_with_bom_semicolons_quoted_newlines_and_blank_lines(tmp_path: Path) -> None:
    data = (
        "\ufefftelefono;nombre;notas\r\n"
        "\r\n"
        '5512345678;"Ana\r\nMaría";"dice ""hola"""\r\n'
        ";;\r\n"
        "+1 201 555 0123;Bob;\r\n"
    ).encode()
    headers, rows = table_of(tmp_path, data)
    assert headers == ["telefono", "nombre", "notas"]
    assert rows == [
        (3, ["5512345678", "Ana\r\nMaría", 'dice "hola"']),
        (6, ["+1 201 555 0123", "Bob", ""]),
    ]


def test_latin1_file(tmp_path: Path) -> None:
    headers, rows = table_of(tmp_path, "teléfono,nombre\n5512345678,Peña\n".encode("latin-1"))
    assert headers == ["teléfono", "nombre"]
    assert rows == [(2, ["5512345678", "Peña"])]


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match="empty"):
        table_of(tmp_path, b"\n\n")


def test_xlsx_numbers_as_floats_and_dates(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Celular", "Nombre", "Alta"])
    sheet.append([5215512345678, "Ana", None])
    sheet.append([None, None, None])
    sheet.append([2015550123.0, "Bob", 3.5])
    workbook.save(tmp_path / "c.xlsx")
    with open_table(tmp_path / "c.xlsx", file_format="xlsx") as table:
        assert table.headers == ["Celular", "Nombre", "Alta"]
        assert list(table.rows) == [
            (2, ["5215512345678", "Ana", ""]),
            (4, ["2015550123", "Bob", "3.5"]),
        ]


def test_a_file_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidImportError, match="XLSX"):
        table_of(tmp_path, b"phone\n1\n", name="c.xlsx")


MAPPING = ["phone", "name", "country", "tags", "attribute:plan"]


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        (["", "Ana", "", "", ""], "phone", "missing_phone"),
        (["55 1234", "Ana", "", "", ""], "phone", "invalid_phone"),
        (["call me", "Ana", "", "", ""], "phone", "invalid_phone"),
        (["1-900-555-0199 ext 3", "", "", "", ""], "phone", "invalid_phone"),
        (["5512345678", "A" * 201, "", "", ""], "name", "name_too_long"),
        (["5512345678", "Ana", "Mexico", "", ""], "country", "unknown_country"),
        (["5512345678", "Ana", "QQ", "", ""], "country", "unknown_country"),
        (["5512345678", "Ana", "", "x" * 51, ""], "tags", "tag_too_long"),
        (["5512345678", "Ana", "", "", "p" * 1001], "plan", "value_too_long"),
        (["5512345678", "Ana", "", "", "", "extra"], "", "too_many_columns"),
    ],
)
def test_rejected_rows_say_where_and_why(cells: list[str], field: str, reason: str) -> None:
    outcome = read_row(7, cells, mapping=MAPPING, default_country="MX")
    assert isinstance(outcome, Rejection)
    assert (outcome.line, outcome.field, outcome.reason) == (7, field, reason)
    assert outcome.detail
    assert outcome.cells == tuple(cells)


@pytest.mark.parametrize(
    ("cells", "default_country", "wa_id", "country"),
    [
        (["55 1234 5678", "Ana", "", "", ""], "MX", "5215512345678", "MX"),
        (["+52 1 55 1234 5678", "Ana", "", "", ""], None, "5215512345678", "MX"),
        (["5215512345678", "Ana", "", "", ""], None, "5215512345678", "MX"),
        (["(201) 555-0123", "Bob", "us", "", ""], "MX", "12015550123", "US"),
        (["011 15 2345-6789", "Cata", "AR", "", ""], None, "5491123456789", "AR"),
    ],
)
def test_numbers_become_whatsapp_numbers(
    cells: list[str], default_country: str | None, wa_id: str, country: str
) -> None:
    outcome = read_row(2, cells, mapping=MAPPING, default_country=default_country)
    assert isinstance(outcome, ImportedContact), outcome
    assert (outcome.wa_id, outcome.country) == (wa_id, country)


def test_an_accepted_row_keeps_names_tags_and_attributes() -> None:
    outcome = read_row(
        2,
        [" 5512345678 ", " Ana ", "", "vip; gold|vip", "oro"],
        mapping=MAPPING,
        default_country="MX",
        tags=["feria"],
    )
    assert outcome == ImportedContact(
        wa_id="5215512345678",
        e164="+525512345678",
        country="MX",
        name="Ana",
        attributes={"plan": "oro"},
        tags=("vip", "gold", "feria"),
    )
    # Short rows are padded; first and last names make the name; skipped columns vanish.
    short = read_row(
        3,
        ["5512345678", "Ana", "Peña"],
        mapping=["phone", "first_name", "last_name"],
        default_country="MX",
    )
    assert isinstance(short, ImportedContact)
    assert short.name == "Ana Peña"
    skipped = read_row(4, ["5512345678", "x"], mapping=["phone", "skip"], default_country="MX")
    assert isinstance(skipped, ImportedContact)
    assert skipped.attributes == {}
