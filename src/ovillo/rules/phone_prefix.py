"""Normalising many phone numbers by their shared prefix, with the same answers as
``rules.phone.normalize`` and a fraction of its cost: a contact import's file, the
emulator's stream of recipients.

A contact list holds a million different numbers, so ``normalize``'s own memory of exact
inputs rarely helps, and each parse costs a few hundred microseconds: most of an import's
time. But the numbers of one file share their shape and their first digits ("55 1234 5678",
"55 1234 9876"), and libphonenumber decides everything about a number (its country code,
national prefix, region, length, type and validity) from its length and from regular
expressions that, for most countries, look at the first digits only and accept any digit
in the last few positions (Mexico's mobiles: ``...\\d{7}``). Two inputs that differ only in
those last digits then go through the same decisions, and their answers differ only in
those digits.

``normalize_by_prefix`` proves this for each input before using it (``_free_tail``): it
reads, for every numbering plan the input could be parsed under (the default region's, and
those of the calling codes its first digits could be), how many trailing digits every
pattern of the plan leaves free (``generic_tail``), and how deep the patterns anchored at
the start look (``specific_depth``), from the patterns' syntax trees. When the input's last
``k`` ASCII digits are free, the answer for any earlier input of the same prefix and shape
is the answer, with its last ``k`` digits replaced. Anything it cannot prove (non-ASCII
input, a pattern it does not understand, a short number, an invalid one) goes to
``normalize`` itself, so the answers are always the library's.
"""

from __future__ import annotations

import functools
import re
from re import _constants as sre  # type: ignore[attr-defined]  # the parser's opcodes
from re import _parser as sre_parse  # type: ignore[attr-defined]  # no public syntax tree
from typing import Any, Final

import phonenumbers

from ovillo.rules import phone

# The descriptions libphonenumber matches whole national numbers against.
_FULL_PATTERNS: Final = (
    "general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost",
    "personal_number", "voip", "pager", "uan", "voicemail", "no_international_dialling",
)  # fmt: skip
_UNBOUNDED: Final = 1 << 30
# Rules' own Mexican patterns (``(?:1|04[45])(\d{10})``, ``01(\d{10})``) leave ten free.
_RULES_FREE_TAIL: Final = 10
# The first digits that decide which calling codes an input could be parsed under.
_LEADING: Final = 6
_FEWEST_FREE: Final = 2
_MOST_REMEMBERED: Final = 65_536
_NON_DIGITS: Final = re.compile(r"[^0-9]+")
_ZEROES: Final = str.maketrans("0123456789", "0000000000")


def _is_any_digit(op: Any, av: Any) -> bool:
    """An atom that accepts every digit alike (``\\d``, ``[0-9]``)."""
    return op is sre.IN and av in (
        [(sre.CATEGORY, sre.CATEGORY_DIGIT)],
        [(sre.RANGE, (48, 57))],
    )


def _generic(items: Any) -> bool:
    """Whether a sequence treats all digits alike (only ``\\d``, groups of them, anchors)."""
    for op, av in items:
        if op is sre.AT or _is_any_digit(op, av):
            continue
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            body = av[2]
        elif op is sre.SUBPATTERN:
            body = av[3]
        elif op is sre.ASSERT:
            body = av[1]
        elif op is sre.BRANCH:
            if all(_generic(branch) for branch in av[1]):
                continue
            return False
        else:
            return False
        if not _generic(body):
            return False
    return True


def _widths(op: Any, av: Any) -> tuple[int, int]:
    low, high = sre_parse.SubPattern(sre_parse.State(), [(op, av)]).getwidth()
    return low, min(high, _UNBOUNDED)


def generic_tail(items: Any) -> int:
    """How many characters at the end of any full match only digit-blind atoms matched."""
    total = 0
    for op, av in reversed(list(items)):
        if op is sre.AT:
            continue
        if _generic([(op, av)]):
            total += _widths(op, av)[0]
            continue
        if op is sre.SUBPATTERN:
            return total + generic_tail(av[3])
        if op is sre.BRANCH:
            return total + min(generic_tail(branch) for branch in av[1])
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[0] >= 1:
            return total + generic_tail(av[2])
        if op in (sre.ASSERT, sre.ASSERT_NOT) and av[0] == 1:
            # A lookahead reads on into what follows it, the tail counted so far.
            reach: int = sre_parse.SubPattern(sre_parse.State(), list(av[1])).getwidth()[1]
            return max(0, total - reach)
        return total
    return total


def specific_depth(items: Any) -> int:
    """How far from the start a match can look at which digit it has: past this depth
    every atom accepts any digit. ``_UNBOUNDED`` when that cannot be told."""
    position = depth = 0
    for op, av in items:
        high = _widths(op, av)[1]
        if op is sre.AT:
            continue
        if _generic([(op, av)]):
            position += high
            continue
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            depth = max(depth, position + 1)
        elif op is sre.SUBPATTERN:
            depth = max(depth, position + specific_depth(av[3]))
        elif op is sre.BRANCH:
            depth = max(depth, position + max(specific_depth(branch) for branch in av[1]))
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            # A lookaround reads as far as its own pattern reaches, from here.
            reach = sre_parse.SubPattern(sre_parse.State(), list(av[1])).getwidth()[1]
            depth = max(depth, position + min(reach, _UNBOUNDED))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT) and av[1] == 1:  # optional: once at most
            depth = max(depth, position + specific_depth(av[2]))
        else:  # a repeat of something digit-specific: as far as it may reach
            depth = max(depth, position + high)
        position += high
    return min(depth, _UNBOUNDED)


