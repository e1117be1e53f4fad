"""Phone numbers: normalisation to E.164 and ``wa_id``, WhatsApp's country quirks, BSUIDs."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.rules.phone import (
    SERVICE_LINE_TYPES,
    InvalidPhoneNumber,
    InvalidPhoneReason,
    LineType,
    _region_code,  # the screen is private; its answers are not
    bsuid_country,
    country_of,
    is_bsuid,
    is_parent_bsuid,
    normalize,
)


@pytest.mark.parametrize(
    ("raw", "region", "e164", "wa_id", "country", "calling_code"),
    [
        # The facts file's send example: Meta answers this input with wa_id 5215512345678.
        ("+52 1 55 1234 5678", None, "+525512345678", "5215512345678", "MX", 52),
        ("5215512345678", None, "+525512345678", "5215512345678", "MX", 52),
        ("+525512345678", None, "+525512345678", "5215512345678", "MX", 52),
        ("55 1234 5678", "MX", "+525512345678", "5215512345678", "MX", 52),
        ("044 55 1234 5678", "mx", "+525512345678", "5215512345678", "MX", 52),
        ("5215512345678", "MX", "+525512345678", "5215512345678", "MX", 52),
        ("+52 222 123 4567", None, "+522221234567", "5212221234567", "MX", 52),
        ("+54 9 11 1234 5678", None, "+5491112345678", "5491112345678", "AR", 54),
        ("011 15 1234-5678", "AR", "+5491112345678", "5491112345678", "AR", 54),
        ("5491112345678", None, "+5491112345678", "5491112345678", "AR", 54),
        ("+54 11 1234 5678", None, "+541112345678", "541112345678", "AR", 54),
        # Meta's test numbers sit in the fictional 555-01XX range: possible, not assigned.
        ("(555) 010-0000", "US", "+15550100000", "15550100000", "US", 1),
        ("+1 555-010-0000", None, "+15550100000", "15550100000", "US", 1),
        ("(201) 555-0123", "US", "+12015550123", "12015550123", "US", 1),
        ("12015550123", "US", "+12015550123", "12015550123", "US", 1),
        ("447700900123", "US", "+447700900123", "447700900123", "GB", 44),
        ("0044 7700 900123", None, "+447700900123", "447700900123", "GB", 44),
        ("+34 612 34 56 78", None, "+34612345678", "34612345678", "ES", 34),
        ("+55 11 91234-5678", None, "+5511912345678", "5511912345678", "BR", 55),
        ("  +39 06 1234 5678 ", None, "+390612345678", "390612345678", "IT", 39),
        ("+1 800 555 0100", None, "+18005550100", "18005550100", "US", 1),
        ("+800 1234 5678", None, "+80012345678", "80012345678", None, 800),
    ],
)
def test_normalize_documented_cases(
    raw: str, region: str | None, e164: str, wa_id: str, country: str | None, calling_code: int
) -> None:
    number = normalize(raw, region)

    assert (number.e164, number.wa_id, number.country, number.calling_code) == (
        e164,
        wa_id,
        country,
        calling_code,
    )


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("", None, InvalidPhoneReason.EMPTY),
        ("   ", "US", InvalidPhoneReason.EMPTY),
        ("US.13491208655302741918", None, InvalidPhoneReason.BSUID),
        ("call me", None, InvalidPhoneReason.LETTERS),
        ("1-800-FLOWERS", "US", InvalidPhoneReason.LETTERS),
        ("+44 7700 900123 ext. 5", None, InvalidPhoneReason.LETTERS),
        ("+44 7700 900123 #5", None, InvalidPhoneReason.EXTENSION),
        ("12", None, InvalidPhoneReason.TOO_SHORT),
        ("+1 555", None, InvalidPhoneReason.TOO_SHORT),
        ("+1 201 555 0123 999", None, InvalidPhoneReason.TOO_LONG),
        ("+999 1234 5678", None, InvalidPhoneReason.UNKNOWN_COUNTRY_CODE),
        ("(555) 010-0000", None, InvalidPhoneReason.UNKNOWN_COUNTRY_CODE),
        ("+-()", None, InvalidPhoneReason.NOT_A_NUMBER),
        ("+1 900 555 0100", None, InvalidPhoneReason.LINE_TYPE),
    ],
)
def test_normalize_refuses_with_a_reason_naming_the_input(
    raw: str, region: str | None, reason: InvalidPhoneReason
) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw, region)

    assert caught.value.reason is reason
    assert repr(raw) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_rejected_line_types_are_the_callers_choice() -> None:
    landline = "+44 20 7946 0958"

    assert normalize(landline).line_type is LineType.FIXED_LINE
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(landline, rejected_line_types=SERVICE_LINE_TYPES | {LineType.FIXED_LINE})
    assert caught.value.reason is InvalidPhoneReason.LINE_TYPE
    assert normalize("+1 900 555 0100", rejected_line_types=frozenset()).e164 == "+19005550100"


def test_an_unknown_default_region_is_the_callers_error_not_the_numbers() -> None:
    with pytest.raises(ValueError, match="XX") as caught:
        normalize("5512345678", "XX")

    assert not isinstance(caught.value, InvalidPhoneNumber)


def test_validity_is_reported_not_required() -> None:
    assert normalize("+1 555 010 0000").is_valid is False
    assert normalize("+1 201 555 0123").is_valid is True


@pytest.mark.parametrize(
    ("value", "country"),
    [
        ("5215512345678", "MX"),
        ("+5491112345678", "AR"),
        ("15550100000", "US"),
        ("US.13491208655302741918", "US"),
        ("BR.ENT.11815799212886844830", "BR"),
        ("+80012345678", None),
        ("not a number", None),
        ("", None),
        ("+999 1234", None),
    ],
)
def test_country_of(value: str, country: str | None) -> None:
    assert country_of(value) == country


@pytest.mark.parametrize(
    ("value", "bsuid", "parent"),
    [
        ("US.13491208655302741918", True, False),
        ("MX.8815523094477120", True, False),
        ("US.ENT.11815799212886844830", True, True),
        ("US.abcXYZ123", True, False),
        ("US." + "9" * 128, True, False),
        ("US." + "9" * 129, False, False),
        ("us.13491208655302741918", False, False),
        ("USA.1349", False, False),
        ("US.", False, False),
        ("US.1349-1208", False, False),
        ("US.1349 ", False, False),
        ("5215512345678", False, False),
        ("+15550100000", False, False),
        ("US.１２３", False, False),
    ],
)
def test_bsuid_shape(value: str, bsuid: bool, parent: bool) -> None:
    assert is_bsuid(value) is bsuid
    assert is_parent_bsuid(value) is parent
    assert (bsuid_country(value) is not None) is bsuid


# Real numbers from libphonenumber's own examples, in every region it knows, written in the
# ways people write them: E.164, international with spaces, national with the region, wa_id.
_EXAMPLES = [
    example
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE)
    if (example := phonenumbers.example_number_for_type(region, kind)) is not None
]


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str | None]:
    number = draw(st.sampled_from(_EXAMPLES))
    region = phonenumbers.region_code_for_number(number)
    style = draw(st.sampled_from(["e164", "international", "national", "wa_id"]))
    if style == "e164":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
    if style == "international":
        formatted = phonenumbers.PhoneNumberFormat.INTERNATIONAL
        return phonenumbers.format_number(number, formatted), None
    if style == "national":
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL), region
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164.removeprefix("+"), None


@given(written_numbers())
def test_normalize_is_idempotent(written: tuple[str, str | None]) -> None:
    raw, region = written
    try:
        first = normalize(raw, region)
    except InvalidPhoneNumber:
        return

    assert normalize(first.e164) == first
    assert normalize(first.wa_id) == first
    assert first.wa_id.isdigit()
    assert first.e164 == "+" + first.wa_id or first.calling_code == 52


@given(st.text(max_size=40), st.sampled_from([None, "US", "MX", "AR", "GB", "IN"]))
def test_normalize_raises_only_its_own_error(raw: str, region: str | None) -> None:
    try:
        number = normalize(raw, region)
    except InvalidPhoneNumber as error:
        refused_input = error.raw
    else:
        assert normalize(number.e164) == number
        return
    assert refused_input == raw


# Calling codes shared by several regions: the ones where finding the region is a walk.
_SHARED_CALLING_CODES = sorted(
    code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items() if len(regions) > 1
)


@pytest.mark.parametrize("calling_code", _SHARED_CALLING_CODES)
def test_the_region_screen_answers_as_the_library_for_every_example(calling_code: int) -> None:
    examples = [
        example
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[calling_code]
        for kind in range(12)  # every PhoneNumberType but UNKNOWN
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    # Meta's fictional test range, claimed by no region, and a reachable neighbour.
    examples += [phonenumbers.parse("+15550100001"), phonenumbers.parse("+12015550123")]
    for number in examples:
        assert _region_code(number) == phonenumbers.region_code_for_number(number), number


@given(
    st.sampled_from(_SHARED_CALLING_CODES),
    st.integers(min_value=3, max_value=13).flatmap(
        lambda length: st.integers(min_value=10 ** (length - 1), max_value=10**length - 1)
    ),
)
def test_the_region_screen_answers_as_the_library(calling_code: int, national: int) -> None:
    number = phonenumbers.PhoneNumber(country_code=calling_code, national_number=national)
    assert _region_code(number) == phonenumbers.region_code_for_number(number)
