"""Pure parts of the accounts service: key shape and when a key's use is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ovillo.accounts.service import (
    API_KEY_PREFIX,
    last_used_needs_write,
    looks_like_api_key,
    new_api_key,
)
from ovillo.core.crypto import hash_api_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_new_keys_are_prefixed_long_and_distinct() -> None:
    keys = {new_api_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(key.startswith(API_KEY_PREFIX) and len(key) >= 40 for key in keys)
    assert all(looks_like_api_key(key) for key in keys)
    assert len({hash_api_key(key) for key in keys}) == 100


@pytest.mark.parametrize(
    "candidate", ["", "ovk_", "ovk_short", "sk_live_0123456789abcdef", "OVK_0123456789abcdef"]
)
def test_strings_that_are_not_keys_are_told_apart(candidate: str) -> None:
    assert not looks_like_api_key(candidate)


@pytest.mark.parametrize(
    ("last_used_at", "now", "write"),
    [
        (None, T0, True),
        (T0, T0, False),
        (T0, T0 + timedelta(seconds=59.999), False),
        (T0, T0 + timedelta(minutes=1), True),
        (T0, T0 + timedelta(days=3), True),
    ],
)
def test_use_is_written_at_most_once_a_minute(
    last_used_at: datetime | None, now: datetime, write: bool
) -> None:
    assert last_used_needs_write(last_used_at, now) is write
