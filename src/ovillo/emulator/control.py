"""The control API under ``/_emulator``: set up the world, drive it, look inside it.

For tests, demos and the platform's demo seeding; no auth (the emulator is never exposed in
production). Paths and field names are an interface that tests outside the project use.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ovillo.emulator.emulator import Emulator
from ovillo.emulator.faults import FAULT_KINDS, Fault
from ovillo.emulator.ids import new_access_token
from ovillo.emulator.state import (
    DEFAULT_THROUGHPUT_MPS,
    Business,
    PhoneNumber,
    SentMessage,
    Waba,
)

router = APIRouter(prefix="/_emulator", tags=["control"])


def emulator_of(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


# --- Phone numbers ------------------------------------------------------------------------


class PhoneNumberCreate(BaseModel):
    display_phone_number: str = Field(examples=["+1 555-010-0000"])
    verified_name: str = Field(examples=["Ovillo Demo"])
    webhook_url: str | None = Field(default=None, description="Where webhooks are POSTed.")
    app_secret: str = Field(min_length=1, description="Signs webhooks (X-Hub-Signature-256).")
    verify_token: str | None = None
    tier: str = Field(default="TIER_250", description="Messaging limit (portfolio).")
    quality: Literal["GREEN", "YELLOW", "RED", "UNKNOWN"] = "GREEN"
    throughput_mps: int = Field(default=DEFAULT_THROUGHPUT_MPS, ge=1, le=1000)
    waba_id: str | None = Field(default=None, description="Add the number to this WABA.")
    registered: bool = Field(default=True, description="Registered for the Cloud API.")
    subscribed: bool = Field(default=True, description="The app is subscribed to the WABA.")


class PhoneNumberCreated(BaseModel):
    phone_number_id: str
    waba_id: str
    business_id: str
    access_token: str


@router.post("/phone_numbers", status_code=201)
async def create_phone_number(body: PhoneNumberCreate, request: Request) -> PhoneNumberCreated:
    emulator = emulator_of(request)
    state = emulator.state
    now = emulator.clock.now()
    if body.waba_id is not None:
        waba = state.wabas.get(body.waba_id)
        if waba is None:
            raise HTTPException(404, f"no WABA {body.waba_id}")
        business = state.businesses[waba.business_id]
    else:
        business = Business(
            id=state.ids.next(),
            name=body.verified_name,
            access_token=new_access_token(),
            messaging_limit=body.tier,
            tier_changed_at=now,
        )
        state.businesses[business.id] = business
        state.tokens[business.access_token] = business.id
        waba = Waba(id=state.ids.next(), business_id=business.id, name=body.verified_name)
        if body.subscribed:
            waba.subscribed_apps.append(
                {"whatsapp_business_api_data": {"id": state.ids.next(), "name": "Ovillo"}}
            )
        state.wabas[waba.id] = waba
    number = PhoneNumber(
        id=state.ids.next(),
        waba_id=waba.id,
        display_phone_number=body.display_phone_number,
        verified_name=body.verified_name,
        webhook_url=body.webhook_url,
        app_secret=body.app_secret,
        verify_token=body.verify_token,
        quality_rating=body.quality,
        messaging_limit_tier=body.tier,
        throughput_mps=body.throughput_mps,
        registered=body.registered,
        created_at=now,
    )
    state.phone_numbers[number.id] = number
    return PhoneNumberCreated(
        phone_number_id=number.id,
        waba_id=waba.id,
        business_id=business.id,
        access_token=business.access_token,
    )


# --- Clock --------------------------------------------------------------------------------


class ClockOut(BaseModel):
    now: datetime
    frozen: bool
    pending_events: int


class ClockAdvance(BaseModel):
    seconds: float = Field(gt=0, le=366 * 24 * 3600)


@router.get("/clock")
async def get_clock(request: Request) -> ClockOut:
    emulator = emulator_of(request)
    return ClockOut(
        now=emulator.clock.now(),
        frozen=emulator.clock.frozen,
        pending_events=emulator.scheduler.pending(),
    )


@router.post("/clock/advance")
async def advance_clock(body: ClockAdvance, request: Request) -> ClockOut:
    emulator = emulator_of(request)
    await emulator.advance(body.seconds)
    return await get_clock(request)


# --- Faults -------------------------------------------------------------------------------


class FaultIn(BaseModel):
    kind: str = Field(description=f"One of {sorted(FAULT_KINDS)}")
    rate: float = Field(default=1.0, ge=0, le=1)
    phone_number_id: str | None = None
    seconds: float | None = Field(default=None, ge=0)


class FaultOut(BaseModel):
    kind: str
    rate: float
    phone_number_id: str | None
    options: dict[str, Any]
    struck: int


@router.post("/faults", status_code=201)
async def add_fault(body: FaultIn, request: Request) -> list[FaultOut]:
    emulator = emulator_of(request)
    options: dict[str, Any] = {}
    if body.seconds is not None:
        options["seconds"] = body.seconds
    try:
        emulator.faults.add(
            Fault(
                kind=body.kind,
                rate=body.rate,
                options=options,
                phone_number_id=body.phone_number_id,
            )
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return await list_faults(request)


@router.get("/faults")
async def list_faults(request: Request) -> list[FaultOut]:
    return [
        FaultOut(
            kind=f.kind,
            rate=f.rate,
            phone_number_id=f.phone_number_id,
            options=f.options,
            struck=f.struck,
        )
        for f in emulator_of(request).faults.active()
    ]


@router.delete("/faults", status_code=204)
async def clear_faults(request: Request) -> None:
    emulator_of(request).faults.clear()


# --- Looking inside -----------------------------------------------------------------------


class SentMessageOut(BaseModel):
    id: str
    phone_number_id: str
    to: str
    type: str
    status: str
    accepted_at: datetime
    timestamps: dict[str, datetime]
    biz_opaque_callback_data: str | None
    template_name: str | None
    category: str | None
    pricing: dict[str, Any] | None
    conversation: dict[str, Any] | None
    errors: list[dict[str, Any]]
    payload: dict[str, Any]

    @classmethod
    def of(cls, message: SentMessage) -> SentMessageOut:
        return cls(
            id=message.id,
            phone_number_id=message.phone_number_id,
            to=message.to,
            type=message.type,
            status=message.status,
            accepted_at=message.accepted_at,
            timestamps=message.timestamps,
            biz_opaque_callback_data=message.biz_opaque_callback_data,
            template_name=message.template_name,
            category=message.category,
            pricing=message.pricing,
            conversation=message.conversation,
            errors=message.errors,
            payload=message.payload,
        )


@router.get("/messages")
async def list_sent_messages(
    request: Request, phone_number_id: str | None = None, limit: int = 1000, offset: int = 0
) -> list[SentMessageOut]:
    """What businesses sent, oldest first, with state and pricing."""
    messages = emulator_of(request).state.sent.values()
    selected = [
        m for m in messages if phone_number_id is None or m.phone_number_id == phone_number_id
    ]
    return [SentMessageOut.of(m) for m in selected[offset : offset + max(0, limit)]]


class WebhookAttemptOut(BaseModel):
    id: int
    phone_number_id: str | None
    url: str
    field: str
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    delivered: bool
    payload: Any


@router.get("/webhooks")
async def list_webhook_attempts(
    request: Request,
    phone_number_id: str | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[WebhookAttemptOut]:
    """Every delivery attempt and its result, oldest first."""
    import json

    log = emulator_of(request).state.webhook_log
    selected = [a for a in log if phone_number_id is None or a.phone_number_id == phone_number_id]
    out = []
    for attempt in selected[offset : offset + max(0, limit)]:
        try:
            payload: Any = json.loads(attempt.body)
        except ValueError:
            payload = base64.b64encode(attempt.body).decode()
        out.append(
            WebhookAttemptOut(
                id=attempt.id,
                phone_number_id=attempt.phone_number_id,
                url=attempt.url,
                field=attempt.field,
                attempt=attempt.attempt,
                at=attempt.at,
                status_code=attempt.status_code,
                error=attempt.error,
                delivered=attempt.delivered,
                payload=payload,
            )
        )
    return out


class Stats(BaseModel):
    sent: int
    inbound: int
    webhooks_delivered: int
    webhook_attempts_failed: int
    webhooks_dropped: int
    webhook_backlog: int
    pending_events: int


@router.get("/stats")
async def stats(request: Request) -> Stats:
    emulator = emulator_of(request)
    return Stats(
        sent=len(emulator.state.sent),
        inbound=len(emulator.state.inbound),
        webhooks_delivered=emulator.webhooks.delivered,
        webhook_attempts_failed=emulator.webhooks.failed_attempts,
        webhooks_dropped=emulator.webhooks.dropped,
        webhook_backlog=emulator.webhooks.backlog(),
        pending_events=emulator.scheduler.pending(),
    )


@router.post("/reset", status_code=204)
async def reset(request: Request) -> None:
    await emulator_of(request).reset()
