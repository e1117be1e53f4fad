"""Meta's rules for WhatsApp message templates, checked before Meta sees them.

Two moments need them. Before a template is submitted (``POST /{waba-id}/message_templates``)
the platform shows the user every problem at once, and the emulator answers the way Meta
would. Before a template is *sent*, the parameters of the send must fit the approved
template, or Meta answers 132000 (count mismatch) or 132012 (format mismatch).

The input is the JSON exactly as it travels to Meta, as plain mappings and lists, so that
both callers can use these functions without any model of ours: rules import nothing else
from ovillo. Nothing here raises on malformed input; a wrong type is one more violation.

Where the rules come from (Meta for Developers, WhatsApp Business Platform):

- "Template components": header text 60 characters and 1 parameter; body 1,024; footer 60;
  up to 10 buttons, 2 URL, 1 phone number, 1 copy code, quick replies grouped apart from the
  other buttons; button labels 25; URL 2,000 with one variable appended at the end; phone
  number 20; copy-code example 15; media headers need an ``example.header_handle``.
- "Template fundamentals" and "Template review": names of lowercase letters, digits and
  underscores up to 512 characters; parameters sequential from ``{{1}}``; samples required;
  no parameter at the start or end; no two parameters side by side; not too many parameters
  for the length of the message.
- "Supported languages" (updated May 21, 2026): the language codes below.
- "Authentication templates" (copy code, one-tap, zero-tap): Meta's preset body with only
  ``add_security_recommendation``, a footer of ``code_expiration_minutes`` 1-90, one OTP
  button, ``supported_apps`` of up to 5 apps with an 11-character signature hash; no URLs,
  media or emojis.
- "Error codes", template creation errors: subcodes 2388040 (character limit), 2388047
  (header format), 2388072 (body format), 2388073 (footer format), 2388293 (parameters to
  words ratio), 2388299 (leading or trailing parameter), 2388019 (too many templates).

Meta documents that a body may have "too many variables for its length" (2388293) but not
the threshold. Several providers measured it independently as at least ``2n + 1`` words of
fixed text for ``n`` parameters (``3n + 1`` counting the parameters themselves); that is
the rule used here, as named constants, so it can be moved when Meta says otherwise.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any

__all__ = [
    "BODY_TEXT_MAX_LENGTH",
    "BUTTONS_MAX_TOTAL",
    "BUTTON_TEXT_MAX_LENGTH",
    "CODE_EXPIRATION_MINUTES_MAX",
    "CODE_EXPIRATION_MINUTES_MIN",
    "COPY_CODE_BUTTONS_MAX",
    "COPY_CODE_EXAMPLE_MAX_LENGTH",
    "FOOTER_TEXT_MAX_LENGTH",
    "HEADER_TEXT_MAX_LENGTH",
    "HEADER_TEXT_MAX_VARIABLES",
    "PARAMETER_FORMATS",
    "PHONE_NUMBER_BUTTONS_MAX",
    "PHONE_NUMBER_MAX_LENGTH",
    "SUPPORTED_LANGUAGES",
    "TEMPLATE_CATEGORIES",
    "TEMPLATE_NAME_MAX_LENGTH",
    "URL_BUTTONS_MAX",
    "URL_MAX_LENGTH",
    "SendParameterProblem",
    "SendProblemCode",
    "TemplateViolation",
    "ViolationCode",
    "check_send_parameters",
    "check_template_quota",
    "count_parameters",
    "template_variables",
    "validate_template",
]

# --- Limits (Meta's "Template components" and "Authentication templates" pages) ---------

TEMPLATE_NAME_MAX_LENGTH = 512
HEADER_TEXT_MAX_LENGTH = 60
HEADER_TEXT_MAX_VARIABLES = 1
BODY_TEXT_MAX_LENGTH = 1024
FOOTER_TEXT_MAX_LENGTH = 60
BUTTONS_MAX_TOTAL = 10
URL_BUTTONS_MAX = 2
PHONE_NUMBER_BUTTONS_MAX = 1
COPY_CODE_BUTTONS_MAX = 1
VOICE_CALL_BUTTONS_MAX = 1
BUTTON_TEXT_MAX_LENGTH = 25
URL_MAX_LENGTH = 2000
URL_MAX_VARIABLES = 1
PHONE_NUMBER_MAX_LENGTH = 20
COPY_CODE_EXAMPLE_MAX_LENGTH = 15
CODE_EXPIRATION_MINUTES_MIN = 1
CODE_EXPIRATION_MINUTES_MAX = 90
OTP_SUPPORTED_APPS_MAX = 5
OTP_PACKAGE_NAME_MAX_LENGTH = 224
OTP_SIGNATURE_HASH_LENGTH = 11

# Time-to-live of a template message, per category ("Time-to-live" in Meta's template docs).
MESSAGE_SEND_TTL_SECONDS: Mapping[str, tuple[int, int]] = {
    "AUTHENTICATION": (30, 900),
    "UTILITY": (30, 43_200),
    "MARKETING": (43_200, 2_592_000),
}

# Measured by providers, not published by Meta (see the module docstring).
MIN_FIXED_WORDS_PER_VARIABLE = 2
MIN_FIXED_WORDS_EXTRA = 1

# Templates per WhatsApp Business Account before the business portfolio is verified.
TEMPLATE_QUOTA_UNVERIFIED = 250

TEMPLATE_CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
PARAMETER_FORMATS = frozenset({"POSITIONAL", "NAMED"})
DEFAULT_PARAMETER_FORMAT = "POSITIONAL"

# Every code on Meta's "Supported Languages" page (updated May 21, 2026). Codes are
# case-sensitive: ``en_US``, never ``en-US`` or ``en_us``.
SUPPORTED_LANGUAGES = frozenset(
    {
        "af", "sq", "ar", "ar_EG", "ar_AE", "ar_LB", "ar_MA", "ar_QA", "az", "be_BY",
        "bn", "bn_IN", "bg", "ca", "zh_CN", "zh_HK", "zh_TW", "hr", "cs", "da", "prs_AF",
        "nl", "nl_BE", "en", "en_GB", "en_US", "en_AE", "en_AU", "en_CA", "en_GH", "en_IE",
        "en_IN", "en_JM", "en_MY", "en_NZ", "en_QA", "en_SG", "en_UG", "en_ZA", "et",
        "fil", "fi", "fr", "fr_BE", "fr_CA", "fr_CH", "fr_CI", "fr_MA", "ka", "de",
        "de_AT", "de_CH", "el", "gu", "ha", "he", "hi", "hu", "id", "ga", "it", "ja",
        "kn", "kk", "rw_RW", "ko", "ky_KG", "lo", "lv", "lt", "mk", "ms", "ml", "mr",
        "nb", "ps_AF", "fa", "pl", "pt_BR", "pt_PT", "pa", "ro", "ru", "sr", "si_LK",
        "sk", "sl", "es", "es_AR", "es_CL", "es_CO", "es_CR", "es_DO", "es_EC", "es_HN",
        "es_MX", "es_PA", "es_PE", "es_ES", "es_UY", "sw", "sv", "ta", "te", "th", "tr",
        "uk", "ur", "uz", "vi", "zu",
    }
)  # fmt: skip

# Scripts written without spaces between words: counting words by spaces says nothing
# about their length, so the parameters-to-words ratio is not judged for them.
LANGUAGES_WITHOUT_WORD_SPACES = frozenset({"zh_CN", "zh_HK", "zh_TW", "ja", "th", "lo"})

COMPONENT_TYPES = frozenset(
    {"HEADER", "BODY", "FOOTER", "BUTTONS", "CAROUSEL", "LIMITED_TIME_OFFER",
     "CALL_PERMISSION_REQUEST"}
)  # fmt: skip
HEADER_FORMATS = frozenset({"TEXT", "IMAGE", "VIDEO", "GIF", "DOCUMENT", "LOCATION"})
MEDIA_HEADER_FORMATS = frozenset({"IMAGE", "VIDEO", "GIF", "DOCUMENT"})
BUTTON_TYPES = frozenset(
    {"QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP", "FLOW", "CATALOG", "MPM",
     "SPM", "VOICE_CALL", "APP"}
)  # fmt: skip
BUTTON_TYPES_WITH_REQUIRED_TEXT = frozenset(
    {"QUICK_REPLY", "URL", "PHONE_NUMBER", "FLOW", "VOICE_CALL"}
)
OTP_TYPES = frozenset({"COPY_CODE", "ONE_TAP", "ZERO_TAP"})

# --- Meta's error codes --------------------------------------------------------------

GRAPH_INVALID_PARAMETER = 100
SUBCODE_TEMPLATE_LIMIT = 2388019
SUBCODE_CHARACTER_LIMIT = 2388040
SUBCODE_HEADER_FORMAT = 2388047
SUBCODE_BODY_FORMAT = 2388072
SUBCODE_FOOTER_FORMAT = 2388073
SUBCODE_PARAMETERS_WORDS_RATIO = 2388293
SUBCODE_LEADING_TRAILING_PARAMETER = 2388299

SEND_REQUIRED_PARAMETER_MISSING = 131008
SEND_PARAMETER_VALUE_INVALID = 131009
SEND_PARAMETER_COUNT_MISMATCH = 132000
SEND_PARAMETER_FORMAT_MISMATCH = 132012


class ViolationCode(StrEnum):
    """Stable slugs for what is wrong with a template; the UI and tests key on them."""

    TEMPLATE_NOT_OBJECT = "template_not_object"
    NAME_MISSING = "name_missing"
    NAME_TOO_LONG = "name_too_long"
    NAME_INVALID = "name_invalid"
    LANGUAGE_MISSING = "language_missing"
    LANGUAGE_UNSUPPORTED = "language_unsupported"
    CATEGORY_MISSING = "category_missing"
    CATEGORY_INVALID = "category_invalid"
    PARAMETER_FORMAT_INVALID = "parameter_format_invalid"
    PARAMETER_FORMAT_MISMATCH = "parameter_format_mismatch"
    MESSAGE_SEND_TTL_INVALID = "message_send_ttl_invalid"
    COMPONENTS_MISSING = "components_missing"
    COMPONENT_INVALID = "component_invalid"
    COMPONENT_TYPE_UNKNOWN = "component_type_unknown"
    COMPONENT_DUPLICATE = "component_duplicate"
    BODY_MISSING = "body_missing"
    HEADER_FORMAT_INVALID = "header_format_invalid"
    HEADER_TEXT_MISSING = "header_text_missing"
    HEADER_TEXT_TOO_LONG = "header_text_too_long"
    HEADER_TEXT_NEWLINE = "header_text_newline"
    HEADER_TOO_MANY_VARIABLES = "header_too_many_variables"
    HEADER_MEDIA_EXAMPLE_MISSING = "header_media_example_missing"
    BODY_TEXT_MISSING = "body_text_missing"
    BODY_TEXT_TOO_LONG = "body_text_too_long"
    BODY_VARIABLE_AT_EDGE = "body_variable_at_edge"
    BODY_VARIABLES_ADJACENT = "body_variables_adjacent"
    BODY_TOO_MANY_VARIABLES = "body_too_many_variables"
    VARIABLE_MALFORMED = "variable_malformed"
    VARIABLES_NOT_SEQUENTIAL = "variables_not_sequential"
    VARIABLES_MIXED = "variables_mixed"
    EXAMPLE_MISSING = "example_missing"
    EXAMPLE_COUNT_MISMATCH = "example_count_mismatch"
    EXAMPLE_NAMES_MISMATCH = "example_names_mismatch"
    EXAMPLE_VALUE_INVALID = "example_value_invalid"
    FOOTER_TEXT_MISSING = "footer_text_missing"
    FOOTER_TEXT_TOO_LONG = "footer_text_too_long"
    FOOTER_HAS_VARIABLES = "footer_has_variables"
    BUTTONS_MISSING = "buttons_missing"
    BUTTONS_TOO_MANY = "buttons_too_many"
    BUTTON_INVALID = "button_invalid"
    BUTTON_TYPE_UNKNOWN = "button_type_unknown"
    BUTTON_TYPE_TOO_MANY = "button_type_too_many"
    BUTTONS_NOT_GROUPED = "buttons_not_grouped"
    BUTTON_TEXT_MISSING = "button_text_missing"
    BUTTON_TEXT_TOO_LONG = "button_text_too_long"
    BUTTON_TEXT_DUPLICATE = "button_text_duplicate"
    URL_MISSING = "url_missing"
    URL_INVALID = "url_invalid"
    URL_TOO_LONG = "url_too_long"
    URL_VARIABLE_INVALID = "url_variable_invalid"
    URL_EXAMPLE_MISSING = "url_example_missing"
    URL_EXAMPLE_MISMATCH = "url_example_mismatch"
    PHONE_NUMBER_MISSING = "phone_number_missing"
    PHONE_NUMBER_TOO_LONG = "phone_number_too_long"
    COPY_CODE_EXAMPLE_MISSING = "copy_code_example_missing"
    COPY_CODE_EXAMPLE_TOO_LONG = "copy_code_example_too_long"
    OTP_BUTTON_OUTSIDE_AUTHENTICATION = "otp_button_outside_authentication"
    AUTHENTICATION_COMPONENT_NOT_ALLOWED = "authentication_component_not_allowed"
    AUTHENTICATION_BODY_CUSTOMIZED = "authentication_body_customized"
    AUTHENTICATION_FOOTER_INVALID = "authentication_footer_invalid"
    CODE_EXPIRATION_OUT_OF_RANGE = "code_expiration_out_of_range"
    AUTHENTICATION_BUTTONS_INVALID = "authentication_buttons_invalid"
    OTP_TYPE_INVALID = "otp_type_invalid"
    OTP_SUPPORTED_APPS_MISSING = "otp_supported_apps_missing"
    OTP_SUPPORTED_APP_INVALID = "otp_supported_app_invalid"
    ZERO_TAP_TERMS_NOT_ACCEPTED = "zero_tap_terms_not_accepted"
    AUTHENTICATION_EMOJI_OR_URL = "authentication_emoji_or_url"
    TEMPLATE_QUOTA_REACHED = "template_quota_reached"


@dataclass(frozen=True, slots=True)
class TemplateViolation:
    """One broken rule of a template-create request.

    ``field`` is a JSON path into the request ("" for the request itself), e.g.
    ``components[1].text`` or ``components[2].buttons[0].url``. ``meta_error_code`` is the
    Graph ``error.code`` Meta answers with (100 for every template-creation rule) and
    ``meta_error_subcode`` its ``error_subcode`` when Meta documents one (2388040 ...).
    """

    field: str
    code: str
    message: str
    meta_error_code: int = GRAPH_INVALID_PARAMETER
    meta_error_subcode: int | None = None
    # The values ``message`` interpolates, as (name, value) pairs, so that a page can say the
    # same in the user's language (``dict(violation.params)``); empty when it has none.
    params: tuple[tuple[str, str | int], ...] = ()


class SendProblemCode(StrEnum):
    """Stable slugs for what is wrong with the parameters of a template send."""

    COMPONENTS_INVALID = "send_components_invalid"
    COMPONENT_INVALID = "send_component_invalid"
    COMPONENT_DUPLICATE = "send_component_duplicate"
    BUTTON_INDEX_INVALID = "button_index_invalid"
    BUTTON_SUB_TYPE_MISMATCH = "button_sub_type_mismatch"
    PARAMETER_COUNT_MISMATCH = "parameter_count_mismatch"
    PARAMETER_TYPE_MISMATCH = "parameter_type_mismatch"
    PARAMETER_NAME_MISSING = "parameter_name_missing"
    PARAMETER_NAME_UNKNOWN = "parameter_name_unknown"
    PARAMETER_NAME_UNEXPECTED = "parameter_name_unexpected"
    PARAMETER_VALUE_MISSING = "parameter_value_missing"
    PARAMETER_TEXT_INVALID = "parameter_text_invalid"


@dataclass(frozen=True, slots=True)
class SendParameterProblem:
    """One way the ``components`` of a template send do not fit the approved template.

    ``field`` is a JSON path into the send's ``template.components`` list, e.g.
    ``components[1].parameters[0]``; ``meta_error_code`` is the code Meta answers with.
    """

    field: str
    code: str
    message: str
    meta_error_code: int
    # The values ``message`` interpolates, as (name, value) pairs, as on TemplateViolation.
    params: tuple[tuple[str, str | int], ...] = ()


# --- Variables -------------------------------------------------------------------------

_VARIABLE_TOKEN = re.compile(r"\{\{([^{}]*)\}\}")
_POSITIONAL_NAME = re.compile(r"[1-9][0-9]*")
_NAMED_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]+")
_URL_IN_TEXT = re.compile(r"https?://|www\.", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Token:
    name: str
    start: int
    end: int
    kind: str  # "positional", "named" or "malformed"


@dataclass(frozen=True, slots=True)
class _Scan:
    tokens: tuple[_Token, ...]
    stray_braces: bool

    @property
    def variables(self) -> tuple[_Token, ...]:
        return tuple(token for token in self.tokens if token.kind != "malformed")

    @property
    def malformed(self) -> tuple[_Token, ...]:
        return tuple(token for token in self.tokens if token.kind == "malformed")

    def distinct_names(self) -> list[str]:
        return list(dict.fromkeys(token.name for token in self.variables))

    def kinds(self) -> set[str]:
        return {token.kind for token in self.variables}


# A template's texts are scanned at every send of it: scanning is pure, so remember it.
@functools.lru_cache(maxsize=4096)
def _scan(text: str) -> _Scan:
    tokens: list[_Token] = []
    remainder: list[str] = []
    cursor = 0
    for match in _VARIABLE_TOKEN.finditer(text):
        inner = match.group(1)
        if _POSITIONAL_NAME.fullmatch(inner):
            kind = "positional"
        elif _NAMED_NAME.fullmatch(inner):
            kind = "named"
        else:
            kind = "malformed"
        tokens.append(_Token(inner, match.start(), match.end(), kind))
        remainder.append(text[cursor : match.start()])
        cursor = match.end()
    remainder.append(text[cursor:])
    outside = " ".join(remainder)
    return _Scan(tuple(tokens), "{{" in outside or "}}" in outside)


def template_variables(text: object) -> list[str]:
    """The variables of a component text, each once, in order of first appearance.

    Positional variables come back as their number (``"1"``, ``"2"``), named ones as their
    name (``"first_name"``). Malformed placeholders such as ``{{First Name}}`` are not
    variables (``validate_template`` reports them); anything but a string has none.
    """
    if not isinstance(text, str):
        return []
    return _scan(text).distinct_names()


# --- Small readers for untrusted JSON ----------------------------------------------------


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _sequence(value: object) -> Sequence[Any] | None:
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return value
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _upper(value: object) -> str | None:
    # Meta accepts its enums in either case ("body", "BODY"); its own examples use both.
    return value.upper() if isinstance(value, str) else None


def _integer(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _is_emoji(character: str) -> bool:
    point = ord(character)
    return (
        0x1F000 <= point <= 0x1FAFF
        or 0x2600 <= point <= 0x27BF
        or 0x2300 <= point <= 0x23FF
        or 0x2B00 <= point <= 0x2BFF
        or point in (0x00A9, 0x00AE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D, 0xFE0F)
    )


def _has_emoji(text: str) -> bool:
    return any(_is_emoji(character) for character in text)


def _is_edge_filler(character: str) -> bool:
    # Providers observe that Meta reads "... order {{1}}." as ending on a parameter: only
    # spaces and punctuation around a parameter do not count as text.
    return character.isspace() or unicodedata.category(character).startswith("P")


def _fixed_words(text: str, scan: _Scan) -> int:
    pieces: list[str] = []
    cursor = 0
    for token in scan.tokens:
        pieces.append(text[cursor : token.start])
        cursor = token.end
    pieces.append(text[cursor:])
    words = " ".join(pieces).split()
    return sum(1 for word in words if any(character.isalnum() for character in word))


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")
    return slug[:TEMPLATE_NAME_MAX_LENGTH] or "my_template"


# --- Validation -----------------------------------------------------------------------


class _Collector:
    def __init__(self) -> None:
        self.violations: list[TemplateViolation] = []
        self.format_mismatch_reported = False

    def add(
        self,
        field: str,
        code: ViolationCode,
        message: str,
        subcode: int | None = None,
        **params: str | int,
    ) -> None:
        self.violations.append(
            TemplateViolation(
                field=field,
                code=code.value,
                message=message,
                meta_error_code=GRAPH_INVALID_PARAMETER,
                meta_error_subcode=subcode,
                params=tuple(params.items()),
            )
        )


@dataclass(frozen=True, slots=True)
class _Context:
    category: str | None
    parameter_format: str | None  # None when the declared format itself is invalid
    language: str | None


def validate_template(template: object) -> list[TemplateViolation]:
    """Every rule of Meta's that the template-create request breaks; empty when none.

    ``template`` is the JSON body of ``POST /{waba-id}/message_templates`` as parsed from
    JSON (``name``, ``language``, ``category``, ``parameter_format``, ``components``). Any
    value is accepted: a wrong shape or type is reported as a violation, never raised.
    Violations come in the order of the request, so the first one is the error Meta would
    most likely answer with.
    """
    out = _Collector()
    root = _mapping(template)
    if root is None:
        out.add(
            "",
            ViolationCode.TEMPLATE_NOT_OBJECT,
            "The template must be a JSON object with name, language, category and components.",
        )
        return out.violations

    _check_name(root.get("name"), out)
    language = _check_language(root.get("language"), out)
    category = _check_category(root.get("category"), out)
    parameter_format = _check_parameter_format(root, out)
    _check_ttl(root, category, out)
    context = _Context(category, parameter_format, language)

    components = _sequence(root.get("components"))
    if components is None:
        out.add(
            "components",
            ViolationCode.COMPONENTS_MISSING,
            "The template needs a components list with at least a BODY component.",
        )
        return out.violations

    typed = _component_types(components, out)
    _check_component_counts(typed, out)
    if category == "AUTHENTICATION":
        _check_authentication(components, typed, out)
        return out.violations
    for index, kind in typed:
        component = components[index]
        path = f"components[{index}]"
        if kind == "HEADER":
            _check_header(component, path, context, out)
        elif kind == "BODY":
            _check_body(component, path, context, out)
        elif kind == "FOOTER":
            _check_footer(component, path, out)
        elif kind == "BUTTONS":
            _check_buttons(component, path, out)
    return out.violations


def _check_name(name: object, out: _Collector) -> None:
    if not isinstance(name, str) or not name:
        out.add("name", ViolationCode.NAME_MISSING, "Give the template a name, e.g. order_update.")
        return
    if len(name) > TEMPLATE_NAME_MAX_LENGTH:
        out.add(
            "name",
            ViolationCode.NAME_TOO_LONG,
            f"The template name has {len(name)} characters; shorten it to at most "
            f"{TEMPLATE_NAME_MAX_LENGTH}.",
            length=len(name),
            limit=TEMPLATE_NAME_MAX_LENGTH,
        )
    if not _TEMPLATE_NAME.fullmatch(name):
        out.add(
            "name",
            ViolationCode.NAME_INVALID,
            "The template name may contain only lowercase letters, digits and underscores; "
            f"try {_slug(name)!r}.",
        )


def _check_language(language: object, out: _Collector) -> str | None:
    if not isinstance(language, str) or not language:
        out.add(
            "language",
            ViolationCode.LANGUAGE_MISSING,
            "Choose the template's language, e.g. en_US or es_MX.",
        )
        return None
    if language not in SUPPORTED_LANGUAGES:
        hint = language.replace("-", "_")
        suggestion = f" Did you mean {hint!r}?" if hint in SUPPORTED_LANGUAGES else ""
        out.add(
            "language",
            ViolationCode.LANGUAGE_UNSUPPORTED,
            f"{language!r} is not a language Meta supports for templates; use one of its "
            f"codes such as en_US, es_MX or pt_BR.{suggestion}",
        )
        return None
    return language


def _check_category(category: object, out: _Collector) -> str | None:
    if category is None:
        out.add(
            "category",
            ViolationCode.CATEGORY_MISSING,
            "Choose the template's category: MARKETING, UTILITY or AUTHENTICATION.",
        )
        return None
    upper = _upper(category)
    if upper not in TEMPLATE_CATEGORIES:
        out.add(
            "category",
            ViolationCode.CATEGORY_INVALID,
            f"{category!r} is not a template category; use MARKETING, UTILITY or AUTHENTICATION.",
        )
        return None
    return upper


def _check_parameter_format(root: Mapping[str, Any], out: _Collector) -> str | None:
    if "parameter_format" not in root or root["parameter_format"] is None:
        return DEFAULT_PARAMETER_FORMAT
    declared = root["parameter_format"]
    upper = _upper(declared)
    if upper not in PARAMETER_FORMATS:
        out.add(
            "parameter_format",
            ViolationCode.PARAMETER_FORMAT_INVALID,
            f"{declared!r} is not a parameter format; use POSITIONAL for {{{{1}}}} variables "
            "or NAMED for {{first_name}} variables.",
        )
        return None
    return upper


def _check_ttl(root: Mapping[str, Any], category: str | None, out: _Collector) -> None:
    if "message_send_ttl_seconds" not in root or category is None:
        return
    ttl = _integer(root["message_send_ttl_seconds"])
    low, high = MESSAGE_SEND_TTL_SECONDS[category]
    if ttl is None or not low <= ttl <= high:
        out.add(
            "message_send_ttl_seconds",
            ViolationCode.MESSAGE_SEND_TTL_INVALID,
            f"message_send_ttl_seconds for a {category} template must be a whole number of "
            f"seconds from {low} to {high}.",
        )


def _component_types(components: Sequence[Any], out: _Collector) -> list[tuple[int, str]]:
    typed: list[tuple[int, str]] = []
    for index, component in enumerate(components):
        path = f"components[{index}]"
        mapping = _mapping(component)
        if mapping is None:
            out.add(
                path,
                ViolationCode.COMPONENT_INVALID,
                f"{path} must be an object with a type such as HEADER, BODY, FOOTER or BUTTONS.",
            )
            continue
        kind = _upper(mapping.get("type"))
        if kind not in COMPONENT_TYPES:
            out.add(
                f"{path}.type",
                ViolationCode.COMPONENT_TYPE_UNKNOWN,
                f"{path}.type is {mapping.get('type')!r}; use HEADER, BODY, FOOTER or BUTTONS.",
            )
            continue
        typed.append((index, kind))
    return typed


def _check_component_counts(typed: list[tuple[int, str]], out: _Collector) -> None:
    seen: dict[str, int] = {}
    for index, kind in typed:
        if kind in seen and kind in {"HEADER", "BODY", "FOOTER", "BUTTONS"}:
            out.add(
                f"components[{index}]",
                ViolationCode.COMPONENT_DUPLICATE,
                f"A template has at most one {kind} component; merge components[{index}] into "
                f"components[{seen[kind]}] or remove it.",
            )
        seen.setdefault(kind, index)
    if "BODY" not in seen:
        out.add(
            "components",
            ViolationCode.BODY_MISSING,
            "Every template needs exactly one BODY component; add one.",
        )


def _check_variable_syntax(
    scan: _Scan, field: str, subcode: int, context: _Context, out: _Collector
) -> bool:
    """Report malformed, mixed or misformatted variables; True when the rest can be judged."""
    ok = True
    if scan.malformed or scan.stray_braces:
        bad = scan.malformed[0].name if scan.malformed else None
        detail = f" ({{{{{bad}}}}})" if bad is not None else ""
        out.add(
            field,
            ViolationCode.VARIABLE_MALFORMED,
            f"{field} has a malformed variable{detail}: write {{{{1}}}}, {{{{2}}}}... or "
            "lowercase names like {{first_name}}, with matching double braces.",
            subcode,
        )
        ok = False
    kinds = scan.kinds()
    if len(kinds) > 1:
        out.add(
            field,
            ViolationCode.VARIABLES_MIXED,
            f"{field} mixes numbered and named variables; use one style throughout.",
            subcode,
        )
        return False
    declared = context.parameter_format
    if kinds and declared is not None:
        used = "NAMED" if kinds == {"named"} else "POSITIONAL"
        if used != declared:
            # One template-wide setting is wrong, not each component: say it once.
            if not out.format_mismatch_reported:
                out.add(
                    "parameter_format",
                    ViolationCode.PARAMETER_FORMAT_MISMATCH,
                    f"{field} uses {used.lower()} variables but parameter_format is "
                    f"{declared}; set parameter_format to {used} or rewrite the variables.",
                )
                out.format_mismatch_reported = True
            ok = False
    if kinds == {"positional"}:
        numbers = sorted({int(token.name) for token in scan.variables})
        if numbers != list(range(1, len(numbers) + 1)):
            expected = ", ".join(f"{{{{{n}}}}}" for n in range(1, len(numbers) + 1))
            out.add(
                field,
                ViolationCode.VARIABLES_NOT_SEQUENTIAL,
                f"{field} numbers its variables {', '.join(f'{{{{{n}}}}}' for n in numbers)}; "
                f"number them {expected} with no gaps.",
                subcode,
                found=", ".join(f"{{{{{n}}}}}" for n in numbers),
                expected=expected,
            )
            ok = False
    return ok


def _check_examples(
    component: Mapping[str, Any],
    path: str,
    names: list[str],
    named: bool,
    positional_key: str,
    named_key: str,
    out: _Collector,
) -> None:
    """Samples must exist for every variable: Meta reviews templates with them filled in."""
    example = _mapping(component.get("example"))
    key = named_key if named else positional_key
    field = f"{path}.example.{key}"
    values = _sequence(example.get(key)) if example is not None else None
    if values is None or not values:
        out.add(
            f"{path}.example",
            ViolationCode.EXAMPLE_MISSING,
            f"{path} has variables, so add sample values in example.{key} ({len(names)} of them).",
        )
        return
    if named:
        _check_named_examples(values, field, names, out)
        return
    if positional_key == "body_text":
        # body_text is a list holding one list of samples: [["Ana", "A1"]].
        row = _sequence(values[0])
        if row is None:
            out.add(
                field,
                ViolationCode.EXAMPLE_VALUE_INVALID,
                f'{field} must be a list holding one list of samples, e.g. [["Ana", "A1"]].',
            )
            return
        values, field = row, f"{field}[0]"
    if len(values) != len(names):
        out.add(
            field,
            ViolationCode.EXAMPLE_COUNT_MISMATCH,
            f"{field} has {len(values)} sample(s) but the text has {len(names)} variable(s); "
            "give exactly one sample per variable.",
        )
    for position, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            out.add(
                f"{field}[{position}]",
                ViolationCode.EXAMPLE_VALUE_INVALID,
                f"{field}[{position}] must be a non-empty sample text.",
            )


def _check_named_examples(
    values: Sequence[Any], field: str, names: list[str], out: _Collector
) -> None:
    given: list[str] = []
    for position, entry in enumerate(values):
        mapping = _mapping(entry)
        param_name = _text(mapping.get("param_name")) if mapping is not None else None
        sample = mapping.get("example") if mapping is not None else None
        if param_name is None or not isinstance(sample, str) or not sample.strip():
            out.add(
                f"{field}[{position}]",
                ViolationCode.EXAMPLE_VALUE_INVALID,
                f"{field}[{position}] must be an object with param_name and a non-empty "
                "example text.",
            )
            continue
        given.append(param_name)
    if not given and values:
        return
    duplicates = sorted(name for name, count in Counter(given).items() if count > 1)
    missing = [name for name in names if name not in given]
    extra = [name for name in dict.fromkeys(given) if name not in names]
    if duplicates or missing or extra:
        parts = []
        if missing:
            parts.append("add samples for " + ", ".join(missing))
        if extra:
            parts.append("remove samples for " + ", ".join(extra) + " (not in the text)")
        if duplicates:
            parts.append("give " + ", ".join(duplicates) + " only one sample")
        out.add(
            field,
            ViolationCode.EXAMPLE_NAMES_MISMATCH,
            f"{field} must give one sample per variable: " + "; ".join(parts) + ".",
        )


def _check_header(component: Any, path: str, context: _Context, out: _Collector) -> None:
    header: Mapping[str, Any] = component
    header_format = _upper(header.get("format"))
    if header_format not in HEADER_FORMATS:
        out.add(
            f"{path}.format",
            ViolationCode.HEADER_FORMAT_INVALID,
            f"{path}.format is {header.get('format')!r}; use TEXT, IMAGE, VIDEO, DOCUMENT or "
            "LOCATION.",
            SUBCODE_HEADER_FORMAT,
        )
        return
    if header_format in MEDIA_HEADER_FORMATS:
        example = _mapping(header.get("example"))
        handles = _sequence(example.get("header_handle")) if example is not None else None
        if not handles or not all(isinstance(h, str) and h for h in handles):
            out.add(
                f"{path}.example.header_handle",
                ViolationCode.HEADER_MEDIA_EXAMPLE_MISSING,
                f"A {header_format} header needs a sample file: upload one with the Resumable "
                "Upload API and put its handle in example.header_handle.",
            )
        return
    if header_format == "LOCATION":
        return
    field = f"{path}.text"
    text = _text(header.get("text"))
    if text is None or not text.strip():
        out.add(field, ViolationCode.HEADER_TEXT_MISSING, "A TEXT header needs its text.")
        return
    if len(text) > HEADER_TEXT_MAX_LENGTH:
        out.add(
            field,
            ViolationCode.HEADER_TEXT_TOO_LONG,
            f"The header has {len(text)} characters; shorten it to at most "
            f"{HEADER_TEXT_MAX_LENGTH}.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(text),
            limit=HEADER_TEXT_MAX_LENGTH,
        )
    if "\n" in text or "\r" in text:
        out.add(
            field,
            ViolationCode.HEADER_TEXT_NEWLINE,
            "The header is a single line; remove its line breaks.",
            SUBCODE_HEADER_FORMAT,
        )
    scan = _scan(text)
    if not _check_variable_syntax(scan, field, SUBCODE_HEADER_FORMAT, context, out):
        return
    names = scan.distinct_names()
    if len(scan.variables) > HEADER_TEXT_MAX_VARIABLES:
        out.add(
            field,
            ViolationCode.HEADER_TOO_MANY_VARIABLES,
            f"The header has {len(scan.variables)} variables; a header may have at most "
            f"{HEADER_TEXT_MAX_VARIABLES}.",
            SUBCODE_HEADER_FORMAT,
            count=len(scan.variables),
            limit=HEADER_TEXT_MAX_VARIABLES,
        )
        return
    if names:
        _check_examples(
            header,
            path,
            names,
            scan.kinds() == {"named"},
            "header_text",
            "header_text_named_params",
            out,
        )


def _check_body(component: Any, path: str, context: _Context, out: _Collector) -> None:
    body: Mapping[str, Any] = component
    field = f"{path}.text"
    text = _text(body.get("text"))
    if text is None or not text.strip():
        out.add(field, ViolationCode.BODY_TEXT_MISSING, "The BODY component needs its text.")
        return
    if len(text) > BODY_TEXT_MAX_LENGTH:
        out.add(
            field,
            ViolationCode.BODY_TEXT_TOO_LONG,
            f"The body has {len(text)} characters; shorten it to at most {BODY_TEXT_MAX_LENGTH}.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(text),
            limit=BODY_TEXT_MAX_LENGTH,
        )
    scan = _scan(text)
    if not _check_variable_syntax(scan, field, SUBCODE_BODY_FORMAT, context, out):
        return
    variables = scan.variables
    if not variables:
        return
    first, last = variables[0], variables[-1]
    if all(_is_edge_filler(c) for c in text[: first.start]) or all(
        _is_edge_filler(c) for c in text[last.end :]
    ):
        out.add(
            field,
            ViolationCode.BODY_VARIABLE_AT_EDGE,
            "The body starts or ends with a variable; put some fixed text before the first "
            "variable and after the last one.",
            SUBCODE_LEADING_TRAILING_PARAMETER,
        )
    for before, after in pairwise(variables):
        if not text[before.end : after.start].strip():
            out.add(
                field,
                ViolationCode.BODY_VARIABLES_ADJACENT,
                f"{{{{{before.name}}}}} and {{{{{after.name}}}}} sit side by side; put words "
                "between them.",
                SUBCODE_BODY_FORMAT,
            )
            break
    if context.language not in LANGUAGES_WITHOUT_WORD_SPACES:
        needed = MIN_FIXED_WORDS_PER_VARIABLE * len(variables) + MIN_FIXED_WORDS_EXTRA
        words = _fixed_words(text, scan)
        if words < needed:
            out.add(
                field,
                ViolationCode.BODY_TOO_MANY_VARIABLES,
                f"The body has {len(variables)} variable(s) for {words} word(s) of fixed text; "
                f"Meta needs at least {needed} fixed words, so add text or remove variables.",
                SUBCODE_PARAMETERS_WORDS_RATIO,
                count=len(variables),
                words=words,
                needed=needed,
            )
    _check_examples(
        body,
        path,
        scan.distinct_names(),
        scan.kinds() == {"named"},
        "body_text",
        "body_text_named_params",
        out,
    )


def _check_footer(component: Any, path: str, out: _Collector) -> None:
    footer: Mapping[str, Any] = component
    field = f"{path}.text"
    text = _text(footer.get("text"))
    if text is None or not text.strip():
        out.add(field, ViolationCode.FOOTER_TEXT_MISSING, "The FOOTER component needs its text.")
        return
    if len(text) > FOOTER_TEXT_MAX_LENGTH:
        out.add(
            field,
            ViolationCode.FOOTER_TEXT_TOO_LONG,
            f"The footer has {len(text)} characters; shorten it to at most "
            f"{FOOTER_TEXT_MAX_LENGTH}.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(text),
            limit=FOOTER_TEXT_MAX_LENGTH,
        )
    if _scan(text).tokens:
        out.add(
            field,
            ViolationCode.FOOTER_HAS_VARIABLES,
            "The footer cannot have variables; write it as fixed text.",
            SUBCODE_FOOTER_FORMAT,
        )


def _button_list(component: Any, path: str, out: _Collector) -> Sequence[Any] | None:
    mapping = _mapping(component)
    buttons = _sequence(mapping.get("buttons")) if mapping is not None else None
    if not buttons:
        out.add(
            f"{path}.buttons",
            ViolationCode.BUTTONS_MISSING,
            "A BUTTONS component needs a non-empty buttons list.",
        )
        return None
    return buttons


def _check_buttons(component: Any, path: str, out: _Collector) -> None:
    buttons = _button_list(component, path, out)
    if buttons is None:
        return
    field = f"{path}.buttons"
    if len(buttons) > BUTTONS_MAX_TOTAL:
        out.add(
            field,
            ViolationCode.BUTTONS_TOO_MANY,
            f"The template has {len(buttons)} buttons; keep at most {BUTTONS_MAX_TOTAL}.",
            count=len(buttons),
            limit=BUTTONS_MAX_TOTAL,
        )
    kinds: list[str] = []
    texts: dict[str, int] = {}
    for index, button in enumerate(buttons):
        button_path = f"{field}[{index}]"
        mapping = _mapping(button)
        if mapping is None:
            out.add(button_path, ViolationCode.BUTTON_INVALID, f"{button_path} must be an object.")
            continue
        kind = _upper(mapping.get("type"))
        if kind not in BUTTON_TYPES:
            out.add(
                f"{button_path}.type",
                ViolationCode.BUTTON_TYPE_UNKNOWN,
                f"{button_path}.type is {mapping.get('type')!r}; use QUICK_REPLY, URL, "
                "PHONE_NUMBER or COPY_CODE.",
            )
            continue
        kinds.append(kind)
        if kind == "OTP":
            out.add(
                f"{button_path}.type",
                ViolationCode.OTP_BUTTON_OUTSIDE_AUTHENTICATION,
                "One-time-password buttons belong to AUTHENTICATION templates only.",
            )
            continue
        label = _check_button_text(mapping, button_path, kind, out)
        if label is not None:
            if label in texts:
                out.add(
                    f"{button_path}.text",
                    ViolationCode.BUTTON_TEXT_DUPLICATE,
                    f"{button_path} repeats the label {label!r} of {field}[{texts[label]}]; "
                    "give every button its own label.",
                )
            texts.setdefault(label, index)
        if kind == "URL":
            _check_url_button(mapping, button_path, out)
        elif kind == "PHONE_NUMBER":
            _check_phone_button(mapping, button_path, out)
        elif kind == "COPY_CODE":
            _check_copy_code_button(mapping, button_path, out)
    _check_button_counts(kinds, field, out)


def _check_button_text(
    button: Mapping[str, Any], path: str, kind: str, out: _Collector
) -> str | None:
    text = button.get("text")
    if text is None and kind not in BUTTON_TYPES_WITH_REQUIRED_TEXT:
        return None
    if not isinstance(text, str) or not text.strip():
        out.add(
            f"{path}.text",
            ViolationCode.BUTTON_TEXT_MISSING,
            f"{path} needs a label (text) of at most {BUTTON_TEXT_MAX_LENGTH} characters.",
        )
        return None
    if len(text) > BUTTON_TEXT_MAX_LENGTH:
        out.add(
            f"{path}.text",
            ViolationCode.BUTTON_TEXT_TOO_LONG,
            f"The label of {path} has {len(text)} characters; shorten it to at most "
            f"{BUTTON_TEXT_MAX_LENGTH}.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(text),
            limit=BUTTON_TEXT_MAX_LENGTH,
        )
    return text.strip()


def _check_button_counts(kinds: list[str], field: str, out: _Collector) -> None:
    counts = Counter(kinds)
    limits = {
        "URL": URL_BUTTONS_MAX,
        "PHONE_NUMBER": PHONE_NUMBER_BUTTONS_MAX,
        "COPY_CODE": COPY_CODE_BUTTONS_MAX,
        "VOICE_CALL": VOICE_CALL_BUTTONS_MAX,
    }
    for kind, limit in limits.items():
        if counts[kind] > limit:
            out.add(
                field,
                ViolationCode.BUTTON_TYPE_TOO_MANY,
                f"The template has {counts[kind]} {kind} buttons; keep at most {limit}.",
                count=counts[kind],
                kind=kind,
                limit=limit,
            )
    # Quick replies and the other buttons form two groups, in either order, never interleaved.
    groups = [kind == "QUICK_REPLY" for kind in kinds]
    switches = sum(1 for a, b in pairwise(groups) if a != b)
    if switches > 1:
        out.add(
            field,
            ViolationCode.BUTTONS_NOT_GROUPED,
            "Put all QUICK_REPLY buttons together, before or after the other buttons, "
            "instead of mixing them.",
        )


def _check_url_button(button: Mapping[str, Any], path: str, out: _Collector) -> None:
    field = f"{path}.url"
    url = _text(button.get("url"))
    if url is None or not url.strip():
        out.add(field, ViolationCode.URL_MISSING, f"{path} needs the url it opens.")
        return
    if len(url) > URL_MAX_LENGTH:
        out.add(
            field,
            ViolationCode.URL_TOO_LONG,
            f"The url of {path} has {len(url)} characters; shorten it to at most {URL_MAX_LENGTH}.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(url),
            limit=URL_MAX_LENGTH,
        )
    if not url.lower().startswith(("https://", "http://")):
        out.add(field, ViolationCode.URL_INVALID, f"The url of {path} must start with https://.")
    scan = _scan(url)
    if not scan.tokens and not scan.stray_braces:
        return
    stripped = url.rstrip()
    if (
        len(scan.tokens) > URL_MAX_VARIABLES
        or scan.stray_braces
        or scan.tokens[0].name != "1"
        or scan.tokens[0].end != len(stripped)
    ):
        out.add(
            field,
            ViolationCode.URL_VARIABLE_INVALID,
            f"The url of {path} may have one variable, {{{{1}}}}, and only at its very end, "
            "e.g. https://example.com/orders/{{1}}.",
        )
        return
    examples = _sequence(button.get("example"))
    sample = examples[0] if examples else None
    if not isinstance(sample, str) or not sample.strip():
        out.add(
            f"{path}.example",
            ViolationCode.URL_EXAMPLE_MISSING,
            f"{path} has a dynamic url, so add a full sample url in example, e.g. "
            f"[{stripped.replace('{{1}}', 'A1')!r}].",
        )
        return
    prefix = stripped[: scan.tokens[0].start]
    if not sample.startswith(prefix) or len(sample) == len(prefix):
        out.add(
            f"{path}.example[0]",
            ViolationCode.URL_EXAMPLE_MISMATCH,
            f"The sample url must be the url with {{{{1}}}} filled in: start it with "
            f"{prefix!r} and add a sample value.",
        )


def _check_phone_button(button: Mapping[str, Any], path: str, out: _Collector) -> None:
    field = f"{path}.phone_number"
    phone = _text(button.get("phone_number"))
    if phone is None or not phone.strip():
        out.add(
            field, ViolationCode.PHONE_NUMBER_MISSING, f"{path} needs the phone number to call."
        )
        return
    if len(phone) > PHONE_NUMBER_MAX_LENGTH:
        out.add(
            field,
            ViolationCode.PHONE_NUMBER_TOO_LONG,
            f"The phone number of {path} has {len(phone)} characters; use at most "
            f"{PHONE_NUMBER_MAX_LENGTH}, e.g. +15550100000.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(phone),
            limit=PHONE_NUMBER_MAX_LENGTH,
        )


def _check_copy_code_button(button: Mapping[str, Any], path: str, out: _Collector) -> None:
    field = f"{path}.example"
    example = button.get("example")
    if isinstance(example, list) and len(example) == 1:
        example = example[0]
    if not isinstance(example, str) or not example.strip():
        out.add(
            field,
            ViolationCode.COPY_CODE_EXAMPLE_MISSING,
            f'{path} needs a sample code in example, e.g. "SAVE10".',
        )
        return
    if len(example) > COPY_CODE_EXAMPLE_MAX_LENGTH:
        out.add(
            field,
            ViolationCode.COPY_CODE_EXAMPLE_TOO_LONG,
            f"The sample code of {path} has {len(example)} characters; use at most "
            f"{COPY_CODE_EXAMPLE_MAX_LENGTH}.",
            SUBCODE_CHARACTER_LIMIT,
            length=len(example),
            limit=COPY_CODE_EXAMPLE_MAX_LENGTH,
        )


# --- Authentication templates -----------------------------------------------------------

_AUTHENTICATION_BODY_KEYS = frozenset({"type", "add_security_recommendation"})
_AUTHENTICATION_FOOTER_KEYS = frozenset({"type", "code_expiration_minutes"})


def _check_authentication(
    components: Sequence[Any], typed: list[tuple[int, str]], out: _Collector
) -> None:
    """Meta writes an authentication template's text itself; only a few switches remain."""
    kinds = {kind for _, kind in typed}
    for index, kind in typed:
        component: Mapping[str, Any] = components[index]
        path = f"components[{index}]"
        if kind == "BODY":
            extra = sorted(str(key) for key in component if key not in _AUTHENTICATION_BODY_KEYS)
            recommendation = component.get("add_security_recommendation")
            if extra or not (recommendation is None or isinstance(recommendation, bool)):
                out.add(
                    path,
                    ViolationCode.AUTHENTICATION_BODY_CUSTOMIZED,
                    'Meta writes the body of an authentication template ("<code> is your '
                    'verification code."); keep only add_security_recommendation (true or '
                    "false)" + (f" and remove {', '.join(extra)}." if extra else "."),
                )
        elif kind == "FOOTER":
            _check_authentication_footer(component, path, out)
        elif kind == "BUTTONS":
            _check_authentication_buttons(component, path, out)
        else:
            out.add(
                path,
                ViolationCode.AUTHENTICATION_COMPONENT_NOT_ALLOWED,
                f"An authentication template has no {kind} component; remove {path} "
                "(no media, headers or other content).",
            )
    if "BUTTONS" not in kinds:
        out.add(
            "components",
            ViolationCode.AUTHENTICATION_BUTTONS_INVALID,
            "An authentication template needs a BUTTONS component with one OTP button "
            "(COPY_CODE, ONE_TAP or ZERO_TAP).",
        )


