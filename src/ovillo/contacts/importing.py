"""Contacts from a spreadsheet: CSV (any delimiter, UTF-8 with or without BOM, else Latin-1)
or XLSX, streamed in bounded memory whatever its length.

Reading (pure, no database): ``open_table`` yields the headers and then ``(line, cells)``
one row at a time; ``auto_mapping`` guesses each column's target from its header
("telefono" -> phone, "nombre" -> name, anything else -> a custom attribute), which the
caller may override; ``read_row`` turns one row into a ``contacts_service.ImportedContact``
or a ``Rejection`` naming the line, the field, the value and why. Its phone numbers are
normalised by prefix (``rules.phone_prefix``): the library's answers, at a fraction of the cost.

Importing (``run_import``): batches of ``BATCH_ROWS`` rows are read and normalised in a
thread (the event loop keeps serving meanwhile), then merged into the workspace's contacts
(``contacts_service.do_merge_imported``), their rejects stored in ``contact_import_reject``
and the counters of the ``contact_import`` row moved, in one transaction per batch. A row
that cannot be read costs only itself; a file that stops being readable midway (a broken
quote that swallows the rest) fails the import with the line, keeping the batches before it.

Imports started from the API or the pages run as asyncio tasks of the serving process
(``start_in_background``); the uploaded file waits under ``data_dir/imports/``, at most
``settings.web.max_import_bytes`` of it (written a chunk at a time, refused once over).

Surviving a crash: an import runs under the lease ``contact-import:{id}``
(``ovillo.worker.leases``), renewed by a heartbeat, and every batch's write is fenced by it.
Each batch commits its contacts, its rejects and ``rows_read`` together, so the file can be
read again from the row after the last committed one. The worker's import loop
(``resume_orphaned_imports``) looks for ``running`` imports whose lease nobody holds (the
process running them died, or stopped): it resumes those whose file is still there, and
fails the others with how far they got.

    OvilloError
    ├── NotFoundError
    │   └── ImportNotFoundError        404 import_not_found
    ├── ValidationFailedError
    │   └── InvalidImportError         422 invalid_import
    └── ImportTooLargeError            413 import_too_large
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import io
import re
import unicodedata
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any, Final

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ovillo.contacts import service as contacts_service
from ovillo.contacts.errors import InvalidPhoneNumberError
from ovillo.contacts.models import ContactImport, ContactImportReject
from ovillo.core import ids
from ovillo.core.clock import Clock
from ovillo.core.db import insert_for, sqlite_write_gate
from ovillo.core.errors import NotFoundError, OvilloError, ValidationFailedError
from ovillo.core.runtime import Runtime
from ovillo.core.settings import Settings
from ovillo.rules.phone_prefix import normalize_by_prefix
from ovillo.worker.leases import acquire_lease_token, lease_is_held, release_lease

log = structlog.get_logger(__name__)

BATCH_ROWS: Final = 5_000
PREVIEW_ROWS: Final = 5
MAX_NAME_LENGTH: Final = 200  # contact.name
MAX_VALUE_LENGTH: Final = 1_000
MAX_COLUMNS: Final = 200
MAX_ATTRIBUTE_KEY: Final = 64
# The bytes looked at for the delimiter; the encoding is checked over the whole file.
_SAMPLE_BYTES: Final = 64 * 1024
_CHUNK_BYTES: Final = 1024 * 1024
_DELIMITERS: Final = ",;\t|"
_TAG_SEPARATORS: Final = re.compile(r"[,;|]")


class ImportStatus:
    PENDING: Final = "pending"
    RUNNING: Final = "running"
    FINISHED: Final = "finished"
    FAILED: Final = "failed"


class ImportNotFoundError(NotFoundError):
    code = "import_not_found"
    title = "No such contact import in this workspace."


class InvalidImportError(ValidationFailedError):
    code = "invalid_import"
    title = "The file or its column mapping cannot be imported."
    fields = ("column",)


class ImportTooLargeError(OvilloError):
    code = "import_too_large"
    status = 413
    title = "The file is larger than this platform imports."
    fields = ("limit_bytes",)


def too_large(limit: int) -> ImportTooLargeError:
    """The refusal of a file over ``limit`` bytes, naming the limit."""
    return ImportTooLargeError(
        f"the file is larger than {_megabytes(limit)}, the most this platform imports at once; "
        "split it into smaller files",
        limit_bytes=limit,
    )


# Room for the multipart envelope and the other fields around the file in a request.
_FORM_OVERHEAD_BYTES: Final = 64 * 1024


def check_declared_size(content_length: str | None, *, limit: int) -> None:
    """Refuse a request that says (``Content-Length``) it brings more than a ``limit``-byte
    file, before any of it is read. One that says nothing is counted as it is written."""
    declared = int(content_length) if content_length and content_length.isdigit() else 0
    if declared > limit + _FORM_OVERHEAD_BYTES:
        raise too_large(limit)


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:g} MB" if size >= 1_000_000 else f"{size:,} bytes"


# --- Targets and the automatic mapping ---------------------------------------------------

PHONE: Final = "phone"
NAME: Final = "name"
FIRST_NAME: Final = "first_name"
LAST_NAME: Final = "last_name"
COUNTRY: Final = "country"
TAGS: Final = "tags"
SKIP: Final = "skip"
ATTRIBUTE: Final = "attribute:"
FIELDS: Final = (PHONE, NAME, FIRST_NAME, LAST_NAME, COUNTRY, TAGS)

# Headers as people write them (folded: lower case, no accents, single spaces).
_ALIASES: Final[dict[str, frozenset[str]]] = {
    PHONE: frozenset(
        {
            "phone",
            "phone number",
            "phonenumber",
            "telephone",
            "tel",
            "mobile",
            "mobile phone",
            "mobile number",
            "cell",
            "cellphone",
            "cell phone",
            "whatsapp",
            "whatsapp number",
            "wa id",
            "msisdn",
            "number",
            "telefono",
            "numero",
            "numero de telefono",
            "celular",
            "cel",
            "movil",
            "telemovel",
            "telefone",
            "numero whatsapp",
        }
    ),
    NAME: frozenset(
        {
            "name",
            "full name",
            "fullname",
            "contact",
            "contact name",
            "nombre",
            "nombre completo",
            "cliente",
            "nome",
            "nome completo",
            "display name",
        }
    ),
    FIRST_NAME: frozenset(
        {"first name", "firstname", "given name", "primer nombre", "nombres", "nombre s"}
    ),
    LAST_NAME: frozenset(
        {"last name", "lastname", "surname", "family name", "apellido", "apellidos", "sobrenome"}
    ),
    COUNTRY: frozenset({"country", "country code", "pais", "region", "pais iso"}),
    TAGS: frozenset({"tags", "tag", "labels", "label", "etiquetas", "etiqueta", "segmento"}),
}


def fold_header(header: str) -> str:
    """A header as compared with the aliases: accents, case, punctuation and spacing gone."""
    decomposed = unicodedata.normalize("NFKD", header)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", bare).split())


def attribute_key(header: str, position: int) -> str:
    """The custom attribute a column fills: its folded header in snake_case."""
    key = fold_header(header).replace(" ", "_")[:MAX_ATTRIBUTE_KEY]
    return key or f"column_{position + 1}"


def auto_mapping(headers: Sequence[str]) -> list[str]:
    """Each column's target from its header: a field (the first column that names it),
    else a custom attribute. With a last name and a "name" column, the name is the first
    name ("nombre" beside "apellido")."""
    targets: list[str] = []
    taken: set[str] = set()
    for position, header in enumerate(headers):
        folded = fold_header(header)
        target = next(
            (f for f, aliases in _ALIASES.items() if folded in aliases and f not in taken), None
        )
        if target is None:
            targets.append(ATTRIBUTE + attribute_key(header, position))
        else:
            taken.add(target)
            targets.append(target)
    if LAST_NAME in taken and NAME in taken and FIRST_NAME not in taken:
        targets = [FIRST_NAME if target == NAME else target for target in targets]
    return targets


def check_target(target: str) -> str:
    """``target`` in its canonical spelling, or ``InvalidImportError``."""
    cleaned = target.strip()
    lowered = cleaned.lower()
    if lowered in FIELDS or lowered == SKIP:
        return lowered
    if lowered.startswith(ATTRIBUTE):
        key = cleaned[len(ATTRIBUTE) :].strip()
        if key and len(key) <= MAX_ATTRIBUTE_KEY:
            return ATTRIBUTE + key
    known = ", ".join([*FIELDS, SKIP, "attribute:<key>"])
    raise InvalidImportError(f"unknown target {target!r} (known: {known})")


def apply_overrides(
    headers: Sequence[str], mapping: Sequence[str], overrides: Mapping[str, str]
) -> list[str]:
    """``mapping`` with some columns, named by header (or by 1-based position), sent
    elsewhere; the field a column takes is released by the column that had it."""
    result = list(mapping)
    folded = [fold_header(h) for h in headers]
    for column, target in overrides.items():
        name = column.strip()
        if name in headers:
            position = list(headers).index(name)
        elif fold_header(name) in folded and fold_header(name):
            position = folded.index(fold_header(name))
        elif name.isdigit() and 1 <= int(name) <= len(headers):
            position = int(name) - 1
        else:
            raise InvalidImportError(
                f"the file has no column {column!r} (its columns: {', '.join(headers)})",
                column=column,
            )
        canonical = check_target(target)
        if canonical in FIELDS:
            result = [
                ATTRIBUTE + attribute_key(headers[i], i) if t == canonical else t
                for i, t in enumerate(result)
            ]
        result[position] = canonical
    return result


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``COLUMN=TARGET`` items (the CLI's ``--map``, the API's ``map`` fields) as a dict."""
    overrides: dict[str, str] = {}
    for item in items:
        column, separator, target = item.partition("=")
        if not separator or not column.strip() or not target.strip():
            raise InvalidImportError(f"{item!r} is not COLUMN=TARGET", column=column or None)
        overrides[column.strip()] = target.strip()
    return overrides


