"""Phone numbers as WhatsApp sees them: E.164, the ``wa_id``, the country.

`normalize` turns what people type ("+52 1 55 1234 5678", "(201) 555-0123" with a default
region, a bare ``wa_id`` such as "5215512345678") into one `PhoneNumber`, or raises
`InvalidPhoneNumber` naming the input and the reason. Parsing and the numbering plans come from
Google's libphonenumber (the ``phonenumbers`` package); this module adds only what WhatsApp does
differently:

- **Mexico** (+52): Mexico dropped the mobile "1" (and the 044/045/01 dialling prefixes) in
  August 2019, so E.164 is +52 and ten digits, but WhatsApp still identifies Mexican users as
  ``521`` + ten digits (``wa_id`` in webhooks and in the send response's ``contacts[]``), and
  people still type the "1". We accept both and keep the two apart: ``e164`` without the 1,
  ``wa_id`` with it. The numbering plan no longer tells mobiles from landlines, so every Mexican
  number gets the 1 in its ``wa_id``; a WhatsApp Business app on a Mexican landline would not.
- **Argentina** (+54): mobiles carry a 9 after the country code internationally (+54 9 11 ...)
  and "15" nationally (011 15 ...). libphonenumber already turns "011 15 1234-5678" into
  +54 9 11 1234 5678, and WhatsApp's ``wa_id`` is the same ``549`` + ten digits, so both agree.
  A number typed without the 9 is an Argentine landline to the numbering plan, and stays one.
- **Brazil** (+55): accounts older than the 2016 ninth-digit change may still carry ``wa_id``s
  without the 9; nothing here can tell, so Brazilian numbers are taken as typed.

Validity: a number must be *possible* (right length for its country), not necessarily *valid*
(inside an assigned range): Meta's own test numbers live in the fictional +1 555-01XX range.
Landlines and toll-free numbers are accepted because Meta registers any number that can receive a
voice call or an SMS, 1-800 numbers included (Business phone numbers, "Eligibility
requirements"). Rejected by default are the line types that cannot hold a WhatsApp account where
libphonenumber knows the type: premium-rate, pager and voicemail-access numbers. Callers that want
mobiles only pass their own ``rejected_line_types``.

Also here: telling a business-scoped user id (BSUID, "US.13491208655302741918", from 2026) from a
phone number, since a contact may now be known by either.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

__all__ = [
    "SERVICE_LINE_TYPES",
    "InvalidPhoneNumber",
    "InvalidPhoneReason",
    "LineType",
    "PhoneNumber",
    "bsuid_country",
    "country_of",
    "is_bsuid",
    "is_parent_bsuid",
    "normalize",
]

# ISO 3166 alpha-2, a period, then up to 128 ASCII letters and digits (Meta, "Business-scoped
# user IDs"). Parent BSUIDs, shared by linked portfolios, put "ENT." after the country.
_BSUID = re.compile(r"([A-Z]{2})\.[A-Za-z0-9]{1,128}")
_PARENT_BSUID = re.compile(r"([A-Z]{2})\.ENT\.[A-Za-z0-9]{1,128}")

# Distinct (input, region, rejected types) answers `normalize` remembers: a few MB.
_REMEMBERED_NUMBERS = 32_768

# libphonenumber answers "not a number" below three digits; to a person that is "too short".
_FEWEST_DIGITS_PARSED = 3

_MEXICO_CALLING_CODE = 52
# Dialled before a Mexican number until August 2019: "1" after +52 or 044/045 for mobiles,
# 01 for long distance. Each leaves the ten-digit national number behind it.
_MEXICO_MOBILE_MARKERS = re.compile(r"(?:1|04[45])(\d{10})")
_MEXICO_LONG_DISTANCE = re.compile(r"01(\d{10})")


class LineType(StrEnum):
    """What kind of line a number is, as libphonenumber's metadata knows it."""

    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


_LINE_TYPES: dict[int, LineType] = {
    PhoneNumberType.MOBILE: LineType.MOBILE,
    PhoneNumberType.FIXED_LINE: LineType.FIXED_LINE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: LineType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: LineType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: LineType.SHARED_COST,
    PhoneNumberType.VOIP: LineType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: LineType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER: LineType.PAGER,
    PhoneNumberType.UAN: LineType.UAN,
    PhoneNumberType.VOICEMAIL: LineType.VOICEMAIL,
}

SERVICE_LINE_TYPES: frozenset[LineType] = frozenset(
    {LineType.PREMIUM_RATE, LineType.PAGER, LineType.VOICEMAIL}
)
"""Line types no WhatsApp account can live on; `normalize` rejects them by default."""


