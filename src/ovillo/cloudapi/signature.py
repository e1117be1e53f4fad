"""The ``X-Hub-Signature-256`` header on Meta's webhook POSTs.

Meta signs the raw request body with the app secret: ``sha256=<hex HMAC-SHA256>``. Verify it
over the bytes exactly as received, before any JSON parsing: re-serialised JSON differs in
whitespace and escapes (Meta escapes non-ASCII as ``\\uXXXX``), and the signature would not
match.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Hub-Signature-256"
_PREFIX: Final = "sha256="


def _key(app_secret: str | bytes) -> bytes:
    return app_secret.encode("utf-8") if isinstance(app_secret, str) else app_secret


def sign(app_secret: str | bytes, body: bytes) -> str:
    """The header value Meta would send for ``body``: ``"sha256=<64 lowercase hex>"``."""
    digest = hmac.new(_key(app_secret), body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify(app_secret: str | bytes, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is the valid signature of ``body``; never raises.

    A missing, empty or malformed header is simply not valid. The comparison is constant-time.
    The ``sha256=`` prefix is matched case-insensitively and the hex digest too, since hex
    case carries no meaning.
    """
    if not header or not isinstance(header, str):
        return False
    candidate = header.strip()
    if candidate[: len(_PREFIX)].lower() != _PREFIX:
        return False
    received = candidate[len(_PREFIX) :].lower()
    if not received.isascii():
        return False
    expected = sign(app_secret, body)[len(_PREFIX) :]
    return hmac.compare_digest(expected.encode("ascii"), received.encode("ascii"))