def check_mapping(headers: Sequence[str], mapping: Sequence[str]) -> list[str]:
    """A complete mapping: one target per column, each field once, a phone column."""
    if len(mapping) != len(headers):
        raise InvalidImportError(
            f"the mapping has {len(mapping)} targets for {len(headers)} columns"
        )
    targets = [check_target(target) for target in mapping]
    for name in FIELDS:
        if targets.count(name) > 1:
            raise InvalidImportError(f"more than one column is mapped to {name}")
    if PHONE not in targets:
        raise InvalidImportError("no column is mapped to phone", column=None)
    return targets


# --- Reading files -----------------------------------------------------------------------


def detect_encoding(handle: IO[bytes]) -> str:
    """``utf-8-sig`` (BOM), ``utf-8`` when the whole file decodes as such, else ``latin-1``
    (the spreadsheets' usual "ANSI"). Reads the file once, a chunk at a time."""
    start = handle.read(3)
    if start == codecs.BOM_UTF8:
        handle.seek(0)
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    handle.seek(0)
    try:
        while chunk := handle.read(_CHUNK_BYTES):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "latin-1"
    finally:
        handle.seek(0)
    return "utf-8"


def detect_delimiter(sample: str) -> str:
    """The delimiter of a CSV sample: the candidate the header line has most of (outside
    quotes), confirmed by ``csv.Sniffer`` when the header has none."""
    header = _first_line(sample)
    counts = {d: _count_outside_quotes(header, d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    if counts[best]:
        return best
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _first_line(sample: str) -> str:
    for line in sample.splitlines():
        if line.strip():
            return line
    return ""


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for character in line:
        if character == '"':
            quoted = not quoted
        elif character == delimiter and not quoted:
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class Table:
    """An open file: its headers, then its rows, read as they are asked for."""

    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]
    """(line, cells): the line the row starts on (1 is the header, for CSV), blank rows
    skipped."""


def file_format_of(file_name: str) -> str:
    suffix = Path(file_name).suffix.lower()
    return "xlsx" if suffix in (".xlsx", ".xlsm") else "csv"


@contextlib.contextmanager
def open_table(path: Path, *, file_format: str) -> Iterator[Table]:
    """The table in ``path``; ``InvalidImportError`` when it has no header row."""
    if file_format == "xlsx":
        with _open_xlsx(path) as table:
            yield table
        return
    with path.open("rb") as raw:
        encoding = detect_encoding(raw)
        with io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
            delimiter = detect_delimiter(text.read(_SAMPLE_BYTES))
            text.seek(0)
            reader = csv.reader(text, delimiter=delimiter)
            rows = _csv_rows(reader)
            first = next(rows, None)
            if first is None:
                raise InvalidImportError("the file is empty: it needs a header row")
            yield Table(headers=[cell.strip() for cell in first[1]], rows=rows)


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[str]]]:
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise InvalidImportError(f"line {line}: the file cannot be read on: {error}") from None
        if any(cell.strip() for cell in cells):
            yield line, cells
        line = reader.line_num + 1


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        # Spreadsheets keep long numbers (phones) as floats: 5215512345678.0.
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


