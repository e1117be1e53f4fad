"""Use cases of the accounts domain: workspaces, users and API keys.

API keys are ``ovk_`` followed by 43 URL-safe random characters. Only their SHA-256 is stored
(``core.crypto.hash_api_key``): a key is long and random, so a fast hash is as safe as a slow
one and lets a request find its key with one indexed lookup. The plaintext is returned once,
by ``create_api_key``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.accounts.errors import (
    ApiKeyNotFoundError,
    EmailTakenError,
    WeakPasswordError,
    WorkspaceNotFoundError,
)
from ovillo.accounts.models import ApiKey, Role, User, Workspace
from ovillo.core import ids
from ovillo.core.crypto import hash_api_key, hash_password

log = structlog.get_logger(__name__)

API_KEY_PREFIX: Final = "ovk_"
# Enough of the key to tell keys apart in a list, far too little to guess the rest.
API_KEY_SHOWN_CHARS: Final = 12
MIN_PASSWORD_LENGTH: Final = 8
# Every authenticated request would otherwise write a row; once a minute is precise enough
# for "last used" and keeps reads read-only (SQLite has one writer at a time).
LAST_USED_RESOLUTION: Final = timedelta(minutes=1)


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
    await session.commit()
    log.info("user_created", workspace_id=str(workspace_id), user_id=str(user.id), role=user.role)
    return user


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
