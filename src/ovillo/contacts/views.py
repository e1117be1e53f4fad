"""Pages of contacts: the list, and the import of a spreadsheet (upload, map the columns
over a preview of the first rows, watch the progress, download the rejected rows).

Anyone signed in sees the list; owners and admins import. The progress polls a fragment
(htmx, every second) while the import runs; the import itself runs in the serving process
(``importing.start_in_background``), and is resumed by a worker if that process dies.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts import service as accounts_service
from ovillo.accounts.models import Role
from ovillo.contacts import importing, service
from ovillo.contacts.importing import ImportStatus, ImportTooLargeError, InvalidImportError
from ovillo.contacts.models import ContactImport
from ovillo.core.deps import RuntimeDep, SessionDep
from ovillo.core.downloads import csv_download
from ovillo.web import csrf
from ovillo.web.i18n import Translator
from ovillo.web.pages import (
    AdminDep,
    PageForbiddenError,
    SignInRequiredError,
    Viewer,
    ViewerDep,
    redirect,
    render,
)

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)

# Countries offered for numbers written without +country code; any ISO code works in the API.
COUNTRIES = ("MX", "US", "CO", "AR", "CL", "PE", "ES", "BR", "GT", "EC", "VE", "DO", "CA", "GB")


def target_names(t: Translator) -> dict[str, str]:
    return {
        importing.PHONE: t.gettext("Phone number"),
        importing.NAME: t.gettext("Name"),
        importing.FIRST_NAME: t.gettext("First name"),
        importing.LAST_NAME: t.gettext("Last name"),
        importing.COUNTRY: t.gettext("Country"),
        importing.TAGS: t.gettext("Tags"),
        importing.SKIP: t.gettext("Do not import"),
    }


def status_names(t: Translator) -> dict[str, str]:
    return {
        ImportStatus.PENDING: t.gettext("Waiting for its columns"),
        ImportStatus.RUNNING: t.gettext("Importing"),
        ImportStatus.FINISHED: t.gettext("Finished"),
        ImportStatus.FAILED: t.gettext("Stopped"),
    }


@router.get("/contacts")
async def contacts_page(
    viewer: ViewerDep, session: SessionDep, q: str = "", cursor: str | None = None
) -> HTMLResponse:
    page = await service.list_contacts(
        session=session,
        workspace_id=viewer.me.workspace_id,
        limit=50,
        cursor=cursor,
        search=q[:100] or None,
    )
    return render(
        viewer.page,
        "contacts/list.html",
        {"contacts": page.items, "next_cursor": page.next_cursor, "q": q[:100]},
    )


async def _upload_page(
    viewer: Viewer, session: AsyncSession, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    imports = await importing.list_imports(session=session, workspace_id=viewer.me.workspace_id)
    return render(
        viewer.page,
        "contacts/import.html",
        {
            "imports": imports,
            "countries": COUNTRIES,
            "statuses": status_names(viewer.t),
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/contacts/import")
async def import_page(viewer: AdminDep, session: SessionDep) -> HTMLResponse:
    return await _upload_page(viewer, session)


@router.post("/contacts/import")
async def upload(
    viewer: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File()],
    default_country: Annotated[str, Form(max_length=2)] = "",
) -> Response:
    try:
        contact_import = await importing.check_upload(
            session=session,
            settings=runtime.settings,
            workspace_id=viewer.me.workspace_id,
            file_name=file.filename or "contacts.csv",
            source=file.file,
            default_country=default_country or None,
            now=runtime.clock.now(),
        )
    except InvalidImportError as error:
        return await _upload_page(viewer, session, error=error.detail, status_code=422)
    except ImportTooLargeError as error:
        return await _upload_page(viewer, session, error=error.detail, status_code=413)
    return redirect(viewer.page, f"/contacts/import/{contact_import.id}")


def _import_context(viewer: Viewer, contact_import: ContactImport) -> dict[str, Any]:
    return {
        "import": contact_import,
        "statuses": status_names(viewer.t),
        "done": contact_import.status in (ImportStatus.FINISHED, ImportStatus.FAILED),
    }


async def _mapping_page(
    viewer: Viewer,
    runtime: RuntimeDep,
    contact_import: ContactImport,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    path = importing.upload_path(runtime.settings, contact_import)
    try:
        _, rows = importing.preview(path, file_format=contact_import.file_format)
    except (InvalidImportError, FileNotFoundError):
        rows = []
    return render(
        viewer.page,
        "contacts/import_map.html",
        {
            **_import_context(viewer, contact_import),
            "columns": list(zip(contact_import.columns, contact_import.mapping, strict=False)),
            "rows": rows,
            "targets": target_names(viewer.t),
            "countries": COUNTRIES,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/contacts/import/{import_id:uuid}")
async def import_detail(
    import_id: uuid.UUID, viewer: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    contact_import = await importing.get_import_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, import_id=import_id
    )
    if contact_import.status == ImportStatus.PENDING:
        return await _mapping_page(viewer, runtime, contact_import)
    return render(
        viewer.page,
        "contacts/import_progress.html",
        _import_context(viewer, contact_import),
    )


@router.post("/contacts/import/{import_id:uuid}/start")
async def start(
    import_id: uuid.UUID,
    request: Request,
    viewer: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
) -> Response:
    form = await request.form()
    contact_import = await importing.get_import_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, import_id=import_id
    )
    mapping: list[str] = []
    for position in range(len(contact_import.columns)):
        target = form.get(f"target-{position}")
        key = form.get(f"attribute-{position}")
        target = target if isinstance(target, str) else importing.SKIP
        if target == "attribute":
            target = importing.ATTRIBUTE + (key.strip() if isinstance(key, str) else "")
        mapping.append(target)
    country = form.get("default_country")
    tags = form.get("tags")
    try:
        started = await importing.check_start(
            session=session,
            workspace_id=viewer.me.workspace_id,
            import_id=import_id,
            mapping=mapping,
            default_country=country if isinstance(country, str) else None,
            tags=tags.split(",") if isinstance(tags, str) else (),
            now=runtime.clock.now(),
        )
    except InvalidImportError as error:
        return await _mapping_page(
            viewer, runtime, contact_import, error=error.detail, status_code=422
        )
    importing.start_in_background(runtime=runtime, contact_import=started)
    return redirect(viewer.page, f"/contacts/import/{import_id}")


@router.get("/contacts/import/{import_id:uuid}/progress")
async def progress(import_id: uuid.UUID, viewer: AdminDep, session: SessionDep) -> HTMLResponse:
    """The progress fragment the page polls while the import runs."""
    contact_import = await importing.get_import_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, import_id=import_id
    )
    return render(
        viewer.page,
        "contacts/_import_progress.html",
        _import_context(viewer, contact_import),
    )


@router.get("/contacts/import/{import_id:uuid}/rejects.csv")
async def rejects(import_id: uuid.UUID, request: Request, runtime: RuntimeDep) -> Response:
    """The rejected rows as CSV. Signed in and checked in a database session of its own,
    closed before streaming (as `/inbox/events`): the stream reads each page in a short
    session, so a slow download holds no connection (nor SQLite's write lock)."""
    token = request.cookies.get(csrf.SESSION_COOKIE, "")
    async with runtime.sessionmaker() as session:
        me = await accounts_service.get_signed_in(
            session=session, token=token, now=runtime.clock.now()
        )
        if me is None:
            raise SignInRequiredError("sign in to see this page")
        if not accounts_service.role_at_least(me.role, Role.ADMIN):
            raise PageForbiddenError("this page is for the workspace's owners and admins")
        contact_import = await importing.get_import_or_raise(
            session=session, workspace_id=me.workspace_id, import_id=import_id
        )
    return csv_download(
        importing.rejects_csv(sessionmaker=runtime.sessionmaker, contact_import=contact_import),
        filename=f"rejects-{contact_import.id}.csv",
    )