@contextlib.contextmanager
def _open_xlsx(path: Path) -> Iterator[Table]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as error:
        raise InvalidImportError(f"the file is not a readable XLSX workbook: {error}") from None
    except Exception as error:  # zipfile.BadZipFile and the like: not a workbook at all
        raise InvalidImportError(f"the file is not an XLSX workbook: {error}") from None
    try:
        sheet = workbook.worksheets[0]

        def rows() -> Iterator[tuple[int, list[str]]]:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_cell_text(value) for value in values]
                if any(cell.strip() for cell in cells):
                    yield number, cells

        iterator = rows()
        first = next(iterator, None)
        if first is None:
            raise InvalidImportError("the sheet is empty: it needs a header row")
        headers = first[1]
        while headers and not headers[-1].strip():
            headers.pop()  # formatted but empty columns at the right
        yield Table(headers=[cell.strip() for cell in headers], rows=iterator)
    finally:
        workbook.close()


def preview(
    path: Path, *, file_format: str, rows: int = PREVIEW_ROWS
) -> tuple[list[str], list[list[str]]]:
    """The headers and the first ``rows`` rows of a file (for a mapping page)."""
    with open_table(path, file_format=file_format) as table:
        return table.headers, [
            cells for _, (_, cells) in zip(range(rows), table.rows, strict=False)
        ]


# --- Rows --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row not imported: its line, the field and value at fault, a reason slug, a sentence,
    and the row's cells."""

    line: int
    field: str
    value: str
    reason: str
    detail: str
    cells: tuple[str, ...]