def _check_authentication_footer(footer: Mapping[str, Any], path: str, out: _Collector) -> None:
    extra = sorted(str(key) for key in footer if key not in _AUTHENTICATION_FOOTER_KEYS)
    if extra or "code_expiration_minutes" not in footer:
        out.add(
            path,
            ViolationCode.AUTHENTICATION_FOOTER_INVALID,
            "The footer of an authentication template only states when the code expires: "
            f"give code_expiration_minutes ({CODE_EXPIRATION_MINUTES_MIN}-"
            f"{CODE_EXPIRATION_MINUTES_MAX}) and nothing else, or drop the footer.",
        )
        return
    minutes = _integer(footer.get("code_expiration_minutes"))
    if minutes is None or not CODE_EXPIRATION_MINUTES_MIN <= minutes <= CODE_EXPIRATION_MINUTES_MAX:
        out.add(
            f"{path}.code_expiration_minutes",
            ViolationCode.CODE_EXPIRATION_OUT_OF_RANGE,
            f"code_expiration_minutes must be a whole number from {CODE_EXPIRATION_MINUTES_MIN} "
            f"to {CODE_EXPIRATION_MINUTES_MAX}.",
            low=CODE_EXPIRATION_MINUTES_MIN,
            high=CODE_EXPIRATION_MINUTES_MAX,
        )