@functools.cache
def _pattern_tail(pattern: str) -> int:
    try:
        return generic_tail(sre_parse.parse(pattern))
    except Exception:  # anything the parser's tree has that we do not read: prove nothing
        return 0


@functools.cache
def _pattern_depth(pattern: str) -> int:
    try:
        return specific_depth(sre_parse.parse(pattern))
    except Exception:
        return _UNBOUNDED


@functools.cache
def _pattern_width(pattern: str) -> int:
    try:
        width: int = sre_parse.parse(pattern).getwidth()[1]
        return min(width, _UNBOUNDED)
    except Exception:
        return _UNBOUNDED


def _metadata(region: str) -> Any:
    if region == "001":
        return None
    return phonenumbers.PhoneMetadata.metadata_for_region(region, None)


@functools.cache
def _plan(calling_code: int, parsing_region: str | None) -> tuple[int, int, int, int] | None:
    """A calling code's numbering plan as this module needs it: the fewest free trailing
    digits of its regions' whole-number patterns; how deep the parsing region's national
    prefix patterns look; how many digits they may take off; how deep its regions'
    ``leading_digits`` look. None when the plan is not one this module can read."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(calling_code)
    if not regions:
        return None
    every = []
    for region in regions:
        if region == "001":
            metadata = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(calling_code, None)
        else:
            metadata = _metadata(region)
        if metadata is None:
            return None
        every.append(metadata)
    tail = _RULES_FREE_TAIL
    leading = 0
    for metadata in every:
        for name in _FULL_PATTERNS:
            pattern = getattr(getattr(metadata, name, None), "national_number_pattern", None)
            if pattern:
                tail = min(tail, _pattern_tail(pattern))
        if metadata.leading_digits:
            leading = max(leading, _pattern_depth(metadata.leading_digits), 1)
    parsing = (_metadata(parsing_region) if parsing_region else None) or every[0]
    prefix_depth = prefix_width = 0
    for pattern in (parsing.national_prefix_for_parsing, parsing.national_prefix):
        if pattern:
            prefix_depth = max(prefix_depth, _pattern_depth(pattern))
            prefix_width = max(prefix_width, _pattern_width(pattern))
    return tail, prefix_depth, prefix_width, leading


def _country_code(region: str) -> int | None:
    metadata = _metadata(region)
    return None if metadata is None else int(metadata.country_code)


@functools.lru_cache(maxsize=4_096)
def _free_tail(region: str | None, digit_count: int, leading: str) -> int:
    """How many of the last digits of an input with ``digit_count`` ASCII digits, the first
    ones ``leading``, no decision of ``normalize`` looks at (0: not proven)."""
    # Where the calling code may start (after nothing, "00" or the region's exit code),
    # each with the codes the digits there could be, and the region that parses the rest.
    parses: list[tuple[int, int, int, str | None]] = []  # (offset, code length, code, region)
    starts = {0, 2} if leading.startswith("00") else {0}
    if region is not None:
        code = _country_code(region)
        metadata = _metadata(region)
        if code is None or metadata is None:
            return 0
        parses.append((0, 0, code, region))
        exit_code = metadata.international_prefix
        if exit_code:
            if _pattern_width(exit_code) > 3:
                return 0
            found = re.match(exit_code, leading)
            if found:
                starts.add(found.end())
    for start in starts:
        for length in (1, 2, 3):
            candidate = leading[start : start + length]
            if len(candidate) == length and int(candidate) in (
                phonenumbers.COUNTRY_CODE_TO_REGION_CODE
            ):
                parses.append((start, length, int(candidate), None))
    free = _RULES_FREE_TAIL
    for start, length, code, parsing_region in parses:
        plan = _plan(code, parsing_region)
        if plan is None:
            return 0
        tail, prefix_depth, prefix_width, leading_depth = plan
        rest = digit_count - start - length
        free = min(free, tail, rest - prefix_depth)
        if leading_depth:
            free = min(free, rest - prefix_width - leading_depth)
    # The prefix must hold the digits this was decided from.
    free = min(free, digit_count - _LEADING)
    return free if free >= _FEWEST_FREE else 0


_remembered: dict[tuple[str | None, str, str], phone.PhoneNumber] = {}


def normalize_by_prefix(raw: str, default_region: str | None = None) -> phone.PhoneNumber:
    """``phone.normalize(raw, default_region)`` (default line types), answered from an
    earlier input of the same prefix and shape when that is proven to give the same."""
    if not raw.isascii():
        return phone.normalize(raw, default_region)
    region = default_region.upper() if default_region else None
    digits = _NON_DIGITS.sub("", raw)
    free = _free_tail(region, len(digits), digits[:_LEADING])
    if not free:
        return phone.normalize(raw, default_region)
    split = len(raw)
    for _ in range(free):
        split -= 1
        while not raw[split].isdigit():
            split -= 1
    key = (region, raw[:split], raw[split:].translate(_ZEROES))
    tail = digits[-free:]
    known = _remembered.get(key)
    if known is not None:
        return phone.PhoneNumber(
            e164=known.e164[:-free] + tail,
            wa_id=known.wa_id[:-free] + tail,
            country=known.country,
            calling_code=known.calling_code,
            line_type=known.line_type,
            is_valid=known.is_valid,
        )
    number = phone.normalize(raw, default_region)
    # Only an answer that carries the input's last digits as its own can lend them.
    if number.e164.endswith(tail) and number.wa_id.endswith(tail):
        if len(_remembered) >= _MOST_REMEMBERED:
            _remembered.clear()
        _remembered[key] = number
    return number
