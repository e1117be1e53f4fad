"""Use cases of message templates: author, submit, sync, track, send, and tracked links.

Meta owns a template's review: it is created here only after ``rules.templates`` finds
nothing wrong (every violation named on its field, nothing sent to Meta otherwise), then
submitted with the number's token, and its status follows Meta's
``message_template_status_update`` webhooks and a periodic pull of the WABA's templates.

Calls to Meta never hold a transaction open: on SQLite every transaction holds the one
write lock, which must not wait on the network.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels import service as channels_service
from ovillo.channels.errors import GraphAPIUnreachableError
from ovillo.channels.models import Channel
from ovillo.cloudapi import webhooks as wire
from ovillo.cloudapi.errors import CloudAPIError, CloudAPITransportError
from ovillo.cloudapi.templates import Template as MetaTemplate
from ovillo.contacts import service as contacts_service
from ovillo.core.events import publish_on_commit
from ovillo.core.runtime import Runtime
from ovillo.inbox import service as inbox_service
from ovillo.rules import templates as template_rules
from ovillo.templates import tracking, variables
from ovillo.templates.errors import (
    LinkNotFoundError,
    TemplateAlreadyExistsError,
    TemplateInvalidError,
    TemplateNotFoundError,
    TemplateNotSendableError,
    TemplateParametersInvalidError,
    TemplateRefusedError,
)
from ovillo.templates.models import (
    LinkClick,
    PendingTemplateUpdate,
    Template,
    TemplateEvent,
    TemplateEventKind,
    TemplateSync,
    TrackedLink,
)

log = structlog.get_logger(__name__)

# FLAGGED is Meta's warning that an approved template may be paused or disabled if its
# quality does not improve; it is still delivered until then.
SENDABLE_STATUSES = frozenset({"APPROVED", "FLAGGED"})
# Status webhook events that name a return to a status rather than a status of their own.
_EVENT_STATUS = {"REINSTATED": "APPROVED", "UNFLAGGED": "APPROVED"}
# Keys of a send's `template` object that are ours, not Meta's.
_OUR_SEND_KEYS = frozenset({"variables", "header_media", "track_links", "campaign_id"})


# --- Reading -----------------------------------------------------------------------------------


async def get_template(
    *, session: AsyncSession, workspace_id: uuid.UUID, template_id: uuid.UUID
) -> Template | None:
    return await session.scalar(
        select(Template).where(Template.workspace_id == workspace_id, Template.id == template_id)
    )


async def get_template_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, template_id: uuid.UUID
) -> Template:
    template = await get_template(
        session=session, workspace_id=workspace_id, template_id=template_id
    )
    if template is None:
        raise TemplateNotFoundError(f"template {template_id} does not exist in this workspace")
    return template


async def list_templates(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID | None = None,
    status: str | None = None,
    category: str | None = None,
    language: str | None = None,
    name: str | None = None,
) -> tuple[list[Template], dict[str, int]]:
    """The workspace's templates by name then language, and how many per status (all of
    them, before the ``status`` filter, for the list's filter badges)."""
    query = select(Template).where(Template.workspace_id == workspace_id)
    if channel_id is not None:
        channel = await channels_service.get_channel_or_raise(
            session=session, workspace_id=workspace_id, channel_id=channel_id
        )
        query = query.where(Template.waba_id == channel.waba_id)
    if category is not None:
        query = query.where(Template.category == category.upper())
    if language is not None:
        query = query.where(Template.language == language)
    if name is not None:
        query = query.where(Template.name.contains(name.lower(), autoescape=True))
    templates = list(await session.scalars(query.order_by(Template.name, Template.language)))
    counts = dict(Counter(t.status for t in templates))
    if status is not None:
        wanted = {s.strip().upper() for s in status.split(",")}
        templates = [t for t in templates if t.status in wanted]
    return templates, counts


async def list_template_events(
    *, session: AsyncSession, template_id: uuid.UUID
) -> list[TemplateEvent]:
    result = await session.scalars(
        select(TemplateEvent)
        .where(TemplateEvent.template_id == template_id)
        .order_by(TemplateEvent.id)
    )
    return list(result)


@dataclass(frozen=True, slots=True)
class TemplateFunnel:
    """How far the messages sent with a template got: each stage counts the messages that
    reached it (clicked: a tracked link of the message followed at least once)."""

    sent: int
    delivered: int
    read: int
    clicked: int
    replied: int


@dataclass(frozen=True, slots=True)
class TemplateReport:
    template: Template
    history: list[TemplateEvent]
    funnel: TemplateFunnel


async def get_template_funnel(*, session: AsyncSession, template: Template) -> TemplateFunnel:
    """The funnel of ``template`` from the inbox's messages (sent from any of its WABA's
    numbers in its workspace) and its tracked links' clicks."""
    channels = await channels_service.get_channels_by_waba_id(
        session=session, waba_id=template.waba_id
    )
    counts = await inbox_service.count_template_messages(
        session=session,
        workspace_id=template.workspace_id,
        channel_ids=[c.id for c in channels if c.workspace_id == template.workspace_id],
        name=template.name,
        language=template.language,
    )
    clicked = await session.scalar(
        select(func.count(func.distinct(LinkClick.message_id))).where(
            LinkClick.template_id == template.id, LinkClick.message_id.is_not(None)
        )
    )
    return TemplateFunnel(
        sent=counts.sent,
        delivered=counts.delivered,
        read=counts.read,
        clicked=clicked or 0,
        replied=counts.replied,
    )


async def get_template_report_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, template_id: uuid.UUID
) -> TemplateReport:
    """A template of the workspace with its history and its funnel; 404 otherwise."""
    template = await get_template_or_raise(
        session=session, workspace_id=workspace_id, template_id=template_id
    )
    history = await list_template_events(session=session, template_id=template.id)
    funnel = await get_template_funnel(session=session, template=template)
    return TemplateReport(template=template, history=history, funnel=funnel)