def _check_authentication_buttons(component: Mapping[str, Any], path: str, out: _Collector) -> None:
    buttons = _button_list(component, path, out)
    if buttons is None:
        return
    field = f"{path}.buttons"
    button = _mapping(buttons[0])
    if len(buttons) != 1 or button is None or _upper(button.get("type")) != "OTP":
        out.add(
            field,
            ViolationCode.AUTHENTICATION_BUTTONS_INVALID,
            "An authentication template has exactly one button, of type OTP.",
        )
        return
    button_path = f"{field}[0]"
    otp_type = _upper(button.get("otp_type"))
    if otp_type not in OTP_TYPES:
        out.add(
            f"{button_path}.otp_type",
            ViolationCode.OTP_TYPE_INVALID,
            f"{button_path}.otp_type is {button.get('otp_type')!r}; use COPY_CODE, ONE_TAP or "
            "ZERO_TAP.",
        )
        return
    for key in ("text", "autofill_text"):
        label = button.get(key)
        if label is None:
            continue
        if not isinstance(label, str) or not label.strip():
            out.add(
                f"{button_path}.{key}",
                ViolationCode.BUTTON_TEXT_MISSING,
                f"{button_path}.{key} must be a non-empty label or be left out.",
            )
            continue
        if len(label) > BUTTON_TEXT_MAX_LENGTH:
            out.add(
                f"{button_path}.{key}",
                ViolationCode.BUTTON_TEXT_TOO_LONG,
                f"{button_path}.{key} has {len(label)} characters; use at most "
                f"{BUTTON_TEXT_MAX_LENGTH}.",
                SUBCODE_CHARACTER_LIMIT,
                length=len(label),
                limit=BUTTON_TEXT_MAX_LENGTH,
            )
        if _has_emoji(label) or _URL_IN_TEXT.search(label):
            out.add(
                f"{button_path}.{key}",
                ViolationCode.AUTHENTICATION_EMOJI_OR_URL,
                "Authentication templates cannot contain emojis or URLs; use plain words.",
            )
    if otp_type in {"ONE_TAP", "ZERO_TAP"}:
        _check_supported_apps(button, button_path, otp_type, out)
    if otp_type == "ZERO_TAP" and button.get("zero_tap_terms_accepted") is not True:
        out.add(
            f"{button_path}.zero_tap_terms_accepted",
            ViolationCode.ZERO_TAP_TERMS_NOT_ACCEPTED,
            "Zero-tap templates need zero_tap_terms_accepted set to true: the business accepts "
            "that codes are filled in without the user tapping.",
        )


