"""Token buckets for throughput (130429) and pair rate (131056)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.rules.throughput import (
    COEXISTENCE_MPS,
    HIGH_MPS,
    PAIR_BURST,
    PAIR_RATE_PER_SECOND,
    STANDARD_MPS,
    PairRateLimiter,
    ThroughputLevel,
    TokenBucket,
    messages_per_second,
    number_bucket,
)


@pytest.mark.parametrize(
    ("level", "coexistence", "mps"),
    [
        (ThroughputLevel.STANDARD, False, 80.0),
        (ThroughputLevel.HIGH, False, 1000.0),
        ("HIGH", False, 1000.0),
        (ThroughputLevel.NOT_APPLICABLE, False, 80.0),
        (ThroughputLevel.STANDARD, True, 20.0),
        (ThroughputLevel.HIGH, True, 20.0),
    ],
)
def test_messages_per_second(level: ThroughputLevel | str, coexistence: bool, mps: float) -> None:
    assert messages_per_second(level, coexistence=coexistence) == mps
    assert number_bucket(level, coexistence=coexistence) == TokenBucket(rate=mps, burst=mps)


def test_documented_defaults() -> None:
    assert (STANDARD_MPS, HIGH_MPS, COEXISTENCE_MPS) == (80.0, 1000.0, 20.0)
    assert math.isclose(PAIR_RATE_PER_SECOND * 6, 1.0)
    assert PAIR_BURST == 45.0


def test_a_number_sends_its_rate_in_a_second_and_no_more() -> None:
    bucket = number_bucket()
    granted = 0
    for _ in range(100):
        allowed, bucket = bucket.try_take(10.0)
        granted += allowed

    assert granted == 80
    assert bucket.wait_time(10.0) == pytest.approx(1 / 80)
    assert bucket.try_take(11.0, 80).allowed


def test_a_refused_take_costs_nothing() -> None:
    _, bucket = TokenBucket(rate=1, burst=2).try_take(0.0, 2)
    allowed, after = bucket.try_take(0.5)

    assert not allowed
    assert after.available(1.0) == pytest.approx(bucket.available(1.0))


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1, 0), (1, -3), (1, math.inf)],
)
def test_a_bucket_needs_a_positive_finite_rate_and_burst(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate=rate, burst=burst)


@pytest.mark.parametrize("n", [0, -1, math.nan, math.inf])
def test_taking_needs_a_positive_amount(n: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(rate=1, burst=1).try_take(0.0, n)


def test_more_than_the_burst_is_never_granted() -> None:
    bucket = TokenBucket(rate=1, burst=3)

    assert bucket.wait_time(0.0, 4) == math.inf
    assert not bucket.try_take(1e9, 4).allowed


def test_a_clock_that_goes_back_refills_nothing() -> None:
    _, bucket = TokenBucket(rate=1, burst=1).try_take(100.0)

    assert not bucket.try_take(50.0).allowed
    assert not bucket.try_take(100.5).allowed
    assert bucket.try_take(101.0).allowed


def test_pair_rate_burst_then_one_every_six_seconds() -> None:
    limiter = PairRateLimiter()
    buckets: dict[str, TokenBucket] = {}
    to = "5215512345678"
    granted = 0
    for _ in range(50):
        allowed, buckets[to] = limiter.try_take(buckets, to, 0.0)
        granted += allowed

    assert granted == 45
    assert limiter.wait_time(buckets, to, 0.0) == pytest.approx(6.0)
    assert not limiter.try_take(buckets, to, 5.9).allowed
    assert limiter.try_take(buckets, to, 6.0).allowed
    # Another user is not held back by this one.
    assert limiter.try_take(buckets, "447700900123", 0.0).allowed


def test_idle_pairs_are_forgotten_once_refilled() -> None:
    limiter = PairRateLimiter()
    buckets: dict[str, TokenBucket] = {}
    _, buckets["a"] = limiter.try_take(buckets, "a", 0.0)
    _, buckets["b"] = limiter.try_take(buckets, "b", 100.0)

    assert list(limiter.idle_keys(buckets, 5.0)) == []
    assert list(limiter.idle_keys(buckets, 6.0)) == ["a"]
    assert sorted(limiter.idle_keys(buckets, 106.0)) == ["a", "b"]
    assert buckets["a"].full_at(0.0) == pytest.approx(6.0)


rates = st.floats(min_value=0.05, max_value=2000, allow_nan=False)
bursts = st.floats(min_value=1, max_value=100, allow_nan=False)
gaps = st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), min_size=1, max_size=300)


@given(rates, bursts, gaps, st.floats(min_value=0, max_value=2e9, allow_nan=False))
def test_no_window_grants_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: float, gaps_between: list[float], start: float
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    now = start
    grants: list[float] = []
    for gap in gaps_between:
        now += gap * (1 / rate if rate > 1 else 1)
        allowed, bucket = bucket.try_take(now)
        if allowed:
            grants.append(now)

    # The fullest window of any length starts and ends at a grant.
    for first in range(len(grants)):
        for last in range(first, len(grants)):
            window = grants[last] - grants[first]
            assert last - first + 1 <= burst + rate * window + 1e-6


@given(
    rates,
    bursts,
    st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=30),
    st.floats(min_value=0, max_value=2e9, allow_nan=False),
    st.floats(min_value=0.01, max_value=1, allow_nan=False),
)
def test_wait_time_is_exact(
    rate: float, burst: float, takes: list[float], start: float, fraction: float
) -> None:
    bucket = TokenBucket(rate=rate, burst=burst)
    for gap in takes:
        start += gap / rate
        _, bucket = bucket.try_take(start)
    n = max(burst * fraction, 1e-3)

    wait = bucket.wait_time(start, n)
    ready = bucket.ready_at(start, n)

    assert wait >= 0
    assert bucket.try_take(start + wait, n).allowed
    assert bucket.try_take(ready, n).allowed
    if ready > start:
        assert not bucket.try_take(math.nextafter(ready, -math.inf), n).allowed
        earlier = start + wait * 0.999
        if earlier < ready:
            assert not bucket.try_take(earlier, n).allowed


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.floats(min_value=0, max_value=60)),
        max_size=200,
    ),
    st.floats(min_value=0, max_value=1),
)
def test_forgetting_idle_pairs_changes_no_answer(
    sends: list[tuple[str, float]], prune_probability: float
) -> None:
    limiter = PairRateLimiter(rate=1 / 6, burst=3)
    kept: dict[str, TokenBucket] = {}
    pruned: dict[str, TokenBucket] = {}
    now = 0.0
    for index, (to, gap) in enumerate(sends):
        now += gap
        allowed_kept, kept[to] = limiter.try_take(kept, to, now)
        allowed_pruned, pruned[to] = limiter.try_take(pruned, to, now)
        assert allowed_kept == allowed_pruned
        if index % 3 == 0 and prune_probability > 0.5:
            for key in list(limiter.idle_keys(pruned, now)):
                del pruned[key]