def read_row(
    line: int,
    cells: Sequence[str],
    *,
    mapping: Sequence[str],
    default_country: str | None,
    tags: Sequence[str] = (),
) -> contacts_service.ImportedContact | Rejection:
    """One row as a contact, or why not. Cells past the headers that hold something make
    the row ambiguous (a delimiter inside an unquoted value); missing cells are empty."""

    def rejected(field: str, value: str, reason: str, detail: str) -> Rejection:
        return Rejection(line, field, value[:MAX_VALUE_LENGTH], reason, detail[:300], tuple(cells))

    extra = [cell for cell in cells[len(mapping) :] if cell.strip()]
    if extra:
        return rejected(
            "",
            extra[0],
            "too_many_columns",
            f"the row has {len(cells)} cells for {len(mapping)} columns",
        )
    values: dict[str, str] = {}
    attributes: dict[str, str] = {}
    for target, raw in zip(mapping, cells, strict=False):
        value = raw.strip()
        if not value or target == SKIP:
            continue
        if len(value) > MAX_VALUE_LENGTH:
            return rejected(
                target.removeprefix(ATTRIBUTE),
                value,
                "value_too_long",
                f"longer than {MAX_VALUE_LENGTH} characters",
            )
        if target.startswith(ATTRIBUTE):
            attributes[target[len(ATTRIBUTE) :]] = value
        else:
            values[target] = value
    region = default_country
    if COUNTRY in values:
        region = values[COUNTRY].upper()
        if not re.fullmatch(r"[A-Z]{2}", region):
            return rejected(
                COUNTRY,
                values[COUNTRY],
                "unknown_country",
                "not a two-letter ISO country code (like MX)",
            )
    number_text = values.get(PHONE)
    if number_text is None:
        return rejected(PHONE, "", "missing_phone", "the row has no phone number")
    try:
        try:
            number = normalize_by_prefix(number_text, region)
        except ValueError:  # not a number, or an unknown region: said as the service says it
            number = contacts_service.normalized_phone(
                number_text, field=PHONE, default_region=region
            )
    except InvalidPhoneNumberError as error:
        reason = str(error.extra.get("reason", "invalid"))
        if reason == "unknown_default_region":
            return rejected(COUNTRY, region or "", "unknown_country", "not a known country")
        return rejected(PHONE, number_text, "invalid_phone", str(error.detail or error))
    name = values.get(NAME) or " ".join(
        part for part in (values.get(FIRST_NAME), values.get(LAST_NAME)) if part
    )
    if len(name) > MAX_NAME_LENGTH:
        return rejected(NAME, name, "name_too_long", f"longer than {MAX_NAME_LENGTH} characters")
    row_tags = [*_TAG_SEPARATORS.split(values.get(TAGS, "")), *tags]
    too_long = next(
        (t.strip() for t in row_tags if len(t.strip()) > contacts_service.MAX_TAG_LENGTH), None
    )
    if too_long is not None:
        return rejected(
            TAGS,
            too_long,
            "tag_too_long",
            f"a tag is longer than {contacts_service.MAX_TAG_LENGTH} characters",
        )
    return contacts_service.ImportedContact(
        wa_id=number.wa_id,
        e164=number.e164,
        country=number.country,
        name=name or None,
        attributes=attributes,
        tags=tuple(contacts_service.clean_tags(row_tags)),
    )


@dataclass(slots=True)
class Batch:
    rows: int
    contacts: list[contacts_service.ImportedContact]
    rejections: list[Rejection]


def read_batch(
    rows: Iterator[tuple[int, list[str]]],
    *,
    mapping: Sequence[str],
    default_country: str | None,
    tags: Sequence[str],
    size: int = BATCH_ROWS,
) -> Batch:
    """Up to ``size`` rows read and judged; fewer only at the end of the file."""
    batch = Batch(rows=0, contacts=[], rejections=[])
    for line, cells in rows:
        batch.rows += 1
        outcome = read_row(line, cells, mapping=mapping, default_country=default_country, tags=tags)
        if isinstance(outcome, Rejection):
            batch.rejections.append(outcome)
        else:
            batch.contacts.append(outcome)
        if batch.rows >= size:
            break
    return batch


# --- Imports in the database ---------------------------------------------------------------


def upload_path(settings: Settings, contact_import: ContactImport) -> Path:
    """Where an uploaded file waits for (and during) its import."""
    return (
        settings.data_dir
        / "imports"
        / contact_import.workspace_id.hex
        / f"{contact_import.id.hex}.{contact_import.file_format}"
    )


def _check_country(default_country: str | None) -> str | None:
    if not default_country or not default_country.strip():
        return None
    country = default_country.strip().upper()
    try:
        contacts_service.normalized_phone("+1 201 555 0123", field="x", default_region=country)
    except InvalidPhoneNumberError:
        raise InvalidImportError(
            f"{default_country!r} is not a known country (ISO alpha-2, like MX)"
        ) from None
    return country


