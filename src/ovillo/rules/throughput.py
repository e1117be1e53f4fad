"""Throughput and pair rate: how fast a number may send, to everyone and to one user.

One `TokenBucket` serves both sides: the emulator enforces with it (answering 130429 when a
number's bucket is empty, 131056 when a pair's is) and the send pipeline paces with it (asking
`TokenBucket.wait_time` before it calls Meta). The bucket is an immutable value; every method
takes ``now`` and returns an answer or a new bucket, and the caller keeps the new one.

Time is a float of seconds on any monotonic scale: ``time.monotonic()``, or the emulator
clock's ``now().timestamp()`` when tests move time forward. A bucket only ever compares two
readings of the same scale, so the origin does not matter; a reading earlier than the last one
is treated as no time passing, never as tokens handed back. Seconds rather than datetimes
because rates are per second and the pipeline asks this question thousands of times a second.

The law every bucket keeps: in any window of length T, at most ``burst + rate * T`` tokens are
granted. ``wait_time`` is exact: taking after waiting it succeeds, taking any earlier fails.

Meta's numbers (Throughput; Cloud API error codes):

- 80 messages per second per business number by default (inbound and outbound, all types),
  1,000 after the automatic upgrade to ``throughput.level`` HIGH, 20 for numbers also used in
  the WhatsApp Business app (coexistence). Over it: 130429. Meta does not say how much burst a
  number gets within a second; we allow one second's worth.
- Pair rate: about one message every 6 seconds from one business number to one user; over it:
  131056. Bursts are tolerated: "up to 45 messages in 6 seconds", then the borrowed time must
  be paid back at the base rate. The 45 is repeated by several providers but not found on a
  Meta page (unverified), so it is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple, TypeVar

__all__ = [
    "COEXISTENCE_MPS",
    "HIGH_MPS",
    "PAIR_BURST",
    "PAIR_RATE_ERROR_CODE",
    "PAIR_RATE_PER_SECOND",
    "STANDARD_MPS",
    "THROUGHPUT_ERROR_CODE",
    "PairRateLimiter",
    "TakeResult",
    "ThroughputLevel",
    "TokenBucket",
    "messages_per_second",
    "number_bucket",
]

STANDARD_MPS = 80.0
HIGH_MPS = 1000.0
COEXISTENCE_MPS = 20.0
THROUGHPUT_ERROR_CODE = 130429

PAIR_RATE_PER_SECOND = 1 / 6
PAIR_BURST = 45.0
PAIR_RATE_ERROR_CODE = 131056

# A frozen dataclass's fields are set through object's own methods (as its __init__ does).
_new_bucket = object.__new__
_set = object.__setattr__

# Float rounding can leave a refill a hair short of what `wait_time` promised. The slack lets
# that take through; a bucket may then dip this far below zero, so the law holds within it.
_SLACK = 1e-9

K = TypeVar("K", bound=Hashable)


class ThroughputLevel(StrEnum):
    """Meta's ``throughput.level`` field of a business phone number."""

    STANDARD = "STANDARD"
    HIGH = "HIGH"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class TakeResult(NamedTuple):
    """What `TokenBucket.try_take` answers: ``allowed, bucket = b.try_take(now)``."""

    allowed: bool
    bucket: TokenBucket


@dataclass(frozen=True, slots=True)
class TokenBucket:
    """A token bucket as a value: ``rate`` tokens per second, holding at most ``burst``.

    A new bucket is full. ``tokens`` and ``updated_at`` are its state: the balance at the
    reading ``updated_at`` (None until first used, meaning "full whenever asked").
    """

    rate: float
    burst: float
    tokens: float | None = None
    updated_at: float | None = None

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive number of tokens per second: {self.rate}")
        if not (self.burst > 0 and math.isfinite(self.burst)):
            raise ValueError(f"burst must be a positive number of tokens: {self.burst}")

    def available(self, now: float) -> float:
        """Tokens in the bucket at ``now`` (fractional; may be a hair below zero)."""
        if self.tokens is None or self.updated_at is None:
            return self.burst
        elapsed = max(0.0, now - self.updated_at)
        return min(self.burst, self.tokens + elapsed * self.rate)

    def try_take(self, now: float, n: float = 1) -> TakeResult:
        """Take ``n`` tokens at ``now`` if the bucket has them.

        Returns ``(allowed, bucket)``; keep ``bucket`` either way (a refused take changes
        nothing but the refill bookkeeping). ``n`` larger than ``burst`` is never allowed.
        """
        _check_amount(n)
        tokens = self.available(now)
        updated_at = now if self.updated_at is None else max(now, self.updated_at)
        if n <= self.burst and tokens + _SLACK >= n:
            return TakeResult(True, self._with(tokens - n, updated_at))
        return TakeResult(False, self._with(tokens, updated_at))

    def _with(self, tokens: float, updated_at: float) -> TokenBucket:
        """This bucket with a new balance, without `dataclasses.replace`: the rate and burst
        were checked when it was made, and senders take a token per message (replace's
        field walk and re-check tripled the cost of a take)."""
        bucket = _new_bucket(TokenBucket)
        _set(bucket, "rate", self.rate)
        _set(bucket, "burst", self.burst)
        _set(bucket, "tokens", tokens)
        _set(bucket, "updated_at", updated_at)
        return bucket

    def wait_time(self, now: float, n: float = 1) -> float:
        """Seconds from ``now`` until ``n`` tokens are there; 0 if now, ``inf`` if never."""
        return self.ready_at(now, n) - now

    def ready_at(self, now: float, n: float = 1) -> float:
        """The earliest reading, not before ``now``, at which ``n`` tokens are there.

        Exact to the float: `try_take` succeeds at this reading and fails at the one before
        it (``math.nextafter(ready, -math.inf)``) unless that is ``now`` itself. ``inf`` when
        ``n`` exceeds ``burst``.
        """
        _check_amount(n)
        if n > self.burst:
            return math.inf
        if self._has(now, n):
            return now
        ready = now + (n - _SLACK - self.available(now)) / self.rate
        # The division and the addition round, so the estimate is off by a few ulps either
        # way: step to the first reading that really has n.
        while not self._has(ready, n):
            ready = math.nextafter(ready, math.inf)
        while ready > now and self._has(math.nextafter(ready, -math.inf), n):
            ready = math.nextafter(ready, -math.inf)
        return ready

    def _has(self, now: float, n: float) -> bool:
        return self.available(now) + _SLACK >= n

    def full_at(self, now: float) -> float:
        """The first reading at which the bucket is full again (``now`` if it already is).

        A full bucket answers exactly like a new one, so callers may forget it then.
        """
        missing = self.burst - self.available(now)
        if missing <= 0:
            return now
        return now + missing / self.rate

    def is_full(self, now: float) -> bool:
        """Whether the bucket holds ``burst`` tokens at ``now``, i.e. is as good as new."""
        return self.available(now) >= self.burst


