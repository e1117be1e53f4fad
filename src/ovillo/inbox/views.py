"""Pages of the inbox: the conversation list, a conversation, and what agents do there.

Every page is of the signed-in user's workspace: each service call is scoped by
``viewer.me.workspace_id``, so an id of another workspace is a "not found" page.
Message texts and contact names are the customers' own words: they reach the page only
through autoescaped ``{{ }}``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from ovillo.accounts import service as accounts_service
from ovillo.accounts import teams as teams_service
from ovillo.accounts.models import User
from ovillo.campaigns import service as campaigns_service
from ovillo.channels import service as channels_service
from ovillo.contacts import service as contacts_service
from ovillo.core import events
from ovillo.core.deps import ClockDep, RuntimeDep, SessionDep
from ovillo.core.errors import OvilloError
from ovillo.inbox import attachments, quick_replies
from ovillo.inbox import presence_views as presence_pages
from ovillo.inbox import reads as inbox_reads
from ovillo.inbox import search as inbox_search
from ovillo.inbox import service as inbox_service
from ovillo.inbox.downloads import media_response
from ovillo.inbox.models import (
    AuthorType,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    Note,
)
from ovillo.inbox.schemas import MessageSend
from ovillo.rules import attribution
from ovillo.rules import window as window_rules
from ovillo.rules.templates import template_variables
from ovillo.templates import service as templates_service
from ovillo.templates import variables as template_values
from ovillo.templates.models import Template
from ovillo.templates.violations import violation_message
from ovillo.web import csrf
from ovillo.web.forms import form_id
from ovillo.web.i18n import Translator
from ovillo.web.pages import AdminDep, Viewer, ViewerDep, redirect, render

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)

View = Literal["mine", "unassigned", "all", "closed"]
VIEWS: tuple[View, ...] = ("mine", "unassigned", "all", "closed")
# The newest messages a conversation page shows.
THREAD_SIZE = 200


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of a conversation's thread: a message, a note or a system line."""

    kind: Literal["message", "note", "system"]
    at: datetime
    order: int
    message: Message | None = None
    note: Note | None = None
    text: str = ""
    sender: str | None = None
    quoted: Message | None = None
    # The campaign the message came from (outgoing) or answers (incoming): id and name.
    campaign: tuple[uuid.UUID, str] | None = None


def view_names(t: Translator) -> dict[str, str]:
    return {
        "mine": t.gettext("Mine"),
        "unassigned": t.gettext("Unassigned"),
        "all": t.gettext("All"),
        "closed": t.gettext("Closed"),
    }


def status_words(t: Translator) -> dict[str, str]:
    return {
        MessageStatus.QUEUED: t.gettext("Queued"),
        MessageStatus.SENDING: t.gettext("Sending"),
        MessageStatus.ACCEPTED: t.gettext("Sent"),
        MessageStatus.SENT: t.gettext("Sent"),
        MessageStatus.DELIVERED: t.gettext("Delivered"),
        MessageStatus.READ: t.gettext("Read"),
        MessageStatus.FAILED: t.gettext("Failed"),
    }


def type_words(t: Translator) -> dict[str, str]:
    return {
        "image": t.gettext("Photo"),
        "video": t.gettext("Video"),
        "audio": t.gettext("Audio"),
        "document": t.gettext("Document"),
        "sticker": t.gettext("Sticker"),
        "location": t.gettext("Location"),
        "contacts": t.gettext("Contact card"),
        "reaction": t.gettext("Reaction"),
        "interactive": t.gettext("Answer"),
        "button": t.gettext("Button"),
        "template": t.gettext("Template"),
        "unsupported": t.gettext("A message WhatsApp does not show here"),
    }


def contact_label(contact: Any) -> str:
    label: str = (
        contact.name
        or contact.profile_name
        or contact.phone_e164
        or contact.username
        or contact.wa_id
        or contact.user_id
        or "?"
    )
    return label


def _sender(message: Message, users: dict[str, User], t: Translator) -> str | None:
    if message.direction == Direction.INBOUND:
        return None
    if message.author_type == AuthorType.USER and message.author_id in users:
        return users[message.author_id].name
    names: dict[str, str] = {
        AuthorType.API: t.gettext("API"),
        AuthorType.FLOW: t.gettext("Flow"),
        AuthorType.CAMPAIGN: t.gettext("Campaign"),
        AuthorType.SYSTEM: t.gettext("Ovillo"),
    }
    return names.get(message.author_type, t.gettext("Someone"))


def _campaign_of(message: Message) -> uuid.UUID | None:
    """The campaign that sent ``message`` or that it answers."""
    if message.direction == Direction.INBOUND:
        return message.campaign_id
    return attribution.campaign_of(
        attribution.Outgoing(
            author_type=message.author_type,
            author_id=message.author_id,
            status=message.status,
            left_at=None,
        )
    )


