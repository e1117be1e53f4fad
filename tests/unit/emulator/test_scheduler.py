"""The emulator's scheduler: actions run in due order, on time, however they were added."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from ovillo.core.clock import ControllableClock
from ovillo.emulator.scheduler import Scheduler


async def test_an_earlier_action_added_while_napping_runs_on_time() -> None:
    scheduler = Scheduler(ControllableClock())
    ran: list[str] = []
    early = asyncio.Event()
    scheduler.after(0.8, lambda: ran.append("late"))
    scheduler.start()
    await asyncio.sleep(0.05)  # the clock task now naps until the late action is due

    def soon() -> None:
        ran.append("soon")
        early.set()

    scheduler.after(0.05, soon)
    try:
        await asyncio.wait_for(early.wait(), timeout=0.5)
    finally:
        await scheduler.stop()
    assert ran == ["soon"]


async def test_a_later_action_does_not_delay_an_earlier_one() -> None:
    scheduler = Scheduler(ControllableClock())
    done = asyncio.Event()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        done.set()

    scheduler.after(0.1, first)
    scheduler.start()
    for seconds in (5, 3, 4):
        scheduler.after(seconds, lambda: ran.append("later"))
    try:
        await asyncio.wait_for(done.wait(), timeout=0.6)
    finally:
        await scheduler.stop()
    assert ran == ["first"]
    assert scheduler.pending() == 3


async def test_advancing_a_frozen_clock_runs_everything_due_in_order() -> None:
    clock = ControllableClock(frozen=True)
    start = clock.now()
    scheduler = Scheduler(clock)
    ran: list[str] = []

    def then_more() -> None:
        ran.append("b")
        # Due within the same advance: runs in this pass, in due order with the rest.
        scheduler.at(start + timedelta(seconds=1.5), lambda: ran.append("d"))

    async def async_action() -> None:
        ran.append("c")

    scheduler.after(3, async_action)
    scheduler.after(1, then_more)
    scheduler.after(0.2, lambda: ran.append("a"))
    scheduler.after(60, lambda: ran.append("not yet"))
    clock.advance(timedelta(seconds=5))
    assert await scheduler.run_due() == 4
    assert ran == ["a", "b", "d", "c"]
    assert scheduler.pending() == 1


async def test_a_failing_action_does_not_stop_the_others() -> None:
    clock = ControllableClock(frozen=True)
    scheduler = Scheduler(clock)
    ran: list[int] = []

    def broken() -> None:
        raise RuntimeError("boom")

    scheduler.after(1, broken)
    scheduler.after(2, lambda: ran.append(2))
    clock.advance(3)
    assert await scheduler.run_due() == 2
    assert ran == [2]
