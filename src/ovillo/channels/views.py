"""Pages of the channels domain: Settings → Numbers and the guided number connection.

``/settings/numbers`` shows each number's figures as Meta last told them, each explained in
a sentence; anyone signed in may look, owners and admins refresh them from Meta. The
connection (``/settings/numbers/connect``) explains Meta's side step by step, checks each
field against the Graph API as it is typed (``/settings/numbers/connect/check``, htmx),
then connects, subscribes and registers the number (``channels.service.connect_and_onboard``)
and shows its checklist (``/settings/numbers/{id}``): what is done, what is missing, and the
webhook URL and verify token to paste into Meta's dashboard. Meta's refusals are put in
plain words here, in the page's language.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any, Final

from babel.numbers import format_decimal
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from ovillo.channels import service
from ovillo.channels.errors import (
    AccessTokenRefusedError,
    ChannelAlreadyConnectedError,
    GraphAPIUnreachableError,
    InvalidPinError,
    MetaRefusedError,
    PhoneNumberNotInWabaError,
)
from ovillo.channels.models import Channel
from ovillo.channels.schemas import GRAPH_ID_PATTERN
from ovillo.core.deps import RuntimeDep, SessionDep
from ovillo.core.errors import OvilloError
from ovillo.core.runtime import Runtime
from ovillo.rules import limits
from ovillo.web import csrf
from ovillo.web.i18n import Translator
from ovillo.web.pages import AdminDep, Viewer, ViewerDep, redirect, render

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)

FIELDS: Final = ("waba_id", "phone_number_id", "access_token", "app_secret", "pin")
_ID_MAX: Final = 64
_TOKEN_MAX: Final = 4096
_SECRET_MAX: Final = 512


# --- Meta's figures and refusals in plain words -----------------------------------------------


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure of a number as shown: its words and its tone (a CSS class)."""

    label: str
    tone: str


def quality_figure(t: Translator, rating: str | None) -> Figure:
    return {
        "GREEN": Figure(t.gettext("High"), "good"),
        "YELLOW": Figure(t.gettext("Medium"), "warn"),
        "RED": Figure(t.gettext("Low"), "bad"),
    }.get(rating or "", Figure(t.gettext("Not rated yet"), "neutral"))


def tier_words(t: Translator, tier: str | None) -> str:
    """The messaging limit as people count it: unique customers a day."""
    try:
        parsed = limits.Tier.from_meta(tier) if tier else None
    except limits.UnknownTier:
        return tier or ""
    if parsed is None:
        return t.gettext("Not set yet")
    if parsed.limit is None:
        return t.gettext("Unlimited customers a day")
    return t.ngettext(
        "%(num)s customer a day",
        "%(num)s customers a day",
        parsed.limit,
        num=format_decimal(parsed.limit, locale=t.locale),
    )


def name_status_words(t: Translator, status: str | None) -> Figure:
    return {
        "APPROVED": Figure(t.gettext("Approved"), "good"),
        "AVAILABLE_WITHOUT_REVIEW": Figure(t.gettext("Usable, review pending"), "warn"),
        "PENDING_REVIEW": Figure(t.gettext("In review"), "warn"),
        "DECLINED": Figure(t.gettext("Declined"), "bad"),
        "EXPIRED": Figure(t.gettext("Expired"), "bad"),
    }.get(status or "", Figure(t.gettext("Not submitted"), "neutral"))


def meta_words(t: Translator, error: OvilloError, *, field: str = "") -> str:
    """What Meta refused, and what to do about it, in the page's language."""
    if isinstance(error, GraphAPIUnreachableError):
        return t.gettext(
            "Meta's Graph API could not be reached from this server. Check its internet "
            "connection and try again."
        )
    if isinstance(error, InvalidPinError):
        return t.gettext("The two-step verification PIN is 6 digits.")
    if isinstance(error, PhoneNumberNotInWabaError):
        return t.gettext(
            "This phone number is not one of this WhatsApp Business Account's numbers. Copy "
            "both ids from the same page of WhatsApp Manager."
        )
    code = error.extra.get("meta_code")
    if isinstance(error, AccessTokenRefusedError) or code in (0, 190):
        return t.gettext(
            "Meta does not accept this access token (code %(code)s): it is wrong, expired or "
            "revoked. Create a system user token that does not expire and paste it whole.",
            code=code,
        )
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        return t.gettext(
            "The token lacks a permission (code %(code)s): give the system user "
            "whatsapp_business_messaging and whatsapp_business_management and assign it this "
            "WhatsApp account.",
            code=code,
        )
    if code == 100:
        if field == "waba_id":
            return t.gettext(
                "Meta knows no WhatsApp Business Account with this id that this token can see "
                "(code 100). Copy the WABA id from WhatsApp Manager."
            )
        return t.gettext(
            "Meta knows no phone number with this id that this token can see (code 100). Copy "
            "the phone number id (not the number itself) from the app's WhatsApp API Setup."
        )
    if code in (133005, 131031):
        return t.gettext(
            "The PIN does not match the number's two-step verification PIN (code %(code)s). "
            "Use the PIN it already has, or turn two-step verification off in WhatsApp "
            "Manager and choose a new one.",
            code=code,
        )
    if code == 133006:
        return t.gettext(
            "Meta has not verified that you own this number yet (code 133006). Verify it with "
            "the code Meta sends by SMS or voice call in WhatsApp Manager, then register again."
        )
    if code == 133016:
        return t.gettext(
            "Too many register attempts for this number (code 133016): Meta allows 10 in 72 "
            "hours. Try again later."
        )
    return t.gettext(
        "Meta refused it (code %(code)s): %(detail)s", code=code, detail=error.detail or ""
    )


