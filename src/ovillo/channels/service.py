"""Use cases of the channels domain: connecting WhatsApp numbers and keeping their figures.

Connecting a number reads it from the Graph API with the token given *before* anything is
stored, so a wrong token, id or WABA is refused with Meta's own reason and leaves nothing
behind. The access token and the app secret are stored encrypted (``runtime.secrets``);
disconnecting forgets the token and keeps the app secret, because webhooks already in flight
still have to be verified.

Onboarding from the numbers pages (``channels.views``): ``inspect_number_details`` reads
what was typed so far, field by field, without storing anything; ``connect_and_onboard``
connects the number, subscribes the app to its WABA's webhooks and registers it with its
two-step PIN, keeping the number even when one of the last two steps is refused (the
checklist then says which, and ``check_subscribe_channel`` / ``check_register_channel``
try again).

Every Graph API client of a process shares one aiohttp session (and its connection pool),
kept on the ``Runtime`` and closed with it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, TypeVar

import aiohttp
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels.errors import (
    AccessTokenRefusedError,
    ChannelAlreadyConnectedError,
    ChannelDisconnectedError,
    ChannelNotFoundError,
    GraphAPIUnreachableError,
    InvalidPinError,
    MetaRefusedError,
    PhoneNumberNotInWabaError,
)
from ovillo.channels.models import Channel
from ovillo.cloudapi import client as cloudapi_client
from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import AuthenticationError, CloudAPIError, CloudAPITransportError
from ovillo.cloudapi.phone_numbers import PhoneNumber
from ovillo.cloudapi.webhooks import PhoneNumberQualityUpdateValue
from ovillo.core import ids
from ovillo.core.runtime import Runtime
from ovillo.rules import phone, throughput

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

WEBHOOK_PATH: Final = "/webhooks/whatsapp"
# How many of a WABA's numbers one page asks for when checking a number belongs to it.
_WABA_PAGE_SIZE: Final = 100
_WABA_MAX_PAGES: Final = 50
# A Meta app secret (App settings > Basic) is 32 lowercase hexadecimal characters.
APP_SECRET_PATTERN: Final = re.compile(r"^[0-9a-f]{32}$")
# The two-step verification PIN that registering a number sets or must match.
PIN_PATTERN: Final = re.compile(r"^[0-9]{6}$")


# --- Pure helpers ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberFigures:
    """What Meta tells about a number that the platform keeps on its channel."""

    display_phone_number: str
    verified_name: str
    quality_rating: str | None
    messaging_limit_tier: str | None
    throughput_mps: int
    status: str | None
    country: str | None
    name_status: str | None = None
    code_verification_status: str | None = None
    platform_type: str | None = None
    callback_url: str | None = None

    @property
    def registered(self) -> bool:
        """Registered for the Cloud API (Meta's ``platform_type`` turns CLOUD_API)."""
        return self.platform_type == "CLOUD_API"


def app_secret_well_formed(secret: str) -> bool:
    """Whether ``secret`` looks like a Meta app secret (32 hexadecimal characters)."""
    return APP_SECRET_PATTERN.match(secret.strip().lower()) is not None


def throughput_mps_for(level: str | None) -> int:
    """Messages per second for Meta's ``throughput.level``; unknown levels get the standard."""
    try:
        return int(throughput.messages_per_second(level or throughput.ThroughputLevel.STANDARD))
    except ValueError:
        return int(throughput.STANDARD_MPS)


def figures_from_phone_number(number: PhoneNumber) -> NumberFigures:
    """The figures of a ``GET /{phone-number-id}`` answer.

    Since October 2025 the messaging limit belongs to the business portfolio
    (``whatsapp_business_manager_messaging_limit``); the per-number ``messaging_limit_tier``
    is deprecated and only used when the portfolio's is absent.
    """
    display = number.display_phone_number or ""
    limit = number.whatsapp_business_manager_messaging_limit or number.messaging_limit_tier
    return NumberFigures(
        display_phone_number=display,
        verified_name=number.verified_name or "",
        quality_rating=str(number.quality_rating) if number.quality_rating else None,
        messaging_limit_tier=str(limit) if limit else None,
        throughput_mps=throughput_mps_for(
            str(number.throughput.level) if number.throughput else None
        ),
        status=str(number.status) if number.status else None,
        country=phone.country_of(display) if display else None,
        name_status=str(number.name_status) if number.name_status else None,
        code_verification_status=(
            str(number.code_verification_status) if number.code_verification_status else None
        ),
        platform_type=str(number.platform_type) if number.platform_type else None,
        callback_url=_callback_url(number),
    )


def _callback_url(number: PhoneNumber) -> str | None:
    """Where Meta sends the number's webhooks: the most specific override, else the app's."""
    configuration = number.webhook_configuration
    if configuration is None:
        return None
    return (
        configuration.phone_number
        or configuration.whatsapp_business_account
        or configuration.application
        or None
    )


@dataclass(frozen=True, slots=True)
class QualityChange:
    """What a ``phone_number_quality_update`` changes on a channel (None: unchanged)."""

    quality_rating: str | None = None
    status: str | None = None
    messaging_limit_tier: str | None = None
    throughput_mps: int | None = None


def quality_change(value: PhoneNumberQualityUpdateValue) -> QualityChange:
    """The change a ``phone_number_quality_update`` webhook brings.

    FLAGGED: the quality turned low (RED) and the number is flagged; UNFLAGGED: it left RED,
    to a rating the event does not say, so YELLOW (the lowest it can be) until the next sync
    reads the real one. UPGRADE, DOWNGRADE and ONBOARDING carry the new ``current_limit``;
    THROUGHPUT_UPGRADE moves the number to 1,000 messages per second.
    """
    event = value.event.upper()
    limit = _reported_limit(value)
    if event == "FLAGGED":
        return QualityChange(quality_rating="RED", status="FLAGGED", messaging_limit_tier=limit)
    if event == "UNFLAGGED":
        return QualityChange(
            quality_rating="YELLOW", status="CONNECTED", messaging_limit_tier=limit
        )
    if event == "THROUGHPUT_UPGRADE":
        return QualityChange(throughput_mps=int(throughput.HIGH_MPS), messaging_limit_tier=limit)
    return QualityChange(messaging_limit_tier=limit)


_TIERS_BY_COUNT: Final = {
    250: "TIER_250",
    1_000: "TIER_1K",
    2_000: "TIER_2K",
    10_000: "TIER_10K",
    100_000: "TIER_100K",
}


def _reported_limit(value: PhoneNumberQualityUpdateValue) -> str | None:
    """The messaging limit a quality webhook reports, portfolio-wide when it says so.

    Meta replaces ``current_limit`` (per number, removed in February 2026) with
    ``max_daily_conversations_per_business`` (the portfolio's limit); either may come as a
    tier name or, for the latter, a count.
    """
    portfolio = value.max_daily_conversations_per_business
    if isinstance(portfolio, int) or (isinstance(portfolio, str) and portfolio.isdigit()):
        tier = _TIERS_BY_COUNT.get(int(portfolio))
        if tier is not None:
            return tier
    elif portfolio:
        return portfolio
    return value.current_limit or None


def webhook_url(runtime: Runtime) -> str | None:
    """The callback URL to give Meta, when this server knows where it is reached."""
    if not runtime.public_url:
        return None
    return runtime.public_url.rstrip("/") + WEBHOOK_PATH


# --- Graph API clients -------------------------------------------------------------------


def graph_http_session(runtime: Runtime) -> aiohttp.ClientSession:
    """The runtime's one aiohttp session for Graph API calls, opened on first use.

    Must be called inside the runtime's event loop (aiohttp binds a session to it).
    """
    session = runtime.graph_http_session
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(
            limit=cloudapi_client.DEFAULT_MAX_CONNECTIONS, limit_per_host=0, ttl_dns_cache=300
        )
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=cloudapi_client.DEFAULT_TIMEOUT_SECONDS,
                sock_connect=cloudapi_client.DEFAULT_CONNECT_TIMEOUT_SECONDS,
            ),
        )
        runtime.graph_http_session = session
    return session


