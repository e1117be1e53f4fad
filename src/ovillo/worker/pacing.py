"""Pacing one number's sends to its throughput and each recipient's pair rate.

Meta counts a number's messages per second and answers 130429 past its cap; it counts
messages to one user and answers 131056 past the pair rate (rules.throughput). The pipeline
asks a `Pacer` before every call, so neither limit is crossed in the first place.

Two checks guard the number's cap, because the cap is judged where the messages arrive,
not where they leave:

- a `rules.throughput.TokenBucket` (``rate`` = the cap, a burst of 20 ms' worth) spaces
  sends evenly, so they do not arrive in clumps;
- a sliding window over the last ``cap`` send times refuses a send unless the one ``cap``
  sends earlier left at least ``1 + margin`` seconds ago. The bucket alone allows ``cap +
  1`` sends in a closed one-second window, and network jitter can squeeze evenly spaced
  sends closer together on arrival; the margin absorbs that jitter, so no one-second window
  at Meta's end sees more than the cap. It is 100 ms plus one and a half sends' spacing
  (measured against the emulator sharing a busy event loop: tens of milliseconds, and up
  to ~350 ms at 5 mps on a machine loaded to 7 on 2 cores). The cost is a sustained rate
  of ``cap / (1 + margin)``: 91% of the cap at 1,000 mps, 88% at 80, 71% at 5.

After Meta answers 130429 anyway (another system sends from the same number), `slow_down`
halves the pace, which then recovers step by step with each accepted send.

Time is ``time.monotonic()``: real seconds. Moving a test clock forward makes Meta's (or
the emulator's) buckets refill faster, never slower, so pacing on real time stays safe.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from ovillo.rules.throughput import PairRateLimiter, TokenBucket

__all__ = ["WINDOW_MARGIN_SECONDS", "Pacer"]

WINDOW_MARGIN_SECONDS = 0.1
_MARGIN_SPACINGS = 1.5
# A few milliseconds' worth of sends may leave together: an asyncio sleep of one
# millisecond takes as long as a loop iteration, so without it a busy loop would hand
# out one send per iteration, far below the cap.
_BURST_SECONDS = 0.02
_MIN_FACTOR = 1 / 16
_RECOVERY = 1.02  # per accepted send: from half speed back to full in about 35 sends


class Pacer:
    """Hands out the right to send, at most ``messages_per_second`` and per recipient.

    Not thread-safe; one pacer per number per event loop. ``acquire`` callers are served in
    arrival order (asyncio's lock is fair), except that one waiting for a recipient's pair
    rate steps aside so it does not hold up messages to everyone else.
    """

    def __init__(
        self,
        messages_per_second: float,
        *,
        pair_limiter: PairRateLimiter | None = None,
        margin: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (messages_per_second > 0 and math.isfinite(messages_per_second)):
            raise ValueError(f"a pace is a positive rate: {messages_per_second}")
        self.messages_per_second = float(messages_per_second)
        self._cap = max(1, math.floor(messages_per_second))
        if margin is None:
            margin = WINDOW_MARGIN_SECONDS + _MARGIN_SPACINGS / self.messages_per_second
        self._span = 1.0 + margin
        self._monotonic = monotonic
        self._factor = 1.0
        self._bucket = TokenBucket(
            rate=self.messages_per_second,
            burst=max(1.0, self.messages_per_second * _BURST_SECONDS),
        )
        self._recent: deque[float] = deque(maxlen=self._cap)
        self._pairs: dict[str, TokenBucket] = {}
        self._pair_limiter = pair_limiter or PairRateLimiter()
        self._lock = asyncio.Lock()
        self._taken = 0

    @property
    def current_rate(self) -> float:
        """The pace now: the cap, or less after `slow_down`."""
        return self._bucket.rate

    def _wait_for_number(self, now: float) -> float:
        wait = self._bucket.wait_time(now)
        if len(self._recent) == self._cap:
            wait = max(wait, self._recent[0] + self._span - now)
        return max(0.0, wait)

    async def acquire(self, recipient: str) -> None:
        """Wait until one message to ``recipient`` may leave, and count it as sent."""
        while True:
            async with self._lock:
                now = self._monotonic()
                pair_wait = self._pair_limiter.wait_time(self._pairs, recipient, now)
                if pair_wait <= 0:
                    wait = self._wait_for_number(now)
                    while wait > 0:
                        await asyncio.sleep(wait)
                        now = self._monotonic()
                        wait = self._wait_for_number(now)
                    self._take(recipient, now)
                    return
            await asyncio.sleep(pair_wait)

    def _take(self, recipient: str, now: float) -> None:
        allowed, self._bucket = self._bucket.try_take(now)
        if not allowed:  # pragma: no cover - wait_time is exact (rules.throughput)
            raise AssertionError("the token bucket refused after its own wait time")
        _, self._pairs[recipient] = self._pair_limiter.try_take(self._pairs, recipient, now)
        self._recent.append(now)
        self._taken += 1
        if self._taken % 1024 == 0:
            for idle in list(self._pair_limiter.idle_keys(self._pairs, now)):
                del self._pairs[idle]

    def slow_down(self) -> None:
        """Meta said the number sends too fast (130429): halve the pace for a while."""
        self._set_factor(max(_MIN_FACTOR, self._factor / 2))

    def recipient_saturated(self, recipient: str) -> None:
        """Meta said this recipient got too many (131056): empty their pair bucket."""
        now = self._monotonic()
        bucket = self._pair_limiter.bucket(self._pairs, recipient)
        self._pairs[recipient] = replace(bucket, tokens=0.0, updated_at=now)

    def accepted(self) -> None:
        """A send went through: recover from a `slow_down` a little."""
        if self._factor < 1.0:
            self._set_factor(min(1.0, self._factor * _RECOVERY))

    def _set_factor(self, factor: float) -> None:
        self._factor = factor
        self._bucket = replace(self._bucket, rate=self.messages_per_second * factor)