# --- The checklist --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """A line of the checklist: done (True), missing (False) or unknown (None)."""

    key: str
    title: str
    done: bool | None
    detail: str


def webhook_url_of(runtime: Runtime, viewer: Viewer) -> str:
    """Where Meta must send webhooks: the configured public URL, else this request's host."""
    known = service.webhook_url(runtime)
    if known is not None:
        return known
    return str(viewer.page.request.base_url).rstrip("/") + service.WEBHOOK_PATH


def checklist(t: Translator, channel: Channel, *, webhook_url: str) -> list[Step]:
    """What is done and what is missing for the number to send and receive."""
    name = name_status_words(t, channel.name_status)
    return [
        Step("token", t.gettext("Access token and ids checked with Meta"), True,
             t.gettext("Ovillo read the number %(number)s with the token.",
                       number=channel.display_phone_number)),
        Step("verified", t.gettext("Number ownership verified"),
             None if channel.code_verification_status is None
             else channel.code_verification_status == "VERIFIED",
             t.gettext("Meta sends a code by SMS or voice call to prove the number is yours.")),
        Step("subscribed", t.gettext("App subscribed to the account's webhooks"),
             channel.webhooks_subscribed,
             t.gettext("Without it Meta sends no messages or statuses of this account to the "
                       "app.")),
        Step("registered", t.gettext("Number registered for the Cloud API"),
             None if channel.platform_type is None else channel.platform_type == "CLOUD_API",
             t.gettext("Registering with the two-step PIN lets the number send and receive.")),
        Step("callback", t.gettext("Webhook URL and verify token pasted in Meta's dashboard"),
             None if channel.callback_url is None and channel.synced_at is None
             else channel.callback_url == webhook_url,
             t.gettext("Meta sends the webhooks to %(url)s now.", url=channel.callback_url)
             if channel.callback_url and channel.callback_url != webhook_url
             else t.gettext("In the app: WhatsApp > Configuration > Webhook, then subscribe "
                            "to the messages field.")),
        Step("name", t.gettext("Display name approved"),
             None if channel.name_status is None
             else channel.name_status in ("APPROVED", "AVAILABLE_WITHOUT_REVIEW"),
             t.gettext("Meta reviews the name customers see: %(status)s.", status=name.label)),
    ]  # fmt: skip


# --- Settings → Numbers ------------------------------------------------------------------------


def _number_context(t: Translator, channel: Channel) -> dict[str, Any]:
    return {
        "channel": channel,
        "quality": quality_figure(t, channel.quality_rating),
        "tier": tier_words(t, channel.messaging_limit_tier),
        "mps": format_decimal(channel.throughput_mps, locale=t.locale),
        "name": name_status_words(t, channel.name_status),
    }


