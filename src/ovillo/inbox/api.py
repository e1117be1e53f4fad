"""``/conversations``, ``/messages`` and ``/media``: the inbox over the REST API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    Header,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials

from ovillo.contacts.schemas import ContactOut
from ovillo.core import events, idempotency
from ovillo.core.auth import ApiContext, api_context, api_problem_responses, bearer_scheme
from ovillo.core.deps import ClockDep, RuntimeDep, SessionDep
from ovillo.core.paging import Cursor
from ovillo.inbox import search, service
from ovillo.inbox.downloads import media_response
from ovillo.inbox.models import ConversationStatus
from ovillo.inbox.schemas import (
    AssignIn,
    ContactHitsOut,
    ConversationEventListOut,
    ConversationEventOut,
    ConversationOut,
    ConversationPageOut,
    MediaOut,
    MessageHitsOut,
    MessageOut,
    MessagePageOut,
    MessageQueuedOut,
    MessageSend,
    NoteIn,
    NoteListOut,
    NoteOut,
    SearchOut,
)

router = APIRouter(tags=["inbox"])

PageSize = Annotated[int, Query(ge=1, le=service.MAX_PAGE_SIZE)]


# --- Conversations -----------------------------------------------------------------------


@router.get(
    "/conversations",
    summary="List conversations",
    response_model=ConversationPageOut,
    responses=api_problem_responses(422),
)
async def list_conversations(
    context: ApiContext,
    session: SessionDep,
    clock: ClockDep,
    status_: Annotated[ConversationStatus | None, Query(alias="status")] = None,
    number_id: Annotated[uuid.UUID | None, Query(description="A number's id.")] = None,
    assignee: Annotated[
        str | None, Query(max_length=40, description="A user id, or `none` for unassigned.")
    ] = None,
    contact_id: uuid.UUID | None = None,
    tag: Annotated[str | None, Query(max_length=50, description="A tag of the contact.")] = None,
    window: Annotated[
        Literal["open", "closed"] | None,
        Query(description="Whether the 24-hour customer-service window is open now."),
    ] = None,
    limit: PageSize = service.DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> ConversationPageOut:
    """Latest activity first, a page at a time; follow `next_cursor` until it is null."""
    now = clock.now()
    page = await service.list_conversations(
        session=session,
        workspace_id=context.workspace_id,
        now=now,
        status=status_,
        channel_id=number_id,
        assignee=service.assignee_filter(assignee) if assignee is not None else None,
        contact_id=contact_id,
        tag=tag,
        window=window,
        limit=limit,
        cursor=cursor,
    )
    return ConversationPageOut(
        data=[ConversationOut.of(view, now=now) for view in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/conversations/{conversation_id}",
    summary="Get a conversation",
    response_model=ConversationOut,
    responses=api_problem_responses(404, 422),
)
async def get_conversation(
    conversation_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> ConversationOut:
    view = await service.get_conversation_view_or_raise(
        session=session, workspace_id=context.workspace_id, conversation_id=conversation_id
    )
    return ConversationOut.of(view, now=clock.now())


@router.post(
    "/conversations/{conversation_id}/assign",
    summary="Assign a conversation",
    response_model=ConversationOut,
    responses=api_problem_responses(404, 422),
)
async def assign_conversation(
    conversation_id: uuid.UUID,
    body: AssignIn,
    context: ApiContext,
    session: SessionDep,
    clock: ClockDep,
) -> ConversationOut:
    """To an agent (`user_id`), or to nobody (`user_id: null`), and optionally a team.
    Recorded in the conversation's events."""
    changes: dict[str, Any] = {}
    if "team_id" in body.model_fields_set:
        changes["team_id"] = body.team_id
    now = clock.now()
    view = await service.assign_conversation(
        session=session,
        workspace_id=context.workspace_id,
        conversation_id=conversation_id,
        user_id=body.user_id,
        actor=service.Actor.api_key(context.api_key_id),
        now=now,
        **changes,
    )
    return ConversationOut.of(view, now=now)


