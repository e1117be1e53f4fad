"""Quality ratings, template pauses, messaging-limit tiers and throughput over emulated time.

Every hour of emulator time (and on ``POST /_emulator/quality/evaluate``) the emulator
looks back as Meta does and applies ``rules.limits``:

- **Number quality**: blocks and reports of the last 7 days over the unique recipients the
  number messaged in those days (``quality_from_feedback``). A change is stored in
  ``quality_rating``; becoming RED sends ``phone_number_quality_update`` FLAGGED and leaving
  RED sends UNFLAGGED (Meta has no event for GREEN <-> YELLOW). No sends and no feedback
  leave the rating alone.
- **Template quality and pauses**: the same model per template, over its recipients and
  their feedback after they received it; a change sends ``message_template_quality_update``.
  An APPROVED template found RED is paused 3 h, then 6 h, then DISABLED
  (``template_pause_decision``) with ``message_template_status_update`` (PAUSED with
  ``other_info`` FIRST_PAUSE/SECOND_PAUSE, APPROVED with UNPAUSE when the pause ends,
  DISABLED with ``disable_info``). A template still RED when its pause ends is paused again
  at the next evaluation: Meta pauses templates whose quality stays low.
- **Messaging limit** (per business portfolio since 7 Oct 2025): ``next_tier`` with the
  portfolio's worst number quality and its unique recipients of messages sent outside a
  customer-service window in the last 7 days. The scaling path out of 250 is business
  verification or ``VOLUME_PATH_RECIPIENTS`` unique such recipients in 30 days. An upgrade
  takes effect when ``next_tier`` says (6 h later under portfolio limits), if it still holds
  then, with ``phone_number_quality_update`` UPGRADE to every number of the portfolio.
- **Throughput**: a number that ``throughput_upgrade_eligible`` says qualifies moves to
  1,000 mps with THROUGHPUT_UPGRADE.

Each evaluation is computed *as of* its due moment, so a clock advanced by days replays
the hours in order. "Outside a window" is read from the emulator's own records: a template
message with no inbound message from that customer to that number in the 24 hours before
it. Failed messages never count; everything else that was accepted does (Meta counts
delivered messages; the emulator delivers all but failures).
"""

from __future__ import annotations

import bisect
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from pydantic import BaseModel

from ovillo.cloudapi.webhooks import PhoneNumberQualityUpdateValue, TemplateOtherInfo
from ovillo.emulator import templates
from ovillo.emulator.emulator import START_HOOKS
from ovillo.emulator.jobs import job_handler, pending_jobs, schedule_job
from ovillo.emulator.state import (
    Business,
    EmulatorState,
    PhoneNumber,
    ScheduledJob,
    SentMessage,
    Template,
)
from ovillo.rules.limits import (
    LIMIT_WINDOW,
    QUALITY_LOOKBACK,
    UPGRADE_LOOKBACK,
    LimitScope,
    QualityRating,
    Tier,
    UnknownTier,
    limit_scope_at,
    next_tier,
    quality_effects,
    quality_from_feedback,
    template_pause_decision,
    throughput_upgrade_eligible,
    unique_recipients_in_window,
)
from ovillo.rules.limits import TemplateStatus as PauseStatus

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

EVALUATION_INTERVAL = timedelta(hours=1)
QUALITY_LANE = "quality"
HIGH_THROUGHPUT_MPS = 1000
# Meta's volume scaling path out of 250: 2,000 unique users reached outside a window in 30
# days with high-quality messages ("Messaging limits", the scaling path).
VOLUME_PATH_RECIPIENTS = 2000
VOLUME_PATH_WINDOW = timedelta(days=30)
_LOOKBACK = max(VOLUME_PATH_WINDOW, QUALITY_LOOKBACK, UPGRADE_LOOKBACK)
_SEVERITY = {
    QualityRating.UNKNOWN: 0,
    QualityRating.GREEN: 1,
    QualityRating.YELLOW: 2,
    QualityRating.RED: 3,
}
_PAUSE_TITLES = ("FIRST_PAUSE", "SECOND_PAUSE")
# Kinds of scheduled jobs (emulator.jobs): they survive a restart.
UNPAUSE_JOB = "template_unpause"
UPGRADE_JOB = "tier_upgrade"