def _client(runtime: Runtime, *, access_token: str, base_url: str, version: str) -> CloudAPIClient:
    return CloudAPIClient(
        access_token=access_token,
        base_url=base_url,
        api_version=version,
        session=graph_http_session(runtime),
    )


def decrypt_access_token(runtime: Runtime, channel: Channel) -> str:
    """The channel's access token in plaintext; raises ``ChannelDisconnectedError`` once the
    number was disconnected (its token is forgotten then)."""
    if channel.disconnected_at is not None or not channel.access_token_encrypted:
        raise ChannelDisconnectedError(
            f"number {channel.display_phone_number} was disconnected; connect it again to use it",
            channel_id=str(channel.id),
        )
    return runtime.secrets.decrypt(channel.access_token_encrypted)


def decrypt_app_secret(runtime: Runtime, channel: Channel) -> str:
    """The Meta app secret that signs this number's webhooks, in plaintext."""
    return runtime.secrets.decrypt(channel.app_secret_encrypted)


def cloud_api_client(runtime: Runtime, channel: Channel) -> CloudAPIClient:
    """A Cloud API client for the channel, on the runtime's shared aiohttp session.

    Cheap to make per use; do not close it (the shared session is closed with the runtime).
    Raises ``ChannelDisconnectedError`` for a disconnected number.
    """
    return _client(
        runtime,
        access_token=decrypt_access_token(runtime, channel),
        base_url=channel.graph_api_url,
        version=channel.graph_api_version,
    )


