"""Every template rule's code says its message in each page language, with its values."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ovillo.rules import templates as template_rules
from ovillo.rules.templates import SendProblemCode, ViolationCode
from ovillo.templates.violations import (
    DOMAIN_MESSAGES,
    MESSAGES,
    SEND_MESSAGES,
    violation_message,
)
from ovillo.web.i18n import LOCALES, Translator, translations

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_CODE_ENUMS = {"ViolationCode": MESSAGES, "SendProblemCode": SEND_MESSAGES}
_NOT_PARAMS = {"field", "code", "message", "meta_error_code", "meta_error_subcode", "params"}


def construction_sites() -> list[tuple[int, str, str, frozenset[str]]]:
    """(line, enum, code, param names) of every violation the rules module builds."""
    tree = ast.parse(Path(template_rules.__file__).read_text(encoding="utf-8"))
    sites = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        codes = [
            node
            for argument in [*call.args, *(k.value for k in call.keywords)]
            for node in ast.walk(argument)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in _CODE_ENUMS
        ]
        if len(codes) != 1:
            continue
        names = {k.arg for k in call.keywords if k.arg is not None} - _NOT_PARAMS
        for keyword in call.keywords:
            if keyword.arg == "params" and isinstance(keyword.value, ast.Tuple):
                names |= {
                    pair.elts[0].value
                    for pair in keyword.value.elts
                    if isinstance(pair, ast.Tuple) and isinstance(pair.elts[0], ast.Constant)
                }
        enum = codes[0].value
        assert isinstance(enum, ast.Name)
        sites.append((call.lineno, enum.id, codes[0].attr, frozenset(names)))
    return sites


def test_every_code_has_a_message() -> None:
    assert set(MESSAGES) == {code.value for code in ViolationCode}
    assert set(SEND_MESSAGES) == {code.value for code in SendProblemCode}


def test_every_construction_site_gives_the_values_its_message_names() -> None:
    sites = construction_sites()
    found = {(enum, name) for _, enum, name, _ in sites}
    # Every code is built somewhere, so the scan sees every site (none built indirectly).
    assert found == {("ViolationCode", c.name) for c in ViolationCode} | {
        ("SendProblemCode", c.name) for c in SendProblemCode
    }
    for line, enum, name, params in sites:
        code = getattr(ViolationCode if enum == "ViolationCode" else SendProblemCode, name)
        wanted = set(_PLACEHOLDER.findall(_CODE_ENUMS[enum][code.value]))
        assert wanted <= params, f"line {line}: {name} needs {wanted - params}"


@pytest.mark.parametrize("locale", [locale for locale in LOCALES if locale != "en"])
def test_every_message_is_translated_with_the_same_placeholders(locale: str) -> None:
    catalog = translations(locale)
    for message in [*MESSAGES.values(), *SEND_MESSAGES.values(), *DOMAIN_MESSAGES.values()]:
        translated = catalog.gettext(message)
        assert translated != message, f"untranslated: {message}"
        assert sorted(_PLACEHOLDER.findall(translated)) == sorted(_PLACEHOLDER.findall(message))


def test_real_violations_read_in_english_and_spanish() -> None:
    found = template_rules.validate_template(
        {
            "name": "order_update",
            "language": "es",
            "category": "UTILITY",
            "components": [{"type": "BODY", "text": "x" * 1100}],
        }
    )
    (violation,) = [v for v in found if v.code == ViolationCode.BODY_TEXT_TOO_LONG]
    shown = {"code": violation.code, "message": violation.message, "params": dict(violation.params)}
    assert dict(violation.params) == {"length": 1100, "limit": 1024}
    assert "1100" in violation_message(Translator(locale="en"), shown)
    spanish = violation_message(Translator(locale="es"), shown)
    assert "1100" in spanish
    assert "1024" in spanish
    assert spanish != violation_message(Translator(locale="en"), shown)


def test_a_code_nobody_translated_keeps_its_message() -> None:
    shown = {"code": "something_new", "message": "The url is odd."}
    assert violation_message(Translator(locale="es"), shown) == "The url is odd."


def test_the_domains_own_checks_read_in_spanish_with_their_values() -> None:
    shown = {
        "code": "contact_field_missing",
        "message": "The contact has no first_name ...",
        "params": {"fields": "first_name"},
    }
    spanish = violation_message(Translator(locale="es"), shown)
    assert "first_name" in spanish
    assert spanish != violation_message(Translator(locale="en"), shown)
    url = {"code": "tracked_url_invalid", "message": "The url must be a full http(s) URL."}
    assert violation_message(Translator(locale="es"), url) != url["message"]
