"""The page shell: Jinja2 templates, the signed-in viewer of a page, and rendering.

Domains' ``views.py`` declare ``page: PageDep`` (anyone), ``viewer: ViewerDep`` (signed in)
or ``viewer: AdminDep`` (owner or admin), call their service, and answer with
``render(page, "inbox/list.html", {...})``. Templates are autoescaped: message texts and
contact names are untrusted and must only ever reach a page through ``{{ }}``.

Signed-out requests of a signed-in page are sent to the sign-in page (htmx requests by an
``HX-Redirect`` header, since htmx would swap a redirect's page into the current one); a
role too low for a page answers 403 with a page that says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from ovillo.accounts import service as accounts_service
from ovillo.accounts.models import Role
from ovillo.core.deps import ClockDep, SessionDep, SettingsDep
from ovillo.core.errors import (
    AuthenticationRequiredError,
    OvilloError,
    PermissionDeniedError,
    problem_response,
)
from ovillo.core.settings import Settings
from ovillo.web import csrf
from ovillo.web.i18n import LOCALE_NAMES, Translator, negotiate_locale

log = structlog.get_logger(__name__)

WEB_DIR: Final = Path(__file__).parent
# The checkout's node_modules/, where `make` runs `npm ci` (src/ovillo/web -> repository).
DEFAULT_VENDOR_DIR: Final = WEB_DIR.parents[2] / "node_modules"
# Paths that answer machines, not browsers: their errors stay problem+json.
MACHINE_PREFIXES: Final = ("/api/", "/webhooks/", "/healthz", "/openapi.json", "/docs")

templates = Environment(
    loader=FileSystemLoader(WEB_DIR / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class SignInRequiredError(AuthenticationRequiredError):
    code = "sign_in_required"
    title = "Sign in to see this page."


class PageForbiddenError(PermissionDeniedError):
    code = "page_forbidden"
    title = "Your role does not allow this page."


@dataclass(frozen=True, slots=True)
class Page:
    """What rendering a page needs: its request, language, CSRF token and viewer (if any)."""

    request: Request
    settings: Settings
    t: Translator
    csrf_token: str
    viewer: accounts_service.SignedIn | None


@dataclass(frozen=True, slots=True)
class Viewer:
    """A page of a signed-in user: ``me`` scopes every query to ``me.workspace_id``."""

    page: Page
    me: accounts_service.SignedIn

    @property
    def t(self) -> Translator:
        return self.page.t

    @property
    def is_admin(self) -> bool:
        return accounts_service.role_at_least(self.me.role, Role.ADMIN)


async def page_context(
    request: Request, session: SessionDep, settings: SettingsDep, clock: ClockDep
) -> Page:
    token = request.cookies.get(csrf.SESSION_COOKIE, "")
    viewer = await accounts_service.get_signed_in(session=session, token=token, now=clock.now())
    locale = negotiate_locale(
        chosen=viewer.locale if viewer else None,
        accept_language=request.headers.get("accept-language"),
    )
    return Page(
        request=request,
        settings=settings,
        t=Translator(locale=locale, timezone=viewer.timezone if viewer else "UTC"),
        csrf_token=csrf.csrf_token(settings, csrf.cookie_value(request)),
        viewer=viewer,
    )


PageDep = Annotated[Page, Depends(page_context)]


async def signed_in(page: PageDep) -> Viewer:
    if page.viewer is None:
        raise SignInRequiredError("sign in to see this page")
    structlog.contextvars.bind_contextvars(workspace_id=str(page.viewer.workspace_id))
    return Viewer(page=page, me=page.viewer)


ViewerDep = Annotated[Viewer, Depends(signed_in)]


async def admin(viewer: ViewerDep) -> Viewer:
    if not viewer.is_admin:
        raise PageForbiddenError("this page is for the workspace's owners and admins")
    return viewer


AdminDep = Annotated[Viewer, Depends(admin)]
"""A signed-in owner or admin: numbers, teammates and API keys are theirs to change."""


def render(
    page: Page,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` rendered for ``page``, with the shell's helpers in its context."""
    t = page.t
    html = templates.get_template(template).render(
        {
            "request": page.request,
            "page": page,
            "me": page.viewer,
            "is_admin": page.viewer is not None
            and accounts_service.role_at_least(page.viewer.role, Role.ADMIN),
            "csrf_token": page.csrf_token,
            "lang": t.locale,
            "locale_names": LOCALE_NAMES,
            "_": t.gettext,
            "ngettext": t.ngettext,
            "format_datetime": t.datetime,
            "format_time": t.time,
            **(context or {}),
        }
    )
    response = HTMLResponse(html, status_code=status_code)
    fresh = getattr(page.request.state, "new_anonymous_cookie", None)
    if fresh is not None:
        set_cookie(page, response, csrf.ANONYMOUS_COOKIE, fresh)
    return response


