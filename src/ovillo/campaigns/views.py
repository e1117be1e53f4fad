"""Pages of campaigns: the list with state and progress, the new-campaign form whose
audience count and estimate follow the filter as it is typed (htmx), and a campaign's page
with its live progress (htmx polling), pause/resume/cancel, funnel, hourly chart (inline
SVG drawn here, no script) and CSV export.

Anyone signed in may read; owners and admins create and steer campaigns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.campaigns import estimate as estimate_rules
from ovillo.campaigns import funnel as campaign_funnel
from ovillo.campaigns import service
from ovillo.campaigns.errors import CampaignStateError
from ovillo.campaigns.models import Campaign, CampaignState
from ovillo.campaigns.schemas import CampaignCreate, SendWindow
from ovillo.channels import service as channels_service
from ovillo.contacts import segments
from ovillo.core.deps import RuntimeDep, SessionDep
from ovillo.core.downloads import csv_download
from ovillo.core.errors import OvilloError
from ovillo.rules.templates import template_variables
from ovillo.templates import service as templates_service
from ovillo.templates.editor import category_names
from ovillo.templates.models import Template
from ovillo.web import csrf
from ovillo.web.i18n import Translator
from ovillo.web.pages import AdminDep, Viewer, ViewerDep, redirect, render

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)

FIELD_MAX: Final = 500
_ACTIONS: Final = ("launch", "pause", "resume", "cancel")


def state_names(t: Translator) -> dict[str, tuple[str, str]]:
    """A campaign's state -> (label, tone) for badges."""
    return {
        CampaignState.DRAFT: (t.gettext("Draft"), "muted"),
        CampaignState.SCHEDULED: (t.gettext("Scheduled"), "pending"),
        CampaignState.RUNNING: (t.gettext("Sending"), "pending"),
        CampaignState.PAUSED: (t.gettext("Paused"), "warning"),
        CampaignState.CANCELLED: (t.gettext("Cancelled"), "muted"),
        CampaignState.COMPLETED: (t.gettext("Completed"), "success"),
        CampaignState.STOPPED: (t.gettext("Stopped"), "danger"),
    }


def warning_texts(t: Translator) -> dict[str, str]:
    w = estimate_rules.EstimateWarning
    return {
        w.NO_RECIPIENTS: t.gettext("Nobody matches this audience."),
        w.LOW_QUALITY: t.gettext("The number's quality is low: Meta may limit it."),
        w.TEMPLATE_PAUSED: t.gettext("The template is paused by Meta."),
        w.TEMPLATE_NOT_APPROVED: t.gettext("The template is not approved."),
        w.ABOVE_TIER: t.gettext(
            "The audience is above the number's daily limit: it will take several days."
        ),
        w.SEND_WINDOW: t.gettext("The send window is too short for a day's sends."),
        w.TIER_UNKNOWN: t.gettext("The number's messaging limit is not known yet."),
    }


# --- The form ----------------------------------------------------------------------------


def _text(form: Any, key: str) -> str:
    value = form.get(key)
    return value.strip()[:FIELD_MAX] if isinstance(value, str) else ""


def _words(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class CampaignForm:
    """What the new-campaign form holds, as typed (shown again when refused)."""

    values: dict[str, str]
    variables: dict[str, str]

    def get(self, key: str) -> str:
        return self.values.get(key, "")

    def audience(self) -> dict[str, Any]:
        audience: dict[str, Any] = {}
        for key in ("tags_any", "tags_all", "tags_none", "countries"):
            if self.get(key):
                audience[key] = _words(self.get(key))
        if self.get("last_inbound_within_days"):
            audience["last_inbound_within_days"] = self.get("last_inbound_within_days")
        if self.get("attribute_key"):
            condition: dict[str, Any] = {
                "key": self.get("attribute_key"),
                "op": self.get("attribute_op") or "equals",
            }
            if self.get("attribute_value"):
                condition["value"] = self.get("attribute_value")
            audience["attributes"] = [condition]
        if self.get("marketing") in ("opted_in", "opted_out"):
            audience["marketing"] = self.get("marketing")
        return audience

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.get("name"),
            "number_id": self.get("number_id") or None,
            "template_id": self.get("template_id") or None,
            "variables": {k: v for k, v in self.variables.items() if v},
            "audience": self.audience(),
        }
        if self.get("start") == "at" and self.get("starts_at"):
            body["starts_at"] = self.get("starts_at")
        if self.get("window_start") and self.get("window_end"):
            body["send_window"] = {"start": self.get("window_start"), "end": self.get("window_end")}
        return body