# --- History -----------------------------------------------------------------------------------


def _record(
    session: AsyncSession,
    template: Template,
    *,
    kind: TemplateEventKind,
    previous: str | None,
    value: str,
    source: str,
    now: datetime,
    reason: str | None = None,
    detail: str | None = None,
) -> None:
    # The templates list redraws the row's badges from this, once the change is committed.
    publish_on_commit(
        session,
        workspace_id=template.workspace_id,
        kind="template_updated",
        data={"template_id": template.id, "kind": kind.value, "value": value},
    )
    session.add(
        TemplateEvent(
            template_id=template.id,
            kind=kind.value,
            previous=previous,
            value=value,
            reason=reason,
            detail=detail,
            source=source,
            occurred_at=now,
        )
    )


def _set_status(
    session: AsyncSession,
    template: Template,
    status: str,
    *,
    reason: str | None,
    detail: str | None,
    source: str,
    now: datetime,
) -> bool:
    status = status.upper()
    if status == template.status and (reason or None) == template.status_reason:
        return False
    _record(
        session, template, kind=TemplateEventKind.STATUS, previous=template.status, value=status,
        reason=reason, detail=detail, source=source, now=now,
    )  # fmt: skip
    template.status = status
    template.status_reason = reason
    template.status_detail = detail
    template.status_changed_at = now
    template.updated_at = now
    return True


def _set_quality(
    session: AsyncSession, template: Template, score: str, *, source: str, now: datetime
) -> bool:
    if score == template.quality_score:
        return False
    _record(
        session, template, kind=TemplateEventKind.QUALITY, previous=template.quality_score,
        value=score, source=source, now=now,
    )  # fmt: skip
    template.quality_score = score
    template.updated_at = now
    return True


def _set_category(
    session: AsyncSession, template: Template, category: str, *, source: str, now: datetime
) -> bool:
    category = category.upper()
    if category == template.category:
        return False
    _record(
        session, template, kind=TemplateEventKind.CATEGORY, previous=template.category,
        value=category, source=source, now=now,
    )  # fmt: skip
    template.previous_category = template.category
    template.category = category
    template.updated_at = now
    return True


# --- Authoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TemplateDraft:
    """What the author asks for: Meta's create request, plus our tracking and media options."""

    name: Any
    language: Any
    category: Any
    components: Any
    parameter_format: Any = None
    message_send_ttl_seconds: int | None = None
    utm: Mapping[str, str] = field(default_factory=dict)
    header_media_id: str | None = None


