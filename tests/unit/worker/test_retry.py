"""Backoff with jitter: the laws of `worker.retry`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.worker.retry import backoff_seconds, retry_decision

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
attempts = st.integers(min_value=1, max_value=10_000)
jitter = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)


@given(attempts, jitter)
def test_the_delay_stays_between_half_the_step_and_the_step(n: int, draw: float) -> None:
    step = min(300.0, 2.0 ** min(n - 1, 64))
    assert step / 2 <= backoff_seconds(n, jitter=draw) <= step


@given(attempts, jitter, jitter)
def test_a_later_attempt_never_waits_less_than_half_an_earlier_ones_step(
    n: int, first: float, second: float
) -> None:
    # The floor (half the step) never drops, whatever the draws.
    assert backoff_seconds(n + 1, jitter=second) >= backoff_seconds(n, jitter=0.0)


@given(attempts, jitter)
def test_the_cap_holds(n: int, draw: float) -> None:
    assert backoff_seconds(n, jitter=draw, cap=60.0) <= 60.0


@pytest.mark.parametrize(
    ("attempts", "draw", "expected"),
    [(1, 0.0, 0.5), (1, 0.5, 0.75), (2, 0.0, 1.0), (4, 0.0, 4.0), (20, 0.0, 150.0)],
)
def test_table(attempts: int, draw: float, expected: float) -> None:
    assert backoff_seconds(attempts, jitter=draw) == pytest.approx(expected)


@pytest.mark.parametrize(("attempts", "draw"), [(0, 0.5), (1, 1.0), (1, -0.1)])
def test_nonsense_is_refused(attempts: int, draw: float) -> None:
    with pytest.raises(ValueError, match=r"attempt|jitter"):
        backoff_seconds(attempts, jitter=draw)


@given(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=50), jitter)
def test_retries_stop_when_attempts_run_out(n: int, most: int, draw: float) -> None:
    decision = retry_decision(attempts=n, max_attempts=most, now=NOW, jitter=draw)
    assert decision.should_retry == (n < most)
    if decision.retry_at is not None:
        assert decision.retry_at > NOW


@given(attempts, jitter, st.floats(min_value=0, max_value=1000))
def test_a_delay_the_failure_asks_for_is_respected(n: int, draw: float, at_least: float) -> None:
    decision = retry_decision(
        attempts=n, max_attempts=n + 1, now=NOW, jitter=draw, at_least=at_least
    )
    assert decision.retry_at is not None
    assert decision.retry_at >= NOW + timedelta(seconds=at_least) - timedelta(microseconds=1)
