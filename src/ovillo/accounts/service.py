"""Use cases of the accounts domain: workspaces, users and API keys.

API keys are ``ovk_`` followed by 43 URL-safe random characters. Only their SHA-256 is stored
(``core.crypto.hash_api_key``): a key is long and random, so a fast hash is as safe as a slow
one and lets a request find its key with one indexed lookup. The plaintext is returned once,
by ``create_api_key``.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts.errors import (
    ApiKeyNotFoundError,
    EmailTakenError,
    InvitationNotFoundError,
    RoleTooHighError,
    SignInFailedError,
    SignInThrottledError,
    WeakPasswordError,
    WorkspaceNotFoundError,
)
from ovillo.accounts.models import (
    ApiKey,
    Invitation,
    Role,
    SignInFailure,
    User,
    WebSession,
    Workspace,
)
from ovillo.contacts import opt_out
from ovillo.core import ids
from ovillo.core.crypto import hash_api_key, hash_password, verify_password
from ovillo.core.errors import ValidationFailedError

log = structlog.get_logger(__name__)

API_KEY_PREFIX: Final = "ovk_"
# Enough of the key to tell keys apart in a list, far too little to guess the rest.
API_KEY_SHOWN_CHARS: Final = 12
MIN_PASSWORD_LENGTH: Final = 8
# Every authenticated request would otherwise write a row; once a minute is precise enough
# for "last used" and keeps reads read-only (SQLite has one writer at a time).
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
# A browser stays signed in this long after signing in.
SESSION_LIFETIME: Final = timedelta(days=30)
# After this many refused sign-ins of one email within the window, the email is refused
# until the oldest of them leaves the window (OWASP's account lockout, made temporary so
# that nobody can lock a teammate out for good).
SIGN_IN_MAX_FAILURES: Final = 5
SIGN_IN_FAILURE_WINDOW: Final = timedelta(minutes=15)
INVITATION_LIFETIME: Final = timedelta(days=7)
# Who may give which role: an admin invites admins and agents, only an owner makes owners.
ROLE_RANK: Final = {Role.AGENT: 0, Role.ADMIN: 1, Role.OWNER: 2}
# A hash to verify against when the email is unknown, so that answering takes as long as
# for a known one and the time does not tell which emails have accounts.
_DUMMY_PASSWORD_HASH: Final = hash_password("not-a-password-anyone-has")


def new_api_key() -> str:
    """A fresh API key in plaintext."""
    return API_KEY_PREFIX + ids.new_token()


def looks_like_api_key(key: str) -> bool:
    """Whether ``key`` has the shape of one of our keys (cheap check before any lookup)."""
    return key.startswith(API_KEY_PREFIX) and len(key) > len(API_KEY_PREFIX) + 8


def last_used_needs_write(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a use at ``now`` must be recorded, given the one recorded last."""
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


# --- Workspaces --------------------------------------------------------------------------


async def create_workspace(
    *, session: AsyncSession, name: str, timezone: str = "UTC", now: datetime
) -> Workspace:
    workspace = Workspace(id=ids.new_id(now), name=name, timezone=timezone, created_at=now)
    session.add(workspace)
    await session.commit()
    log.info("workspace_created", workspace_id=str(workspace.id))
    return workspace


async def get_workspace(*, session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def get_workspace_or_raise(*, session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await get_workspace(session=session, workspace_id=workspace_id)
    if workspace is None:
        raise WorkspaceNotFoundError(f"workspace {workspace_id} does not exist")
    return workspace


async def find_workspace_or_raise(*, session: AsyncSession, key: str) -> Workspace:
    """The workspace named by ``key``: its id, or its name when exactly one has it (the
    command line's ``--workspace``)."""
    with contextlib.suppress(ValueError):
        return await get_workspace_or_raise(session=session, workspace_id=uuid.UUID(key))
    named = list(await session.scalars(select(Workspace).where(Workspace.name == key).limit(2)))
    if len(named) != 1:
        problem = "several workspaces are" if named else "no workspace is"
        raise WorkspaceNotFoundError(f"{problem} named {key!r}; give its id")
    return named[0]


# --- Users -------------------------------------------------------------------------------


async def create_user(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    email: str,
    name: str,
    password: str,
    role: Role | str,
    now: datetime,
) -> User:
    """A user of the workspace with an argon2 password hash; emails are unique everywhere."""
    user = await _add_user(
        session=session,
        workspace_id=workspace_id,
        email=email,
        name=name,
        password=password,
        role=role,
        now=now,
    )
    await session.commit()
    log.info("user_created", workspace_id=str(workspace_id), user_id=str(user.id), role=user.role)
    return user


async def _add_user(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    email: str,
    name: str,
    password: str,
    role: Role | str,
    now: datetime,
) -> User:
    normalized_email = email.strip().lower()
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPasswordError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
        )
    taken = await session.scalar(select(User.id).where(User.email == normalized_email))
    if taken is not None:
        raise EmailTakenError(f"{normalized_email} already has an account", email=normalized_email)
    user = User(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        email=normalized_email,
        name=name,
        password_hash=hash_password(password),
        role=Role(role),
        created_at=now,
    )
    session.add(user)
    await session.flush()
    return user


def password_matches(user: User, password: str) -> bool:
    """Whether ``password`` is the user's (argon2, constant time)."""
    return verify_password(user.password_hash, password)


async def do_set_password(*, session: AsyncSession, user: User, password: str) -> None:
    """Give the user a new password (stored as its argon2 hash). Does not commit."""
    user.password_hash = hash_password(password)
    await session.flush()


async def get_user_by_email(*, session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.strip().lower()))


