"""``/templates``: author, submit, sync and delete message templates; tracked links.

``router`` is mounted under ``/api/v1``; ``redirect_router`` serves the public short links
``/l/{code}`` at the root of the site.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile, status
from fastapi.responses import RedirectResponse

from ovillo.core.auth import ApiContext, api_problem_responses
from ovillo.core.deps import RuntimeDep, SessionDep
from ovillo.templates import service, tracking
from ovillo.templates.schemas import (
    ClickStatsOut,
    HeaderSampleOut,
    LinkOut,
    TemplateCreate,
    TemplateDuplicate,
    TemplateList,
    TemplateOut,
    TemplateSyncOut,
)

router = APIRouter(tags=["templates"])
redirect_router = APIRouter(tags=["links"])


@router.get(
    "/templates",
    summary="List the workspace's templates",
    response_model=TemplateList,
    responses=api_problem_responses(404, 422),
)
async def list_templates(
    context: ApiContext,
    session: SessionDep,
    number_id: uuid.UUID | None = None,
    status: str | None = None,
    category: str | None = None,
    language: str | None = None,
    name: str | None = None,
) -> TemplateList:
    """Filter by number (its WABA), status (comma-separated), category, language and part of
    the name. Each template carries a `badge` for its status; `counts` are per status."""
    templates, counts = await service.list_templates(
        session=session,
        workspace_id=context.workspace_id,
        channel_id=number_id,
        status=status,
        category=category,
        language=language,
        name=name,
    )
    return TemplateList(data=[TemplateOut.of(t) for t in templates], counts=counts)


@router.post(
    "/templates",
    status_code=status.HTTP_201_CREATED,
    summary="Create a template and submit it to Meta",
    response_model=TemplateOut,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def create_template(
    body: TemplateCreate, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> TemplateOut:
    """Checked against every rule Meta applies first: a template that breaks any is refused
    with 422 `template_invalid` and its `violations`, each on its field, and nothing reaches
    Meta. Then submitted with the number's token; it starts `PENDING` until Meta decides."""
    template = await service.check_create_template(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        channel_id=body.number_id,
        draft=service.TemplateDraft(
            name=body.name,
            language=body.language,
            category=body.category,
            components=body.components,
            parameter_format=body.parameter_format,
            message_send_ttl_seconds=body.message_send_ttl_seconds,
            utm=body.utm.given() if body.utm is not None else {},
            header_media_id=body.header_media_id,
        ),
        now=runtime.clock.now(),
    )
    return TemplateOut.of(template)