class InvalidPhoneReason(StrEnum):
    """Why a string is not a WhatsApp phone number."""

    EMPTY = "empty"
    BSUID = "bsuid"
    LETTERS = "letters"
    EXTENSION = "extension"
    NOT_A_NUMBER = "not_a_number"
    UNKNOWN_COUNTRY_CODE = "unknown_country_code"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    NOT_POSSIBLE = "not_possible"
    LINE_TYPE = "line_type"


_EXPLANATIONS: dict[InvalidPhoneReason, str] = {
    InvalidPhoneReason.EMPTY: "is empty",
    InvalidPhoneReason.BSUID: (
        "is a business-scoped user id, not a phone number; send to it with `recipient`"
    ),
    InvalidPhoneReason.LETTERS: "contains letters; a WhatsApp number is digits only",
    InvalidPhoneReason.EXTENSION: "has an extension, which a WhatsApp number cannot have",
    InvalidPhoneReason.NOT_A_NUMBER: "does not look like a phone number",
    InvalidPhoneReason.UNKNOWN_COUNTRY_CODE: (
        "has no known country calling code (write it with + and the country code, "
        "or give a default region)"
    ),
    InvalidPhoneReason.TOO_SHORT: "is too short for its country",
    InvalidPhoneReason.TOO_LONG: "is too long for its country",
    InvalidPhoneReason.NOT_POSSIBLE: "is not a possible number for its country",
    InvalidPhoneReason.LINE_TYPE: "is a kind of line that cannot have WhatsApp",
}


class InvalidPhoneNumber(ValueError):
    """The input is not a phone number WhatsApp could know; ``reason`` says why."""

    def __init__(self, raw: str, reason: InvalidPhoneReason, detail: str | None = None) -> None:
        self.raw = raw
        self.reason = reason
        self.detail = detail
        message = f"{raw!r} {_EXPLANATIONS[reason]}"
        if detail:
            message = f"{message} ({detail})"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """One phone number, in the forms the Cloud API uses.

    ``e164`` is the canonical form ("+525512345678") and the identity: two inputs are the
    same number exactly when their ``e164`` agree. ``wa_id`` is how WhatsApp names the user
    (digits, no "+", Mexico's "1" included: "5215512345678"); send to it or to ``e164``, and
    match webhooks' ``from``/``wa_id`` by normalising them. ``country`` is the ISO 3166 alpha-2
    region, or None for non-geographic codes (+800, +882, ...). ``calling_code`` is 52 here.
    """

    e164: str
    wa_id: str
    country: str | None
    calling_code: int
    line_type: LineType
    is_valid: bool
    """Inside a range the numbering plan has assigned (False for Meta's 555-01XX numbers)."""


def normalize(
    raw: str,
    default_region: str | None = None,
    *,
    rejected_line_types: frozenset[LineType] = SERVICE_LINE_TYPES,
) -> PhoneNumber:
    """Parse what a person or Meta wrote into a `PhoneNumber`, or raise `InvalidPhoneNumber`.

    A leading "+" (or "00" when there is no default region) makes the input international.
    Without a "+", ``default_region`` (ISO alpha-2, e.g. "MX") reads it as a national number;
    a bare digit string that is not a valid national number is then tried as a ``wa_id``
    (country code first), because ``wa_id``s arrive without "+". With neither, the digits are
    taken as a ``wa_id``. Idempotent: ``normalize(normalize(x).e164) == normalize(x)``.

    Raises ``ValueError`` (not `InvalidPhoneNumber`) when ``default_region`` itself is unknown:
    that is the caller's configuration, not the number.

    Answers are remembered (the function is pure): the same customer's number arrives with
    every send and webhook, and one parse costs a quarter of a millisecond.
    """
    outcome = _normalize_remembered(raw, default_region, rejected_line_types)
    if isinstance(outcome, PhoneNumber):
        return outcome
    reason, detail = outcome
    # A fresh exception each time: a remembered one would collect tracebacks as it is raised.
    raise InvalidPhoneNumber(raw, reason, detail)


@functools.lru_cache(maxsize=_REMEMBERED_NUMBERS)
def _normalize_remembered(
    raw: str, default_region: str | None, rejected_line_types: frozenset[LineType]
) -> PhoneNumber | tuple[InvalidPhoneReason, str | None]:
    try:
        return _normalize(raw, default_region, rejected_line_types)
    except InvalidPhoneNumber as error:
        return error.reason, error.detail


