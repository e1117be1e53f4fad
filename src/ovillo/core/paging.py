"""One shape for every list of the REST API: a page of ``data`` and the cursor to the next.

A domain names its page by subclassing (``class ContactPageOut(Page[ContactOut])``), so the
OpenAPI schema keeps the domain's name; routes take the cursor as ``cursor: Cursor = None``.
A cursor is opaque to the client: the service writes its position after a prefix of its
own (``"c1:"`` and an id) and `encode_cursor` makes that URL-safe; `decode_cursor` gives
the position back, and the service raises its own error when it gets ``None``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Final, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

# Room for the longest cursor we issue (a timestamp and a uuid, base64), and no more.
MAX_CURSOR_LENGTH: Final = 300

Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]


def encode_cursor(raw: str) -> str:
    """``raw`` (a prefix and a position) as an opaque, URL-safe cursor."""
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, prefix: str) -> str | None:
    """The position after ``prefix`` in a cursor `encode_cursor` made; ``None`` for any other
    string."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    # base64 decoding skips stray characters; only the exact string we issued counts.
    if not raw.startswith(prefix) or encode_cursor(raw) != cursor.rstrip("="):
        return None
    return raw.removeprefix(prefix)


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