def _meta_refusal(error: CloudAPIError, *, what: str) -> MetaRefusedError:
    """The refusal to raise for Meta's ``error``; ``what`` completes "Meta refused to ..."."""
    reason = error.details or (error.error.message if error.error else None) or error.title
    trace = error.fbtrace_id
    if isinstance(error, AuthenticationError):
        return AccessTokenRefusedError(
            f"the access token was refused by Meta (code {error.code}): {reason}. Create a "
            "system-user token with the whatsapp_business_messaging and "
            "whatsapp_business_management permissions.",
            meta_code=error.code,
            fbtrace_id=trace,
        )
    refusal = MetaRefusedError(
        f"Meta refused to {what} (code {error.code}): {reason}",
        meta_code=error.code,
        fbtrace_id=trace,
    )
    refusal.__cause__ = error
    return refusal


def _unreachable(error: CloudAPITransportError, base_url: str) -> GraphAPIUnreachableError:
    unreachable = GraphAPIUnreachableError(
        f"{base_url} could not be reached: {error.reason}", graph_api_url=base_url
    )
    unreachable.__cause__ = error
    return unreachable


async def _ask_meta(call: Awaitable[_T], *, what: str, base_url: str) -> _T:
    """Await a Graph API ``call``: Meta's refusal raises ``MetaRefusedError`` saying we tried
    to ``what``, no answer from ``base_url`` raises ``GraphAPIUnreachableError``."""
    try:
        return await call
    except CloudAPIError as error:
        raise _meta_refusal(error, what=what) from error
    except CloudAPITransportError as error:
        raise _unreachable(error, base_url) from error


@dataclass(frozen=True, slots=True)
class DetailsCheck:
    """What Meta answered to the details typed so far (None: not checked).

    ``figures``: the token read the number (so both are right); ``number_error``: why not
    (``AccessTokenRefusedError`` for the token, a ``MetaRefusedError`` with code 100 for an
    id Meta does not know or the token cannot see). ``in_waba``: the number is one of the
    WABA's; ``waba_error``: the WABA could not be read.
    """

    figures: NumberFigures | None = None
    number_error: MetaRefusedError | GraphAPIUnreachableError | None = None
    in_waba: bool | None = None
    waba_error: MetaRefusedError | GraphAPIUnreachableError | None = None


