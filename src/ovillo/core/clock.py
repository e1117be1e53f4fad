"""One clock for everything.

Every reading of "now" in the product goes through a ``Clock`` so that tests and demos can
move time forward (24-hour windows, 72-hour free entry points, 7-day tier upgrades, flow
delays) without sleeping. ``SystemClock`` is the real one; ``ControllableClock`` runs from a
start time at real speed and can be moved forward (never back: windows and statuses assume
time does not rewind).
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def ensure_aware_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is a bug, not a guess about its zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: every time in Ovillo is aware UTC")
    return moment.astimezone(UTC)


class ControllableClock:
    """A clock that can be frozen, moved forward, or left running from a chosen start.

    Thread-safe: the emulator and the platform read it from several threads.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._base = ensure_aware_utc(start) if start is not None else datetime.now(UTC)
        self._frozen = frozen
        self._anchor = time.monotonic()
        self._offset = timedelta()

    def now(self) -> datetime:
        with self._lock:
            elapsed = (
                timedelta() if self._frozen else timedelta(seconds=time.monotonic() - self._anchor)
            )
            return self._base + elapsed + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (seconds if a number) and return the new now."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta():
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += step
        return self.now()

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``, which must not be in the clock's past."""
        target = ensure_aware_utc(moment)
        current = self.now()
        if target < current:
            raise ValueError(f"cannot move the clock back from {current} to {target}")
        self.advance(target - current)

    def freeze(self) -> None:
        with self._lock:
            if not self._frozen:
                self._base += timedelta(seconds=time.monotonic() - self._anchor)
                self._frozen = True

    def resume(self) -> None:
        with self._lock:
            if self._frozen:
                self._anchor = time.monotonic()
                self._frozen = False


async def wait_for(
    condition: _Condition, *, within: float = 5.0, interval: float = 0.01, what: str = ""
) -> None:
    """Poll ``condition`` until it is true or ``within`` real seconds pass.

    For waiting on work done by another task or process (a webhook delivered, a message
    applied) with a deadline, instead of sleeping a fixed time.
    """
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {within}s waiting for {what or condition!r}")
        await asyncio.sleep(interval)


class _Condition(Protocol):
    def __call__(self) -> object: ...
