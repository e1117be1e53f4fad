"""One shape for every list of the REST API: a page of ``data`` and the cursor to the next.

A domain names its page by subclassing (``class ContactPageOut(Page[ContactOut])``), so the
OpenAPI schema keeps the domain's name; routes take the cursor as ``cursor: Cursor = None``.
The cursor itself stays opaque and the domain's own: each service encodes and checks it.
"""

from __future__ import annotations

from typing import Annotated, Final, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

# Room for the longest cursor we issue (a timestamp and a uuid, base64), and no more.
MAX_CURSOR_LENGTH: Final = 300

Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)]


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