def _check_supported_apps(
    button: Mapping[str, Any], path: str, otp_type: str, out: _Collector
) -> None:
    apps = _sequence(button.get("supported_apps"))
    if apps is None and "package_name" in button:
        # The shape before supported_apps: one app given on the button itself.
        apps, field = [button], path
    else:
        field = f"{path}.supported_apps"
    if not apps or len(apps) > OTP_SUPPORTED_APPS_MAX:
        out.add(
            field,
            ViolationCode.OTP_SUPPORTED_APPS_MISSING,
            f"A {otp_type} button needs supported_apps: 1 to {OTP_SUPPORTED_APPS_MAX} Android "
            "apps, each with package_name and signature_hash.",
        )
        return
    for position, app in enumerate(apps):
        app_path = field if field == path else f"{field}[{position}]"
        mapping = _mapping(app)
        package = _text(mapping.get("package_name")) if mapping is not None else None
        signature = _text(mapping.get("signature_hash")) if mapping is not None else None
        if (
            package is None
            or not package.strip()
            or len(package) > OTP_PACKAGE_NAME_MAX_LENGTH
            or signature is None
            or len(signature) != OTP_SIGNATURE_HASH_LENGTH
        ):
            out.add(
                app_path,
                ViolationCode.OTP_SUPPORTED_APP_INVALID,
                f"{app_path} needs package_name (your Android app id, at most "
                f"{OTP_PACKAGE_NAME_MAX_LENGTH} characters) and signature_hash (the "
                f"{OTP_SIGNATURE_HASH_LENGTH}-character app signing key hash).",
            )


