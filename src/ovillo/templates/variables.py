"""Filling a template's variables for one recipient, the pure part.

A send names values by variable: ``{"first_name": "Ana"}`` (named templates) or
``{"1": "Ana"}`` (positional); ``"header.1"`` / ``"body.1"`` pick one component when both
use the same name, ``"button.0"`` is the dynamic part of button 0 (a URL suffix, a coupon
code, a quick reply's payload) and ``"code"`` an authentication code. A value may refer to
the contact: ``{{contact.first_name}}``, ``{{contact.name}}``, ``{{contact.phone}}``,
``{{contact.wa_id}}`` or any custom attribute ``{{contact.city}}``, with a fallback after a
bar: ``{{contact.first_name|there}}``.

``send_components`` turns the values into the ``components`` of Meta's send request; the
result is checked against the template by ``rules.templates.check_send_parameters``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ovillo.rules.templates import template_variables

__all__ = [
    "ValueProblem",
    "contact_fields",
    "fields_of_contact",
    "fill_value",
    "send_components",
]

_REFERENCE = re.compile(r"\{\{\s*contact\.([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|([^{}]*))?\}\}")
_MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "GIF": "video", "DOCUMENT": "document"}


@dataclass(frozen=True, slots=True)
class ValueProblem:
    """A value the send lacks, or cannot fill; ``field`` is a path in the send request."""

    field: str
    message: str


def contact_fields(
    *,
    name: str | None,
    profile_name: str | None,
    wa_id: str | None,
    phone_e164: str | None,
    attributes: Mapping[str, Any],
) -> dict[str, str]:
    """What ``{{contact.X}}`` can name: custom attributes, then the built-in fields."""
    fields = {
        str(key): str(value)
        for key, value in attributes.items()
        if value is not None and not isinstance(value, dict | list) and str(value).strip()
    }
    full = (name or profile_name or "").strip()
    builtin = {
        "name": full,
        "first_name": full.split()[0] if full else "",
        "last_name": " ".join(full.split()[1:]),
        "profile_name": (profile_name or "").strip(),
        "wa_id": wa_id or "",
        "phone": phone_e164 or "",
    }
    fields.update({key: value for key, value in builtin.items() if value})
    return fields


class ContactLike(Protocol):
    """What ``fields_of_contact`` reads of a contact (a ``contacts.models.Contact``)."""

    @property
    def name(self) -> str | None: ...
    @property
    def profile_name(self) -> str | None: ...
    @property
    def wa_id(self) -> str | None: ...
    @property
    def phone_e164(self) -> str | None: ...
    @property
    def attributes(self) -> Mapping[str, Any] | None: ...


def fields_of_contact(contact: ContactLike) -> dict[str, str]:
    """``contact_fields`` of a contact as stored."""
    return contact_fields(
        name=contact.name,
        profile_name=contact.profile_name,
        wa_id=contact.wa_id,
        phone_e164=contact.phone_e164,
        attributes=contact.attributes or {},
    )


def fill_value(value: str, fields: Mapping[str, str]) -> tuple[str, list[str]]:
    """``value`` with its ``{{contact.X|fallback}}`` references filled from ``fields``.

    Returns the text and the names of references that had neither a value nor a fallback
    (each left empty in the text).
    """
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        key, fallback = match.group(1), match.group(2)
        found = fields.get(key)
        if found:
            return found
        if fallback is not None and fallback.strip():
            return fallback.strip()
        missing.append(key)
        return ""

    return _REFERENCE.sub(replace, value), missing


def _value(values: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        found = values.get(key)
        if found is not None and found.strip():
            return found
    return None


def _text_parameters(
    text: str, *, part: str, values: Mapping[str, str], named: bool, out: list[ValueProblem]
) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for name in template_variables(text):
        value = _value(values, f"{part}.{name}", name)
        if value is None:
            out.append(
                ValueProblem(
                    f"variables.{name}",
                    f"The template's {part} has the variable {{{{{name}}}}}; give its value in "
                    f"variables.{name} (or a {{{{contact.field|fallback}}}} reference).",
                )
            )
            continue
        parameter: dict[str, Any] = {"type": "text", "text": value}
        if named:
            parameter["parameter_name"] = name
        parameters.append(parameter)
    return parameters


def send_components(
    *,
    template_components: Sequence[Mapping[str, Any]],
    parameter_format: str,
    values: Mapping[str, str],
    header_media: Mapping[str, Any] | None,
    link_codes: Mapping[int, str],
) -> tuple[list[dict[str, Any]], list[ValueProblem]]:
    """The send ``components`` of a template for these values, and what is missing.

    ``values`` are already filled for the recipient; ``header_media`` is ``{"id": ...}`` or
    ``{"link": ...}`` for a media header; ``link_codes`` gives the short-link code that
    becomes the dynamic suffix of a tracked URL button, by button index.
    """
    named = parameter_format.upper() == "NAMED"
    problems: list[ValueProblem] = []
    components: list[dict[str, Any]] = []
    for component in template_components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            header_format = str(component.get("format", "TEXT")).upper()
            if header_format in _MEDIA_FORMATS:
                media_kind = _MEDIA_FORMATS[header_format]
                if not header_media:
                    problems.append(
                        ValueProblem(
                            "header_media",
                            f"The template has a {header_format.lower()} header; give "
                            'header_media {"id": <meta_media_id from POST /media>} or '
                            '{"link": "https://..."}, or store one on the template.',
                        )
                    )
                    continue
                components.append(
                    {
                        "type": "header",
                        "parameters": [{"type": media_kind, media_kind: dict(header_media)}],
                    }
                )
            elif header_format == "TEXT" and isinstance(component.get("text"), str):
                parameters = _text_parameters(
                    component["text"], part="header", values=values, named=named, out=problems
                )
                if parameters:
                    components.append({"type": "header", "parameters": parameters})
        elif kind == "BODY":
            text = component.get("text")
            if not isinstance(text, str):
                # Authentication: Meta's own body, whose one variable is the code.
                code = _value(values, "code", "body.1", "1")
                if code is None:
                    problems.append(
                        ValueProblem("variables.code", "Give the one-time code in variables.code.")
                    )
                    continue
                components.append({"type": "body", "parameters": [{"type": "text", "text": code}]})
                continue
            parameters = _text_parameters(
                text, part="body", values=values, named=named, out=problems
            )
            if parameters:
                components.append({"type": "body", "parameters": parameters})
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or ()):
                built = _button(index, button, values, link_codes, problems)
                if built is not None:
                    components.append(built)
    return components, problems


def _button(
    index: int,
    button: Mapping[str, Any],
    values: Mapping[str, str],
    link_codes: Mapping[int, str],
    problems: list[ValueProblem],
) -> dict[str, Any] | None:
    kind = str(button.get("type", "")).upper()
    key = f"button.{index}"
    envelope: dict[str, Any] = {"type": "button", "index": str(index)}
    if kind == "URL" and template_variables(str(button.get("url", ""))):
        suffix = link_codes.get(index) or _value(values, key)
        if suffix is None:
            problems.append(
                ValueProblem(
                    f"variables.{key}",
                    f"Button {index} opens a URL ending in a variable; give its end in "
                    f"variables.{key}.",
                )
            )
            return None
        return {**envelope, "sub_type": "url", "parameters": [{"type": "text", "text": suffix}]}
    if kind == "OTP":
        code = _value(values, key, "code", "body.1", "1")
        if code is None:
            problems.append(
                ValueProblem("variables.code", "Give the one-time code in variables.code.")
            )
            return None
        return {**envelope, "sub_type": "url", "parameters": [{"type": "text", "text": code}]}
    if kind == "COPY_CODE":
        coupon = _value(values, key, "coupon_code")
        if coupon is None:
            problems.append(
                ValueProblem(
                    f"variables.{key}",
                    f"Button {index} copies a code; give the code in variables.{key}.",
                )
            )
            return None
        return {
            **envelope,
            "sub_type": "copy_code",
            "parameters": [{"type": "coupon_code", "coupon_code": coupon}],
        }
    if kind == "QUICK_REPLY":
        payload = _value(values, key)
        if payload is None:
            return None
        return {
            **envelope,
            "sub_type": "quick_reply",
            "parameters": [{"type": "payload", "payload": payload}],
        }
    return None
