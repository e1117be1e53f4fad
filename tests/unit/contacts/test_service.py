"""Pure parts of the contacts service: cursors, tags, attributes, numbers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.contacts.errors import InvalidCursorError, InvalidPhoneNumberError
from ovillo.contacts.service import (
    clean_tags,
    decode_cursor,
    encode_cursor,
    merge_attributes,
    normalized_phone,
)

json_values = st.none() | st.booleans() | st.integers() | st.text(max_size=5)


@given(st.uuids())
def test_a_cursor_resumes_after_its_id(last_id: uuid.UUID) -> None:
    cursor = encode_cursor(last_id)
    assert decode_cursor(cursor) == last_id
    assert cursor.isascii()
    assert "=" not in cursor


@given(st.text(max_size=60))
def test_anything_else_is_refused_as_a_cursor(garbage: str) -> None:
    try:
        decoded = decode_cursor(garbage)
    except InvalidCursorError:
        return
    # Only a string we could have issued decodes.
    assert encode_cursor(decoded) == garbage.rstrip("=")


@given(st.lists(st.text(max_size=8)))
def test_clean_tags_is_idempotent_and_unique(tags: list[str]) -> None:
    cleaned = clean_tags(tags)
    assert clean_tags(cleaned) == cleaned
    assert len(set(cleaned)) == len(cleaned)
    assert all(tag and tag == tag.strip() for tag in cleaned)


@given(
    st.dictionaries(st.text(max_size=4), json_values.filter(lambda v: v is not None)),
    st.dictionaries(st.text(max_size=4), json_values),
)
def test_attributes_merge_as_a_merge_patch(
    current: dict[str, Any], changes: dict[str, Any]
) -> None:
    merged = merge_attributes(current, changes)
    for key, value in changes.items():
        if value is None:
            assert key not in merged
        else:
            assert merged[key] == value
    for key, value in current.items():
        if key not in changes:
            assert merged[key] == value
    assert merge_attributes(merged, changes) == merged


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", None, "empty"),
        ("abc", None, "letters"),
        ("+1 555 01", None, "too_short"),
        ("(201) 555-0123", None, "unknown_country_code"),
        ("201 555 0123", "XX", "unknown_default_region"),
    ],
)
def test_bad_numbers_name_the_field_and_reason(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumberError) as raised:
        normalized_phone(raw, field="phone", default_region=region)
    problem = raised.value.problem()
    assert problem["reason"] == reason
    assert problem["field"] == "phone"
    assert problem["detail"].startswith("phone: ")


def test_a_national_number_reads_with_its_region() -> None:
    assert normalized_phone("55 1234 5678", field="phone", default_region="MX").wa_id == (
        "5215512345678"
    )