def _system_line(
    event: ConversationEvent, users: dict[str, User], t: Translator, teams: dict[str, str]
) -> str:
    actor = users.get(event.actor_id or "")
    who = actor.name if actor else t.gettext("Someone")
    data = event.data
    if data.get("round_robin"):
        target = users.get(str(data.get("to_user_id")))
        if target is not None:
            return t.gettext("Assigned to %(whom)s by round robin", whom=target.name)
        return t.gettext("Nobody of the team was online: the conversation waits in the team")
    if data.get("from_user_id") == data.get("to_user_id") and data.get("to_team_id"):
        team = teams.get(str(data.get("to_team_id")), t.gettext("a team"))
        return t.gettext("%(who)s moved the conversation to the team %(team)s", who=who, team=team)
    if data.get("from_user_id") == data.get("to_user_id") and data.get("from_team_id"):
        return t.gettext("%(who)s took the conversation out of its team", who=who)
    if event.kind == "assigned":
        target = users.get(str(event.data.get("to_user_id")))
        return t.gettext(
            "%(who)s assigned the conversation to %(whom)s",
            who=who,
            whom=target.name if target else t.gettext("someone"),
        )
    if event.kind == "unassigned":
        return t.gettext("%(who)s unassigned the conversation", who=who)
    if event.kind == "closed":
        return t.gettext("%(who)s closed the conversation", who=who)
    if event.kind == "reopened":
        return t.gettext("%(who)s reopened the conversation", who=who)
    if event.kind == "opted_out":
        return t.gettext(
            "The contact replied “%(word)s” and no longer receives marketing",
            word=str(event.data.get("word", "")),
        )
    return t.gettext("%(who)s changed the conversation", who=who)


async def _list_context(
    viewer: Viewer,
    session: SessionDep,
    now: datetime,
    view: str,
    window: str,
    tag: str,
    number: str = "",
    team: str = "",
) -> dict[str, Any]:
    me = viewer.me
    numbers = await channels_service.list_channels(session=session, workspace_id=me.workspace_id)
    number_id = next((channel.id for channel in numbers if str(channel.id) == number), None)
    teams = await teams_service.list_teams(session=session, workspace_id=me.workspace_id)
    team_id = next((view.team.id for view in teams if str(view.team.id) == team), None)
    chosen = view if view in VIEWS else "mine"
    status = ConversationStatus.CLOSED if chosen == "closed" else None
    assignee: inbox_service.AssigneeFilter | None = None
    if chosen == "mine":
        assignee = me.user_id
    elif chosen == "unassigned":
        assignee = "none"
    page = await inbox_service.list_conversations(
        session=session,
        workspace_id=me.workspace_id,
        now=now,
        status=status,
        assignee=assignee,
        tag=tag or None,
        channel_id=number_id,
        window=window if window in ("open", "closed") else None,  # type: ignore[arg-type]
        team_id=team_id,
        limit=100,
    )
    items = [
        item
        for item in page.items
        if chosen == "closed" or item.conversation.status != ConversationStatus.CLOSED
    ]
    my_unread = await inbox_reads.unread_by(
        session=session,
        workspace_id=me.workspace_id,
        user_id=me.user_id,
        conversation_ids=[item.conversation.id for item in items],
    )
    return {
        "view": chosen,
        "views": view_names(viewer.t),
        "window": window,
        "tag": tag,
        "numbers": numbers,
        "number": str(number_id) if number_id else "",
        "teams": [view.team for view in teams],
        "team": str(team_id) if team_id else "",
        "my_unread": my_unread,
        "conversations": items,
        "window_open": {
            item.conversation.id: window_rules.window_open(
                last_inbound_at=item.conversation.last_inbound_at, now=now
            )
            for item in items
        },
        "contact_label": contact_label,
    }


@router.get("/inbox")
async def inbox_page(
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    view: str = "mine",
    window: str = "",
    tag: str = "",
    number: str = "",
    team: str = "",
) -> HTMLResponse:
    context = await _list_context(viewer, session, clock.now(), view, window, tag, number, team)
    return render(viewer.page, "inbox/list.html", {**context, "live": True})


# Each section of the search page: the best matches only; the REST API pages further.
SEARCH_PAGE_SIZE = 20


@router.get("/inbox/search")
async def search_page(
    viewer: ViewerDep, session: SessionDep, clock: ClockDep, q: str = ""
) -> HTMLResponse:
    """The workspace's contacts and messages matching ``q``, each leading to its
    conversation (a contact to the latest one)."""
    results = None
    latest: dict[uuid.UUID, uuid.UUID] = {}
    if q.strip():
        workspace_id = viewer.me.workspace_id
        results = await inbox_search.search(
            session=session, workspace_id=workspace_id, query=q, limit=SEARCH_PAGE_SIZE
        )
        for contact in results.contacts.items if results.contacts else []:
            found = await inbox_service.list_conversations(
                session=session,
                workspace_id=workspace_id,
                now=clock.now(),
                contact_id=contact.id,
                limit=1,
            )
            if found.items:
                latest[contact.id] = found.items[0].conversation.id
    context = {"q": q, "results": results, "latest": latest, "contact_label": contact_label}
    return render(viewer.page, "inbox/search.html", context)