async def read_form(request: Request) -> CampaignForm:
    form = await request.form()
    values = {key: _text(form, key) for key in form if key != "csrf_token"}
    variables = {
        key.removeprefix("var_"): value
        for key, value in values.items()
        if key.startswith("var_") and value
    }
    return CampaignForm(values=values, variables=variables)


def variables_of(template: Template | None) -> list[str]:
    """The template's variables, header first, each once."""
    if template is None:
        return []
    found: list[str] = []
    for component in template.components:
        for name in template_variables(component.get("text")):
            if name not in found:
                found.append(name)
    return found


async def _choices(
    session: AsyncSession, viewer: Viewer, form: CampaignForm
) -> tuple[list[Any], list[Template], Template | None]:
    workspace_id = viewer.me.workspace_id
    channels = await channels_service.list_channels(session=session, workspace_id=workspace_id)
    found, _ = await templates_service.list_templates(session=session, workspace_id=workspace_id)
    sendable = [t for t in found if t.status in templates_service.SENDABLE_STATUSES]
    chosen = next((t for t in sendable if str(t.id) == form.get("template_id")), None)
    return channels, sendable, chosen


def _violations(error: OvilloError) -> list[str]:
    found = error.extra.get("violations") or []
    return [str(v.get("message", "")) for v in found] or [error.detail or error.title]


async def _audience_context(
    session: AsyncSession, viewer: Viewer, form: CampaignForm, now: datetime
) -> dict[str, Any]:
    """The count (and, with a number and template, the estimate) of what the form says."""
    context: dict[str, Any] = {"count": None, "estimate": None, "problems": []}
    try:
        spec = segments.SegmentFilter.model_validate(form.audience())
    except ValidationError as error:
        context["problems"] = [problem["msg"] for problem in error.errors()]
        return context
    context["count"] = await segments.count_segment(
        session=session, workspace_id=viewer.me.workspace_id, spec=spec, now=now
    )
    if form.get("number_id") and form.get("template_id"):
        try:
            body = CampaignCreate.model_validate({**form.body(), "name": form.get("name") or "-"})
            context["estimate"] = await service.estimate_new_campaign(
                session=session, workspace_id=viewer.me.workspace_id, body=body, now=now
            )
        except ValidationError as error:
            context["problems"] = [problem["msg"] for problem in error.errors()]
        except OvilloError as error:
            context["problems"] = _violations(error)
    context["warnings"] = warning_texts(viewer.t)
    return context