@router.post(
    "/templates/header-samples",
    status_code=status.HTTP_201_CREATED,
    summary="Upload the sample of a media header",
    response_model=HeaderSampleOut,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def upload_header_sample(
    file: Annotated[UploadFile, File(description="JPEG or PNG image, MP4 video or PDF.")],
    number_id: Annotated[uuid.UUID, Form(description="The number whose WABA gets it.")],
    context: ApiContext,
    session: SessionDep,
    runtime: RuntimeDep,
) -> HeaderSampleOut:
    """Meta reviews an IMAGE, VIDEO or DOCUMENT header only with a sample uploaded through
    its Resumable Upload API. The answer's `header_handle` goes in the header's
    `example.header_handle`; its `header_media_id` (uploaded once, valid 30 days) is the
    template's default header for every send."""
    sample = await service.upload_header_sample(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        channel_id=number_id,
        data=await file.read(),
        mime_type=file.content_type,
        filename=file.filename,
        now=runtime.clock.now(),
    )
    return HeaderSampleOut(**asdict(sample))


@router.post(
    "/templates/sync",
    summary="Pull the templates of a number's WABA from Meta",
    response_model=TemplateSyncOut,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def sync_templates(
    number_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> TemplateSyncOut:
    """A template created, changed or deleted on Meta's side shows up here (the worker also
    does this periodically)."""
    result = await service.sync_templates(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        channel_id=number_id,
        now=runtime.clock.now(),
    )
    return TemplateSyncOut(
        created=result.created,
        updated=result.updated,
        deleted=result.deleted,
        data=[TemplateOut.of(t) for t in result.templates],
    )


@router.get(
    "/templates/{template_id}",
    summary="Get a template with its history and its funnel",
    response_model=TemplateOut,
    responses=api_problem_responses(404, 422),
)
async def get_template(
    template_id: uuid.UUID, context: ApiContext, session: SessionDep
) -> TemplateOut:
    report = await service.get_template_report_or_raise(
        session=session, workspace_id=context.workspace_id, template_id=template_id
    )
    return TemplateOut.of(report.template, report.history, report.funnel)


@router.post(
    "/templates/{template_id}/duplicate",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a copy of a template in another language",
    response_model=TemplateOut,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def duplicate_template(
    template_id: uuid.UUID,
    body: TemplateDuplicate,
    context: ApiContext,
    session: SessionDep,
    runtime: RuntimeDep,
) -> TemplateOut:
    """Give the translated `components` (the original's are copied when left out)."""
    template = await service.duplicate_template(
        session=session,
        runtime=runtime,
        workspace_id=context.workspace_id,
        template_id=template_id,
        language=body.language,
        components=body.components,
        name=body.name,
        now=runtime.clock.now(),
    )
    return TemplateOut.of(template)


@router.delete(
    "/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a template (this language) at Meta and here",
    response_class=Response,
    responses=api_problem_responses(404, 409, 422, 502),
)
async def delete_template(
    template_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> Response:
    await service.delete_template(
        session=session, runtime=runtime, workspace_id=context.workspace_id,
        template_id=template_id,
    )  # fmt: skip
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _stats_out(stats: service.ClickStats, runtime: RuntimeDep) -> ClickStatsOut:
    base = runtime.public_url.rstrip("/") + tracking.LINK_PATH if runtime.public_url else None
    return ClickStatsOut(
        clicks=stats.clicks,
        unique_contacts=stats.unique_contacts,
        links=[
            LinkOut.of(link, clicks=count, short_url=base + link.code if base else None)
            for link, count in stats.links
        ],
    )


@router.get(
    "/templates/{template_id}/clicks",
    summary="Clicks on a template's tracked links",
    response_model=ClickStatsOut,
    responses=api_problem_responses(404, 422),
)
async def template_clicks(
    template_id: uuid.UUID, context: ApiContext, session: SessionDep, runtime: RuntimeDep
) -> ClickStatsOut:
    stats = await service.click_stats(
        session=session, workspace_id=context.workspace_id, template_id=template_id
    )
    return _stats_out(stats, runtime)


@router.get(
    "/links",
    summary="Tracked links and their clicks, per message or campaign",
    response_model=ClickStatsOut,
    responses=api_problem_responses(422),
)
async def list_links(
    context: ApiContext,
    session: SessionDep,
    runtime: RuntimeDep,
    message_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
    template_id: uuid.UUID | None = None,
) -> ClickStatsOut:
    stats = await service.click_stats(
        session=session,
        workspace_id=context.workspace_id,
        template_id=template_id,
        message_id=message_id,
        campaign_id=campaign_id,
    )
    return _stats_out(stats, runtime)


async def _follow(
    code: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> RedirectResponse:
    url = await service.follow_link(
        session=session,
        code=code,
        method=request.method,
        user_agent=request.headers.get("user-agent"),
        now=runtime.clock.now(),
    )
    return RedirectResponse(
        url, status_code=status.HTTP_302_FOUND, headers={"Cache-Control": "no-store"}
    )


@redirect_router.get(
    tracking.LINK_PATH + "{code}",
    status_code=status.HTTP_302_FOUND,
    summary="Follow a tracked link",
    response_class=RedirectResponse,
    responses={404: {"description": "No such link (nothing is redirected)."}},
)
async def follow_link(
    code: str, request: Request, session: SessionDep, runtime: RuntimeDep
) -> RedirectResponse:
    """302 to exactly the URL stored for the code; a click is counted unless it is
    WhatsApp's link-preview bot (HEAD is answered the same and never counted)."""
    return await _follow(code, request, session, runtime)


# A HEAD is a probe (link checkers, previews): answered like GET, not documented twice.
redirect_router.add_api_route(
    tracking.LINK_PATH + "{code}",
    _follow,
    methods=["HEAD"],
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    include_in_schema=False,
)