def messages_per_second(
    level: ThroughputLevel | str = ThroughputLevel.STANDARD, *, coexistence: bool = False
) -> float:
    """A business number's send rate: 80 mps, 1,000 when HIGH, 20 for coexistence numbers.

    ``NOT_APPLICABLE`` (a number not on the Cloud API) gets the standard rate. Coexistence
    wins over the level: Meta fixes those numbers at 20 mps.
    """
    if coexistence:
        return COEXISTENCE_MPS
    if ThroughputLevel(level) is ThroughputLevel.HIGH:
        return HIGH_MPS
    return STANDARD_MPS


def number_bucket(
    level: ThroughputLevel | str = ThroughputLevel.STANDARD, *, coexistence: bool = False
) -> TokenBucket:
    """A full bucket for one business number, with one second's worth of burst."""
    rate = messages_per_second(level, coexistence=coexistence)
    return TokenBucket(rate=rate, burst=rate)


@dataclass(frozen=True, slots=True)
class PairRateLimiter:
    """Meta's pair rate, one bucket per recipient, over a mapping the caller owns.

    The limiter holds only the parameters; the buckets live in any ``Mapping`` keyed by
    recipient (a ``wa_id``, a BSUID, or a ``(phone_number_id, recipient)`` pair for a process
    sending from several numbers). A key that is absent has a full bucket. Each call returns
    the new bucket for its key, for the caller to store::

        allowed, buckets[to] = limiter.try_take(buckets, to, now)

    Memory stays bounded without losing anything: a bucket that has refilled is as good as
    none, so `idle_keys` lists the keys that may be deleted. Only recipients messaged within
    the last ``burst / rate`` seconds (270 s by default) need a bucket at all.
    """

    rate: float = PAIR_RATE_PER_SECOND
    burst: float = PAIR_BURST

    def __post_init__(self) -> None:
        TokenBucket(rate=self.rate, burst=self.burst)

    def bucket(self, buckets: Mapping[K, TokenBucket], key: K) -> TokenBucket:
        """The bucket for ``key``: the stored one, or a full one."""
        stored = buckets.get(key)
        return stored if stored is not None else TokenBucket(rate=self.rate, burst=self.burst)

    def try_take(
        self, buckets: Mapping[K, TokenBucket], key: K, now: float, n: float = 1
    ) -> TakeResult:
        """Take ``n`` messages' worth for ``key`` at ``now``; store the returned bucket."""
        return self.bucket(buckets, key).try_take(now, n)

    def wait_time(
        self, buckets: Mapping[K, TokenBucket], key: K, now: float, n: float = 1
    ) -> float:
        """Seconds until ``key`` may receive ``n`` more messages."""
        return self.bucket(buckets, key).wait_time(now, n)

    def idle_keys(self, buckets: Mapping[K, TokenBucket], now: float) -> Iterator[K]:
        """Keys whose buckets have refilled by ``now``; deleting them changes no answer.

        Collect before deleting: ``for key in list(limiter.idle_keys(b, now)): del b[key]``.
        """
        return (key for key, stored in buckets.items() if stored.is_full(now))


def _check_amount(n: float) -> None:
    if not (n > 0 and math.isfinite(n)):
        raise ValueError(f"the number of tokens to take must be positive: {n}")