async def _form_page(
    viewer: Viewer,
    session: AsyncSession,
    form: CampaignForm,
    now: datetime,
    *,
    errors: list[str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    channels, templates, chosen = await _choices(session, viewer, form)
    return render(
        viewer.page,
        "campaigns/new.html",
        {
            "form": form,
            "channels": channels,
            "templates": templates,
            "categories": category_names(viewer.t),
            "variables": variables_of(chosen),
            "errors": errors or [],
            "timezone": viewer.me.timezone,
            **await _audience_context(session, viewer, form, now),
        },
        status_code=status_code,
    )


@router.get("/campaigns/new")
async def new_campaign_page(
    viewer: AdminDep, session: SessionDep, runtime: RuntimeDep, request: Request
) -> HTMLResponse:
    values = {
        key: value[:FIELD_MAX] for key, value in request.query_params.items() if key != "csrf"
    }
    return await _form_page(
        viewer, session, CampaignForm(values=values, variables={}), runtime.clock.now()
    )


@router.post("/campaigns/new/estimate")
async def estimate_fragment(
    viewer: AdminDep, session: SessionDep, runtime: RuntimeDep, request: Request
) -> HTMLResponse:
    """The audience count and estimate, redrawn as the form changes (htmx)."""
    form = await read_form(request)
    return render(
        viewer.page,
        "campaigns/_estimate.html",
        await _audience_context(session, viewer, form, runtime.clock.now()),
    )


@router.post("/campaigns/new/variables")
async def variables_fragment(
    viewer: AdminDep, session: SessionDep, request: Request
) -> HTMLResponse:
    """The chosen template's variables, each with its value (htmx)."""
    form = await read_form(request)
    _, _, chosen = await _choices(session, viewer, form)
    return render(
        viewer.page, "campaigns/_variables.html", {"form": form, "variables": variables_of(chosen)}
    )


@router.post("/campaigns/new")
async def create_campaign(
    viewer: AdminDep, session: SessionDep, runtime: RuntimeDep, request: Request
) -> Response:
    form = await read_form(request)
    now = runtime.clock.now()
    try:
        body = CampaignCreate.model_validate(form.body())
    except ValidationError as error:
        messages = [
            f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}"
            for problem in error.errors()
        ]
        return await _form_page(viewer, session, form, now, errors=messages, status_code=422)
    try:
        campaign = await service.create_campaign(
            session=session, workspace_id=viewer.me.workspace_id, body=body, now=now
        )
    except OvilloError as error:
        await session.rollback()
        return await _form_page(
            viewer, session, form, now, errors=_violations(error), status_code=error.status
        )
    if form.get("launch"):
        await service.launch_campaign(
            session=session, workspace_id=viewer.me.workspace_id, campaign_id=campaign.id, now=now
        )
    return redirect(viewer.page, f"/campaigns/{campaign.id}")


# --- List and detail ---------------------------------------------------------------------


@router.get("/campaigns")
async def campaigns_page(viewer: ViewerDep, session: SessionDep) -> HTMLResponse:
    campaigns = await service.list_campaigns(session=session, workspace_id=viewer.me.workspace_id)
    counts = await service.campaign_counts(
        session=session, campaign_ids=[campaign.id for campaign in campaigns]
    )
    return render(
        viewer.page,
        "campaigns/list.html",
        {"campaigns": campaigns, "counts": counts, "states": state_names(viewer.t)},
    )


@dataclass(frozen=True, slots=True)
class Chart:
    """An hourly bar chart as SVG coordinates, drawn in the template."""

    width: int
    height: int
    bars: list[dict[str, Any]]
    peak: int
    # Hours named under their bars: at most about a dozen, whatever the campaign's length.
    labels: list[dict[str, Any]] = field(default_factory=list)


# Below the bars: room for the hours' names.
_LABEL_ROOM = 16
_MAX_LABELS = 12


def hourly_chart(hours: tuple[campaign_funnel.HourCounts, ...], *, height: int = 160) -> Chart:
    """Sent/delivered/read per hour as three bars an hour, scaled to the busiest (pure).

    In pixels, drawn at that size: the page scrolls a long campaign's chart sideways
    rather than stretching a short one's few bars across the page."""
    peak = max((max(h.sent, h.delivered, h.read) for h in hours), default=0)
    bar, gap = 14, 10
    group = 3 * bar + gap
    every = -(-len(hours) // _MAX_LABELS) or 1  # ceiling division
    bars: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for index, hour in enumerate(hours):
        left = index * group
        for offset, (kind, value) in enumerate(
            (("sent", hour.sent), ("delivered", hour.delivered), ("read", hour.read))
        ):
            tall = round(value * (height - _LABEL_ROOM - 4) / peak) if peak else 0
            bars.append(
                {
                    "kind": kind,
                    "x": left + offset * bar,
                    "y": height - _LABEL_ROOM - tall,
                    "width": bar - 1,
                    "height": tall,
                    "value": value,
                    "hour": hour.hour,
                }
            )
        if index % every == 0:
            labels.append({"x": left, "y": height - 3, "hour": hour.hour})
    # At least as wide as an hour's name ("10:00 PM"), which starts at its bars' left.
    width = max(len(hours) * group, 64)
    return Chart(width=width, height=height, bars=bars, peak=peak, labels=labels)


async def _detail_context(
    viewer: Viewer, session: AsyncSession, campaign_id: uuid.UUID
) -> dict[str, Any]:
    campaign = await service.get_campaign_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, campaign_id=campaign_id
    )
    funnel = await campaign_funnel.get_funnel(session=session, campaign=campaign)
    return {
        "campaign": campaign,
        "funnel": funnel,
        "chart": hourly_chart(funnel.hours),
        "states": state_names(viewer.t),
        "finished": campaign.state in service.FINISHED_STATES,
        "window": _window(campaign),
        "actions": _actions(campaign),
    }


def _window(campaign: Campaign) -> tuple[str, str] | None:
    start, end = campaign.window_start_minute, campaign.window_end_minute
    if start is None or end is None:
        return None
    return SendWindow.text(start), SendWindow.text(end)


def _actions(campaign: Campaign) -> list[str]:
    state = campaign.state
    if state == CampaignState.DRAFT:
        return ["launch", "cancel"]
    if state in (CampaignState.SCHEDULED, CampaignState.RUNNING):
        return ["pause", "cancel"]
    if state == CampaignState.PAUSED:
        return ["resume", "cancel"]
    return []


@router.get("/campaigns/{campaign_id:uuid}")
async def campaign_page(
    campaign_id: uuid.UUID, viewer: ViewerDep, session: SessionDep
) -> HTMLResponse:
    return render(
        viewer.page, "campaigns/detail.html", await _detail_context(viewer, session, campaign_id)
    )


@router.get("/campaigns/{campaign_id:uuid}/progress")
async def progress_fragment(
    campaign_id: uuid.UUID, viewer: ViewerDep, session: SessionDep
) -> HTMLResponse:
    """The live part of the campaign's page, polled while it sends (htmx)."""
    return render(
        viewer.page, "campaigns/_progress.html", await _detail_context(viewer, session, campaign_id)
    )


@router.post("/campaigns/{campaign_id:uuid}/{action}")
async def steer(
    campaign_id: uuid.UUID, action: str, viewer: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    if action not in _ACTIONS:
        return Response(status_code=404)
    use_case = {
        "launch": service.launch_campaign,
        "pause": service.pause_campaign,
        "resume": service.resume_campaign,
        "cancel": service.cancel_campaign,
    }[action]
    try:
        await use_case(
            session=session,
            workspace_id=viewer.me.workspace_id,
            campaign_id=campaign_id,
            now=runtime.clock.now(),
        )
    except CampaignStateError:
        await session.rollback()  # someone else moved it first: the page shows where it is
    return redirect(viewer.page, f"/campaigns/{campaign_id}")


@router.get("/campaigns/{campaign_id:uuid}/recipients.csv")
async def export_recipients(
    campaign_id: uuid.UUID, viewer: ViewerDep, session: SessionDep, runtime: RuntimeDep
) -> StreamingResponse:
    campaign = await service.get_campaign_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, campaign_id=campaign_id
    )
    await session.close()  # the stream reads each page in a short session of its own
    return csv_download(
        campaign_funnel.recipients_csv(sessionmaker=runtime.sessionmaker, campaign=campaign),
        filename=f"campaign-{campaign.id}.csv",
    )
