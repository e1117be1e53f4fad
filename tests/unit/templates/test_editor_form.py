"""The editor's flat form -> Meta's components, and each violation back onto its field."""

from __future__ import annotations

from ovillo.templates import service
from ovillo.templates.editor import EditorForm, draft_of, errors_by_field, preview_of
from ovillo.web.i18n import Translator


def fields_of(values: dict[str, str]) -> dict[str, list[str]]:
    drafted = draft_of(EditorForm(values=values))
    violations = service.draft_violations(drafted.draft, public_url=None)
    on_fields, general = errors_by_field(violations, drafted.paths, Translator(locale="en"))
    assert general == []
    return on_fields


def test_every_violation_lands_on_the_field_it_is_about() -> None:
    values = {
        "name": "Bad Name",
        "language": "en_US",
        "category": "UTILITY",
        "header_format": "IMAGE",
        "body": "Hello {{1}}, your order {{3}} is ready to collect at the shop.",
        "body_samples": "Ana\nA-17",
        "footer": "f" * 70,
    }
    for slot in range(4):
        values[f"button_{slot}_type"] = "COPY_CODE"
    values["button_0_sample"] = "SAVE10"
    found = fields_of(values)
    assert set(found) == {
        "name", "header_handle", "body", "footer", "buttons", "button_1_sample",
        "button_2_sample", "button_3_sample",
    }  # fmt: skip
    assert "no gaps" in found["body"][0]
    assert "60" in found["footer"][0]


def test_a_good_form_is_a_template_meta_takes_and_previews_with_its_samples() -> None:
    values = {
        "name": "order_ready",
        "language": "en_US",
        "category": "UTILITY",
        "header_format": "TEXT",
        "header_text": "Order {{order}}",
        "header_sample": "A-17",
        "body": "Hello {{first_name}}, your order is ready to collect at {{shop}} today.",
        "body_samples": "Ana\nCentro",
        "button_0_type": "URL",
        "button_0_text": "See it",
        "button_0_url": "https://shop.example/o/{{1}}",
        "button_0_sample": "A-17",
        "button_1_type": "COPY_CODE",
        "button_1_sample": "SAVE10",
    }
    assert fields_of(values) == {}
    # One format for the whole template: a positional header among named ones is named.
    mixed = fields_of({**values, "header_text": "Order {{1}}"})
    assert list(mixed) == ["header_text"]
    draft = draft_of(EditorForm(values=values)).draft
    assert draft.parameter_format == "NAMED"
    url_button = draft.components[-1]["buttons"][0]
    assert url_button["example"] == ["https://shop.example/o/A-17"]
    preview = preview_of(EditorForm(values=values), Translator(locale="en"))
    assert preview.header == "Order A-17"
    assert preview.body == "Hello Ana, your order is ready to collect at Centro today."
    assert preview.buttons == ["See it", "Copy code"]
