"""The template editor's form: a flat form to Meta's components, and back onto the form.

The editor's form is flat (a header, a body, a footer, up to ``BUTTON_SLOTS`` buttons);
``draft_of`` turns it into Meta's components and remembers which form field each
component path came from, so ``errors_by_field`` puts every violation the service finds on
its field; ``preview_of`` is the message as a customer would see it. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from ovillo.rules.templates import BUTTONS_MAX_TOTAL
from ovillo.templates import service
from ovillo.templates.violations import violation_message
from ovillo.web.i18n import Translator

# Meta's most buttons a template has (rules.templates.BUTTONS_MAX_TOTAL); the editor shows
# ``SHOWN_SLOTS`` at first and more as they fill ("Add a button").
BUTTON_SLOTS: Final = BUTTONS_MAX_TOTAL
SHOWN_SLOTS: Final = 4
_SLOT_PARTS: Final = ("type", "text", "url", "track", "phone", "sample")
HEADER_FORMATS: Final = ("NONE", "TEXT", "IMAGE", "VIDEO", "DOCUMENT")
BUTTON_TYPES: Final = ("", "QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE")
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
# Longer than any field Meta takes (a body is at most 1024 characters): the rules refuse it.
FIELD_MAX = 4096


def category_names(t: Translator) -> dict[str, str]:
    return {
        "MARKETING": t.gettext("Marketing"),
        "UTILITY": t.gettext("Utility"),
        "AUTHENTICATION": t.gettext("Authentication"),
    }


def header_names(t: Translator) -> dict[str, str]:
    return {
        "NONE": t.gettext("No header"),
        "TEXT": t.gettext("Text"),
        "IMAGE": t.gettext("Image"),
        "VIDEO": t.gettext("Video"),
        "DOCUMENT": t.gettext("Document"),
    }


def button_names(t: Translator) -> dict[str, str]:
    return {
        "": t.gettext("No button"),
        "QUICK_REPLY": t.gettext("Quick reply"),
        "URL": t.gettext("Link"),
        "PHONE_NUMBER": t.gettext("Call a phone number"),
        "COPY_CODE": t.gettext("Copy code"),
    }


# --- Arranging the buttons --------------------------------------------------------------------


def _slot(form: EditorForm, slot: int) -> dict[str, str]:
    return {part: form.get(f"button_{slot}_{part}") for part in _SLOT_PARTS}


def shown_slots(form: EditorForm) -> int:
    """How many button slots the editor shows: ``SHOWN_SLOTS``, or up to the last one with
    a type, and any more the author added, at most ``BUTTON_SLOTS``."""
    used = max((slot + 1 for slot in range(BUTTON_SLOTS) if form.get(f"button_{slot}_type")),
               default=0)  # fmt: skip
    asked = form.get("button_slots")
    wanted = int(asked) if asked.isdigit() else 0
    return max(SHOWN_SLOTS, min(BUTTON_SLOTS, max(used, wanted)))


def arrange_buttons(form: EditorForm, action: str) -> EditorForm:
    """The form with its buttons rearranged by ``action``: ``add`` (one more slot),
    ``up:N`` / ``down:N`` (swap slot N with its neighbour), ``remove:N`` (the later ones move
    up). Anything else leaves the form as it is (pure)."""
    verb, _, number = action.partition(":")
    shown = shown_slots(form)
    slots = [_slot(form, slot) for slot in range(BUTTON_SLOTS)]
    index = int(number) if number.isdigit() else -1
    if verb == "add":
        shown = min(BUTTON_SLOTS, shown + 1)
    elif verb == "up" and 0 < index < BUTTON_SLOTS:
        slots[index - 1], slots[index] = slots[index], slots[index - 1]
    elif verb == "down" and 0 <= index < BUTTON_SLOTS - 1:
        slots[index], slots[index + 1] = slots[index + 1], slots[index]
    elif verb == "remove" and 0 <= index < BUTTON_SLOTS:
        del slots[index]
        slots.append(dict.fromkeys(_SLOT_PARTS, ""))
    values = {k: v for k, v in form.values.items() if not k.startswith("button_")}
    for slot, parts in enumerate(slots):
        values.update({f"button_{slot}_{part}": value for part, value in parts.items() if value})
    values["button_slots"] = str(shown)
    return EditorForm(values=values)


# --- The editor's form -> a draft --------------------------------------------------------------


@dataclass(slots=True)
class EditorForm:
    """The editor's fields as typed (re-shown as they were when something is wrong)."""

    values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def checked(self, name: str) -> bool:
        return bool(self.values.get(name))