@router.get("/inbox/events")
async def follow_events(request: Request, runtime: RuntimeDep) -> Response:
    """The signed-in workspace's live events (SSE) for the pages' script (ovillo.js).

    The session is checked in a database session of its own, closed before streaming: one
    held for the stream's life would hold a connection (and SQLite's write lock).
    """
    token = request.cookies.get(csrf.SESSION_COOKIE, "")
    async with runtime.sessionmaker() as session:
        me = await accounts_service.get_signed_in(
            session=session, token=token, now=runtime.clock.now()
        )
    if me is None:
        return Response(status_code=401)
    stream = events.sse_stream(
        runtime,
        workspace_id=me.workspace_id,
        last_event_id=request.headers.get("last-event-id"),
        heartbeat_seconds=runtime.settings.server.sse_heartbeat_seconds,
        is_disconnected=request.is_disconnected,
    )
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/inbox/media/{media_id}")
async def media_content(
    media_id: uuid.UUID, viewer: ViewerDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    """A stored file of the viewer's workspace, shown in the thread (images, audio, video)."""
    content = await inbox_service.get_media_content(
        session=session, runtime=runtime, workspace_id=viewer.me.workspace_id, media_id=media_id
    )
    return media_response(content)


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class Preview:
    """A template as WhatsApp shows it: texts split into literal parts and variables.

    Each text is a list of ``(text, variable)`` pairs: ``variable`` is ``None`` for literal
    text, else the variable's name and ``text`` its value (empty until given). The page fills
    a variable's parts from its field as the agent types (ovillo.js).
    """

    header: list[tuple[str, str | None]]
    body: list[tuple[str, str | None]]
    footer: str
    buttons: list[str]
    header_media: str = ""  # image, video or document: a header WhatsApp shows as media


@dataclass(slots=True)
class TemplateForm:
    """The closed-window composer: the approved templates, the chosen one and its form."""

    templates: list[Template]
    chosen: Template | None = None
    labels: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    preview: Preview | None = None


def _parts(text: str, values: dict[str, str]) -> list[tuple[str, str | None]]:
    pieces = _PLACEHOLDER.split(text)
    parts: list[tuple[str, str | None]] = []
    for index, piece in enumerate(pieces):
        if index % 2:
            parts.append((values.get(piece, ""), piece))
        elif piece:
            parts.append((piece, None))
    return parts


def _preview(template: Template, values: dict[str, str]) -> Preview:
    header: list[tuple[str, str | None]] = []
    body: list[tuple[str, str | None]] = []
    footer, buttons, header_media = "", [], ""
    for component in template.components:
        kind = str(component.get("type", "")).upper()
        text = component.get("text")
        header_format = str(component.get("format", "TEXT")).upper()
        if kind == "HEADER" and header_format in ("IMAGE", "VIDEO", "GIF", "DOCUMENT"):
            header_media = "video" if header_format == "GIF" else header_format.lower()
        elif kind == "HEADER" and isinstance(text, str):
            header = _parts(text, values)
        elif kind == "BODY" and isinstance(text, str):
            body = _parts(text, values)
        elif kind == "FOOTER" and isinstance(text, str):
            footer = text
        elif kind == "BUTTONS":
            buttons = [str(button.get("text", "")) for button in component.get("buttons") or ()]
    return Preview(
        header=header, body=body, footer=footer, buttons=buttons, header_media=header_media
    )


def _variable_labels(template: Template, t: Translator) -> dict[str, str]:
    """What the agent fills in, by the send's variable name, with each field's label: the
    header's and body's variables (``{{first_name}}``), then each button that needs a value
    (the end of a link that is not tracked, a code to copy)."""
    labels: dict[str, str] = {}
    for component in template.components:
        kind = str(component.get("type", "")).upper()
        if kind in ("HEADER", "BODY"):
            for name in template_variables(component.get("text")):
                labels.setdefault(name, "{{" + name + "}}")
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or ()):
                button_kind = str(button.get("type", "")).upper()
                text = str(button.get("text", ""))
                if (
                    button_kind == "URL"
                    and template_variables(str(button.get("url", "")))
                    and str(index) not in template.tracked_buttons
                ):
                    labels[f"button.{index}"] = t.gettext(
                        "End of the link of the button %(button)s", button=text
                    )
                elif button_kind == "COPY_CODE":
                    labels[f"button.{index}"] = t.gettext("Code to copy")
    return labels