async def inspect_number_details(
    runtime: Runtime,
    *,
    access_token: str,
    phone_number_id: str,
    waba_id: str | None,
    graph_api_url: str | None = None,
    graph_api_version: str | None = None,
) -> DetailsCheck:
    """Read the number with the token, and the WABA's numbers when ``waba_id`` is given,
    without storing anything. Meta's refusals are returned, not raised."""
    base_url = (graph_api_url or runtime.graph_api_url).rstrip("/")
    version = graph_api_version or runtime.settings.graph_api_version
    client = _client(runtime, access_token=access_token, base_url=base_url, version=version)
    try:
        number = await client.get_phone_number(phone_number_id)
    except CloudAPIError as error:
        return DetailsCheck(
            number_error=_meta_refusal(error, what=f"read phone number {phone_number_id}")
        )
    except CloudAPITransportError as error:
        return DetailsCheck(number_error=_unreachable(error, base_url))
    figures = figures_from_phone_number(number)
    if waba_id is None:
        return DetailsCheck(figures=figures)
    try:
        found = await _waba_has_number(client, waba_id=waba_id, phone_number_id=number.id)
    except CloudAPIError as error:
        refusal = _meta_refusal(error, what=f"read WhatsApp Business Account {waba_id}")
        return DetailsCheck(figures=figures, waba_error=refusal)
    except CloudAPITransportError as error:
        return DetailsCheck(figures=figures, waba_error=_unreachable(error, base_url))
    return DetailsCheck(figures=figures, in_waba=found)


async def _read_number(
    runtime: Runtime,
    *,
    access_token: str,
    base_url: str,
    version: str,
    phone_number_id: str,
    waba_id: str | None,
) -> NumberFigures:
    """Read the number from the Graph API (and check it is in ``waba_id`` when given)."""
    check = await inspect_number_details(
        runtime,
        access_token=access_token,
        phone_number_id=phone_number_id,
        waba_id=waba_id,
        graph_api_url=base_url,
        graph_api_version=version,
    )
    for error in (check.number_error, check.waba_error):
        if error is not None:
            raise error
    if check.in_waba is False:
        raise PhoneNumberNotInWabaError(
            f"phone number {phone_number_id} is not one of the numbers of WhatsApp Business "
            f"Account {waba_id}",
            phone_number_id=phone_number_id,
            waba_id=waba_id,
        )
    assert check.figures is not None
    return check.figures


async def _waba_has_number(client: CloudAPIClient, *, waba_id: str, phone_number_id: str) -> bool:
    after: str | None = None
    for _ in range(_WABA_MAX_PAGES):
        params = {"fields": "id", "limit": str(_WABA_PAGE_SIZE)}
        if after:
            params["after"] = after
        page: Any = await client.call("GET", f"{waba_id}/phone_numbers", params=params)
        data = page.get("data", []) if isinstance(page, dict) else []
        if any(isinstance(item, dict) and item.get("id") == phone_number_id for item in data):
            return True
        paging = page.get("paging") if isinstance(page, dict) else None
        cursors = paging.get("cursors") if isinstance(paging, dict) else None
        after = cursors.get("after") if isinstance(cursors, dict) else None
        if not (isinstance(paging, dict) and paging.get("next") and after):
            return False
    return False


def _apply_figures(channel: Channel, figures: NumberFigures, *, now: datetime) -> None:
    channel.display_phone_number = figures.display_phone_number
    channel.verified_name = figures.verified_name
    channel.quality_rating = figures.quality_rating
    channel.messaging_limit_tier = figures.messaging_limit_tier
    channel.throughput_mps = figures.throughput_mps
    channel.status = figures.status
    channel.country = figures.country
    channel.name_status = figures.name_status
    channel.code_verification_status = figures.code_verification_status
    channel.platform_type = figures.platform_type
    channel.callback_url = figures.callback_url
    channel.synced_at = now
    channel.updated_at = now


# --- Use cases ---------------------------------------------------------------------------


async def do_repoint_channel(
    *, session: AsyncSession, channel: Channel, phone_number_id: str, now: datetime
) -> Channel:
    """Point the channel's row at another phone number id, disconnected until
    ``connect_channel`` connects it again (which reuses a disconnected row of the same
    workspace): its contacts and conversations stay with it. For the demo, whose emulator
    forgot its number. Does not commit."""
    channel.phone_number_id = phone_number_id
    channel.disconnected_at = channel.disconnected_at or now
    await session.flush()
    return channel