@dataclass(frozen=True, slots=True)
class QualityEvent:
    """One thing an evaluation changed: ``kind`` names it, ``subject_id`` is the number,
    template or business it happened to."""

    kind: str
    subject_id: str
    value: str


@dataclass
class _Runtime:
    state: EmulatorState
    installed: bool = False


_RUNTIMES: weakref.WeakKeyDictionary[Emulator, _Runtime] = weakref.WeakKeyDictionary()


def _runtime(emulator: Emulator) -> _Runtime:
    runtime = _RUNTIMES.get(emulator)
    if runtime is None or runtime.state is not emulator.state:
        runtime = _Runtime(state=emulator.state)
        _RUNTIMES[emulator] = runtime
    return runtime


def install(emulator: Emulator) -> None:
    """Evaluate every hour of emulator time from now on (once per emulator state)."""
    runtime = _runtime(emulator)
    if runtime.installed:
        return
    runtime.installed = True

    def schedule(due: datetime) -> None:
        def tick() -> None:
            if _runtime(emulator) is not runtime:
                return  # the emulator was reset: the new state has its own evaluation
            # Next one first, from this one's due moment: a clock moved by days replays
            # every hour in order, and a failing evaluation does not stop the next.
            schedule(due + EVALUATION_INTERVAL)
            evaluate(emulator, at=due)

        emulator.scheduler.at(due, tick)

    schedule(emulator.clock.now() + EVALUATION_INTERVAL)


START_HOOKS.append(install)


# --- What happened, as of a moment --------------------------------------------------------


@dataclass
class _Facts:
    """The records one evaluation needs, within the longest lookback, as of ``at``."""

    at: datetime
    sends_by_number: dict[str, list[SentMessage]]
    outside_window: dict[str, bool]  # message id -> sent outside a service window
    feedback_by_number: dict[str, list[tuple[datetime, str, str]]]  # (at, wa_id, kind)

    def sends(self, number_id: str, since: datetime) -> list[SentMessage]:
        return [m for m in self.sends_by_number.get(number_id, []) if m.accepted_at > since]

    def counted(self, number_ids: Iterable[str]) -> list[tuple[str, datetime, bool]]:
        return [
            (m.to, m.accepted_at, self.outside_window[m.id])
            for number_id in number_ids
            for m in self.sends_by_number.get(number_id, [])
        ]


def _facts(state: EmulatorState, at: datetime) -> _Facts:
    since = at - _LOOKBACK
    inbound: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for received in state.inbound.values():
        if since - LIMIT_WINDOW < received.timestamp <= at:
            inbound[(received.phone_number_id, received.from_wa_id)].append(received.timestamp)
    for moments in inbound.values():
        moments.sort()
    sends: dict[str, list[SentMessage]] = defaultdict(list)
    outside: dict[str, bool] = {}
    for message in state.sent.values():
        if not since < message.accepted_at <= at or message.status == "failed":
            continue
        sends[message.phone_number_id].append(message)
        moments = inbound.get((message.phone_number_id, message.to), [])
        start = bisect.bisect_left(moments, message.accepted_at - LIMIT_WINDOW)
        window_open = start < len(moments) and moments[start] < message.accepted_at
        outside[message.id] = message.type == "template" and not window_open
    feedback: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for customer in state.customers.values():
        for event in customer.feedback:
            if at - QUALITY_LOOKBACK < event.at <= at:
                feedback[event.phone_number_id].append((event.at, customer.wa_id, event.kind))
    return _Facts(at, sends, outside, feedback)


def _rating(value: str) -> QualityRating:
    try:
        return QualityRating(value)
    except ValueError:
        return QualityRating.UNKNOWN


def _worst(ratings: Iterable[QualityRating]) -> QualityRating:
    return max(ratings, key=lambda rating: _SEVERITY[rating], default=QualityRating.UNKNOWN)


