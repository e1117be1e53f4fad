"""Tracked links, the pure part: short codes, UTM parameters and who is a bot.

A tracked link is ``{public_url}/l/{code}``: it redirects (302) to exactly the URL stored
for ``code`` and counts the click. WhatsApp fetches a link to draw its preview before anyone
taps it; those fetches are not clicks. Meta documents the crawler's user agents
("WhatsApp/2.x" from the apps, ``facebookexternalhit`` from Meta's servers); a ``HEAD`` is a
probe too, never a person.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "LINK_PATH",
    "UTM_KEYS",
    "check_destination",
    "is_link",
    "is_prefetch",
    "is_well_formed_code",
    "new_link_code",
    "tracked_button_url",
    "with_utm",
]

LINK_PATH = "/l/"
UTM_KEYS = ("source", "medium", "campaign", "content")
# 16 bytes of randomness: 22 URL-safe characters, not enumerable.
LINK_CODE_BYTES = 16
SAMPLE_LINK_CODE = "sAmPlE-c0de"
_CODE = re.compile(r"[A-Za-z0-9_-]{8,64}")
_PREFETCH_AGENTS = ("whatsapp/", "facebookexternalhit", "facebot", "facebookcatalog")
_LINK = re.compile(r"https?://\S+", re.IGNORECASE)


def new_link_code() -> str:
    """An unguessable code for a short link."""
    return secrets.token_urlsafe(LINK_CODE_BYTES)


def is_well_formed_code(code: str) -> bool:
    """Whether ``code`` could be one of ours (anything else is refused before a query)."""
    return _CODE.fullmatch(code) is not None


def is_prefetch(*, method: str, user_agent: str | None) -> bool:
    """Whether a request for a short link is a bot's preview fetch rather than a click."""
    if method.upper() == "HEAD":
        return True
    agent = (user_agent or "").lower()
    return any(marker in agent for marker in _PREFETCH_AGENTS)


def is_link(value: str) -> bool:
    """Whether a variable's value is a whole web link (then it can be tracked)."""
    return _LINK.fullmatch(value.strip()) is not None


def check_destination(url: str) -> str | None:
    """Why ``url`` cannot be a tracked link's destination, or None when it can."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return "must be a full http(s) URL, e.g. https://shop.example/spring"
    if "{{" in url or "}}" in url:
        return "must be the final URL, without variables: the short link carries the code"
    return None


def with_utm(url: str, utm: Mapping[str, str]) -> str:
    """``url`` with ``utm_source``/``utm_medium``/``utm_campaign``/``utm_content`` set.

    Parameters already in the URL are kept, in order; a UTM given here replaces the URL's
    own. Keys other than the four UTM names are ignored.
    """
    wanted = {f"utm_{key}": value for key, value in utm.items() if key in UTM_KEYS and value}
    if not wanted:
        return url
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True)]
    query = [(key, value) for key, value in query if key not in wanted]
    query.extend(wanted.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def tracked_button_url(public_url: str) -> tuple[str, str]:
    """The URL a tracked URL button has at Meta, and its sample: ``/l/{{1}}`` on our host.

    The dynamic suffix is the code, so one approved template serves every recipient.
    """
    base = public_url.rstrip("/") + LINK_PATH
    return base + "{{1}}", base + SAMPLE_LINK_CODE