def check_template_quota(
    *, existing_templates: int, limit: int = TEMPLATE_QUOTA_UNVERIFIED
) -> TemplateViolation | None:
    """Whether one more template fits the WhatsApp Business Account (Meta's 2388019).

    ``existing_templates`` counts every template of the account, translations included;
    ``limit`` is 250 until the business portfolio is verified (Meta raises it after).
    """
    if existing_templates < limit:
        return None
    return TemplateViolation(
        field="",
        code=ViolationCode.TEMPLATE_QUOTA_REACHED.value,
        message=f"The account already has {existing_templates} templates, its limit is {limit}; "
        "delete unused templates before creating another.",
        meta_error_code=GRAPH_INVALID_PARAMETER,
        meta_error_subcode=SUBCODE_TEMPLATE_LIMIT,
        params=(("count", existing_templates), ("limit", limit)),
    )


# --- Parameters at send time ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    """What one send component must carry for the template to render."""

    key: str  # "header", "body" or "button[<index>]"
    count: int
    parameter_types: frozenset[str]
    names: tuple[str, ...] = ()  # named variables, in order
    sub_type: str | None = None  # for buttons: the send sub_type that targets them
    optional_count: int = 0  # quick replies may carry a payload, or not


_BUTTON_SUB_TYPES = {
    "URL": "url",
    "OTP": "url",
    "COPY_CODE": "copy_code",
    "QUICK_REPLY": "quick_reply",
    "FLOW": "flow",
    "CATALOG": "catalog",
    "MPM": "mpm",
    "SPM": "spm",
    "VOICE_CALL": "voice_call",
}
_BODY_PARAMETER_TYPES = frozenset({"text", "currency", "date_time"})
_HEADER_TEXT_PARAMETER_TYPES = frozenset({"text"})
PARAMETER_TEXT_MAX_CONSECUTIVE_SPACES = 4
_BAD_PARAMETER_TEXT = re.compile(
    r"[\n\t]| {" + str(PARAMETER_TEXT_MAX_CONSECUTIVE_SPACES + 1) + ",}"
)


