"""The pure parts of `Idempotency-Key` handling: what makes two requests the same."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.core.idempotency import (
    MAX_KEY_LENGTH,
    InvalidIdempotencyKeyError,
    fingerprint,
    idempotent_request,
)

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
json_objects = st.dictionaries(st.text(max_size=6), json_scalars, max_size=6)


@given(json_objects)
def test_key_order_does_not_make_another_request(body: dict[str, Any]) -> None:
    reordered = dict(reversed(list(body.items())))
    assert fingerprint(method="POST", path="/m", body=body) == fingerprint(
        method="post", path="/m", body=reordered
    )


@given(json_objects, json_objects)
def test_another_body_is_another_request(first: dict[str, Any], second: dict[str, Any]) -> None:
    same = fingerprint(method="POST", path="/m", body=first) == fingerprint(
        method="POST", path="/m", body=second
    )
    assert same == (first == second)


def test_the_path_and_method_count() -> None:
    body = {"type": "text"}
    prints = {
        fingerprint(method="POST", path="/api/v1/messages", body=body),
        fingerprint(method="PUT", path="/api/v1/messages", body=body),
        fingerprint(method="POST", path="/api/v1/media", body=body),
    }
    assert len(prints) == 3


def test_no_key_means_no_idempotency() -> None:
    assert idempotent_request(None, method="POST", path="/m", body={}) is None


@pytest.mark.parametrize("key", ["", "   ", "x" * (MAX_KEY_LENGTH + 1), "line\nbreak", "tab\there"])
def test_keys_we_cannot_keep_are_refused(key: str) -> None:
    with pytest.raises(InvalidIdempotencyKeyError):
        idempotent_request(key, method="POST", path="/m", body={})


def test_a_key_carries_the_fingerprint() -> None:
    request = idempotent_request("order-1001", method="POST", path="/m", body={"a": 1})
    assert request is not None
    assert request.key == "order-1001"
    assert request.fingerprint == fingerprint(method="POST", path="/m", body={"a": 1})
