"""``/contacts``: the workspace's WhatsApp users and what the business keeps about them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials

from ovillo.contacts import importing, segments, service
from ovillo.contacts.schemas import (
    ContactCreate,
    ContactImportOut,
    ContactOut,
    ContactPageOut,
    ContactUpdate,
    SegmentCountOut,
)
from ovillo.core.auth import ApiContext, api_context, api_problem_responses, bearer_scheme
from ovillo.core.deps import ClockDep, RuntimeDep, SessionDep
from ovillo.core.downloads import csv_download
from ovillo.core.paging import Cursor

router = APIRouter(prefix="/contacts", tags=["contacts"])


class BoundedUploadRoute(APIRoute):
    """A route that refuses a body declared larger than the import limit before FastAPI
    reads (and spools) any of it; the copy to disk counts the rest (``check_upload``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            if request.method == "POST":
                settings = request.app.state.runtime.settings
                importing.check_declared_size(
                    request.headers.get("content-length"), limit=settings.web.max_import_bytes
                )
            return await handler(request)

        return bounded


# Mounted before ``router``, whose ``/contacts/{contact_id}`` would take "imports" for an id.
imports_router = APIRouter(
    prefix="/contacts/imports", tags=["contacts"], route_class=BoundedUploadRoute
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a contact",
    response_model=ContactOut,
    responses=api_problem_responses(409, 422),
)
async def create_contact(
    body: ContactCreate, context: ApiContext, session: SessionDep, clock: ClockDep
) -> ContactOut:
    """The number is normalised as WhatsApp names users; a number that cannot be a WhatsApp
    number is refused with the reason."""
    contact = await service.create_contact(
        session=session,
        workspace_id=context.workspace_id,
        phone_number=body.phone,
        user_id=body.user_id,
        default_region=body.default_region,
        name=body.name,
        attributes=body.attributes,
        tags=body.tags,
        opt_outs=body.opted_out,
        now=clock.now(),
    )
    return ContactOut.of(contact)


@router.get(
    "",
    summary="List contacts",
    response_model=ContactPageOut,
    responses=api_problem_responses(422),
)
async def list_contacts(
    context: ApiContext,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)] = service.DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    search: Annotated[
        str | None, Query(max_length=100, description="Name, WhatsApp name or phone digits.")
    ] = None,
) -> ContactPageOut:
    """Newest first, a page at a time; follow `next_cursor` until it is null."""
    page = await service.list_contacts(
        session=session,
        workspace_id=context.workspace_id,
        limit=limit,
        cursor=cursor,
        tag=tag,
        search=search,
    )
    return ContactPageOut(
        data=[ContactOut.of(contact) for contact in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "/segments/count",
    summary="Count a segment",
    response_model=SegmentCountOut,
    responses=api_problem_responses(422),
)
async def count_segment(
    body: segments.SegmentFilter, context: ApiContext, session: SessionDep, clock: ClockDep
) -> SegmentCountOut:
    """How many contacts the filter selects; those opted out of marketing and those Meta
    reported as not on WhatsApp are left out and counted apart."""
    count = await segments.count_segment(
        session=session, workspace_id=context.workspace_id, spec=body, now=clock.now()
    )
    return SegmentCountOut(
        matching=count.matching,
        excluded_opted_out=count.excluded_opted_out,
        excluded_not_on_whatsapp=count.excluded_not_on_whatsapp,
        by_country=count.by_country,
    )


@router.get(
    "/{contact_id}",
    summary="Get a contact",
    response_model=ContactOut,
    responses=api_problem_responses(404, 422),
)
async def get_contact(
    contact_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> ContactOut:
    contact = await service.get_contact_or_raise(
        session=session, workspace_id=context.workspace_id, contact_id=contact_id
    )
    return ContactOut.of(contact)


@router.patch(
    "/{contact_id}",
    summary="Change a contact",
    response_model=ContactOut,
    responses=api_problem_responses(404, 409, 422),
)
async def update_contact(
    contact_id: uuid.UUID,
    body: ContactUpdate,
    context: ApiContext,
    session: SessionDep,
    clock: ClockDep,
) -> ContactOut:
    """Only the fields sent change: `attributes` are merged, `tags` replaced,
    `add_tags`/`remove_tags` edit them, `opted_out` records opt-outs per category."""
    sent = body.model_fields_set
    changes: dict[str, Any] = {}
    if "name" in sent:
        changes["name"] = body.name
    if "phone" in sent:
        changes["phone_number"] = body.phone
    contact = await service.update_contact(
        session=session,
        workspace_id=context.workspace_id,
        contact_id=contact_id,
        now=clock.now(),
        default_region=body.default_region,
        attributes=body.attributes,
        tags=body.tags,
        add_tags=body.add_tags,
        remove_tags=body.remove_tags,
        opt_outs=body.opted_out,
        **changes,
    )
    return ContactOut.of(contact)


@router.delete(
    "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a contact",
    response_class=Response,
    responses=api_problem_responses(404, 422),
)
async def delete_contact(
    contact_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> Response:
    """Erases the contact with its conversations and messages."""
    await service.delete_contact(
        session=session, workspace_id=context.workspace_id, contact_id=contact_id
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@imports_router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import contacts from a file",
    response_model=ContactImportOut,
    responses=api_problem_responses(413, 422),
)
async def create_import(
    context: ApiContext,
    session: SessionDep,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="A CSV (any delimiter) or XLSX file.")],
    default_country: Annotated[
        str | None,
        Form(max_length=2, description="ISO country of numbers written without +country code."),
    ] = None,
    map: Annotated[
        list[str],
        Form(
            description="COLUMN=TARGET, repeatable, over the mapping guessed from the headers; "
            "TARGET is phone, name, first_name, last_name, country, tags, skip or "
            "attribute:KEY."
        ),
    ] = [],  # noqa: B006 (FastAPI copies parameter defaults per request)
    tag: Annotated[list[str], Form(description="A tag for every contact; repeatable.")] = [],  # noqa: B006 (as above)
) -> ContactImportOut:
    """The file is kept and imported in the background: poll the import until its `status`
    is `finished` (or `failed`). One contact per number (rows of a known number are merged:
    attributes merged, tags added); rows that cannot be imported are counted and listed in
    `rejects_url`, and cost nothing to the others."""
    contact_import = await importing.check_upload_and_start(
        session=session,
        settings=runtime.settings,
        workspace_id=context.workspace_id,
        file_name=file.filename or "contacts.csv",
        source=file.file,
        default_country=default_country,
        overrides=importing.parse_overrides(map),
        tags=tag,
        now=runtime.clock.now(),
    )
    importing.start_in_background(runtime=runtime, contact_import=contact_import)
    return ContactImportOut.of(contact_import)


@imports_router.get(
    "/{import_id}",
    summary="Get a contact import",
    response_model=ContactImportOut,
    responses=api_problem_responses(404, 422),
)
async def get_import(
    import_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> ContactImportOut:
    """Its status and counters, which move as each batch of rows is written."""
    contact_import = await importing.get_import_or_raise(
        session=session, workspace_id=context.workspace_id, import_id=import_id
    )
    return ContactImportOut.of(contact_import)


@imports_router.get(
    "/{import_id}/rejects",
    summary="Download an import's rejected rows",
    response_class=StreamingResponse,
    responses={
        **api_problem_responses(404, 422),
        200: {"content": {"text/csv": {}}, "description": "The rejected rows."},
    },
)
async def get_import_rejects(
    import_id: uuid.UUID,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> StreamingResponse:
    """CSV: `line, field, value, reason, detail`, then the row's own columns, so the file can
    be fixed and imported again."""
    # Checked in a session closed before streaming (as `/inbox/events`): the stream reads
    # each page in a short session of its own.
    async with runtime.sessionmaker() as session:
        context = await api_context(session, runtime.clock, credentials)
        contact_import = await importing.get_import_or_raise(
            session=session, workspace_id=context.workspace_id, import_id=import_id
        )
    return csv_download(
        importing.rejects_csv(sessionmaker=runtime.sessionmaker, contact_import=contact_import),
        filename=f"rejects-{contact_import.id}.csv",
    )
