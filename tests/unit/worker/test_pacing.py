"""The pacer: never more than the cap in any one-second window, pair rate per recipient.

The tests run the pacer on an event loop in virtual time: the loop's clock is the pacer's
``monotonic``, and when every task sleeps the loop jumps to the next timer instead of
waiting. What is measured is then the pacer's own decisions, the same on any machine
however loaded, and a test of several virtual seconds takes milliseconds.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from ovillo.rules.throughput import PairRateLimiter
from ovillo.worker.pacing import Pacer

T = TypeVar("T")


class _VirtualClock:
    def __init__(self) -> None:
        self.now = 1000.0


class _VirtualSelector(selectors.DefaultSelector):
    """Polls without blocking; a wait for a timer moves the clock to it instead."""

    def __init__(self, clock: _VirtualClock) -> None:
        super().__init__()
        self._clock = clock

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise AssertionError("every task waits and no timer is set: the test would hang")
        self._clock.now += max(0.0, timeout)
        return super().select(0)


class _VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: _VirtualClock) -> None:
        super().__init__(_VirtualSelector(clock))
        self._virtual_clock = clock

    def time(self) -> float:
        return self._virtual_clock.now


def _run_in_virtual_time(main: Callable[[Callable[[], float]], Coroutine[Any, Any, T]]) -> T:
    """Run ``main(monotonic)`` to the end in virtual time; ``monotonic`` reads that time."""
    clock = _VirtualClock()
    with asyncio.Runner(loop_factory=lambda: _VirtualTimeLoop(clock)) as runner:
        return runner.run(main(lambda: clock.now))


def _max_in_window(times: list[float], span: float = 1.0) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < span) for i, start in enumerate(times))


def test_virtual_time_moves_only_by_sleeping() -> None:
    async def main(monotonic: Callable[[], float]) -> tuple[float, float]:
        start = monotonic()
        await asyncio.sleep(0)
        unchanged = monotonic() - start
        await asyncio.gather(asyncio.sleep(2.5), asyncio.sleep(1.0))
        return unchanged, monotonic() - start

    assert _run_in_virtual_time(main) == (0.0, pytest.approx(2.5))


@pytest.mark.parametrize("mps", [5, 40, 200])
def test_no_one_second_window_holds_more_than_the_cap(mps: int) -> None:
    async def main(monotonic: Callable[[], float]) -> list[float]:
        pacer = Pacer(mps, monotonic=monotonic)
        times: list[float] = []

        async def send(i: int) -> None:
            await pacer.acquire(f"r{i % 50}")
            times.append(monotonic())

        await asyncio.gather(*(send(i) for i in range(int(mps * 1.6) + 2)))
        return times

    times = _run_in_virtual_time(main)

    assert len(times) == int(mps * 1.6) + 2
    assert _max_in_window(times) <= mps
    # ...and it is not idle either: most of the cap is used.
    elapsed = max(times) - min(times)
    assert (len(times) - 1) / elapsed > mps * 0.75


def test_a_recipient_over_its_pair_rate_waits_and_others_do_not() -> None:
    async def main(monotonic: Callable[[], float]) -> tuple[float, dict[str, list[float]]]:
        pacer = Pacer(100, pair_limiter=PairRateLimiter(rate=2.0, burst=2.0), monotonic=monotonic)
        times: dict[str, list[float]] = {"busy": [], "other": []}

        async def send(recipient: str) -> None:
            await pacer.acquire(recipient)
            times[recipient].append(monotonic())

        start = monotonic()
        await asyncio.gather(*(send("busy") for _ in range(4)), send("other"))
        return start, times

    start, times = _run_in_virtual_time(main)

    # Burst of two, then one every half second.
    busy = [t - start for t in times["busy"]]
    assert len(busy) == 4
    assert busy == pytest.approx([0.0, 0.0, 0.5, 1.0], abs=1e-6)
    # The other recipient, asked for after all four, leaves at once: ahead of the busy
    # recipient's third, not behind it.
    other = times["other"][0] - start
    assert other < 0.2
    assert other < busy[2]


async def test_slowing_down_halves_the_pace_and_accepted_sends_restore_it() -> None:
    pacer = Pacer(80)
    pacer.slow_down()
    assert pacer.current_rate == pytest.approx(40)
    for _ in range(200):
        pacer.accepted()
    assert pacer.current_rate == pytest.approx(80)
