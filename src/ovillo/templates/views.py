"""Pages of message templates: the list with status badges, sync and duplicate, and the
editor with its live preview and as-you-type checks.

The editor's form is flat (a header, a body, a footer, up to ``BUTTON_SLOTS`` buttons);
``draft_of`` turns it into Meta's components and remembers which form field each
component path came from, so every violation the service finds lands on its field. The
check (``POST /templates/check``) answers the preview, and each field's error out of band
(htmx), as the author types. Anyone signed in may read; owners and admins submit.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels import service as channels_service
from ovillo.channels.models import Channel
from ovillo.core.deps import RuntimeDep, SessionDep
from ovillo.templates import service
from ovillo.templates.errors import (
    TemplateAlreadyExistsError,
    TemplateInvalidError,
    TemplateRefusedError,
)
from ovillo.templates.models import Template
from ovillo.web import csrf
from ovillo.web.i18n import Translator
from ovillo.web.pages import AdminDep, Viewer, ViewerDep, redirect, render

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)

BUTTON_SLOTS: Final = 4
HEADER_FORMATS: Final = ("NONE", "TEXT", "IMAGE", "VIDEO", "DOCUMENT")
BUTTON_TYPES: Final = ("", "QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE")
CATEGORIES: Final = ("MARKETING", "UTILITY", "AUTHENTICATION")
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# Longer than any field Meta takes (a body is at most 1024 characters): the rules refuse it.
_FIELD_MAX = 4096


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


def category_names(t: Translator) -> dict[str, str]:
    return {
        "MARKETING": t.gettext("Marketing"),
        "UTILITY": t.gettext("Utility"),
        "AUTHENTICATION": t.gettext("Authentication"),
    }


def header_names(t: Translator) -> dict[str, str]:
    return {
        "NONE": t.gettext("No header"),
        "TEXT": t.gettext("Text"),
        "IMAGE": t.gettext("Image"),
        "VIDEO": t.gettext("Video"),
        "DOCUMENT": t.gettext("Document"),
    }


def button_names(t: Translator) -> dict[str, str]:
    return {
        "": t.gettext("No button"),
        "QUICK_REPLY": t.gettext("Quick reply"),
        "URL": t.gettext("Link"),
        "PHONE_NUMBER": t.gettext("Call a phone number"),
        "COPY_CODE": t.gettext("Copy code"),
    }


# --- The editor's form -> a draft --------------------------------------------------------------


@dataclass(slots=True)
class EditorForm:
    """The editor's fields as typed (re-shown as they were when something is wrong)."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def checked(self, name: str) -> bool:
        return bool(self.values.get(name))


async def read_form(request: Request) -> EditorForm:
    form = await request.form()
    values = {
        key: value[:_FIELD_MAX].strip()
        if key not in ("body", "body_samples")
        else value[:_FIELD_MAX]
        for key, value in form.items()
        if isinstance(value, str) and key != "csrf_token"
    }
    return EditorForm(values=values)