def _digits(number: PhoneNumber) -> str:
    return "".join(ch for ch in number.display_phone_number if ch.isdigit())


def _numbers_of(state: EmulatorState, business_id: str) -> list[PhoneNumber]:
    return [
        number
        for number in state.phone_numbers.values()
        if (waba := state.wabas.get(number.waba_id)) is not None and waba.business_id == business_id
    ]


def _notify_number(
    emulator: Emulator,
    number: PhoneNumber,
    business: Business,
    event: str,
    *,
    at: datetime,
    old_limit: str | None = None,
) -> None:
    value = PhoneNumberQualityUpdateValue(
        display_phone_number=_digits(number),
        event=event,
        current_limit=business.messaging_limit,
        old_limit=old_limit,
        max_daily_conversations_per_business=business.messaging_limit,
    )
    emulator.webhooks.send(
        number, value.FIELD, value.to_wire(), lane_key=QUALITY_LANE, entry_time=int(at.timestamp())
    )


# --- The evaluation -----------------------------------------------------------------------


def evaluate(emulator: Emulator, *, at: datetime | None = None) -> list[QualityEvent]:
    """Apply Meta's quality, pause, tier and throughput rules as of ``at`` (default: now)."""
    moment = at or emulator.clock.now()
    state = emulator.state
    facts = _facts(state, moment)
    events: list[QualityEvent] = []
    for number in list(state.phone_numbers.values()):
        events.extend(_evaluate_number(emulator, number, facts))
    for template in list(state.templates.values()):
        events.extend(_evaluate_template(emulator, template, facts))
    for business in list(state.businesses.values()):
        events.extend(_evaluate_business(emulator, business, facts))
    return events


def _evaluate_number(emulator: Emulator, number: PhoneNumber, facts: _Facts) -> list[QualityEvent]:
    at = facts.at
    since = at - QUALITY_LOOKBACK
    recipients = {m.to for m in facts.sends(number.id, since)}
    feedback = facts.feedback_by_number.get(number.id, [])
    blocks = sum(1 for _, _, kind in feedback if kind == "block")
    reports = sum(1 for _, _, kind in feedback if kind == "report")
    rating = quality_from_feedback(
        unique_recipients=len(recipients), blocks=blocks, reports=reports
    )
    old = _rating(number.quality_rating)
    if rating is QualityRating.UNKNOWN or rating is old:
        return []
    number.quality_rating = rating.value
    events = [QualityEvent("quality", number.id, rating.value)]
    waba = emulator.state.wabas.get(number.waba_id)
    business = emulator.state.businesses.get(waba.business_id) if waba else None
    if business is None:
        return events
    scope = limit_scope_at(at)
    if scope is LimitScope.PHONE_NUMBER:
        number.status = "FLAGGED" if quality_effects(rating, scope).flagged else "CONNECTED"
    if rating.is_low != old.is_low:
        event = "FLAGGED" if rating.is_low else "UNFLAGGED"
        _notify_number(emulator, number, business, event, at=at)
        events.append(QualityEvent(event, number.id, rating.value))
    return events


def _evaluate_template(emulator: Emulator, template: Template, facts: _Facts) -> list[QualityEvent]:
    if template.deleted_at is not None or template.status not in ("APPROVED", "PAUSED"):
        return []
    at = facts.at
    since = at - QUALITY_LOOKBACK
    state = emulator.state
    numbers = [n.id for n in state.phone_numbers.values() if n.waba_id == template.waba_id]
    first_received: dict[str, datetime] = {}
    for number_id in numbers:
        for message in facts.sends(number_id, since):
            if (message.template_name, message.template_language) == (
                template.name,
                template.language,
            ):
                known = first_received.get(message.to)
                if known is None or message.accepted_at < known:
                    first_received[message.to] = message.accepted_at
    if not first_received:
        return []
    blocks = reports = 0
    for number_id in numbers:
        for moment, wa_id, kind in facts.feedback_by_number.get(number_id, []):
            received = first_received.get(wa_id)
            if received is not None and moment >= received:
                blocks += kind == "block"
                reports += kind == "report"
    rating = quality_from_feedback(
        unique_recipients=len(first_received), blocks=blocks, reports=reports
    )
    events: list[QualityEvent] = []
    if rating.value != template.quality_score:
        templates.set_quality(emulator, template, rating.value, at=at)
        events.append(QualityEvent("template_quality", template.id, rating.value))
    if rating.is_low and template.status == "APPROVED":
        events.append(_pause(emulator, template, at))
    return events