async def connect_channel(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    phone_number_id: str,
    waba_id: str,
    access_token: str,
    app_secret: str,
    graph_api_url: str | None = None,
    graph_api_version: str | None = None,
    now: datetime,
) -> Channel:
    """Connect a number to the workspace after checking the token against the Graph API.

    Reconnecting a number the workspace disconnected reuses its row (and its history). A
    number connected anywhere else, or still connected here, is a conflict.
    """
    existing = await get_channel_by_phone_number_id(
        session=session, phone_number_id=phone_number_id
    )
    if existing is not None and (
        existing.workspace_id != workspace_id or existing.disconnected_at is None
    ):
        raise ChannelAlreadyConnectedError(
            f"phone number {phone_number_id} is already connected",
            phone_number_id=phone_number_id,
        )
    base_url = (graph_api_url or runtime.graph_api_url).rstrip("/")
    version = graph_api_version or runtime.settings.graph_api_version
    figures = await _read_number(
        runtime,
        access_token=access_token,
        base_url=base_url,
        version=version,
        phone_number_id=phone_number_id,
        waba_id=waba_id,
    )
    channel = existing or Channel(
        id=ids.new_id(now), workspace_id=workspace_id, phone_number_id=phone_number_id,
        created_at=now,
    )  # fmt: skip
    channel.waba_id = waba_id
    channel.access_token_encrypted = runtime.secrets.encrypt(access_token)
    channel.app_secret_encrypted = runtime.secrets.encrypt(app_secret)
    channel.webhook_verify_token = ids.new_token(24)
    channel.graph_api_url = base_url
    channel.graph_api_version = version
    channel.disconnected_at = None
    _apply_figures(channel, figures, now=now)
    session.add(channel)
    try:
        await session.commit()
    except IntegrityError as error:
        # Another request connected the same number between our check and our insert.
        await session.rollback()
        raise ChannelAlreadyConnectedError(
            f"phone number {phone_number_id} is already connected",
            phone_number_id=phone_number_id,
        ) from error
    log.info(
        "channel_connected",
        workspace_id=str(workspace_id),
        channel_id=str(channel.id),
        phone_number_id=phone_number_id,
        reconnected=existing is not None,
    )
    return channel


async def get_channel(
    *, session: AsyncSession, workspace_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel | None:
    return await session.scalar(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.id == channel_id)
    )


async def get_channel_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, channel_id: uuid.UUID
) -> Channel:
    channel = await get_channel(session=session, workspace_id=workspace_id, channel_id=channel_id)
    if channel is None:
        raise ChannelNotFoundError(f"number {channel_id} does not exist in this workspace")
    return channel


async def get_connected_channel_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, channel_id: uuid.UUID, again: str
) -> Channel:
    """The workspace's number, still connected: a disconnected one raises
    ``ChannelDisconnectedError`` saying "connect it again" and then ``again`` (how, what for)."""
    channel = await get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    if channel.disconnected_at is not None:
        raise ChannelDisconnectedError(
            f"number {channel.display_phone_number} is disconnected; connect it again {again}",
            channel_id=str(channel.id),
        )
    return channel


async def list_channels(
    *, session: AsyncSession, workspace_id: uuid.UUID, include_disconnected: bool = False
) -> list[Channel]:
    query = select(Channel).where(Channel.workspace_id == workspace_id)
    if not include_disconnected:
        query = query.where(Channel.disconnected_at.is_(None))
    result = await session.scalars(query.order_by(Channel.created_at, Channel.id))
    return list(result)


async def list_all_connected_channels(*, session: AsyncSession) -> list[Channel]:
    """Every connected channel of every workspace, oldest first (periodic chores)."""
    result = await session.scalars(
        select(Channel).where(Channel.disconnected_at.is_(None)).order_by(Channel.created_at)
    )
    return list(result)


async def get_channel_by_phone_number_id(
    *, session: AsyncSession, phone_number_id: str
) -> Channel | None:
    """The channel of a Meta phone number id, connected or not, in whichever workspace.

    Not scoped by workspace: the webhook receiver learns the workspace from it.
    """
    return await session.scalar(select(Channel).where(Channel.phone_number_id == phone_number_id))