def _iter_components(components: object) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for component in _sequence(components) or ():
        mapping = _mapping(component)
        kind = _upper(mapping.get("type")) if mapping is not None else None
        if mapping is not None and kind is not None:
            yield kind, mapping


def _slots(template_components: object) -> dict[str, _Slot]:
    slots: dict[str, _Slot] = {}
    for kind, component in _iter_components(template_components):
        if kind == "HEADER" and "header" not in slots:
            header_format = _upper(component.get("format"))
            if header_format in MEDIA_HEADER_FORMATS:
                media = "video" if header_format == "GIF" else str(header_format).lower()
                slots["header"] = _Slot("header", 1, frozenset({media}))
            elif header_format == "LOCATION":
                slots["header"] = _Slot("header", 1, frozenset({"location"}))
            else:
                header_text = _text(component.get("text")) or ""
                slots["header"] = _text_slot("header", header_text, _HEADER_TEXT_PARAMETER_TYPES)
        elif kind == "BODY" and "body" not in slots:
            text = _text(component.get("text"))
            if text is None:
                # An authentication body is Meta's own "{{1}} is your verification code."
                slots["body"] = _Slot("body", 1, frozenset({"text"}))
            else:
                slots["body"] = _text_slot("body", text, _BODY_PARAMETER_TYPES)
        elif kind == "BUTTONS":
            for index, button in enumerate(_sequence(component.get("buttons")) or ()):
                slot = _button_slot(index, _mapping(button))
                if slot is not None:
                    slots[slot.key] = slot
    return slots