def variables_of(text: str) -> list[str]:
    """The body's variables in order of first use (``{{1}}`` -> ``1``, ``{{city}}``)."""
    seen: list[str] = []
    for match in _VARIABLE.finditer(text):
        if match.group(1) not in seen:
            seen.append(match.group(1))
    return seen


def _samples(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Drafted:
    draft: service.TemplateDraft
    # Component path (``components[1]``, ``components[3].buttons[0]``) -> form field prefix.
    paths: dict[str, str]


OTP_TYPES: Final = ("COPY_CODE", "ONE_TAP", "ZERO_TAP")


def otp_names(t: Translator) -> dict[str, str]:
    return {
        "COPY_CODE": t.gettext("Copy code"),
        "ONE_TAP": t.gettext("One-tap autofill (Android)"),
        "ZERO_TAP": t.gettext("Zero-tap (Android)"),
    }


def _authentication_draft(form: EditorForm) -> Drafted:
    """Meta's fixed authentication template: its own body (the code, and optionally its
    security recommendation), the code's expiry as the footer, one OTP button."""
    paths = {
        "components[0]": "auth_security",
        "components[1]": "auth_expiration",
        "components[2]": "auth_otp_type",
        "components[2].buttons[0]": "auth_button",
    }
    body: dict[str, Any] = {"type": "BODY", "add_security_recommendation": form.checked(
        "auth_security")}  # fmt: skip
    components: list[dict[str, Any]] = [body]
    minutes = form.get("auth_expiration")
    if minutes:
        expiry: Any = int(minutes) if minutes.isdigit() else minutes
        components.append({"type": "FOOTER", "code_expiration_minutes": expiry})
    else:
        paths = {k.replace("components[2]", "components[1]"): v for k, v in paths.items()
                 if k != "components[1]"}  # fmt: skip
    otp_type = form.get("auth_otp_type").upper() or "COPY_CODE"
    button: dict[str, Any] = {"type": "OTP", "otp_type": otp_type}
    if form.get("auth_button_text"):
        button["text"] = form.get("auth_button_text")
    if otp_type in ("ONE_TAP", "ZERO_TAP"):
        if form.get("auth_autofill_text"):
            button["autofill_text"] = form.get("auth_autofill_text")
        button["supported_apps"] = [
            {"package_name": form.get("auth_package"),
             "signature_hash": form.get("auth_signature")}
        ]  # fmt: skip
    if otp_type == "ZERO_TAP":
        button["zero_tap_terms_accepted"] = form.checked("auth_zero_tap_terms")
    components.append({"type": "BUTTONS", "buttons": [button]})
    draft = service.TemplateDraft(
        name=form.get("name"),
        language=form.get("language"),
        category="AUTHENTICATION",
        components=components,
    )
    return Drafted(draft=draft, paths=paths)


def draft_of(form: EditorForm) -> Drafted:
    if form.get("category").upper() == "AUTHENTICATION":
        return _authentication_draft(form)
    components: list[dict[str, Any]] = []
    paths: dict[str, str] = {}
    header = form.get("header_format").upper() or "NONE"
    body = form.get("body")
    names = variables_of(body)
    header_names_ = variables_of(form.get("header_text")) if header == "TEXT" else []
    named = any(not name.isdigit() for name in [*names, *header_names_])
    if header == "TEXT":
        paths[f"components[{len(components)}]"] = "header_text"
        component: dict[str, Any] = {
            "type": "HEADER",
            "format": "TEXT",
            "text": form.get("header_text"),
        }
        if header_names_ and named:
            component["example"] = {
                "header_text_named_params": [
                    {"param_name": header_names_[0], "example": form.get("header_sample")}
                ]
            }
        elif header_names_:
            component["example"] = {"header_text": [form.get("header_sample")]}
        components.append(component)
    elif header in HEADER_FORMATS[2:]:
        paths[f"components[{len(components)}]"] = "header_handle"
        components.append(
            {
                "type": "HEADER",
                "format": header,
                "example": {"header_handle": [form.get("header_handle")]},
            }
        )
    samples = _samples(form.get("body_samples"))
    paths[f"components[{len(components)}]"] = "body"
    paths[f"components[{len(components)}].example"] = "body_samples"
    body_component: dict[str, Any] = {"type": "BODY", "text": body}
    if names and named:
        body_component["example"] = {
            "body_text_named_params": [
                {"param_name": name, "example": samples[i] if i < len(samples) else ""}
                for i, name in enumerate(names)
            ]
        }
    elif names:
        body_component["example"] = {"body_text": [samples]}
    components.append(body_component)
    if form.get("footer"):
        paths[f"components[{len(components)}]"] = "footer"
        components.append({"type": "FOOTER", "text": form.get("footer")})
    buttons: list[dict[str, Any]] = []
    position = len(components)
    for slot in range(BUTTON_SLOTS):
        kind = form.get(f"button_{slot}_type").upper()
        if kind not in BUTTON_TYPES[1:]:
            continue
        paths[f"components[{position}].buttons[{len(buttons)}]"] = f"button_{slot}"
        button: dict[str, Any] = {"type": kind}
        if kind != "COPY_CODE":
            button["text"] = form.get(f"button_{slot}_text")
        if kind == "URL":
            button["url"] = form.get(f"button_{slot}_url")
            if form.checked(f"button_{slot}_track"):
                button["track"] = True
            elif "{{" in button["url"]:
                # Meta wants the whole sample url; the author gives the suffix (or all of it).
                sample = form.get(f"button_{slot}_sample")
                if sample and not sample.startswith(("http://", "https://")):
                    sample = _VARIABLE.sub(sample.replace("\\", "\\\\"), button["url"])
                button["example"] = [sample]
        elif kind == "PHONE_NUMBER":
            button["phone_number"] = form.get(f"button_{slot}_phone")
        elif kind == "COPY_CODE":
            button["example"] = form.get(f"button_{slot}_sample")
        buttons.append(button)
    if buttons:
        paths[f"components[{position}]"] = "buttons"
        components.append({"type": "BUTTONS", "buttons": buttons})
    draft = service.TemplateDraft(
        name=form.get("name"),
        language=form.get("language"),
        category=form.get("category"),
        components=components,
        parameter_format="NAMED" if named else "POSITIONAL",
    )
    # The format is the template's: a mismatch is shown where the odd variables are.
    header_is_odd = named and any(name.isdigit() for name in header_names_)
    paths["parameter_format"] = "header_text" if header_is_odd else "body"
    return Drafted(draft=draft, paths=paths)


_TOP_FIELDS: Final = ("name", "language", "category")
_SUFFIXES: Final = {
    "header_text": {"text": "header_text", "example": "header_sample"},
    "body": {"example": "body_samples"},
    **{
        f"button_{slot}": {
            "text": f"button_{slot}_text",
            "url": f"button_{slot}_url",
            "phone_number": f"button_{slot}_phone",
            "example": f"button_{slot}_sample",
            "track": f"button_{slot}_url",
        }
        for slot in range(BUTTON_SLOTS)
    },
    "auth_button": {
        "otp_type": "auth_otp_type",
        "text": "auth_button_text",
        "autofill_text": "auth_autofill_text",
        "supported_apps": "auth_package",
        "package_name": "auth_package",
        "signature_hash": "auth_package",
        "zero_tap_terms_accepted": "auth_zero_tap_terms",
    },
}


def field_of(path: str, paths: dict[str, str]) -> str | None:
    """The form field a violation's path is about, or None (shown above the form)."""
    if path in _TOP_FIELDS:
        return path
    best = ""
    for prefix in paths:
        if (path == prefix or path.startswith((prefix + ".", prefix + "["))) and len(prefix) > len(
            best
        ):
            best = prefix
    if not best:
        return None
    target = paths[best]
    rest = path[len(best) :].lstrip(".")
    head = re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else ""
    if target.startswith("button_") and target.count("_") == 1:
        return _SUFFIXES[target].get(head, f"{target}_type")
    if target == "auth_button":
        return _SUFFIXES[target].get(head, "auth_otp_type")
    return _SUFFIXES.get(target, {}).get(head, target)


def errors_by_field(
    violations: list[dict[str, Any]], paths: dict[str, str], t: Translator
) -> tuple[dict[str, list[str]], list[str]]:
    """Each violation's message in ``t``'s language, by form field; the rest apart."""
    on_fields: dict[str, list[str]] = {}
    general: list[str] = []
    for violation in violations:
        name = field_of(str(violation.get("field") or ""), paths)
        message = violation_message(t, violation)
        if name is None:
            general.append(message)
        else:
            on_fields.setdefault(name, []).append(message)
    return on_fields, general


# --- The preview ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preview:
    header: str | None
    header_media: str | None
    body: str
    footer: str | None
    buttons: list[str]


def _authentication_preview(form: EditorForm, t: Translator) -> Preview:
    body = t.gettext("%(code)s is your verification code.", code="123456")
    if form.checked("auth_security"):
        body += " " + t.gettext("For your security, do not share this code.")
    minutes = form.get("auth_expiration")
    otp_type = form.get("auth_otp_type").upper() or "COPY_CODE"
    label = form.get("auth_button_text") or t.gettext("Copy code")
    if otp_type != "COPY_CODE":
        label = form.get("auth_autofill_text") or t.gettext("Autofill")
    return Preview(
        header=None,
        header_media=None,
        body=body,
        footer=t.gettext("This code expires in %(minutes)s minutes.", minutes=minutes)
        if minutes
        else None,
        buttons=[label],
    )


def preview_of(form: EditorForm, t: Translator) -> Preview:
    """The message as a customer would see it, samples in place of the variables."""
    if form.get("category").upper() == "AUTHENTICATION":
        return _authentication_preview(form, t)
    samples = _samples(form.get("body_samples"))
    names = variables_of(form.get("body"))

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        index = names.index(name) if name in names else -1
        return samples[index] if 0 <= index < len(samples) else match.group(0)

    header_format = form.get("header_format").upper()
    header = None
    if header_format == "TEXT" and form.get("header_text"):
        header = _VARIABLE.sub(
            lambda m: form.get("header_sample") or m.group(0), form.get("header_text")
        )
    buttons = []
    for slot in range(BUTTON_SLOTS):
        kind = form.get(f"button_{slot}_type").upper()
        if kind == "COPY_CODE":
            buttons.append(t.gettext("Copy code"))
        elif kind in BUTTON_TYPES[1:]:
            buttons.append(form.get(f"button_{slot}_text") or button_names(t)[kind])
    return Preview(
        header=header,
        header_media=header_names(t)[header_format]
        if header_format in HEADER_FORMATS[2:]
        else None,
        body=_VARIABLE.sub(fill, form.get("body")),
        footer=form.get("footer") or None,
        buttons=buttons,
    )


# --- Pages ---------------------------------------------------------------------------------------


def error_fields() -> list[str]:
    """Every field with an error slot, each emptied or filled by the check."""
    fields = ["name", "language", "category", "header_text", "header_sample", "header_handle",
              "body", "body_samples", "footer", "buttons"]  # fmt: skip
    for slot in range(BUTTON_SLOTS):
        fields += [f"button_{slot}_{part}" for part in ("type", "text", "url", "phone", "sample")]
    fields += ["auth_security", "auth_expiration", "auth_otp_type", "auth_button_text",
               "auth_autofill_text", "auth_package", "auth_zero_tap_terms"]  # fmt: skip
    return fields