async def get_channels_by_waba_id(*, session: AsyncSession, waba_id: str) -> list[Channel]:
    """Every channel of a WABA, connected or not, in whichever workspace (webhooks)."""
    result = await session.scalars(
        select(Channel).where(Channel.waba_id == waba_id).order_by(Channel.created_at)
    )
    return list(result)


async def _refresh(runtime: Runtime, channel: Channel, *, now: datetime) -> None:
    """Read the number's fields and its WABA's subscribed apps onto ``channel``."""
    figures = await _read_number(
        runtime,
        access_token=decrypt_access_token(runtime, channel),
        base_url=channel.graph_api_url,
        version=channel.graph_api_version,
        phone_number_id=channel.phone_number_id,
        waba_id=None,
    )
    apps = await _ask_meta(
        cloud_api_client(runtime, channel).list_subscribed_apps(channel.waba_id),
        what=f"read the apps of WABA {channel.waba_id}",
        base_url=channel.graph_api_url,
    )
    _apply_figures(channel, figures, now=now)
    # Meta lists every app subscribed to the WABA; a system user's token cannot tell ours
    # apart without the app's own token, so any subscribed app counts.
    channel.webhooks_subscribed = bool(apps.data)


async def sync_channel(
    *, session: AsyncSession, runtime: Runtime, workspace_id: uuid.UUID, channel_id: uuid.UUID,
    now: datetime,
) -> Channel:  # fmt: skip
    """Read the number's figures (name, quality, limit, throughput, status, registration)
    and its WABA's webhook subscription from Meta again."""
    channel = await get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    await _refresh(runtime, channel, now=now)
    await session.commit()
    log.info(
        "channel_synced",
        workspace_id=str(workspace_id),
        channel_id=str(channel.id),
        quality_rating=channel.quality_rating,
        messaging_limit_tier=channel.messaging_limit_tier,
    )
    return channel


async def check_subscribe_channel(
    *, session: AsyncSession, runtime: Runtime, workspace_id: uuid.UUID, channel_id: uuid.UUID,
    now: datetime,
) -> Channel:  # fmt: skip
    """Subscribe the app to the number's WABA webhooks (``POST /{waba-id}/subscribed_apps``),
    then read the number again. Raises ``MetaRefusedError`` with Meta's code if refused."""
    channel = await get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    await _ask_meta(
        cloud_api_client(runtime, channel).subscribe_app(channel.waba_id),
        what=f"subscribe the app to WABA {channel.waba_id}'s webhooks",
        base_url=channel.graph_api_url,
    )
    await _refresh(runtime, channel, now=now)
    await session.commit()
    log.info("channel_webhooks_subscribed", workspace_id=str(workspace_id),
             channel_id=str(channel.id), waba_id=channel.waba_id)  # fmt: skip
    return channel


def _check_pin(pin: str) -> None:
    if PIN_PATTERN.match(pin) is None:
        raise InvalidPinError("the two-step verification PIN is 6 digits")


async def check_register_channel(
    *, session: AsyncSession, runtime: Runtime, workspace_id: uuid.UUID, channel_id: uuid.UUID,
    pin: str, now: datetime,
) -> Channel:  # fmt: skip
    """Register the number for the Cloud API with its two-step PIN (``POST
    /{phone-number-id}/register``; sets the PIN if it has none, else must match it), then
    read it again. Raises ``InvalidPinError`` or ``MetaRefusedError`` with Meta's code."""
    _check_pin(pin)
    channel = await get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    await _ask_meta(
        cloud_api_client(runtime, channel).register(channel.phone_number_id, pin),
        what=f"register phone number {channel.phone_number_id}",
        base_url=channel.graph_api_url,
    )
    await _refresh(runtime, channel, now=now)
    await session.commit()
    log.info("channel_registered", workspace_id=str(workspace_id), channel_id=str(channel.id))
    return channel


@dataclass(frozen=True, slots=True)
class Onboarding:
    """A connected number and the steps Meta refused (None: the step went through)."""

    channel: Channel
    subscribe_error: MetaRefusedError | GraphAPIUnreachableError | None
    register_error: MetaRefusedError | GraphAPIUnreachableError | None