def variables_of(text: str) -> list[str]:
    """The body's variables in order of first use (``{{1}}`` -> ``1``, ``{{city}}``)."""
    seen: list[str] = []
    for match in _VARIABLE.finditer(text):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def _samples(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Drafted:
    draft: service.TemplateDraft
    # Component path (``components[1]``, ``components[3].buttons[0]``) -> form field prefix.
    paths: dict[str, str]


def draft_of(form: EditorForm) -> Drafted:
    components: list[dict[str, Any]] = []
    paths: dict[str, str] = {}
    header = form.get("header_format").upper() or "NONE"
    body = form.get("body")
    names = variables_of(body)
    header_names_ = variables_of(form.get("header_text")) if header == "TEXT" else []
    named = any(not name.isdigit() for name in [*names, *header_names_])
    if header == "TEXT":
        paths[f"components[{len(components)}]"] = "header_text"
        component: dict[str, Any] = {
            "type": "HEADER",
            "format": "TEXT",
            "text": form.get("header_text"),
        }
        if header_names_ and named:
            component["example"] = {
                "header_text_named_params": [
                    {"param_name": header_names_[0], "example": form.get("header_sample")}
                ]
            }
        elif header_names_:
            component["example"] = {"header_text": [form.get("header_sample")]}
        components.append(component)
    elif header in HEADER_FORMATS[2:]:
        paths[f"components[{len(components)}]"] = "header_handle"
        components.append(
            {
                "type": "HEADER",
                "format": header,
                "example": {"header_handle": [form.get("header_handle")]},
            }
        )
    samples = _samples(form.get("body_samples"))
    paths[f"components[{len(components)}]"] = "body"
    paths[f"components[{len(components)}].example"] = "body_samples"
    body_component: dict[str, Any] = {"type": "BODY", "text": body}
    if names and named:
        body_component["example"] = {
            "body_text_named_params": [
                {"param_name": name, "example": samples[i] if i < len(samples) else ""}
                for i, name in enumerate(names)
            ]
        }
    elif names:
        body_component["example"] = {"body_text": [samples]}
    components.append(body_component)
    if form.get("footer"):
        paths[f"components[{len(components)}]"] = "footer"
        components.append({"type": "FOOTER", "text": form.get("footer")})
    buttons: list[dict[str, Any]] = []
    position = len(components)
    for slot in range(BUTTON_SLOTS):
        kind = form.get(f"button_{slot}_type").upper()
        if kind not in BUTTON_TYPES[1:]:
            continue
        paths[f"components[{position}].buttons[{len(buttons)}]"] = f"button_{slot}"
        button: dict[str, Any] = {"type": kind}
        if kind != "COPY_CODE":
            button["text"] = form.get(f"button_{slot}_text")
        if kind == "URL":
            button["url"] = form.get(f"button_{slot}_url")
            if form.checked(f"button_{slot}_track"):
                button["track"] = True
            elif "{{" in button["url"]:
                # Meta wants the whole sample url; the author gives the suffix (or all of it).
                sample = form.get(f"button_{slot}_sample")
                if sample and not sample.startswith(("http://", "https://")):
                    sample = _VARIABLE.sub(sample.replace("\\", "\\\\"), button["url"])
                button["example"] = [sample]
        elif kind == "PHONE_NUMBER":
            button["phone_number"] = form.get(f"button_{slot}_phone")
        elif kind == "COPY_CODE":
            button["example"] = form.get(f"button_{slot}_sample")
        buttons.append(button)
    if buttons:
        paths[f"components[{position}]"] = "buttons"
        components.append({"type": "BUTTONS", "buttons": buttons})
    draft = service.TemplateDraft(
        name=form.get("name"),
        language=form.get("language"),
        category=form.get("category"),
        components=components,
        parameter_format="NAMED" if named else "POSITIONAL",
    )
    # The format is the template's: a mismatch is shown where the odd variables are.
    header_is_odd = named and any(name.isdigit() for name in header_names_)
    paths["parameter_format"] = "header_text" if header_is_odd else "body"
    return Drafted(draft=draft, paths=paths)


_TOP_FIELDS: Final = ("name", "language", "category")
_SUFFIXES: Final = {
    "header_text": {"text": "header_text", "example": "header_sample"},
    "body": {"example": "body_samples"},
    **{
        f"button_{slot}": {
            "text": f"button_{slot}_text",
            "url": f"button_{slot}_url",
            "phone_number": f"button_{slot}_phone",
            "example": f"button_{slot}_sample",
            "track": f"button_{slot}_url",
        }
        for slot in range(BUTTON_SLOTS)
    },
}


def field_of(path: str, paths: dict[str, str]) -> str | None:
    """The form field a violation's path is about, or None (shown above the form)."""
    if path in _TOP_FIELDS:
        return path
    best = ""
    for prefix in paths:
        if (path == prefix or path.startswith((prefix + ".", prefix + "["))) and len(prefix) > len(
            best
        ):
            best = prefix
    if not best:
        return None
    target = paths[best]
    rest = path[len(best) :].lstrip(".")
    head = re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else ""
    if target.startswith("button_") and target.count("_") == 1:
        return _SUFFIXES[target].get(head, f"{target}_type")
    return _SUFFIXES.get(target, {}).get(head, target)


def errors_by_field(
    violations: list[dict[str, Any]], paths: dict[str, str]
) -> tuple[dict[str, list[str]], list[str]]:
    on_fields: dict[str, list[str]] = {}
    general: list[str] = []
    for violation in violations:
        name = field_of(str(violation.get("field") or ""), paths)
        message = str(violation.get("message") or "")
        if name is None:
            general.append(message)
        else:
            on_fields.setdefault(name, []).append(message)
    return on_fields, general


# --- The preview ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preview:
    header: str | None
    header_media: str | None
    body: str
    footer: str | None
    buttons: list[str]


def preview_of(form: EditorForm, t: Translator) -> Preview:
    """The message as a customer would see it, samples in place of the variables."""
    samples = _samples(form.get("body_samples"))
    names = variables_of(form.get("body"))

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        index = names.index(name) if name in names else -1
        return samples[index] if 0 <= index < len(samples) else match.group(0)

    header_format = form.get("header_format").upper()
    header = None
    if header_format == "TEXT" and form.get("header_text"):
        header = _VARIABLE.sub(
            lambda m: form.get("header_sample") or m.group(0), form.get("header_text")
        )
    buttons = []
    for slot in range(BUTTON_SLOTS):
        kind = form.get(f"button_{slot}_type").upper()
        if kind == "COPY_CODE":
            buttons.append(t.gettext("Copy code"))
        elif kind in BUTTON_TYPES[1:]:
            buttons.append(form.get(f"button_{slot}_text") or button_names(t)[kind])
    return Preview(
        header=header,
        header_media=header_names(t)[header_format]
        if header_format in HEADER_FORMATS[2:]
        else None,
        body=_VARIABLE.sub(fill, form.get("body")),
        footer=form.get("footer") or None,
        buttons=buttons,
    )


# --- Pages ---------------------------------------------------------------------------------------


def _editor_context(viewer: Viewer, channels: list[Channel]) -> dict[str, Any]:
    t = viewer.t
    return {
        "channels": channels,
        "categories": category_names(t),
        "header_names": header_names(t),
        "button_names": button_names(t),
        "slots": range(BUTTON_SLOTS),
    }


async def _channel(
    session: AsyncSession, viewer: Viewer, number_id: str | None
) -> tuple[list[Channel], Channel | None]:
    channels = await channels_service.list_channels(
        session=session, workspace_id=viewer.me.workspace_id
    )
    if number_id:
        try:
            wanted = uuid.UUID(number_id)
        except ValueError:
            wanted = None
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
            **(extra or {}),
        },
        status_code=status_code,
    )


