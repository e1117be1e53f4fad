"""The receiver's pure parts: which numbers an untrusted body names."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.channels.webhooks import NamedNumbers, WebhookCounters, body_sha256, named_numbers


def _entry(waba_id: Any, *values: Any) -> dict[str, Any]:
    return {"id": waba_id, "changes": [{"field": "x", "value": value} for value in values]}


def _messages_value(phone_number_id: Any) -> dict[str, Any]:
    return {"metadata": {"display_phone_number": "15550100000", "phone_number_id": phone_number_id}}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"entry": [_entry("W1", _messages_value("P1"))]},
            NamedNumbers(phone_number_ids=("P1",), waba_changes=()),
        ),
        (
            # One POST may batch several numbers and entries; each is named once, in order.
            {
                "entry": [
                    _entry("W1", _messages_value("P2"), _messages_value("P1")),
                    _entry("W2", _messages_value("P2")),
                ]
            },
            NamedNumbers(phone_number_ids=("P2", "P1"), waba_changes=()),
        ),
        (
            # Account-level fields name no number: the WABA, and a display number if any.
            {
                "entry": [
                    _entry("W1", {"display_phone_number": "+1 555-010-0000", "event": "FLAGGED"}),
                    _entry("W2", {"event": "APPROVED", "message_template_id": 1}),
                ]
            },
            NamedNumbers(phone_number_ids=(), waba_changes=(("W1", "15550100000"), ("W2", ""))),
        ),
        ({"entry": "nope"}, NamedNumbers((), ())),
        ({"entry": [{"id": 5, "changes": [{"value": {}}]}]}, NamedNumbers((), ())),
        ({"entry": [_entry("W1", _messages_value(12345))]}, NamedNumbers((), (("W1", ""),))),
        ({"entry": [_entry("W1", _messages_value(""))]}, NamedNumbers((), (("W1", ""),))),
        ([1, 2, 3], NamedNumbers((), ())),
        (None, NamedNumbers((), ())),
    ],
)
def test_named_numbers(data: Any, expected: NamedNumbers) -> None:
    assert named_numbers(data) == expected


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["entry", "id", "changes", "value", "metadata", "phone_number_id", "x"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@given(_json)
def test_named_numbers_never_raises_whatever_the_json(data: Any) -> None:
    named = named_numbers(json.loads(json.dumps(data)))
    assert all(isinstance(number, str) and number for number in named.phone_number_ids)


def test_body_sha256_is_the_hex_digest_of_the_raw_bytes() -> None:
    assert body_sha256(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert body_sha256(b'{"a":1}') != body_sha256(b'{"a": 1}')


def test_counters_start_at_zero_and_list_every_field() -> None:
    counters = WebhookCounters()
    counters.accepted += 2
    as_dict = counters.as_dict()
    assert as_dict["accepted"] == 2
    assert set(as_dict) >= {"duplicates", "rejected_bad_signature", "rejected_unknown_number"}
    assert sum(as_dict.values()) == 2
