"""Pages of message templates: the list with status badges, sync and duplicate, and the
editor with its live preview and as-you-type checks.

The form's mapping to Meta's components (and of each violation back onto its field) is
``templates.editor``. The check (``POST /templates/check``) answers the preview, and each
field's error out of band (htmx), as the author types. Anyone signed in may read; owners
and admins submit, sync and duplicate.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels import service as channels_service
from ovillo.channels.models import Channel
from ovillo.channels.views import quality_figure
from ovillo.core.deps import RuntimeDep, SessionDep
from ovillo.core.errors import OvilloError
from ovillo.templates import service
from ovillo.templates.editor import (
    BUTTON_SLOTS,
    FIELD_MAX,
    HEADER_FORMATS,
    EditorForm,
    arrange_buttons,
    button_names,
    category_names,
    draft_of,
    error_fields,
    errors_by_field,
    header_names,
    otp_names,
    preview_of,
    shown_slots,
)
from ovillo.templates.errors import (
    TemplateAlreadyExistsError,
    TemplateInvalidError,
    TemplateRefusedError,
)
from ovillo.templates.models import Template
from ovillo.web import csrf
from ovillo.web.forms import form_id
from ovillo.web.i18n import Translator
from ovillo.web.pages import AdminDep, Viewer, ViewerDep, redirect, render

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)


def _quality_label(t: Translator, score: str | None) -> str:
    """Meta's quality score (GREEN, YELLOW, RED, UNKNOWN) in words, as numbers show theirs."""
    return quality_figure(t, score).label


def status_badges(t: Translator) -> dict[str, tuple[str, str]]:
    """Meta's status -> (label, tone) for the list's badges."""
    return {
        "APPROVED": (t.gettext("Approved"), "success"),
        "PENDING": (t.gettext("In review"), "pending"),
        "IN_APPEAL": (t.gettext("In appeal"), "pending"),
        "REJECTED": (t.gettext("Rejected"), "danger"),
        "PAUSED": (t.gettext("Paused"), "warning"),
        "DISABLED": (t.gettext("Disabled"), "danger"),
        "FLAGGED": (t.gettext("Flagged"), "warning"),
        "DELETED": (t.gettext("Deleted"), "muted"),
        "PENDING_DELETION": (t.gettext("Being deleted"), "muted"),
        "ARCHIVED": (t.gettext("Archived"), "muted"),
        "LIMIT_EXCEEDED": (t.gettext("Limit exceeded"), "danger"),
    }


async def read_form(request: Request) -> EditorForm:
    form = await request.form()
    values = {
        key: value[:FIELD_MAX].strip() if key not in ("body", "body_samples") else value[:FIELD_MAX]
        for key, value in form.items()
        if isinstance(value, str) and key != "csrf_token"
    }
    sample = await header_file(request)
    if sample is not None and not values.get("header_handle"):
        # Chosen, not uploaded yet: Meta's handle comes at submit, so the check passes it.
        values["header_handle"] = PENDING_HANDLE
    return EditorForm(values=values)


# What stands for a chosen sample file until the submit uploads it (never sent to Meta).
PENDING_HANDLE = "4::chosen"


_UNREAD = object()


@dataclass(frozen=True, slots=True)
class SampleFile:
    data: bytes
    mime_type: str | None
    filename: str | None


async def header_file(request: Request) -> SampleFile | None:
    """The media header's sample file chosen in the editor, if any (read once, and every
    uploaded part closed: a route that reads the form itself must)."""
    if getattr(request.state, "header_sample", _UNREAD) is _UNREAD:
        sample = None
        for key, value in (await request.form()).multi_items():
            if isinstance(value, str):
                continue
            if key == "header_file" and value.filename and sample is None:
                data = await value.read()
                sample = SampleFile(data, value.content_type, value.filename)
            await value.close()
        request.state.header_sample = sample
    found: SampleFile | None = request.state.header_sample
    return found


def _editor_context(
    viewer: Viewer, channels: list[Channel], form: EditorForm | None = None
) -> dict[str, Any]:
    t = viewer.t
    return {
        "channels": channels,
        "categories": category_names(t),
        "header_names": header_names(t),
        "button_names": button_names(t),
        "otp_names": otp_names(t),
        "slots": range(shown_slots(form or EditorForm())),
        "max_slots": BUTTON_SLOTS,
    }