async def check_upload(
    *,
    session: AsyncSession,
    settings: Settings,
    workspace_id: uuid.UUID,
    file_name: str,
    source: IO[bytes],
    default_country: str | None,
    now: datetime,
) -> ContactImport:
    """Keep an uploaded file as a ``pending`` import, its columns mapped automatically.

    The file is copied to disk a chunk at a time and its header row read; a file without
    one is refused (and not kept). Commits.
    """
    contact_import = ContactImport(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        status=ImportStatus.PENDING,
        file_name=Path(file_name or "contacts.csv").name[:255],
        file_format=file_format_of(file_name or ""),
        default_country=_check_country(default_country),
        tags=[],
        created_at=now,
    )
    path = upload_path(settings, contact_import)

    limit = settings.web.max_import_bytes

    def keep() -> tuple[int, list[str]]:
        path.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with path.open("wb") as target:
            while chunk := source.read(_CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                target.write(chunk)
        with open_table(path, file_format=contact_import.file_format) as table:
            return size, table.headers

    try:
        size, headers = await asyncio.to_thread(keep)
        if len(headers) > MAX_COLUMNS:
            raise InvalidImportError(f"the file has {len(headers)} columns; at most {MAX_COLUMNS}")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    contact_import.file_size = size
    contact_import.columns = headers
    contact_import.mapping = auto_mapping(headers)
    session.add(contact_import)
    await session.commit()
    log.info(
        "contact_import_uploaded",
        workspace_id=str(workspace_id),
        import_id=str(contact_import.id),
        size=size,
    )
    return contact_import


async def check_local_file(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    path: Path,
    default_country: str | None,
    overrides: Mapping[str, str] | None = None,
    tags: Sequence[str] = (),
    now: datetime,
) -> ContactImport:
    """A ``running`` import of a file already on this machine (the CLI), read where it is:
    its columns mapped automatically, then by ``overrides``. Commits."""
    file_format = file_format_of(path.name)

    def headers_of() -> tuple[int, list[str]]:
        with open_table(path, file_format=file_format) as table:
            return path.stat().st_size, table.headers

    size, headers = await asyncio.to_thread(headers_of)
    contact_import = ContactImport(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        status=ImportStatus.PENDING,
        file_name=path.name[:255],
        file_format=file_format,
        file_size=size,
        default_country=_check_country(default_country),
        columns=headers,
        mapping=auto_mapping(headers),
        tags=[],
        created_at=now,
    )
    session.add(contact_import)
    await session.flush()
    return await check_start(
        session=session,
        workspace_id=workspace_id,
        import_id=contact_import.id,
        overrides=overrides,
        tags=tags,
        now=now,
    )


async def get_import(
    *, session: AsyncSession, workspace_id: uuid.UUID, import_id: uuid.UUID
) -> ContactImport | None:
    return await session.scalar(
        select(ContactImport).where(
            ContactImport.workspace_id == workspace_id, ContactImport.id == import_id
        )
    )


async def get_import_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, import_id: uuid.UUID
) -> ContactImport:
    found = await get_import(session=session, workspace_id=workspace_id, import_id=import_id)
    if found is None:
        raise ImportNotFoundError(f"contact import {import_id} does not exist in this workspace")
    return found


async def list_imports(
    *, session: AsyncSession, workspace_id: uuid.UUID, limit: int = 10
) -> list[ContactImport]:
    """The workspace's latest imports, newest first."""
    return list(
        await session.scalars(
            select(ContactImport)
            .where(ContactImport.workspace_id == workspace_id)
            .order_by(ContactImport.id.desc())
            .limit(limit)
        )
    )


async def check_start(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    import_id: uuid.UUID,
    overrides: Mapping[str, str] | None = None,
    mapping: Sequence[str] | None = None,
    default_country: str | None = None,
    tags: Sequence[str] = (),
    now: datetime,
) -> ContactImport:
    """Fix a pending import's mapping (``mapping`` whole, or ``overrides`` by column) and
    mark it ``running``; the caller then runs it (``run_import``). Commits."""
    contact_import = await get_import_or_raise(
        session=session, workspace_id=workspace_id, import_id=import_id
    )
    if contact_import.status != ImportStatus.PENDING:
        raise InvalidImportError(f"the import is {contact_import.status}, not waiting to start")
    # Everything is checked before the import changes: a refusal leaves it as it was.
    targets = list(mapping) if mapping is not None else list(contact_import.mapping)
    if overrides:
        targets = apply_overrides(contact_import.columns, targets, overrides)
    targets = check_mapping(contact_import.columns, targets)
    country = (
        _check_country(default_country)
        if default_country is not None
        else contact_import.default_country
    )
    cleaned = [tag.strip() for tag in tags if tag.strip()]
    for tag in cleaned:
        if len(tag) > contacts_service.MAX_TAG_LENGTH:
            raise InvalidImportError(
                f"tag {tag[:60]!r} is longer than {contacts_service.MAX_TAG_LENGTH} characters"
            )
    contact_import.mapping = targets
    contact_import.default_country = country
    contact_import.tags = contacts_service.clean_tags(cleaned)
    contact_import.status = ImportStatus.RUNNING
    contact_import.started_at = now
    await session.commit()
    log.info("contact_import_started", workspace_id=str(workspace_id), import_id=str(import_id))
    return contact_import