async def connect_and_onboard(
    *,
    session: AsyncSession,
    runtime: Runtime,
    workspace_id: uuid.UUID,
    phone_number_id: str,
    waba_id: str,
    access_token: str,
    app_secret: str,
    pin: str,
    now: datetime,
) -> Onboarding:
    """Connect the number (``connect_channel``), subscribe the app to its WABA's webhooks
    and register it with ``pin``.

    A wrong PIN, id, token or WABA raises and stores nothing. Once connected the number is
    kept: a refused subscription or registration is returned for the checklist to show, and
    is tried again with ``check_subscribe_channel`` / ``check_register_channel``.
    """
    _check_pin(pin)
    channel = await connect_channel(
        session=session, runtime=runtime, workspace_id=workspace_id,
        phone_number_id=phone_number_id, waba_id=waba_id, access_token=access_token,
        app_secret=app_secret, now=now,
    )  # fmt: skip
    subscribe_error: MetaRefusedError | GraphAPIUnreachableError | None = None
    register_error: MetaRefusedError | GraphAPIUnreachableError | None = None
    try:
        channel = await check_subscribe_channel(
            session=session, runtime=runtime, workspace_id=workspace_id,
            channel_id=channel.id, now=now,
        )  # fmt: skip
    except (MetaRefusedError, GraphAPIUnreachableError) as error:
        subscribe_error = error
    try:
        channel = await check_register_channel(
            session=session, runtime=runtime, workspace_id=workspace_id,
            channel_id=channel.id, pin=pin, now=now,
        )  # fmt: skip
    except (MetaRefusedError, GraphAPIUnreachableError) as error:
        register_error = error
    return Onboarding(channel, subscribe_error, register_error)


async def disconnect_channel(
    *, session: AsyncSession, workspace_id: uuid.UUID, channel_id: uuid.UUID, now: datetime
) -> Channel:
    """Stop using the number: its token is forgotten, its conversations are kept."""
    channel = await get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    if channel.disconnected_at is None:
        channel.disconnected_at = now
        channel.access_token_encrypted = ""
        channel.updated_at = now
        await session.commit()
        log.info("channel_disconnected", workspace_id=str(workspace_id), channel_id=str(channel.id))
    return channel


async def do_apply_quality_update(
    *,
    session: AsyncSession,
    channel: Channel,
    value: PhoneNumberQualityUpdateValue,
    now: datetime,
) -> Channel:
    """Apply a ``phone_number_quality_update`` webhook to the channel (see
    ``quality_change``). Does not commit: the caller applies the webhook in its transaction."""
    change = quality_change(value)
    if change.quality_rating is not None:
        channel.quality_rating = change.quality_rating
    if change.status is not None:
        channel.status = change.status
    if change.messaging_limit_tier is not None:
        channel.messaging_limit_tier = change.messaging_limit_tier
    if change.throughput_mps is not None:
        channel.throughput_mps = change.throughput_mps
    channel.updated_at = now
    await session.flush()
    log.info(
        "channel_quality_updated",
        workspace_id=str(channel.workspace_id),
        channel_id=str(channel.id),
        quality_event=value.event,
        quality_rating=channel.quality_rating,
        messaging_limit_tier=channel.messaging_limit_tier,
    )
    return channel


async def set_round_robin_team(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    channel_id: uuid.UUID,
    team_id: uuid.UUID | None,
    now: datetime,
) -> Channel:
    """Round robin for the number's new conversations among ``team_id``'s online members,
    or off (None). The team must be of the workspace (404 ``team_not_found``)."""
    from ovillo.accounts import teams as teams_service

    channel = await get_channel_or_raise(
        session=session, workspace_id=workspace_id, channel_id=channel_id
    )
    if team_id is not None:
        await teams_service.get_team_or_raise(
            session=session, workspace_id=workspace_id, team_id=team_id
        )
    if channel.round_robin_team_id != team_id:
        channel.round_robin_team_id = team_id
        channel.updated_at = now
        await session.commit()
        log.info(
            "channel_round_robin_set",
            channel_id=str(channel.id),
            team_id=str(team_id) if team_id is not None else None,
        )
    return channel