@router.post(
    "/conversations/{conversation_id}/close",
    summary="Close a conversation",
    response_model=ConversationOut,
    responses=api_problem_responses(404, 422),
)
async def close_conversation(
    conversation_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> ConversationOut:
    """Closing a closed conversation changes nothing. The customer writing again opens a
    new one."""
    now = clock.now()
    view = await service.close_conversation(
        session=session,
        workspace_id=context.workspace_id,
        conversation_id=conversation_id,
        actor=service.Actor.api_key(context.api_key_id),
        now=now,
    )
    return ConversationOut.of(view, now=now)


@router.post(
    "/conversations/{conversation_id}/reopen",
    summary="Reopen a conversation",
    response_model=ConversationOut,
    responses=api_problem_responses(404, 409, 422),
)
async def reopen_conversation(
    conversation_id: uuid.UUID, context: ApiContext, session: SessionDep, clock: ClockDep
) -> ConversationOut:
    """409 `conversation_already_open` when the contact has another open conversation on
    the number."""
    now = clock.now()
    view = await service.reopen_conversation(
        session=session,
        workspace_id=context.workspace_id,
        conversation_id=conversation_id,
        actor=service.Actor.api_key(context.api_key_id),
        now=now,
    )
    return ConversationOut.of(view, now=now)


@router.post(
    "/conversations/{conversation_id}/notes",
    status_code=status.HTTP_201_CREATED,
    summary="Add an internal note",
    response_model=NoteOut,
    responses=api_problem_responses(404, 422),
)
async def add_note(
    conversation_id: uuid.UUID,
    body: NoteIn,
    context: ApiContext,
    session: SessionDep,
    clock: ClockDep,
) -> NoteOut:
    """For the team only: a note is never sent to the customer."""
    note = await service.add_note(
        session=session,
        workspace_id=context.workspace_id,
        conversation_id=conversation_id,
        body=body.body,
        now=clock.now(),
    )
    return NoteOut.of(note)


@router.get(
    "/conversations/{conversation_id}/notes",
    summary="List a conversation's notes",
    response_model=NoteListOut,
    responses=api_problem_responses(404, 422),
)
async def list_notes(
    conversation_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> NoteListOut:
    notes = await service.list_notes(
        session=session, workspace_id=context.workspace_id, conversation_id=conversation_id
    )
    return NoteListOut(data=[NoteOut.of(note) for note in notes])


@router.get(
    "/conversations/{conversation_id}/events",
    summary="List a conversation's events",
    response_model=ConversationEventListOut,
    responses=api_problem_responses(404, 422),
)
async def list_events(
    conversation_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> ConversationEventListOut:
    """The audit: who assigned, closed and reopened it, and when; oldest first."""
    events = await service.list_conversation_events(
        session=session, workspace_id=context.workspace_id, conversation_id=conversation_id
    )
    return ConversationEventListOut(data=[ConversationEventOut.of(event) for event in events])


@router.get(
    "/conversations/{conversation_id}/messages",
    summary="List a conversation's messages",
    response_model=MessagePageOut,
    responses=api_problem_responses(404, 422),
)
async def list_messages(
    conversation_id: uuid.UUID,
    context: ApiContext,
    session: SessionDep,
    order: Annotated[
        Literal["asc", "desc"],
        Query(description="desc: newest first (default); asc: oldest first."),
    ] = "desc",
    limit: PageSize = service.DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> MessagePageOut:
    """Both directions (in and out), a page at a time; follow `next_cursor` until it is
    null. A cursor keeps the order it was made in."""
    page = await service.list_messages(
        session=session,
        workspace_id=context.workspace_id,
        conversation_id=conversation_id,
        order=order,
        limit=limit,
        cursor=cursor,
    )
    return MessagePageOut(
        data=[MessageOut.of(message) for message in page.items], next_cursor=page.next_cursor
    )


# --- Messages ----------------------------------------------------------------------------

_SEND_EXAMPLES: dict[str, Any] = {
    "text": {
        "summary": "Text",
        "value": {"to": "+1 555 010 1234", "number_id": "<number id>", "type": "text",
                  "text": {"body": "Your order shipped today."}},
    },
    "image": {
        "summary": "Image uploaded with POST /media",
        "value": {"contact_id": "<contact id>", "number_id": "<number id>", "type": "image",
                  "image": {"id": "<meta_media_id>", "caption": "Your receipt"}},
    },
    "template": {
        "summary": "Template",
        "value": {"to": "+1 555 010 1234", "number_id": "<number id>", "type": "template",
                  "template": {"name": "order_update", "language": {"code": "en_US"},
                               "components": [{"type": "body", "parameters": [
                                   {"type": "text", "text": "Ana"},
                                   {"type": "text", "text": "A-1001"}]}]}},
    },
    "interactive": {
        "summary": "Reply buttons, quoting a message",
        "value": {"conversation_id": "<conversation id>", "reply_to": "<message id>",
                  "type": "interactive",
                  "interactive": {"type": "button", "body": {"text": "Did it arrive?"},
                                  "action": {"buttons": [
                                      {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                                      {"type": "reply", "reply": {"id": "no", "title": "No"}},
                                  ]}}},
    },
}  # fmt: skip


@router.post(
    "/messages",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a message",
    response_model=MessageQueuedOut,
    responses=api_problem_responses(404, 409, 422),
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"examples": _SEND_EXAMPLES}},
        }
    },
)
async def send_message(
    body: MessageSend,
    request: Request,
    context: ApiContext,
    session: SessionDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    idempotency_key: idempotency.IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Queue any message type for sending; it leaves at the number's pace and its status
    (`sent`, `delivered`, `read` or `failed` with the reason) is on GET /messages/{id}.

    The message is checked as Meta checks it (422 naming the field) and the recipient's
    number is normalised (422 with the reason). A free-form message to a customer whose
    24-hour window is closed is accepted but will fail with WhatsApp's error 131047: the
    answer's `window` and `warnings` say so at once. Send an `Idempotency-Key` to retry
    safely: the same request with the same key within 24 hours is answered the first
    answer again (header `Idempotent-Replayed: true`) and sends nothing.
    """
    idempotent = idempotency.idempotent_request(
        idempotency_key,
        method=request.method,
        path=request.url.path,
        body=body.model_dump(mode="json"),
    )
    answer = await service.send_message(
        session=session,
        workspace_id=context.workspace_id,
        send=body,
        author=service.Actor.api_key(context.api_key_id),
        idempotent=idempotent,
        now=clock.now(),
        public_url=runtime.public_url,
    )
    return idempotency.answer_response(
        status_code=answer.status_code, body=answer.body, replayed=answer.replayed
    )


@router.get(
    "/messages/{message_id}",
    summary="Get a message",
    response_model=MessageOut,
    responses=api_problem_responses(404, 422),
)
async def get_message(
    message_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> MessageOut:
    """Its status with every timestamp, and the error in plain words when it failed."""
    message = await service.get_message_or_raise(
        session=session, workspace_id=context.workspace_id, message_id=message_id
    )
    return MessageOut.of(message)


# --- Media -------------------------------------------------------------------------------


@router.post(
    "/media",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a media file",
    response_model=MediaOut,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def upload_media(
    file: Annotated[UploadFile, File(description="The file, with its Content-Type.")],
    number_id: Annotated[uuid.UUID, Form(description="The number that will send it.")],
    context: ApiContext,
    session: SessionDep,
    runtime: RuntimeDep,
) -> MediaOut:
    """Uploaded to WhatsApp for the number and kept here. Send it by Meta's id:
    `{"type": "image", "image": {"id": <meta_media_id>}}`. WhatsApp's accepted types and
    sizes apply (images: JPEG/PNG up to 5 MB, video and audio 16 MB, documents 100 MB)."""
    data = await file.read()
    media = await service.upload_media(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        channel_id=number_id,
        data=data,
        mime_type=file.content_type,
        filename=file.filename,
        now=runtime.clock.now(),
    )
    return MediaOut.of(media)


@router.get(
    "/media/{media_id}",
    summary="Get a media file's details",
    response_model=MediaOut,
    responses=api_problem_responses(404, 422),
)
async def get_media(media_id: uuid.UUID, context: ApiContext, session: SessionDep) -> MediaOut:
    media = await service.get_media_or_raise(
        session=session, workspace_id=context.workspace_id, media_id=media_id
    )
    return MediaOut.of(media)


# Customers' files are served from our origin: never let a browser run them.
@router.get(
    "/media/{media_id}/content",
    summary="Download a media file",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes.", "content": {"application/octet-stream": {}}},
        **api_problem_responses(404, 409, 422),
    },
)
async def get_media_content(
    media_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> Response:
    content = await service.get_media_content(
        session=session, runtime=runtime, workspace_id=context.workspace_id, media_id=media_id
    )
    return media_response(content)


# --- Search ------------------------------------------------------------------------------


@router.get(
    "/search",
    summary="Search contacts and messages",
    response_model=SearchOut,
    responses=api_problem_responses(422),
)
async def search_workspace(
    context: ApiContext,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description="Words to find.")],
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
    cursor: Cursor = None,
) -> SearchOut:
    """Contacts (name, profile name, username, number) and messages (their text) that
    contain every word of `q`, each word as a prefix, accents ignored ("cancion" finds
    "Canción"), best match first. A section's `next_cursor`, passed back with the same
    `q`, gives that section's next page."""
    results = await search.search(
        session=session, workspace_id=context.workspace_id, query=q, limit=limit, cursor=cursor
    )
    return SearchOut(
        contacts=ContactHitsOut(
            data=[ContactOut.of(c) for c in results.contacts.items],
            next_cursor=results.contacts.next_cursor,
        )
        if results.contacts is not None
        else None,
        messages=MessageHitsOut(
            data=[MessageOut.of(m) for m in results.messages.items],
            next_cursor=results.messages.next_cursor,
        )
        if results.messages is not None
        else None,
    )


# --- Live events -------------------------------------------------------------------------


@router.get(
    "/events",
    summary="Follow the workspace's live events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events."},
        **api_problem_responses(),
    },
)
async def follow_events(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> StreamingResponse:
    """Server-Sent Events as things change: `message_created`, `message_status`,
    `conversation_updated`, `note_added`, `contact_updated`; each `data` is JSON with the
    ids and what a row shows. `resync` means events were lost (the reader fell behind, or
    reconnected with `Last-Event-ID`): reload, then follow. Comments keep the stream alive.
    """
    # The key is checked in a session of its own, closed before streaming: a session held
    # for the stream's life would hold a database connection (and SQLite's write lock).
    async with runtime.sessionmaker() as session:
        context = await api_context(session, runtime.clock, credentials)
    stream = events.sse_stream(
        runtime,
        workspace_id=context.workspace_id,
        last_event_id=last_event_id,
        heartbeat_seconds=runtime.settings.server.sse_heartbeat_seconds,
        is_disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
