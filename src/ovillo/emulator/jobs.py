"""Scheduled work that survives a restart: kept as data in the state, armed on the clock.

The scheduler holds closures, which no file can keep. Work a restart must not lose (a
template's pending review, the end of a template's pause, a tier upgrade waiting for its
moment, a simulated customer's next message) is scheduled here instead: a `ScheduledJob`
(kind, due time, JSON-able payload) goes into ``EmulatorState.jobs``, which the store
persists, and the scheduler runs it when due through the handler registered for its kind.
A restarted emulator arms every saved job again when it starts; one already overdue runs
at once. Message statuses and webhook retries are not jobs: the messages they belong to
are not persisted (emulator.store).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from ovillo.emulator.emulator import START_HOOKS
from ovillo.emulator.state import ScheduledJob

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

log = structlog.get_logger(__name__)

JobHandler = Callable[["Emulator", ScheduledJob], None]
_HANDLERS: dict[str, JobHandler] = {}


def job_handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the function that runs jobs of ``kind`` when they are due."""

    def register(handler: JobHandler) -> JobHandler:
        if kind in _HANDLERS and _HANDLERS[kind] is not handler:
            raise RuntimeError(f"two handlers for scheduled jobs of kind {kind!r}")
        _HANDLERS[kind] = handler
        return handler

    return register


def schedule_job(
    emulator: Emulator, kind: str, due_at: datetime, payload: dict[str, Any] | None = None
) -> ScheduledJob:
    """Run the ``kind`` handler with ``payload`` at ``due_at``, across restarts."""
    if kind not in _HANDLERS:
        raise ValueError(f"no handler for scheduled jobs of kind {kind!r}")
    job = ScheduledJob(
        id="job-" + secrets.token_hex(8), kind=kind, due_at=due_at, payload=payload or {}
    )
    state = emulator.state
    state.jobs[job.id] = job
    state.dirty.add(("job", job.id))
    _arm(emulator, job)
    return job


def pending_jobs(emulator: Emulator, kind: str) -> list[ScheduledJob]:
    return [job for job in emulator.state.jobs.values() if job.kind == kind]


def _arm(emulator: Emulator, job: ScheduledJob) -> None:
    state = emulator.state

    def run() -> None:
        # Gone: run already (a job armed twice runs once) or the emulator was reset.
        if emulator.state is not state or state.jobs.get(job.id) is not job:
            return
        del state.jobs[job.id]
        state.dirty.add(("job", job.id))
        handler = _HANDLERS.get(job.kind)
        if handler is None:
            log.warning("scheduled_job_unknown_kind", kind=job.kind, job_id=job.id)
            return
        handler(emulator, job)

    emulator.scheduler.at(job.due_at, run)


def resume(emulator: Emulator) -> None:
    """Arm every job of the state (those a restarted emulator loaded), earliest first."""
    for job in sorted(emulator.state.jobs.values(), key=lambda job: job.due_at):
        _arm(emulator, job)


START_HOOKS.append(resume)