async def _numbers_page(
    viewer: Viewer,
    session: SessionDep,
    extra: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    channels = await service.list_channels(session=session, workspace_id=viewer.me.workspace_id)
    return render(
        viewer.page,
        "channels/numbers.html",
        {"numbers": [_number_context(viewer.t, c) for c in channels], **(extra or {})},
        status_code=status_code,
    )


@router.get("/settings/numbers")
async def numbers_page(viewer: ViewerDep, session: SessionDep) -> HTMLResponse:
    return await _numbers_page(viewer, session)


@router.post("/settings/numbers/{channel_id}/refresh")
async def refresh_number(
    channel_id: uuid.UUID,
    viewer: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    back: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        await service.sync_channel(
            session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
            channel_id=channel_id, now=runtime.clock.now(),
        )  # fmt: skip
    except (MetaRefusedError, GraphAPIUnreachableError) as error:
        await session.rollback()
        message = meta_words(viewer.t, error)
        return await _numbers_page(viewer, session, {"error": message}, 422)
    # From a number's checklist, back to it; from the list, back to the list.
    if back == "number":
        return redirect(viewer.page, f"/settings/numbers/{channel_id}")
    return redirect(viewer.page, "/settings/numbers")


# --- Connect a number ----------------------------------------------------------------------


def _form(**values: str) -> dict[str, str]:
    return {name: values.get(name, "").strip() for name in FIELDS}


async def _connect_form(
    waba_id: Annotated[str, Form(max_length=_ID_MAX)] = "",
    phone_number_id: Annotated[str, Form(max_length=_ID_MAX)] = "",
    access_token: Annotated[str, Form(max_length=_TOKEN_MAX)] = "",
    app_secret: Annotated[str, Form(max_length=_SECRET_MAX)] = "",
    pin: Annotated[str, Form(max_length=16)] = "",
) -> dict[str, str]:
    """The connection form's fields as typed, trimmed: both its check and its submit read it."""
    return _form(
        waba_id=waba_id, phone_number_id=phone_number_id, access_token=access_token,
        app_secret=app_secret, pin=pin,
    )  # fmt: skip


ConnectForm = Annotated[dict[str, str], Depends(_connect_form)]


def _connect_context(viewer: Viewer, runtime: Runtime, form: dict[str, str]) -> dict[str, Any]:
    return {"form": form, "webhook_url": webhook_url_of(runtime, viewer)}


@router.get("/settings/numbers/connect")
async def connect_page(viewer: AdminDep, runtime: RuntimeDep) -> HTMLResponse:
    return render(viewer.page, "channels/connect.html", _connect_context(viewer, runtime, _form()))


@dataclass(frozen=True, slots=True)
class FieldCheck:
    """A field's state as typed: ``ok`` True, False (``message`` says why) or None (not
    checked yet; ``message`` may say what it waits for)."""

    ok: bool | None
    message: str = ""


async def check_fields(
    t: Translator, runtime: Runtime, form: dict[str, str]
) -> dict[str, FieldCheck]:
    """Each field checked on its own and, once the ids and token are there, with Meta."""
    checks: dict[str, FieldCheck] = {name: FieldCheck(None) for name in FIELDS}
    pattern = GRAPH_ID_PATTERN.strip("^$")
    for name in ("waba_id", "phone_number_id"):
        value = form[name]
        if value and re.fullmatch(pattern, value) is None:
            checks[name] = FieldCheck(False, t.gettext("An id is made of digits only."))
    secret = form["app_secret"]
    if secret:
        checks["app_secret"] = (
            FieldCheck(True, t.gettext("Looks like an app secret."))
            if service.app_secret_well_formed(secret)
            else FieldCheck(
                False,
                t.gettext(
                    "An app secret is 32 letters and digits (0-9, a-f): App settings > Basic > "
                    "App secret > Show."
                ),
            )
        )
    pin = form["pin"]
    if pin:
        checks["pin"] = (
            FieldCheck(True)
            if service.PIN_PATTERN.match(pin)
            else FieldCheck(False, t.gettext("The two-step verification PIN is 6 digits."))
        )
    token, number_id, waba_id = form["access_token"], form["phone_number_id"], form["waba_id"]
    if not token or not number_id or checks["phone_number_id"].ok is False:
        if token:
            checks["access_token"] = FieldCheck(
                None, t.gettext("Write the phone number id to check the token with Meta.")
            )
        return checks
    waba = waba_id if waba_id and checks["waba_id"].ok is not False else None
    result = await service.inspect_number_details(
        runtime, access_token=token, phone_number_id=number_id, waba_id=waba
    )
    if result.number_error is not None:
        words = meta_words(t, result.number_error, field="phone_number_id")
        field = (
            "access_token"
            if isinstance(result.number_error, AccessTokenRefusedError)
            or result.number_error.extra.get("meta_code") == 10
            else "phone_number_id"
        )
        checks[field] = FieldCheck(False, words)
        return checks
    assert result.figures is not None
    checks["access_token"] = FieldCheck(True, t.gettext("Meta accepts the token."))
    checks["phone_number_id"] = FieldCheck(
        True,
        t.gettext(
            "%(number)s, %(name)s",
            number=result.figures.display_phone_number,
            name=result.figures.verified_name,
        ),
    )
    if result.waba_error is not None:
        checks["waba_id"] = FieldCheck(False, meta_words(t, result.waba_error, field="waba_id"))
    elif result.in_waba is False:
        checks["waba_id"] = FieldCheck(
            False,
            t.gettext(
                "The phone number is not one of this account's numbers. Copy both ids from the "
                "same page of WhatsApp Manager."
            ),
        )
    elif result.in_waba:
        checks["waba_id"] = FieldCheck(True, t.gettext("The number belongs to this account."))
    return checks


@router.post("/settings/numbers/connect/check")
async def check_connection(
    viewer: AdminDep, runtime: RuntimeDep, form: ConnectForm
) -> HTMLResponse:
    """Each field's check, out of band, as the admin types (htmx)."""
    checks = await check_fields(viewer.t, runtime, form)
    return render(viewer.page, "channels/_checks.html", {"checks": checks, "oob": True})


@router.post("/settings/numbers/connect")
async def connect(
    viewer: AdminDep, session: SessionDep, runtime: RuntimeDep, form: ConnectForm
) -> Response:
    t = viewer.t
    checks = await check_fields(t, runtime, form)
    for name in FIELDS:
        if not form[name]:
            checks[name] = FieldCheck(False, t.gettext("Fill this in."))
    if any(check.ok is False for check in checks.values()):
        error = t.gettext("Some details are not right yet: see each field.")
        context = {**_connect_context(viewer, runtime, form), "checks": checks, "error": error}
        return render(viewer.page, "channels/connect.html", context, status_code=422)
    try:
        onboarding = await service.connect_and_onboard(
            session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
            phone_number_id=form["phone_number_id"], waba_id=form["waba_id"],
            access_token=form["access_token"], app_secret=form["app_secret"],
            pin=form["pin"], now=runtime.clock.now(),
        )  # fmt: skip
    except ChannelAlreadyConnectedError:
        await session.rollback()
        error = t.gettext("This number is already connected to Ovillo.")
        context = {**_connect_context(viewer, runtime, form), "checks": checks, "error": error}
        return render(viewer.page, "channels/connect.html", context, status_code=409)
    except (MetaRefusedError, GraphAPIUnreachableError, InvalidPinError) as refusal:
        await session.rollback()
        error = meta_words(t, refusal)
        context = {**_connect_context(viewer, runtime, form), "checks": checks, "error": error}
        return render(viewer.page, "channels/connect.html", context, status_code=422)
    errors = {
        key: meta_words(t, value)
        for key, value in (
            ("subscribed", onboarding.subscribe_error),
            ("registered", onboarding.register_error),
        )
        if value is not None
    }
    return _number_page(viewer, runtime, onboarding.channel, errors=errors)


# --- A number's checklist -------------------------------------------------------------------


def _number_page(
    viewer: Viewer,
    runtime: Runtime,
    channel: Channel,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    url = webhook_url_of(runtime, viewer)
    return render(
        viewer.page,
        "channels/number.html",
        {
            **_number_context(viewer.t, channel),
            "steps": checklist(viewer.t, channel, webhook_url=url),
            "step_errors": errors or {},
            "webhook_url": url,
        },
        status_code=status_code,
    )


@router.get("/settings/numbers/{channel_id}")
async def number_page(
    channel_id: uuid.UUID, viewer: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> HTMLResponse:
    channel = await service.get_channel_or_raise(
        session=session, workspace_id=viewer.me.workspace_id, channel_id=channel_id
    )
    return _number_page(viewer, runtime, channel)


@router.post("/settings/numbers/{channel_id}/subscribe")
async def subscribe(
    channel_id: uuid.UUID, viewer: AdminDep, session: SessionDep, runtime: RuntimeDep
) -> Response:
    return await _step(
        viewer, session, runtime, channel_id, "subscribed",
        service.check_subscribe_channel(
            session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
            channel_id=channel_id, now=runtime.clock.now(),
        ),
    )  # fmt: skip


@router.post("/settings/numbers/{channel_id}/register")
async def register(
    channel_id: uuid.UUID,
    viewer: AdminDep,
    session: SessionDep,
    runtime: RuntimeDep,
    pin: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    return await _step(
        viewer, session, runtime, channel_id, "registered",
        service.check_register_channel(
            session=session, runtime=runtime, workspace_id=viewer.me.workspace_id,
            channel_id=channel_id, pin=pin.strip(), now=runtime.clock.now(),
        ),
    )  # fmt: skip


async def _step(
    viewer: Viewer,
    session: SessionDep,
    runtime: Runtime,
    channel_id: uuid.UUID,
    step: str,
    action: Awaitable[object],
) -> Response:
    """Back to the number's checklist once ``action`` (the checklist's ``step``) ran, or the
    checklist with Meta's refusal in plain words on that step."""
    try:
        await action
    except (MetaRefusedError, GraphAPIUnreachableError, InvalidPinError) as error:
        await session.rollback()
        channel = await service.get_channel_or_raise(
            session=session, workspace_id=viewer.me.workspace_id, channel_id=channel_id
        )
        errors = {step: meta_words(viewer.t, error)}
        return _number_page(viewer, runtime, channel, errors=errors, status_code=422)
    return redirect(viewer.page, f"/settings/numbers/{channel_id}")