Progress = Callable[[ContactImport], None]

# A lease a dead holder keeps at most this long (ovillo.worker.leases); renewed 3 times as often.
LEASE_SECONDS: Final = 15.0


def import_lease_name(import_id: uuid.UUID) -> str:
    """The lease an import runs under: one process at a time reads its file."""
    return f"contact-import:{import_id}"


class _LeaseLost(Exception):
    """Another process took the import over (this one was thought dead): stop, write nothing."""


@dataclass(frozen=True, slots=True)
class _Fence:
    name: str
    holder: str
    token: int

    def held(self) -> Any:
        return lease_is_held(name=self.name, holder=self.holder, fencing_token=self.token)


async def run_import(
    *,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    import_id: uuid.UUID,
    path: Path,
    holder: str,
    lease_seconds: float = LEASE_SECONDS,
    on_progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ContactImport:
    """Import a ``running`` import's file, batch by batch, from the row after the last
    committed one; the import as it ended (or as it is, if another holder has it).

    Runs under the import's lease, held by ``holder`` and renewed in the background. Each
    batch commits its contacts, its rejects and the counters together, fenced by the lease,
    so a crash leaves the counters true to what was written and a resume reads on from
    there. Ends ``finished``, or ``failed`` with the reason (an unreadable line, a database
    error); never raises for the file's content. Cancelled (the server stopping), it gives
    the lease back and stays ``running``: the next worker resumes it. A lost lease stops it
    without writing.
    """
    name = import_lease_name(import_id)
    # The gate before the session's first statement: on SQLite that statement takes the write
    # lock (BEGIN IMMEDIATE), and waiting for the gate while holding it deadlocked with a
    # writer holding the gate and waiting for the lock (the worker's orphan check), until
    # SQLite's busy timeout failed that writer.
    async with sqlite_write_gate(engine), sessionmaker() as session:
        contact_import = await session.get(ContactImport, import_id)
        if contact_import is None:
            raise ImportNotFoundError(f"contact import {import_id} does not exist")
        if contact_import.status != ImportStatus.RUNNING:
            return contact_import
        token = await acquire_lease_token(
            session=session, name=name, holder=holder, ttl_seconds=lease_seconds,
            now=clock.now(),
        )  # fmt: skip
    if token is None:
        log.info("contact_import_held_elsewhere", import_id=str(import_id))
        return contact_import
    fence = _Fence(name, holder, token)
    heartbeat = asyncio.create_task(_renew(engine, sessionmaker, clock, fence, lease_seconds))
    try:
        return await _run_leased(
            engine, sessionmaker, clock, contact_import, path, fence, on_progress, batch_rows
        )
    finally:
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)


async def _renew(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    fence: _Fence,
    lease_seconds: float,
) -> None:
    while True:
        await asyncio.sleep(lease_seconds / 3)
        try:
            async with sqlite_write_gate(engine), sessionmaker() as session:
                token = await acquire_lease_token(
                    session=session, name=fence.name, holder=fence.holder,
                    ttl_seconds=lease_seconds, now=clock.now(),
                )  # fmt: skip
        except Exception:
            log.warning("contact_import_lease_renewal_failed", lease=fence.name, exc_info=True)
            continue
        if token != fence.token:
            return  # taken over: the fenced writes now match nothing


async def _run_leased(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    clock: Clock,
    contact_import: ContactImport,
    path: Path,
    fence: _Fence,
    on_progress: Progress | None,
    batch_rows: int,
) -> ContactImport:
    import_id, workspace_id = contact_import.id, contact_import.workspace_id
    done = contact_import.rows_read
    if done:
        log.info("contact_import_resumed", import_id=str(import_id), rows_read=done)
    error: str | None = None
    try:
        with open_table(path, file_format=contact_import.file_format) as table:
            check_mapping(table.headers, contact_import.mapping)
            mapping, default_country = contact_import.mapping, contact_import.default_country
            tags = contact_import.tags
            rows = table.rows

            def skip_done() -> None:
                # Rows are counted as read (blank ones skipped), so the count is a position.
                for _ in zip(range(done), rows, strict=False):
                    pass

            def next_batch() -> asyncio.Future[Batch]:
                return asyncio.ensure_future(
                    asyncio.to_thread(
                        read_batch,
                        rows,
                        mapping=mapping,
                        default_country=default_country,
                        tags=tags,
                        size=batch_rows,
                    )
                )

            await asyncio.to_thread(skip_done)
            # The next batch is read and judged (in a thread) while this one is written:
            # parsing numbers and writing rows take turns no more.
            reading = next_batch()
            try:
                while (batch := await reading).rows:
                    reading = next_batch()
                    contact_import = await _write_batch(
                        engine, sessionmaker, contact_import, batch, clock.now(), fence
                    )
                    if on_progress is not None:
                        on_progress(contact_import)
            finally:
                # The thread may still be reading the file: let it finish before it closes.
                await asyncio.gather(reading, return_exceptions=True)
    except InvalidImportError as problem:
        error = str(problem)
    except _LeaseLost:
        log.warning("contact_import_taken_over", import_id=str(import_id))
        async with sessionmaker() as session:
            current = await session.get(ContactImport, import_id)
            assert current is not None
            return current
    except asyncio.CancelledError:
        # The server stops: the import stays ``running`` and the lease is given back, so
        # the next worker to look resumes it from here.
        async with sqlite_write_gate(engine), sessionmaker() as session:
            await release_lease(session=session, name=fence.name, holder=fence.holder)
        log.info("contact_import_paused", import_id=str(import_id))
        raise
    except Exception as problem:
        log.exception("contact_import_crashed", import_id=str(import_id))
        error = f"the import stopped: {type(problem).__name__}"
    contact_import = await _finish(engine, sessionmaker, import_id, clock.now(), error, fence)
    log.info(
        "contact_import_finished",
        workspace_id=str(workspace_id),
        import_id=str(import_id),
        status=contact_import.status,
        rows=contact_import.rows_read,
        created=contact_import.created,
        updated=contact_import.updated,
        rejected=contact_import.rejected,
    )
    if on_progress is not None:
        on_progress(contact_import)
    return contact_import