async def _channel(
    session: AsyncSession, viewer: Viewer, number_id: str | None
) -> tuple[list[Channel], Channel | None]:
    channels = await channels_service.list_channels(
        session=session, workspace_id=viewer.me.workspace_id
    )
    if number_id:
        wanted = form_id(number_id)
        chosen = next((c for c in channels if c.id == wanted), None)
        if chosen is None:
            # Another workspace's number, or none at all: the same answer.
            await channels_service.get_channel_or_raise(
                session=session,
                workspace_id=viewer.me.workspace_id,
                channel_id=wanted or uuid.UUID(int=0),
            )
        return channels, chosen
    return channels, channels[0] if channels else None


async def _list_page(
    viewer: Viewer,
    session: AsyncSession,
    number_id: str | None,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    channels, channel = await _channel(session, viewer, number_id)
    templates: list[Template] = []
    if channel is not None:
        templates, _ = await service.list_templates(
            session=session, workspace_id=viewer.me.workspace_id, channel_id=channel.id
        )
    return render(
        viewer.page,
        "templates/list.html",
        {
            "channels": channels,
            "channel": channel,
            "templates": templates,
            "badges": status_badges(viewer.t),
            "categories": category_names(viewer.t),
            "quality_label": partial(_quality_label, viewer.t),
            # Status webhooks redraw the badges in place (ovillo.js, `template_updated`).
            "live": True,
            **(extra or {}),
        },
        status_code=status_code,
    )


@router.get("/templates")
async def templates_page(
    viewer: ViewerDep, session: SessionDep, number_id: str | None = None
) -> HTMLResponse:
    return await _list_page(viewer, session, number_id)


def funnel_stages(t: Translator) -> list[tuple[str, str]]:
    return [
        ("sent", t.gettext("Sent")),
        ("delivered", t.gettext("Delivered")),
        ("read", t.gettext("Read")),
        ("clicked", t.gettext("Clicked")),
        ("replied", t.gettext("Replied")),
    ]


@router.get("/templates/{template_id:uuid}")
async def template_page(
    template_id: uuid.UUID, viewer: ViewerDep, session: SessionDep
) -> HTMLResponse:
    """One template: its status, its funnel and its history (live like the list)."""
    t = viewer.t
    report = await service.get_template_report_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, template_id=template_id
    )
    return render(
        viewer.page,
        "templates/detail.html",
        {
            "template": report.template,
            "history": report.history,
            "funnel": asdict(report.funnel),
            "funnel_stages": funnel_stages(t),
            "badges": status_badges(t),
            "categories": category_names(t),
            "quality_label": partial(_quality_label, t),
            "event_kinds": {
                "status": t.gettext("Status"),
                "quality": t.gettext("Quality"),
                "category": t.gettext("Category"),
            },
            "sources": {
                "submit": t.gettext("Submitted here"),
                "webhook": t.gettext("Meta's notice"),
                "sync": t.gettext("Sync with Meta"),
            },
            "live": True,
        },
    )


@router.post("/templates/sync")
async def sync(
    viewer: AdminDep, session: SessionDep, runtime: RuntimeDep, request: Request
) -> Response:
    form = await read_form(request)
    _, channel = await _channel(session, viewer, form.get("number_id") or None)
    if channel is None:
        return redirect(viewer.page, "/templates")
    await service.sync_templates(
        session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
        channel_id=channel.id, now=runtime.clock.now(),
    )  # fmt: skip
    return redirect(viewer.page, f"/templates?number_id={channel.id}")


@router.post("/templates/{template_id}/duplicate")
async def duplicate(
    template_id: uuid.UUID,
    viewer: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    request: Request,
) -> Response:
    t = viewer.t
    form = await read_form(request)
    original = await service.get_template_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, template_id=template_id
    )
    number_id = str(original.channel_id)
    language = form.get("language")
    error: str | None = None
    if not language:
        error = t.gettext("Write the language of the copy, like es or pt_BR.")
    else:
        try:
            await service.duplicate_template(
                session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
                template_id=template_id, language=language, components=None, name=None,
                now=runtime.clock.now(),
            )  # fmt: skip
        except TemplateInvalidError as exc:
            error = "; ".join(str(v.get("message")) for v in exc.extra.get("violations", []))
        except TemplateAlreadyExistsError:
            error = t.gettext("%(name)s already exists in %(language)s.", name=original.name,
                              language=language)  # fmt: skip
        except TemplateRefusedError as exc:
            error = t.gettext("Meta refused the template: %(reason)s", reason=exc.detail)
    if error is not None:
        await session.rollback()
        return await _list_page(viewer, session, number_id, {"error": error}, 422)
    return redirect(viewer.page, f"/templates?number_id={number_id}")