@functools.lru_cache(maxsize=4096)
def _text_slot(key: str, text: str, parameter_types: frozenset[str]) -> _Slot:
    scan = _scan(text)
    names = scan.distinct_names()
    named = tuple(names) if scan.kinds() == {"named"} else ()
    return _Slot(key, len(names), parameter_types, named)


def _button_slot(index: int, button: Mapping[str, Any] | None) -> _Slot | None:
    if button is None:
        return None
    kind = _upper(button.get("type"))
    key = f"button[{index}]"
    sub_type = _BUTTON_SUB_TYPES.get(kind or "")
    if kind == "URL":
        dynamic = bool(_scan(_text(button.get("url")) or "").variables)
        return _Slot(key, 1 if dynamic else 0, frozenset({"text"}), sub_type=sub_type)
    if kind == "OTP":
        return _Slot(key, 1, frozenset({"text"}), sub_type=sub_type)
    if kind == "COPY_CODE":
        return _Slot(key, 1, frozenset({"coupon_code"}), sub_type=sub_type)
    if kind == "QUICK_REPLY":
        return _Slot(key, 0, frozenset({"payload"}), sub_type=sub_type, optional_count=1)
    if sub_type is not None:
        # Flow, catalog and call buttons take optional action parameters we do not judge.
        return _Slot(key, 0, frozenset(), sub_type=sub_type, optional_count=-1)
    return None