# --- API keys ----------------------------------------------------------------------------


async def create_api_key(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    name: str,
    created_by_id: uuid.UUID | None = None,
    now: datetime,
) -> tuple[ApiKey, str]:
    """A new API key of the workspace and its plaintext, which is not stored anywhere."""
    plaintext = new_api_key()
    api_key = ApiKey(
        id=ids.new_id(now),
        workspace_id=workspace_id,
        name=name,
        prefix=plaintext[:API_KEY_SHOWN_CHARS],
        key_hash=hash_api_key(plaintext),
        created_by_id=created_by_id,
        created_at=now,
    )
    session.add(api_key)
    await session.commit()
    log.info("api_key_created", workspace_id=str(workspace_id), api_key_id=str(api_key.id))
    return api_key, plaintext


async def authenticate_api_key(*, session: AsyncSession, key: str, now: datetime) -> ApiKey | None:
    """The live key ``key`` is, or None (unknown, malformed or revoked).

    Records the use in ``last_used_at`` at most once a minute per key, committing only then.
    """
    if not looks_like_api_key(key):
        return None
    api_key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    if api_key is None or api_key.revoked_at is not None:
        return None
    if last_used_needs_write(api_key.last_used_at, now):
        # Conditional, so concurrent requests with the same key write once between them.
        await session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == api_key.id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
        api_key.last_used_at = now
    return api_key


