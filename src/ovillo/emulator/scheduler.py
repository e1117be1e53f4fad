"""Things that happen later on the emulator's clock: statuses, replies, reviews, retries.

A heap of (due time, sequence, action). One task runs what is due, sleeping in real time
until the next due moment; moving the clock forward wakes it, so a test that advances the
clock by a day sees a day's events happen at once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog

from ovillo.core.clock import Clock

log = structlog.get_logger(__name__)

Action = Callable[[], Awaitable[None] | None]

# Never sleep longer than this in one go, so a clock that runs at real speed is re-read.
MAX_NAP_SECONDS = 1.0


class Scheduler:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._heap: list[tuple[datetime, int, Action]] = []
        self._sequence = itertools.count()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    def at(self, when: datetime, action: Action) -> None:
        """Run ``action`` once the clock reaches ``when``."""
        entry = (when, next(self._sequence), action)
        heapq.heappush(self._heap, entry)
        self._idle.clear()
        # Only a new earliest action changes when the clock task must wake; waking it for
        # every status of a 1,000 messages/s campaign cost more than running them.
        if self._heap[0] is entry:
            self._wake.set()

    def after(self, delay: timedelta | float, action: Action) -> None:
        step = delay if isinstance(delay, timedelta) else timedelta(seconds=delay)
        self.at(self._clock.now() + step, action)

    def poke(self) -> None:
        """Re-read the clock now (after it was moved)."""
        self._wake.set()

    def pending(self) -> int:
        return len(self._heap)

    def next_due(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    async def run_due(self) -> int:
        """Run every action due by now, in order; returns how many ran."""
        ran = 0
        heap = self._heap
        # The clock is read once per batch, not once per action: every action due at the
        # first reading runs, then the clock is read again for what came due meanwhile.
        now = self._clock.now()
        while heap and heap[0][0] <= now:
            while heap and heap[0][0] <= now:
                _, _, action = heapq.heappop(heap)
                try:
                    result = action()
                    if result is not None:
                        await result
                except Exception:  # one broken action must not stop the world
                    log.exception("scheduled_action_failed")
                ran += 1
            now = self._clock.now()
        if not heap:
            self._idle.set()
        return ran

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="emulator-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def clear(self) -> None:
        self._heap.clear()
        self._idle.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.run_due()
            self._wake.clear()
            nap = MAX_NAP_SECONDS
            if self._heap:
                until_due = (self._heap[0][0] - self._clock.now()).total_seconds()
                nap = max(0.0, min(nap, until_due))
            if nap > 0:
                # A timer that sets the event, not `wait_for`, which makes a task per nap.
                alarm = loop.call_later(nap, self._wake.set)
                try:
                    await self._wake.wait()
                finally:
                    alarm.cancel()
            else:
                await asyncio.sleep(0)
