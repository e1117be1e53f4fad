"""Phone numbers, WABAs and onboarding, as the Graph API shows and changes them.

Graph handlers:

    GET    /{phone-number-id}                       fields of the number (``?fields=``)
    POST   /{phone-number-id}                       change the two-step PIN, or set the
                                                    number's callback override
    POST   /{phone-number-id}/register              register for Cloud API with the PIN
    POST   /{phone-number-id}/deregister
    POST   /{phone-number-id}/request_code          ownership code by SMS or voice
    POST   /{phone-number-id}/verify_code
    GET    /{phone-number-id}/whatsapp_business_profile
    POST   /{phone-number-id}/whatsapp_business_profile
    GET    /{waba-id}                               the WABA's fields
    GET    /{waba-id}/phone_numbers                 cursor-paged list
    GET    /{waba-id}/subscribed_apps
    POST   /{waba-id}/subscribed_apps               subscribe (optionally override callback)
    DELETE /{waba-id}/subscribed_apps               unsubscribe: no more webhooks
    GET    /{business-id}

``ensure_can_send`` is the gate the send handler calls: a number that is not registered,
is banned or restricted, or whose display name was not approved is refused with Meta's
code. The control router adds ``GET /_emulator/phone_numbers`` and
``PATCH /_emulator/phone_numbers/{id}`` for tests and demos.

Meta's rules kept here (registration page, Meta for Developers, 2026): at most 10
register requests per number in a moving 72-hour window; the 11th answers 133016 and
locks registration for the next 72 hours. Deregister shares the counter (133016 is
"register deregister rate limit"; unverified that Meta counts them together).
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

import phonenumbers
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ovillo.cloudapi.errors import spec_for
from ovillo.cloudapi.phone_numbers import (
    BUSINESS_ABOUT_MAX_CHARS,
    BUSINESS_ADDRESS_MAX_CHARS,
    BUSINESS_DESCRIPTION_MAX_CHARS,
    BUSINESS_EMAIL_MAX_CHARS,
    BUSINESS_WEBSITE_MAX_CHARS,
    BUSINESS_WEBSITES_MAX,
    BusinessVertical,
)
from ovillo.emulator.errors import GraphAPIError, invalid_parameter
from ovillo.emulator.graph import GraphRequest, graph_route
from ovillo.emulator.state import Business, PhoneNumber, Waba

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator
    from ovillo.emulator.state import EmulatorState

REGISTER_WINDOW = timedelta(hours=72)
REGISTER_MAX_REQUESTS = 10
REGISTER_LOCKOUT = timedelta(hours=72)
PIN_PATTERN = re.compile(r"^[0-9]{6}$")
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
APP_NAME = "Ovillo"

# What Meta answers to `GET /{phone-number-id}` without `fields` (as recorded in pywa's
# docstrings of a live answer; Meta's reference shows a subset).
DEFAULT_PHONE_NUMBER_FIELDS: tuple[str, ...] = (
    "verified_name",
    "code_verification_status",
    "display_phone_number",
    "quality_rating",
    "platform_type",
    "throughput",
    "id",
)
# Every field of Meta's WhatsAppBusinessPhoneNumber node a client may ask for; fields the
# emulator has no value for are left out of the answer, as Graph leaves out empty fields.
PHONE_NUMBER_NODE_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "display_phone_number",
        "verified_name",
        "quality_rating",
        "quality_score",
        "messaging_limit_tier",
        "whatsapp_business_manager_messaging_limit",
        "throughput",
        "code_verification_status",
        "name_status",
        "new_name_status",
        "platform_type",
        "status",
        "is_official_business_account",
        "is_pin_enabled",
        "is_on_biz_app",
        "is_preverified_number",
        "account_mode",
        "last_onboarded_time",
        "webhook_configuration",
        "health_status",
        "country_code",
        "country_dial_code",
        "conversational_automation",
        "certificate",
        "new_certificate",
        "search_visibility",
        "eligibility_for_api_business_global_search",
        "new_display_phone_number",
        "new_verified_name",
    }
)
DEFAULT_WABA_FIELDS: tuple[str, ...] = ("id", "name", "timezone_id", "message_template_namespace")
WABA_NODE_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "name",
        "currency",
        "timezone_id",
        "message_template_namespace",
        "account_review_status",
        "business_verification_status",
        "ownership_type",
        "status",
        "owner_business_info",
        "health_status",
        "country",
        "primary_funding_id",
        "purchase_order_number",
        "on_behalf_of_business_info",
    }
)
DEFAULT_BUSINESS_FIELDS: tuple[str, ...] = ("id", "name")
BUSINESS_NODE_FIELDS: frozenset[str] = frozenset(
    {"id", "name", "verification_status", "timezone_id", "link"}
)
BUSINESS_PROFILE_FIELDS: tuple[str, ...] = (
    "about",
    "address",
    "description",
    "email",
    "profile_picture_url",
    "websites",
    "vertical",
)
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Number statuses Meta refuses sends from, and the code it answers with.
_REFUSING_STATUSES: Mapping[str, int] = {
    "PENDING": 133010,
    "DISCONNECTED": 133010,
    "UNVERIFIED": 133010,
    "MIGRATED": 133010,
    "DELETED": 133010,
    "BANNED": 131031,
    "RESTRICTED": 368,
    "RATE_LIMITED": 131048,
}
# Display-name states that let a number send (a name under review still sends, shown as the
# number); declined, expired or missing names answer 131037.
_SENDING_NAME_STATUSES = frozenset({"APPROVED", "AVAILABLE_WITHOUT_REVIEW", "PENDING_REVIEW"})


# --- Sending gate -------------------------------------------------------------------------


def send_refusal(emulator: Emulator, number: PhoneNumber) -> GraphAPIError | None:
    """Why Meta would refuse a send from ``number`` right now, or None if it may send."""
    del emulator  # the gate depends on the number alone today; kept for WABA-level rules
    if not number.registered:
        return GraphAPIError(
            133010,
            f"Phone number {number.id} is not registered with Cloud API. "
            "Register it with POST /{phone-number-id}/register.",
        )
    code = _REFUSING_STATUSES.get(number.status)
    if code is not None:
        return GraphAPIError(code, f"Phone number {number.id} has status {number.status}.")
    if number.name_status not in _SENDING_NAME_STATUSES:
        return GraphAPIError(
            131037,
            f"The display name of phone number {number.id} is {number.name_status}; it must "
            "be approved before messages can be sent.",
        )
    return None


def ensure_can_send(emulator: Emulator, number: PhoneNumber) -> None:
    """Raise Meta's error if ``number`` may not send messages now (133010, 131037, ...)."""
    refusal = send_refusal(emulator, number)
    if refusal is not None:
        raise refusal


