"""``X-Hub-Signature-256``: sign and verify over the raw body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.cloudapi.signature import sign, verify

SECRET = "0123456789abcdef0123456789abcdef"


def test_known_vector() -> None:
    # RFC 4231 test case 2: HMAC-SHA-256 with key "Jefe".
    body = b"what do ya want for nothing?"
    expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", body) == expected
    assert sign(b"Jefe", body) == expected
    assert verify("Jefe", body, expected)


def test_signature_is_over_raw_bytes_not_equivalent_json() -> None:
    raw = b'{"a": "\\u00f1"}'
    same_json_other_bytes = '{"a":"ñ"}'.encode()
    assert not verify(SECRET, same_json_other_bytes, sign(SECRET, raw))


def test_prefix_and_hex_case_are_ignored() -> None:
    body = b"{}"
    header = sign(SECRET, body)
    assert verify(SECRET, body, header.upper())
    assert verify(SECRET, body, f"  {header}  ")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=abc",
        "abc",
        "sha256=zz",
        "sha256=" + "0" * 64,
        "sha256=" + "é" * 64,
        "sha256=\x00",
        "md5=" + "a" * 64,
    ],
)
def test_garbled_headers_are_not_valid(header: str | None) -> None:
    assert verify(SECRET, b"{}", header) is False


@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=2048))
def test_verify_accepts_what_sign_makes(secret: bytes, body: bytes) -> None:
    assert verify(secret, body, sign(secret, body))


@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_flipped_byte_fails(body: bytes, data: st.DataObject) -> None:
    header = sign(SECRET, body)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    tampered = bytearray(body)
    tampered[index] ^= 1 << bit
    assert not verify(SECRET, bytes(tampered), header)


@given(body=st.binary(max_size=256), data=st.data())
def test_any_changed_signature_character_fails(body: bytes, data: st.DataObject) -> None:
    header = sign(SECRET, body)
    index = data.draw(st.integers(min_value=len("sha256="), max_value=len(header) - 1))
    replacement = data.draw(
        st.sampled_from("0123456789abcdef").filter(lambda c: c != header[index])
    )
    assert not verify(SECRET, body, header[:index] + replacement + header[index + 1 :])


@given(header=st.text(max_size=100))
def test_arbitrary_headers_never_raise(header: str) -> None:
    assert verify(SECRET, b"body", header) is False


def test_a_different_secret_fails() -> None:
    assert not verify("other", b"{}", sign(SECRET, b"{}"))