async def _template_form(
    viewer: Viewer,
    session: SessionDep,
    current: Any,
    chosen_id: str,
    given: dict[str, str] | None = None,
) -> TemplateForm:
    """The approved templates of the conversation's number; the chosen one's variables are
    prefilled from the contact's fields of the same name (``first_name``, ``city``, ...)."""
    templates, _ = await templates_service.list_templates(
        session=session,
        workspace_id=viewer.me.workspace_id,
        channel_id=current.conversation.channel_id,
        status="APPROVED",
    )
    form = TemplateForm(templates=templates)
    form.chosen = next((t for t in templates if str(t.id) == chosen_id), None)
    if form.chosen is None:
        return form
    fields = template_values.fields_of_contact(current.contact)
    form.labels = _variable_labels(form.chosen, viewer.t)
    form.values = {
        name: (given.get(name, "") if given is not None else fields.get(name, ""))
        for name in form.labels
    }
    form.preview = _preview(form.chosen, form.values)
    return form


async def _conversation_response(
    viewer: Viewer,
    session: SessionDep,
    now: datetime,
    conversation_id: uuid.UUID,
    view: str,
    *,
    chosen_template: str = "",
    form: TemplateForm | None = None,
    draft: Draft | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    me, t = viewer.me, viewer.t
    current = await inbox_service.get_conversation_view_or_raise(
        session=session, workspace_id=me.workspace_id, conversation_id=conversation_id
    )
    messages = await inbox_service.list_messages(
        session=session,
        workspace_id=me.workspace_id,
        conversation_id=conversation_id,
        order="desc",
        limit=THREAD_SIZE,
    )
    notes = await inbox_service.list_notes(
        session=session, workspace_id=me.workspace_id, conversation_id=conversation_id
    )
    events = await inbox_service.list_conversation_events(
        session=session, workspace_id=me.workspace_id, conversation_id=conversation_id
    )
    teammates = await accounts_service.list_users(session=session, workspace_id=me.workspace_id)
    users = {str(user.id): user for user in teammates}
    context_teams = [
        view.team
        for view in await teams_service.list_teams(session=session, workspace_id=me.workspace_id)
    ]
    by_wamid = {message.wamid: message for message in messages.items if message.wamid}
    campaign_names = await campaigns_service.get_campaign_names(
        session=session,
        workspace_id=me.workspace_id,
        campaign_ids=filter(None, (_campaign_of(message) for message in messages.items)),
    )
    entries: list[Entry] = []
    for message in messages.items:
        campaign_id = _campaign_of(message)
        entries.append(
            Entry(
                kind="message",
                at=message.occurred_at or message.created_at,
                order=message.seq,
                message=message,
                sender=_sender(message, users, t),
                quoted=by_wamid.get(message.reply_to_wamid) if message.reply_to_wamid else None,
                campaign=(campaign_id, campaign_names[campaign_id])
                if campaign_id in campaign_names
                else None,
            )
        )
    for note in notes:
        author = users.get(str(note.author_id))
        entries.append(
            Entry(
                kind="note",
                at=note.created_at,
                order=0,
                note=note,
                sender=author.name if author else None,
            )
        )
    team_names = {str(team.id): team.name for team in context_teams}
    for event in events:
        if event.kind in ("assigned", "unassigned", "closed", "reopened", "opted_out"):
            entries.append(
                Entry(
                    kind="system",
                    at=event.created_at,
                    order=0,
                    text=_system_line(event, users, t, team_names),
                )
            )
    entries.sort(key=lambda entry: (entry.at, entry.order))
    window = window_rules.window_state(
        last_inbound_at=current.conversation.last_inbound_at, now=now
    )
    if form is None and not window.open:
        form = await _template_form(viewer, session, current, chosen_template)
    context = await _list_context(viewer, session, now, view, "", "")
    presence = await presence_pages.presence_context(viewer, session, now, conversation_id)
    minutes = int(window.remaining.total_seconds() // 60)
    return render(
        viewer.page,
        "inbox/conversation.html",
        {
            **context,
            "current": current,
            "entries": entries,
            "window_state": window,
            "window_hours": minutes // 60,
            "window_minutes": minutes % 60,
            "now": now,
            "template_form": form,
            "teammates": [user for user in teammates if user.deactivated_at is None],
            **presence,
            "status_words": status_words(t),
            "type_words": type_words(t),
            "error": viewer.page.request.query_params.get("error"),
            "live": True,
            **await _composer_context(viewer, session, current, now, draft or Draft()),
        },
        status_code=status_code,
    )


@router.get("/inbox/{conversation_id}")
async def conversation_page(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    view: str = "all",
    template: str = "",
    reply_to: str = "",
) -> HTMLResponse:
    await inbox_service.mark_conversation_read(
        session=session, workspace_id=viewer.me.workspace_id, conversation_id=conversation_id
    )
    await inbox_reads.mark_read_by(
        session=session,
        workspace_id=viewer.me.workspace_id,
        user_id=viewer.me.user_id,
        conversation_id=conversation_id,
        now=clock.now(),
    )
    return await _conversation_response(
        viewer,
        session,
        clock.now(),
        conversation_id,
        view,
        chosen_template=template,
        draft=Draft(reply_to=form_id(reply_to)),
    )


def _back(viewer: Viewer, conversation_id: uuid.UUID, error: str | None = None) -> Response:
    url = f"/inbox/{conversation_id}"
    if error:
        from urllib.parse import quote

        url += "?error=" + quote(error)
    return redirect(viewer.page, url)


async def _done(viewer: Viewer, conversation_id: uuid.UUID, action: Awaitable[object]) -> Response:
    """Back to the conversation once ``action`` ran, or with its error in plain words; a
    conversation not found (another workspace's, or gone) stays a 404."""
    try:
        await action
    except OvilloError as error:
        if error.status == 404:
            raise
        return _back(viewer, conversation_id, error.detail or error.title)
    return _back(viewer, conversation_id)


def _actor(viewer: Viewer) -> inbox_service.Actor:
    return inbox_service.Actor(type=AuthorType.USER, id=str(viewer.me.user_id))


async def _send_as(viewer: Viewer, session: SessionDep, send: MessageSend, now: datetime) -> None:
    """Queue ``send`` in the viewer's workspace with the viewer as its author."""
    await inbox_service.send_message(
        session=session,
        workspace_id=viewer.me.workspace_id,
        send=send,
        author=_actor(viewer),
        now=now,
    )


async def _change_contact(
    viewer: Viewer,
    session: SessionDep,
    conversation_id: uuid.UUID,
    now: datetime,
    **changes: Any,
) -> Response:
    """Change the conversation's contact as ``changes`` say (keywords of
    ``contacts_service.update_contact``), then back to the conversation as ``_done`` goes."""
    conversation = await inbox_service.get_conversation_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, conversation_id=conversation_id
    )
    return await _done(
        viewer,
        conversation_id,
        contacts_service.update_contact(
            session=session,
            workspace_id=viewer.me.workspace_id,
            contact_id=conversation.contact_id,
            now=now,
            **changes,
        ),
    )


@router.post("/inbox/{conversation_id}/messages")
async def send_text(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    runtime: RuntimeDep,
    body: Annotated[str, Form(max_length=4096)] = "",
    reply_to: Annotated[str, Form(max_length=64)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Send the composer: text, or a file with ``body`` as its caption, quoting ``reply_to``.

    A message that is only ``/shortcut`` is sent as that quick reply. What WhatsApp would
    refuse (a file type or size, a caption) re-renders the page with the reason and the
    draft as it was typed (the text and the quoted message; a browser cannot refill a file).
    """
    t, now = viewer.t, clock.now()
    draft = Draft(body=body, reply_to=form_id(reply_to))
    attached = file is not None and bool(file.filename)
    try:
        if attached:
            assert file is not None
            await attachments.check_send_attachment(
                session=session,
                runtime=runtime,
                workspace_id=viewer.me.workspace_id,
                conversation_id=conversation_id,
                data=await file.read(),
                mime_type=file.content_type,
                filename=file.filename,
                caption=body.strip(),
                reply_to=draft.reply_to,
                author=_actor(viewer),
                now=now,
            )
        elif not body.strip():
            draft.error = t.gettext("Write a message first.")
        else:
            text = await _expand_shortcut(viewer, session, conversation_id, body)
            send = MessageSend(
                conversation_id=conversation_id,
                type="text",
                text={"body": text},
                reply_to=draft.reply_to,
            )
            await _send_as(viewer, session, send, now)
    except OvilloError as error:
        if error.status == 404 and error.code == "conversation_not_found":
            raise
        draft.error = _send_problem(error, t)
    if draft.error is None:
        return _back(viewer, conversation_id)
    await session.rollback()
    return await _conversation_response(
        viewer, session, now, conversation_id, "all", draft=draft, status_code=422
    )


@router.post("/inbox/{conversation_id}/notes")
async def add_note(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    body: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    if not body.strip():
        return _back(viewer, conversation_id, viewer.t.gettext("Write the note first."))
    await inbox_service.add_note(
        session=session,
        workspace_id=viewer.me.workspace_id,
        conversation_id=conversation_id,
        body=body,
        author_id=viewer.me.user_id,
        now=clock.now(),
    )
    return _back(viewer, conversation_id)


@router.post("/inbox/{conversation_id}/assignee")
async def assign(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    user_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Take (``user_id`` = me), assign to a teammate, or unassign (empty)."""
    target = form_id(user_id)
    if user_id and target is None:
        return _back(viewer, conversation_id, viewer.t.gettext("Choose a teammate."))
    return await _done(
        viewer,
        conversation_id,
        inbox_service.assign_conversation(
            session=session,
            workspace_id=viewer.me.workspace_id,
            conversation_id=conversation_id,
            user_id=target,
            actor=_actor(viewer),
            now=clock.now(),
        ),
    )


@router.post("/inbox/{conversation_id}/team")
async def assign_team(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    team_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Put the conversation in a team (``team_id``) or in none (empty); the assignee stays."""
    team = form_id(team_id)
    if team_id and team is None:
        return _back(viewer, conversation_id, viewer.t.gettext("Choose a team."))
    return await _done(
        viewer,
        conversation_id,
        inbox_service.assign_team(
            session=session,
            workspace_id=viewer.me.workspace_id,
            conversation_id=conversation_id,
            team_id=team,
            actor=_actor(viewer),
            now=clock.now(),
        ),
    )


@router.post("/inbox/{conversation_id}/tags")
async def change_tags(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    add: Annotated[str, Form(max_length=200)] = "",
    remove: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Tag the conversation's contact (``add``) or take a tag off (``remove``)."""
    if not add.strip() and not remove.strip():
        return _back(viewer, conversation_id, viewer.t.gettext("Write a tag first."))
    return await _change_contact(
        viewer,
        session,
        conversation_id,
        clock.now(),
        add_tags=[add] if add.strip() else (),
        remove_tags=[remove] if remove.strip() else (),
    )


@router.post("/inbox/{conversation_id}/status")
async def change_status(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    status: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Close (``status=closed``) or reopen (``status=open``)."""
    change = {
        "closed": inbox_service.close_conversation,
        "open": inbox_service.reopen_conversation,
    }.get(status)
    if change is None:
        return _back(viewer, conversation_id, viewer.t.gettext("Choose open or closed."))
    return await _done(
        viewer,
        conversation_id,
        change(
            session=session,
            workspace_id=viewer.me.workspace_id,
            conversation_id=conversation_id,
            actor=_actor(viewer),
            now=clock.now(),
        ),
    )


@router.post("/inbox/{conversation_id}/templates")
async def send_template(
    conversation_id: uuid.UUID,
    request: Request,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    template_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Send an approved template with the variables of the form (``var.<name>`` fields).

    A value that does not fit (a missing variable) re-renders the page with the error on
    its field and every value as typed.
    """
    t, now = viewer.t, clock.now()
    current = await inbox_service.get_conversation_view_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, conversation_id=conversation_id
    )
    submitted = await request.form()
    given = {
        key.removeprefix("var."): str(value)[:1024]
        for key, value in submitted.items()
        if key.startswith("var.") and isinstance(value, str)
    }
    form = await _template_form(viewer, session, current, template_id, given)
    chosen = form.chosen
    if chosen is None:
        form.error = t.gettext("Choose an approved template.")
    else:
        send = MessageSend(
            conversation_id=conversation_id,
            type="template",
            template={
                "name": chosen.name,
                "language": chosen.language,
                "variables": {name: value for name, value in form.values.items() if value.strip()},
            },
        )
        try:
            await _send_as(viewer, session, send, now)
        except OvilloError as error:
            if error.status == 404:
                raise
            unplaced: list[str] = []
            for violation in error.extra.get("violations") or ():
                name = str(violation.get("field", "")).removeprefix("template.variables.")
                if name not in form.values:
                    unplaced.append(violation_message(t, violation))
                elif form.values[name].strip():
                    form.errors[name] = violation_message(t, violation)
                else:
                    form.errors[name] = t.gettext(
                        "%(field)s: give a value.", field=form.labels[name]
                    )
            if unplaced:
                form.error = " ".join(unplaced)
            elif not form.errors:
                form.error = error.detail or error.title
        else:
            return _back(viewer, conversation_id)
    return await _conversation_response(
        viewer, session, now, conversation_id, "all", form=form, status_code=422
    )


# Presence's routes (heartbeats, the presence line) answer under the inbox's pages too.
router.include_router(presence_pages.router)


# --- The composer's draft, quick replies, emoji and the contact panel --------------------


@dataclass(slots=True)
class Draft:
    """What the agent is writing: kept as typed when a send is refused."""

    body: str = ""
    reply_to: uuid.UUID | None = None
    error: str | None = None


def emoji_choices(t: Translator) -> list[tuple[str, str]]:
    """The composer's emoji: the ones a business writes most, each with its spoken name."""
    return [
        ("😀", t.gettext("Grinning face")),
        ("😊", t.gettext("Smiling face")),
        ("😂", t.gettext("Tears of joy")),
        ("😉", t.gettext("Winking face")),
        ("😍", t.gettext("Heart eyes")),
        ("🤔", t.gettext("Thinking face")),
        ("😢", t.gettext("Crying face")),
        ("🙏", t.gettext("Folded hands")),
        ("👍", t.gettext("Thumbs up")),
        ("👋", t.gettext("Waving hand")),
        ("👏", t.gettext("Clapping hands")),
        ("💪", t.gettext("Flexed biceps")),
        ("❤️", t.gettext("Red heart")),
        ("🎉", t.gettext("Party popper")),
        ("🔥", t.gettext("Fire")),
        ("✅", t.gettext("Check mark")),
        ("⭐", t.gettext("Star")),
        ("📦", t.gettext("Package")),
        ("🚚", t.gettext("Delivery truck")),
        ("📅", t.gettext("Calendar")),
        ("⏰", t.gettext("Alarm clock")),
        ("💳", t.gettext("Credit card")),
        ("📍", t.gettext("Pin")),
        ("📞", t.gettext("Telephone")),
    ]


async def _expand_shortcut(
    viewer: Viewer, session: SessionDep, conversation_id: uuid.UUID, body: str
) -> str:
    """``body``, or the quick reply it names when it is only ``/shortcut`` (the composer
    without its script)."""
    typed = body.strip()
    if not typed.startswith("/") or quick_replies.SHORTCUT.fullmatch(typed[1:].lower()) is None:
        return body
    reply = await quick_replies.get_by_shortcut(
        session=session, workspace_id=viewer.me.workspace_id, shortcut=typed
    )
    if reply is None:
        return body
    current = await inbox_service.get_conversation_view_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, conversation_id=conversation_id
    )
    return quick_replies.fill_for_contact(
        reply.body, template_values.fields_of_contact(current.contact)
    )


def _send_problem(error: OvilloError, t: Translator) -> str:
    """Why WhatsApp would not take the composer's message, in the page's language."""
    extra = error.extra
    if error.code == "unsupported_media":
        return t.gettext(
            "WhatsApp does not take this kind of file (%(type)s). Send an image (JPEG or PNG), "
            "a video (MP4 or 3GP), audio (AAC, AMR, MP3, MP4 or OGG) or a document (PDF, "
            "Word, Excel, PowerPoint or text).",
            type=extra.get("mime_type") or t.gettext("unknown type"),
        )
    if error.code == "media_too_large":
        return t.gettext(
            "The file is too large: WhatsApp takes up to %(limit)s MB for this kind of file "
            "and this one has %(size)s MB.",
            limit=round(int(extra.get("max_bytes") or 0) / 1048576, 1),
            # Rounded up, so a file just over the limit never reads as equal to it.
            size=math.ceil(int(extra.get("size") or 0) / 104857.6) / 10,
        )
    if error.code == "invalid_reply_to":
        return t.gettext("The quoted message cannot be replied to. Cancel the reply and send.")
    if error.code == "invalid_message_content" and str(extra.get("field", "")).endswith(".caption"):
        return t.gettext(
            "WhatsApp shows no caption on audio and stickers, and at most 1024 characters on "
            "others: send the text as its own message."
        )
    return error.detail or error.title


@dataclass(frozen=True, slots=True)
class ContactPanel:
    """What the side panel shows about the conversation's contact."""

    flag: str
    country: str
    marketing_opted_out_at: datetime | None
    referral: dict[str, Any] | None
    # The ad's link, only when it is a web address (a "javascript:" link never reaches a page).
    referral_url: str
    free_entry_expires_at: datetime | None
    free_entry_hours: int
    free_entry_minutes: int
    past: list[inbox_service.ConversationView]


def _flag(country: str) -> str:
    """The flag emoji of an ISO 3166 country code (two regional indicator letters)."""
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in country.upper())


def _country_name(country: str, locale: str) -> str:
    from babel import Locale

    name: str = Locale.parse(locale).territories.get(country.upper(), country)
    return name


async def _contact_panel(
    viewer: Viewer, session: SessionDep, current: Any, now: datetime
) -> ContactPanel:
    contact, conversation = current.contact, current.conversation
    opted_out = (contact.opt_outs or {}).get("marketing")
    expires_at = conversation.free_entry_point_expires_at
    left = int((expires_at - now).total_seconds() // 60) if expires_at and expires_at > now else 0
    referral = dict(conversation.referral) if conversation.referral else None
    url = str((referral or {}).get("source_url") or "")
    history = await inbox_service.list_conversations(
        session=session,
        workspace_id=viewer.me.workspace_id,
        now=now,
        contact_id=contact.id,
        limit=20,
    )
    return ContactPanel(
        flag=_flag(contact.country or ""),
        country=_country_name(contact.country, viewer.t.locale) if contact.country else "",
        marketing_opted_out_at=datetime.fromisoformat(opted_out) if opted_out else None,
        referral=referral,
        referral_url=url if url.startswith(("https://", "http://")) else "",
        free_entry_expires_at=expires_at,
        free_entry_hours=left // 60,
        free_entry_minutes=left % 60,
        past=[item for item in history.items if item.conversation.id != conversation.id],
    )


async def _composer_context(
    viewer: Viewer, session: SessionDep, current: Any, now: datetime, draft: Draft
) -> dict[str, Any]:
    """The composer's draft (and the message it quotes), quick replies filled for the
    contact, the emoji, and the contact panel."""
    replying_to: Message | None = None
    if draft.reply_to is not None:
        try:
            found = await inbox_service.get_message_or_raise(
                session=session, workspace_id=viewer.me.workspace_id, message_id=draft.reply_to
            )
        except OvilloError:
            found = None
        if found is not None and found.conversation_id == current.conversation.id:
            replying_to = found
    fields = template_values.fields_of_contact(current.contact)
    saved = await quick_replies.list_quick_replies(
        session=session, workspace_id=viewer.me.workspace_id
    )
    filled = [
        (reply.shortcut, quick_replies.fill_for_contact(reply.body, fields)) for reply in saved
    ]
    return {
        "draft": draft,
        "replying_to": replying_to,
        "quick_replies": filled,
        "quick_reply_map": dict(filled),
        "emoji": emoji_choices(viewer.t),
        "panel": await _contact_panel(viewer, session, current, now),
    }


@router.post("/inbox/{conversation_id}/contact")
async def rename_contact(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Name the conversation's contact; an empty name goes back to their WhatsApp name."""
    return await _change_contact(
        viewer, session, conversation_id, clock.now(), name=name.strip() or None
    )


MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 1000


@router.post("/inbox/{conversation_id}/attributes")
async def change_attribute(
    conversation_id: uuid.UUID,
    viewer: ViewerDep,
    session: SessionDep,
    clock: ClockDep,
    key: Annotated[str, Form(max_length=MAX_ATTRIBUTE_KEY * 2)] = "",
    value: Annotated[str, Form(max_length=MAX_ATTRIBUTE_VALUE * 2)] = "",
    remove: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Add or change a custom attribute of the contact (``key``, ``value``), or remove it
    (``remove``); the others stay as they are."""
    t = viewer.t
    name, text = key.strip(), value.strip()
    if not name or len(name) > MAX_ATTRIBUTE_KEY:
        return _back(
            viewer,
            conversation_id,
            t.gettext("Name the attribute (up to %(count)s characters).", count=MAX_ATTRIBUTE_KEY),
        )
    if not remove and (not text or len(text) > MAX_ATTRIBUTE_VALUE):
        return _back(
            viewer,
            conversation_id,
            t.gettext(
                "Give the attribute %(name)s a value (up to %(count)s characters), or remove it.",
                name=name,
                count=MAX_ATTRIBUTE_VALUE,
            ),
        )
    return await _change_contact(
        viewer, session, conversation_id, clock.now(), attributes={name: None if remove else text}
    )


# --- Settings: quick replies -------------------------------------------------------------


def _quick_reply_problem(error: OvilloError, t: Translator) -> str:
    if error.code == "quick_reply_shortcut_taken":
        return t.gettext(
            "/%(shortcut)s is already a quick reply: choose another shortcut.",
            shortcut=error.extra.get("shortcut", ""),
        )
    if error.code == "invalid_quick_reply" and error.extra.get("field") == "shortcut":
        return t.gettext(
            "A shortcut is 1 to 32 letters, digits, “_” or “-”, starting with a letter or a digit."
        )
    if error.code == "invalid_quick_reply":
        return t.gettext("Write the text of the quick reply (up to 4096 characters).")
    return error.detail or error.title


async def _quick_replies_page(
    viewer: Viewer,
    session: SessionDep,
    *,
    error: str | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    saved = await quick_replies.list_quick_replies(
        session=session, workspace_id=viewer.me.workspace_id
    )
    return render(
        viewer.page,
        "inbox/quick_replies.html",
        {"quick_replies": saved, "error": error, "typed": typed or {}},
        status_code=status_code,
    )


@router.get("/settings/quick-replies")
async def quick_replies_page(viewer: AdminDep, session: SessionDep) -> HTMLResponse:
    return await _quick_replies_page(viewer, session)


@router.post("/settings/quick-replies")
async def create_quick_reply(
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    shortcut: Annotated[str, Form(max_length=64)] = "",
    body: Annotated[str, Form(max_length=8192)] = "",
) -> Response:
    try:
        await quick_replies.check_create_quick_reply(
            session=session,
            workspace_id=viewer.me.workspace_id,
            shortcut=shortcut,
            body=body,
            now=clock.now(),
        )
    except OvilloError as error:
        return await _quick_replies_page(
            viewer,
            session,
            error=_quick_reply_problem(error, viewer.t),
            typed={"shortcut": shortcut, "body": body},
            status_code=422 if error.status == 422 else error.status,
        )
    return redirect(viewer.page, "/settings/quick-replies")


@router.post("/settings/quick-replies/{quick_reply_id}")
async def update_quick_reply(
    quick_reply_id: uuid.UUID,
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    shortcut: Annotated[str, Form(max_length=64)] = "",
    body: Annotated[str, Form(max_length=8192)] = "",
) -> Response:
    try:
        await quick_replies.check_update_quick_reply(
            session=session,
            workspace_id=viewer.me.workspace_id,
            quick_reply_id=quick_reply_id,
            shortcut=shortcut,
            body=body,
            now=clock.now(),
        )
    except OvilloError as error:
        if error.status == 404:
            raise
        return await _quick_replies_page(
            viewer, session, error=_quick_reply_problem(error, viewer.t), status_code=error.status
        )
    return redirect(viewer.page, "/settings/quick-replies")


@router.post("/settings/quick-replies/{quick_reply_id}/delete")
async def delete_quick_reply(
    quick_reply_id: uuid.UUID, viewer: AdminDep, session: SessionDep
) -> Response:
    await quick_replies.delete_quick_reply(
        session=session, workspace_id=viewer.me.workspace_id, quick_reply_id=quick_reply_id
    )
    return redirect(viewer.page, "/settings/quick-replies")