# --- Fields -------------------------------------------------------------------------------


def parse_fields(
    raw: str | None, default: Iterable[str], known: frozenset[str], node: str
) -> list[str]:
    """The top-level names of a Graph ``fields`` parameter; unknown names answer code 100.

    Sub-selections (``throughput{level}``) are accepted and ignored: the emulator returns
    whole objects.
    """
    if raw is None or not raw.strip():
        return list(default)
    names: list[str] = []
    depth = 0
    current = ""
    for char in raw:
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            names.append(current)
            current = ""
        elif depth == 0:
            current += char
    names.append(current)
    selected: list[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name not in known:
            raise GraphAPIError(
                100,
                None,
                message=f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})",
            )
        if name not in selected:
            selected.append(name)
    return selected


def _select(values: Mapping[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    # Graph always answers with the id and leaves out fields without a value.
    out = {name: values[name] for name in fields if values.get(name) is not None}
    out.setdefault("id", values["id"])
    return out


def _graph_time(moment: datetime | None) -> str | None:
    # Graph's datetime format: "2023-08-22T19:13:06+0000".
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000") if moment is not None else None


def _dial_and_country(display_phone_number: str) -> tuple[str | None, str | None]:
    digits = "".join(ch for ch in display_phone_number if ch.isdigit())
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException:
        return None, None
    region = phonenumbers.region_code_for_number(parsed)
    return str(parsed.country_code), region if region and region != "ZZ" else None


def _business_of_number(state: EmulatorState, number: PhoneNumber) -> Business | None:
    waba = state.wabas.get(number.waba_id)
    return state.businesses.get(waba.business_id) if waba is not None else None


def _health_status(emulator: Emulator, number: PhoneNumber) -> dict[str, Any]:
    refusal = send_refusal(emulator, number)
    number_entity: dict[str, Any] = {
        "entity_type": "PHONE_NUMBER",
        "id": number.id,
        "can_send_message": "AVAILABLE" if refusal is None else "BLOCKED",
    }
    if refusal is not None:
        spec = spec_for(refusal.code)
        number_entity["errors"] = [
            {
                "error_code": refusal.code,
                "error_description": spec.title if spec is not None else str(refusal),
                "possible_solution": spec.explanation if spec is not None else "",
            }
        ]
    waba = emulator.state.wabas.get(number.waba_id)
    entities = [
        number_entity,
        {"entity_type": "WABA", "id": number.waba_id, "can_send_message": "AVAILABLE"},
    ]
    if waba is not None:
        entities.append(
            {"entity_type": "BUSINESS", "id": waba.business_id, "can_send_message": "AVAILABLE"}
        )
    return {"can_send_message": number_entity["can_send_message"], "entities": entities}


def phone_number_values(emulator: Emulator, number: PhoneNumber) -> dict[str, Any]:
    """Every field of ``number`` as Meta spells it (None: Meta would leave it out)."""
    state = emulator.state
    business = _business_of_number(state, number)
    waba = state.wabas.get(number.waba_id)
    dial_code, country = _dial_and_country(number.display_phone_number)
    webhook_configuration: dict[str, str] = {}
    app_url = number.app_webhook_url if number.webhook_overridden else number.webhook_url
    if app_url:
        webhook_configuration["application"] = app_url
    if waba is not None and waba.override_callback_uri:
        webhook_configuration["whatsapp_business_account"] = waba.override_callback_uri
    if number.webhook_override:
        webhook_configuration["phone_number"] = number.webhook_override
    return {
        "id": number.id,
        "display_phone_number": number.display_phone_number,
        "verified_name": number.verified_name,
        "quality_rating": number.quality_rating,
        "quality_score": {"score": number.quality_rating},
        "messaging_limit_tier": number.messaging_limit_tier,
        "whatsapp_business_manager_messaging_limit": (
            business.messaging_limit if business is not None else None
        ),
        "throughput": {"level": number.throughput_level},
        "code_verification_status": number.code_verification_status,
        "name_status": number.name_status,
        "platform_type": number.platform_type,
        "status": number.status,
        "is_official_business_account": number.is_official_business_account,
        "is_pin_enabled": number.pin is not None,
        "is_on_biz_app": False,
        "is_preverified_number": False,
        "account_mode": number.account_mode,
        "last_onboarded_time": _graph_time(number.last_onboarded_at or number.created_at),
        "webhook_configuration": webhook_configuration or None,
        "health_status": _health_status(emulator, number),
        "country_code": country,
        "country_dial_code": dial_code,
    }


def _number(req: GraphRequest) -> PhoneNumber:
    return req.emulator.state.phone_numbers[req.node_id]


def _waba(req: GraphRequest) -> Waba:
    return req.emulator.state.wabas[req.node_id]


@graph_route("phone_number", None, "GET")
async def get_phone_number(req: GraphRequest) -> dict[str, Any]:
    fields = parse_fields(
        req.query.get("fields"),
        DEFAULT_PHONE_NUMBER_FIELDS,
        PHONE_NUMBER_NODE_FIELDS,
        "WhatsAppBusinessPhoneNumber",
    )
    number = _number(req)
    return _select(phone_number_values(req.emulator, number), fields)


def _page_size(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or int(raw) < 1:
        raise invalid_parameter(f"Param limit must be a positive integer; got {raw!r}")
    return min(int(raw), MAX_PAGE_SIZE)


def _cursor(node_id: str) -> str:
    return base64.urlsafe_b64encode(node_id.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise invalid_parameter(f"Invalid cursor {cursor!r}") from None


def paginate(req: GraphRequest, items: list[dict[str, Any]], *, path: str) -> dict[str, Any]:
    """Graph cursor paging over ``items`` (each with an ``id``): ``data`` and ``paging``."""
    limit = _page_size(req.query.get("limit"))
    ids = [item["id"] for item in items]
    start = 0
    after = req.query.get("after")
    before = req.query.get("before")
    if after:
        anchor = _uncursor(after)
        start = ids.index(anchor) + 1 if anchor in ids else len(ids)
    elif before:
        anchor = _uncursor(before)
        end = ids.index(anchor) if anchor in ids else 0
        start = max(0, end - limit)
    page = items[start : start + limit]
    answer: dict[str, Any] = {"data": page}
    if page:
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(page[0]["id"]), "after": _cursor(page[-1]["id"])}
        }
        base = req.emulator.base_url or str(req.request.base_url).rstrip("/")
        url = f"{base}/v{req.version[0]}.{req.version[1]}/{path}"
        kept = {k: v for k, v in req.query.items() if k not in {"after", "before", "access_token"}}
        kept["limit"] = str(limit)
        if start + limit < len(items):
            paging["next"] = f"{url}?{urlencode({**kept, 'after': paging['cursors']['after']})}"
        if start > 0:
            paging["previous"] = (
                f"{url}?{urlencode({**kept, 'before': paging['cursors']['before']})}"
            )
        answer["paging"] = paging
    return answer


@graph_route("waba", "phone_numbers", "GET")
async def list_phone_numbers(req: GraphRequest) -> dict[str, Any]:
    fields = parse_fields(
        req.query.get("fields"),
        DEFAULT_PHONE_NUMBER_FIELDS,
        PHONE_NUMBER_NODE_FIELDS,
        "WhatsAppBusinessPhoneNumber",
    )
    numbers = [n for n in req.emulator.state.phone_numbers.values() if n.waba_id == req.node_id]
    items = [_select(phone_number_values(req.emulator, n), fields) for n in numbers]
    return paginate(req, items, path=f"{req.node_id}/phone_numbers")


# --- WABA and business nodes --------------------------------------------------------------


def _template_namespace(waba: Waba) -> str:
    if not waba.message_template_namespace:
        # Meta's namespaces are UUIDs written with underscores.
        raw = secrets.token_hex(16)
        waba.message_template_namespace = "_".join(
            (raw[:8], raw[8:12], raw[12:16], raw[16:20], raw[20:])
        )
    return waba.message_template_namespace


@graph_route("waba", None, "GET")
async def get_waba(req: GraphRequest) -> dict[str, Any]:
    fields = parse_fields(
        req.query.get("fields"), DEFAULT_WABA_FIELDS, WABA_NODE_FIELDS, "WhatsAppBusinessAccount"
    )
    waba = _waba(req)
    business = req.emulator.state.businesses.get(waba.business_id)
    values: dict[str, Any] = {
        "id": waba.id,
        "name": waba.name,
        "currency": waba.currency,
        "timezone_id": waba.timezone_id,
        "message_template_namespace": _template_namespace(waba),
        "account_review_status": "APPROVED",
        "business_verification_status": (
            "verified" if business is not None and business.verified else "not_verified"
        ),
        "ownership_type": "SELF",
        "status": "ACTIVE",
        "owner_business_info": (
            {"id": business.id, "name": business.name} if business is not None else None
        ),
        "health_status": {
            "can_send_message": "AVAILABLE",
            "entities": [{"entity_type": "WABA", "id": waba.id, "can_send_message": "AVAILABLE"}],
        },
    }
    return _select(values, fields)


@graph_route("business", None, "GET")
async def get_business(req: GraphRequest) -> dict[str, Any]:
    fields = parse_fields(
        req.query.get("fields"), DEFAULT_BUSINESS_FIELDS, BUSINESS_NODE_FIELDS, "Business"
    )
    business = req.emulator.state.businesses[req.node_id]
    values: dict[str, Any] = {
        "id": business.id,
        "name": business.name,
        "verification_status": "verified" if business.verified else "not_verified",
        "timezone_id": 1,
        "link": f"https://business.facebook.com/settings/?business_id={business.id}",
    }
    return _select(values, fields)


# --- Registration, PIN, ownership code ----------------------------------------------------


def _required(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise GraphAPIError(100, None, message=f"(#100) The parameter {name} is required")
    return value


def _one_of(params: Mapping[str, Any], name: str, allowed: Iterable[str]) -> str:
    value = str(_required(params, name))
    options = list(allowed)
    if value.upper() not in options:
        raise GraphAPIError(
            100,
            None,
            message=f'(#100) Param {name} must be one of {{{", ".join(options)}}} - got "{value}".',
        )
    return value.upper()


def _messaging_product(params: Mapping[str, Any]) -> None:
    _one_of(params, "messaging_product", ["WHATSAPP"])


def _pin(params: Mapping[str, Any]) -> str:
    pin = str(_required(params, "pin"))
    if not PIN_PATTERN.match(pin):
        raise GraphAPIError(
            100,
            "The two-step verification PIN must be exactly 6 digits.",
            message="(#100) Param pin must be 6 characters long.",
        )
    return pin


def _count_register_request(number: PhoneNumber, now: datetime) -> None:
    """Meta's moving window: the 11th request in 72 hours locks registration 72 hours."""
    if number.register_blocked_until is not None and now < number.register_blocked_until:
        raise GraphAPIError(
            133016,
            "Too many register or deregister requests for this number; try again after "
            f"{_graph_time(number.register_blocked_until)}.",
        )
    number.register_attempts = [t for t in number.register_attempts if now - t < REGISTER_WINDOW]
    if len(number.register_attempts) >= REGISTER_MAX_REQUESTS:
        number.register_blocked_until = now + REGISTER_LOCKOUT
        raise GraphAPIError(
            133016,
            f"More than {REGISTER_MAX_REQUESTS} register or deregister requests in 72 hours; "
            "this number cannot be registered for the next 72 hours.",
        )
    number.register_attempts.append(now)


@graph_route("phone_number", "register", "POST")
async def register(req: GraphRequest) -> dict[str, Any]:
    params = await req.json_object()
    _messaging_product(params)
    pin = _pin(params)
    number = _number(req)
    now = req.emulator.clock.now()
    _count_register_request(number, now)
    if number.code_verification_status != "VERIFIED":
        raise GraphAPIError(
            133006,
            f"Phone number {number.id} must verify its ownership (request_code, verify_code) "
            "before it can be registered.",
        )
    if number.pin is not None and pin != number.pin:
        raise GraphAPIError(133005, "The two-step verification PIN does not match.")
    number.pin = pin
    number.registered = True
    number.platform_type = "CLOUD_API"
    if number.status in {"PENDING", "DISCONNECTED", "UNVERIFIED"}:
        number.status = "CONNECTED"
    if number.last_onboarded_at is None:
        number.last_onboarded_at = now
    return {"success": True}


@graph_route("phone_number", "deregister", "POST")
async def deregister(req: GraphRequest) -> dict[str, Any]:
    number = _number(req)
    _count_register_request(number, req.emulator.clock.now())
    number.registered = False
    number.platform_type = "NOT_APPLICABLE"
    return {"success": True}


@graph_route("phone_number", "request_code", "POST")
async def request_code(req: GraphRequest) -> dict[str, Any]:
    params = await req.json_object()
    _one_of(params, "code_method", ["SMS", "VOICE"])
    _required(params, "language")
    number = _number(req)
    # The code "arrives by SMS": tests read it from GET /_emulator/phone_numbers.
    number.verification_code = f"{secrets.randbelow(10**6):06d}"
    return {"success": True}


@graph_route("phone_number", "verify_code", "POST")
async def verify_code(req: GraphRequest) -> dict[str, Any]:
    params = await req.json_object()
    code = str(_required(params, "code"))
    number = _number(req)
    if number.verification_code is None or code != number.verification_code:
        # Meta's code for a wrong or stale ownership code (unverified: seen in BSP guides).
        raise GraphAPIError(
            136025,
            "The code does not match the last code sent to this number.",
            message="(#136025) Verify code error",
            http_status=400,
        )
    number.verification_code = None
    number.code_verification_status = "VERIFIED"
    return {"success": True}


def _callback_uri(value: Any) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://", value):
        raise invalid_parameter(f"override_callback_uri must be an http(s) URL; got {value!r}")
    return value


async def _handshake(emulator: Emulator, url: str, verify_token: str) -> None:
    """Meta's GET handshake against a new callback; a failure refuses the change (2200)."""
    ok, outcome = await emulator.webhooks.verify(url, verify_token)
    if not ok:
        raise GraphAPIError(
            2200,
            None,
            message=f"(#2200) Callback verification failed with the following errors: {outcome}",
            http_status=400,
        )


def route_webhooks(state: EmulatorState, number: PhoneNumber) -> None:
    """Point ``number``'s webhooks at its override, its WABA's, or the app's callback."""
    if not number.webhook_overridden:
        number.app_webhook_url = number.webhook_url
    waba = state.wabas.get(number.waba_id)
    override = number.webhook_override or (waba.override_callback_uri if waba else None)
    if override is None:
        number.webhook_url = number.app_webhook_url
        number.webhook_overridden = False
    else:
        number.webhook_url = override
        number.webhook_overridden = True


@graph_route("phone_number", None, "POST")
async def update_phone_number(req: GraphRequest) -> dict[str, Any]:
    params = await req.json_object()
    number = _number(req)
    configuration = params.get("webhook_configuration")
    if "pin" not in params and configuration is None:
        raise GraphAPIError(100, None, message="(#100) The parameter pin is required")
    pin = _pin(params) if "pin" in params else None
    if configuration is not None:
        if not isinstance(configuration, dict):
            raise invalid_parameter("webhook_configuration must be an object")
        uri = configuration.get("override_callback_uri")
        if uri in (None, ""):
            number.webhook_override = None
        else:
            url = _callback_uri(uri)
            token = str(_required(configuration, "verify_token"))
            await _handshake(req.emulator, url, token)
            number.webhook_override = url
        route_webhooks(req.emulator.state, number)
    if pin is not None:
        number.pin = pin
    return {"success": True}


# --- Subscribed apps ----------------------------------------------------------------------


def _app_entry(state: EmulatorState, waba: Waba) -> dict[str, Any]:
    existing = waba.subscribed_apps[0] if waba.subscribed_apps else {}
    data = dict(existing.get("whatsapp_business_api_data") or {})
    app_id = str(data.get("id") or waba.app_id or state.ids.next())
    waba.app_id = app_id
    return {
        "whatsapp_business_api_data": {
            "link": data.get("link") or f"https://www.facebook.com/games/?app_id={app_id}",
            "name": data.get("name") or APP_NAME,
            "id": app_id,
        }
    }


@graph_route("waba", "subscribed_apps", "GET")
async def list_subscribed_apps(req: GraphRequest) -> dict[str, Any]:
    waba = _waba(req)
    data: list[dict[str, Any]] = []
    for app in waba.subscribed_apps:
        api_data = dict(app.get("whatsapp_business_api_data") or {})
        app_id = str(api_data.get("id", ""))
        entry: dict[str, Any] = {
            "whatsapp_business_api_data": {
                "link": api_data.get("link") or f"https://www.facebook.com/games/?app_id={app_id}",
                "name": api_data.get("name") or APP_NAME,
                "id": app_id,
            }
        }
        if waba.override_callback_uri:
            entry["override_callback_uri"] = waba.override_callback_uri
        data.append(entry)
    return {"data": data}


@graph_route("waba", "subscribed_apps", "POST")
async def subscribe_app(req: GraphRequest) -> dict[str, Any]:
    params = await req.json_object()
    waba = _waba(req)
    state = req.emulator.state
    uri = params.get("override_callback_uri")
    if uri not in (None, ""):
        url = _callback_uri(uri)
        token = str(_required(params, "verify_token"))
        await _handshake(req.emulator, url, token)
        waba.override_callback_uri = url
        waba.override_verify_token = token
    else:
        # Subscribing again without an override returns to the app's callback.
        waba.override_callback_uri = None
        waba.override_verify_token = None
    waba.subscribed_apps = [_app_entry(state, waba)]
    for number in state.phone_numbers.values():
        if number.waba_id == waba.id:
            route_webhooks(state, number)
    return {"success": True}


@graph_route("waba", "subscribed_apps", "DELETE")
async def unsubscribe_app(req: GraphRequest) -> dict[str, Any]:
    waba = _waba(req)
    state = req.emulator.state
    if waba.subscribed_apps:
        waba.app_id = _app_entry(state, waba)["whatsapp_business_api_data"]["id"]
    waba.subscribed_apps = []
    waba.override_callback_uri = None
    waba.override_verify_token = None
    for number in state.phone_numbers.values():
        if number.waba_id == waba.id:
            route_webhooks(state, number)
    return {"success": True}


# --- Business profile ---------------------------------------------------------------------


@graph_route("phone_number", "whatsapp_business_profile", "GET")
async def get_business_profile(req: GraphRequest) -> dict[str, Any]:
    known = frozenset({*BUSINESS_PROFILE_FIELDS, "messaging_product"})
    fields = parse_fields(
        req.query.get("fields"), BUSINESS_PROFILE_FIELDS, known, "WhatsAppBusinessProfile"
    )
    profile = _number(req).business_profile
    # Meta reports an unset industry as UNDEFINED (clients such as pywa require the key).
    values: dict[str, Any] = {"vertical": "UNDEFINED", **profile}
    out: dict[str, Any] = {"messaging_product": "whatsapp"}
    out.update({name: values[name] for name in fields if values.get(name) is not None})
    return {"data": [out]}


def _text(params: Mapping[str, Any], name: str, limit: int, *, min_length: int = 0) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_parameter(f"Param {name} must be a string")
    if len(value) > limit:
        raise invalid_parameter(
            f"Param {name} must be at most {limit} characters long; got {len(value)}"
        )
    if len(value) < min_length:
        raise invalid_parameter(f"Param {name} must be at least {min_length} character long")
    return value


@graph_route("phone_number", "whatsapp_business_profile", "POST")
async def update_business_profile(req: GraphRequest) -> dict[str, Any]:
    params = await req.json_object()
    _messaging_product(params)
    changes: dict[str, Any] = {}
    for name, limit, min_length in (
        ("about", BUSINESS_ABOUT_MAX_CHARS, 1),
        ("address", BUSINESS_ADDRESS_MAX_CHARS, 0),
        ("description", BUSINESS_DESCRIPTION_MAX_CHARS, 0),
        ("email", BUSINESS_EMAIL_MAX_CHARS, 0),
    ):
        value = _text(params, name, limit, min_length=min_length)
        if value is not None:
            changes[name] = value
    email = changes.get("email")
    if email and not EMAIL_PATTERN.match(email):
        raise invalid_parameter(f"Param email must be a valid email address; got {email!r}")
    websites = params.get("websites")
    if websites is not None:
        if not isinstance(websites, list) or not all(isinstance(w, str) for w in websites):
            raise invalid_parameter("Param websites must be an array of strings")
        if len(websites) > BUSINESS_WEBSITES_MAX:
            raise invalid_parameter(
                f"Param websites must have at most {BUSINESS_WEBSITES_MAX} entries"
            )
        for site in websites:
            if len(site) > BUSINESS_WEBSITE_MAX_CHARS:
                raise invalid_parameter(
                    f"Each website must be at most {BUSINESS_WEBSITE_MAX_CHARS} characters long"
                )
            if not re.match(r"^https?://[^\s/]+", site):
                raise invalid_parameter(
                    f"Websites must start with http:// or https://; got {site!r}"
                )
        changes["websites"] = list(websites)
    vertical = params.get("vertical")
    if vertical is not None:
        allowed = [v.value for v in BusinessVertical]
        if vertical not in allowed:
            raise GraphAPIError(
                100,
                None,
                message=f"(#100) Param vertical must be one of {{{', '.join(allowed)}}} - "
                f'got "{vertical}".',
            )
        changes["vertical"] = vertical
    handle = params.get("profile_picture_handle")
    if handle is not None:
        if not isinstance(handle, str) or not handle:
            raise invalid_parameter("Param profile_picture_handle must be a non-empty string")
        changes["profile_picture_url"] = (
            f"https://pps.whatsapp.net/v/t61/{base64.urlsafe_b64encode(handle.encode()).decode()[:32]}.jpg"
        )
    _number(req).business_profile.update(changes)
    return {"success": True}


# --- Control API --------------------------------------------------------------------------

router = APIRouter(prefix="/_emulator", tags=["control"])


class PhoneNumberUpdate(BaseModel):
    """Set a number's state as Meta's side would change it (quality, limits, review...)."""

    quality: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] | None = None
    tier: str | None = Field(
        default=None,
        description="Messaging limit; sets the number's legacy tier and its portfolio's limit.",
    )
    throughput_mps: int | None = Field(default=None, ge=1, le=1000)
    status: str | None = Field(default=None, examples=["CONNECTED", "FLAGGED", "BANNED"])
    name_status: str | None = Field(default=None, examples=["APPROVED", "DECLINED"])
    code_verification_status: Literal["VERIFIED", "NOT_VERIFIED", "EXPIRED"] | None = None
    account_mode: Literal["SANDBOX", "LIVE"] | None = None
    is_official_business_account: bool | None = None
    registered: bool | None = None
    webhook_url: str | None = Field(default=None, description="The app's callback URL.")


class PhoneNumberOut(BaseModel):
    phone_number_id: str
    waba_id: str
    business_id: str
    access_token: str
    display_phone_number: str
    verified_name: str
    quality: str
    tier: str
    business_messaging_limit: str | None
    throughput_mps: int
    status: str
    name_status: str
    code_verification_status: str
    registered: bool
    pin_set: bool
    verification_code: str | None
    webhook_url: str | None
    subscribed: bool

    @classmethod
    def of(cls, state: EmulatorState, number: PhoneNumber) -> PhoneNumberOut:
        waba = state.wabas.get(number.waba_id)
        business = state.businesses.get(waba.business_id) if waba is not None else None
        return cls(
            phone_number_id=number.id,
            waba_id=number.waba_id,
            business_id=business.id if business is not None else "",
            access_token=business.access_token if business is not None else "",
            display_phone_number=number.display_phone_number,
            verified_name=number.verified_name,
            quality=number.quality_rating,
            tier=number.messaging_limit_tier,
            business_messaging_limit=business.messaging_limit if business is not None else None,
            throughput_mps=number.throughput_mps,
            status=number.status,
            name_status=number.name_status,
            code_verification_status=number.code_verification_status,
            registered=number.registered,
            pin_set=number.pin is not None,
            verification_code=number.verification_code,
            webhook_url=number.webhook_url,
            subscribed=bool(waba is not None and waba.subscribed_apps),
        )


def _emulator_of(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


@router.get("/phone_numbers")
async def list_emulated_phone_numbers(request: Request) -> list[PhoneNumberOut]:
    """Every number with the ids and the token a client needs to use it."""
    state = _emulator_of(request).state
    return [PhoneNumberOut.of(state, n) for n in state.phone_numbers.values()]


@router.patch("/phone_numbers/{phone_number_id}")
async def update_emulated_phone_number(
    phone_number_id: str, body: PhoneNumberUpdate, request: Request
) -> PhoneNumberOut:
    state = _emulator_of(request).state
    number = state.phone_numbers.get(phone_number_id)
    if number is None:
        raise HTTPException(404, f"no phone number {phone_number_id}")
    if body.quality is not None:
        number.quality_rating = body.quality
    if body.tier is not None:
        number.messaging_limit_tier = body.tier
        business = _business_of_number(state, number)
        if business is not None:
            business.messaging_limit = body.tier
            business.tier_changed_at = _emulator_of(request).clock.now()
    if body.throughput_mps is not None:
        number.throughput_mps = body.throughput_mps
    if body.status is not None:
        number.status = body.status
    if body.name_status is not None:
        number.name_status = body.name_status
    if body.code_verification_status is not None:
        number.code_verification_status = body.code_verification_status
    if body.account_mode is not None:
        number.account_mode = body.account_mode
    if body.is_official_business_account is not None:
        number.is_official_business_account = body.is_official_business_account
    if body.registered is not None:
        number.registered = body.registered
        number.platform_type = "CLOUD_API" if body.registered else "NOT_APPLICABLE"
    if "webhook_url" in body.model_fields_set:
        if number.webhook_overridden:
            number.app_webhook_url = body.webhook_url
        else:
            number.webhook_url = body.webhook_url
    return PhoneNumberOut.of(state, number)