@router.get("/templates")
async def templates_page(
    viewer: ViewerDep, session: SessionDep, number_id: str | None = None
) -> HTMLResponse:
    return await _list_page(viewer, session, number_id)


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
            **_editor_context(viewer, channels),
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
    violations = service.check_draft(drafted.draft, public_url=runtime.public_url)
    errors, general = errors_by_field(violations, drafted.paths)
    return render(
        viewer.page,
        "templates/_check.html",
        {
            "preview": preview_of(form, viewer.t),
            "errors": errors,
            "general": general,
            "error_fields": _error_fields(),
            "checked": True,
        },
    )


def _error_fields() -> list[str]:
    fields = ["name", "language", "category", "header_text", "header_sample", "header_handle",
              "body", "body_samples", "footer", "buttons"]  # fmt: skip
    for slot in range(BUTTON_SLOTS):
        fields += [f"button_{slot}_{part}" for part in ("type", "text", "url", "phone", "sample")]
    return fields


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
    if channel is None:
        general = [t.gettext("Connect a number first: templates belong to a number's account.")]
    else:
        try:
            await service.check_create_template(
                session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
                channel_id=channel.id, draft=drafted.draft, now=runtime.clock.now(),
            )  # fmt: skip
        except TemplateInvalidError as exc:
            errors, general = errors_by_field(list(exc.extra.get("violations", [])), drafted.paths)
        except TemplateAlreadyExistsError:
            errors = {"name": [t.gettext("This name is taken in this language.")]}
        except TemplateRefusedError as exc:
            general = [t.gettext("Meta refused the template: %(reason)s", reason=exc.detail)]
        else:
            return redirect(viewer.page, f"/templates?number_id={channel.id}")
    await session.rollback()  # nothing half-done kept; the numbers are read again
    channels, _ = await _channel(session, viewer, None)
    return render(
        viewer.page,
        "templates/editor.html",
        {
            **_editor_context(viewer, channels),
            "form": form,
            "preview": preview_of(form, t),
            "errors": errors,
            "general": general,
        },
        status_code=422,
    )
