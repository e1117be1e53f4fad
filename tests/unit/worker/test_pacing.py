"""The pacer: never more than the cap in any one-second window, pair rate per recipient."""

from __future__ import annotations

import asyncio
import time

import pytest

from ovillo.rules.throughput import PairRateLimiter
from ovillo.worker.pacing import Pacer


def _max_in_window(times: list[float], span: float = 1.0) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start < span) for i, start in enumerate(times))


@pytest.mark.parametrize("mps", [5, 40, 200])
async def test_no_one_second_window_holds_more_than_the_cap(mps: int) -> None:
    pacer = Pacer(mps)
    times: list[float] = []

    async def send(i: int) -> None:
        await pacer.acquire(f"r{i % 50}")
        times.append(time.monotonic())

    await asyncio.gather(*(send(i) for i in range(int(mps * 1.6) + 2)))

    assert _max_in_window(times) <= mps
    # ...and it is not idle either: most of the cap is used.
    elapsed = max(times) - min(times)
    assert (len(times) - 1) / elapsed > mps * 0.75


async def test_a_recipient_over_its_pair_rate_waits_and_others_do_not() -> None:
    pacer = Pacer(100, pair_limiter=PairRateLimiter(rate=2.0, burst=2.0))
    times: dict[str, list[float]] = {"busy": [], "other": []}

    async def send(recipient: str) -> None:
        await pacer.acquire(recipient)
        times[recipient].append(time.monotonic())

    start = time.monotonic()
    await asyncio.gather(*(send("busy") for _ in range(4)), send("other"))

    # Burst of two, then one every half second.
    assert times["busy"][-1] - start >= 0.9
    assert times["other"][0] - start < 0.2


async def test_slowing_down_halves_the_pace_and_accepted_sends_restore_it() -> None:
    pacer = Pacer(80)
    pacer.slow_down()
    assert pacer.current_rate == pytest.approx(40)
    for _ in range(200):
        pacer.accepted()
    assert pacer.current_rate == pytest.approx(80)