async def list_api_keys(*, session: AsyncSession, workspace_id: uuid.UUID) -> list[ApiKey]:
    """The workspace's keys, revoked ones included, newest first."""
    result = await session.scalars(
        select(ApiKey)
        .where(ApiKey.workspace_id == workspace_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(result)


async def get_api_key_or_raise(
    *, session: AsyncSession, workspace_id: uuid.UUID, api_key_id: uuid.UUID
) -> ApiKey:
    api_key = await session.scalar(
        select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == api_key_id)
    )
    if api_key is None:
        raise ApiKeyNotFoundError(f"API key {api_key_id} does not exist in this workspace")
    return api_key


async def revoke_api_key(
    *, session: AsyncSession, workspace_id: uuid.UUID, api_key_id: uuid.UUID, now: datetime
) -> ApiKey:
    """Revoke a key; revoking it again keeps the first revocation time."""
    api_key = await get_api_key_or_raise(
        session=session, workspace_id=workspace_id, api_key_id=api_key_id
    )
    if api_key.revoked_at is None:
        api_key.revoked_at = now
        await session.commit()
        log.info("api_key_revoked", workspace_id=str(workspace_id), api_key_id=str(api_key_id))
    return api_key


# --- Roles -------------------------------------------------------------------------------


def role_at_least(role: Role | str, minimum: Role) -> bool:
    """Whether ``role`` is ``minimum`` or above it (owner > admin > agent)."""
    return ROLE_RANK[Role(role)] >= ROLE_RANK[minimum]


async def list_users(*, session: AsyncSession, workspace_id: uuid.UUID) -> list[User]:
    """The workspace's users, by name."""
    result = await session.scalars(
        select(User).where(User.workspace_id == workspace_id).order_by(User.name, User.id)
    )
    return list(result)


async def set_user_locale(*, session: AsyncSession, user_id: uuid.UUID, locale: str | None) -> None:
    """The language of the user's pages; None follows the browser's."""
    await session.execute(update(User).where(User.id == user_id).values(locale=locale))
    await session.commit()


# --- Signing in --------------------------------------------------------------------------


def sign_in_retry_at(*, failures: Sequence[datetime], now: datetime) -> datetime | None:
    """When an email with these refused sign-ins may try again, or None if it may now.

    Pure: ``failures`` are the times of the email's refused sign-ins, in any order.
    """
    recent = sorted(at for at in failures if at > now - SIGN_IN_FAILURE_WINDOW)
    if len(recent) < SIGN_IN_MAX_FAILURES:
        return None
    return recent[-SIGN_IN_MAX_FAILURES] + SIGN_IN_FAILURE_WINDOW


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A signed-in browser: who it is and the workspace every page of it is scoped to."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    email: str
    role: Role
    locale: str | None
    timezone: str
    workspace_name: str


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _open_web_session(*, session: AsyncSession, user: User, now: datetime) -> str:
    token = ids.new_token()
    session.add(
        WebSession(
            id=ids.new_id(now),
            token_hash=_hash_token(token),
            user_id=user.id,
            workspace_id=user.workspace_id,
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    user.last_login_at = now
    return token


async def check_sign_in(*, session: AsyncSession, email: str, password: str, now: datetime) -> str:
    """Sign in with email and password; the token of the new browser session.

    Raises ``SignInThrottledError`` while the email has too many recent refusals (even with
    the right password, or guessing could go on), ``SignInFailedError`` for a wrong email or
    password (one error for both: the answer does not tell which emails have accounts).
    """
    normalized_email = email.strip().lower()
    await session.execute(
        delete(SignInFailure).where(
            SignInFailure.email == normalized_email,
            SignInFailure.failed_at <= now - SIGN_IN_FAILURE_WINDOW,
        )
    )
    failures = (
        await session.scalars(
            select(SignInFailure.failed_at).where(SignInFailure.email == normalized_email)
        )
    ).all()
    retry_at = sign_in_retry_at(failures=failures, now=now)
    if retry_at is not None:
        await session.commit()
        log.warning("sign_in_throttled", retry_at=retry_at.isoformat())
        raise SignInThrottledError(
            "too many failed sign-ins for this email; try again later", retry_at=retry_at
        )
    user = await session.scalar(
        select(User).where(User.email == normalized_email, User.deactivated_at.is_(None))
    )
    if user is None or not verify_password(user.password_hash, password):
        if user is None:
            verify_password(_DUMMY_PASSWORD_HASH, password)
        session.add(SignInFailure(id=ids.new_id(now), email=normalized_email, failed_at=now))
        await session.commit()
        log.info("sign_in_refused", failures=len(failures) + 1)
        raise SignInFailedError("the email or the password is not right")
    await session.execute(delete(SignInFailure).where(SignInFailure.email == normalized_email))
    token = await _open_web_session(session=session, user=user, now=now)
    await session.commit()
    log.info("signed_in", workspace_id=str(user.workspace_id), user_id=str(user.id))
    return token


async def get_signed_in(*, session: AsyncSession, token: str, now: datetime) -> SignedIn | None:
    """Who the browser session ``token`` belongs to, or None (unknown, expired, deactivated)."""
    if not token:
        return None
    row = (
        await session.execute(
            select(WebSession.id, User, Workspace)
            .join(User, User.id == WebSession.user_id)
            .join(Workspace, Workspace.id == WebSession.workspace_id)
            .where(
                WebSession.token_hash == _hash_token(token),
                WebSession.expires_at > now,
                User.deactivated_at.is_(None),
            )
        )
    ).first()
    if row is None:
        return None
    session_id, user, workspace = row
    return SignedIn(
        session_id=session_id,
        user_id=user.id,
        workspace_id=user.workspace_id,
        name=user.name,
        email=user.email,
        role=Role(user.role),
        locale=user.locale,
        timezone=workspace.timezone,
        workspace_name=workspace.name,
    )


async def do_sign_out(*, session: AsyncSession, token: str) -> None:
    """End the browser session ``token`` (nothing happens if it is unknown)."""
    await session.execute(delete(WebSession).where(WebSession.token_hash == _hash_token(token)))
    await session.commit()
    log.info("signed_out")


# --- Invitations -------------------------------------------------------------------------


async def create_invitation(
    *,
    session: AsyncSession,
    inviter: SignedIn,
    email: str,
    role: Role | str,
    now: datetime,
) -> tuple[Invitation, str]:
    """An invitation to ``inviter``'s workspace and its token (for the link), shown once.

    The role cannot be above the inviter's; the email must not have an account yet.
    """
    wanted = Role(role)
    if not role_at_least(inviter.role, wanted):
        raise RoleTooHighError(f"a {inviter.role} cannot invite a {wanted}")
    normalized_email = email.strip().lower()
    taken = await session.scalar(select(User.id).where(User.email == normalized_email))
    if taken is not None:
        raise EmailTakenError(f"{normalized_email} already has an account", email=normalized_email)
    token = ids.new_token()
    invitation = Invitation(
        id=ids.new_id(now),
        workspace_id=inviter.workspace_id,
        token_hash=_hash_token(token),
        email=normalized_email,
        role=wanted,
        invited_by_id=inviter.user_id,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    session.add(invitation)
    await session.commit()
    log.info(
        "invitation_created",
        workspace_id=str(inviter.workspace_id),
        invitation_id=str(invitation.id),
        role=wanted,
    )
    return invitation, token


async def list_open_invitations(
    *, session: AsyncSession, workspace_id: uuid.UUID, now: datetime
) -> list[Invitation]:
    """The workspace's invitations not yet accepted nor expired, newest first."""
    result = await session.scalars(
        select(Invitation)
        .where(
            Invitation.workspace_id == workspace_id,
            Invitation.accepted_at.is_(None),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.created_at.desc())
    )
    return list(result)


async def get_invitation_or_raise(
    *, session: AsyncSession, token: str, now: datetime
) -> tuple[Invitation, Workspace]:
    """The open invitation ``token`` is for, and its workspace."""
    row = (
        await session.execute(
            select(Invitation, Workspace)
            .join(Workspace, Workspace.id == Invitation.workspace_id)
            .where(
                Invitation.token_hash == _hash_token(token),
                Invitation.accepted_at.is_(None),
                Invitation.expires_at > now,
            )
        )
    ).first()
    if row is None:
        raise InvitationNotFoundError("this invitation link is unknown, expired or used")
    invitation, workspace = row
    return invitation, workspace


async def accept_invitation(
    *, session: AsyncSession, token: str, name: str, password: str, now: datetime
) -> str:
    """The invitee becomes a user with the invited role; the token of their browser session.

    One transaction: the user, the invitation used up and the session, or none of them.
    """
    invitation, _ = await get_invitation_or_raise(session=session, token=token, now=now)
    used = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise InvitationNotFoundError("this invitation link was just used")
    user = await _add_user(
        session=session,
        workspace_id=invitation.workspace_id,
        email=invitation.email,
        name=name.strip(),
        password=password,
        role=invitation.role,
        now=now,
    )
    web_token = await _open_web_session(session=session, user=user, now=now)
    await session.commit()
    log.info(
        "invitation_accepted",
        workspace_id=str(invitation.workspace_id),
        invitation_id=str(invitation.id),
        user_id=str(user.id),
    )
    return web_token


# --- Settings ----------------------------------------------------------------------------


def opt_out_words_of(workspace: Workspace) -> tuple[str, ...]:
    """The replies that opt the workspace's contacts out of marketing (the defaults when
    the business has not chosen)."""
    if workspace.opt_out_words is None:
        return opt_out.DEFAULT_OPT_OUT_WORDS
    return tuple(workspace.opt_out_words)


async def get_opt_out_words(*, session: AsyncSession, workspace_id: uuid.UUID) -> tuple[str, ...]:
    workspace = await get_workspace_or_raise(session=session, workspace_id=workspace_id)
    return opt_out_words_of(workspace)


async def set_opt_out_words(
    *, session: AsyncSession, workspace_id: uuid.UUID, words: Sequence[str] | None
) -> tuple[str, ...]:
    """Choose the opt-out replies; None goes back to the defaults, an empty list turns
    opt-out replies off. A blank, too long or wordless entry is refused with the reason."""
    workspace = await get_workspace_or_raise(session=session, workspace_id=workspace_id)
    if words is None:
        workspace.opt_out_words = None
    else:
        try:
            workspace.opt_out_words = opt_out.clean_opt_out_words(words)
        except ValueError as error:
            raise ValidationFailedError(
                f"opt_out_words: {error}",
                errors=[{"loc": ["body", "words"], "msg": str(error)}],
            ) from None
    await session.commit()
    log.info("opt_out_words_changed", workspace_id=str(workspace_id))
    return opt_out_words_of(workspace)