def _violation(
    field_path: str, code: str, message: str, params: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """One problem, as the API answers it; ``params`` are the values a page's translated
    message names (``templates.violations``)."""
    found: dict[str, Any] = {"field": field_path, "code": code, "message": message}
    if params:
        found["params"] = dict(params)
    return found


def meta_request(
    draft: TemplateDraft, *, public_url: str | None
) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    """The request Meta gets for ``draft``, the tracked buttons' destinations by index, and
    what is wrong with the tracking options (pure).

    A URL button with ``"track": true`` keeps its place but its ``url`` becomes our short
    link ``/l/{{1}}`` (with a sample), so the code travels as the dynamic suffix.
    """
    request: dict[str, Any] = {
        "name": draft.name,
        "language": draft.language,
        "category": draft.category.upper() if isinstance(draft.category, str) else draft.category,
        "components": copy.deepcopy(draft.components),
    }
    if draft.parameter_format is not None:
        request["parameter_format"] = draft.parameter_format
    if draft.message_send_ttl_seconds is not None:
        request["message_send_ttl_seconds"] = draft.message_send_ttl_seconds
    tracked: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    components = request["components"]
    if not isinstance(components, list):
        return request, tracked, problems
    for position, component in enumerate(components):
        if not isinstance(component, dict) or not isinstance(component.get("buttons"), list):
            continue
        for index, button in enumerate(component["buttons"]):
            if not isinstance(button, dict) or "track" not in button:
                continue
            path = f"components[{position}].buttons[{index}]"
            track = button.pop("track")
            if not track:
                continue
            url = button.get("url")
            if str(button.get("type", "")).upper() != "URL" or not isinstance(url, str):
                problems.append(
                    _violation(f"{path}.track", "track_not_url", "Only a URL button with a "
                               "url can be tracked.")
                )  # fmt: skip
                continue
            why = tracking.check_destination(url)
            if why is not None:
                problems.append(_violation(f"{path}.url", "tracked_url_invalid", f"The url {why}."))
                continue
            if public_url is None:
                problems.append(
                    _violation(
                        f"{path}.track", "tracking_unavailable",
                        "Tracked links need this server's public address: set "
                        "OVILLO_SERVER__PUBLIC_URL, or leave the button untracked.",
                    )
                )  # fmt: skip
                continue
            tracked[str(index)] = url.strip()
            button["url"], sample = tracking.tracked_button_url(public_url)
            button["example"] = [sample]
    return request, tracked, problems


def _violations_of(found: Sequence[template_rules.TemplateViolation]) -> list[dict[str, Any]]:
    return [
        {
            "field": v.field,
            "code": v.code,
            "message": v.message,
            "meta_error_code": v.meta_error_code,
            "meta_error_subcode": v.meta_error_subcode,
            "params": dict(v.params),
        }
        for v in found
    ]


def draft_violations(draft: TemplateDraft, *, public_url: str | None) -> list[dict[str, Any]]:
    """What is wrong with ``draft`` by Meta's rules and ours, each on its field (pure): the
    editor's as-you-type check, the same ``check_create_template`` makes before submitting
    (less the WABA's quota and the taken names, which need the database)."""
    request, _, problems = meta_request(draft, public_url=public_url)
    return problems + _violations_of(template_rules.validate_template(request))


async def _submitting_channel(
    session: AsyncSession, *, workspace_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel:
    return await channels_service.get_connected_channel_or_raise(
        session=session,
        workspace_id=workspace_id,
        channel_id=channel_id,
        again="to manage its templates",
    )


def _refused(error: CloudAPIError, *, what: str) -> TemplateRefusedError:
    user_message = error.error.error_user_msg if error.error else None
    reason = user_message or error.details or error.title
    return TemplateRefusedError(
        f"Meta refused to {what} (code {error.code}"
        + (f", subcode {error.subcode}" if error.subcode else "")
        + f"): {reason}",
        meta_code=error.code,
        meta_subcode=error.subcode,
        fbtrace_id=error.fbtrace_id,
    )


def _unreachable(error: CloudAPITransportError, channel: Channel) -> GraphAPIUnreachableError:
    return GraphAPIUnreachableError(
        f"{channel.graph_api_url} could not be reached: {error.reason}",
        graph_api_url=channel.graph_api_url,
    )


@dataclass(frozen=True, slots=True)
class HeaderSample:
    """A media header's file, uploaded twice: its ``header_handle`` for Meta's review (the
    Resumable Upload API) and its ``header_media_id`` for sends (``POST /media``, 30 days,
    the template's default header media), plus our copy (``media_id``)."""

    header_handle: str
    header_media_id: str
    media_id: uuid.UUID
    mime_type: str


async def upload_header_sample(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    data: bytes,
    mime_type: str | None,
    filename: str | None,
    now: datetime,
) -> HeaderSample:
    """Upload a media header's sample for a template of the number's WABA.

    WhatsApp's media types and sizes are checked first (422, through the inbox's upload,
    which also keeps our copy and gives the media id sends reuse); the sample goes to the
    app subscribed to the WABA. Commits (no transaction is held while Meta answers).
    """
    media = await inbox_service.upload_media(
        session=session, runtime=runtime, workspace_id=workspace_id, channel_id=channel_id,
        data=data, mime_type=mime_type, filename=filename, now=now,
    )  # fmt: skip
    channel = await _submitting_channel(session, workspace_id=workspace_id, channel_id=channel_id)
    client = channels_service.cloud_api_client(runtime, channel)
    waba_id = channel.waba_id
    header_media_id, bare_mime = str(media.meta_media_id), media.mime_type
    await session.commit()
    try:
        apps = await client.list_subscribed_apps(waba_id)
        app_id = next(
            (
                app.whatsapp_business_api_data.id
                for app in apps.data
                if app.whatsapp_business_api_data and app.whatsapp_business_api_data.id
            ),
            None,
        )
        if app_id is None:
            raise TemplateRefusedError(
                f"no app is subscribed to WhatsApp Business Account {waba_id}: connect the "
                "number again so its app can upload the header's sample",
                meta_code=None,
                meta_subcode=None,
                fbtrace_id=None,
            )
        handle = await client.upload_header_sample(
            app_id, data, file_name=filename or "sample", file_type=bare_mime
        )
    except CloudAPIError as error:
        raise _refused(error, what="take the header's sample") from None
    except CloudAPITransportError as error:
        raise _unreachable(error, channel) from None
    log.info(
        "template_header_sample_uploaded",
        workspace_id=str(workspace_id),
        channel_id=str(channel_id),
        media_id=str(media.id),
    )
    return HeaderSample(
        header_handle=handle, header_media_id=header_media_id, media_id=media.id,
        mime_type=bare_mime,
    )  # fmt: skip


# Meta keeps an uploaded media id 30 days; a template's default header is uploaded again a
# day before, from our copy, so no send ever names an expired id.
HEADER_MEDIA_REFRESH_AFTER = timedelta(days=29)


async def refresh_header_media(*, session: AsyncSession, runtime: Runtime, now: datetime) -> int:
    """Upload again, from our copy, every sendable template's default header media that is
    ``HEADER_MEDIA_REFRESH_AFTER`` old, and point the template at the new media id; how many
    were refreshed. Commits after each (no transaction held while Meta answers)."""
    due = [
        (template.id, template.workspace_id, template.channel_id, template.header_media_id)
        for template in await session.scalars(
            select(Template).where(
                Template.header_media_id.is_not(None), Template.status.in_(SENDABLE_STATUSES)
            )
        )
    ]
    refreshed = 0
    for template_id, workspace_id, channel_id, meta_media_id in due:
        media = await inbox_service.get_media_by_meta_id(
            session=session, workspace_id=workspace_id, meta_media_id=str(meta_media_id)
        )
        if media is None or media.created_at > now - HEADER_MEDIA_REFRESH_AFTER:
            continue
        content = await inbox_service.get_media_content(
            session=session, runtime=runtime, workspace_id=workspace_id, media_id=media.id
        )
        if content.data is not None:
            data = content.data
        elif content.path is not None:
            data = await asyncio.to_thread(content.path.read_bytes)
        else:
            continue
        fresh = await inbox_service.upload_media(
            session=session, runtime=runtime, workspace_id=workspace_id, channel_id=channel_id,
            data=data, mime_type=media.mime_type, filename=media.filename, now=now,
        )  # fmt: skip
        template = await session.get(Template, template_id)
        if template is not None and template.header_media_id == meta_media_id:
            template.header_media_id = fresh.meta_media_id
            template.updated_at = now
        await session.commit()
        refreshed += 1
        log.info("template_header_media_refreshed", template_id=str(template_id))
    return refreshed


async def check_create_template(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    draft: TemplateDraft,
    now: datetime,
) -> Template:
    """Check ``draft`` against Meta's rules, submit it with the number's token, store it.

    422 ``template_invalid`` lists every violation (nothing reaches Meta then); 409 when the
    WABA already has the name in that language; 422 ``template_refused`` carries Meta's own
    refusal. The template starts as Meta answers (PENDING, usually).
    """
    channel = await _submitting_channel(session, workspace_id=workspace_id, channel_id=channel_id)
    request, tracked, problems = meta_request(draft, public_url=runtime.public_url)
    found = template_rules.validate_template(request)
    existing = await session.scalar(
        select(func.count())
        .select_from(Template)
        .where(
            Template.workspace_id == workspace_id,
            Template.waba_id == channel.waba_id,
            # Meta frees a deleted template's place in the quota (its name stays taken).
            Template.status != "DELETED",
        )
    )
    quota = template_rules.check_template_quota(existing_templates=existing or 0)
    violations = problems + _violations_of([*found, *([quota] if quota else [])])
    if violations:
        raise TemplateInvalidError(
            "; ".join(f"{v['field'] or 'template'}: {v['message']}" for v in violations[:5])
            + (f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""),
            violations=violations,
        )
    same = await session.scalar(
        select(Template).where(
            Template.workspace_id == workspace_id,
            Template.waba_id == channel.waba_id,
            Template.name == request["name"],
            Template.language == request["language"],
        )
    )
    if same is not None:
        raise TemplateAlreadyExistsError(
            f"template {same.name} already exists in {same.language}; duplicate it to another "
            "language or choose another name",
            name=same.name,
            language=same.language,
            template_id=str(same.id),
        )
    client = channels_service.cloud_api_client(runtime, channel)
    waba_id = channel.waba_id
    await session.commit()  # no transaction held while Meta answers
    try:
        created = await client.create_template(waba_id, request)
    except CloudAPIError as error:
        raise _refused(error, what="create the template") from None
    except CloudAPITransportError as error:
        raise _unreachable(error, channel) from None
    template = Template(
        workspace_id=workspace_id,
        channel_id=channel_id,
        waba_id=waba_id,
        name=request["name"],
        language=request["language"],
        category=str(created.category),
        parameter_format=str(request.get("parameter_format") or "POSITIONAL").upper(),
        components=request["components"],
        meta_template_id=created.id,
        status=str(created.status),
        header_media_id=draft.header_media_id,
        tracked_buttons=tracked,
        utm=dict(draft.utm),
        created_at=now,
        updated_at=now,
        status_changed_at=now,
    )
    session.add(template)
    await session.flush()
    _record(
        session, template, kind=TemplateEventKind.STATUS, previous=None, value=template.status,
        source="submit", now=now,
    )  # fmt: skip
    if template.category != str(request["category"]):
        _record(
            session, template, kind=TemplateEventKind.CATEGORY, previous=str(request["category"]),
            value=template.category, source="submit", now=now,
        )  # fmt: skip
        template.previous_category = str(request["category"])
    await _apply_parked_for(session, template, now=now)
    await session.commit()
    log.info(
        "template_submitted",
        workspace_id=str(workspace_id),
        template_id=str(template.id),
        meta_template_id=template.meta_template_id,
        status=template.status,
    )
    return template


async def duplicate_template(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    template_id: uuid.UUID,
    language: str,
    components: Any,
    name: str | None,
    now: datetime,
) -> Template:
    """Submit a copy of a template in another language (translated ``components``, or the
    original's), keeping its category, tracking and default media header."""
    original = await get_template_or_raise(
        session=session, workspace_id=workspace_id, template_id=template_id
    )
    # Components as Meta reviewed them already carry their samples: fit to submit again.
    source_components = components if components is not None else copy.deepcopy(original.components)
    if components is None and original.tracked_buttons:
        # Re-create the tracked buttons from their destinations: the draft says "track".
        for component in source_components:
            if isinstance(component, dict) and isinstance(component.get("buttons"), list):
                for index, button in enumerate(component["buttons"]):
                    destination = original.tracked_buttons.get(str(index))
                    if destination is not None and isinstance(button, dict):
                        button.update({"url": destination, "track": True})
                        button.pop("example", None)
    draft = TemplateDraft(
        name=name or original.name,
        language=language,
        category=original.previous_category or original.category,
        components=source_components,
        parameter_format=original.parameter_format,
        utm=original.utm,
        header_media_id=original.header_media_id,
    )
    return await check_create_template(
        session=session, runtime=runtime, workspace_id=workspace_id,
        channel_id=original.channel_id, draft=draft, now=now,
    )  # fmt: skip


async def delete_template(
    *, session: AsyncSession, runtime: Runtime, workspace_id: uuid.UUID, template_id: uuid.UUID
) -> None:
    """Delete this one language of a template at Meta, then here (its links stay)."""
    template = await get_template_or_raise(
        session=session, workspace_id=workspace_id, template_id=template_id
    )
    channel = await _submitting_channel(
        session, workspace_id=workspace_id, channel_id=template.channel_id
    )
    client = channels_service.cloud_api_client(runtime, channel)
    name, waba_id, meta_id = template.name, template.waba_id, template.meta_template_id
    await session.commit()
    if meta_id is not None:
        try:
            await client.delete_template(waba_id, name, hsm_id=meta_id)
        except CloudAPIError as error:
            if error.http_status != 404:
                raise _refused(error, what="delete the template") from None
        except CloudAPITransportError as error:
            raise _unreachable(error, channel) from None
    await session.execute(delete(Template).where(Template.id == template_id))
    await session.commit()
    log.info("template_deleted", workspace_id=str(workspace_id), template_id=str(template_id))


# --- Sync --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SyncResult:
    created: int
    updated: int
    deleted: int
    templates: list[Template]


def _wire_components(remote: MetaTemplate) -> list[dict[str, Any]]:
    return [component.to_wire() for component in remote.components or ()]


def _apply_remote(
    session: AsyncSession, template: Template, remote: MetaTemplate, *, now: datetime
) -> bool:
    changed = False
    if remote.status is not None:
        reason = remote.rejected_reason if str(remote.status) == "REJECTED" else None
        if str(remote.status) != template.status:
            changed |= _set_status(
                session, template, str(remote.status), reason=reason, detail=None,
                source="sync", now=now,
            )  # fmt: skip
    if remote.category is not None:
        changed |= _set_category(session, template, str(remote.category), source="sync", now=now)
    if remote.quality_score is not None:
        changed |= _set_quality(
            session, template, str(remote.quality_score.score), source="sync", now=now
        )
    components = _wire_components(remote)
    if components and components != template.components:
        template.components = components
        changed = True
    if remote.parameter_format is not None:
        template.parameter_format = str(remote.parameter_format).upper()
    template.meta_template_id = remote.id
    template.synced_at = now
    if changed:
        template.updated_at = now
    return changed


async def sync_templates(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    now: datetime,
) -> SyncResult:
    """Pull every template of the number's WABA from the Graph API and make ours match:
    new ones are added, changed ones updated (status, category, quality, components, each
    change in the history), ones Meta no longer lists are marked DELETED."""
    channel = await _submitting_channel(session, workspace_id=workspace_id, channel_id=channel_id)
    client = channels_service.cloud_api_client(runtime, channel)
    waba_id = channel.waba_id
    await session.commit()
    try:
        remote = [template async for template in client.iter_templates(waba_id)]
    except CloudAPIError as error:
        raise _refused(error, what="list the templates") from None
    except CloudAPITransportError as error:
        raise _unreachable(error, channel) from None
    ours = {
        (t.name, t.language): t
        for t in await session.scalars(
            select(Template).where(
                Template.workspace_id == workspace_id, Template.waba_id == waba_id
            )
        )
    }
    created = updated = deleted = 0
    seen: set[tuple[str, str]] = set()
    for item in remote:
        if item.name is None or item.language is None:
            continue
        key = (item.name, item.language)
        seen.add(key)
        template = ours.get(key)
        if template is None:
            template = Template(
                workspace_id=workspace_id,
                channel_id=channel_id,
                waba_id=waba_id,
                name=item.name,
                language=item.language,
                category=str(item.category or "UTILITY"),
                parameter_format=str(item.parameter_format or "POSITIONAL").upper(),
                components=_wire_components(item),
                meta_template_id=item.id,
                status=str(item.status or "PENDING"),
                status_reason=item.rejected_reason if str(item.status) == "REJECTED" else None,
                quality_score=str(item.quality_score.score) if item.quality_score else None,
                tracked_buttons={},
                utm={},
                created_at=now,
                updated_at=now,
                status_changed_at=now,
                synced_at=now,
            )
            session.add(template)
            await session.flush()
            _record(
                session, template, kind=TemplateEventKind.STATUS, previous=None,
                value=template.status, reason=template.status_reason, source="sync", now=now,
            )  # fmt: skip
            ours[key] = template
            created += 1
        elif _apply_remote(session, template, item, now=now):
            updated += 1
    for key, template in ours.items():
        if key not in seen and template.status != "DELETED" and template.meta_template_id:
            _set_status(
                session, template, "DELETED", reason=None,
                detail="No longer listed by Meta.", source="sync", now=now,
            )  # fmt: skip
            deleted += 1
    # What Meta lists now supersedes any webhook parked for these templates.
    await session.execute(
        delete(PendingTemplateUpdate).where(
            PendingTemplateUpdate.waba_id == waba_id,
            PendingTemplateUpdate.meta_template_id.in_(
                [t.meta_template_id for t in ours.values() if t.meta_template_id]
            ),
        )
    )
    state = await session.get(TemplateSync, channel_id)
    if state is None:
        session.add(TemplateSync(channel_id=channel_id, workspace_id=workspace_id, synced_at=now))
    else:
        state.synced_at, state.error = now, None
    await session.commit()
    log.info(
        "templates_synced",
        workspace_id=str(workspace_id),
        channel_id=str(channel_id),
        created=created,
        updated=updated,
        deleted=deleted,
    )
    templates = sorted(ours.values(), key=lambda t: (t.name, t.language))
    return SyncResult(created, updated, deleted, templates)


async def channels_due_for_sync(
    *, session: AsyncSession, before: datetime, limit: int
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(workspace id, channel id) of connected numbers whose templates were last pulled
    before ``before`` (a number never synced counts from when it was connected: whoever
    connects a number syncs it then, through the API), oldest first, one number per WABA
    and workspace."""
    channels = await channels_service.list_all_connected_channels(session=session)
    synced = {
        state.channel_id: state.synced_at for state in await session.scalars(select(TemplateSync))
    }
    due: list[tuple[datetime, uuid.UUID, uuid.UUID]] = []
    wabas: set[tuple[uuid.UUID, str]] = set()
    for channel in channels:
        if (channel.workspace_id, channel.waba_id) in wabas:
            continue
        wabas.add((channel.workspace_id, channel.waba_id))
        at = synced.get(channel.id) or channel.created_at
        if at < before:
            due.append((at, channel.workspace_id, channel.id))
    due.sort(key=lambda item: item[0])
    return [(workspace_id, channel_id) for _, workspace_id, channel_id in due[:limit]]


async def do_record_sync_failure(
    *, session: AsyncSession, workspace_id: uuid.UUID, channel_id: uuid.UUID, error: str,
    now: datetime,
) -> None:  # fmt: skip
    """Remember a failed periodic sync (tried again after the interval); no commit."""
    state = await session.get(TemplateSync, channel_id)
    if state is None:
        session.add(
            TemplateSync(
                channel_id=channel_id, workspace_id=workspace_id, synced_at=now, error=error
            )
        )
    else:
        state.synced_at, state.error = now, error


# --- Webhooks ----------------------------------------------------------------------------------


TemplateWebhookValue = (
    wire.TemplateStatusUpdateValue
    | wire.TemplateQualityUpdateValue
    | wire.TemplateCategoryUpdateValue
)


async def do_apply_template_webhook(
    *, session: AsyncSession, waba_id: str, value: TemplateWebhookValue, now: datetime
) -> int:
    """Apply a template status, quality or category webhook of the WABA to our templates
    (in every workspace that has the WABA); the number of templates it matched. One that
    matches nothing is parked (``PendingTemplateUpdate``): an instant review can outrun the
    commit of the template's row. No commit: the caller applies the webhook in its
    transaction."""
    meta_id = str(value.message_template_id)
    templates = list(
        await session.scalars(
            select(Template).where(
                Template.waba_id == waba_id, Template.meta_template_id == meta_id
            )
        )
    )
    if not templates:
        templates = list(
            await session.scalars(
                select(Template).where(
                    Template.waba_id == waba_id,
                    Template.name == value.message_template_name,
                    Template.language == value.message_template_language,
                )
            )
        )
    if not templates:
        session.add(
            PendingTemplateUpdate(
                waba_id=waba_id, meta_template_id=meta_id, field=type(value).FIELD,
                value=value.to_wire(), received_at=now,
            )
        )  # fmt: skip
        log.info("template_update_parked", waba_id=waba_id, meta_template_id=meta_id)
        return 0
    for template in templates:
        _apply_update(session, template, value, now=now)
    await session.flush()
    return len(templates)


def _apply_update(
    session: AsyncSession, template: Template, value: TemplateWebhookValue, *, now: datetime
) -> None:
    template.meta_template_id = str(value.message_template_id)
    if isinstance(value, wire.TemplateStatusUpdateValue):
        reason = value.reason if value.reason and value.reason != "NONE" else None
        detail = None
        if value.other_info is not None:
            detail = " ".join(
                x for x in (value.other_info.title, value.other_info.description) if x
            )
        elif value.rejection_info is not None:
            detail = value.rejection_info.recommendation or value.rejection_info.reason
        event = value.event.upper()
        if event in _EVENT_STATUS:
            detail = " ".join(x for x in (event, detail) if x)
        _set_status(
            session, template, _EVENT_STATUS.get(event, event), reason=reason,
            detail=detail or None, source="webhook", now=now,
        )  # fmt: skip
        if value.message_template_category:
            _set_category(
                session, template, value.message_template_category, source="webhook", now=now
            )
    elif isinstance(value, wire.TemplateQualityUpdateValue):
        _set_quality(session, template, value.new_quality_score, source="webhook", now=now)
    else:
        category = value.new_category or value.correct_category
        if category:
            _set_category(session, template, category, source="webhook", now=now)
    log.info(
        "template_updated_by_webhook",
        workspace_id=str(template.workspace_id),
        template_id=str(template.id),
        status=template.status,
        category=template.category,
        quality_score=template.quality_score,
    )


_PARKED_VALUES: dict[str, type[TemplateWebhookValue]] = {
    model.FIELD: model
    for model in (
        wire.TemplateStatusUpdateValue,
        wire.TemplateQualityUpdateValue,
        wire.TemplateCategoryUpdateValue,
    )
}
# A parked update nobody claimed: the periodic sync has brought its template up to date.
PARKED_UPDATE_TTL = timedelta(days=1)


def _apply_parked_rows(
    session: AsyncSession,
    template: Template,
    rows: Sequence[PendingTemplateUpdate],
    *,
    statuses: bool,
    now: datetime,
) -> None:
    for row in rows:
        model = _PARKED_VALUES.get(row.field)
        try:
            value = model.model_validate(row.value) if model is not None else None
        except ValueError:
            value = None
        if value is None:
            log.warning("template_update_unreadable", pending_template_update_id=row.id)
        elif statuses or not isinstance(value, wire.TemplateStatusUpdateValue):
            _apply_update(session, template, value, now=now)


async def do_apply_parked_updates(*, session: AsyncSession, now: datetime) -> int:
    """Apply the parked template webhooks whose template is stored now, and forget them and
    the ones older than ``PARKED_UPDATE_TTL``; how many were applied. A parked status is
    applied only to a template whose status has not changed since it was stored (a newer
    webhook or a sync knows better). No commit."""
    matched = list(
        await session.execute(
            select(PendingTemplateUpdate, Template)
            .join(
                Template,
                (Template.waba_id == PendingTemplateUpdate.waba_id)
                & (Template.meta_template_id == PendingTemplateUpdate.meta_template_id),
            )
            .order_by(PendingTemplateUpdate.id)
        )
    )
    per_template: dict[uuid.UUID, tuple[Template, list[PendingTemplateUpdate]]] = {}
    for row, template in matched:
        per_template.setdefault(template.id, (template, []))[1].append(row)
    for template, rows in per_template.values():
        unchanged = template.status_changed_at <= template.created_at
        _apply_parked_rows(session, template, rows, statuses=unchanged, now=now)
    done = {row.id for row, _ in matched}
    await session.execute(
        delete(PendingTemplateUpdate).where(
            PendingTemplateUpdate.id.in_(done)
            | (PendingTemplateUpdate.received_at < now - PARKED_UPDATE_TTL)
        )
    )
    await session.flush()
    return len(done)


async def _apply_parked_for(session: AsyncSession, template: Template, *, now: datetime) -> None:
    rows = list(
        await session.scalars(
            select(PendingTemplateUpdate)
            .where(
                PendingTemplateUpdate.waba_id == template.waba_id,
                PendingTemplateUpdate.meta_template_id == template.meta_template_id,
            )
            .order_by(PendingTemplateUpdate.id)
        )
    )
    if rows:
        _apply_parked_rows(session, template, rows, statuses=True, now=now)
        await session.execute(
            delete(PendingTemplateUpdate).where(
                PendingTemplateUpdate.id.in_([row.id for row in rows])
            )
        )


# --- Sending -----------------------------------------------------------------------------------


@dataclass
class PreparedTemplateSend:
    """A template send ready to queue: Meta's ``template`` object, its category, and the
    tracked links made for this recipient (bound to the message once it exists)."""

    template: dict[str, Any]
    category: str | None
    links: list[TrackedLink]


def _language_code(language: Any) -> str | None:
    if isinstance(language, Mapping):
        code = language.get("code")
        return code if isinstance(code, str) else None
    return language if isinstance(language, str) else None


def check_sendable(template: Template) -> None:
    """Raise ``TemplateNotSendableError`` (Meta's status and reason) unless the template may
    be sent: APPROVED, or FLAGGED (still delivered while Meta watches its quality)."""
    if template.status not in SENDABLE_STATUSES:
        raise _not_sendable(template)


def _not_sendable(template: Template) -> TemplateNotSendableError:
    why = {
        "PENDING": "it is still in Meta's review",
        "IN_APPEAL": "its appeal is still in Meta's review",
        "REJECTED": "Meta rejected it",
        "PAUSED": "Meta paused it for low quality (it resumes on its own, or edit it)",
        "DISABLED": "Meta disabled it for repeated low quality",
        "DELETED": "it was deleted",
    }.get(template.status, f"its status is {template.status}")
    reason = f" (reason: {template.status_reason})" if template.status_reason else ""
    detail = f": {template.status_detail}" if template.status_detail else ""
    return TemplateNotSendableError(
        f"template.name: {template.name} ({template.language}) cannot be sent: {why}{reason}"
        f"{detail}. Only an APPROVED (or FLAGGED) template is delivered.",
        field="template.name",
        template_id=str(template.id),
        template_status=template.status,
        reason=template.status_reason,
    )


def _new_link(
    *, workspace_id: uuid.UUID, template: Template, contact_id: uuid.UUID, url: str,
    campaign_id: uuid.UUID | None, now: datetime,
) -> TrackedLink:  # fmt: skip
    return TrackedLink(
        workspace_id=workspace_id,
        code=tracking.new_link_code(),
        url=url,
        template_id=template.id,
        contact_id=contact_id,
        campaign_id=campaign_id,
        created_at=now,
    )


async def check_template_send(
    *,
    session: AsyncSession,
    public_url: str | None,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    contact_id: uuid.UUID,
    template: Mapping[str, Any],
    now: datetime,
) -> PreparedTemplateSend:
    """Turn a send's ``template`` object into Meta's, checked against the stored template.

    ``template`` is Meta's object (``name``, ``language``, ``components``) or ours: the
    same with ``variables`` by name (values may use ``{{contact.first_name|there}}``),
    ``header_media`` and ``track_links`` instead of ``components``. A template we do not
    know is passed on as given (Meta decides); one we know must be APPROVED (422 with
    Meta's reason otherwise) and its parameters must fit it (422 naming each field).
    Tracked links (pointing at ``public_url``) are added to the session, not committed.
    """
    name = template.get("name")
    code = _language_code(template.get("language"))
    ours = {key: template[key] for key in _OUR_SEND_KEYS if key in template}
    channel = await channels_service.get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    stored = None
    if isinstance(name, str) and code is not None:
        stored = await session.scalar(
            select(Template).where(
                Template.workspace_id == workspace_id,
                Template.waba_id == channel.waba_id,
                Template.name == name,
                Template.language == code,
            )
        )
    if stored is None:
        if ours:
            raise TemplateParametersInvalidError(
                f"template.name: no template {name!r} in {code!r} on this number's account; "
                "create it (POST /api/v1/templates) or sync (POST /api/v1/templates/sync) first",
                violations=[
                    _violation("template.name", "template_unknown",
                               "Variables by name need a template known here.")
                ],
            )  # fmt: skip
        return PreparedTemplateSend(template=dict(template), category=None, links=[])
    check_sendable(stored)
    links: list[TrackedLink] = []
    campaign_id = _campaign_id(ours.get("campaign_id"))
    if "components" in template and not ours:
        components = template["components"]
    else:
        contact = await contacts_service.get_contact_or_raise(
            session=session, workspace_id=workspace_id, contact_id=contact_id
        )
        components, links = _build_components(
            stored, ours, contact=contact, public_url=public_url,
            workspace_id=workspace_id, campaign_id=campaign_id, now=now,
        )  # fmt: skip
    problems = template_rules.check_send_parameters(
        stored.components, components, stored.parameter_format
    )
    if problems:
        raise TemplateParametersInvalidError(
            "; ".join(f"template.{p.field}: {p.message}" for p in problems),
            violations=[
                {
                    "field": f"template.{p.field}",
                    "code": p.code,
                    "message": p.message,
                    "meta_error_code": p.meta_error_code,
                    "params": dict(p.params),
                }
                for p in problems
            ],
        )
    for link in links:
        session.add(link)
    meta: dict[str, Any] = {"name": stored.name, "language": {"code": stored.language}}
    if components:
        meta["components"] = components
    return PreparedTemplateSend(template=meta, category=stored.category, links=links)


def _campaign_id(value: Any) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise TemplateParametersInvalidError(
            "template.campaign_id: not a campaign id (a UUID)",
            violations=[_violation("template.campaign_id", "campaign_id_invalid", "Not a UUID.")],
        ) from None


def _build_components(
    stored: Template,
    ours: Mapping[str, Any],
    *,
    contact: Any,
    public_url: str | None,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[TrackedLink]]:
    raw = ours.get("variables") or {}
    violations: list[dict[str, Any]] = []
    if not isinstance(raw, Mapping):
        raise TemplateParametersInvalidError(
            "template.variables: give an object of variable name -> value",
            violations=[_violation("template.variables", "variables_invalid", "Not an object.")],
        )
    fields = variables.fields_of_contact(contact)
    values: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            violations.append(
                _violation(f"template.variables.{key}", "variable_invalid", "Give a text value.")
            )
            continue
        filled, missing = variables.fill_value(str(value), fields)
        if missing:
            violations.append(
                _violation(
                    f"template.variables.{key}", "contact_field_missing",
                    f"The contact has no {', '.join(missing)} and the reference has no "
                    "fallback; write it as {{contact.field|fallback}}.",
                    {"fields": ", ".join(missing)},
                )
            )  # fmt: skip
            continue
        values[str(key)] = filled
    links: list[TrackedLink] = []
    if ours.get("track_links"):
        if public_url is None:
            violations.append(
                _violation(
                    "template.track_links", "tracking_unavailable",
                    "Tracked links need this server's public address "
                    "(OVILLO_SERVER__PUBLIC_URL).",
                )
            )  # fmt: skip
        else:
            for key, value in list(values.items()):
                if key.startswith("button.") or not tracking.is_link(value):
                    continue
                link = _new_link(
                    workspace_id=workspace_id, template=stored, contact_id=contact.id,
                    url=tracking.with_utm(value.strip(), stored.utm), campaign_id=campaign_id,
                    now=now,
                )  # fmt: skip
                links.append(link)
                values[key] = public_url.rstrip("/") + tracking.LINK_PATH + link.code
    link_codes: dict[int, str] = {}
    for index, destination in stored.tracked_buttons.items():
        link = _new_link(
            workspace_id=workspace_id, template=stored, contact_id=contact.id,
            url=tracking.with_utm(destination, stored.utm), campaign_id=campaign_id, now=now,
        )  # fmt: skip
        links.append(link)
        link_codes[int(index)] = link.code
    header_media = ours.get("header_media")
    if header_media is None and stored.header_media_id:
        header_media = {"id": stored.header_media_id}
    if header_media is not None and not isinstance(header_media, Mapping):
        violations.append(
            _violation("template.header_media", "header_media_invalid",
                       'Give {"id": <meta_media_id>} or {"link": "https://..."}.')
        )  # fmt: skip
        header_media = None
    components, problems = variables.send_components(
        template_components=stored.components,
        parameter_format=stored.parameter_format,
        values=values,
        header_media=header_media,
        link_codes=link_codes,
    )
    reported = {v["field"] for v in violations}
    for p in problems:
        # One missing value may be wanted twice (an authentication code: body and button).
        if f"template.{p.field}" not in reported:
            reported.add(f"template.{p.field}")
            violations.append(_violation(f"template.{p.field}", "variable_missing", p.message))
    if violations:
        raise TemplateParametersInvalidError(
            "; ".join(f"{v['field']}: {v['message']}" for v in violations),
            violations=violations,
        )
    return components, links


def do_bind_links(*, links: Sequence[TrackedLink], message_id: uuid.UUID) -> None:
    """Tie the links made for a send to its message, once it exists; no commit."""
    for link in links:
        link.message_id = message_id


# --- Tracked links -----------------------------------------------------------------------------


async def follow_link(
    *, session: AsyncSession, code: str, method: str, user_agent: str | None, now: datetime
) -> str:
    """The exact URL stored for ``code``; a person's click is counted (and committed), a
    bot's preview fetch or a HEAD is not. 404 for any other code (no open redirect)."""
    link = (
        await session.scalar(select(TrackedLink).where(TrackedLink.code == code))
        if tracking.is_well_formed_code(code)
        else None
    )
    if link is None:
        raise LinkNotFoundError("this link does not exist")
    url = link.url
    if not tracking.is_prefetch(method=method, user_agent=user_agent):
        session.add(
            LinkClick(
                link_id=link.id,
                workspace_id=link.workspace_id,
                template_id=link.template_id,
                message_id=link.message_id,
                contact_id=link.contact_id,
                campaign_id=link.campaign_id,
                user_agent=(user_agent or "")[:300] or None,
                clicked_at=now,
            )
        )
        await session.commit()
        log.info("link_clicked", link_id=str(link.id), message_id=str(link.message_id))
    return url


@dataclass(frozen=True, slots=True)
class ClickStats:
    clicks: int
    unique_contacts: int
    links: list[tuple[TrackedLink, int]]


async def click_stats(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    template_id: uuid.UUID | None = None,
    message_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
) -> ClickStats:
    """Clicks on the links of a template, a message or a campaign, per link."""
    if template_id is not None:
        await get_template_or_raise(
            session=session, workspace_id=workspace_id, template_id=template_id
        )
    query = select(TrackedLink).where(TrackedLink.workspace_id == workspace_id)
    for column, value in (
        (TrackedLink.template_id, template_id),
        (TrackedLink.message_id, message_id),
        (TrackedLink.campaign_id, campaign_id),
    ):
        if value is not None:
            query = query.where(column == value)
    links = list(await session.scalars(query.order_by(TrackedLink.created_at, TrackedLink.id)))
    link_ids = query.with_only_columns(TrackedLink.id)
    counted = await session.execute(
        select(LinkClick.link_id, func.count())
        .where(LinkClick.link_id.in_(link_ids))
        .group_by(LinkClick.link_id)
    )
    per_link: dict[uuid.UUID, int] = {link_id: count for link_id, count in counted}
    contacts = await session.scalar(
        select(func.count(func.distinct(LinkClick.contact_id))).where(
            LinkClick.link_id.in_(link_ids)
        )
    )
    return ClickStats(
        clicks=sum(per_link.values()),
        unique_contacts=contacts or 0,
        links=[(link, per_link.get(link.id, 0)) for link in links],
    )