@router.get("/templates/new")
async def editor_page(
    viewer: ViewerDep, session: SessionDep, number_id: str | None = None
) -> HTMLResponse:
    channels, channel = await _channel(session, viewer, number_id)
    form = EditorForm(
        values={"number_id": str(channel.id) if channel else "", "category": "UTILITY",
                "language": "en_US", "header_format": "NONE"}
    )  # fmt: skip
    return render(
        viewer.page,
        "templates/editor.html",
        {
            **_editor_context(viewer, channels, form),
            "form": form,
            "preview": preview_of(form, viewer.t),
            "errors": {},
            "general": [],
        },
    )


@router.post("/templates/new/buttons")
async def arrange(viewer: ViewerDep, session: SessionDep, request: Request) -> HTMLResponse:
    """The editor again with its buttons added to, moved or removed (the buttons' own
    submit buttons post here; nothing is sent to Meta)."""
    form = await read_form(request)
    form = arrange_buttons(form, form.get("arrange"))
    form.values.pop("arrange", None)
    if form.get("header_handle") == PENDING_HANDLE:
        form.values["header_handle"] = ""  # a chosen file cannot be shown again
    channels, _ = await _channel(session, viewer, None)
    return render(
        viewer.page,
        "templates/editor.html",
        {
            **_editor_context(viewer, channels, form),
            "form": form,
            "preview": preview_of(form, viewer.t),
            "errors": {},
            "general": [],
        },
    )


@router.post("/templates/check")
async def check(viewer: ViewerDep, runtime: RuntimeDep, request: Request) -> HTMLResponse:
    """The preview and every field's errors (out of band) for the form as typed."""
    form = await read_form(request)
    drafted = draft_of(form)
    violations = service.draft_violations(drafted.draft, public_url=runtime.public_url)
    errors, general = errors_by_field(violations, drafted.paths, viewer.t)
    return render(
        viewer.page,
        "templates/_check.html",
        {
            "preview": preview_of(form, viewer.t),
            "errors": errors,
            "general": general,
            "error_fields": error_fields(),
            "checked": True,
        },
    )


@router.post("/templates/new")
async def submit(
    viewer: AdminDep, session: SessionDep, runtime: RuntimeDep, request: Request
) -> Response:
    t = viewer.t
    form = await read_form(request)
    channels, channel = await _channel(session, viewer, form.get("number_id") or None)
    drafted = draft_of(form)
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    sample = await header_file(request)
    if channel is None:
        general = [t.gettext("Connect a number first: templates belong to a number's account.")]
    elif sample is not None and form.get("header_format").upper() in HEADER_FORMATS[2:]:
        # The sample goes to Meta only once the rest of the template passes the rules.
        violations = service.draft_violations(drafted.draft, public_url=runtime.public_url)
        if violations:
            errors, general = errors_by_field(violations, drafted.paths, viewer.t)
        else:
            try:
                uploaded = await service.upload_header_sample(
                    session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
                    channel_id=channel.id, data=sample.data, mime_type=sample.mime_type,
                    filename=sample.filename, now=runtime.clock.now(),
                )  # fmt: skip
            except OvilloError as exc:
                errors = {"header_handle": [exc.detail or exc.title]}
            else:
                form.values["header_handle"] = uploaded.header_handle
                drafted = draft_of(form)
                drafted = replace(
                    drafted,
                    draft=replace(drafted.draft, header_media_id=uploaded.header_media_id),
                )
    if channel is not None and not errors and not general:
        try:
            await service.check_create_template(
                session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
                channel_id=channel.id, draft=drafted.draft, now=runtime.clock.now(),
            )  # fmt: skip
        except TemplateInvalidError as exc:
            errors, general = errors_by_field(
                list(exc.extra.get("violations", [])), drafted.paths, t
            )
        except TemplateAlreadyExistsError:
            errors = {"name": [t.gettext("This name is taken in this language.")]}
        except TemplateRefusedError as exc:
            general = [t.gettext("Meta refused the template: %(reason)s", reason=exc.detail)]
        else:
            return redirect(viewer.page, f"/templates?number_id={channel.id}")
    if form.get("header_handle") == PENDING_HANDLE:
        form.values["header_handle"] = ""  # the file input cannot be re-filled: choose again
    await session.rollback()  # nothing half-done kept; the numbers are read again
    channels, _ = await _channel(session, viewer, None)
    return render(
        viewer.page,
        "templates/editor.html",
        {
            **_editor_context(viewer, channels, form),
            "form": form,
            "preview": preview_of(form, t),
            "errors": errors,
            "general": general,
        },
        status_code=422,
    )