def _normalize(
    raw: str, default_region: str | None, rejected_line_types: frozenset[LineType]
) -> PhoneNumber:
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber(raw, InvalidPhoneReason.EMPTY)
    if is_bsuid(text):
        raise InvalidPhoneNumber(raw, InvalidPhoneReason.BSUID)
    if any(character.isalpha() for character in text):
        raise InvalidPhoneNumber(raw, InvalidPhoneReason.LETTERS)
    region = _checked_region(default_region)

    attempts: list[tuple[str, str | None]]
    digits = "".join(character for character in text if character.isdigit())
    if text.startswith("+"):
        attempts = [(text, None)]
    elif region is None:
        if "(" in text:
            # "(555) 010-0000" is written nationally; its digits are no wa_id.
            raise InvalidPhoneNumber(raw, InvalidPhoneReason.UNKNOWN_COUNTRY_CODE)
        attempts = [("+" + digits.removeprefix("00"), None)]
    elif text.isdigit():
        attempts = [(text, region), ("+" + digits, None)]
    else:
        attempts = [(text, region)]

    parsed: list[phonenumbers.PhoneNumber] = []
    first_error: InvalidPhoneNumber | None = None
    for candidate, candidate_region in attempts:
        try:
            number = phonenumbers.parse(candidate, candidate_region)
        except NumberParseException as error:
            reason = _parse_error_reason(error, digit_count=len(digits))
            first_error = first_error or InvalidPhoneNumber(raw, reason)
            continue
        parsed.append(_without_mexican_prefix(number))
    if not parsed:
        assert first_error is not None
        raise first_error

    if len(parsed) == 1:
        return _checked(raw, parsed[0], rejected_line_types)
    chosen = next((number for number in parsed if phonenumbers.is_valid_number(number)), None)
    if chosen is None:
        chosen = next((number for number in parsed if _possibility(number) is None), parsed[0])
    return _checked(raw, chosen, rejected_line_types)


def country_of(wa_id_or_e164: str) -> str | None:
    """The ISO alpha-2 country of a ``wa_id``, an E.164 number or a BSUID; None if unknown.

    Never raises: anything that is not a recognisable number or BSUID gives None.
    """
    bsuid_region = bsuid_country(wa_id_or_e164)
    if bsuid_region is not None:
        return bsuid_region
    try:
        return normalize(wa_id_or_e164, rejected_line_types=frozenset()).country
    except InvalidPhoneNumber:
        return None


def is_bsuid(value: str) -> bool:
    """Whether ``value`` is a business-scoped user id, regular or parent, not a phone number.

    Regular: "US.13491208655302741918"; parent (linked portfolios): "US.ENT.11815799212886844830".
    Only the shape is checked: the two letters must be uppercase ASCII, not a known region.
    """
    return _BSUID.fullmatch(value) is not None or _PARENT_BSUID.fullmatch(value) is not None


def is_parent_bsuid(value: str) -> bool:
    """Whether ``value`` is a parent BSUID ("US.ENT.…"), shared across linked portfolios."""
    return _PARENT_BSUID.fullmatch(value) is not None


def bsuid_country(value: str) -> str | None:
    """The country prefix of a BSUID ("US" for "US.1349…"), or None if ``value`` is not one."""
    match = _PARENT_BSUID.fullmatch(value) or _BSUID.fullmatch(value)
    return match.group(1) if match else None


def _checked_region(default_region: str | None) -> str | None:
    if default_region is None:
        return None
    region = default_region.upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default region {default_region!r}; expected ISO alpha-2")
    return region


def _without_mexican_prefix(number: phonenumbers.PhoneNumber) -> phonenumbers.PhoneNumber:
    """Drop the pre-2019 Mexican "1"/044/045/01 that libphonenumber now keeps as digits."""
    if number.country_code != _MEXICO_CALLING_CODE:
        return number
    digits = phonenumbers.national_significant_number(number)
    match = _MEXICO_MOBILE_MARKERS.fullmatch(digits) or _MEXICO_LONG_DISTANCE.fullmatch(digits)
    if match is None:
        return number
    return phonenumbers.PhoneNumber(
        country_code=_MEXICO_CALLING_CODE, national_number=int(match.group(1))
    )


def _possibility(number: phonenumbers.PhoneNumber) -> InvalidPhoneReason | None:
    result = phonenumbers.is_possible_number_with_reason(number)
    if result == ValidationResult.IS_POSSIBLE:
        return None
    if result == ValidationResult.INVALID_COUNTRY_CODE:
        return InvalidPhoneReason.UNKNOWN_COUNTRY_CODE
    if result == ValidationResult.TOO_SHORT:
        return InvalidPhoneReason.TOO_SHORT
    if result == ValidationResult.TOO_LONG:
        return InvalidPhoneReason.TOO_LONG
    # IS_POSSIBLE_LOCAL_ONLY (dialable only inside its area) and INVALID_LENGTH.
    return InvalidPhoneReason.NOT_POSSIBLE