def count_parameters(template: object) -> dict[str, int]:
    """How many parameters a send of this template must give, per send component.

    Keys are ``"header"`` and ``"body"`` when the template has them, and
    ``"button[<index>]"`` (the send's ``index``) for each button that needs a parameter;
    values count distinct variables, or 1 for a media or location header, a copy-code
    button and an authentication code. ``template`` is the
    create request or an approved template as Meta lists it; malformed parts count as none.
    """
    root = _mapping(template)
    if root is None:
        return {}
    return {
        key: slot.count
        for key, slot in _slots(root.get("components")).items()
        if slot.count or not key.startswith("button")
    }


def check_send_parameters(
    template_components: object,
    send_components: object,
    parameter_format: object = DEFAULT_PARAMETER_FORMAT,
) -> list[SendParameterProblem]:
    """Every way the parameters of a send fail the approved template; empty when they fit.

    ``template_components`` are the approved template's components (as created or as
    listed by Meta); ``send_components`` is ``template.components`` of the send request;
    ``parameter_format`` is the template's (POSITIONAL when absent). Meta answers a count
    that differs with 132000 and a parameter of the wrong kind or naming with 132012.
    """
    problems: list[SendParameterProblem] = []

    def add(
        field: str, code: SendProblemCode, message: str, meta: int, **params: str | int
    ) -> None:
        problems.append(
            SendParameterProblem(field, code.value, message, meta, tuple(params.items()))
        )

    named_format = _upper(parameter_format) == "NAMED"
    slots = _slots(template_components)
    if send_components is None:
        send_list: Sequence[Any] = ()
    else:
        maybe = _sequence(send_components)
        if maybe is None:
            add(
                "components",
                SendProblemCode.COMPONENTS_INVALID,
                "template.components must be a list of header, body and button components.",
                SEND_PARAMETER_VALUE_INVALID,
            )
            return problems
        send_list = maybe

    given: dict[str, tuple[str, Sequence[Any]]] = {}
    for position, component in enumerate(send_list):
        path = f"components[{position}]"
        mapping = _mapping(component)
        kind = _text(mapping.get("type")) if mapping is not None else None
        kind = kind.lower() if kind is not None else None
        if mapping is None or kind not in {"header", "body", "button"}:
            add(
                path,
                SendProblemCode.COMPONENT_INVALID,
                f"{path} must be an object of type header, body or button.",
                SEND_PARAMETER_VALUE_INVALID,
            )
            continue
        key = kind
        if kind == "button":
            index = mapping.get("index")
            number = int(index) if isinstance(index, str) and index.isdigit() else _integer(index)
            if number is None or number < 0:
                add(
                    f"{path}.index",
                    SendProblemCode.BUTTON_INDEX_INVALID,
                    f"{path}.index must be the position of the button in the template "
                    '("0", "1", ...).',
                    SEND_PARAMETER_VALUE_INVALID,
                )
                continue
            key = f"button[{number}]"
            slot = slots.get(key)
            sub_type = _text(mapping.get("sub_type"))
            if (
                slot is not None
                and slot.sub_type is not None
                and (sub_type is None or sub_type.lower() != slot.sub_type)
            ):
                add(
                    f"{path}.sub_type",
                    SendProblemCode.BUTTON_SUB_TYPE_MISMATCH,
                    f"Button {number} of the template is a {slot.sub_type} button; send "
                    f"sub_type {slot.sub_type!r}.",
                    SEND_PARAMETER_FORMAT_MISMATCH,
                )
                continue
        if key in given:
            add(
                path,
                SendProblemCode.COMPONENT_DUPLICATE,
                f"{path} repeats the {key} component of {given[key][0]}; send each once.",
                SEND_PARAMETER_VALUE_INVALID,
            )
            continue
        parameters = _sequence(mapping.get("parameters"))
        if parameters is None:
            parameters = ()
            if "parameters" in mapping:
                add(
                    f"{path}.parameters",
                    SendProblemCode.COMPONENT_INVALID,
                    f"{path}.parameters must be a list.",
                    SEND_PARAMETER_VALUE_INVALID,
                )
        given[key] = (path, parameters)

    for key, slot in slots.items():
        path, parameters = given.get(key, ("components", ()))
        count = len(parameters)
        allowed = slot.count if slot.optional_count == 0 else slot.count + slot.optional_count
        too_few = count < slot.count
        too_many = slot.optional_count >= 0 and count > allowed
        if too_few or too_many:
            add(
                path if key in given else "components",
                SendProblemCode.PARAMETER_COUNT_MISMATCH,
                f"The template's {key} takes {slot.count} parameter(s) but the send gives {count}.",
                SEND_PARAMETER_COUNT_MISMATCH,
                expected=slot.count,
                given=count,
            )
            continue
        if key in given:
            _check_send_values(slot, path, parameters, named_format, add)

    for key, (path, parameters) in given.items():
        if key not in slots and parameters:
            add(
                path,
                SendProblemCode.PARAMETER_COUNT_MISMATCH,
                f"The template has no {key} that takes parameters, but the send gives "
                f"{len(parameters)}.",
                SEND_PARAMETER_COUNT_MISMATCH,
                expected=0,
                given=len(parameters),
            )
    return problems


def _check_send_values(
    slot: _Slot,
    path: str,
    parameters: Sequence[Any],
    named_format: bool,
    add: Callable[..., None],
) -> None:
    names_seen: set[str] = set()
    for position, parameter in enumerate(parameters):
        field = f"{path}.parameters[{position}]"
        mapping = _mapping(parameter)
        kind = _text(mapping.get("type")) if mapping is not None else None
        if mapping is None or kind is None:
            add(
                field,
                SendProblemCode.PARAMETER_TYPE_MISMATCH,
                f"{field} must be an object with a type.",
                SEND_PARAMETER_FORMAT_MISMATCH,
            )
            continue
        if slot.parameter_types and kind.lower() not in slot.parameter_types:
            wanted = " or ".join(sorted(slot.parameter_types))
            add(
                field,
                SendProblemCode.PARAMETER_TYPE_MISMATCH,
                f"{field} is a {kind} parameter; the template's {slot.key} takes {wanted}.",
                SEND_PARAMETER_FORMAT_MISMATCH,
            )
            continue
        value = mapping.get(kind.lower())
        if value is None or (isinstance(value, str) and not value.strip()):
            add(
                field,
                SendProblemCode.PARAMETER_VALUE_MISSING,
                f"{field} needs its {kind.lower()} value.",
                SEND_REQUIRED_PARAMETER_MISSING,
            )
        elif (
            isinstance(value, str) and kind.lower() == "text" and _BAD_PARAMETER_TEXT.search(value)
        ):
            # Meta answers "(#100) Param text cannot have new-line/tab characters or more
            # than 4 consecutive spaces": line breaks belong in the template, not the values.
            add(
                field,
                SendProblemCode.PARAMETER_TEXT_INVALID,
                f"{field} has a line break, a tab or more than "
                f"{PARAMETER_TEXT_MAX_CONSECUTIVE_SPACES} spaces in a row; Meta refuses those "
                "in parameter values, so put line breaks in the template text instead.",
                GRAPH_INVALID_PARAMETER,
                spaces=PARAMETER_TEXT_MAX_CONSECUTIVE_SPACES,
            )
        if slot.key not in {"header", "body"} or kind.lower() != "text":
            continue
        name = mapping.get("parameter_name")
        if named_format and slot.names:
            if not isinstance(name, str):
                add(
                    field,
                    SendProblemCode.PARAMETER_NAME_MISSING,
                    f"The template uses named parameters; give {field} a parameter_name "
                    f"({', '.join(slot.names)}).",
                    SEND_PARAMETER_FORMAT_MISMATCH,
                )
            elif name not in slot.names or name in names_seen:
                add(
                    field,
                    SendProblemCode.PARAMETER_NAME_UNKNOWN,
                    f"{field} names {name!r}; the template's {slot.key} has "
                    f"{', '.join(slot.names)}, each once.",
                    SEND_PARAMETER_FORMAT_MISMATCH,
                )
            else:
                names_seen.add(name)
        elif name is not None:
            add(
                field,
                SendProblemCode.PARAMETER_NAME_UNEXPECTED,
                f"The template uses positional parameters; remove parameter_name from {field} "
                "and send the values in order.",
                SEND_PARAMETER_FORMAT_MISMATCH,
            )
