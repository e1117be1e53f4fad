"""The sign-in throttle as a pure rule: when an email may try again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ovillo.accounts.service import (
    SIGN_IN_FAILURE_WINDOW,
    SIGN_IN_MAX_FAILURES,
    sign_in_retry_at,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_four_recent_failures_do_not_throttle() -> None:
    failures = [NOW - timedelta(minutes=minute) for minute in range(4)]
    assert sign_in_retry_at(failures=failures, now=NOW) is None


def test_the_fifth_throttles_until_the_oldest_of_the_five_leaves_the_window() -> None:
    failures = [NOW - timedelta(minutes=minute) for minute in (0, 1, 2, 3, 10)]
    assert sign_in_retry_at(failures=failures, now=NOW) == NOW - timedelta(minutes=10) + (
        SIGN_IN_FAILURE_WINDOW
    )


def test_failures_older_than_the_window_do_not_count() -> None:
    failures = [NOW - SIGN_IN_FAILURE_WINDOW - timedelta(seconds=1)] * 10
    assert sign_in_retry_at(failures=failures, now=NOW) is None


# The rule is microseconds; on a loaded CI machine (three pytest workers on two cores)
# generating examples can still exceed Hypothesis's time budgets, which test nothing here.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.integers(min_value=0, max_value=int(SIGN_IN_FAILURE_WINDOW.total_seconds()) * 2),
        max_size=20,
    )
)
def test_a_throttled_email_may_try_again_at_the_time_given(ages: list[int]) -> None:
    failures = [NOW - timedelta(seconds=age) for age in ages]
    retry_at = sign_in_retry_at(failures=failures, now=NOW)
    recent = [at for at in failures if at > NOW - SIGN_IN_FAILURE_WINDOW]
    assert (retry_at is not None) == (len(recent) >= SIGN_IN_MAX_FAILURES)
    if retry_at is not None:
        assert retry_at > NOW
        assert sign_in_retry_at(failures=failures, now=retry_at) is None
