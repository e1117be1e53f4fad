"""A number's send pipeline: claim queued messages, check them, pace them, send them.

One pipeline per number at a time across every worker of a deployment: it runs only while
its worker holds the lease ``send:{channel_id}`` (renewed as it runs; a worker that dies
stops renewing and another takes over after the lease's time to live). Each round it:

1. claims the number's due queued messages in (priority, seq) order, moving them to
   ``sending`` (``inbox.outbox.claim_due_messages``, fenced by the lease);
2. checks Meta's rules first and fails fast, with Meta's own code and words, what Meta
   would refuse anyway: free-form outside the 24-hour window (131047), marketing to a
   contact who opted out (131050), a business-initiated send over the messaging limit
   (131048, as the emulator reports it);
3. paces to the number's throughput and each recipient's pair rate (`pacing.Pacer`) and
   sends, many in flight at once, with ``biz_opaque_callback_data`` = our message id;
   messages to one recipient leave one after the other, in order;
4. stores what came back, in batches: the wamid, a retry with backoff and jitter, or a
   failure with Meta's code, title and details.

Never twice: when a send may have reached Meta but no answer came back, the message stays
``sending`` and is not sent again until ``worker.reconcile_after_seconds`` have passed
without a status webhook naming it (ingestion reconciles it through
``biz_opaque_callback_data``), see ``inbox.outbox.do_requeue_unanswered``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.channels.models import Channel
from ovillo.cloudapi.client import CloudAPIClient
from ovillo.cloudapi.errors import (
    CloudAPIError,
    CloudAPIFailure,
    CloudAPITransportError,
    UnreadableResponseError,
    spec_for,
)
from ovillo.contacts.models import Contact
from ovillo.core.db import is_one_of, sqlite_write_gate
from ovillo.core.runtime import Runtime
from ovillo.inbox import outbox
from ovillo.inbox.models import Conversation, Direction, Message, MessageStatus
from ovillo.rules import limits, window
from ovillo.rules.throughput import (
    PAIR_RATE_ERROR_CODE,
    PAIR_RATE_PER_SECOND,
    THROUGHPUT_ERROR_CODE,
)
from ovillo.worker.leases import acquire_lease_token, release_lease
from ovillo.worker.pacing import Pacer
from ovillo.worker.retry import retry_decision

__all__ = [
    "MESSAGING_LIMIT_ERROR_CODE",
    "LimitBook",
    "Recipient",
    "RuleRefusal",
    "SendPipeline",
    "envelope",
    "failure_outcome",
    "rule_refusal",
]

log = structlog.get_logger(__name__)

REENGAGEMENT_ERROR_CODE = 131047
MARKETING_OPT_OUT_ERROR_CODE = 131050
# Meta documents no code of its own for a send over the messaging limit; 131048 ("there are
# restrictions on how many messages can be sent from this phone number") is the closest,
# and the one the emulator reports (emulator/messaging.py).
MESSAGING_LIMIT_ERROR_CODE = 131048

# Meta's wording of the failures we predict (Cloud API error codes page), so a message we
# refuse reads as the one Meta would have refused.
_META_DETAILS = {
    REENGAGEMENT_ERROR_CODE: "Message failed to send because more than 24 hours have passed "
    "since the customer last replied to this number.",
    MARKETING_OPT_OUT_ERROR_CODE: "Unable to deliver the message. This recipient has chosen "
    "to stop receiving marketing messages on WhatsApp from your business.",
    MESSAGING_LIMIT_ERROR_CODE: "Message failed to send because there are restrictions on "
    "how many messages can be sent from this phone number.",
}

# How long an idle pipeline waits for new work before it gives its lease back.
_IDLE_SECONDS = 2.0
# Enough sends in flight to keep the pace through 250 ms of latency, within bounds.
_MIN_IN_FLIGHT = 4
_MAX_IN_FLIGHT = 256
# The runtime's aiohttp pool holds 256 connections; keep a few for other Graph calls.
GLOBAL_IN_FLIGHT = 224
_WRITE_BATCH = 500


# --- Rules before sending (pure) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleRefusal:
    """Why Meta would refuse this send: its code, title and details."""

    code: int | None
    title: str
    detail: str


def _refusal(code: int, extra: str = "") -> RuleRefusal:
    spec = spec_for(code)
    title = spec.title if spec is not None else "Message refused"
    detail = _META_DETAILS.get(code, "")
    return RuleRefusal(code, title, f"{detail} {extra}".strip())


def rule_refusal(
    *,
    message_type: str,
    template_category: str | None,
    last_inbound_at: datetime | None,
    opt_outs: dict[str, str],
    limit_decision: limits.LimitDecision | None,
    now: datetime,
) -> RuleRefusal | None:
    """The rule a send breaks, in Meta's order, or None when it may go.

    ``limit_decision`` is the messaging-limit check of a business-initiated send (None when
    the send is inside a window or the tier is unknown).
    """
    is_template = message_type == "template"
    if not is_template and not window.free_form_allowed(last_inbound_at=last_inbound_at, now=now):
        return _refusal(
            REENGAGEMENT_ERROR_CODE,
            "Only an approved template may be sent until the customer writes again.",
        )
    if (
        is_template
        and (template_category or "").upper() == "MARKETING"
        and "marketing" in {category.lower() for category in opt_outs}
    ):
        return _refusal(MARKETING_OPT_OUT_ERROR_CODE)
    if limit_decision is not None and not limit_decision.allowed:
        frees = (
            f" A slot frees at {limit_decision.frees_at:%Y-%m-%d %H:%M:%S} UTC."
            if limit_decision.frees_at is not None
            else ""
        )
        return _refusal(
            MESSAGING_LIMIT_ERROR_CODE,
            f"The messaging limit of {limit_decision.limit} unique customers in a moving "
            f"24 hours is reached.{frees}",
        )
    return None


@dataclass(frozen=True, slots=True)
class Recipient:
    """What a send reads of its contact: the address and the opt-outs."""

    wa_id: str | None
    user_id: str | None
    opt_outs: dict[str, str]


def envelope(message: outbox.ClaimedMessage, contact: Recipient) -> dict[str, Any] | None:
    """The Cloud API request for ``message`` to ``contact``, or None without an address.

    ``biz_opaque_callback_data`` carries our message id: Meta echoes it in every status of
    this message, which is how a send whose answer was lost is matched later.
    """
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    if contact.wa_id:
        body["to"] = contact.wa_id
    elif contact.user_id:
        # A username user known only by a business-scoped user id (BSUID).
        body["recipient"] = contact.user_id
    else:
        return None
    body.update(message.content)
    body["biz_opaque_callback_data"] = str(message.id)
    return body


def failure_outcome(
    failure: CloudAPIFailure,
    *,
    seq: int,
    attempts: int,
    max_attempts: int,
    now: datetime,
    jitter: float,
) -> outbox.Outcome | None:
    """What to do with a message whose send raised ``failure``; None: wait for a status.

    - the request may have reached Meta and its answer is unknown (a broken connection, an
      unreadable 200): None, the message stays ``sending`` until reconciled or released;
    - retriable (5xx, rate limits, a connection that never opened): a retry with backoff,
      no sooner than the pair rate frees for 131056; a failure once attempts run out;
    - anything else: a failure with Meta's code, title and details.
    """
    if isinstance(failure, CloudAPITransportError) and failure.may_have_reached_meta:
        return None
    if isinstance(failure, UnreadableResponseError):
        return None
    code = failure.code if isinstance(failure, CloudAPIError) else None
    title = failure.title if isinstance(failure, CloudAPIError) else "WhatsApp unreachable"
    detail = (
        failure.details if isinstance(failure, CloudAPIError) else None
    ) or failure.explanation
    if failure.retriable:
        at_least = 1 / PAIR_RATE_PER_SECOND if code == PAIR_RATE_ERROR_CODE else 0.0
        decision = retry_decision(
            attempts=max(1, attempts),
            max_attempts=max_attempts,
            now=now,
            jitter=jitter,
            at_least=at_least,
        )
        if decision.retry_at is not None:
            return outbox.Retry(seq, decision.retry_at, code, title, detail)
    return outbox.Failed(seq, code, title, detail)


# --- Messaging-limit counts, per business ---------------------------------------------------


class LimitBook:
    """Unique business-initiated recipients per WABA in the last 24 h, kept incrementally.

    Loaded from the ``message`` table the first time a WABA's number sends in this worker,
    then kept up to date as this worker sends. Since October 2025 the limit belongs to the
    business portfolio; we know numbers' WABAs, not portfolios, so a WABA stands for its
    portfolio (a portfolio with several WABAs is counted per WABA: an under-count).
    """

    def __init__(self) -> None:
        self._windows: dict[str, limits.RecipientWindow] = {}
        self._lock = asyncio.Lock()

    async def window_for(
        self, *, session: AsyncSession, waba_id: str, now: datetime
    ) -> limits.RecipientWindow:
        async with self._lock:
            found = self._windows.get(waba_id)
            if found is None:
                found = await _load_recipient_window(session=session, waba_id=waba_id, now=now)
                self._windows[waba_id] = found
            return found


async def _load_recipient_window(
    *, session: AsyncSession, waba_id: str, now: datetime
) -> limits.RecipientWindow:
    since = now - limits.LIMIT_WINDOW
    rows = await session.execute(
        select(Contact.wa_id, Contact.user_id, Message.accepted_at, Message.pricing)
        .join(Contact, Contact.id == Message.contact_id)
        .join(Channel, Channel.id == Message.channel_id)
        .where(
            Channel.waba_id == waba_id,
            Message.direction == Direction.OUTBOUND,
            Message.type == "template",
            Message.accepted_at > since,
            Message.status != MessageStatus.FAILED,
        )
        .order_by(Message.accepted_at)
    )
    recipients = limits.RecipientWindow()
    for wa_id, user_id, accepted_at, pricing in rows:
        # A template answered inside a window is free and does not count (PMP pricing).
        in_window = isinstance(pricing, dict) and pricing.get("type") == "free_customer_service"
        key = wa_id or user_id
        if key and accepted_at is not None and not in_window:
            recipients.record(key, accepted_at)
    return recipients


# --- The pipeline ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    message: outbox.ClaimedMessage
    recipient: str
    request: dict[str, Any]


class LeaseLost(Exception):
    """Another worker holds this number's send lease now."""


