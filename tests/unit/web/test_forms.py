"""Reading ids from page forms: empty and malformed both read as none."""

from __future__ import annotations

import uuid

import pytest

from ovillo.web.forms import form_id

AN_ID = uuid.UUID("0b6f6a52-3d4c-4f0e-9a55-2d1f5c9e8a11")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(AN_ID), AN_ID),
        (AN_ID.hex, AN_ID),
        ("", None),
        ("   ", None),
        ("not-a-uuid", None),
        (str(AN_ID)[:-1], None),
        (f" {AN_ID} ", None),
    ],
)
def test_form_id(value: str, expected: uuid.UUID | None) -> None:
    assert form_id(value) == expected