def _pause(emulator: Emulator, template: Template, at: datetime) -> QualityEvent:
    decision = template_pause_decision(template.pauses, at)
    template.pauses = decision.instance
    if decision.status is PauseStatus.DISABLED or decision.paused_until is None:
        templates.set_status(emulator, template, "DISABLED", at=at)
        return QualityEvent("template_status", template.id, "DISABLED")
    until = decision.paused_until
    hours = round((until - at).total_seconds() / 3600)
    template.paused_until = until
    info = TemplateOtherInfo(
        title=_PAUSE_TITLES[min(decision.instance, len(_PAUSE_TITLES)) - 1],
        description=f"Your WhatsApp message template has been paused for {hours} hours until "
        f"{until:%b %d at %I:%M %p} UTC because it had issues.",
    )
    templates.set_status(emulator, template, "PAUSED", at=at, other_info=info)

    schedule_job(
        emulator, UNPAUSE_JOB, until, {"template_id": template.id, "until": until, "hours": hours}
    )
    return QualityEvent("template_status", template.id, "PAUSED")


@job_handler(UNPAUSE_JOB)
def _unpause(emulator: Emulator, job: ScheduledJob) -> None:
    template = emulator.state.templates.get(job.payload["template_id"])
    until: datetime = job.payload["until"]
    if template is None or template.status != "PAUSED" or template.paused_until != until:
        return
    templates.set_status(
        emulator,
        template,
        "APPROVED",
        at=until,
        other_info=TemplateOtherInfo(
            title="UNPAUSE",
            description="Your WhatsApp message template is available again after "
            f"being paused for {job.payload['hours']} hours.",
        ),
    )


def _evaluate_business(emulator: Emulator, business: Business, facts: _Facts) -> list[QualityEvent]:
    try:
        tier = Tier.from_meta(business.messaging_limit)
    except UnknownTier:
        return []
    if tier is None:
        return []
    at = facts.at
    scope = limit_scope_at(at)
    numbers = _numbers_of(emulator.state, business.id)
    if not numbers:
        return []
    counted = facts.counted(number.id for number in numbers)
    quality = _worst(_rating(number.quality_rating) for number in numbers)
    events: list[QualityEvent] = []
    recipients = unique_recipients_in_window(counted, at, window=UPGRADE_LOOKBACK)
    scaling = _scaling_path_completed(business, counted, at)
    upgrade = next_tier(
        tier=tier,
        scope=scope,
        quality=quality,
        unique_recipients_last_7_days=recipients,
        now=at,
        scaling_path_completed=scaling,
        number_connected=any(number.status == "CONNECTED" for number in numbers),
    )
    target, effective_at = upgrade.next_tier, upgrade.effective_at
    if upgrade.eligible and target is not None and effective_at is not None:
        if effective_at <= at:
            events.append(_apply_upgrade(emulator, business, tier, target, at))
        elif not any(
            job.payload["business_id"] == business.id for job in pending_jobs(emulator, UPGRADE_JOB)
        ):
            # The volume behind the upgrade, for a check after a restart, which loses
            # the sends it was counted from (emulator.store).
            payload = {
                "business_id": business.id,
                "tier": tier.value,
                "recipients_7d": recipients,
                "scaling_path_completed": scaling,
            }
            schedule_job(emulator, UPGRADE_JOB, effective_at, payload)
    events.extend(_evaluate_throughput(emulator, business, numbers, facts))
    return events


