"""The one clock: controllable, forward-only, aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ovillo.core.clock import ControllableClock, SystemClock, ensure_aware_utc, wait_for

START = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is UTC


def test_frozen_clock_stands_still_until_advanced() -> None:
    clock = ControllableClock(START, frozen=True)
    assert clock.now() == START
    assert clock.now() == START
    assert clock.advance(timedelta(hours=24)) == START + timedelta(hours=24)
    assert clock.advance(30) == START + timedelta(hours=24, seconds=30)


def test_running_clock_moves_and_keeps_offsets() -> None:
    clock = ControllableClock(START)
    first = clock.now()
    assert first >= START
    clock.advance(timedelta(days=7))
    assert clock.now() >= first + timedelta(days=7)


def test_clock_never_moves_back() -> None:
    clock = ControllableClock(START, frozen=True)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="back"):
        clock.set(START - timedelta(seconds=1))
    clock.set(START + timedelta(hours=1))
    assert clock.now() == START + timedelta(hours=1)


def test_freeze_and_resume_keep_the_time_reached() -> None:
    clock = ControllableClock(START)
    clock.freeze()
    frozen_at = clock.now()
    assert clock.now() == frozen_at
    clock.resume()
    assert clock.now() >= frozen_at


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        ensure_aware_utc(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="naive"):
        ControllableClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
    offset = datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=-3)))
    assert ensure_aware_utc(offset) == datetime(2026, 1, 1, 12, tzinfo=UTC)


async def test_wait_for_returns_when_true_and_times_out_otherwise() -> None:
    state = {"calls": 0}

    def ready() -> bool:
        state["calls"] += 1
        return state["calls"] >= 3

    await wait_for(ready, within=1)
    assert state["calls"] == 3

    async def never() -> bool:
        return False

    with pytest.raises(TimeoutError, match="nothing"):
        await wait_for(never, within=0.05, what="nothing")
