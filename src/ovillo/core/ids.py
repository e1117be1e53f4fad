"""Identifiers: time-ordered, unguessable, URL-safe.

Primary keys are UUIDv7-like: 48 bits of milliseconds then 74 random bits, so rows insert
in order (good for B-tree locality and cursor pagination) and ids cannot be enumerated.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime


def new_id(now: datetime | None = None) -> uuid.UUID:
    """A UUID version 7 (RFC 9562) for ``now`` (the wall clock if not given)."""
    millis = int(now.timestamp() * 1000) if now is not None else _wall_millis()
    rand_a = secrets.randbits(12)
    rand_b = secrets.randbits(62)
    value = (millis & (2**48 - 1)) << 80
    value |= 0x7 << 76
    value |= rand_a << 64
    value |= 0b10 << 62
    value |= rand_b
    return uuid.UUID(int=value)


def new_token(nbytes: int = 32) -> str:
    """A random URL-safe secret (API keys, verify tokens, link codes)."""
    return secrets.token_urlsafe(nbytes)


def _wall_millis() -> int:
    import time

    return time.time_ns() // 1_000_000
