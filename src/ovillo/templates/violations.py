"""What is wrong with a template, in the page's language.

``rules/templates.py`` stays in English (Meta's wording, which the API answers with) and
gives each violation a stable code and the values its message interpolates (``params``).
This module is the one place that says each code again through gettext, with named
placeholders filled from those ``params``; a unit test checks that every code has an entry.
The templates domain's own checks (``tracked_url_invalid``...) are said here too; a code
not listed keeps its English message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ovillo.rules.templates import SendProblemCode, ViolationCode
from ovillo.web.i18n import Translator

__all__ = ["DOMAIN_MESSAGES", "MESSAGES", "SEND_MESSAGES", "violation_message"]


def N_(message: str) -> str:
    """Marks ``message`` for ``make messages``; it is translated when shown."""
    return message


V = ViolationCode
MESSAGES: Final[Mapping[str, str]] = {
    V.TEMPLATE_NOT_OBJECT: N_("The template must be an object."),
    V.NAME_MISSING: N_("Give the template a name, e.g. order_update."),
    V.NAME_TOO_LONG: N_("The name has %(length)s characters; shorten it to at most %(limit)s."),
    V.NAME_INVALID: N_("Use only lowercase letters, digits and underscores in the name."),
    V.LANGUAGE_MISSING: N_("Choose the template's language."),
    V.LANGUAGE_UNSUPPORTED: N_("WhatsApp does not support this language code."),
    V.CATEGORY_MISSING: N_("Choose a category: marketing, utility or authentication."),
    V.CATEGORY_INVALID: N_("The category must be marketing, utility or authentication."),
    V.PARAMETER_FORMAT_INVALID: N_("The variables' format must be positional or named."),
    V.PARAMETER_FORMAT_MISMATCH: N_(
        "The variables do not match the template's format: use {{1}}, {{2}}... for "
        "positional variables and {{first_name}} for named ones."
    ),
    V.MESSAGE_SEND_TTL_INVALID: N_("The time to live is out of the range of this category."),
    V.COMPONENTS_MISSING: N_("The template needs at least a body."),
    V.COMPONENT_INVALID: N_("This part of the template is not valid."),
    V.COMPONENT_TYPE_UNKNOWN: N_("This part of the template has an unknown type."),
    V.COMPONENT_DUPLICATE: N_("This part appears twice; keep one."),
    V.BODY_MISSING: N_("The template needs a body."),
    V.HEADER_FORMAT_INVALID: N_(
        "The header must be text, an image, a video, a document or a location."
    ),
    V.HEADER_TEXT_MISSING: N_("A text header needs its text."),
    V.HEADER_TEXT_TOO_LONG: N_(
        "The header has %(length)s characters; shorten it to at most %(limit)s."
    ),
    V.HEADER_TEXT_NEWLINE: N_("The header is a single line; remove its line breaks."),
    V.HEADER_TOO_MANY_VARIABLES: N_(
        "The header has %(count)s variables; a header may have at most %(limit)s."
    ),
    V.HEADER_MEDIA_EXAMPLE_MISSING: N_("A media header needs a sample file."),
    V.BODY_TEXT_MISSING: N_("The body needs its text."),
    V.BODY_TEXT_TOO_LONG: N_(
        "The body has %(length)s characters; shorten it to at most %(limit)s."
    ),
    V.BODY_VARIABLE_AT_EDGE: N_(
        "The body starts or ends with a variable; put some fixed text before the first "
        "variable and after the last one."
    ),
    V.BODY_VARIABLES_ADJACENT: N_("Two variables sit side by side; put words between them."),
    V.BODY_TOO_MANY_VARIABLES: N_(
        "The body has %(count)s variable(s) for %(words)s word(s) of fixed text; Meta needs "
        "at least %(needed)s fixed words, so add text or remove variables."
    ),
    V.VARIABLE_MALFORMED: N_(
        "A variable is malformed: write {{1}}, {{2}}... or {{first_name}}, with no spaces "
        "or capitals."
    ),
    V.VARIABLES_NOT_SEQUENTIAL: N_(
        "The variables are numbered %(found)s; number them %(expected)s with no gaps."
    ),
    V.VARIABLES_MIXED: N_("Do not mix numbered and named variables in one text."),
    V.EXAMPLE_MISSING: N_("Give a sample value for each variable."),
    V.EXAMPLE_COUNT_MISMATCH: N_("Give exactly one sample value for each variable."),
    V.EXAMPLE_NAMES_MISMATCH: N_("The samples must name the same variables as the text."),
    V.EXAMPLE_VALUE_INVALID: N_("A sample value is empty or not text."),
    V.FOOTER_TEXT_MISSING: N_("The footer needs its text."),
    V.FOOTER_TEXT_TOO_LONG: N_(
        "The footer has %(length)s characters; shorten it to at most %(limit)s."
    ),
    V.FOOTER_HAS_VARIABLES: N_("The footer cannot have variables; write it as fixed text."),
    V.BUTTONS_MISSING: N_("Add at least one button, or remove the buttons."),
    V.BUTTONS_TOO_MANY: N_("The template has %(count)s buttons; keep at most %(limit)s."),
    V.BUTTON_INVALID: N_("This button is not valid."),
    V.BUTTON_TYPE_UNKNOWN: N_("This button has an unknown type."),
    V.BUTTON_TYPE_TOO_MANY: N_(
        "The template has %(count)s %(kind)s buttons; keep at most %(limit)s."
    ),
    V.BUTTONS_NOT_GROUPED: N_(
        "Keep the quick replies together, before or after the other buttons."
    ),
    V.BUTTON_TEXT_MISSING: N_("The button needs a label."),
    V.BUTTON_TEXT_TOO_LONG: N_(
        "The label has %(length)s characters; shorten it to at most %(limit)s."
    ),
    V.BUTTON_TEXT_DUPLICATE: N_("Two buttons have this label; give each its own."),
    V.URL_MISSING: N_("The button needs its address (URL)."),
    V.URL_INVALID: N_("The address must start with https://."),
    V.URL_TOO_LONG: N_("The address has %(length)s characters; shorten it to at most %(limit)s."),
    V.URL_VARIABLE_INVALID: N_("The address may have one variable, {{1}}, at its very end."),
    V.URL_EXAMPLE_MISSING: N_("Give a sample address for the variable."),
    V.URL_EXAMPLE_MISMATCH: N_("The sample address must start like the button's address."),
    V.PHONE_NUMBER_MISSING: N_("The button needs its phone number."),
    V.PHONE_NUMBER_TOO_LONG: N_(
        "The phone number has %(length)s characters; use at most %(limit)s."
    ),
    V.COPY_CODE_EXAMPLE_MISSING: N_("Give a sample code for the button."),
    V.COPY_CODE_EXAMPLE_TOO_LONG: N_(
        "The sample code has %(length)s characters; use at most %(limit)s."
    ),
    V.OTP_BUTTON_OUTSIDE_AUTHENTICATION: N_(
        "One-time password buttons belong to authentication templates only."
    ),
    V.AUTHENTICATION_COMPONENT_NOT_ALLOWED: N_(
        "Authentication templates have only a body, a footer and a code button."
    ),
    V.AUTHENTICATION_BODY_CUSTOMIZED: N_(
        "Meta writes the body of authentication templates; only the security "
        "recommendation can be added."
    ),
    V.AUTHENTICATION_FOOTER_INVALID: N_(
        "The footer of an authentication template only says when the code expires."
    ),
    V.CODE_EXPIRATION_OUT_OF_RANGE: N_(
        "The code must expire after a whole number of minutes from %(low)s to %(high)s."
    ),
    V.AUTHENTICATION_BUTTONS_INVALID: N_(
        "An authentication template needs exactly one code button."
    ),
    V.OTP_TYPE_INVALID: N_("The code button must be copy code, one-tap or zero-tap."),
    V.OTP_SUPPORTED_APPS_MISSING: N_(
        "One-tap and zero-tap buttons need the Android apps that receive the code."
    ),
    V.OTP_SUPPORTED_APP_INVALID: N_(
        "Each app needs its package name and its 11-character signature hash."
    ),
    V.ZERO_TAP_TERMS_NOT_ACCEPTED: N_("Accept Meta's zero-tap terms to use a zero-tap button."),
    V.AUTHENTICATION_EMOJI_OR_URL: N_(
        "Authentication templates cannot have emojis or web addresses."
    ),
    V.TEMPLATE_QUOTA_REACHED: N_(
        "The account already has %(count)s templates, its limit is %(limit)s; delete unused "
        "templates before creating another."
    ),
}

S = SendProblemCode
SEND_MESSAGES: Final[Mapping[str, str]] = {
    S.COMPONENTS_INVALID: N_("The template's parameters are not a list of parts."),
    S.COMPONENT_INVALID: N_("This part of the send is not a header, body or button."),
    S.COMPONENT_DUPLICATE: N_("This part of the template is given twice."),
    S.BUTTON_INDEX_INVALID: N_("The button's position in the template is not valid."),
    S.BUTTON_SUB_TYPE_MISMATCH: N_("This button is of another kind in the template."),
    S.PARAMETER_COUNT_MISMATCH: N_(
        "This part of the template takes %(expected)s value(s), but %(given)s were given."
    ),
    S.PARAMETER_TYPE_MISMATCH: N_("This value is of a kind the template does not take here."),
    S.PARAMETER_NAME_MISSING: N_("The template uses named variables; name each value."),
    S.PARAMETER_NAME_UNKNOWN: N_("The template has no variable of this name, or it is repeated."),
    S.PARAMETER_NAME_UNEXPECTED: N_(
        "The template uses numbered variables; give the values in order, without names."
    ),
    S.PARAMETER_VALUE_MISSING: N_("Fill in this value."),
    S.PARAMETER_TEXT_INVALID: N_(
        "A value cannot have line breaks, tabs or more than %(spaces)s spaces in a row; put line "
        "breaks in the template text instead."
    ),
}

# The templates domain's own checks (tracking options, send values), beside Meta's rules.
# ``variable_missing`` is left out on purpose: its English message names the value wanted
# (a header's media, a button's suffix), which a page shows above the form.
DOMAIN_MESSAGES: Final[Mapping[str, str]] = {
    "track_not_url": N_("Only a URL button with its address can be tracked."),
    "tracked_url_invalid": N_(
        "Give the full, final http(s) address, with no variables: the short link carries the code."
    ),
    "tracking_unavailable": N_(
        "Tracked links need this server's public address (OVILLO_SERVER__PUBLIC_URL); or "
        "leave the link untracked."
    ),
    "header_media_invalid": N_("Give the header's media as an uploaded media id or a link."),
    "template_unknown": N_("Variables by name need a template known here."),
    "variables_invalid": N_("The variables must be given by name."),
    "variable_invalid": N_("Give this variable a text value."),
    "contact_field_missing": N_(
        "The contact has no %(fields)s and no fallback is given; write it as "
        "{{contact.field|fallback}}."
    ),
}


def violation_message(t: Translator, violation: Mapping[str, Any]) -> str:
    """The message of ``violation`` (a dict with ``code``, ``message``, ``params``) in
    ``t``'s language; its English ``message`` when the code has no entry here."""
    code = str(violation.get("code") or "")
    message = MESSAGES.get(code) or SEND_MESSAGES.get(code) or DOMAIN_MESSAGES.get(code)
    if message is None:
        return str(violation.get("message") or "")
    params = violation.get("params") or {}
    return t.gettext(message, **dict(params))
