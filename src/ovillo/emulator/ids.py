"""Identifiers shaped like Meta's: numeric node ids, ``wamid.`` message ids, tokens."""

from __future__ import annotations

import base64
import itertools
import secrets


class IdFactory:
    """Numeric Graph ids (15-16 digits, as Meta's) that never repeat within one emulator."""

    def __init__(self, start: int | None = None) -> None:
        # A random high start keeps ids of different emulator runs apart, like Meta's.
        first = start if start is not None else 100_000_000_000_000 + secrets.randbelow(10**14)
        self._counter = itertools.count(first)

    def next(self) -> str:
        return str(next(self._counter))

    def skip_past(self, used: str) -> None:
        """After loading saved state: never hand out an id at or below ``used``."""
        if used.isdigit():
            current = next(self._counter)
            self._counter = itertools.count(max(current, int(used) + 1))


def new_wamid(wa_id: str) -> str:
    """A message id like Meta's: ``wamid.`` + base64 of the recipient and a random part."""
    raw = b"\x15\x02\x12\x18" + wa_id.encode() + b"\x15\x02\x00\x12\x18" + secrets.token_bytes(16)
    return "wamid." + base64.b64encode(raw).decode().rstrip("=")


def new_access_token() -> str:
    """A long-lived system-user token lookalike (Meta's start with ``EAA``)."""
    return "EAA" + secrets.token_urlsafe(120).replace("-", "").replace("_", "")[:160]


def new_bsuid(country: str) -> str:
    """A business-scoped user id: ISO alpha-2 country, a dot, digits (Meta's 2026 format)."""
    return f"{country.upper()}.{secrets.randbelow(10**20):020d}"