class SendPipeline:
    """Sends one number's queued messages while its worker holds the number's lease.

    Built by the worker after it took the lease (``fencing_token``); `run` returns when the
    number has had no due work for a moment, when the lease is lost, or after `stop`.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        channel_id: uuid.UUID,
        holder: str,
        fencing_token: int,
        limit_book: LimitBook,
        global_slots: asyncio.Semaphore,
        rng: random.Random | None = None,
        idle_seconds: float = _IDLE_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.channel_id = channel_id
        self.holder = holder
        self.fencing_token = fencing_token
        self.lease_name = outbox.send_lease_name(channel_id)
        self._limit_book = limit_book
        self._global_slots = global_slots
        self._rng = rng or random.Random()
        self._idle_seconds = idle_seconds
        self._settings = runtime.settings.worker
        self._poked = asyncio.Event()
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_http: set[asyncio.Task[None]] = set()
        self._tails: dict[str, asyncio.Future[None]] = {}
        # Claimed messages whose fate is not stored yet: never "unanswered" to anyone else.
        self._held: set[int] = set()
        self._outcomes: asyncio.Queue[outbox.Outcome] = asyncio.Queue()
        self._phone_number_id = ""
        self._lease_renewed_at = time.monotonic()
        self.sent = 0

    def poke(self) -> None:
        """New work may be due: look now instead of at the next timeout."""
        self._poked.set()

    def stop(self) -> None:
        """Stop claiming; sends already on the wire finish, the rest go back to ``queued``."""
        self._stopping = True
        self._poked.set()

    def _now(self) -> datetime:
        return self.runtime.clock.now()

    def _write_turn(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """A turn at SQLite's one write lock, shared with the webhook log and ingestion.

        Writers of one process that meet at SQLite's lock poll it with sleeps of up to
        100 ms; taking turns in a FIFO first keeps the pipeline's claims and outcome writes
        flowing beside ingestion. No-op on PostgreSQL.
        """
        return sqlite_write_gate(self.runtime.engine)

    async def run(self) -> None:
        log.info("send_pipeline_started", channel_id=str(self.channel_id), holder=self.holder)
        writer = asyncio.create_task(self._write_outcomes(), name=f"outcomes:{self.channel_id}")
        try:
            await self._run()
        except LeaseLost:
            log.warning("send_lease_lost", channel_id=str(self.channel_id), holder=self.holder)
        finally:
            await self._drain()
            await self._outcomes.join()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            with contextlib.suppress(Exception):
                async with self.runtime.sessionmaker() as session:
                    await release_lease(session=session, name=self.lease_name, holder=self.holder)
            log.info(
                "send_pipeline_stopped",
                channel_id=str(self.channel_id),
                holder=self.holder,
                sent=self.sent,
            )

    async def _run(self) -> None:
        async with self.runtime.sessionmaker() as session:
            channel = await session.get(Channel, self.channel_id)
        if channel is None:
            return
        if channel.disconnected_at is not None:
            await self._fail_all_queued(
                title="Number disconnected",
                detail=f"The number {channel.display_phone_number} was disconnected; "
                "connect it again to send from it.",
            )
            return
        from ovillo.channels import service as channels_service

        self._phone_number_id = channel.phone_number_id
        client = channels_service.cloud_api_client(self.runtime, channel)
        pacer = Pacer(max(1, channel.throughput_mps))
        tier = limits.tier_or_none(channel.messaging_limit_tier)
        concurrency = min(_MAX_IN_FLIGHT, max(_MIN_IN_FLIGHT, math.ceil(pacer.current_rate / 4)))
        slots = asyncio.Semaphore(concurrency)
        renew_every = self._settings.lease_seconds / 3
        grace = timedelta(seconds=self._settings.reconcile_after_seconds)
        requeue_every = min(grace.total_seconds() / 4, 5.0)
        last_requeue = -math.inf
        idle_since: float | None = None
        while not self._stopping:
            if time.monotonic() - self._lease_renewed_at >= renew_every:
                await self._renew_lease()
            if time.monotonic() - last_requeue >= requeue_every:
                last_requeue = time.monotonic()
                await self._requeue_unanswered(grace)
            free = concurrency - len(self._tasks)
            # Claim in batches: a claim is a round trip to the one database writer, so
            # topping up one slot at a time would cap the pace at the claims per second.
            if free <= 0 or (self._tasks and free < max(1, concurrency // 4)):
                await self._wait_for_room(within=renew_every)
                continue
            self._poked.clear()
            jobs, refused = await self._claim(free, channel, tier)
            if refused:
                for outcome in refused:
                    self._record(outcome)
            if not jobs and not refused:
                if self._tasks:
                    await self._wait_for_room(within=renew_every)
                    continue
                now_mono = time.monotonic()
                idle_since = idle_since if idle_since is not None else now_mono
                remaining = self._idle_seconds - (now_mono - idle_since)
                if remaining <= 0:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poked.wait(), min(remaining, renew_every))
                continue
            idle_since = None
            for job in jobs:
                await slots.acquire()
                if self._stopping:
                    slots.release()
                    self._record(outbox.Released(job.message.seq))
                    continue
                task = asyncio.create_task(self._send(job, client, pacer))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                task.add_done_callback(lambda _task: slots.release())

    async def _renew_lease(self) -> None:
        async with self._write_turn(), self.runtime.sessionmaker() as session:
            token = await acquire_lease_token(
                session=session,
                name=self.lease_name,
                holder=self.holder,
                ttl_seconds=self._settings.lease_seconds,
                now=self._now(),
            )
        if token != self.fencing_token:
            raise LeaseLost(self.lease_name)
        self._lease_renewed_at = time.monotonic()

    def _lease_fresh(self) -> bool:
        # Past its time to live another worker may own the number: send nothing more.
        return time.monotonic() - self._lease_renewed_at < self._settings.lease_seconds

    async def _requeue_unanswered(self, grace: timedelta) -> None:
        async with self._write_turn(), self.runtime.sessionmaker() as session:
            await outbox.do_requeue_unanswered(
                session=session,
                now=self._now(),
                grace=grace,
                max_attempts=self._settings.max_attempts,
                channel_id=self.channel_id,
                held=self._held,
            )
            await session.commit()

    async def _wait_for_room(self, *, within: float) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within, return_when="FIRST_COMPLETED")

    async def _claim(
        self, limit: int, channel: Channel, tier: limits.Tier | None
    ) -> tuple[list[_Job], list[outbox.Outcome]]:
        now = self._now()
        async with self._write_turn(), self.runtime.sessionmaker() as session:
            claimed = await outbox.claim_due_sends(
                session=session,
                channel_id=self.channel_id,
                now=now,
                limit=limit,
                lease_holder=self.holder,
                fencing_token=self.fencing_token,
            )
            if not claimed:
                await session.commit()
                return [], []
            self._held.update(message.seq for message in claimed)
            # Only the columns the rules and the request read: loading whole rows of
            # hundreds of conversations and contacts per claim cost more than the claim.
            last_inbound: dict[uuid.UUID, datetime | None] = {
                conversation_id: last_inbound_at
                for conversation_id, last_inbound_at in await session.execute(
                    select(Conversation.id, Conversation.last_inbound_at).where(
                        is_one_of(session, Conversation.id, {m.conversation_id for m in claimed})
                    )
                )
            }
            contacts = {
                contact_id: Recipient(wa_id, user_id, opt_outs or {})
                for contact_id, wa_id, user_id, opt_outs in await session.execute(
                    select(Contact.id, Contact.wa_id, Contact.user_id, Contact.opt_outs).where(
                        is_one_of(session, Contact.id, {m.contact_id for m in claimed})
                    )
                )
            }
            recipients = (
                await self._limit_book.window_for(session=session, waba_id=channel.waba_id, now=now)
                if tier is not None
                else None
            )
            await session.commit()
        jobs: list[_Job] = []
        refused: list[outbox.Outcome] = []
        for message in claimed:
            contact = contacts.get(message.contact_id)
            request = envelope(message, contact) if contact is not None else None
            if request is None or contact is None:
                refused.append(
                    outbox.Failed(
                        message.seq,
                        None,
                        "No WhatsApp address",
                        "The contact has neither a WhatsApp number (wa_id) nor a user id.",
                    )
                )
                continue
            recipient = contact.wa_id or contact.user_id or ""
            last_inbound_at = last_inbound.get(message.conversation_id)
            decision = None
            outside_window = not window.window_open(last_inbound_at=last_inbound_at, now=now)
            if recipients is not None and tier is not None and message.type == "template":
                decision = recipients.check(
                    tier=tier, recipient=recipient, now=now, outside_window=outside_window
                )
            refusal = rule_refusal(
                message_type=message.type,
                template_category=message.template_category,
                last_inbound_at=last_inbound_at,
                opt_outs=contact.opt_outs,
                limit_decision=decision,
                now=now,
            )
            if refusal is not None:
                log.info(
                    "message_refused_by_rules",
                    message_id=str(message.id),
                    error_code=refusal.code,
                )
                refused.append(
                    outbox.Failed(message.seq, refusal.code, refusal.title, refusal.detail)
                )
                continue
            if recipients is not None and decision is not None and decision.counts:
                # Counted when it leaves, so the next check already sees it.
                recipients.record(recipient, now, outside_window=outside_window)
            jobs.append(_Job(message, recipient, request))
        return jobs, refused

    async def _send(self, job: _Job, client: CloudAPIClient, pacer: Pacer) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        previous = self._tails.get(job.recipient)
        self._tails[job.recipient] = done
        task = asyncio.current_task()
        try:
            try:
                if previous is not None:
                    # Messages to one person leave in order: wait for the one before.
                    await asyncio.shield(previous)
                await pacer.acquire(job.recipient)
            except asyncio.CancelledError:
                self._record(outbox.Released(job.message.seq))
                raise
            if self._stopping or not self._lease_fresh():
                self._record(outbox.Released(job.message.seq))
                return
            assert task is not None
            self._in_http.add(task)
            try:
                async with self._global_slots:
                    response = await client.send_message(self._phone_number_id, job.request)
            except CloudAPIFailure as failure:
                self._on_failure(job, failure, pacer)
            except Exception:
                # A bug of ours, not Meta's answer: whether it left is unknown, so the
                # message waits in `sending` for a status or the grace period.
                log.exception("message_send_crashed", message_id=str(job.message.id))
                self._record(outbox.Unanswered(job.message.seq))
            else:
                pacer.accepted()
                self.sent += 1
                self._record(outbox.Accepted(job.message.seq, response.wamid))
            finally:
                self._in_http.discard(task)
        finally:
            if not done.done():
                done.set_result(None)
            if self._tails.get(job.recipient) is done:
                del self._tails[job.recipient]

    def _on_failure(self, job: _Job, failure: CloudAPIFailure, pacer: Pacer) -> None:
        code = failure.code if isinstance(failure, CloudAPIError) else None
        if code == THROUGHPUT_ERROR_CODE:
            pacer.slow_down()
        elif code == PAIR_RATE_ERROR_CODE:
            pacer.recipient_saturated(job.recipient)
        outcome = failure_outcome(
            failure,
            seq=job.message.seq,
            attempts=job.message.attempts,
            max_attempts=self._settings.max_attempts,
            now=self._now(),
            jitter=self._rng.random(),
        )
        if outcome is None:
            log.warning(
                "message_send_unanswered",
                message_id=str(job.message.id),
                reason=str(failure),
            )
            self._record(outbox.Unanswered(job.message.seq))
            return
        log.info(
            "message_send_failed",
            message_id=str(job.message.id),
            error_code=code,
            retry=isinstance(outcome, outbox.Retry),
        )
        self._record(outcome)

    def _record(self, outcome: outbox.Outcome) -> None:
        self._outcomes.put_nowait(outcome)

    async def _write_outcomes(self) -> None:
        while True:
            first = await self._outcomes.get()
            batch = [first]
            while len(batch) < _WRITE_BATCH:
                try:
                    batch.append(self._outcomes.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self._store(batch)
            finally:
                for outcome in batch:
                    self._held.discard(outcome.seq)
                    self._outcomes.task_done()

    async def _store(self, batch: Sequence[outbox.Outcome]) -> None:
        # An accepted send must not be forgotten (it would be sent again after the grace
        # period): keep trying through a database hiccup.
        delay = 0.05
        while True:
            try:
                async with self._write_turn(), self.runtime.sessionmaker() as session:
                    now = self._now()
                    wamids = await outbox.do_apply_outcomes(
                        session=session, outcomes=batch, now=now
                    )
                    apply_pending = _pending_status_applier()
                    if apply_pending is not None:
                        waiting = await outbox.wamids_with_pending_statuses(
                            session=session, wamids=wamids
                        )
                        for wamid in waiting:
                            await apply_pending(session=session, wamid=wamid)
                    await session.commit()
                return
            except Exception:
                log.exception("send_outcomes_not_stored", count=len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _drain(self) -> None:
        """Let sends on the wire finish; release claimed messages that had not left."""
        for task in list(self._tasks):
            if task not in self._in_http:
                task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _fail_all_queued(self, *, title: str, detail: str) -> None:
        while True:
            async with self.runtime.sessionmaker() as session:
                claimed = await outbox.claim_due_messages(
                    session=session,
                    channel_id=self.channel_id,
                    now=self._now(),
                    limit=500,
                    lease_holder=self.holder,
                    fencing_token=self.fencing_token,
                )
                if not claimed:
                    await session.commit()
                    return
                await outbox.do_apply_outcomes(
                    session=session,
                    outcomes=[outbox.Failed(m.seq, None, title, detail) for m in claimed],
                    now=self._now(),
                )
                await session.commit()


def _pending_status_applier() -> Any:
    """The ingestion's ``do_apply_pending_statuses(session=, wamid=)``, once it exists."""
    try:
        from ovillo.inbox import ingest
    except ImportError:
        return None
    return getattr(ingest, "do_apply_pending_statuses", None)