@job_handler(UPGRADE_JOB)
def _upgrade_when_due(emulator: Emulator, job: ScheduledJob) -> None:
    business = emulator.state.businesses.get(job.payload["business_id"])
    tier = Tier(job.payload["tier"])
    effective_at = job.due_at
    if business is None or business.messaging_limit != tier.value:
        return  # changed meanwhile (by hand or another upgrade)
    # Meta applies an upgrade only if it still holds when it is due (rules.limits.next_tier).
    numbers = _numbers_of(emulator.state, business.id)
    if job.restored:
        # The sends before the restart are gone: the volume counted when it was scheduled.
        recipients = int(job.payload["recipients_7d"])
        scaling = bool(job.payload["scaling_path_completed"])
    else:
        counted = _facts(emulator.state, effective_at).counted(number.id for number in numbers)
        recipients = unique_recipients_in_window(counted, effective_at, window=UPGRADE_LOOKBACK)
        scaling = _scaling_path_completed(business, counted, effective_at)
    still = next_tier(
        tier=tier,
        scope=limit_scope_at(effective_at),
        quality=_worst(_rating(number.quality_rating) for number in numbers),
        unique_recipients_last_7_days=recipients,
        now=effective_at,
        scaling_path_completed=scaling,
        number_connected=any(number.status == "CONNECTED" for number in numbers),
    )
    if still.eligible and still.next_tier is not None:
        _apply_upgrade(emulator, business, tier, still.next_tier, effective_at)


def _scaling_path_completed(
    business: Business, counted: list[tuple[str, datetime, bool]], at: datetime
) -> bool:
    return (
        business.verified
        or unique_recipients_in_window(counted, at, window=VOLUME_PATH_WINDOW)
        >= VOLUME_PATH_RECIPIENTS
    )


def _apply_upgrade(
    emulator: Emulator, business: Business, old: Tier, new: Tier, at: datetime
) -> QualityEvent:
    business.messaging_limit = new.value
    business.tier_changed_at = at
    for number in _numbers_of(emulator.state, business.id):
        number.messaging_limit_tier = new.value
        _notify_number(emulator, number, business, "UPGRADE", at=at, old_limit=old.value)
    return QualityEvent("UPGRADE", business.id, new.value)


def _evaluate_throughput(
    emulator: Emulator, business: Business, numbers: list[PhoneNumber], facts: _Facts
) -> list[QualityEvent]:
    tier = Tier.from_meta(business.messaging_limit)
    if tier is None:
        return []
    events: list[QualityEvent] = []
    scope = limit_scope_at(facts.at)
    for number in numbers:
        if number.throughput_mps >= HIGH_THROUGHPUT_MPS:
            continue
        recipients = unique_recipients_in_window(facts.counted([number.id]), facts.at)
        if throughput_upgrade_eligible(
            tier=tier,
            scope=scope,
            quality=_rating(number.quality_rating),
            unique_recipients_last_24_hours=recipients,
        ):
            number.throughput_mps = HIGH_THROUGHPUT_MPS
            _notify_number(emulator, number, business, "THROUGHPUT_UPGRADE", at=facts.at)
            events.append(QualityEvent("THROUGHPUT_UPGRADE", number.id, str(HIGH_THROUGHPUT_MPS)))
    return events


# --- Control API ----------------------------------------------------------------------------

router = APIRouter(prefix="/_emulator", tags=["control"])


class QualityEventOut(BaseModel):
    kind: str
    subject_id: str
    value: str


class EvaluationOut(BaseModel):
    at: datetime
    events: list[QualityEventOut]


@router.post("/quality/evaluate")
async def evaluate_now(request: Request) -> EvaluationOut:
    """Run the quality, pause, tier and throughput evaluation now (it also runs hourly)."""
    emulator: Emulator = request.app.state.emulator
    at = emulator.clock.now()
    events = evaluate(emulator, at=at)
    return EvaluationOut(
        at=at,
        events=[
            QualityEventOut(kind=e.kind, subject_id=e.subject_id, value=e.value) for e in events
        ],
    )
