"""Languages of the pages: gettext catalogs (Babel) and dates in the workspace's time zone.

English is the source language; each other language has a ``.po`` catalog under
``locale/<lang>/LC_MESSAGES/messages.po``, read and compiled in memory the first time it is
needed, so no generated ``.mo`` file is kept in the repository. ``make messages`` extracts
the strings of the code and templates and merges them into the catalogs.

A page's language is the user's own choice if they made one, else the best match of the
browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

import datetime as dt
import gettext as gettext_module
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR: Final = Path(__file__).parent / "locale"
DEFAULT_LOCALE: Final = "en"
LOCALES: Final = ("en", "es")
# Each language in its own words, for the language picker.
LOCALE_NAMES: Final = {"en": "English", "es": "Español"}


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> gettext_module.NullTranslations:
    """The catalog of ``locale``: English is the source, so it needs none."""
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return gettext_module.NullTranslations()
    with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def parse_accept_language(header: str | None) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (RFC 9110 12.5.4)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate_locale(*, chosen: str | None, accept_language: str | None) -> str:
    """The page language: the user's choice, else the browser's best supported one."""
    if chosen in LOCALES:
        return chosen
    for tag in parse_accept_language(accept_language):
        language = tag.lower().replace("_", "-").split("-")[0]
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def zone(name: str) -> ZoneInfo:
    """The time zone ``name``, or UTC if this machine does not know it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Translator:
    """Strings and dates of one page, in its language and its workspace's time zone."""

    locale: str
    timezone: str = "UTC"

    def gettext(self, message: str, /, **params: object) -> str:
        """``message`` translated, then ``%(name)s`` placeholders filled from ``params``."""
        text = translations(self.locale).gettext(message)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """The form for ``count``; ``%(count)s`` and ``params`` are filled."""
        text = translations(self.locale).ngettext(singular, plural, count)
        return text % {"count": count, **params}

    def datetime(self, moment: dt.datetime, format: str = "short") -> str:
        """``moment`` as a date and time of the workspace's zone, in the page's language;
        short (no seconds) unless said, so every page writes a moment the same way."""
        return format_datetime(moment, format, tzinfo=zone(self.timezone), locale=self.locale)

    def time(self, moment: dt.datetime) -> str:
        """The time of day of ``moment`` in the workspace's zone."""
        return format_time(moment, "short", tzinfo=zone(self.timezone), locale=self.locale)
