"""Numbers normalised by prefix: always ``phone.normalize``'s answer, most of them without it."""

from __future__ import annotations

import random
from collections.abc import Callable
from re import _parser as sre_parse  # type: ignore[attr-defined]  # the module reads these trees

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ovillo.rules import phone, phone_prefix
from ovillo.rules.phone_prefix import generic_tail, normalize_by_prefix, specific_depth

REGIONS = [
    "MX", "US", "BR", "AR", "CO", "ES", "GB", "IT", "DE", "IN", "FR", "CL", "PE", "AG", "JE",
    "RU", "KZ", "CN", "JP", "AU", "VE", "DO", "PR", None,
]  # fmt: skip


def outcome(
    normalize: Callable[[str, str | None], phone.PhoneNumber], raw: str, region: str | None
) -> object:
    try:
        return normalize(raw, region)
    except phone.InvalidPhoneNumber as error:
        return ("invalid", error.reason, error.detail)
    except ValueError as error:
        return ("unknown region", str(error))


@pytest.fixture
def library_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The inputs that reached ``phone.normalize`` (the rest were answered by prefix)."""
    calls: list[str] = []
    library = phone.normalize

    def counted(raw: str, default_region: str | None = None) -> phone.PhoneNumber:
        calls.append(raw)
        return library(raw, default_region)

    monkeypatch.setattr(phone, "normalize", counted)
    monkeypatch.setattr(phone_prefix, "_remembered", {})
    return calls


@pytest.mark.parametrize(
    ("pattern", "tail", "depth"),
    [
        (r"(?:55|56)\d{8}", 8, 2),
        (r"\d{1,2}5\d{3}", 3, 3),  # the 5 may stand at the second or third place
        (r"(?:2\d|3[1-5])\d{6,7}|4\d{8}", 6, 2),
        (r"1(?=\d{10}$)", 0, 1),
        (r"(?:0|90)(?:(1[245]|2[1-35]|31|4[13]|[56]5|99)(\d{10,11}))?", 0, 4),
        (r"0[09]", 0, 2),
        (r"\d+5", 0, 1 << 30),  # the 5 may stand anywhere: nothing is proven
        (r"[2-9]\d{2}(?!555)\d{4}", 1, 6),  # the lookahead reads three of the last four
    ],
)
def test_what_a_pattern_leaves_to_any_digit(pattern: str, tail: int, depth: int) -> None:
    assert generic_tail(sre_parse.parse(pattern)) == tail
    assert specific_depth(sre_parse.parse(pattern)) == depth


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("55 1000 0001", "MX"),
        ("+52 1 55 1000 0001", "MX"),
        ("525510000001", "MX"),
        ("5215510000001", None),
        ("(201) 555-0123", "US"),
    ],
)
def test_the_usual_ways_of_writing_a_number_are_answered_by_prefix(
    raw: str, region: str | None, library_calls: list[str]
) -> None:
    first = normalize_by_prefix(raw, region)
    other = raw[:-1] + ("7" if raw[-1] != "7" else "8")
    second = normalize_by_prefix(other, region)
    assert library_calls == [raw]
    assert second == phone.normalize(other, region)
    assert second.e164 != first.e164


def sample(rng: random.Random) -> tuple[str, str | None]:
    """An input as a file may hold it: some country's example number with its last digits
    changed, sometimes a digit short or long, in one of the ways people write numbers."""
    region = rng.choice(REGIONS)
    source = region if region and rng.random() < 0.6 else rng.choice([r for r in REGIONS if r])
    kind = rng.choice(
        [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
    )
    example = phonenumbers.example_number_for_type(source, kind) or phonenumbers.example_number(
        source
    )
    assert example is not None
    national = phonenumbers.national_significant_number(example)
    keep = rng.randrange(len(national) + 1)
    length = len(national) + rng.choice([0, 0, 0, 0, -1, 1])
    body = national[:keep] + "".join(rng.choice("0123456789") for _ in range(length - keep))
    code = str(example.country_code)
    return rng.choice(
        [
            body,
            f"+{code} {body[:3]} {body[3:]}",
            code + body,
            f"00{code}{body}",
            "0" + body,
            f"({body[:3]}) {body[3:6]}-{body[6:]}",
        ]
    ), region


def test_thousands_of_numbers_of_many_countries_get_the_library_s_answers(
    library_calls: list[str],
) -> None:
    rng = random.Random(8)
    inputs = []
    for _ in range(600):
        raw, region = sample(rng)
        for _ in range(8):  # the same prefix, other last digits
            cells = list(raw)
            places = [i for i, c in enumerate(cells) if c.isdigit()]
            for place in places[-rng.randrange(1, 8) :]:
                cells[place] = rng.choice("0123456789")
            inputs.append(("".join(cells), region))
    answers = [outcome(normalize_by_prefix, raw, region) for raw, region in inputs]
    answered_by_prefix = len(inputs) - len(library_calls)
    assert answers == [outcome(phone.normalize, raw, region) for raw, region in inputs]
    assert answered_by_prefix > len(inputs) // 10


@settings(max_examples=300, deadline=None)
@given(
    region=st.sampled_from(REGIONS),
    seed=st.integers(0, 2**32),
    tails=st.lists(st.text("0123456789", min_size=1, max_size=7), min_size=1, max_size=4),
)
def test_inputs_that_differ_in_their_last_digits_get_the_library_s_answers(
    region: str | None, seed: int, tails: list[str]
) -> None:
    raw, _ = sample(random.Random(seed))
    for tail in tails:
        cells = list(raw)
        places = [i for i, c in enumerate(cells) if c.isdigit()][-len(tail) :]
        for place, digit in zip(places, tail, strict=False):
            cells[place] = digit
        varied = "".join(cells)
        assert outcome(normalize_by_prefix, varied, region) == outcome(
            phone.normalize, varied, region
        )


def test_input_it_cannot_reason_about_goes_to_the_library(library_calls: list[str]) -> None:
    for raw in ("５５ １０００ ０００１", "55 1000 0001 ext. 12", "12", "llámame"):
        assert outcome(normalize_by_prefix, raw, "MX") == outcome(phone.normalize, raw, "MX")
    assert len(library_calls) >= 4
    assert outcome(normalize_by_prefix, "55 1000 0001", "XX") == outcome(
        phone.normalize, "55 1000 0001", "XX"
    )