def _parse_error_reason(error: NumberParseException, *, digit_count: int) -> InvalidPhoneReason:
    if error.error_type == NumberParseException.INVALID_COUNTRY_CODE:
        return InvalidPhoneReason.UNKNOWN_COUNTRY_CODE
    if error.error_type in (
        NumberParseException.TOO_SHORT_AFTER_IDD,
        NumberParseException.TOO_SHORT_NSN,
    ):
        return InvalidPhoneReason.TOO_SHORT
    if error.error_type == NumberParseException.TOO_LONG:
        return InvalidPhoneReason.TOO_LONG
    if 0 < digit_count <= _FEWEST_DIGITS_PARSED:
        return InvalidPhoneReason.TOO_SHORT
    return InvalidPhoneReason.NOT_A_NUMBER


def _checked(
    raw: str, number: phonenumbers.PhoneNumber, rejected_line_types: frozenset[LineType]
) -> PhoneNumber:
    calling_code = number.country_code
    if calling_code is None:
        raise InvalidPhoneNumber(raw, InvalidPhoneReason.UNKNOWN_COUNTRY_CODE)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension:
        raise InvalidPhoneNumber(raw, InvalidPhoneReason.EXTENSION)
    impossible = _possibility(number)
    if impossible is not None:
        raise InvalidPhoneNumber(raw, impossible, f"read as {e164}")
    # Finding the region walks every region of the calling code (25 for +1) when the number
    # fits none of them, as Meta's 555 test numbers do (`_region_code` answers those at
    # once); `is_valid_number` and `number_type` would each walk again. An invalid number's
    # type is UNKNOWN by definition.
    region = _region_code(number)
    valid = phonenumbers.is_valid_number_for_region(number, region) if region else False
    line_type = (
        _LINE_TYPES.get(phonenumbers.number_type(number), LineType.UNKNOWN)
        if valid
        else LineType.UNKNOWN
    )
    if line_type in rejected_line_types:
        raise InvalidPhoneNumber(raw, InvalidPhoneReason.LINE_TYPE, f"{e164} is {line_type}")

    wa_id = e164.removeprefix("+")
    if calling_code == _MEXICO_CALLING_CODE:
        wa_id = f"{_MEXICO_CALLING_CODE}1{phonenumbers.national_significant_number(number)}"
    return PhoneNumber(
        e164=e164,
        wa_id=wa_id,
        country=_region(region, calling_code),
        calling_code=calling_code,
        line_type=line_type,
        is_valid=valid,
    )


def _region_code(number: phonenumbers.PhoneNumber) -> str | None:
    """``phonenumbers.region_code_for_number``, answering None at once for a number that no
    region of its calling code can claim.

    The library tries the regions one by one: a region with ``leading_digits`` claims the
    numbers they match, any other region a number of a type it knows, which takes its
    general pattern and one of its types' patterns matching. A number that no region can
    claim so (Meta's +1 555 test numbers) would walk them all, 40 µs for +1, a tenth of a
    new recipient's cost in the emulator, to end in None. Anything else still goes through
    the library, so the answer is always the library's.
    """
    claimable = _region_screen(number.country_code)
    if claimable is not None and not claimable(phonenumbers.national_significant_number(number)):
        return None
    return phonenumbers.region_code_for_number(number)


# The number types `phonenumbers` tells apart, as the names of a region's descriptions.
_TYPE_DESCRIPTIONS: tuple[str, ...] = (
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan",
    "voicemail", "fixed_line", "mobile",
)  # fmt: skip


@functools.cache
def _region_screen(calling_code: int) -> Callable[[str], bool] | None:
    """Whether a national number could belong to a region of ``calling_code`` (see
    `_region_code`); None when the library answers without a walk (one region or none)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code)
    if regions is None or len(regions) < 2:
        return None
    leading: list[str] = []
    typed: list[tuple[re.Pattern[str], re.Pattern[str] | None]] = []
    for region in regions:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            leading.append(f"(?:{metadata.leading_digits})")
            continue
        general = _pattern_of(metadata.general_desc)
        if general is None:
            continue  # matches nothing: the region claims no number
        kinds = [_pattern_of(getattr(metadata, name, None)) for name in _TYPE_DESCRIPTIONS]
        patterns = [f"(?:{kind})" for kind in kinds if kind is not None]
        typed.append((re.compile(general), re.compile("|".join(patterns)) if patterns else None))
    starts = re.compile("|".join(leading)).match if leading else None

    def claimable(national_number: str) -> bool:
        if starts is not None and starts(national_number):
            return True
        return any(
            general.fullmatch(national_number) and kinds.fullmatch(national_number)
            for general, kinds in typed
            if kinds is not None
        )

    return claimable


def _pattern_of(description: object) -> str | None:
    pattern = getattr(description, "national_number_pattern", None)
    return str(pattern) if pattern else None


def _region(region: str | None, calling_code: int) -> str | None:
    if region is None:
        # Possible but unassigned numbers (Meta's +1 555-01XX test range) fit no region's plan;
        # the calling code's main region is the best answer there is.
        region = phonenumbers.region_code_for_country_code(calling_code)
    if region in (None, "ZZ", "001"):
        return None
    return str(region)
