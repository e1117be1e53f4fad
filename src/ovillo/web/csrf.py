"""Cross-site request forgery protection for every page form and htmx request.

Each token is an HMAC, under the server's secret key, of the value of a cookie that only
this site can set: the session cookie once signed in, or a random ``ovillo_csrf`` cookie on
the sign-in and invitation pages. Forms carry it in a hidden ``csrf_token`` field and htmx
sends it in the ``X-CSRF-Token`` header (set once on ``<body hx-headers>``). Nothing is
stored; another site can neither read the cookie nor compute the HMAC (OWASP's "signed
double-submit cookie").
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from fastapi import Request

from ovillo.core.deps import SettingsDep
from ovillo.core.errors import PermissionDeniedError
from ovillo.core.ids import new_token
from ovillo.core.settings import Settings

SESSION_COOKIE: Final = "ovillo_session"
ANONYMOUS_COOKIE: Final = "ovillo_csrf"
FORM_FIELD: Final = "csrf_token"
HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfFailedError(PermissionDeniedError):
    code = "csrf_failed"
    title = "This form has expired; reload the page and try again."


def csrf_token(settings: Settings, cookie_value: str) -> str:
    """The token that forms of a browser holding ``cookie_value`` must send back."""
    key = settings.security.secret_key.get_secret_value().encode()
    return hmac.new(key, b"csrf:" + cookie_value.encode(), hashlib.sha256).hexdigest()


def cookie_value(request: Request) -> str:
    """The cookie the browser's token is made from: its session's, else its anonymous one.

    A browser without either gets a new anonymous value, which ``pages.render`` sets.
    """
    value = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANONYMOUS_COOKIE)
    if value:
        return value
    fresh: str | None = getattr(request.state, "new_anonymous_cookie", None)
    if fresh is None:
        fresh = new_token()
        request.state.new_anonymous_cookie = fresh
    return fresh


async def verify_csrf(request: Request, settings: SettingsDep) -> None:
    """Dependency of every page router: an unsafe request must carry the browser's token."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(FORM_FIELD)
            sent = value if isinstance(value, str) else None
    cookie = request.cookies.get(SESSION_COOKIE) or request.cookies.get(ANONYMOUS_COOKIE)
    if not sent or not cookie or not hmac.compare_digest(sent, csrf_token(settings, cookie)):
        raise CsrfFailedError("the form's security token is missing or does not match")