async def _write_batch(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    contact_import: ContactImport,
    batch: Batch,
    now: datetime,
    fence: _Fence,
) -> ContactImport:
    async with sqlite_write_gate(engine), sessionmaker() as session:
        # The counters first, fenced: if the lease went to another process, nothing below
        # is written (the rollback takes the whole batch back).
        moved = await session.execute(
            update(ContactImport)
            .where(ContactImport.id == contact_import.id, fence.held())
            .values(
                rows_read=ContactImport.rows_read + batch.rows,
                rejected=ContactImport.rejected + len(batch.rejections),
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 0) != 1:
            await session.rollback()
            raise _LeaseLost
        created, updated = await contacts_service.do_merge_imported(
            session=session,
            workspace_id=contact_import.workspace_id,
            contacts=batch.contacts,
            now=now,
        )
        if batch.rejections:
            # A line's reject is kept once, whatever replays its batch.
            await session.execute(
                insert_for(session)(ContactImportReject.__table__).on_conflict_do_nothing(),
                [
                    {
                        "import_id": contact_import.id,
                        "line": r.line,
                        "field": r.field,
                        "value": r.value,
                        "reason": r.reason,
                        "detail": r.detail,
                        "cells": [cell[:MAX_VALUE_LENGTH] for cell in r.cells[:MAX_COLUMNS]],
                    }
                    for r in batch.rejections
                ],
            )
        await session.execute(
            update(ContactImport)
            .where(ContactImport.id == contact_import.id)
            .values(
                created=ContactImport.created + created,
                updated=ContactImport.updated + updated,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        fresh = await session.get(ContactImport, contact_import.id, populate_existing=True)
        assert fresh is not None
        return fresh


async def _finish(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    import_id: uuid.UUID,
    now: datetime,
    error: str | None,
    fence: _Fence | None = None,
) -> ContactImport:
    async with sqlite_write_gate(engine), sessionmaker() as session:
        await session.execute(
            update(ContactImport)
            .where(ContactImport.id == import_id, *([fence.held()] if fence else []))
            .values(
                status=ImportStatus.FAILED if error else ImportStatus.FINISHED,
                error=error[:1000] if error else None,
                finished_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        if fence is not None:
            await release_lease(session=session, name=fence.name, holder=fence.holder)
        contact_import = await session.get(ContactImport, import_id, populate_existing=True)
        assert contact_import is not None
        return contact_import


async def get_rejects_page(
    *, session: AsyncSession, import_id: uuid.UUID, after_line: int, limit: int
) -> list[ContactImportReject]:
    """Rejects of an import past ``after_line``, by line (callers scope ``import_id``)."""
    return list(
        await session.scalars(
            select(ContactImportReject)
            .where(
                ContactImportReject.import_id == import_id,
                ContactImportReject.line > after_line,
            )
            .order_by(ContactImportReject.line)
            .limit(limit)
        )
    )


async def rejects_csv(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    contact_import: ContactImport,
    page: int = 5_000,
) -> AsyncIterator[str]:
    """The import's rejects as CSV text, a page at a time: ``line, field, value, reason,
    detail``, then the file's own columns (fix them and import the file again).

    Each page is read in a short session of its own: a download held open for minutes must
    not hold a database connection (nor SQLite's write lock) that long."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "field", "value", "reason", "detail", *contact_import.columns])
    after = 0
    while True:
        async with sessionmaker() as session:
            rejects = await get_rejects_page(
                session=session, import_id=contact_import.id, after_line=after, limit=page
            )
        for reject in rejects:
            described = [reject.line, reject.field, reject.value, reject.reason, reject.detail]
            writer.writerow([*described, *reject.cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if len(rejects) < page:
            return
        after = rejects[-1].line


async def check_upload_and_start(
    *,
    session: AsyncSession,
    settings: Settings,
    workspace_id: uuid.UUID,
    file_name: str,
    source: IO[bytes],
    default_country: str | None,
    overrides: Mapping[str, str],
    tags: Sequence[str],
    now: datetime,
) -> ContactImport:
    """An uploaded file kept and its import started at once (the REST API): the automatic
    mapping adjusted by ``overrides``. A mapping that cannot work (no phone column, an
    unknown target) refuses the upload and deletes the file. Commits; the caller runs it."""
    contact_import = await check_upload(
        session=session,
        settings=settings,
        workspace_id=workspace_id,
        file_name=file_name,
        source=source,
        default_country=default_country,
        now=now,
    )
    try:
        return await check_start(
            session=session,
            workspace_id=workspace_id,
            import_id=contact_import.id,
            overrides=overrides,
            tags=tags,
            now=now,
        )
    except InvalidImportError:
        await session.rollback()
        await session.delete(contact_import)
        await session.commit()
        upload_path(settings, contact_import).unlink(missing_ok=True)
        raise


# --- In the background of the serving process (and of workers) ----------------------------

_running: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[uuid.UUID, asyncio.Task[ContactImport]]
] = weakref.WeakKeyDictionary()
_holders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, str] = weakref.WeakKeyDictionary()


def process_holder() -> str:
    """This process's name in import leases (one per event loop)."""
    from ovillo.worker.runtime import default_holder  # the worker imports this module

    loop = asyncio.get_running_loop()
    if loop not in _holders:
        _holders[loop] = f"import:{default_holder()}"
    return _holders[loop]


def start_in_background(
    *, runtime: Runtime, contact_import: ContactImport, holder: str | None = None
) -> asyncio.Task[ContactImport]:
    """Run a started import as a task of this process, under its lease; its file is deleted
    when it ends (``finished`` or ``failed``), kept while it is still ``running``."""
    path = upload_path(runtime.settings, contact_import)
    import_id = contact_import.id
    tasks = _running.setdefault(asyncio.get_running_loop(), {})
    if import_id in tasks:
        return tasks[import_id]

    async def run() -> ContactImport:
        ended = await run_import(
            engine=runtime.engine,
            sessionmaker=runtime.sessionmaker,
            clock=runtime.clock,
            import_id=import_id,
            path=path,
            holder=holder or process_holder(),
            lease_seconds=runtime.settings.worker.lease_seconds,
        )
        if ended.status in (ImportStatus.FINISHED, ImportStatus.FAILED):
            path.unlink(missing_ok=True)
        return ended

    task = asyncio.create_task(run(), name=f"contact-import-{import_id}")
    tasks[import_id] = task
    task.add_done_callback(lambda _: tasks.pop(import_id, None))
    return task


def orphan_reason(rows_imported: int) -> str:
    """Why an import whose process died, and whose file is gone, cannot finish."""
    return (
        f"the server stopped; {rows_imported} rows were imported; upload the file again to finish"
    )


async def resume_orphaned_imports(runtime: Runtime, *, holder: str) -> int:
    """Take over ``running`` imports of uploaded files whose lease nobody holds (their
    process died, or stopped): resume each in the background (the file is still there) or
    fail it saying how far it got. How many were taken over. Imports of local files (the
    CLI) are its own: a dead CLI's import ends failed here once its lease has run out."""
    now = runtime.clock.now()
    mine = _running.get(asyncio.get_running_loop(), {})
    async with runtime.sessionmaker() as session:
        running = list(
            await session.scalars(
                select(ContactImport).where(ContactImport.status == ImportStatus.RUNNING)
            )
        )
    taken = 0
    for contact_import in running:
        if contact_import.id in mine:
            continue
        name = import_lease_name(contact_import.id)
        async with sqlite_write_gate(runtime.engine), runtime.sessionmaker() as session:
            token = await acquire_lease_token(
                session=session, name=name, holder=holder,
                ttl_seconds=runtime.settings.worker.lease_seconds, now=now,
            )  # fmt: skip
            if token is None:
                continue
            taken += 1
            if upload_path(runtime.settings, contact_import).exists():
                await release_lease(session=session, name=name, holder=holder)
            else:
                await session.execute(
                    update(ContactImport)
                    .where(
                        ContactImport.id == contact_import.id,
                        ContactImport.status == ImportStatus.RUNNING,
                        lease_is_held(name=name, holder=holder, fencing_token=token),
                    )
                    .values(
                        status=ImportStatus.FAILED,
                        error=orphan_reason(contact_import.rows_read - contact_import.rejected),
                        finished_at=now,
                    )
                )
                await session.commit()
                await release_lease(session=session, name=name, holder=holder)
                log.warning("contact_import_orphaned", import_id=str(contact_import.id))
                continue
        log.info("contact_import_taken_over", import_id=str(contact_import.id))
        start_in_background(runtime=runtime, contact_import=contact_import, holder=holder)
    return taken


async def stop_background_imports() -> None:
    """Cancel this loop's running imports: they stay ``running``, their leases given back,
    for the next worker to resume."""
    tasks = list(_running.get(asyncio.get_running_loop(), {}).values())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
