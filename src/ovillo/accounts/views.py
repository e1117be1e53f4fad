"""Pages of the accounts domain: sign in and out, invitations, the team, teams, the profile.

Routes parse the form, call one service function and render or redirect; the service owns
the transaction. Errors a person can fix (a wrong password, a taken email) re-render the
form with a message in the page's language; the rest are pages of their own
(``web.pages``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts import service as accounts_service
from ovillo.accounts import teams as teams_service
from ovillo.accounts.errors import (
    EmailTakenError,
    RoleTooHighError,
    SignInFailedError,
    SignInThrottledError,
    WeakPasswordError,
)
from ovillo.accounts.models import Role
from ovillo.channels import service as channels_service
from ovillo.core.clock import Clock
from ovillo.core.deps import ClockDep, SessionDep
from ovillo.core.errors import OvilloError
from ovillo.inbox import presence
from ovillo.web import csrf
from ovillo.web.forms import form_id
from ovillo.web.i18n import LOCALES, Translator
from ovillo.web.pages import (
    AdminDep,
    PageDep,
    Viewer,
    ViewerDep,
    redirect,
    render,
    set_cookie,
)

router = APIRouter(dependencies=[Depends(csrf.verify_csrf)], include_in_schema=False)


def role_names(t: Translator) -> dict[str, str]:
    return {
        Role.OWNER: t.gettext("Owner"),
        Role.ADMIN: t.gettext("Admin"),
        Role.AGENT: t.gettext("Agent"),
    }


def _safe_next(target: str) -> str:
    # Only a path of this site: "//evil.example" or "https://..." would send the user away.
    return target if target.startswith("/") and not target.startswith("//") else "/"


@router.get("/sign-in")
async def sign_in_page(page: PageDep, next: str = "/") -> Response:
    if page.viewer is not None:
        return redirect(page, _safe_next(next))
    return render(page, "accounts/sign_in.html", {"next": _safe_next(next), "email": ""})


@router.post("/sign-in")
async def sign_in(
    page: PageDep,
    session: SessionDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    t = page.t
    context = {"next": _safe_next(next), "email": email}
    try:
        token = await accounts_service.check_sign_in(
            session=session, email=email, password=password, now=clock.now()
        )
    except SignInThrottledError:
        error = t.gettext("Too many failed attempts for this email. Wait 15 minutes and try again.")
        return render(page, "accounts/sign_in.html", {**context, "error": error}, status_code=429)
    except SignInFailedError:
        error = t.gettext("The email or the password is not right.")
        return render(page, "accounts/sign_in.html", {**context, "error": error}, status_code=401)
    response = redirect(page, _safe_next(next))
    set_cookie(page, response, csrf.SESSION_COOKIE, token)
    return response


@router.post("/sign-out")
async def sign_out(page: PageDep, session: SessionDep) -> Response:
    await accounts_service.do_sign_out(
        session=session, token=page.request.cookies.get(csrf.SESSION_COOKIE, "")
    )
    response = redirect(page, "/sign-in")
    response.delete_cookie(csrf.SESSION_COOKIE, path="/")
    return response


async def _invitation_page(
    page: PageDep,
    session: SessionDep,
    clock: ClockDep,
    token: str,
    *,
    name: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The invitation's sign-up form, with the ``name`` typed and the ``error`` if any; an
    unknown, expired or used invitation is not found."""
    invitation, workspace = await accounts_service.get_invitation_or_raise(
        session=session, token=token, now=clock.now()
    )
    return render(
        page,
        "accounts/invitation.html",
        {
            "workspace_name": workspace.name,
            "email": invitation.email,
            "role_name": role_names(page.t)[invitation.role],
            "name": name,
            "min_password": accounts_service.MIN_PASSWORD_LENGTH,
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/invitations/{token}")
async def invitation_page(
    token: str, page: PageDep, session: SessionDep, clock: ClockDep
) -> HTMLResponse:
    return await _invitation_page(page, session, clock, token)


@router.post("/invitations/{token}")
async def accept_invitation(
    token: str,
    page: PageDep,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    t = page.t
    error: str | None = None
    if not name.strip():
        error = t.gettext("Write your name.")
    else:
        try:
            web_token = await accounts_service.accept_invitation(
                session=session, token=token, name=name, password=password, now=clock.now()
            )
        except WeakPasswordError:
            error = t.gettext(
                "The password needs at least %(count)s characters.",
                count=accounts_service.MIN_PASSWORD_LENGTH,
            )
        except EmailTakenError:
            error = t.gettext("This email already has an account: sign in instead.")
        else:
            response = redirect(page, "/")
            set_cookie(page, response, csrf.SESSION_COOKIE, web_token)
            return response
    await session.rollback()
    return await _invitation_page(
        page, session, clock, token, name=name, error=error, status_code=422
    )


async def _team_page(
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    extra: dict[str, object] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    me = viewer.me
    users = await accounts_service.list_users(session=session, workspace_id=me.workspace_id)
    invitations = await accounts_service.list_open_invitations(
        session=session, workspace_id=me.workspace_id, now=clock.now()
    )
    invitable = [role for role in Role if accounts_service.role_at_least(me.role, role)]
    return render(
        viewer.page,
        "accounts/team.html",
        {
            "users": users,
            "invitations": invitations,
            "invitable_roles": invitable,
            "role_names": role_names(viewer.t),
            **(extra or {}),
        },
        status_code=status_code,
    )


@router.get("/settings/team")
async def team_page(viewer: AdminDep, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    return await _team_page(viewer, session, clock)


@router.post("/settings/team/invitations")
async def invite(
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    email: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=16)] = Role.AGENT,
) -> HTMLResponse:
    t = viewer.t
    if "@" not in email or role not in set(Role):
        error = t.gettext("Write the teammate's email and choose a role.")
        return await _team_page(viewer, session, clock, {"error": error}, 422)
    try:
        invitation, token = await accounts_service.create_invitation(
            session=session, inviter=viewer.me, email=email, role=role, now=clock.now()
        )
    except EmailTakenError:
        error = t.gettext("%(email)s already has an account.", email=email.strip().lower())
        return await _team_page(viewer, session, clock, {"error": error}, 409)
    except RoleTooHighError:
        error = t.gettext("You cannot give a role above your own.")
        return await _team_page(viewer, session, clock, {"error": error}, 403)
    link = str(viewer.page.request.base_url).rstrip("/") + f"/invitations/{token}"
    return await _team_page(
        viewer,
        session,
        clock,
        {"link": link, "invited_email": invitation.email, "expires_at": invitation.expires_at},
    )


@router.get("/settings/profile")
async def profile_page(viewer: ViewerDep) -> HTMLResponse:
    return render(viewer.page, "accounts/profile.html", {"role_names": role_names(viewer.t)})


@router.post("/settings/profile")
async def save_profile(
    viewer: ViewerDep,
    session: SessionDep,
    locale: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    await accounts_service.set_user_locale(
        session=session, user_id=viewer.me.user_id, locale=locale if locale in LOCALES else None
    )
    return redirect(viewer.page, "/settings/profile")


async def _api_keys_page(
    viewer: Viewer, session: AsyncSession, extra: dict[str, object] | None = None
) -> HTMLResponse:
    keys = await accounts_service.list_api_keys(
        session=session, workspace_id=viewer.me.workspace_id
    )
    return render(viewer.page, "accounts/api_keys.html", {"keys": keys, **(extra or {})})


@router.get("/settings/api-keys")
async def api_keys_page(viewer: AdminDep, session: SessionDep) -> HTMLResponse:
    return await _api_keys_page(viewer, session)


@router.post("/settings/api-keys")
async def create_api_key(
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    if not name.strip():
        error = viewer.t.gettext("Name the key after what will use it.")
        return await _api_keys_page(viewer, session, {"error": error})
    _, plaintext = await accounts_service.create_api_key(
        session=session,
        workspace_id=viewer.me.workspace_id,
        name=name.strip(),
        created_by_id=viewer.me.user_id,
        now=clock.now(),
    )
    return await _api_keys_page(viewer, session, {"new_key": plaintext})


@router.post("/settings/api-keys/{api_key_id}/revoke")
async def revoke_api_key(
    api_key_id: uuid.UUID, viewer: AdminDep, session: SessionDep, clock: ClockDep
) -> Response:
    await accounts_service.revoke_api_key(
        session=session, workspace_id=viewer.me.workspace_id, api_key_id=api_key_id,
        now=clock.now(),
    )  # fmt: skip
    return redirect(viewer.page, "/settings/api-keys")


# --- Teams -------------------------------------------------------------------------------


async def _teams_page(
    viewer: Viewer,
    session: AsyncSession,
    clock: Clock,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    workspace_id = viewer.me.workspace_id
    teams = await teams_service.list_teams(session=session, workspace_id=workspace_id)
    users = await accounts_service.list_users(session=session, workspace_id=workspace_id)
    numbers = await channels_service.list_channels(session=session, workspace_id=workspace_id)
    online = await presence.online_user_ids(
        session=session, workspace_id=workspace_id, now=clock.now()
    )
    return render(
        viewer.page,
        "accounts/teams.html",
        {
            "teams": teams,
            "online": online,
            "users": [user for user in users if user.deactivated_at is None],
            "numbers": numbers,
            "error": error,
        },
        status_code=status_code,
    )


async def _team_change(
    viewer: Viewer, session: AsyncSession, clock: Clock, change: Awaitable[object]
) -> Response:
    """Back to the teams page once ``change`` ran, or the page with its error in plain
    words (a name taken, a user of another workspace); a team not found stays a 404."""
    try:
        await change
    except OvilloError as error:
        if error.status == 404:
            raise
        await session.rollback()
        return await _teams_page(
            viewer, session, clock, team_error(error, viewer.t), status_code=error.status
        )
    return redirect(viewer.page, "/settings/teams")


def team_error(error: OvilloError, t: Translator) -> str:
    messages = {
        "team_name_taken": t.gettext("A team with this name already exists."),
        "invalid_team_name": t.gettext("A team needs a name of 1 to 100 characters."),
        "invalid_team_member": t.gettext("Choose an active teammate."),
    }
    return messages.get(error.code, error.detail or error.title)


@router.get("/settings/teams")
async def teams_page(viewer: ViewerDep, session: SessionDep, clock: ClockDep) -> HTMLResponse:
    """Every teammate may see the teams; owners and admins change them."""
    return await _teams_page(viewer, session, clock)


@router.post("/settings/teams")
async def create_team(
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return await _team_change(
        viewer,
        session,
        clock,
        teams_service.create_team(
            session=session, workspace_id=viewer.me.workspace_id, name=name, now=clock.now()
        ),
    )


@router.post("/settings/teams/{team_id}/name")
async def rename_team(
    team_id: uuid.UUID,
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    return await _team_change(
        viewer,
        session,
        clock,
        teams_service.rename_team(
            session=session, workspace_id=viewer.me.workspace_id, team_id=team_id, name=name
        ),
    )


@router.post("/settings/teams/{team_id}/delete")
async def delete_team(
    team_id: uuid.UUID, viewer: AdminDep, session: SessionDep, clock: ClockDep
) -> Response:
    return await _team_change(
        viewer,
        session,
        clock,
        teams_service.delete_team(
            session=session, workspace_id=viewer.me.workspace_id, team_id=team_id
        ),
    )


@router.post("/settings/teams/{team_id}/members")
async def add_team_member(
    team_id: uuid.UUID,
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    user_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    target = form_id(user_id)
    if target is None:
        error = viewer.t.gettext("Choose an active teammate.")
        return await _teams_page(viewer, session, clock, error, status_code=422)
    return await _team_change(
        viewer,
        session,
        clock,
        teams_service.add_member(
            session=session,
            workspace_id=viewer.me.workspace_id,
            team_id=team_id,
            user_id=target,
            now=clock.now(),
        ),
    )


@router.post("/settings/teams/{team_id}/members/{user_id}/remove")
async def remove_team_member(
    team_id: uuid.UUID, user_id: uuid.UUID, viewer: AdminDep, session: SessionDep, clock: ClockDep
) -> Response:
    return await _team_change(
        viewer,
        session,
        clock,
        teams_service.remove_member(
            session=session,
            workspace_id=viewer.me.workspace_id,
            team_id=team_id,
            user_id=user_id,
        ),
    )


@router.post("/settings/teams/round-robin")
async def set_round_robin(
    viewer: AdminDep,
    session: SessionDep,
    clock: ClockDep,
    channel_id: Annotated[str, Form(max_length=64)] = "",
    team_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A number's new conversations go round robin to a team's online agents, or not
    (``team_id`` empty)."""
    channel = form_id(channel_id)
    team = form_id(team_id)
    if channel is None or (team_id and team is None):
        error = viewer.t.gettext("Choose a number and a team.")
        return await _teams_page(viewer, session, clock, error, status_code=422)
    return await _team_change(
        viewer,
        session,
        clock,
        channels_service.set_round_robin_team(
            session=session,
            workspace_id=viewer.me.workspace_id,
            channel_id=channel,
            team_id=team,
            now=clock.now(),
        ),
    )
