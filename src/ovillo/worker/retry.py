"""When to try a failed send again: exponential backoff with jitter, as a pure function.

Like procrastinate's ``retry.py``: the decision is computed from plain values (the attempt
number, a random draw the caller makes) without any I/O, so it is tested as a law.

The delay before attempt ``n + 1`` after ``n`` failed attempts is drawn from
``[d/2, d]`` where ``d = min(cap, base * 2 ** (n - 1))`` ("equal jitter"): it never falls
below half the exponential step, so a flood of retries keeps backing off, and the random
half spreads the messages of one outage apart instead of bringing them all back at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RetryDecision", "backoff_seconds", "retry_decision"]

DEFAULT_BASE_SECONDS = 1.0
DEFAULT_CAP_SECONDS = 300.0


def backoff_seconds(
    attempts: int,
    *,
    jitter: float,
    base: float = DEFAULT_BASE_SECONDS,
    cap: float = DEFAULT_CAP_SECONDS,
) -> float:
    """Seconds to wait after ``attempts`` failed attempts (1 for the first failure).

    ``jitter`` is a draw from [0, 1) (``random.random()``): 0 gives half the step, values
    near 1 the whole step.
    """
    if attempts < 1:
        raise ValueError(f"backoff follows a failed attempt: attempts={attempts}")
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"jitter is a draw from [0, 1): {jitter}")
    if not (0 < base <= cap and math.isfinite(cap)):
        raise ValueError(f"need 0 < base <= cap < inf: base={base}, cap={cap}")
    # 2 ** 1074 overflows a float; the cap is reached long before.
    step = cap if attempts > 64 else min(cap, base * 2.0 ** (attempts - 1))
    return step / 2 + jitter * step / 2


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """Try again at ``retry_at``, or give up (``retry_at`` None)."""

    retry_at: datetime | None

    @property
    def should_retry(self) -> bool:
        return self.retry_at is not None


def retry_decision(
    *,
    attempts: int,
    max_attempts: int,
    now: datetime,
    jitter: float,
    at_least: float = 0.0,
    base: float = DEFAULT_BASE_SECONDS,
    cap: float = DEFAULT_CAP_SECONDS,
) -> RetryDecision:
    """Whether a message that failed its ``attempts``-th attempt gets another, and when.

    ``at_least`` is a delay the failure itself asks for (a pair-rate limit frees in six
    seconds); the backoff never brings the retry earlier than that.
    """
    if attempts >= max_attempts:
        return RetryDecision(None)
    delay = max(at_least, backoff_seconds(attempts, jitter=jitter, base=base, cap=cap))
    return RetryDecision(now + timedelta(seconds=delay))
