"""``Idempotency-Key``: a request sent twice acts once, and both get the same answer.

A client whose ``POST`` timed out cannot tell whether it acted; with an ``Idempotency-Key``
header it may simply send it again (IETF draft-ietf-httpapi-idempotency-key-header, the
behaviour of Stripe's API). Keys are scoped to a workspace and honoured for 24 hours:

- same key, same request: the first answer again, status and body as they were then (a
  queued message stays ``queued`` in the replay), with ``Idempotent-Replayed: true``;
- same key, another request (method, path or body): 422 ``idempotency_key_reused``;
- two at once: the record is inserted *first*, in the use case's own transaction, under the
  unique constraint (workspace_id, key). The second insert waits for the first transaction
  (PostgreSQL's unique index; SQLite's single writer), then fails, and the second request
  replays the committed answer instead of acting. If the first rolled back, the second acts.
- Only answers that committed are kept: a refused request (4xx) rolls its record back with
  everything else, so the client may fix the request and retry with the same key.

The record commits together with what the request did (no separate "in progress" state to
clean up after a crash). Use case, in a service::

    stored = await idempotency.do_claim(session=..., workspace_id=..., request=req, now=now)
    if stored is not None:
        return stored                     # replay
    ...act, without committing...
    await idempotency.do_record_answer(session=..., workspace_id=..., request=req,
                                       status_code=202, body=body)
    await session.commit()

Errors:

    ValidationFailedError
    ├── InvalidIdempotencyKeyError   422 invalid_idempotency_key
    └── IdempotencyKeyReusedError    422 idempotency_key_reused
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

import structlog
from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.core.errors import ValidationFailedError

log = structlog.get_logger(__name__)

IDEMPOTENCY_TTL: Final = timedelta(hours=24)
IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
MAX_KEY_LENGTH: Final = 200  # idempotency_record.key is String(200)


class InvalidIdempotencyKeyError(ValidationFailedError):
    code = "invalid_idempotency_key"
    title = "The Idempotency-Key header is not valid."


class IdempotencyKeyReusedError(ValidationFailedError):
    code = "idempotency_key_reused"
    title = "This Idempotency-Key was already used for another request."
    fields = ("idempotency_key",)


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        description="Any unique string (a UUID is best), up to 200 characters. Sending the "
        "same request again with the same key within 24 hours does not act twice: it "
        "answers what the first one answered, with `Idempotent-Replayed: true`.",
    ),
]
"""The optional ``Idempotency-Key`` header of a route."""


@dataclass(frozen=True, slots=True)
class IdempotentRequest:
    """A request that carried an ``Idempotency-Key``: the key and what the request was."""

    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """The answer given the first time, to replay."""

    status_code: int
    body: dict[str, Any]
    created_at: datetime


def fingerprint(*, method: str, path: str, body: Any) -> str:
    """What identifies a request: SHA-256 over its method, path and JSON body.

    The body is hashed in canonical form (sorted keys, no spaces), so the same JSON written
    another way is the same request.
    """
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_request(
    key: str | None, *, method: str, path: str, body: Any
) -> IdempotentRequest | None:
    """The request's key and fingerprint; None without a key; 422 for a key we cannot keep."""
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidIdempotencyKeyError(
            f"send an `{IDEMPOTENCY_KEY_HEADER}` of 1 to {MAX_KEY_LENGTH} printable characters "
            "(a UUID is best), or none"
        )
    return IdempotentRequest(key=key, fingerprint=fingerprint(method=method, path=path, body=body))


def _expired_before(now: datetime) -> datetime:
    return now - IDEMPOTENCY_TTL


async def do_claim(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    request: IdempotentRequest,
    now: datetime,
    _may_retry: bool = True,
) -> StoredAnswer | None:
    """Take the key for this request, or find the answer it already got; no commit.

    Returns None when the key is ours now: act, then ``do_record_answer`` and commit in the
    same transaction. Returns the stored answer when an earlier request with the same key
    and the same fingerprint committed within 24 hours (replay it, do not act), and raises
    ``IdempotencyKeyReusedError`` when that request was another one. Call it first in the
    transaction: a concurrent duplicate waits here until this transaction ends.
    """
    # Imported here: core must not import a domain at module load (imports point down).
    from ovillo.accounts.models import IdempotencyRecord

    await session.execute(
        delete(IdempotencyRecord)
        .where(
            IdempotencyRecord.workspace_id == workspace_id,
            IdempotencyRecord.key == request.key,
            IdempotencyRecord.created_at <= _expired_before(now),
        )
        .execution_options(synchronize_session=False)
    )
    record = IdempotencyRecord(
        workspace_id=workspace_id,
        key=request.key,
        request_hash=request.fingerprint,
        # Filled by `do_record_answer` before the commit; never seen by anyone else.
        status_code=0,
        response={},
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(record)
    except IntegrityError:
        existing = await session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.workspace_id == workspace_id,
                IdempotencyRecord.key == request.key,
            )
        )
        if existing is None or existing.created_at <= _expired_before(now):
            if not _may_retry:
                raise
            # Expired and removed between our insert and our read: the key is free again.
            return await do_claim(
                session=session,
                workspace_id=workspace_id,
                request=request,
                now=now,
                _may_retry=False,
            )
        if existing.request_hash != request.fingerprint:
            raise IdempotencyKeyReusedError(
                f"the key {request.key!r} was used at {existing.created_at.isoformat()} for a "
                "different request; use a new key for a new request, or send the first "
                "request again unchanged to get its answer",
                idempotency_key=request.key,
            ) from None
        return StoredAnswer(
            status_code=existing.status_code,
            body=dict(existing.response),
            created_at=existing.created_at,
        )
    return None


async def do_record_answer(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    request: IdempotentRequest,
    status_code: int,
    body: Mapping[str, Any],
) -> None:
    """Keep the answer of the request ``do_claim`` took the key for; no commit."""
    from ovillo.accounts.models import IdempotencyRecord

    record = await session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.workspace_id == workspace_id,
            IdempotencyRecord.key == request.key,
            IdempotencyRecord.request_hash == request.fingerprint,
        )
    )
    if record is None:
        raise RuntimeError("do_record_answer without do_claim in the same transaction")
    record.status_code = status_code
    # A new dict, so the ORM sees the JSON column change.
    record.response = dict(body)
    await session.flush()


def answer_response(*, status_code: int, body: Mapping[str, Any], replayed: bool) -> JSONResponse:
    """The HTTP answer: the body as first given, marked when it is a replay."""
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(dict(body), status_code=status_code, headers=headers)


async def do_prune_records(*, session: AsyncSession, now: datetime) -> int:
    """Forget answers older than ``IDEMPOTENCY_TTL`` (the worker's timer); no commit."""
    from ovillo.accounts.models import IdempotencyRecord

    result = await session.execute(
        delete(IdempotencyRecord)
        .where(IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL)
        .returning(IdempotencyRecord.id)
        .execution_options(synchronize_session=False)
    )
    pruned = len(result.all())
    if pruned:
        log.info("idempotency_records_pruned", count=pruned)
    return pruned