def cookies_secure(page: Page) -> bool:
    if page.settings.web.secure_cookies is not None:
        return page.settings.web.secure_cookies
    public_url = page.settings.server.public_url or ""
    return page.request.url.scheme == "https" or public_url.startswith("https://")


def set_cookie(page: Page, response: Response, name: str, value: str) -> None:
    """A cookie scripts cannot read, sent on same-site requests and top-level navigations."""
    response.set_cookie(
        name,
        value,
        max_age=int(accounts_service.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=cookies_secure(page),
        path="/",
    )


def redirect(page: Page, url: str) -> Response:
    """Go to ``url`` after a form: 303 for a plain form, ``HX-Redirect`` for htmx."""
    if page.request.headers.get("hx-request") == "true":
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _is_page(request: Request) -> bool:
    return not request.url.path.startswith(MACHINE_PREFIXES)


async def _handle_error(request: Request, exc: Exception) -> Response:
    """Errors of pages become pages; those of the API stay problem details."""
    assert isinstance(exc, OvilloError)
    if not _is_page(request):
        return problem_response(exc.problem(instance=request.url.path))
    if isinstance(exc, SignInRequiredError):
        target = "/sign-in?next=" + quote(request.url.path, safe="/")
        if request.headers.get("hx-request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    locale = negotiate_locale(chosen=None, accept_language=request.headers.get("accept-language"))
    t = Translator(locale=locale)
    titles = {
        403: t.gettext("You cannot do this"),
        404: t.gettext("Not found"),
    }
    messages = {
        "csrf_failed": t.gettext("This form has expired. Reload the page and try again."),
        "invitation_not_found": t.gettext(
            "This invitation link is unknown, has expired or was already used. Ask for a new one."
        ),
        "page_forbidden": t.gettext(
            "Your role does not allow this page. Ask an owner or an admin of the workspace."
        ),
    }
    status = exc.status
    html = templates.get_template("error.html").render(
        _=t.gettext,
        lang=t.locale,
        title=titles.get(status, t.gettext("Something went wrong")),
        message=messages.get(exc.code, t.gettext("The page could not be shown.")),
        status=status,
        me=None,
    )
    return HTMLResponse(html, status_code=status)


async def _handle_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such path, wrong method) as pages for browsers."""
    assert isinstance(exc, StarletteHTTPException)
    if not _is_page(request) or exc.status_code not in (404, 405):
        return await http_exception_handler(request, exc)
    locale = negotiate_locale(chosen=None, accept_language=request.headers.get("accept-language"))
    t = Translator(locale=locale)
    html = templates.get_template("error.html").render(
        _=t.gettext,
        lang=t.locale,
        title=t.gettext("Not found"),
        message=t.gettext("There is no page at this address."),
        status=exc.status_code,
        me=None,
    )
    return HTMLResponse(html, status_code=exc.status_code, headers=exc.headers)


async def _home(viewer: ViewerDep) -> Response:
    return RedirectResponse("/inbox", status_code=303)


def install_pages(app: FastAPI, settings: Settings) -> None:
    """Mount the static files and make page errors answer as pages."""
    vendor_dir = settings.web.vendor_dir or DEFAULT_VENDOR_DIR
    if not (vendor_dir / "htmx.org").is_dir():
        # The pages still work (plain forms and links); only htmx's enhancements are missing.
        log.warning("web_vendor_missing", vendor_dir=str(vendor_dir), fix="run `make install`")
    app.mount("/static/vendor", StaticFiles(directory=vendor_dir, check_dir=False), name="vendor")
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.add_exception_handler(OvilloError, _handle_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_error)
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)


__all__ = [
    "AdminDep",
    "Page",
    "PageDep",
    "Viewer",
    "ViewerDep",
    "redirect",
    "render",
    "set_cookie",
]
