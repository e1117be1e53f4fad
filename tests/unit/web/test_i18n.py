"""The pages' languages: every string translated, placeholders kept, the language chosen."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from ovillo.web.i18n import (
    LOCALE_DIR,
    LOCALES,
    Translator,
    negotiate_locale,
    parse_accept_language,
)

ROOT = Path(__file__).resolve().parents[3]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def source_messages() -> set[str | tuple[str, ...]]:
    """The strings the code and templates mark, as ``make messages`` extracts them."""
    method_map = [
        ("src/ovillo/**.py", "python"),
        ("src/ovillo/web/templates/**.html", "jinja2"),
    ]
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(ROOT, method_map):
        found.add(message)
    return found


@pytest.mark.parametrize("locale", [locale for locale in LOCALES if locale != "en"])
def test_every_string_of_the_pages_is_translated(locale: str) -> None:
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    missing = []
    for message in sorted(source_messages(), key=str):
        entry = catalog.get(message if isinstance(message, str) else message[0])
        if (
            entry is None
            or entry.fuzzy
            or not all(entry.string if isinstance(entry.string, tuple) else [entry.string])
        ):
            missing.append(message)
            continue
        originals = [message] if isinstance(message, str) else list(message)
        translations = [entry.string] if isinstance(entry.string, str) else list(entry.string)
        wanted = set(PLACEHOLDER.findall(" ".join(originals)))
        for translated in translations:
            assert set(PLACEHOLDER.findall(translated)) == wanted, (message, translated)
    assert missing == [], f"run `make messages` and translate these in {locale}: {missing}"


@pytest.mark.parametrize(
    ("chosen", "header", "expected"),
    [
        (None, "es-CO,es;q=0.9,en;q=0.8", "es"),
        (None, "fr-FR, en;q=0.5", "en"),
        (None, "fr-FR, es;q=0.4, en;q=0.3", "es"),
        (None, "en;q=0.2, es-MX;q=0.9", "es"),
        (None, "es;q=0, en", "en"),
        (None, "", "en"),
        (None, None, "en"),
        (None, "garbage;;q=x,,", "en"),
        ("en", "es-CO", "en"),
        ("es", "en-US", "es"),
        ("de", "es", "es"),
    ],
)
def test_the_language_is_the_users_choice_then_the_browsers(
    chosen: str | None, header: str | None, expected: str
) -> None:
    assert negotiate_locale(chosen=chosen, accept_language=header) == expected


def test_accept_language_is_ranked_by_quality_then_order() -> None:
    assert parse_accept_language("a;q=0.5, b, c;q=0.9, d") == ["b", "d", "c", "a"]


def test_dates_are_shown_in_the_workspace_time_zone_and_language() -> None:
    moment = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert Translator("en", "America/Bogota").time(moment) == "10:30\u202fAM"
    assert Translator("es", "America/Bogota").time(moment) == "10:30"
    assert Translator("es", "Europe/Madrid").datetime(moment, "short") == "1/3/26, 16:30"
    # An unknown zone (a row written by an older version) falls back to UTC, not an error.
    assert Translator("en", "Mars/Olympus").time(moment) == "3:30\u202fPM"


def test_spanish_pages_say_spanish_words_with_their_values() -> None:
    t = Translator("es")
    assert t.gettext("Join %(workspace)s", workspace="Acme") == "Únete a Acme"
    assert t.ngettext("%(count)s unread message", "%(count)s unread messages", 3) == (
        "3 mensajes sin leer"
    )


def test_a_moment_is_written_short_unless_asked_otherwise() -> None:
    moment = datetime(2026, 3, 1, 15, 30, 45, tzinfo=UTC)
    translator = Translator("es", "Europe/Madrid")
    assert translator.datetime(moment) == translator.datetime(moment, "short")
    assert "45" not in translator.datetime(moment)  # no seconds
