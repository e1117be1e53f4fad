"""The worker: send pipelines, webhook ingestion and timers, in one asyncio process.

``ovillo worker`` runs one; ``ovillo serve`` runs one inside the web app in the embedded
default. Any number of them cooperate through the database alone (design.md, "Processes"):
a number's pipeline runs under a lease so only one worker sends for it at a time, queued
rows are claimed in one statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and
``core.notify`` wakes them when work is committed. Nothing busy-polls: each loop waits
on its topic's `Waiter`, with a timeout as the safety net for a lost wake-up, a lease that
expires, or a retry whose time comes.

Loops:

- sends: finds numbers with due queued messages, takes each one's lease and runs its
  `SendPipeline` (many numbers at once);
- ingestion: applies the durable webhook log and downloads media
  (``ovillo.inbox.ingest.apply_pending_events``);
- timers: prune idempotency records older than 24 hours, wake snoozed conversations;
- imports: resumes contact imports whose process died, from their last committed batch
  (``ovillo.contacts.importing.resume_orphaned_imports``);
- campaigns: writes running campaigns' audiences and tops up their numbers' outboxes
  (``ovillo.campaigns.dispatch``); no lease, since a recipient is queued once whoever
  queues it, so a worker restarted after a crash goes on at once.

Sends left unanswered (a lost answer, a worker that died) are the number's pipeline's to
settle, under its lease: the sends loop counts them as due work once their grace period
has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog

from ovillo.campaigns import dispatch as campaign_dispatch
from ovillo.campaigns import service as campaigns_service
from ovillo.contacts import importing
from ovillo.core import idempotency
from ovillo.core.notify import Waiter
from ovillo.core.runtime import Runtime
from ovillo.inbox import outbox
from ovillo.templates import service as templates_service
from ovillo.templates import tasks as template_tasks
from ovillo.worker import timers
from ovillo.worker.leases import acquire_lease_token, release_lease
from ovillo.worker.sender import GLOBAL_IN_FLIGHT, LimitBook, SendPipeline

__all__ = ["INGEST_TOPIC", "TIMERS_LEASE", "Worker", "default_holder"]

log = structlog.get_logger(__name__)

INGEST_TOPIC = "ingest"
TIMERS_LEASE = "timers"
INGEST_LEASE = "ingest"

# The longest any loop sleeps without a wake-up.
SAFETY_INTERVAL_SECONDS = 2.0
TIMER_INTERVAL_SECONDS = 5.0


def default_holder() -> str:
    """A name for this worker, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker:
    """Runs the background work of one process until `stop`.

    ``holder`` names this worker in leases (unique per worker; a default is made up).
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        holder: str | None = None,
        safety_interval: float = SAFETY_INTERVAL_SECONDS,
        timer_interval: float = TIMER_INTERVAL_SECONDS,
        pipeline_idle_seconds: float = 2.0,
    ) -> None:
        self.runtime = runtime
        self.holder = holder or default_holder()
        self._safety_interval = safety_interval
        self._timer_interval = timer_interval
        self._pipeline_idle_seconds = pipeline_idle_seconds
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._waiters: list[Waiter] = []
        self._pipelines: dict[uuid.UUID, tuple[SendPipeline, asyncio.Task[None]]] = {}
        self._limit_book = LimitBook()
        self._global_slots = asyncio.Semaphore(GLOBAL_IN_FLIGHT)
        self._rng = random.Random()
        self._missing: set[str] = set()

    @property
    def running_pipelines(self) -> frozenset[uuid.UUID]:
        """The numbers this worker is sending for right now."""
        return frozenset(self._pipelines)

    async def run(self) -> None:
        """Run every loop until `stop` is called."""
        if self._running:
            raise RuntimeError("this worker is already running")
        self._running = True
        log.info("worker_started", holder=self.holder)
        loops = [
            asyncio.create_task(self._send_loop(), name="worker:sends"),
            asyncio.create_task(self._ingest_loop(), name="worker:ingest"),
            asyncio.create_task(self._timer_loop(), name="worker:timers"),
            asyncio.create_task(self._campaign_loop(), name="worker:campaigns"),
            asyncio.create_task(self._import_loop(), name="worker:imports"),
        ]
        try:
            stop = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait([stop, *loops], return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stop and task.exception() is not None:
                    log.error(
                        "worker_loop_crashed", loop=task.get_name(), exc_info=task.exception()
                    )
            self._stopping.set()
            for waiter in self._waiters:
                waiter.wake()
            await asyncio.gather(*loops, return_exceptions=True)
            stop.cancel()
        finally:
            for task in loops:
                task.cancel()
            await self._stop_pipelines()
            # Imports running in this process give their leases back, to be resumed later.
            await importing.stop_background_imports()
            self._stopped.set()
            log.info("worker_stopped", holder=self.holder)

    async def stop(self) -> None:
        """Stop claiming work, let sends on the wire finish, give leases back, return."""
        self._stopping.set()
        for waiter in self._waiters:
            waiter.wake()
        if self._running:
            await self._stopped.wait()

    # --- Sends -------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        async with Waiter(self.runtime, outbox.OUTBOX_TOPIC) as waiter:
            self._waiters.append(waiter)
            while not self._stopping.is_set():
                timeout = self._safety_interval
                try:
                    timeout = await self._start_due_pipelines()
                except Exception:
                    log.exception("send_discovery_failed")
                await waiter.wait(within=timeout)

    async def _start_due_pipelines(self) -> float:
        """Start pipelines for numbers with due work; seconds until the next look."""
        now = self.runtime.clock.now()
        async with self.runtime.sessionmaker() as session:
            due = await outbox.due_channel_ids(
                session=session,
                now=now,
                grace=timedelta(seconds=self.runtime.settings.worker.reconcile_after_seconds),
            )
            next_due = await outbox.next_due_at(session=session, now=now)
            await session.commit()
        for channel_id in due:
            running = self._pipelines.get(channel_id)
            if running is not None:
                running[0].poke()
                continue
            async with self.runtime.sessionmaker() as session:
                token = await acquire_lease_token(
                    session=session,
                    name=outbox.send_lease_name(channel_id),
                    holder=self.holder,
                    ttl_seconds=self.runtime.settings.worker.lease_seconds,
                    now=now,
                )
            if token is None or self._stopping.is_set():
                continue  # another worker sends for this number
            pipeline = SendPipeline(
                self.runtime,
                channel_id=channel_id,
                holder=self.holder,
                fencing_token=token,
                limit_book=self._limit_book,
                global_slots=self._global_slots,
                rng=self._rng,
                idle_seconds=self._pipeline_idle_seconds,
            )
            task = asyncio.create_task(pipeline.run(), name=f"send:{channel_id}")
            self._pipelines[channel_id] = (pipeline, task)
            task.add_done_callback(functools.partial(self._pipeline_done, channel_id))
        timeout = self._safety_interval
        if next_due is not None:
            timeout = min(timeout, max(0.01, (next_due - now).total_seconds()))
        return timeout

    def _pipeline_done(self, channel_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        current = self._pipelines.get(channel_id)
        if current is not None and current[1] is task:
            del self._pipelines[channel_id]
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "send_pipeline_crashed", channel_id=str(channel_id), exc_info=task.exception()
            )
        # Work may have arrived while it wound down: look again.
        for waiter in self._waiters:
            waiter.wake()

    async def _stop_pipelines(self) -> None:
        running = list(self._pipelines.values())
        for pipeline, _ in running:
            pipeline.stop()
        if running:
            await asyncio.gather(*(task for _, task in running), return_exceptions=True)

    # --- Ingestion ---------------------------------------------------------------------------

    def _optional(self, module: str, name: str) -> Callable[..., Awaitable[Any]] | None:
        """A function of another engineer's module, or None (once logged) until it exists."""
        try:
            found = getattr(__import__(module, fromlist=[name]), name, None)
        except ImportError:
            found = None
        if found is None and f"{module}.{name}" not in self._missing:
            self._missing.add(f"{module}.{name}")
            log.info("worker_task_unavailable", function=f"{module}.{name}")
        return found

    async def _ingest_loop(self) -> None:
        async with Waiter(self.runtime, INGEST_TOPIC) as waiter:
            self._waiters.append(waiter)
            while not self._stopping.is_set():
                busy = False
                apply_events = self._optional("ovillo.inbox.ingest", "apply_pending_events")
                if apply_events is not None:
                    try:
                        busy = bool(await apply_events(self.runtime, holder=self.holder))
                    except Exception:
                        log.exception("ingest_failed")
                if not busy:
                    await waiter.wait(within=self._safety_interval)

    # --- Campaigns ---------------------------------------------------------------------------

    async def _campaign_loop(self) -> None:
        async with Waiter(self.runtime, campaigns_service.CAMPAIGNS_TOPIC) as waiter:
            self._waiters.append(waiter)
            while not self._stopping.is_set():
                timeout = self._safety_interval
                try:
                    timeout = await campaign_dispatch.run_campaigns(
                        self.runtime, idle_interval=self._safety_interval
                    )
                except Exception:
                    log.exception("campaigns_failed")
                await waiter.wait(within=timeout)

    # --- Contact imports -----------------------------------------------------------------

    async def _import_loop(self) -> None:
        """Resume imports whose process died (or stopped), or fail those whose file is gone."""
        while not self._stopping.is_set():
            try:
                await importing.resume_orphaned_imports(self.runtime, holder=self.holder)
            except Exception:
                log.exception("contact_imports_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._timer_interval)

    # --- Timers ------------------------------------------------------------------------------

    async def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_timers()
            except Exception:
                log.exception("timers_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._timer_interval)
        async with self.runtime.sessionmaker() as session:
            with contextlib.suppress(Exception):
                await release_lease(session=session, name=TIMERS_LEASE, holder=self.holder)

    async def run_timers(self) -> bool:
        """One round of the periodic chores, if this worker holds the timers lease."""
        settings = self.runtime.settings.worker
        now = self.runtime.clock.now()
        async with self.runtime.sessionmaker() as session:
            token = await acquire_lease_token(
                session=session,
                name=TIMERS_LEASE,
                holder=self.holder,
                ttl_seconds=max(settings.lease_seconds, self._timer_interval * 3),
                now=now,
            )
            if token is None:
                return False
            await idempotency.do_prune_records(session=session, now=now)
            await timers.do_wake_snoozed_conversations(session=session, now=now)
            await templates_service.do_apply_parked_updates(session=session, now=now)
            await session.commit()
        # Calls Meta: in sessions of its own, none held across the network.
        await template_tasks.sync_due_templates(self.runtime, now=now)
        return True
