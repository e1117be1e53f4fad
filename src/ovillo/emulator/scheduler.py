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
        heapq.heappush(self._heap, (when, next(self._sequence), action))
        self._idle.clear()
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
        while self._heap and self._heap[0][0] <= self._clock.now():
            _, _, action = heapq.heappop(self._heap)
            try:
                result = action()
                if result is not None:
                    await result
            except Exception:  # one broken action must not stop the world
                log.exception("scheduled_action_failed")
            ran += 1
        if not self._heap:
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
        while True:
            await self.run_due()
            self._wake.clear()
            nap = MAX_NAP_SECONDS
            if self._heap:
                until_due = (self._heap[0][0] - self._clock.now()).total_seconds()
                nap = max(0.0, min(nap, until_due))
            if nap > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=nap)
            else:
                await asyncio.sleep(0)
