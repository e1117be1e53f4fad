"""Cursors: opaque to the client, and only the exact strings we gave out read back."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.core.paging import decode_cursor, encode_cursor


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=80))
def test_a_cursor_reads_back_its_position(position: str) -> None:
    cursor = encode_cursor("x1|" + position)
    assert "=" not in cursor
    assert decode_cursor(cursor, prefix="x1|") == position


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        encode_cursor("y1|42"),  # another list's cursor
        encode_cursor("x1|42") + "!",  # base64 decoding would skip the stray character
        "*" + encode_cursor("x1|42"),
        base64.urlsafe_b64encode(b"x1|\xff").decode(),  # not UTF-8
    ],
)
def test_anything_else_reads_as_none(cursor: str) -> None:
    assert decode_cursor(cursor, prefix="x1|") is None


def test_padding_given_back_is_accepted() -> None:
    cursor = encode_cursor("x1|4")
    padded = cursor + "=" * (-len(cursor) % 4)
    assert padded != cursor
    assert decode_cursor(padded, prefix="x1|") == "4"
